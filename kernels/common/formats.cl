// Scalar formats of numerics.md section 1 in OpenCL C 1.2: the fp32 -> E4M3 / E5M2 / E2M1 /
// bf16 / fp16 encoders and the decoders, bit for bit those of reference/formats.cpp.
//
// Conformance: exact. Every encoder and decoder works on the integer bits of its operand
// (as_uint), so the results depend neither on whether the device flushes fp32 denormals nor on
// how its compiler treats NaN payloads; the only float operations left are in the callers.
//
// Defines: none of its own. TESSERA_NV_INLINE_PTX (default 0) is one of the capability macros the
// host writes in front of every source; nothing here needs inline PTX, the macro is defaulted so
// the file compiles on its own.
#ifndef TESSERA_COMMON_FORMATS_CL
#define TESSERA_COMMON_FORMATS_CL

// OpenCL C may contract a*b+c into an fma by default; the reference never does.
#pragma OPENCL FP_CONTRACT OFF

#ifndef TESSERA_NV_INLINE_PTX
#define TESSERA_NV_INLINE_PTX 0 // 1 only on NVIDIA's OpenCL, set by the host prelude
#endif

#define TSR_F32_INF 0x7F800000u
#define TSR_F32_QNAN 0x7FC00000u // std::nanf(""): what the reference's decoders return

// Magnitude code of a finite |x| (fp32 bits `a`, sign cleared) on a minifloat grid with `mbits`
// mantissa bits and minimum normal exponent `emin`, rounded to nearest even with an unbounded
// exponent range, as minifloat_magnitude_code() in the reference: with e = max(floor(log2 |x|),
// emin), n = RN(|x| / 2^(e - mbits)) and code = ((e - emin) << mbits) + n, a carry of n into
// bit mbits+1 landing on the next binade's code. Codes past the largest finite one mean
// overflow; the caller saturates.
uint tsr_minifloat_magnitude(uint a, int mbits, int emin) {
  if (a == 0u) return 0u;
  int biased = (int)(a >> 23);
  uint sig = a & 0x7FFFFFu;
  // An fp32 denormal has the scale of biased exponent 1 without the implicit bit; its log2 is
  // below every emin used here (-14 at the lowest), so the clamp below always applies to it.
  if (biased == 0)
    biased = 1;
  else
    sig |= 0x800000u;
  int e = max(biased - 127, emin);
  // |x| = sig * 2^(biased - 150); dividing by the quantum is a right shift of sig by `shift`,
  // which is at least 23 - mbits (13 for fp16).
  int shift = e - mbits - (biased - 150);
  if (shift > 24) return ((uint)(e - emin) << mbits); // sig < 2^24: below half a quantum
  uint n = sig >> shift;
  uint rem = sig & ((1u << shift) - 1u);
  uint tie = 1u << (shift - 1);
  if (rem > tie || (rem == tie && (n & 1u))) n += 1u;
  return ((uint)(e - emin) << mbits) + n;
}

// fp32 bits of a finite minifloat magnitude code; every value of these formats, subnormals
// included, is a normal fp32 number (the smallest is fp16's 2^-24), so this is exact.
uint tsr_minifloat_decode_bits(uint mag, int mbits, int emin) {
  uint e = mag >> mbits;
  uint m = mag & ((1u << mbits) - 1u);
  if (e == 0u) {
    if (m == 0u) return 0u;
    int top = 31 - (int)clz(m); // m * 2^(emin - mbits), normalised on its leading bit
    return ((uint)(emin - mbits + top + 127) << 23) | ((m << (23 - top)) & 0x7FFFFFu);
  }
  return ((uint)((int)e - 1 + emin + 127) << 23) | (m << (23 - mbits));
}

// fp32 -> E4M3 / E5M2 "satfinite": finite overflow and +-inf clamp to +-max finite, NaN gives
// the NaN code with the input's sign, and the sign of zero (and of tiny negatives) is kept.
uchar tsr_f32_to_e4m3(float x) {
  uint b = as_uint(x);
  uint sign = (b >> 24) & 0x80u;
  uint a = b & 0x7FFFFFFFu;
  if (a > TSR_F32_INF) return (uchar)(sign | 0x7Fu);
  if (a == TSR_F32_INF) return (uchar)(sign | 0x7Eu);
  return (uchar)(sign | min(tsr_minifloat_magnitude(a, 3, -6), 0x7Eu));
}

uchar tsr_f32_to_e5m2(float x) {
  uint b = as_uint(x);
  uint sign = (b >> 24) & 0x80u;
  uint a = b & 0x7FFFFFFFu;
  if (a > TSR_F32_INF) return (uchar)(sign | 0x7Fu);
  if (a == TSR_F32_INF) return (uchar)(sign | 0x7Bu);
  return (uchar)(sign | min(tsr_minifloat_magnitude(a, 2, -14), 0x7Bu));
}

// fp32 -> E2M1 code (low nibble): saturating at 6, NaN -> 0x7. The sign bit is set exactly when
// x < 0, i.e. sign bit set and not a zero: -0.0 gives 0x0 and a negative denormal 0x8 whether or
// not the device would flush it in a float compare.
uchar tsr_f32_to_e2m1(float x) {
  uint b = as_uint(x);
  uint a = b & 0x7FFFFFFFu;
  if (a > TSR_F32_INF) return (uchar)0x7u;
  uint sign = ((b >> 31) != 0u && a != 0u) ? 0x8u : 0x0u;
  if (a == TSR_F32_INF) return (uchar)(sign | 0x7u);
  return (uchar)(sign | min(tsr_minifloat_magnitude(a, 1, 0), 0x7u));
}

// fp32 -> bf16, RN; NaN keeps its sign and top payload bits and gets the quiet bit.
ushort tsr_f32_to_bf16(float x) {
  uint b = as_uint(x);
  if ((b & 0x7FFFFFFFu) > TSR_F32_INF) return (ushort)((b >> 16) | 0x0040u);
  // Adding 0x7FFF plus the lowest kept bit rounds to nearest even; a carry out of the largest
  // finite value reaches inf, as IEEE wants.
  b += 0x7FFFu + ((b >> 16) & 1u);
  return (ushort)(b >> 16);
}

// fp32 -> fp16, RN; overflow gives inf; NaN keeps its sign and top payload bits, quiet.
ushort tsr_f32_to_f16(float x) {
  uint b = as_uint(x);
  uint sign = (b >> 16) & 0x8000u;
  uint a = b & 0x7FFFFFFFu;
  if (a > TSR_F32_INF) return (ushort)(sign | 0x7E00u | ((b & 0x7FFFFFu) >> 13));
  if (a == TSR_F32_INF) return (ushort)(sign | 0x7C00u);
  return (ushort)(sign | min(tsr_minifloat_magnitude(a, 10, -14), 0x7C00u));
}

float tsr_e4m3_to_f32(uchar code) {
  uint sign = ((uint)code & 0x80u) << 24;
  uint mag = (uint)code & 0x7Fu;
  if (mag == 0x7Fu) return as_float(sign | TSR_F32_QNAN);
  return as_float(sign | tsr_minifloat_decode_bits(mag, 3, -6));
}

float tsr_e5m2_to_f32(uchar code) {
  uint sign = ((uint)code & 0x80u) << 24;
  uint mag = (uint)code & 0x7Fu;
  if (mag == 0x7Cu) return as_float(sign | TSR_F32_INF);
  if (mag > 0x7Cu) return as_float(sign | TSR_F32_QNAN);
  return as_float(sign | tsr_minifloat_decode_bits(mag, 2, -14));
}

float tsr_e2m1_to_f32(uchar code) { // low nibble only
  uint sign = ((uint)code & 0x8u) << 28;
  return as_float(sign | tsr_minifloat_decode_bits((uint)code & 0x7u, 1, 0));
}

float tsr_bf16_to_f32(ushort bits) { return as_float((uint)bits << 16); }

float tsr_f16_to_f32(ushort bits) {
  uint sign = ((uint)bits & 0x8000u) << 16;
  uint mag = (uint)bits & 0x7FFFu;
  // inf, or NaN with its 10 payload bits moved to fp32's top fraction bits (as the reference).
  if ((mag & 0x7C00u) == 0x7C00u) return as_float(sign | TSR_F32_INF | ((mag & 0x3FFu) << 13));
  return as_float(sign | tsr_minifloat_decode_bits(mag, 10, -14));
}

// Every NaN an operation writes is the canonical quiet NaN (reference/formats.h), whatever NaN
// the device's arithmetic produced.
float tsr_canonicalize_nan(float x) {
  return (as_uint(x) & 0x7FFFFFFFu) > TSR_F32_INF ? as_float(TSR_F32_QNAN) : x;
}

#endif // TESSERA_COMMON_FORMATS_CL

// The quotient 0/0 (a scale that underflowed to 0) is NaN with a sign that differs between
// hardware; every NaN entering an encoder from arithmetic is made the canonical positive one.
float tsr_canonical_nan(float v) { return isnan(v) ? as_float(0x7FC00000u) : v; }
