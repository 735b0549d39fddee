#version 450
// gemm_fp8, variant "gemv_splitk_exact": decode-sized M (1 to MAX_M rows of A), E4M3 operands,
// exact (numerics.md section 4). A workgroup owns COLS columns of C (grid-stride over N); B's row
// n is read once, split across the SPLIT = WG / COLS invocations of its column, and applied to
// every row of A.
// Per-tensor form: invocation s takes the words s, s + SPLIT, ... of B's row (4 codes each; the row
// is byte-addressed, so its first and last words are partial), keeps one emulated 64-bit exact
// sum per row of A, and the sums are reduced in shared memory by a fixed tree (exact integers:
// any order gives the same bits). c = RN(RN(f32(S) * 2^-18) * alpha).
// Block-scaled form (FP8_BLOCK): the order of the fp32 steps matters between 128-wide blocks, so
// K is split only at block boundaries: invocation s takes a whole block kb of a chunk of SPLIT
// blocks, sums S_kb exactly and computes q_kb = RN(RN(RN(f32(S_kb) * 2^-18) * sa) * sb) for every
// row (q_kb depends on nothing but kb); then the invocation owning row m adds the chunk's q_kb in
// ascending kb order, acc = RN(acc + q_kb), exactly as the reference does. (Splitting inside a
// block would need a reduction per block; at decode K, K/128 blocks already give each invocation
// work.)
//
// Defines (defaults): WG 64 (invocations; the host must specialize exactly this size), COLS 8
// (columns a workgroup owns; the host's group count assumes it). FP8_BLOCK (default undefined): the
// block-scaled form. FP32_RN_HW_RTE (default undefined): the ".rte" build (common/fp32_rn.glsl).
// Specialization constants: 0 = workgroup size, 1 = MAX_M (rows of A, at most 32: one bit a row
// in nan_rows), the record's manifest max_m (core::kDecodeRows), which the registry checks M
// against: the host sets it at pipeline creation, so the number is written once. Bindings and push constants: common/gemm.glsl.
// Conformance: exact.
// Measured on lavapipe (docs/perf.md "GEMM on lavapipe"): 1 x 4096 x 4096 0.05 GFLOP/s per-tensor,
// 0.03 block-scaled; 16 x 4096 x 4096 0.29 and 0.14 (the block form is slower than the forced
// tiled kernel there). One column per workgroup (WG invocations splitting K) was within the
// noise of COLS 8 and is not kept. Operation count per product (byte extraction, decode,
// 64-bit add) bounds this kernel on lavapipe: what is left to speed up.
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv: gemm/fp8_gemv_splitk.tensor
// spirv: gemm/fp8_gemv_splitk.tensor.rte FP32_RN_HW_RTE
// spirv: gemm/fp8_gemv_splitk.block FP8_BLOCK
// spirv: gemm/fp8_gemv_splitk.block.rte FP8_BLOCK FP32_RN_HW_RTE
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
#define ROWS_PER ((MAX_M + SPLIT - 1) / SPLIT) // rows of C an invocation finishes

layout(local_size_x = WG, local_size_x_id = 0) in;

#include "common/gemm.glsl"

#ifdef FP8_BLOCK
shared uint partial[MAX_M * WG]; // [row][invocation]: q_kb of the chunk, fp32 bits
#else
shared uvec2 partial[MAX_M * WG]; // [row][invocation]: exact partial sums
#endif
shared uint nan_rows[COLS]; // bit m: output (m, n) is NaN

// Adds I(a[m, k]) * I(b) to acc[m] for every row m; NaN codes set bits of `nan`.
#define APPLY_ROWS(acc, k, ib, nan)                                                              \
  for (int m = 0; m < MAX_M; ++m) {                                                              \
    if (uint(m) >= pc.M) break;                                                                  \
    uint a_at = uint(m) * pc.K + (k);                                                            \
    uint a_code = load_byte(a_buf[a_at >> 2], a_at);                                             \
    if (e4m3_nan(a_code)) nan |= 1u << uint(m);                                                  \
    int ia = e4m3_nan(a_code) ? 0 : e4m3_int(a_code);                                            \
    acc[m] = i64_add(acc[m], i64_mul32(ia, (ib)));                                               \
  }

void main() {
  uint tid = gl_LocalInvocationID.x;
  uint col = tid / uint(SPLIT), s = tid % uint(SPLIT);
  uint groups = (pc.N + uint(COLS) - 1u) / uint(COLS);
  for (uint grp = gl_WorkGroupID.x; grp < groups; grp += gl_NumWorkGroups.x) {
    uint n = grp * uint(COLS) + col;
    bool live = n < pc.N;
    if (s == 0u) nan_rows[col] = 0u;
    barrier();
    uint nan = 0u;
    uint row = n * pc.K;
#ifdef FP8_BLOCK
    uint kbs = (pc.K + 127u) / 128u;
    uint accf[ROWS_PER]; // running sums of rows s, s + SPLIT, ...
    for (int r = 0; r < ROWS_PER; ++r) accf[r] = 0u;
    for (uint c0 = 0u; c0 < kbs; c0 += uint(SPLIT)) {
      uint kb = c0 + s;
      if (live && kb < kbs) {
        uvec2 S[MAX_M];
        for (int m = 0; m < MAX_M; ++m) S[m] = I64_ZERO;
        uint k_end = min(pc.K, kb * 128u + 128u);
        for (uint k = kb * 128u; k < k_end; ++k) {
          uint code = load_byte(b_buf[(row + k) >> 2], row + k);
          if (e4m3_nan(code)) nan = 0xFFFFFFFFu;
          int ib = e4m3_nan(code) ? 0 : e4m3_int(code);
          APPLY_ROWS(S, k, ib, nan)
        }
        uint sb = sb_buf[(n / 128u) * kbs + kb];
        for (int m = 0; m < MAX_M; ++m) {
          if (uint(m) >= pc.M) break;
          uint p = mul_rn(i64_to_f32_rn(S[m]), F32_TWO_M18);
          partial[uint(m) * uint(WG) + tid] = mul_rn(mul_rn(p, sa_buf[uint(m) * kbs + kb]), sb);
        }
      }
      barrier();
      uint count = min(uint(SPLIT), kbs - c0);
      for (int r = 0; r < ROWS_PER; ++r) {
        uint m = s + uint(r * SPLIT);
        if (m >= pc.M) break;
        for (uint i = 0u; i < count; ++i) accf[r] = add_rn(accf[r], partial[m * uint(WG) + col * uint(SPLIT) + i]);
      }
      barrier();
    }
    if (nan != 0u) atomicOr(nan_rows[col], nan);
    barrier();
    for (int r = 0; r < ROWS_PER; ++r) {
      uint m = s + uint(r * SPLIT);
      if (m >= pc.M || !live) break;
      gemm_store(m, n, ((nan_rows[col] >> m) & 1u) != 0u ? F32_CANONICAL_NAN : accf[r]);
    }
#else
    uvec2 acc[MAX_M];
    for (int m = 0; m < MAX_M; ++m) acc[m] = I64_ZERO;
    uint w_end = live ? (row + pc.K + 3u) >> 2 : 0u;
    for (uint w = (row >> 2) + s; w < w_end; w += uint(SPLIT)) {
      uint word = b_buf[w];
      for (uint j = 0u; j < 4u; ++j) {
        uint g = 4u * w + j; // byte address
        if (g < row || g >= row + pc.K) continue;
        uint code = byte_of(word, j);
        if (e4m3_nan(code)) nan = 0xFFFFFFFFu;
        int ib = e4m3_nan(code) ? 0 : e4m3_int(code);
        APPLY_ROWS(acc, g - row, ib, nan)
      }
    }
    if (nan != 0u) atomicOr(nan_rows[col], nan);
    for (int m = 0; m < MAX_M; ++m) {
      if (uint(m) >= pc.M) break;
      partial[uint(m) * uint(WG) + tid] = acc[m];
    }
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
        gemm_store(m, n, gemm_scale(partial[m * uint(WG) + col * uint(SPLIT)], is_nan, F32_TWO_M18, pc.alpha));
      }
#endif
    barrier(); // nan_rows and partial are reused for the next columns
  }
}
