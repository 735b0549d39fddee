#version 450
// gemm_nvfp4, variant "gemv_splitk_exact": decode-sized M (1 to MAX_M rows of A), exact
// (numerics.md section 4). A workgroup owns COLS columns of C (grid-stride over N); the SPLIT =
// WG / COLS invocations of a column split K: invocation s takes the 16-blocks s, s + SPLIT, ...
// (neighbouring invocations read neighbouring 8-byte blocks of B's row), decodes B's block
// once (the weights are read once, by one invocation) and applies it to every row of A, keeping
// one emulated 64-bit exact partial sum per row (common/int64_emu.glsl). The partial sums are
// reduced in shared memory by a fixed tree; since they are exact integers any order would give
// the same bits, the fixed order only keeps runs reproducible in time. NaN scale bytes are
// OR-ed into a shared row mask (all rows for a NaN in B's scales).
//
// Defines (defaults): WG 64 (invocations; the host must specialize exactly this size), COLS 8
// (columns a workgroup owns: lavapipe pays tens of microseconds a workgroup, so one column per
// workgroup lost, see below).
// FP32_RN_HW_RTE (default undefined): the ".rte" build (common/fp32_rn.glsl).
// Push-constant flag bit 3 (this shader only): B in the "gemv_kblock_interleaved" prepack layout
// (tessera/weights.h): per group of 8 consecutive 16-blocks of a row (the last may be shorter, gs
// blocks), the gs low words, then the gs high words, so neighbouring invocations read
// neighbouring words. Measured: docs/perf.md "Weight prepack".
// Specialization constants: 0 = workgroup size, 1 = MAX_M (rows of A, at most 32: one bit a row
// in nan_rows), the record's manifest max_m (core::kDecodeRows), which the registry checks M
// against: the host sets it at pipeline creation, so the number is written once. Bindings and push constants: common/gemm.glsl.
// Conformance: exact.
// Measured on lavapipe (docs/perf.md "GEMM on lavapipe"): 1 x 4096 x 4096 0.56 GFLOP/s (60 ms),
// 16 x 4096 x 4096 1.3 GFLOP/s. Lost: `if (m < M)` in the fixed 16-row loop instead of `break`
// (lavapipe runs masked branches, so M = 1 paid for 16 rows: 857 vs 205 ms); the E2M1
// decoder with a select per code (205 vs 167 ms under the same load); COLS 1 within the noise of COLS 8.
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv: gemm/nvfp4_gemv_splitk
// spirv: gemm/nvfp4_gemv_splitk.rte FP32_RN_HW_RTE
#extension GL_GOOGLE_include_directive : require

#include "gemm/geometry.h"
#define WG GEMV_WG // the layout is written for it; its record reads the same number
#ifndef COLS
#define COLS GEMV_COLS
#endif
// MAX_M sizes the per-row sums and the shared partials: a specialization constant (above); the
// default only lets the shader compile, every pipeline gets the manifest's value.
layout(constant_id = 1) const int MAX_M = 1;
#define SPLIT (WG / COLS) // invocations splitting K for one column

layout(local_size_x = WG, local_size_x_id = 0) in;

#include "common/gemm.glsl"

shared uvec2 partial[MAX_M * WG]; // [row][invocation]
shared uint nan_rows[COLS];       // bit m: output (m, n) is NaN

void main() {
  uint tid = gl_LocalInvocationID.x;
  uint col = tid / uint(SPLIT), s = tid % uint(SPLIT);
  uint kbs = pc.K / 16u, row_words = pc.K / 8u;
  uint groups = (pc.N + uint(COLS) - 1u) / uint(COLS);
  for (uint g = gl_WorkGroupID.x; g < groups; g += gl_NumWorkGroups.x) {
    uint n = g * uint(COLS) + col;
    bool live = n < pc.N;
    if (s == 0u) nan_rows[col] = 0u;
    barrier();
    uvec2 acc[MAX_M];
    for (int m = 0; m < MAX_M; ++m) acc[m] = I64_ZERO;
    uint nan = 0u;
    for (uint kb = s; live && kb < kbs; kb += uint(SPLIT)) {
      uint bw0, bw1;
      if ((pc.flags & 8u) != 0u) { // gemv_kblock_interleaved: per group of 8 blocks, low words then high words
        uint g = kb >> 3u, j = kb & 7u, gs = min(8u, kbs - (g << 3u));
        bw0 = b_buf[n * row_words + g * 16u + j];
        bw1 = b_buf[n * row_words + g * 16u + gs + j];
      } else {
        bw0 = b_buf[n * row_words + kb * 2u];
        bw1 = b_buf[n * row_words + kb * 2u + 1u];
      }
      uint bs_at = n * kbs + kb;
      uint bs = load_byte(sb_buf[bs_at >> 2], bs_at);
      if (e4m3_nan(bs)) nan = 0xFFFFFFFFu;
      int ib = e4m3_nan(bs) ? 0 : e4m3_int(bs);
      int jb[16];
      for (uint j = 0u; j < 8u; ++j) {
        jb[j] = e2m1_int((bw0 >> (4u * j)) & 0xFu);
        jb[8u + j] = e2m1_int((bw1 >> (4u * j)) & 0xFu);
      }
      for (int m = 0; m < MAX_M; ++m) {
        if (uint(m) >= pc.M) break; // a loop exit skips work on lavapipe; a masked `if` would not
        {
          uint aw0 = a_buf[uint(m) * row_words + kb * 2u], aw1 = a_buf[uint(m) * row_words + kb * 2u + 1u];
          uint as_at = uint(m) * kbs + kb;
          uint sa_code = load_byte(sa_buf[as_at >> 2], as_at);
          int P = 0;
          for (uint j = 0u; j < 8u; ++j) {
            P += e2m1_int((aw0 >> (4u * j)) & 0xFu) * jb[j];
            P += e2m1_int((aw1 >> (4u * j)) & 0xFu) * jb[8u + j];
          }
          if (e4m3_nan(sa_code)) nan |= 1u << uint(m);
          int ia = e4m3_nan(sa_code) ? 0 : e4m3_int(sa_code);
          acc[m] = i64_add(acc[m], i64_mul32(P * ia, ib));
        }
      }
    }
    if (nan != 0u) atomicOr(nan_rows[col], nan);
    for (int m = 0; m < MAX_M; ++m)
      if (uint(m) < pc.M) partial[uint(m) * uint(WG) + tid] = acc[m];
    barrier();
    for (uint step = uint(SPLIT) / 2u; step > 0u; step >>= 1u) {
      if (s < step)
        for (uint m = 0u; m < pc.M; ++m)
          partial[m * uint(WG) + tid] = i64_add(partial[m * uint(WG) + tid], partial[m * uint(WG) + tid + step]);
      barrier();
    }
    if (live)
      for (uint m = s; m < pc.M; m += uint(SPLIT)) {
        bool is_nan = ((nan_rows[col] >> m) & 1u) != 0u;
        gemm_store(m, n, gemm_scale(partial[m * uint(WG) + col * uint(SPLIT)], is_nan, F32_TWO_M20, pc.alpha));
      }
    barrier(); // nan_rows and partial are reused for the next columns
  }
}
