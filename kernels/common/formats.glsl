// Scalar formats of numerics.md section 1 on fp32 bit patterns: the encoders (fp32 -> code) and
// decoders (code -> fp32) of reference/formats.cpp, written with integer operations only.
//
// Why integers: Vulkan lets an implementation flush fp32 denormals on load and in every
// arithmetic instruction, and gives no way to ask for the opposite on every device
// (shaderDenormPreserveFloat32 is optional; lavapipe does not promise it). A value that is only
// ever moved as a uint and inspected with shifts and masks cannot be flushed, so these
// functions give the reference's bits for every input, denormals, signed zeros and NaN payloads
// included. Callers read and write buffers as uint and never pass a value through float
// arithmetic before it gets here.
//
// Defines: none. Conformance: exact.
#ifndef TESSERA_FORMATS_GLSL
#define TESSERA_FORMATS_GLSL

const uint F32_SIGN = 0x80000000u;
const uint F32_ABS = 0x7FFFFFFFu;
const uint F32_INF = 0x7F800000u;
const uint F32_QUIET = 0x00400000u;
const uint F32_ONE = 0x3F800000u;

bool f32_is_nan(uint b) { return (b & F32_ABS) > F32_INF; }
bool f32_is_inf(uint b) { return (b & F32_ABS) == F32_INF; }
bool f32_is_finite(uint b) { return (b & F32_INF) != F32_INF; }

// The canonical NaN (reference canonical_nan) that operations write for every NaN result, so
// that devices whose arithmetic makes other NaNs still give the same bytes.
const uint F32_CANONICAL_NAN = 0x7FC00000u;
uint f32_canonicalize_nan(uint b) { return f32_is_nan(b) ? F32_CANONICAL_NAN : b; }

// The magnitude code of finite |x| on a minifloat grid with `mbits` mantissa bits and minimum
// normal exponent `emin`, rounded to nearest even with an unbounded exponent range (codes past
// the format's largest one mean overflow; the caller saturates). As in the reference: with
// e = max(floor(log2 |x|), emin) the quantum is 2^(e - mbits) and the code is
// ((e - emin) << mbits) + RN(|x| / quantum), a mantissa carry landing on the next binade's code.
// Here |x| = sig * 2^lsb exactly, so RN(|x| / quantum) = RN(sig / 2^sh), a rounding right shift.
uint minifloat_magnitude_code(uint b, int mbits, int emin) {
  uint mag = b & F32_ABS;
  if (mag == 0u) return 0u;
  int E = int(mag >> 23);
  uint sig = (mag & 0x7FFFFFu) | (E == 0 ? 0u : 0x800000u);
  int lsb = E == 0 ? -149 : E - 150;
  // floor(log2 |x|) = E - 127 for a normal x; an fp32 denormal lies below every emin used here
  // (E4M3 -6, E5M2 and fp16 -14, E2M1 0), where E - 127 = -127 also gives emin.
  int e = max(E - 127, emin);
  int sh = e - mbits - lsb; // >= 23 - mbits >= 13
  uint n = 0u;
  if (sh < 25) { // sh >= 25: sig < 2^24 <= 2^(sh - 1), below half a quantum
    uint q = sig >> uint(sh);
    uint r = sig & ((1u << uint(sh)) - 1u);
    uint half_q = 1u << uint(sh - 1);
    n = q + ((r > half_q || (r == half_q && (q & 1u) != 0u)) ? 1u : 0u);
  }
  return (uint(e - emin) << uint(mbits)) + n;
}

// Saturating minifloat (E4M3, E5M2): overflow and +-inf to +-max, NaN to nan_code | sign, the
// sign of zero kept.
uint minifloat_satfinite(uint b, int mbits, int emin, uint max_code, uint nan_code) {
  uint sign = (b >> 24) & 0x80u;
  if (f32_is_nan(b)) return sign | nan_code;
  if (f32_is_inf(b)) return sign | max_code;
  return sign | min(minifloat_magnitude_code(b, mbits, emin), max_code);
}

uint f32_to_e4m3(uint b) { return minifloat_satfinite(b, 3, -6, 0x7Eu, 0x7Fu); }
uint f32_to_e5m2(uint b) { return minifloat_satfinite(b, 2, -14, 0x7Bu, 0x7Fu); }

// E2M1 code in the low nibble; the sign bit is set exactly when x < 0 (so -0.0 gives 0x0 and a
// negative denormal 0x8: both are decided on bits, so a flushing device agrees). NaN -> 0x7.
uint f32_to_e2m1(uint b) {
  if (f32_is_nan(b)) return 0x7u;
  uint sign = b > F32_SIGN ? 0x8u : 0x0u; // sign bit set and not -0.0
  if (f32_is_inf(b)) return sign | 0x7u;
  return sign | min(minifloat_magnitude_code(b, 1, 0), 0x7u);
}

// bf16: RN by adding 0x7FFF plus the lowest kept bit (a carry moves into the exponent, and out
// of the largest finite value to inf); NaN keeps its sign and top payload bits, made quiet.
uint f32_to_bf16(uint b) {
  if (f32_is_nan(b)) return (b >> 16) | 0x40u;
  return (b + 0x7FFFu + ((b >> 16) & 1u)) >> 16;
}

// fp16: RN, overflow to inf, NaN quiet with its sign and the top 10 payload bits.
uint f32_to_f16(uint b) {
  uint sign = (b >> 16) & 0x8000u;
  if (f32_is_nan(b)) return sign | 0x7E00u | ((b & 0x7FFFFFu) >> 13);
  if (f32_is_inf(b)) return sign | 0x7C00u;
  return sign | min(minifloat_magnitude_code(b, 10, -14), 0x7C00u);
}

// |value| of a minifloat magnitude code as fp32 bits. Every value of these formats is a normal
// fp32 number (or zero), so the result is built directly: exponent field and shifted mantissa.
uint minifloat_decode(uint mag, int mbits, int emin) {
  uint e = mag >> uint(mbits);
  uint m = mag & ((1u << uint(mbits)) - 1u);
  if (e == 0u) {
    if (m == 0u) return 0u;
    int p = findMSB(m); // m * 2^(emin - mbits) = 1.f * 2^(p + emin - mbits)
    return (uint(p + emin - mbits + 127) << 23) | ((m << uint(23 - p)) & 0x7FFFFFu);
  }
  return (uint(int(e) - 1 + emin + 127) << 23) | (m << uint(23 - mbits));
}

// Decoders. The reference computes sign * |value|, so code 0x80 gives -0.0, and a NaN code gives
// copysign(nanf(""), sign): the quiet NaN 0x7FC00000 with the code's sign.
uint e4m3_to_f32(uint code) {
  uint sign = (code & 0x80u) << 24;
  if ((code & 0x7Fu) == 0x7Fu) return sign | 0x7FC00000u;
  return sign | minifloat_decode(code & 0x7Fu, 3, -6);
}

uint e5m2_to_f32(uint code) {
  uint sign = (code & 0x80u) << 24;
  uint mag = code & 0x7Fu;
  if (mag == 0x7Cu) return sign | F32_INF;
  if (mag > 0x7Cu) return sign | 0x7FC00000u;
  return sign | minifloat_decode(mag, 2, -14);
}

uint e2m1_to_f32(uint code) { return ((code & 0x8u) << 28) | minifloat_decode(code & 0x7u, 1, 0); }

uint bf16_to_f32(uint bits) { return (bits & 0xFFFFu) << 16; }

uint f16_to_f32(uint bits) {
  uint sign = (bits & 0x8000u) << 16;
  uint mag = bits & 0x7FFFu;
  // inf, or NaN with its payload kept
  if ((mag & 0x7C00u) == 0x7C00u) return sign | F32_INF | ((mag & 0x3FFu) << 13);
  return sign | minifloat_decode(mag, 10, -14);
}

// Byte `i` (0..3) of a little-endian word and the nibble of an NVFP4 element: element 2i in the
// low nibble, 2i+1 in the high one.
uint byte_of(uint word, uint i) { return (word >> (8u * i)) & 0xFFu; }

#endif
