// The GEMM kernels' geometry: numbers their code is laid out for (a warp layout, the tile a loop
// nest covers), written once here. The kernels include this file, and so do their records
// (host/src/*/variants.cpp: the workgroup) and launch functions (the grid), instead of restating
// the numbers. Plain #defines: OpenCL C, GLSL and C++ read the same file.
#ifndef TESSERA_KERNELS_GEMM_GEOMETRY_H
#define TESSERA_KERNELS_GEMM_GEOMETRY_H

// common/nv_mma_tile.cl (nvfp4_mma.cl, fp8_mma.cl): 8 warps of 32, warp w a 32 x 32 sub-tile of
// a 128 x 64 tile of C.
#define NVM_WG 256
#define NVM_TILE_M 128
#define NVM_TILE_N 64

// nv_coopmat.comp: 4 subgroups of 32 over a 64 x 64 tile of C (BM = BN).
#define NVC_WG 128
#define NVC_TILE 64

// nvfp4_gemv_splitk.comp, fp8_gemv_splitk.comp: 64 invocations own 8 columns of C (COLS), the
// 8 of a column splitting K.
#define GEMV_WG 64
#define GEMV_COLS 8

#endif
