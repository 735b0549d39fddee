// The DeltaNet kernels' geometry: numbers their code is laid out for, written once here. The
// kernels include this file, and so do their records (host/src/*/variants.cpp) and launch
// functions (chunk tables, scratch sizes, the grid), instead of restating the numbers. Plain
// #defines: OpenCL C, GLSL and C++ read the same file.
#ifndef TESSERA_KERNELS_DELTANET_GEOMETRY_H
#define TESSERA_KERNELS_DELTANET_GEOMETRY_H

// chunked.cl, chunked.comp: tokens per chunk (CHUNK), and the state's value columns one scan
// work-group owns (DV_SLICE).
#define DN_CHUNK 64
#define DN_DV_SLICE 32

// recurrent.cl, recurrent.comp: the state's value columns one work-group owns (DN_COLS, COLS);
// the Vulkan shader's layout is written for workgroups of DN_WG_VK.
#define DN_STATE_COLS 32
#define DN_WG_VK 256

#endif
