#version 450
// gemm_fp8, variant "tiled_exact": C [M, N] = A [M, K] * B [N, K]^T with E4M3 operands for
// prefill-sized M, exact (numerics.md section 4). A workgroup owns a BM x BN tile of C and walks
// K in tiles of KT elements: the invocations decode both operand tiles once into shared memory
// as the integer views I (value = I * 2^-9; NaN codes as 0 with a row/column flag), then each
// invocation computes a TM x TN register micro-tile (rows and columns interleaved with stride
// BM/TM and BN/TN). Each product I(a) * I(b) (up to 2^35.6) is formed exactly with imulExtended
// and added into an emulated 64-bit accumulator (common/int64_emu.glsl), so S is exact.
// Per-tensor form: c = RN(RN(f32(S) * 2^-18) * alpha) at the end.
// Block-scaled form (FP8_BLOCK): KT divides 128, and after the last K tile of each 128-wide block
// every invocation applies, for its outputs and in ascending block order,
// p = RN(f32(S_kb) * 2^-18); acc = RN(acc + RN(RN(p * sa[m,kb]) * sb[n/128,kb])); S_kb = 0 —
// the reference's order exactly. Rows of A and B are byte-addressed (K need not be a multiple of
// 4) and ragged M, N, K are zero-filled; tiles are walked grid-stride.
//
// Specialization constants: 0 the workgroup size, (BM/TM) * (BN/TN); 1-4 BM and BN (the tile of
// C), TM and TN (the micro-tile of an invocation), from the variant's tuning row
// (core/tuning.cpp: 64 x 64 tiles; 8 x 4 micro-tiles by default, 8 x 8 on CPU devices).
// Defines (defaults): KT 16 (K elements per shared tile; must divide 128; 16 keeps shared memory
// at 8.7 KB with 64 x 64 tiles, inside Vulkan's guaranteed 16 KB, and 32 (16.5 KB) measured the
// same on lavapipe). FP8_BLOCK (default undefined): the block-scaled form. FP32_RN_HW_RTE
// (default undefined): the ".rte" build (common/fp32_rn.glsl). Bindings and push constants:
// common/gemm.glsl (the per-tensor form ignores bindings 1 and 3, the block form ignores alpha).
// Conformance: exact, for any tile geometry.
// Measured on lavapipe (docs/perf.md "GEMM on lavapipe"): 512 x 512 x 512 0.34 GFLOP/s per-tensor,
// 0.28 block-scaled with 8 x 4 (load 3). Lost: TM = TN = 4 with 256 invocations (1.8x slower
// than 8 x 8: shared reads are gathers); two exact 32-bit partial sums split by shift instead of
// imulExtended + 64-bit add per product (no measurable gain, more code).
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv: gemm/fp8_tiled.tensor
// spirv: gemm/fp8_tiled.tensor.rte FP32_RN_HW_RTE
// spirv: gemm/fp8_tiled.block FP8_BLOCK
// spirv: gemm/fp8_tiled.block.rte FP8_BLOCK FP32_RN_HW_RTE
#extension GL_GOOGLE_include_directive : require

#ifndef KT
#define KT 16
#endif

// The tile geometry, from the variant's tuning row (core/tuning.cpp) by device class; the host
// specializes constant 0, the workgroup size, to (BM / TM) * (BN / TN) from the same row.
layout(constant_id = 1) const int BM = 64; // rows of C a workgroup owns
layout(constant_id = 2) const int BN = 64; // columns of C a workgroup owns
layout(constant_id = 3) const int TM = 8;  // micro-tile rows of an invocation
layout(constant_id = 4) const int TN = 4;  // micro-tile columns of an invocation
const int WG = (BM / TM) * (BN / TN);
layout(local_size_x = 128, local_size_x_id = 0) in;

#include "common/gemm.glsl"

shared int sIa[BM * KT]; // [row][k] of the tile, I values (0 for a NaN code)
shared int sIb[BN * KT];
shared uint nan_row[BM]; // a NaN code somewhere in that row of A (or B)
shared uint nan_col[BN];

void load_tile(uint tid, uint row0, uint k0, bool is_a) {
  uint limit = is_a ? pc.M : pc.N;
  for (uint i = tid; i < uint((is_a ? BM : BN) * KT); i += uint(WG)) {
    uint r = i / uint(KT), k = k0 + i % uint(KT);
    uint row = row0 + r;
    int v = 0;
    if (row < limit && k < pc.K) {
      uint at = row * pc.K + k;
      uint code = load_byte(is_a ? a_buf[at >> 2] : b_buf[at >> 2], at);
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
#ifdef FP8_BLOCK
  uint kbs = (pc.K + 127u) / 128u;
#endif
  for (uint tile = gl_WorkGroupID.x; tile < tiles_m * tiles_n; tile += gl_NumWorkGroups.x) {
    uint m0 = (tile / tiles_n) * uint(BM), n0 = (tile % tiles_n) * uint(BN);
    if (tid < uint(BM)) nan_row[tid] = 0u;
    if (tid < uint(BN)) nan_col[tid] = 0u;
    uvec2 S[TM][TN];
#ifdef FP8_BLOCK
    uint accf[TM][TN];
#endif
    for (int i = 0; i < TM; ++i)
      for (int j = 0; j < TN; ++j) {
        S[i][j] = I64_ZERO;
#ifdef FP8_BLOCK
        accf[i][j] = 0u;
#endif
      }
    barrier();

    for (uint k0 = 0u; k0 < pc.K; k0 += uint(KT)) {
      load_tile(tid, m0, k0, true);
      load_tile(tid, n0, k0, false);
      barrier();
      for (uint k = 0u; k < uint(KT); ++k) {
        int ia[TM], ib[TN];
        for (int i = 0; i < TM; ++i) ia[i] = sIa[(ty + uint(i * (BM / TM))) * uint(KT) + k];
        for (int j = 0; j < TN; ++j) ib[j] = sIb[(tx + uint(j * (BN / TN))) * uint(KT) + k];
        for (int i = 0; i < TM; ++i)
          for (int j = 0; j < TN; ++j) S[i][j] = i64_add(S[i][j], i64_mul32(ia[i], ib[j]));
      }
      barrier();
#ifdef FP8_BLOCK
      if ((k0 + uint(KT)) % 128u == 0u || k0 + uint(KT) >= pc.K) { // block kb is complete
        uint kb = k0 / 128u;
        for (int i = 0; i < TM; ++i) {
          uint m = m0 + ty + uint(i * (BM / TM));
          uint sa = m < pc.M ? sa_buf[m * kbs + kb] : 0u;
          for (int j = 0; j < TN; ++j) {
            uint n = n0 + tx + uint(j * (BN / TN));
            if (m < pc.M && n < pc.N) {
              uint p = mul_rn(i64_to_f32_rn(S[i][j]), F32_TWO_M18);
              uint q = mul_rn(mul_rn(p, sa), sb_buf[(n / 128u) * kbs + kb]);
              accf[i][j] = add_rn(accf[i][j], q);
            }
            S[i][j] = I64_ZERO;
          }
        }
      }
#endif
    }

    for (int i = 0; i < TM; ++i)
      for (int j = 0; j < TN; ++j) {
        uint r = ty + uint(i * (BM / TM)), c = tx + uint(j * (BN / TN));
        uint m = m0 + r, n = n0 + c;
        if (m < pc.M && n < pc.N) {
          bool nan = (nan_row[r] | nan_col[c]) != 0u;
#ifdef FP8_BLOCK
          gemm_store(m, n, nan ? F32_CANONICAL_NAN : accf[i][j]);
#else
          gemm_store(m, n, gemm_scale(S[i][j], nan, F32_TWO_M18, pc.alpha));
#endif
        }
      }
    barrier(); // the NaN flags are reset for the next tile
  }
}
