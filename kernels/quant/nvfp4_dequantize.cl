// dequantize_nvfp4, variant "elementwise": y = RN(RN(e2m1(q) * f32(scale)) * scale_2)
// (numerics.md section 2), one element per work-item in a grid-stride loop. Codes are packed
// two a byte, element 2i in the low nibble; one E4M3 scale per 16 consecutive elements of a row,
// and since a row holds a whole number of blocks the flat element index i uses scale[i / 16].
// A NaN scale byte makes its 16 outputs NaN, written as the canonical NaN.
//
// Conformance: exact. Defines: WG_SIZE (below).
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG_SIZE
#define WG_SIZE 256 // work-items per group (the host launches with this local size)
#endif

#include "common/formats.cl"

__kernel void nvfp4_dequantize(__global const uchar* q, __global const uchar* scale, float scale_2,
                               ulong n, __global float* y) {
  for (ulong i = get_global_id(0); i < n; i += get_global_size(0)) {
    uchar byte = q[i >> 1];
    uchar code = (i & 1UL) ? (uchar)(byte >> 4) : (uchar)(byte & 0xF);
    float s = tsr_e4m3_to_f32(scale[i >> 4]);
    y[i] = tsr_canonicalize_nan((tsr_e2m1_to_f32(code) * s) * scale_2);
  }
}
