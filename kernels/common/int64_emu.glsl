// Emulated 64-bit two's-complement integers on uvec2 (x = low word, y = high word), and their
// correctly rounded conversion to fp32, with 32-bit integer operations only.
//
// Why emulated: shaderInt64 is optional in Vulkan and the device facts do not carry it yet, so a
// kernel that keeps an exact 64-bit sum this way runs everywhere. The exact GEMM sums
// (numerics.md section 4) need it: an E4M3 x E4M3 product of integer views reaches 2^35.6, and
// the NVFP4 S reaches 2^58 at K = 65536.
// Why the conversion is done here: float(int) is not promised to round to nearest in Vulkan, and
// a 64-bit value has no hardware conversion at all without shaderInt64.
//
// Defines: none. Conformance: exact (tests/test_conformance.cpp drives sums near the int64 and
// fp32 rounding boundaries through the GEMMs).
#ifndef TESSERA_INT64_EMU_GLSL
#define TESSERA_INT64_EMU_GLSL

#include "common/fp32_rn.glsl"

const uvec2 I64_ZERO = uvec2(0u, 0u);

uvec2 i64_add(uvec2 a, uvec2 b) {
  uint carry;
  uint lo = uaddCarry(a.x, b.x, carry);
  return uvec2(lo, a.y + b.y + carry);
}

// The exact signed product of two 32-bit integers.
uvec2 i64_mul32(int a, int b) {
  int hi, lo;
  imulExtended(a, b, hi, lo);
  return uvec2(uint(lo), uint(hi));
}

uvec2 i64_from_int(int a) { return uvec2(uint(a), a < 0 ? 0xFFFFFFFFu : 0u); }

uvec2 i64_neg(uvec2 a) { return i64_add(~a, uvec2(1u, 0u)); }

// RN(a) as fp32 bits; 0 gives +0.0 as a C++ conversion does.
uint i64_to_f32_rn(uvec2 a) {
  uint sign = a.y & F32_SIGN;
  uvec2 m = sign != 0u ? i64_neg(a) : a; // |a|; |INT64_MIN| = 2^63 is right as unsigned
  if (m.y == 0u && m.x < 0x80000000u) {
    if (m.x == 0u) return 0u;
    return round_pack(sign, m.x, false, 0); // exact below 2^24, rounded once above
  }
  // Keep the top 31 bits in T, the rest as a sticky bit: round_pack then rounds once.
  int p = m.y != 0u ? 32 + findMSB(m.y) : 31; // position of the leading one, 31..63
  int s = p - 30;                             // 1..33
  uint T, rest;
  if (s < 32) {
    T = (m.x >> uint(s)) | (s == 0 ? 0u : (m.y << uint(32 - s)));
    rest = m.x & ((1u << uint(s)) - 1u);
  } else {
    T = m.y >> uint(s - 32);
    rest = m.x | (m.y & ((1u << uint(s - 32)) - 1u));
  }
  return round_pack(sign, T, rest != 0u, s);
}

#endif
