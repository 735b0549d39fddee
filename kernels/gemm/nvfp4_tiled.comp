#version 450
// gemm_nvfp4, variant "tiled_exact": C [M, N] = A [M, K] * B [N, K]^T for prefill-sized M, exact
// (numerics.md section 4). A workgroup owns a BM x BN tile of C and walks K in tiles of KB_TILE
// 16-element blocks: the invocations decode the packed E2M1 codes of both operand tiles once into
// shared memory as the integers J (and the scales as I(s), NaN scales as 0 with a row/column
// flag), then each invocation computes a TM x TN register micro-tile, its rows and columns
// interleaved with stride BM/TM and BN/TN (neighbouring invocations read neighbouring shared
// words). Per block P = sum J_a * J_b is a small int; P * I(sa) fits in int32 (|.| < 2^29.1),
// and the product with I(sb) goes into an emulated 64-bit accumulator (common/int64_emu.glsl),
// so S is exact and the result equals the reference for any tiling. Ragged M, N (and any
// K % 16 == 0) are guarded with zero fill; tiles are walked grid-stride, so any group count works.
//
// Specialization constants: 0 the workgroup size, (BM/TM) * (BN/TN); 1-4 BM and BN (the tile of
// C a workgroup owns), TM and TN (the micro-tile of an invocation), from the variant's tuning row
// (core/tuning.cpp: 64 x 64 tiles; 8 x 4 micro-tiles by default, 8 x 8 on CPU devices).
// Defines (defaults): KB_TILE 1 (16-blocks of K per shared tile: with 1 and 64 x 64 tiles the
// shared arrays take 9.2 KB, inside Vulkan's guaranteed 16 KB; 2 (17.9 KB) measured the same on
// lavapipe). FP32_RN_HW_RTE (default undefined): the ".rte" build (common/fp32_rn.glsl).
// Bindings and push constants: common/gemm.glsl. Conformance: exact, for any tile geometry.
// Measured on lavapipe (Mesa 22.3 llvmpipe, 2 shared cores; docs/perf.md "GEMM on lavapipe"):
// 512 x 512 x 512 0.35 GFLOP/s with 8 x 4 (load 3). TM = TN = 4 with 256 invocations lost
// (shared-memory reads are gathers and dominate; 1.3x slower than 8 x 8); [[unroll]] hints made
// no difference.
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv: gemm/nvfp4_tiled
// spirv: gemm/nvfp4_tiled.rte FP32_RN_HW_RTE
#extension GL_GOOGLE_include_directive : require

#ifndef KB_TILE
#define KB_TILE 1
#endif
#define KT (KB_TILE * 16)

// The tile geometry, from the variant's tuning row (core/tuning.cpp) by device class; the host
// specializes constant 0, the workgroup size, to (BM / TM) * (BN / TN) from the same row.
layout(constant_id = 1) const int BM = 64; // rows of C a workgroup owns
layout(constant_id = 2) const int BN = 64; // columns of C a workgroup owns
layout(constant_id = 3) const int TM = 8;  // micro-tile rows of an invocation
layout(constant_id = 4) const int TN = 4;  // micro-tile columns of an invocation
const int WG = (BM / TM) * (BN / TN);
layout(local_size_x = 128, local_size_x_id = 0) in;

#include "common/gemm.glsl"

shared int sJa[BM * KT]; // [row][k] of the tile, J values
shared int sJb[BN * KT];
shared int sIa[BM * KB_TILE]; // [row][block] I(scale), 0 for a NaN scale
shared int sIb[BN * KB_TILE];
shared uint nan_row[BM]; // a NaN scale somewhere in that row of A (or B)
shared uint nan_col[BN];

// Decodes words (8 codes each, 2 a block) of `rows` rows starting at `row0` into `sJ`.
void load_codes(uint tid, uint row0, uint rows, uint kb0, bool is_a) {
  uint kbs = pc.K / 16u;
  for (uint w = tid; w < uint(rows * KB_TILE * 2); w += uint(WG)) {
    uint r = w / uint(KB_TILE * 2), wk = w % uint(KB_TILE * 2); // word wk of the row's tile
    uint row = row0 + r, kb = kb0 + wk / 2u;
    uint limit = is_a ? pc.M : pc.N;
    uint word = 0u;
    if (row < limit && kb < kbs) {
      uint at = row * (pc.K / 8u) + kb * 2u + (wk & 1u);
      word = is_a ? a_buf[at] : b_buf[at];
    }
    for (uint j = 0u; j < 8u; ++j) {
      int v = e2m1_int((word >> (4u * j)) & 0xFu);
      if (is_a) sJa[r * uint(KT) + wk * 8u + j] = v;
      else sJb[r * uint(KT) + wk * 8u + j] = v;
    }
  }
}

void load_scales(uint tid, uint row0, uint rows, uint kb0, bool is_a) {
  uint kbs = pc.K / 16u;
  for (uint i = tid; i < uint(rows * KB_TILE); i += uint(WG)) {
    uint r = i / uint(KB_TILE), kb = kb0 + i % uint(KB_TILE);
    uint row = row0 + r;
    uint limit = is_a ? pc.M : pc.N;
    int v = 0;
    if (row < limit && kb < kbs) {
      uint at = row * kbs + kb;
      uint code = load_byte(is_a ? sa_buf[at >> 2] : sb_buf[at >> 2], at);
      if (e4m3_nan(code)) {
        if (is_a) atomicOr(nan_row[r], 1u);
        else atomicOr(nan_col[r], 1u);
      } else {
        v = e4m3_int(code);
      }
    }
    if (is_a) sIa[i] = v;
    else sIb[i] = v;
  }
}

void main() {
  uint tid = gl_LocalInvocationID.x;
  uint tx = tid % uint(BN / TN), ty = tid / uint(BN / TN);
  uint tiles_m = (pc.M + uint(BM) - 1u) / uint(BM), tiles_n = (pc.N + uint(BN) - 1u) / uint(BN);
  uint kbs = pc.K / 16u;
  for (uint tile = gl_WorkGroupID.x; tile < tiles_m * tiles_n; tile += gl_NumWorkGroups.x) {
    uint m0 = (tile / tiles_n) * uint(BM), n0 = (tile % tiles_n) * uint(BN);
    if (tid < uint(BM)) nan_row[tid] = 0u;
    if (tid < uint(BN)) nan_col[tid] = 0u;
    uvec2 acc[TM][TN];
    for (int i = 0; i < TM; ++i)
      for (int j = 0; j < TN; ++j) acc[i][j] = I64_ZERO;
    barrier();

    for (uint kb0 = 0u; kb0 < kbs; kb0 += uint(KB_TILE)) {
      load_codes(tid, m0, uint(BM), kb0, true);
      load_codes(tid, n0, uint(BN), kb0, false);
      load_scales(tid, m0, uint(BM), kb0, true);
      load_scales(tid, n0, uint(BN), kb0, false);
      barrier();
      for (uint b = 0u; b < uint(KB_TILE); ++b) {
        int P[TM][TN];
        for (int i = 0; i < TM; ++i)
          for (int j = 0; j < TN; ++j) P[i][j] = 0;
        for (uint e = 0u; e < 16u; ++e) {
          uint k = b * 16u + e;
          int ja[TM], jb[TN];
          for (int i = 0; i < TM; ++i) ja[i] = sJa[(ty + uint(i * (BM / TM))) * uint(KT) + k];
          for (int j = 0; j < TN; ++j) jb[j] = sJb[(tx + uint(j * (BN / TN))) * uint(KT) + k];
          for (int i = 0; i < TM; ++i)
            for (int j = 0; j < TN; ++j) P[i][j] += ja[i] * jb[j];
        }
        int ia[TM], ib[TN];
        for (int i = 0; i < TM; ++i) ia[i] = sIa[(ty + uint(i * (BM / TM))) * uint(KB_TILE) + b];
        for (int j = 0; j < TN; ++j) ib[j] = sIb[(tx + uint(j * (BN / TN))) * uint(KB_TILE) + b];
        for (int i = 0; i < TM; ++i)
          for (int j = 0; j < TN; ++j) acc[i][j] = i64_add(acc[i][j], i64_mul32(P[i][j] * ia[i], ib[j]));
      }
      barrier();
    }

    for (int i = 0; i < TM; ++i)
      for (int j = 0; j < TN; ++j) {
        uint r = ty + uint(i * (BM / TM)), c = tx + uint(j * (BN / TN));
        uint m = m0 + r, n = n0 + c;
        if (m < pc.M && n < pc.N) {
          bool nan = (nan_row[r] | nan_col[c]) != 0u;
          gemm_store(m, n, gemm_scale(acc[i][j], nan, F32_TWO_M20, pc.alpha));
        }
      }
    barrier(); // the NaN flags are reset for the next tile
  }
}
