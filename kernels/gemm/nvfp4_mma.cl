// gemm_nvfp4, variant "nv_mma_f16" (numerics.md section 4; conformance BOUNDED, rel L2 <= 2e-4):
// C [M, N] = A [M, K] * B [N, K]^T for NVFP4 x NVFP4 on NVIDIA tensor cores through inline PTX
// mma.sync m16n8k16 f16 x f16 -> f32 (cc >= 8.0). Each E2M1 element is staged with its E4M3 block
// scale folded in as one fp16 (exact: the header of common/nv_mma_tile.cl shows the range and
// precision), so every product is exact and only the fp32 accumulation rounds; then
// c = RN(acc * alpha), bias and the output conversion as the exact variants.
// Without TESSERA_NV_INLINE_PTX (PoCL) the portable fp32 branch computes the same tile; the
// registry offers this variant only where the host writes the macro as 1 (NVIDIA's OpenCL).
//
// Measured: not yet (no NVIDIA GPU in the build environment; docs/perf.md "Tensor-core GEMM
// variants" says what it should reach).
//
// Defines:
//   WG_SIZE 256 (host build option; must be 256)
//   TESSERA_NV_INLINE_PTX 0 (host prelude; 1 on NVIDIA's OpenCL)
#pragma OPENCL FP_CONTRACT OFF

#define NV_MMA_NVFP4 1
#define NV_MMA_OPERAND_E4M3 0
#include "common/nv_mma_tile.cl"

__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
nvfp4_gemm_mma(__global const uchar* a, __global const uchar* a_scale, __global const uchar* b,
               __global const uchar* b_scale, int M, int N, int K, float alpha,
               __global const float* bias, int has_bias, int out_type, __global uchar* c) {
  __local uint As[NVM_TILE_M * NVM_KS];
  __local uint Bs[NVM_TILE_N * NVM_KS];
  __local int nan_a[NVM_TILE_M];
  __local int nan_b[NVM_TILE_N];
  nvm_gemm(a, a_scale, 0, b, b_scale, 0, M, N, K, alpha, bias, has_bias, out_type, c, 0, As, Bs,
           nan_a, nan_b);
}
