// gemm_fp8, variant "tiled_exact" (numerics.md section 4): C [M, N] = A [M, K] * B [N, K]^T for
// E4M3 x E4M3, prefill-sized M, both scale forms:
//   fp8_gemm_tiled        per-tensor: S = sum I(a) * I(b) exact in long; c = RN(RN(f32(S) * 2^-18) * alpha)
//   fp8_block_gemm_tiled  block-scaled: per 128-wide K block S_kb exact in long, then in one
//                         work-item, kb ascending: p = RN(f32(S_kb) * 2^-18);
//                         acc = RN(acc + RN(RN(p * sa[m, kb]) * sb[n / 128, kb]))
// One body serves both (FP8_BLOCK_SCALED, a compile-time constant argument of the inlined body,
// not a build define, so one program holds both kernels; the Session adds no per-kernel defines).
// Each work-group owns a TILE_M x TILE_N tile (grid-stride, M-tiles fastest), stages the E4M3
// integer views I (int) of a TILE_K slice of A and B through local memory, and each work-item
// keeps a WPT_M x WPT_N register micro-tile of long sums. TILE_K divides 128, so a 128-block
// ends on a step boundary and the block form's fp32 steps happen there, in kb order. A NaN code
// poisons its row of A (or column of B): one flag per tile row / column.
// The products I(a) * I(b) reach 2^35.6. Rather than a 64-bit multiply per product, B's I is
// staged split as hi * 512 + lo (lo in [0, 512), |hi| <= 448): eight products of each half sum
// exactly in int, then one long step adds hi * 512 + lo. On PoCL this measured the same as a
// long multiply-add per product (0.71 vs 0.75 of the NVFP4 kernel's rate, within the noise of
// a shared 2-core machine); it is kept for GPUs, where a 64-bit multiply is several instructions.
//
// Conformance: exact.
// Measured (PoCL 3.1, 2-core EPYC shared with other builds, best of 3, kernel time from events):
// M = N = K = 512: per-tensor 3.3 GFLOP/s, block-scaled 3.6 (CPU reference 0.18 / 0.20).
//
// Defines:
//   WG_SIZE  work-items per group (from the host's build options) = (TILE_M/WPT_M) * (TILE_N/WPT_N)
//   TILE_M, TILE_N  output tile of a group
//   TILE_K   K elements staged per step; divides 128, a multiple of 8
//   WPT_M, WPT_N  register micro-tile of one work-item
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG_SIZE
#define WG_SIZE 256 // work-items per group (host launch size)
#endif
#ifndef WPT_M
#define WPT_M 4 // micro-tile rows per work-item
#endif
#ifndef WPT_N
#define WPT_N 4 // micro-tile columns per work-item
#endif
#ifndef TILE_M
#define TILE_M 64 // tile rows per group
#endif
#ifndef TILE_N
#define TILE_N ((WG_SIZE / (TILE_M / WPT_M)) * WPT_N) // tile columns: 64 at WG_SIZE 256
#endif
#ifndef TILE_K
#define TILE_K 16 // K elements per local-memory step
#endif

#define TM_THREADS (TILE_M / WPT_M)
#define TN_THREADS (TILE_N / WPT_N)
#if TM_THREADS * TN_THREADS != WG_SIZE
#error "fp8_tiled.cl: (TILE_M / WPT_M) * (TILE_N / WPT_N) must equal WG_SIZE"
#endif
#if 128 % TILE_K != 0 || TILE_K % 8 != 0
#error "fp8_tiled.cl: TILE_K must divide 128 and be a multiple of 8"
#endif

#include "common/gemm_common.cl"

inline void fp8_tiled_body(__global const uchar* a, __global const float* sa,
                           __global const uchar* b, __global const float* sb, int M, int N, int K,
                           float alpha, __global const float* bias, int has_bias, int out_type,
                           __global uchar* c, const int FP8_BLOCK_SCALED,
                           __local int (*As)[TILE_M], __local int (*Bl)[TILE_N],
                           __local int (*Bh)[TILE_N],
                           __local int* nan_a, __local int* nan_b) {
  const int lid = (int)get_local_id(0);
  const int tm = lid % TM_THREADS, tn = lid / TM_THREADS;
  const int tiles_m = (M + TILE_M - 1) / TILE_M, tiles_n = (N + TILE_N - 1) / TILE_N;
  const int kbs = (K + 127) / 128;

  for (int tile = (int)get_group_id(0); tile < tiles_m * tiles_n; tile += (int)get_num_groups(0)) {
    const int m0 = (tile % tiles_m) * TILE_M, n0 = (tile / tiles_m) * TILE_N;
    for (int i = lid; i < TILE_M; i += WG_SIZE) nan_a[i] = 0;
    for (int i = lid; i < TILE_N; i += WG_SIZE) nan_b[i] = 0;
    long acc[WPT_M][WPT_N];
    float facc[WPT_M][WPT_N];
    for (int i = 0; i < WPT_M; ++i)
      for (int j = 0; j < WPT_N; ++j) {
        acc[i][j] = 0;
        facc[i][j] = 0.0f;
      }

    for (int k0 = 0; k0 < K; k0 += TILE_K) {
      barrier(CLK_LOCAL_MEM_FENCE); // the previous step's reads (and the flag reset) are done
      for (int idx = lid; idx < TILE_M * TILE_K; idx += WG_SIZE) {
        int r = idx / TILE_K, col = idx % TILE_K;
        int gm = m0 + r, gk = k0 + col;
        uint code = (gm < M && gk < K) ? a[(ulong)gm * (ulong)K + (ulong)gk] : 0u;
        if (tsr_e4m3_is_nan(code)) nan_a[r] = 1; // every writer stores the same 1
        As[col][r] = tsr_e4m3_int(code);
      }
      for (int idx = lid; idx < TILE_N * TILE_K; idx += WG_SIZE) {
        int r = idx / TILE_K, col = idx % TILE_K;
        int gn = n0 + r, gk = k0 + col;
        uint code = (gn < N && gk < K) ? b[(ulong)gn * (ulong)K + (ulong)gk] : 0u;
        if (tsr_e4m3_is_nan(code)) nan_b[r] = 1;
        int ib = tsr_e4m3_int(code);
        Bl[col][r] = ib & 511; // ib = hi * 512 + lo, lo in [0, 512)
        Bh[col][r] = ib >> 9;
      }
      barrier(CLK_LOCAL_MEM_FENCE);

      // Eight products of each half fit in int (8 * 229376 * 511 < 2^31); then one long step.
      for (int kc = 0; kc < TILE_K; kc += 8) {
        int lo[WPT_M][WPT_N], hi[WPT_M][WPT_N];
        for (int i = 0; i < WPT_M; ++i)
          for (int j = 0; j < WPT_N; ++j) lo[i][j] = hi[i][j] = 0;
        for (int kk = kc; kk < kc + 8; ++kk) {
          int av[WPT_M], bl[WPT_N], bh[WPT_N];
          for (int i = 0; i < WPT_M; ++i) av[i] = As[kk][tm + i * TM_THREADS];
          for (int j = 0; j < WPT_N; ++j) {
            bl[j] = Bl[kk][tn + j * TN_THREADS];
            bh[j] = Bh[kk][tn + j * TN_THREADS];
          }
          for (int i = 0; i < WPT_M; ++i)
            for (int j = 0; j < WPT_N; ++j) {
              lo[i][j] += av[i] * bl[j];
              hi[i][j] += av[i] * bh[j];
            }
        }
        for (int i = 0; i < WPT_M; ++i)
          for (int j = 0; j < WPT_N; ++j) acc[i][j] += (long)hi[i][j] * 512 + (long)lo[i][j];
      }

      if (FP8_BLOCK_SCALED && ((k0 + TILE_K) % 128 == 0 || k0 + TILE_K >= K)) {
        const int kb = k0 / 128;
        for (int i = 0; i < WPT_M; ++i) {
          int gm = m0 + tm + i * TM_THREADS;
          float sai = gm < M ? sa[(ulong)gm * (ulong)kbs + (ulong)kb] : 0.0f;
          for (int j = 0; j < WPT_N; ++j) {
            int gn = n0 + tn + j * TN_THREADS;
            float sbj = gn < N ? sb[(ulong)(gn / 128) * (ulong)kbs + (ulong)kb] : 0.0f;
            float p = convert_float_rte(acc[i][j]) * 0x1p-18f;
            float t = p * sai;
            t = t * sbj;
            facc[i][j] = facc[i][j] + t;
            acc[i][j] = 0;
          }
        }
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE); // flags complete (also when K == 0)

    for (int i = 0; i < WPT_M; ++i) {
      int r = tm + i * TM_THREADS, gm = m0 + r;
      for (int j = 0; j < WPT_N; ++j) {
        int cl = tn + j * TN_THREADS, gn = n0 + cl;
        if (gm < M && gn < N) {
          float v = FP8_BLOCK_SCALED ? facc[i][j] : tsr_gemm_scale_sum(acc[i][j], 0x1p-18f, alpha);
          if (nan_a[r] | nan_b[cl]) v = as_float(TSR_F32_QNAN);
          tsr_gemm_store(v, bias, has_bias, (ulong)gn, out_type, c, (ulong)gm * (ulong)N + (ulong)gn);
        }
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE); // the flags are read before the next tile resets them
  }
}

__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
fp8_gemm_tiled(__global const uchar* a, __global const uchar* b, int M, int N, int K, float alpha,
               __global const float* bias, int has_bias, int out_type, __global uchar* c) {
  __local int As[TILE_K][TILE_M];
  __local int Bl[TILE_K][TILE_N];
  __local int Bh[TILE_K][TILE_N];
  __local int nan_a[TILE_M];
  __local int nan_b[TILE_N];
  fp8_tiled_body(a, 0, b, 0, M, N, K, alpha, bias, has_bias, out_type, c, 0, As, Bl, Bh, nan_a, nan_b);
}

__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
fp8_block_gemm_tiled(__global const uchar* a, __global const float* sa, __global const uchar* b,
                     __global const float* sb, int M, int N, int K, __global const float* bias,
                     int has_bias, int out_type, __global uchar* c) {
  __local int As[TILE_K][TILE_M];
  __local int Bl[TILE_K][TILE_N];
  __local int Bh[TILE_K][TILE_N];
  __local int nan_a[TILE_M];
  __local int nan_b[TILE_N];
  fp8_tiled_body(a, sa, b, sb, M, N, K, 1.0f, bias, has_bias, out_type, c, 1, As, Bl, Bh, nan_a, nan_b);
}
