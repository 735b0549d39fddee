// The attention kernels' geometry: numbers their code is laid out for, written once here. The
// kernels include this file, and so do their records (host/src/*/variants.cpp: workgroup,
// max_d) and launch functions (rows per group, key tiles), instead of restating the numbers.
// Plain #defines: OpenCL C, GLSL and C++ read the same file.
#ifndef TESSERA_KERNELS_ATTENTION_GEOMETRY_H
#define TESSERA_KERNELS_ATTENTION_GEOMETRY_H

// The portable kernels (attn_tile.cl, attn_tile.glsl): keys per staged K/V tile (ATT_BC), and
// the lanes that share one query row (ATT_LPR) of each kernel.
#define ATT_KEY_TILE 16
#define ATT_LANES_PREFILL_CL 8  // flash_prefill.cl
#define ATT_LANES_DECODE_CL 32  // splitkv_decode.cl
#define ATT_LANES_PREFILL_VK 4  // flash_prefill.comp
#define ATT_LANES_DECODE_VK 16  // splitkv_decode.comp
#define ATT_WG_VK 64            // flash_prefill.comp, splitkv_decode.comp: invocations a workgroup

// flash_mma.cl (NVIDIA mma.sync): 8 warps of 32, 16 query rows each.
#define FM_WG 256
#define FM_ROWS 128

// flash_coopmat.comp (NVIDIA cooperative matrices): 4 subgroups of 32, 16 query rows each; its
// shared arrays are sized for head dimensions up to FC_DMAX.
#define FC_WG 128
#define FC_ROWS 64
#define FC_DMAX 256

#endif
