// gemm_nvfp4, variant "tiled_exact" (numerics.md section 4): C [M, N] = A [M, K] * B [N, K]^T for
// NVFP4 x NVFP4, for prefill-sized M. Each work-group owns a TILE_M x TILE_N output tile (grid-
// stride over tiles, M-tiles fastest so neighbouring groups share B); per TILE_K step it stages
// the decoded E2M1 integers J (int8) and E4M3 scale integers I (int) of A and B through local
// memory, and each work-item keeps a WPT_M x WPT_N register micro-tile (rows tm + i * TM_THREADS,
// columns tn + j * TN_THREADS, so neighbouring work-items read neighbouring local words).
// Per 16-block it forms P = sum J_a * J_b in int (|P| <= 2304), then adds P * I(sa) * I(sb) to a
// long accumulator: the sum S is an exact integer, so the result is the reference's bit for bit
// whatever the tiling. A NaN scale byte poisons its whole row of A (or column of B), which is
// tracked as one flag per tile row / column.
//
// Conformance: exact.
// Measured (PoCL 3.1, 2-core EPYC shared with other builds, best of 3, kernel time from events):
// M = N = K = 512: 5.3 GFLOP/s (CPU reference 0.23); at M = 1, N = K = 4096 it makes 0.05
// GFLOP/s (63 of 64 tile rows idle), which is why decode goes to gemv_splitk_exact.
//
// Defines (defaults below; WG_SIZE comes from the host's build options, and the tile defaults
// are derived from it, so the program-cache key covers them):
//   WG_SIZE  work-items per group, launched 1-D; must equal (TILE_M/WPT_M) * (TILE_N/WPT_N)
//   TILE_M   output rows per group
//   TILE_N   output columns per group
//   TILE_K   K elements staged per step (a multiple of 16)
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
#define TILE_K 32 // K elements per local-memory step (two NVFP4 blocks)
#endif

#define TM_THREADS (TILE_M / WPT_M)
#define TN_THREADS (TILE_N / WPT_N)
#if TM_THREADS * TN_THREADS != WG_SIZE
#error "nvfp4_tiled.cl: (TILE_M / WPT_M) * (TILE_N / WPT_N) must equal WG_SIZE"
#endif
#if TILE_K % 16 != 0
#error "nvfp4_tiled.cl: TILE_K must be a multiple of 16"
#endif
#define TK_BLOCKS (TILE_K / 16)

#include "common/gemm_common.cl"

__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
nvfp4_gemm_tiled(__global const uchar* a, __global const uchar* sa, __global const uchar* b,
                 __global const uchar* sb, int M, int N, int K, float alpha,
                 __global const float* bias, int has_bias, int out_type, __global uchar* c) {
  __local char As[TILE_K][TILE_M];
  __local char Bs[TILE_K][TILE_N];
  __local int Sa[TK_BLOCKS][TILE_M];
  __local int Sb[TK_BLOCKS][TILE_N];
  __local int nan_a[TILE_M];
  __local int nan_b[TILE_N];

  const int lid = (int)get_local_id(0);
  const int tm = lid % TM_THREADS, tn = lid / TM_THREADS;
  const int tiles_m = (M + TILE_M - 1) / TILE_M, tiles_n = (N + TILE_N - 1) / TILE_N;
  const int kh = K / 2, kbs = K / 16;

  for (int tile = (int)get_group_id(0); tile < tiles_m * tiles_n; tile += (int)get_num_groups(0)) {
    const int m0 = (tile % tiles_m) * TILE_M, n0 = (tile / tiles_m) * TILE_N;
    for (int i = lid; i < TILE_M; i += WG_SIZE) nan_a[i] = 0;
    for (int i = lid; i < TILE_N; i += WG_SIZE) nan_b[i] = 0;
    long acc[WPT_M][WPT_N];
    for (int i = 0; i < WPT_M; ++i)
      for (int j = 0; j < WPT_N; ++j) acc[i][j] = 0;

    for (int k0 = 0; k0 < K; k0 += TILE_K) {
      barrier(CLK_LOCAL_MEM_FENCE); // the previous step's reads (and the flag reset) are done
      for (int idx = lid; idx < TILE_M * (TILE_K / 2); idx += WG_SIZE) {
        int r = idx / (TILE_K / 2), col = idx % (TILE_K / 2);
        int gm = m0 + r, gc = k0 / 2 + col;
        uint byte = (gm < M && gc < kh) ? a[(ulong)gm * (ulong)kh + (ulong)gc] : 0u;
        As[2 * col][r] = (char)tsr_e2m1_int(byte & 0xFu); // element 2i is the low nibble
        As[2 * col + 1][r] = (char)tsr_e2m1_int(byte >> 4);
      }
      for (int idx = lid; idx < TILE_N * (TILE_K / 2); idx += WG_SIZE) {
        int r = idx / (TILE_K / 2), col = idx % (TILE_K / 2);
        int gn = n0 + r, gc = k0 / 2 + col;
        uint byte = (gn < N && gc < kh) ? b[(ulong)gn * (ulong)kh + (ulong)gc] : 0u;
        Bs[2 * col][r] = (char)tsr_e2m1_int(byte & 0xFu);
        Bs[2 * col + 1][r] = (char)tsr_e2m1_int(byte >> 4);
      }
      for (int idx = lid; idx < TILE_M * TK_BLOCKS; idx += WG_SIZE) {
        int r = idx / TK_BLOCKS, col = idx % TK_BLOCKS;
        int gm = m0 + r, gkb = k0 / 16 + col;
        uint code = (gm < M && gkb < kbs) ? sa[(ulong)gm * (ulong)kbs + (ulong)gkb] : 0u;
        if (tsr_e4m3_is_nan(code)) nan_a[r] = 1; // every writer stores the same 1
        Sa[col][r] = tsr_e4m3_int(code);
      }
      for (int idx = lid; idx < TILE_N * TK_BLOCKS; idx += WG_SIZE) {
        int r = idx / TK_BLOCKS, col = idx % TK_BLOCKS;
        int gn = n0 + r, gkb = k0 / 16 + col;
        uint code = (gn < N && gkb < kbs) ? sb[(ulong)gn * (ulong)kbs + (ulong)gkb] : 0u;
        if (tsr_e4m3_is_nan(code)) nan_b[r] = 1;
        Sb[col][r] = tsr_e4m3_int(code);
      }
      barrier(CLK_LOCAL_MEM_FENCE);

      for (int kb = 0; kb < TK_BLOCKS; ++kb) {
        int p[WPT_M][WPT_N];
        for (int i = 0; i < WPT_M; ++i)
          for (int j = 0; j < WPT_N; ++j) p[i][j] = 0;
        for (int kk = kb * 16; kk < kb * 16 + 16; ++kk) {
          int av[WPT_M], bv[WPT_N];
          for (int i = 0; i < WPT_M; ++i) av[i] = As[kk][tm + i * TM_THREADS];
          for (int j = 0; j < WPT_N; ++j) bv[j] = Bs[kk][tn + j * TN_THREADS];
          for (int i = 0; i < WPT_M; ++i)
            for (int j = 0; j < WPT_N; ++j) p[i][j] += av[i] * bv[j];
        }
        for (int i = 0; i < WPT_M; ++i) {
          long si = Sa[kb][tm + i * TM_THREADS];
          for (int j = 0; j < WPT_N; ++j)
            acc[i][j] += (long)p[i][j] * (si * (long)Sb[kb][tn + j * TN_THREADS]);
        }
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE); // flags complete (also when K == 0)

    for (int i = 0; i < WPT_M; ++i) {
      int r = tm + i * TM_THREADS, gm = m0 + r;
      for (int j = 0; j < WPT_N; ++j) {
        int cl = tn + j * TN_THREADS, gn = n0 + cl;
        if (gm < M && gn < N) {
          // 2^-20 = 2^-2 (two E2M1 halves) * 2^-18 (two E4M3 2^-9 units)
          float v = (nan_a[r] | nan_b[cl]) ? as_float(TSR_F32_QNAN)
                                           : tsr_gemm_scale_sum(acc[i][j], 0x1p-20f, alpha);
          tsr_gemm_store(v, bias, has_bias, (ulong)gn, out_type, c, (ulong)gm * (ulong)N + (ulong)gn);
        }
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE); // the flags are read before the next tile resets them
  }
}
