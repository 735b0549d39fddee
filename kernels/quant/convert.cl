// convert, variant "elementwise": y[i] = format(x[i]) for the five formats of numerics.md
// section 1, one element per work-item in a grid-stride loop (any n, 64-bit indices).
// The format is a kernel argument rather than a define: one program serves all five, and the
// branch on it is uniform across the launch. Codes of E4M3, E5M2 and E2M1 are one byte each
// (convert_to_u8), bf16 and fp16 two (convert_to_u16).
//
// Conformance: exact (the encoders work on the integer bits; common/formats.cl).
// Defines: WG_SIZE (below). Format numbers: tessera::Format's order, checked by the host.
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG_SIZE
#define WG_SIZE 256 // work-items per group (the host launches with this local size)
#endif

#include "common/formats.cl"

#define TSR_FORMAT_E4M3 0
#define TSR_FORMAT_E5M2 1
#define TSR_FORMAT_E2M1 2
#define TSR_FORMAT_BF16 3
#define TSR_FORMAT_F16 4

__kernel void convert_to_u8(__global const float* x, ulong n, int format, __global uchar* y) {
  for (ulong i = get_global_id(0); i < n; i += get_global_size(0)) {
    float v = x[i];
    y[i] = format == TSR_FORMAT_E4M3   ? tsr_f32_to_e4m3(v)
           : format == TSR_FORMAT_E5M2 ? tsr_f32_to_e5m2(v)
                                       : tsr_f32_to_e2m1(v);
  }
}

__kernel void convert_to_u16(__global const float* x, ulong n, int format, __global ushort* y) {
  for (ulong i = get_global_id(0); i < n; i += get_global_size(0)) {
    float v = x[i];
    y[i] = format == TSR_FORMAT_BF16 ? tsr_f32_to_bf16(v) : tsr_f32_to_f16(v);
  }
}

// The inverse for the two 16-bit formats: bf16/fp16 codes -> fp32, exact (every code has an fp32
// value; fp16 NaN payloads move to fp32's top fraction bits as in the reference). Not a variant
// of an operation: the launchers of fp32 operations widen resident bf16/fp16 inputs with it on
// the device (host/src/opencl/cast.cpp), so the bytes never cross to the host. format: 3 bf16, 4 fp16.
__kernel void widen_u16(__global const ushort* x, ulong n, int format, __global float* y) {
  for (ulong i = get_global_id(0); i < n; i += get_global_size(0))
    y[i] = format == TSR_FORMAT_BF16 ? tsr_bf16_to_f32(x[i]) : tsr_f16_to_f32(x[i]);
}
