// gemm_fp8, variants "nv_mma_f16" and "nv_mma_e4m3" (numerics.md section 4; conformance BOUNDED,
// rel L2 <= 2e-4 and 3e-3): C [M, N] = A [M, K] * B [N, K]^T for E4M3 x E4M3 on NVIDIA tensor
// cores through inline PTX. nv_mma_f16: E4M3 operands staged as fp16 (exact: 4 significant bits,
// 2^-9..448) for mma.sync m16n8k16 f16 x f16 -> f32 (cc >= 8.0). nv_mma_e4m3
// (NV_MMA_OPERAND_E4M3 1, the record's build option): E4M3 operands fed as bytes to mma.sync
// m16n8k32 .e4m3 x .e4m3 -> f32 (cc >= 8.9, PTX ISA 8.4); a separate program, so a cc 8.0
// device never assembles it.
// Every product is exact in fp32; only the fp32 accumulation rounds.
//   fp8_gemm_mma        per-tensor: c = RN(acc * alpha)
//   fp8_block_gemm_mma  block-scaled: each 128-wide K block accumulated on its own, folded as
//                          tot = RN(tot + RN(RN(blk * sa[m, kb]) * sb[n / 128, kb])), kb ascending
// Without TESSERA_NV_INLINE_PTX (PoCL) the portable fp32 branch computes the same tile; the
// registry offers this variant only where the host writes the macro as 1 (NVIDIA's OpenCL).
//
// Measured: not yet (no NVIDIA GPU in the build environment; docs/perf.md "Tensor-core GEMM
// variants" says what it should reach).
//
// Defines:
//   WG_SIZE 256 (host build option; must be 256)
//   TESSERA_NV_INLINE_PTX 0 (host prelude; 1 on NVIDIA's OpenCL)
//   NV_MMA_OPERAND_E4M3 0 (1: the nv_mma_e4m3 variant, from its record's manifest)
//   LOCAL_BYTES (host build option, the record's local_bytes)
#pragma OPENCL FP_CONTRACT OFF

#define NV_MMA_NVFP4 0
#ifndef NV_MMA_OPERAND_E4M3
#define NV_MMA_OPERAND_E4M3 0
#endif
#include "common/nv_mma_tile.cl"

__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
fp8_gemm_mma(__global const uchar* a, __global const uchar* b, int M, int N, int K, float alpha,
             __global const float* bias, int has_bias, int out_type, __global uchar* c) {
  __local uint As[NVM_TILE_M * NVM_KS];
  __local uint Bs[NVM_TILE_N * NVM_KS];
  __local int nan_a[NVM_TILE_M];
  __local int nan_b[NVM_TILE_N];
  nvm_gemm(a, 0, 0, b, 0, 0, M, N, K, alpha, bias, has_bias, out_type, c, 0, As, Bs, nan_a, nan_b);
}

__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
fp8_block_gemm_mma(__global const uchar* a, __global const float* sa, __global const uchar* b,
                   __global const float* sb, int M, int N, int K, __global const float* bias,
                   int has_bias, int out_type, __global uchar* c) {
  __local uint As[NVM_TILE_M * NVM_KS];
  __local uint Bs[NVM_TILE_N * NVM_KS];
  __local int nan_a[NVM_TILE_M];
  __local int nan_b[NVM_TILE_N];
  nvm_gemm(a, 0, sa, b, 0, sb, M, N, K, 1.0f, bias, has_bias, out_type, c, 1, As, Bs, nan_a, nan_b);
}
