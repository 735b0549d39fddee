// Scalar formats of numerics.md section 1: the encoders (fp32 -> code) and decoders (code ->
// fp32) every kernel must reproduce bit for bit, and the exact integer views the GEMMs use.
#pragma once

#include <cstdint>

namespace tessera::ref {

// fp32 -> E4M3 / E5M2, "satfinite" (PTX cvt.rn.satfinite): round to nearest even on the format's
// grid, finite overflow and +-inf clamp to +-max finite, NaN -> 0x7F | sign. The sign of zero is
// kept (-0.0 and tiny negatives give 0x80).
uint8_t f32_to_e4m3(float x);
uint8_t f32_to_e5m2(float x);

// fp32 -> E2M1 code in the low nibble (ModelOpt _cast_fp4): RN on {0, .5, 1, 1.5, 2, 3, 4, 6},
// saturating at 6; bit 3 set exactly when x < 0; NaN -> 0x7.
uint8_t f32_to_e2m1(float x);

// fp32 -> bf16 / fp16, IEEE RN. NaN stays NaN with its sign and the quiet bit set; fp16 overflow
// gives inf.
uint16_t f32_to_bf16(float x);
uint16_t f32_to_f16(float x);

float e4m3_to_f32(uint8_t code);
float e5m2_to_f32(uint8_t code);
float e2m1_to_f32(uint8_t code); // low nibble only
float bf16_to_f32(uint16_t bits);
float f16_to_f32(uint16_t bits);

inline bool e4m3_is_nan(uint8_t code) { return (code & 0x7F) == 0x7F; }

// Exact integer views: e4m3 value = I * 2^-9 (|I| <= 229376), e2m1 value = J / 2.
// e4m3_to_int must not be given a NaN code.
int32_t e4m3_to_int(uint8_t code);
int32_t e2m1_to_int(uint8_t code); // low nibble only

// NVFP4 packing: element 2i in the low nibble, 2i+1 in the high nibble.
inline uint8_t e2m1_pack(uint8_t even, uint8_t odd) {
  return static_cast<uint8_t>((even & 0xF) | ((odd & 0xF) << 4));
}
inline uint8_t e2m1_unpack(uint8_t byte, int64_t index) {
  return static_cast<uint8_t>((index & 1) ? (byte >> 4) : (byte & 0xF));
}

// The canonical NaN every operation writes when its result is NaN (positive, quiet), so that
// "equal bytes" holds across devices whose hardware NaNs differ.
float canonical_nan();
float canonicalize_nan(float x);

} // namespace tessera::ref
