// Shared pieces of the exact GEMMs of numerics.md section 4 (kernels/gemm/*.cl): the integer
// views of the operand formats, and the epilogue (alpha, bias, canonical NaN, RN to the output
// type) that every GEMM variant ends in, bit for bit reference/gemm.cpp's gemm_store.
//
// Integer views: an E4M3 code is I * 2^-9 with I = (8 + m) << (e - 1) for e >= 1, else m, signed
// (|I| <= 229376 < 2^18); an E2M1 code is J / 2 with J in {0, 1, 2, 3, 4, 6, 8, 12}, signed. The
// GEMMs sum products of these in int / long, which is exact, so the result does not depend on
// how a kernel splits or orders the sum.
//
// Conformance: exact. Defines: none of its own (formats.cl's capability macro only).
#ifndef TESSERA_COMMON_GEMM_COMMON_CL
#define TESSERA_COMMON_GEMM_COMMON_CL

#pragma OPENCL FP_CONTRACT OFF

#include "common/formats.cl"

#define TSR_OUT_F32 0 // ref::OutType order: F32, BF16, F16
#define TSR_OUT_BF16 1
#define TSR_OUT_F16 2

// Signed integer view of an E4M3 code (value = I * 2^-9). NaN codes (0x7F / 0xFF) give 0: the
// callers test tsr_e4m3_is_nan first and poison the outputs that code touches.
int tsr_e4m3_int(uint code) {
  uint mag = code & 0x7Fu;
  uint e = mag >> 3, m = mag & 7u;
  int v = e != 0u ? (int)((8u + m) << (e - 1u)) : (int)m;
  v = mag == 0x7Fu ? 0 : v;
  return (code & 0x80u) != 0u ? -v : v;
}

// The same view from a table (NaN magnitudes give 0): fewer operations per element than the
// bit arithmetic on devices that run work-items as scalar code (PoCL's CPU device).
__constant int tsr_e4m3_mag_int[128] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 22, 24, 26, 28, 30, 32, 36, 40, 44, 48, 52, 56, 60, 64, 72, 80, 88, 96, 104, 112, 120, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 832, 896, 960, 1024, 1152, 1280, 1408, 1536, 1664, 1792, 1920, 2048, 2304, 2560, 2816, 3072, 3328, 3584, 3840, 4096, 4608, 5120, 5632, 6144, 6656, 7168, 7680, 8192, 9216, 10240, 11264, 12288, 13312, 14336, 15360, 16384, 18432, 20480, 22528, 24576, 26624, 28672, 30720, 32768, 36864, 40960, 45056, 49152, 53248, 57344, 61440, 65536, 73728, 81920, 90112, 98304, 106496, 114688, 122880, 131072, 147456, 163840, 180224, 196608, 212992, 229376, 0};

int tsr_e4m3_int_lut(uint code) {
  int v = tsr_e4m3_mag_int[code & 0x7Fu];
  return (code & 0x80u) != 0u ? -v : v;
}

int tsr_e4m3_is_nan(uint code) { return (code & 0x7Fu) == 0x7Fu; }

// Signed integer view of the E2M1 code in the low nibble (value = J / 2).
int tsr_e2m1_int(uint nibble) {
  // J for magnitude codes 0..7, four bits each: 0, 1, 2, 3, 4, 6, 8, 12.
  uint j = (0xC8643210u >> ((nibble & 7u) * 4u)) & 0xFu;
  return (nibble & 8u) != 0u ? -(int)j : (int)j;
}

// c = RN(RN(f32(S) * 2^-shift) * alpha) for an exact integer sum S: convert_float_rte is the one
// rounding of S, and the power-of-two scale stays a multiply, which is RN also when the result
// is subnormal (ldexp would be too, but a multiply cannot be mis-implemented as a flush).
float tsr_gemm_scale_sum(long s, float pow2, float alpha) {
  float f = convert_float_rte(s);
  float v = f * pow2;
  return v * alpha;
}

// The reference's gemm_store: c = RN(c + bias[n]) when there is a bias, canonical NaN, then RN
// to the output type, written at element `index` of `out`.
void tsr_gemm_store(float c, __global const float* bias, int has_bias, ulong n, int out_type,
                    __global uchar* out, ulong index) {
  if (has_bias) c = c + bias[n];
  c = tsr_canonicalize_nan(c);
  if (out_type == TSR_OUT_F32)
    ((__global float*)out)[index] = c;
  else if (out_type == TSR_OUT_BF16)
    ((__global ushort*)out)[index] = tsr_f32_to_bf16(c);
  else
    ((__global ushort*)out)[index] = tsr_f32_to_f16(c);
}

#endif // TESSERA_COMMON_GEMM_COMMON_CL
