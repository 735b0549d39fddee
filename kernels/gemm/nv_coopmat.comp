#version 450
// gemm_nvfp4 and gemm_fp8, variant "nv_coopmat_f16" (numerics.md section 4; conformance BOUNDED,
// rel L2 <= 2e-4, host/src/requirements.h): C [M, N] = A [M, K] * B [N, K]^T on NVIDIA tensor
// cores through GL_NV_cooperative_matrix, fp16 x fp16 -> fp32 16x16x16 multiply-adds.
//
// Operands become fp16 exactly once staged:
//   E4M3: I * 2^-9 with at most 4 significant bits, 2^-9 <= |x| <= 448: inside fp16's 11
//     significant bits, 2^-24 resolution and 65504 range.
//   NVFP4 (NV_COOPMAT_NVFP4): the E2M1 value J / 2 times its E4M3 block scale I_s * 2^-9 is
//     (J * I_s) * 2^-10 with J * I_s an integer of at most 2 + 4 = 6 significant bits and
//     2^-10 <= |x| <= 6 * 448 = 2688: exact in fp16 as well (fp16's smallest normal is 2^-14 and
//     its subnormals reach 2^-24, so even the 2^-10 grid is representable).
// So every product is exact in fp32 and only the fp32 accumulation rounds. Each KT = 32 step is
// summed by the tensor core into a zero matrix and then added to the running fp32 sum (so the
// unit's own accumulation spans 32 products: the order tests/test_gemm_tensor_core.cpp emulates).
// Per-tensor forms: c = acc * alpha (acc carries the 2^-20 / 2^-18 unit, the operands being real
// values). Block-scaled FP8 (FP8_BLOCK): each 128-wide K block is accumulated on its own, then
// folded as tot = tot + (blk * sa[m, kb]) * sb[n / 128, kb], kb ascending (the reference's order).
// Bias, canonical NaN and the bf16 / fp16 conversion are common/gemm.glsl's exact epilogue.
// NaN codes (an E4M3 operand, an NVFP4 block scale) are staged as 0 and flag their row of A or
// column of B; flagged outputs become NaN, so NaN placement never depends on the tensor core.
// Ragged M, N, K: staging is bounds-checked and zero-fills; stores are bounds-checked.
//
// Layout: 128 invocations = 4 subgroups of 32 (NVIDIA's width; the registry requires it), a
// BM x BN = 64 x 64 tile of C a workgroup (grid-stride over tiles, M fastest), subgroup s owns
// the 32 x 32 quarter at rows (s % 2) * 32, columns (s / 2) * 32: 2 x 2 accumulators of 16 x 16.
// A is staged row-major [BM][KT] and B as [BN][KT] (K-contiguous, i.e. the K x N operand in
// column-major order), both with a row stride of KT + 8 halves (80 bytes, 16-byte aligned as
// cooperative loads want). Outputs leave through a 16 x 16 fp32 shared patch per subgroup, so the
// invocation that writes an element is known (cooperative matrix element ownership is opaque).
//
// Measured: not yet (no NVIDIA GPU in the build environment; docs/perf.md "Tensor-core GEMM
// variants" says what it should reach). It cannot run on lavapipe (no cooperative matrices); the
// build compiles it to SPIR-V with glslangValidator and spirv-val checks it.
//
// Defines (defaults): NV_COOPMAT_NVFP4 (undefined): NVFP4 operands with E4M3 block-16 scales at
// bindings 1 and 3, else E4M3 operands. FP8_BLOCK (undefined): block-scaled FP8 (fp32 scales at
// bindings 1 and 3, alpha ignored). KT 32: K elements staged per step (a multiple of 16 that
// divides 128). Bindings and push constants: common/gemm.glsl. Workgroup: 128 invocations.
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv if nv_coopmat: gemm/nv_coopmat.nvfp4 NV_COOPMAT_NVFP4
// spirv if nv_coopmat: gemm/nv_coopmat.fp8_tensor
// spirv if nv_coopmat: gemm/nv_coopmat.fp8_block FP8_BLOCK
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require

#ifndef KT
#define KT 32
#endif
#if (KT % 16) != 0 || (128 % KT) != 0
#error "nv_coopmat.comp: KT must be a multiple of 16 that divides 128"
#endif
#include "gemm/geometry.h"
#define BM NVC_TILE
#define BN NVC_TILE
#define WG NVC_WG
#define SK (KT + 8) // shared row stride in halves

layout(local_size_x = WG, local_size_x_id = 0) in;

#include "common/gemm.glsl"

#define F16MAT fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define F32MAT fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>

shared float16_t sA[BM * SK];
shared float16_t sB[BN * SK];
shared float sC[4 * 256]; // one 16 x 16 fp32 patch per subgroup
shared uint nan_row[BM];
shared uint nan_col[BN];

// Operand element (row, k) of A (is_a) or B as an exact fp16, 0 outside the matrix or for a NaN
// code (which flags row r of the tile instead).
float16_t operand(bool is_a, uint row, uint r, uint k) {
  uint limit = is_a ? pc.M : pc.N;
  if (row >= limit || k >= pc.K) return float16_t(0.0);
#ifdef NV_COOPMAT_NVFP4
  uint at = row * (pc.K / 2u) + k / 2u, sat = row * (pc.K / 16u) + k / 16u;
  uint byte = load_byte(is_a ? a_buf[at >> 2] : b_buf[at >> 2], at);
  uint sc = load_byte(is_a ? sa_buf[sat >> 2] : sb_buf[sat >> 2], sat);
  if (e4m3_nan(sc)) {
    if (is_a) atomicOr(nan_row[r], 1u);
    else atomicOr(nan_col[r], 1u);
    return float16_t(0.0);
  }
  int j = e2m1_int((k & 1u) != 0u ? byte >> 4 : byte & 0xFu);
  return float16_t(float(j * e4m3_int(sc)) * (1.0 / 1024.0)); // exact: header
#else
  uint at = row * pc.K + k;
  uint code = load_byte(is_a ? a_buf[at >> 2] : b_buf[at >> 2], at);
  if (e4m3_nan(code)) {
    if (is_a) atomicOr(nan_row[r], 1u);
    else atomicOr(nan_col[r], 1u);
    return float16_t(0.0);
  }
  return float16_t(float(e4m3_int(code)) * (1.0 / 512.0)); // exact: header
#endif
}

void stage(uint tid, uint m0, uint n0, uint k0) {
  for (uint i = tid; i < uint(BM * KT); i += uint(WG)) {
    uint r = i / uint(KT), k = i % uint(KT);
    sA[r * uint(SK) + k] = operand(true, m0 + r, r, k0 + k);
  }
  for (uint i = tid; i < uint(BN * KT); i += uint(WG)) {
    uint r = i / uint(KT), k = i % uint(KT);
    sB[r * uint(SK) + k] = operand(false, n0 + r, r, k0 + k);
  }
}

void main() {
  uint tid = gl_LocalInvocationID.x;
  uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID, lanes = gl_SubgroupSize;
  uint wm = sg % 2u, wn = sg / 2u;
  uint tiles_m = (pc.M + uint(BM) - 1u) / uint(BM), tiles_n = (pc.N + uint(BN) - 1u) / uint(BN);
  float alpha = uintBitsToFloat(pc.alpha);
#ifdef FP8_BLOCK
  uint kbs = (pc.K + 127u) / 128u;
#endif

  for (uint tile = gl_WorkGroupID.x; tile < tiles_m * tiles_n; tile += gl_NumWorkGroups.x) {
    uint m0 = (tile % tiles_m) * uint(BM), n0 = (tile / tiles_m) * uint(BN);
    for (uint i = tid; i < uint(BM); i += uint(WG)) nan_row[i] = 0u;
    for (uint i = tid; i < uint(BN); i += uint(WG)) nan_col[i] = 0u;
    F32MAT acc[2][2];
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) acc[i][j] = F32MAT(0.0);
#ifdef FP8_BLOCK
    float tot[4][8]; // this lane's elements lane + 32 e of each 16 x 16 patch (i * 2 + j)
    for (int f = 0; f < 4; ++f)
      for (int e = 0; e < 8; ++e) tot[f][e] = 0.0;
#endif

    for (uint k0 = 0u; k0 < pc.K; k0 += uint(KT)) {
      barrier(); // the previous step's loads (and the flag reset) are done
      stage(tid, m0, n0, k0);
      barrier();
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) {
          F32MAT part = F32MAT(0.0);
          for (uint ks = 0u; ks < uint(KT); ks += 16u) {
            F16MAT a, b;
            coopMatLoadNV(a, sA, (wm * 32u + uint(i) * 16u) * uint(SK) + ks, uint(SK), false);
            coopMatLoadNV(b, sB, (wn * 32u + uint(j) * 16u) * uint(SK) + ks, uint(SK), true);
            part = coopMatMulAddNV(a, b, part);
          }
          acc[i][j] = acc[i][j] + part;
        }
#ifdef FP8_BLOCK
      if ((k0 + uint(KT)) % 128u == 0u || k0 + uint(KT) >= pc.K) {
        uint kb = k0 / 128u;
        for (int f = 0; f < 4; ++f) {
          coopMatStoreNV(acc[f / 2][f % 2], sC, sg * 256u, 16u, false);
          barrier();
          for (uint e = 0u; e < 8u && lane + e * lanes < 256u; ++e) {
            uint idx = lane + e * lanes;
            uint gm = m0 + wm * 32u + uint(f / 2) * 16u + idx / 16u;
            uint gn = n0 + wn * 32u + uint(f % 2) * 16u + idx % 16u;
            float sai = gm < pc.M ? uintBitsToFloat(sa_buf[gm * kbs + kb]) : 0.0;
            float sbj = gn < pc.N ? uintBitsToFloat(sb_buf[(gn / 128u) * kbs + kb]) : 0.0;
            precise float v = sC[sg * 256u + idx] * sai;
            v = v * sbj;
            tot[f][e] = tot[f][e] + v;
          }
          barrier(); // the patch is read before the next store
          acc[f / 2][f % 2] = F32MAT(0.0);
        }
      }
#endif
    }
    barrier(); // flags complete (also when K == 0)

    for (int f = 0; f < 4; ++f) {
      coopMatStoreNV(acc[f / 2][f % 2], sC, sg * 256u, 16u, false);
      barrier();
      for (uint e = 0u; e < 8u && lane + e * lanes < 256u; ++e) {
        uint idx = lane + e * lanes;
        uint r = wm * 32u + uint(f / 2) * 16u + idx / 16u, c = wn * 32u + uint(f % 2) * 16u + idx % 16u;
        uint gm = m0 + r, gn = n0 + c;
        if (gm < pc.M && gn < pc.N) {
#ifdef FP8_BLOCK
          float v = tot[f][e];
#else
          float v = sC[sg * 256u + idx] * alpha;
#endif
          uint bits = (nan_row[r] | nan_col[c]) != 0u ? F32_CANONICAL_NAN : floatBitsToUint(v);
          gemm_store(gm, gn, bits);
        }
      }
      barrier(); // the patch is read before the next store
    }
  }
}
