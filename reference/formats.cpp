#include "formats.h"

#include <bit>
#include <cmath>

namespace tessera::ref {

namespace {

// Magnitude code of |x| (finite) on a minifloat grid with `mbits` mantissa bits and minimum
// normal exponent `emin`, rounded to nearest even with unbounded exponent range. Subnormals and
// normals fall out of one formula: with e = max(floor(log2 |x|), emin) the quantum is
// 2^(e - mbits), n = RN(|x| / quantum), and code = ((e - emin) << mbits) + n; n reaching
// 2^(mbits+1) carries into the exponent field, which is exactly the next binade's code.
// Codes past the format's largest finite one mean overflow; the caller saturates.
int64_t minifloat_magnitude_code(float x, int mbits, int emin) {
  double v = std::fabs(static_cast<double>(x)); // exact
  if (v == 0.0) return 0;
  int e = std::ilogb(v);
  if (e < emin) e = emin;
  double n = std::nearbyint(std::ldexp(v, mbits - e)); // scaling by 2^k is exact in double
  return (static_cast<int64_t>(e - emin) << mbits) + static_cast<int64_t>(n);
}

uint8_t minifloat_satfinite(float x, int mbits, int emin, uint8_t max_code, uint8_t nan_code) {
  uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  if (std::isnan(x)) return sign | nan_code;
  if (std::isinf(x)) return sign | max_code;
  int64_t c = minifloat_magnitude_code(x, mbits, emin);
  return sign | static_cast<uint8_t>(c > max_code ? max_code : c);
}

float minifloat_decode(uint32_t magnitude, int mbits, int emin) {
  int e = static_cast<int>(magnitude >> mbits);
  int m = static_cast<int>(magnitude & ((1u << mbits) - 1));
  if (e == 0) return std::ldexp(static_cast<float>(m), emin - mbits);
  return std::ldexp(static_cast<float>(m + (1 << mbits)), e - 1 + emin - mbits);
}

} // namespace

uint8_t f32_to_e4m3(float x) { return minifloat_satfinite(x, 3, -6, 0x7E, 0x7F); }
uint8_t f32_to_e5m2(float x) { return minifloat_satfinite(x, 2, -14, 0x7B, 0x7F); }

uint8_t f32_to_e2m1(float x) {
  if (std::isnan(x)) return 0x7;
  uint8_t sign = x < 0 ? 0x8 : 0x0;
  if (std::isinf(x)) return sign | 0x7;
  int64_t c = minifloat_magnitude_code(x, 1, 0);
  return sign | static_cast<uint8_t>(c > 7 ? 7 : c);
}

uint16_t f32_to_bf16(float x) {
  uint32_t b = std::bit_cast<uint32_t>(x);
  if (std::isnan(x)) return static_cast<uint16_t>((b >> 16) | 0x0040);
  // Adding 0x7FFF plus the lowest kept bit rounds to nearest even; a carry out of the mantissa
  // moves to the next exponent, and out of the largest finite value to inf, as IEEE wants.
  b += 0x7FFF + ((b >> 16) & 1);
  return static_cast<uint16_t>(b >> 16);
}

uint16_t f32_to_f16(float x) {
  uint32_t b = std::bit_cast<uint32_t>(x);
  uint16_t sign = static_cast<uint16_t>((b >> 16) & 0x8000);
  if (std::isnan(x)) return static_cast<uint16_t>(sign | 0x7E00 | ((b & 0x007FFFFF) >> 13));
  if (std::isinf(x)) return sign | 0x7C00;
  int64_t c = minifloat_magnitude_code(x, 10, -14);
  return static_cast<uint16_t>(sign | (c >= 0x7C00 ? 0x7C00 : c));
}

float e4m3_to_f32(uint8_t code) {
  float sign = (code & 0x80) ? -1.0f : 1.0f;
  if (e4m3_is_nan(code)) return std::copysign(std::nanf(""), sign);
  return sign * minifloat_decode(code & 0x7F, 3, -6);
}

float e5m2_to_f32(uint8_t code) {
  float sign = (code & 0x80) ? -1.0f : 1.0f;
  uint8_t mag = code & 0x7F;
  if (mag == 0x7C) return sign * INFINITY;
  if (mag > 0x7C) return std::copysign(std::nanf(""), sign);
  return sign * minifloat_decode(mag, 2, -14);
}

float e2m1_to_f32(uint8_t code) {
  float v = minifloat_decode(code & 0x7, 1, 0);
  return (code & 0x8) ? -v : v;
}

float bf16_to_f32(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

float f16_to_f32(uint16_t bits) {
  float sign = (bits & 0x8000) ? -1.0f : 1.0f;
  uint16_t mag = bits & 0x7FFF;
  if ((mag & 0x7C00) == 0x7C00) {
    if (mag == 0x7C00) return sign * INFINITY;
    // Keep the payload: shift the 10 fraction bits into fp32's top fraction bits.
    uint32_t f = (bits & 0x8000u) << 16 | 0x7F800000u | static_cast<uint32_t>(mag & 0x3FF) << 13;
    return std::bit_cast<float>(f);
  }
  return sign * minifloat_decode(mag, 10, -14);
}

int32_t e4m3_to_int(uint8_t code) {
  int32_t e = (code >> 3) & 0xF;
  int32_t m = code & 0x7;
  int32_t mag = e == 0 ? m : (8 + m) << (e - 1);
  return (code & 0x80) ? -mag : mag;
}

int32_t e2m1_to_int(uint8_t code) {
  static constexpr int32_t kJ[8] = {0, 1, 2, 3, 4, 6, 8, 12};
  int32_t j = kJ[code & 0x7];
  return (code & 0x8) ? -j : j;
}

float canonical_nan() { return std::bit_cast<float>(0x7FC00000u); }
float canonicalize_nan(float x) { return std::isnan(x) ? canonical_nan() : x; }

} // namespace tessera::ref
