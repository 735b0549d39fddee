// gemm_nvfp4, variant "gemv_splitk_exact" (numerics.md section 4): the decode shape, M = 1..GEMV_MAX_M
// rows of A against a large B [N, K]. A work-group serves COLS = WG_SIZE / GEMV_SPLIT columns n
// (grid-stride over column groups); the GEMV_SPLIT work-items of a column split K by 16-blocks
// (work-item s takes blocks s, s + GEMV_SPLIT, ...: neighbouring work-items read neighbouring
// 8-byte words of B, so B is read once, coalesced), and each keeps the exact partial sums
// sum P * I(sa) * I(sb) for all M rows in long registers. The partials are reduced in local
// memory by a fixed tree (exact integers, so any order would give the same bits), and work-item
// s = m of the column writes row m through the common epilogue. NaN scale bytes set bits of a
// per-column mask (bit m: a scale of row m of A; bit GEMV_MAX_M: a scale of column n of B).
//
// b_interleaved (argument, 0 or 1): B in the "gemv_kblock_interleaved" prepack layout
// (tessera/weights.h): within each row, each group of 8 consecutive 16-blocks (the last group may
// be shorter, gs blocks) stores the gs low 4-byte words of its blocks, then their gs high words,
// so that the 8 work-items reading 8 neighbouring blocks read one contiguous run per half.
// Measured, not kept as the registry's layout: docs/perf.md "Weight prepack".
//
// Conformance: exact.
// Measured (PoCL 3.1, 2-core EPYC shared with other builds, best of 3, kernel time from events):
// M = 1, N = K = 4096: 14 ms, 2.4 GFLOP/s (B's 8 MiB at 0.6 GB/s; CPU reference 0.23 GFLOP/s);
// M = 16: 4.9 GFLOP/s. tiled_exact at M = 1 makes 0.05 GFLOP/s.
//
// Defines:
//   WG_SIZE     work-items per group (from the host's build options), a power of two >= 16
//   GEMV_SPLIT  work-items per column (power of two, >= GEMV_MAX_M, divides WG_SIZE)
//   GEMV_MAX_M  largest M this kernel accepts: the host passes the record's manifest max_m
//               (core::kDecodeRows), the M up to which the registry offers the variant
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG_SIZE
#define WG_SIZE 256 // work-items per group (host launch size)
#endif
#ifndef GEMV_SPLIT
#define GEMV_SPLIT (WG_SIZE < 64 ? WG_SIZE : 64) // work-items sharing one column's K
#endif
#ifndef GEMV_MAX_M // the record's manifest max_m, from the host: written there only
#error "nvfp4_gemv_splitk.cl: GEMV_MAX_M (rows of A per launch at most) must be given as a build option"
#endif

#define GEMV_COLS (WG_SIZE / GEMV_SPLIT)
#if GEMV_SPLIT < GEMV_MAX_M || GEMV_COLS * GEMV_SPLIT != WG_SIZE
#error "nvfp4_gemv_splitk.cl: GEMV_SPLIT must divide WG_SIZE and be >= GEMV_MAX_M"
#endif
#if GEMV_MAX_M > 30
#error "nvfp4_gemv_splitk.cl: the NaN mask has GEMV_MAX_M + 1 bits of an int"
#endif
#define GEMV_NAN_B (1 << GEMV_MAX_M) // above the rows' bits 0 .. GEMV_MAX_M - 1

#include "common/gemm_common.cl"

__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
nvfp4_gemv_splitk(__global const uchar* a, __global const uchar* sa, __global const uchar* b,
                  __global const uchar* sb, int M, int N, int K, float alpha,
                  __global const float* bias, int has_bias, int out_type, __global uchar* c,
                  int b_interleaved) {
  __local long red[WG_SIZE];
  __local long sums[GEMV_COLS][GEMV_MAX_M];
  __local int nan_bits[GEMV_COLS];

  const int lid = (int)get_local_id(0);
  const int col = lid / GEMV_SPLIT, s = lid % GEMV_SPLIT;
  const int kbs = K / 16;
  // Rows of 8 bytes per 16-block: K / 2 is a multiple of 8, so every block is uint2-aligned.
  __global const uint2* a8 = (__global const uint2*)a;
  __global const uint2* b8 = (__global const uint2*)b;

  for (int n0 = (int)get_group_id(0) * GEMV_COLS; n0 < N; n0 += (int)get_num_groups(0) * GEMV_COLS) {
    const int n = n0 + col;
    if (s == 0) nan_bits[col] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);

    long part[GEMV_MAX_M];
    for (int m = 0; m < GEMV_MAX_M; ++m) part[m] = 0;
    int bad = 0;
    if (n < N) {
      for (int kb = s; kb < kbs; kb += GEMV_SPLIT) {
        uint sbc = sb[(ulong)n * (ulong)kbs + (ulong)kb];
        if (tsr_e4m3_is_nan(sbc)) bad |= GEMV_NAN_B;
        long isb = tsr_e4m3_int(sbc);
        uint2 bw;
        if (b_interleaved) { // gemv_kblock_interleaved: per group of 8 blocks, low words then high words
          int g = kb >> 3, j = kb & 7, gs = min(8, kbs - (g << 3));
          __global const uint* b4 = (__global const uint*)b + (ulong)n * (ulong)(2 * kbs) + (ulong)(g * 16);
          bw = (uint2)(b4[j], b4[gs + j]);
        } else {
          bw = b8[(ulong)n * (ulong)kbs + (ulong)kb];
        }
        int bj[16];
        for (int i = 0; i < 8; ++i) {
          bj[i] = tsr_e2m1_int(bw.x >> (4 * i));
          bj[8 + i] = tsr_e2m1_int(bw.y >> (4 * i));
        }
        for (int m = 0; m < M; ++m) {
          uint sac = sa[(ulong)m * (ulong)kbs + (ulong)kb];
          if (tsr_e4m3_is_nan(sac)) bad |= 1 << m;
          uint2 aw = a8[(ulong)m * (ulong)kbs + (ulong)kb];
          int p = 0;
          for (int i = 0; i < 8; ++i) {
            p += tsr_e2m1_int(aw.x >> (4 * i)) * bj[i];
            p += tsr_e2m1_int(aw.y >> (4 * i)) * bj[8 + i];
          }
          part[m] += (long)p * ((long)tsr_e4m3_int(sac) * isb);
        }
      }
    }
    if (bad) atomic_or(&nan_bits[col], bad);

    for (int m = 0; m < M; ++m) {
      red[lid] = part[m];
      barrier(CLK_LOCAL_MEM_FENCE);
      for (int stride = GEMV_SPLIT / 2; stride > 0; stride >>= 1) {
        if (s < stride) red[lid] += red[lid + stride];
        barrier(CLK_LOCAL_MEM_FENCE);
      }
      if (s == 0) sums[col][m] = red[lid]; // only this work-item writes red[lid]: no race
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    if (n < N && s < M) {
      int bits = nan_bits[col];
      float v = (bits & (GEMV_NAN_B | (1 << s))) ? as_float(TSR_F32_QNAN)
                                                 : tsr_gemm_scale_sum(sums[col][s], 0x1p-20f, alpha);
      tsr_gemm_store(v, bias, has_bias, (ulong)n, out_type, c, (ulong)s * (ulong)N + (ulong)n);
    }
    barrier(CLK_LOCAL_MEM_FENCE); // sums and flags are read before the next columns reset them
  }
}
