// gemm_fp8, variant "gemv_splitk_exact" (numerics.md section 4): the decode shape, M = 1..GEMV_MAX_M
// rows of A against a large B [N, K] of E4M3, both scale forms (two kernels, one program):
//   fp8_gemv_splitk        per-tensor. The GEMV_SPLIT work-items of a column split K in GEMV_VEC-byte
//                          chunks (work-item s takes chunks s, s + GEMV_SPLIT, ...: B is read
//                          once, neighbouring work-items on neighbouring words), keep exact long
//                          partials sum I(a) * I(b) for all M rows, and reduce them by a fixed
//                          tree in local memory; work-item s = m writes row m.
//   fp8_block_gemv_splitk  block-scaled. Split-K is allowed only inside a 128-block (the fp32
//                          accumulation over blocks must be in kb order in one work-item), so
//                          work-item s computes the exact S_kb of block kb = kb0 + s for all M
//                          rows, puts them in local memory, and work-item s = m then runs the fp32
//                          steps p = RN(f32(S_kb) * 2^-18); acc = RN(acc + RN(RN(p * sa) * sb))
//                          over those GEMV_SPLIT blocks in ascending kb. Each work-item reads
//                          128 contiguous bytes of B per block (whole cache lines, not
//                          interleaved words: the price of the ordering rule).
// A NaN code sets bits of a per-column mask (bit m: row m of A; bit GEMV_MAX_M: column n of B).
// The products I(a) * I(b) reach 2^35.6: summed as two int halves per 8-element chunk (below).
//
// Conformance: exact.
// Measured (PoCL 3.1, 2-core EPYC shared with other builds, best of 3, kernel time from events):
// M = 1, N = K = 4096: per-tensor 0.75 GFLOP/s, block-scaled 0.66 (CPU reference 0.22 / 0.21);
// M = 16: 2.0 / 2.3. Versions that lost (per-tensor, M = 1): 8-element chunks per work-item
// with the bit-arithmetic decoder and a 64-bit multiply per product, 0.20 GFLOP/s; the same with
// the decode table, 0.27; 32-element chunks (this file) 0.60-0.75. Wider chunks cost the
// interleaving a GPU wants; 32 bytes per work-item still gives whole 32-byte sectors.
//
// Defines:
//   WG_SIZE     work-items per group (from the host's build options), a power of two >= 16
//   GEMV_SPLIT  work-items per column (power of two, >= GEMV_MAX_M, divides WG_SIZE)
//   GEMV_MAX_M  largest M this kernel accepts: the host passes the record's manifest max_m
//               (core::kDecodeRows), the M up to which the registry offers the variant
//   GEMV_VEC    K elements per chunk of the per-tensor form
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG_SIZE
#define WG_SIZE 256 // work-items per group (host launch size)
#endif
#ifndef GEMV_SPLIT
#define GEMV_SPLIT (WG_SIZE < 64 ? WG_SIZE : 64) // work-items sharing one column's K
#endif
#ifndef GEMV_MAX_M // the record's manifest max_m, from the host: written there only
#error "fp8_gemv_splitk.cl: GEMV_MAX_M (rows of A per launch at most) must be given as a build option"
#endif
#ifndef GEMV_VEC
#define GEMV_VEC 32 // K elements per chunk (per-tensor form), a multiple of 8
#endif

#define GEMV_COLS (WG_SIZE / GEMV_SPLIT)
#if GEMV_SPLIT < GEMV_MAX_M || GEMV_COLS * GEMV_SPLIT != WG_SIZE
#error "fp8_gemv_splitk.cl: GEMV_SPLIT must divide WG_SIZE and be >= GEMV_MAX_M"
#endif
#if GEMV_MAX_M > 30
#error "fp8_gemv_splitk.cl: the NaN mask has GEMV_MAX_M + 1 bits of an int"
#endif
#define GEMV_NAN_B (1 << GEMV_MAX_M) // above the rows' bits 0 .. GEMV_MAX_M - 1

#include "common/gemm_common.cl"

// Exact sum I(a) * I(b) over k in [k_begin, k_end) of one column n for all M rows, into part[];
// NaN codes set bits of *bad. |I| < 2^18, so a product needs 36 bits; instead of a 64-bit
// multiply per element, I(b) is split as hi * 512 + lo (lo in [0, 512), |hi| <= 448) and each
// 8-element chunk sums I(a) * lo and I(a) * hi in int (each below 8 * 229376 * 511 < 2^31),
// then part[m] += hi_sum * 512 + lo_sum in long: the same integer, exactly.
inline void fp8_column_dot(__global const uchar* a, __global const uchar* b_row, int M, int K,
                           int k_begin, int k_end, long* part, int* bad) {
  for (int k0 = k_begin; k0 < k_end; k0 += 8) {
    const int len = min(8, k_end - k0);
    uchar bb[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (len == 8) {
      uchar8 v = vload8(0, b_row + k0);
      bb[0] = v.s0, bb[1] = v.s1, bb[2] = v.s2, bb[3] = v.s3;
      bb[4] = v.s4, bb[5] = v.s5, bb[6] = v.s6, bb[7] = v.s7;
    } else {
      for (int e = 0; e < len; ++e) bb[e] = b_row[k0 + e];
    }
    int blo[8], bhi[8];
    for (int e = 0; e < 8; ++e) {
      uint bc = bb[e];
      if (tsr_e4m3_is_nan(bc)) *bad |= GEMV_NAN_B;
      int ib = tsr_e4m3_int_lut(bc);
      blo[e] = ib & 511;
      bhi[e] = ib >> 9; // arithmetic: ib = bhi * 512 + blo
    }
    for (int m = 0; m < M; ++m) {
      __global const uchar* ar = a + (ulong)m * (ulong)K + (ulong)k0;
      int slo = 0, shi = 0, an = 0;
      if (len == 8) {
        uchar8 v = vload8(0, ar);
        uchar av[8] = {v.s0, v.s1, v.s2, v.s3, v.s4, v.s5, v.s6, v.s7};
        for (int e = 0; e < 8; ++e) {
          an |= tsr_e4m3_is_nan(av[e]);
          int ia = tsr_e4m3_int_lut(av[e]);
          slo += ia * blo[e];
          shi += ia * bhi[e];
        }
      } else {
        for (int e = 0; e < len; ++e) {
          uint ac = ar[e];
          an |= tsr_e4m3_is_nan(ac);
          int ia = tsr_e4m3_int_lut(ac);
          slo += ia * blo[e];
          shi += ia * bhi[e];
        }
      }
      if (an) *bad |= 1 << m;
      part[m] += (long)shi * 512 + (long)slo;
    }
  }
}

__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
fp8_gemv_splitk(__global const uchar* a, __global const uchar* b, int M, int N, int K,
                float alpha, __global const float* bias, int has_bias, int out_type,
                __global uchar* c) {
  __local long red[WG_SIZE];
  __local long sums[GEMV_COLS][GEMV_MAX_M];
  __local int nan_bits[GEMV_COLS];

  const int lid = (int)get_local_id(0);
  const int col = lid / GEMV_SPLIT, s = lid % GEMV_SPLIT;
  const int chunks = (K + GEMV_VEC - 1) / GEMV_VEC;

  for (int n0 = (int)get_group_id(0) * GEMV_COLS; n0 < N; n0 += (int)get_num_groups(0) * GEMV_COLS) {
    const int n = n0 + col;
    if (s == 0) nan_bits[col] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);

    long part[GEMV_MAX_M];
    for (int m = 0; m < GEMV_MAX_M; ++m) part[m] = 0;
    int bad = 0;
    if (n < N) {
      __global const uchar* b_row = b + (ulong)n * (ulong)K;
      for (int ch = s; ch < chunks; ch += GEMV_SPLIT) {
        int k0 = ch * GEMV_VEC;
        fp8_column_dot(a, b_row, M, K, k0, min(K, k0 + GEMV_VEC), part, &bad);
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
                                                 : tsr_gemm_scale_sum(sums[col][s], 0x1p-18f, alpha);
      tsr_gemm_store(v, bias, has_bias, (ulong)n, out_type, c, (ulong)s * (ulong)N + (ulong)n);
    }
    barrier(CLK_LOCAL_MEM_FENCE); // sums and flags are read before the next columns reset them
  }
}

__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
fp8_block_gemv_splitk(__global const uchar* a, __global const float* sa, __global const uchar* b,
                      __global const float* sb, int M, int N, int K, __global const float* bias,
                      int has_bias, int out_type, __global uchar* c) {
  __local long blk[WG_SIZE]; // S_kb of block kb0 + s of one row, for the column's work-items
  __local int nan_bits[GEMV_COLS];

  const int lid = (int)get_local_id(0);
  const int col = lid / GEMV_SPLIT, s = lid % GEMV_SPLIT;
  const int kbs = (K + 127) / 128;

  for (int n0 = (int)get_group_id(0) * GEMV_COLS; n0 < N; n0 += (int)get_num_groups(0) * GEMV_COLS) {
    const int n = n0 + col;
    if (s == 0) nan_bits[col] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);

    float acc = 0.0f; // row m = s's accumulator, for s < M
    int bad = 0;
    for (int kb0 = 0; kb0 < kbs; kb0 += GEMV_SPLIT) {
      long part[GEMV_MAX_M];
      for (int m = 0; m < GEMV_MAX_M; ++m) part[m] = 0;
      const int kb = kb0 + s;
      if (n < N && kb < kbs)
        fp8_column_dot(a, b + (ulong)n * (ulong)K, M, K, kb * 128, min(K, kb * 128 + 128), part, &bad);
      const int count = min(GEMV_SPLIT, kbs - kb0);
      for (int m = 0; m < M; ++m) {
        blk[lid] = part[m];
        barrier(CLK_LOCAL_MEM_FENCE);
        if (s == m && n < N) {
          __global const float* sa_row = sa + (ulong)m * (ulong)kbs;
          __global const float* sb_row = sb + (ulong)(n / 128) * (ulong)kbs;
          for (int j = 0; j < count; ++j) { // ascending kb: the order the definition fixes
            float p = convert_float_rte(blk[col * GEMV_SPLIT + j]) * 0x1p-18f;
            float t = p * sa_row[kb0 + j];
            t = t * sb_row[kb0 + j];
            acc = acc + t;
          }
        }
        barrier(CLK_LOCAL_MEM_FENCE); // blk is read before the next row overwrites it
      }
    }
    if (bad) atomic_or(&nan_bits[col], bad);
    barrier(CLK_LOCAL_MEM_FENCE);

    if (n < N && s < M) {
      int bits = nan_bits[col];
      float v = (bits & (GEMV_NAN_B | (1 << s))) ? as_float(TSR_F32_QNAN) : acc;
      tsr_gemm_store(v, bias, has_bias, (ulong)n, out_type, c, (ulong)s * (ulong)N + (ulong)n);
    }
    barrier(CLK_LOCAL_MEM_FENCE); // flags are read before the next columns reset them
  }
}
