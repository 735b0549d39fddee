// Correctly rounded fp32 division, multiplication, addition and subtraction on bit patterns,
// giving IEEE-754 round-to-nearest-even results for every input, whatever the device does with
// denormals and however inexact its division is.
//
// Why: Vulkan guarantees only 2.5 ulp for OpFDiv (GPU drivers use that slack) and lets
// an implementation flush fp32 denormals in and out of every instruction; the quantizers must
// give the reference's bits, which come from IEEE operations with gradual underflow. Nor are
// OpFAdd, OpFSub and OpFMul enough by themselves: Vulkan calls them "correctly rounded" but leaves
// the rounding mode to the implementation (nearest or a directed rounding) unless the entry point
// declares RoundingModeRTE. So by default every operation here is done on integers; built with
// FP32_RN_HW_RTE the shader declares RoundingModeRTE for fp32 and then uses the hardware add and
// multiply, marked `precise` (no contraction into fma, no reassociation), where the operands are
// normal and the result provably lands in the normal range. The host picks that build only on
// devices with shaderRoundingModeRTEFloat32.
//
// div_rn(a, b): a and b are normalized to 24-bit integer significands A, B (denormals by a
// shift: integers only) with a = A * 2^ea, b = B * 2^eb. We want T = floor(A * 2^26 / B), which
// lies in (2^25, 2^27), and whether the division leaves a remainder.
//   1. Estimate T0 = trunc(float(A) / float(B) * 2^26). Both operands are exact normal floats
//      and the quotient is in (1/2, 2), so no denormal appears; the division only has to be
//      within 2^-20 relative (Vulkan promises 2.5 ulp = 2^-21.7), so |T0 - T| < 2^7.
//   2. The remainder R = A * 2^26 - T0 * B is computed in wrapping 32-bit arithmetic. Its true
//      value has |R| < 2^7 * B < 2^31, so the wrapped result read as int is exact.
//   3. The float estimate R / B of the error is within one of the truth; after T += d and R -= d*B
//      (both exact), at most one step down and one up leave 0 <= R < B: T is exact, and the
//      quotient is (T + R / B) * 2^(ea - eb - 26) with R != 0 the sticky bit.
//   4. round_pack rounds that once to 24 bits, or to the 2^-149 grid when the result is
//      subnormal, so underflow is gradual and correctly rounded too.
// mul_rn forms the exact 48-bit product with umulExtended; add_rn aligns the significands in a
// 30-bit window with the shifted-out bits kept as a sticky bit. Both then use round_pack.
//
// Specials follow x86-64 SSE, where the reference runs: a NaN operand is returned made quiet (the
// first one when both are NaN), and an invalid operation (0/0, inf/inf, 0*inf, inf-inf) gives the
// "default NaN" 0xFFC00000. The quantizers can see only the last of these (0/0 when a scale
// underflows to zero); it matters because E4M3 keeps a NaN's sign. (The dequantizers write every
// NaN as the canonical one, so there the rules only need to give some NaN.)
//
// Defines:
//   FP32_RN_HW_RTE (default undefined): declare RoundingModeRTE and use the hardware add and
//     multiply on the normal range, as above.
//   FP32_RN_DIV_ESTIMATE_ERROR (default 0): a test hook that moves div_rn's estimate by up to
//     that many ulps, so a device with an exact OpFDiv (lavapipe) shows that an inexact one
//     still gives exact quotients (15 ulps is the limit of the argument above; 12 is tested).
// Conformance: exact, checked against the host's IEEE operations on millions of pairs (denormal,
// overflowing and specials included) by tests/test_vulkan_runtime.cpp, in every build.
#ifndef TESSERA_FP32_RN_GLSL
#define TESSERA_FP32_RN_GLSL

#include "common/formats.glsl"

const uint F32_DEFAULT_NAN = 0xFFC00000u;

#ifdef FP32_RN_HW_RTE
#extension GL_EXT_spirv_intrinsics : require
// OpExecutionMode RoundingModeRTE 32 (4462), capability RoundingModeRTE (4467).
spirv_execution_mode(extensions = ["SPV_KHR_float_controls"], capabilities = [4467], 4462, 32);
#endif

#ifndef FP32_RN_DIV_ESTIMATE_ERROR
#define FP32_RN_DIV_ESTIMATE_ERROR 0
#endif

// Significand of a finite non-zero magnitude, normalized to [2^23, 2^24), and the exponent of
// its last bit: |x| = sig * 2^lsb.
uint f32_unpack(uint mag, out int lsb) {
  uint E = mag >> 23;
  uint f = mag & 0x7FFFFFu;
  if (E != 0u) {
    lsb = int(E) - 150;
    return f | 0x800000u;
  }
  int p = findMSB(f);
  lsb = -149 - (23 - p);
  return f << uint(23 - p);
}

// RN of sign * (T + s) * 2^lsb to fp32 bits, where T > 0, T < 2^31, and s is 0 when `sticky` is
// false and strictly between 0 and 1 otherwise. When sticky, T must carry at least 25 significant
// bits, so the rounding position lies inside T. The result keeps 24 significant bits, or stops at
// the subnormal quantum 2^-149; overflow gives inf.
uint round_pack(uint sign, uint T, bool sticky, int lsb) {
  int L = findMSB(T);
  int keep_lsb = max(lsb + L - 23, -149);
  int drop = keep_lsb - lsb;
  uint kept;
  if (drop <= 0) {
    kept = T << uint(-drop); // exact: only reached without a sticky part
  } else if (drop >= 32) {
    kept = 0u; // T < 2^31 <= half of 2^drop: rounds to zero
  } else {
    kept = T >> uint(drop);
    uint rem = T & ((1u << uint(drop)) - 1u);
    uint half_q = 1u << uint(drop - 1);
    if (rem > half_q || (rem == half_q && (sticky || (kept & 1u) != 0u))) kept += 1u;
  }
  if (kept == 0u) return sign;
  // `kept` includes the hidden bit, which adds one to the exponent field: a normal result has
  // field keep_lsb + 150, a subnormal one (keep_lsb = -149, kept < 2^23) field 0, and a carry to
  // 2^24 or 2^23 moves to the next binade by the same addition.
  int field = keep_lsb + 149;
  if (field > 253) return sign | F32_INF;
  uint bits = (uint(field) << 23) + kept;
  return sign | min(bits, F32_INF);
}

uint div_rn(uint a, uint b) {
  if (f32_is_nan(a)) return a | F32_QUIET;
  if (f32_is_nan(b)) return b | F32_QUIET;
  uint sign = (a ^ b) & F32_SIGN;
  uint ma = a & F32_ABS, mb = b & F32_ABS;
  if (ma == F32_INF) return mb == F32_INF ? F32_DEFAULT_NAN : sign | F32_INF;
  if (mb == F32_INF) return sign;
  if (mb == 0u) return ma == 0u ? F32_DEFAULT_NAN : sign | F32_INF;
  if (ma == 0u) return sign;
  int ea, eb;
  uint A = f32_unpack(ma, ea), B = f32_unpack(mb, eb);
  // Any approximation within 2^-20 will do here, so this division need not be `precise`.
  float qf = float(A) / float(B);
#if FP32_RN_DIV_ESTIMATE_ERROR > 0
  const int k = FP32_RN_DIV_ESTIMATE_ERROR;
  qf = uintBitsToFloat(uint(int(floatBitsToUint(qf)) + int((A ^ (B >> 3)) % uint(2 * k + 1)) - k));
#endif
  uint T = uint(qf * 67108864.0);
  int R = int((A << 26) - T * B);
  int d = int(floor(float(R) / float(B)));
  T = uint(int(T) + d);
  R -= d * int(B);
  if (R < 0) {
    T -= 1u;
    R += int(B);
  }
  if (R >= int(B)) {
    T += 1u;
    R -= int(B);
  }
  return round_pack(sign, T, R != 0, ea - eb - 26);
}

uint mul_rn(uint a, uint b) {
  if (f32_is_nan(a)) return a | F32_QUIET;
  if (f32_is_nan(b)) return b | F32_QUIET;
  uint sign = (a ^ b) & F32_SIGN;
  uint ma = a & F32_ABS, mb = b & F32_ABS;
  if (ma == F32_INF || mb == F32_INF)
    return (ma == 0u || mb == 0u) ? F32_DEFAULT_NAN : sign | F32_INF;
  if (ma == 0u || mb == 0u) return sign;
#ifdef FP32_RN_HW_RTE
  int Ea = int(ma >> 23), Eb = int(mb >> 23);
  // Normal operands with unbiased exponents summing to [-126, 125]: |a*b| is in
  // [2^-126, 2^127), normal and finite after rounding, which the hardware gets right.
  if (Ea != 0 && Eb != 0 && Ea + Eb >= 128 && Ea + Eb <= 379) {
    precise float p = uintBitsToFloat(a) * uintBitsToFloat(b);
    return floatBitsToUint(p);
  }
#endif
  int ea, eb;
  uint A = f32_unpack(ma, ea), B = f32_unpack(mb, eb);
  uint hi, lo;
  umulExtended(A, B, hi, lo); // A * B in [2^46, 2^48)
  uint T = (hi << 10) | (lo >> 22);
  return round_pack(sign, T, (lo & 0x3FFFFFu) != 0u, ea + eb + 22);
}

uint add_rn(uint a, uint b) {
  if (f32_is_nan(a)) return a | F32_QUIET;
  if (f32_is_nan(b)) return b | F32_QUIET;
  uint ma = a & F32_ABS, mb = b & F32_ABS;
  if (ma == F32_INF) return (mb == F32_INF && a != b) ? F32_DEFAULT_NAN : a;
  if (mb == F32_INF) return b;
  if (ma == 0u) return mb == 0u ? (a & b) : b; // -0 + -0 = -0, any other sum of zeros +0
  if (mb == 0u) return a;
#ifdef FP32_RN_HW_RTE
  int Ea = int(ma >> 23), Eb = int(mb >> 23);
  // Both in [2^-102, 2^126): the sum is finite, and a non-zero sum is a multiple of 2^-125, so
  // normal. An exact cancellation is +0 in RN.
  if (Ea >= 25 && Eb >= 25 && Ea <= 252 && Eb <= 252) {
    precise float s = uintBitsToFloat(a) + uintBitsToFloat(b);
    uint r = floatBitsToUint(s);
    return (r & F32_ABS) == 0u ? 0u : r;
  }
#endif
  if (mb > ma) { // the larger magnitude first: it gives the sign and the exponent
    uint t = a; a = b; b = t;
    t = ma; ma = mb; mb = t;
  }
  int ea, eb;
  uint A = f32_unpack(ma, ea), B = f32_unpack(mb, eb);
  uint diff = uint(ea - eb); // >= 0 since |a| >= |b|
  uint Aw = A << 6, Bw = B << 6, Bt = 0u;
  bool sticky = true;
  if (diff < 30u) {
    Bt = Bw >> diff;
    sticky = (Bw & ((1u << diff) - 1u)) != 0u;
  }
  // With shifted-out bits, b = (Bt + s) units with 0 < s < 1; a - b = (Aw - Bt - 1) + (1 - s).
  // They exist only when diff > 6, where the result keeps at least 28 bits of the window.
  uint T = ((a ^ b) & F32_SIGN) == 0u ? Aw + Bt : Aw - Bt - (sticky ? 1u : 0u);
  if (T == 0u) return 0u;
  return round_pack(a & F32_SIGN, T, sticky, ea - 6);
}

uint sub_rn(uint a, uint b) {
  // x86 returns a NaN subtrahend as it is, not negated.
  if (f32_is_nan(b) && !f32_is_nan(a)) return b | F32_QUIET;
  return add_rn(a, b ^ F32_SIGN);
}

#endif
