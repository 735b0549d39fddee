// What every exact GEMM shader shares (numerics.md section 4): the integer views of the operand
// codes, the interface (bindings and push constants, the same in all four shaders, so one host
// routine launches them all), and the epilogue c = RN(RN(f32(S) * 2^-u) * alpha), bias, canonical
// NaN and the output conversion, all on integer bit patterns (common/fp32_rn.glsl,
// common/int64_emu.glsl, common/formats.glsl).
//
// Interface:
//   Bindings: 0 a, 1 a_scale, 2 b, 3 b_scale (codes and E4M3/fp32 scales as uint words; the
//     fp8 per-tensor form binds 4-byte placeholders at 1 and 3), 4 bias (fp32 as uint, a
//     placeholder when there is none), 5 c (fp32 words, or two bf16/fp16 halves a word).
//   Push constants: M, N, K, alpha (fp32 bits; unused by the block-scaled form), flags (bits 0-1
//     output type 0 fp32, 1 bf16, 2 fp16; bit 2 bias present).
//   16-bit outputs are OR-ed into a zero-filled buffer with atomicOr: two neighbours of a word may
//   belong to different invocations (ragged N), and this needs no 16-bit storage.
// Defines: none of its own. Conformance: exact.
#ifndef TESSERA_GEMM_GLSL
#define TESSERA_GEMM_GLSL

#include "common/formats.glsl"
#include "common/fp32_rn.glsl"
#include "common/int64_emu.glsl"

layout(std430, binding = 0) readonly buffer A { uint a_buf[]; };
layout(std430, binding = 1) readonly buffer AScale { uint sa_buf[]; };
layout(std430, binding = 2) readonly buffer B { uint b_buf[]; };
layout(std430, binding = 3) readonly buffer BScale { uint sb_buf[]; };
layout(std430, binding = 4) readonly buffer Bias { uint bias_buf[]; };
layout(std430, binding = 5) buffer C { uint c_buf[]; };
layout(push_constant) uniform Push {
  uint M;
  uint N;
  uint K;
  uint alpha;
  uint flags;
} pc;

const uint GEMM_OUT_F32 = 0u, GEMM_OUT_BF16 = 1u, GEMM_OUT_F16 = 2u;
const uint GEMM_FLAG_BIAS = 4u;
const uint F32_TWO_M20 = 0x35800000u; // 2^-20: two E2M1 halves and two E4M3 2^-9 units
const uint F32_TWO_M18 = 0x36800000u; // 2^-18: two E4M3 2^-9 units

// Byte `i` of a byte array stored as words.
uint load_byte(uint word, uint i) { return byte_of(word, i & 3u); }

bool e4m3_nan(uint code) { return (code & 0x7Fu) == 0x7Fu; }

// E4M3 value = I * 2^-9, |I| <= 229376 (reference e4m3_to_int); NaN codes are the caller's.
int e4m3_int(uint code) {
  uint e = (code >> 3) & 0xFu, m = code & 7u;
  int mag = int(e == 0u ? m : (8u + m) << (e - 1u));
  return (code & 0x80u) != 0u ? -mag : mag;
}

// E2M1 value = J / 2, J in {0, 1, 2, 3, 4, 6, 8, 12} with the sign (reference e2m1_to_int).
// Branch-free: magnitude code x gives x + max(x - 4, 0) + 2 max(x - 6, 0) (4, 6, 8, 12 for
// x = 4..7); lavapipe runs every side of a per-lane branch, so fewer operations is what counts.
int e2m1_int(uint nibble) {
  int x = int(nibble & 7u);
  int mag = x + max(x - 4, 0) + 2 * max(x - 6, 0);
  int neg = -int((nibble >> 3) & 1u); // 0 or -1
  return (mag ^ neg) - neg;
}

// c = RN(RN(f32(S) * unit) * alpha), or the canonical NaN.
uint gemm_scale(uvec2 S, bool nan, uint unit, uint alpha) {
  if (nan) return F32_CANONICAL_NAN;
  return mul_rn(mul_rn(i64_to_f32_rn(S), unit), alpha);
}

// The final step of reference gemm_store: bias, canonical NaN, output conversion, store.
void gemm_store(uint m, uint n, uint c) {
  if ((pc.flags & GEMM_FLAG_BIAS) != 0u) c = add_rn(c, bias_buf[n]);
  c = f32_canonicalize_nan(c);
  uint index = m * pc.N + n;
  uint type = pc.flags & 3u;
  if (type == GEMM_OUT_F32) {
    c_buf[index] = c;
  } else {
    uint h = type == GEMM_OUT_BF16 ? f32_to_bf16(c) : f32_to_f16(c);
    atomicOr(c_buf[index >> 1], (h & 0xFFFFu) << (16u * (index & 1u)));
  }
}

#endif
