// The scalar formats of numerics.md section 1, proven bit for bit against a slow oracle written
// here from the bit-field definitions: every code is decoded with ldexp into a value table, and
// encoding is a nearest-value search over that table. The oracle shares nothing with the
// reference's ilogb / nearbyint arithmetic, so a bug would have to be made twice to hide.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "reference/formats.h"

namespace {

using namespace tessera::ref;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kFltMax = std::numeric_limits<float>::max();

float f32_bits(uint32_t b) { return std::bit_cast<float>(b); }
uint32_t bits_f32(float x) { return std::bit_cast<uint32_t>(x); }
float qnan(bool negative) { return f32_bits(negative ? 0xFFC00000u : 0x7FC00000u); }

enum class Specials {
  FiniteNaN, // e4m3fn: only the all-ones magnitude is NaN, no inf
  Ieee,      // all-ones exponent: inf when the mantissa is 0, else NaN
  None,      // E2M1: every code is a finite number
};

struct Format {
  const char *name;
  int bits, ebits, mbits, bias;
  Specials specials;
  bool satfinite;         // overflow clamps to max finite (else it becomes inf)
  bool sign_is_less_than; // E2M1 sets the sign exactly when x < 0; the others copy signbit
  uint32_t (*encode)(float);
  float (*decode)(uint32_t);
};

uint32_t enc_e4m3(float x) { return f32_to_e4m3(x); }
uint32_t enc_e5m2(float x) { return f32_to_e5m2(x); }
uint32_t enc_e2m1(float x) { return f32_to_e2m1(x); }
uint32_t enc_f16(float x) { return f32_to_f16(x); }
uint32_t enc_bf16(float x) { return f32_to_bf16(x); }
float dec_e4m3(uint32_t c) { return e4m3_to_f32(static_cast<uint8_t>(c)); }
float dec_e5m2(uint32_t c) { return e5m2_to_f32(static_cast<uint8_t>(c)); }
float dec_e2m1(uint32_t c) { return e2m1_to_f32(static_cast<uint8_t>(c)); }
float dec_f16(uint32_t c) { return f16_to_f32(static_cast<uint16_t>(c)); }
float dec_bf16(uint32_t c) { return bf16_to_f32(static_cast<uint16_t>(c)); }

// clang-format off
//                 name    bits e  m   bias specials             satfin x<0    encode    decode
const Format kE4M3{"E4M3", 8,   4, 3,  7,   Specials::FiniteNaN, true,  false, enc_e4m3, dec_e4m3};
const Format kE5M2{"E5M2", 8,   5, 2,  15,  Specials::Ieee,      true,  false, enc_e5m2, dec_e5m2};
const Format kE2M1{"E2M1", 4,   2, 1,  1,   Specials::None,      true,  true,  enc_e2m1, dec_e2m1};
const Format kF16 {"fp16", 16,  5, 10, 15,  Specials::Ieee,      false, false, enc_f16,  dec_f16};
const Format kBF16{"bf16", 16,  8, 7,  127, Specials::Ieee,      false, false, enc_bf16, dec_bf16};
// clang-format on

const Format *const kAll[] = {&kE4M3, &kE5M2, &kE2M1, &kF16, &kBF16};

struct Oracle {
  const Format &f;
  uint32_t sign_bit, mag_mask, max_code; // max_code: largest finite magnitude code
  // mag[c] = value of magnitude code c for c <= max_code; mag[max_code + 1] is the value the
  // next code would have with an unbounded exponent, so that "RN, then saturate" is a plain
  // nearest search followed by a clamp.
  std::vector<double> mag;

  explicit Oracle(const Format &fmt) : f(fmt) {
    sign_bit = 1u << (f.bits - 1);
    mag_mask = sign_bit - 1;
    for (uint32_t c = 0; c <= mag_mask && !is_special(c); ++c)
      mag.push_back(value(c));
    max_code = static_cast<uint32_t>(mag.size()) - 1;
    uint32_t e = max_code >> f.mbits;
    mag.push_back(mag.back() + std::ldexp(1.0, static_cast<int>(e) - f.bias - f.mbits));
  }

  bool is_special(uint32_t magc) const {
    uint32_t e = magc >> f.mbits, emax = (1u << f.ebits) - 1;
    switch (f.specials) {
    case Specials::FiniteNaN: return magc == mag_mask;
    case Specials::Ieee: return e == emax;
    case Specials::None: return false;
    }
    return false;
  }
  bool is_nan_code(uint32_t c) const {
    uint32_t m = c & mag_mask;
    return is_special(m) && !(f.specials == Specials::Ieee && (m & ((1u << f.mbits) - 1)) == 0);
  }

  // Magnitude from the fields: 2^(e - bias) * 1.m for normals, 2^(1 - bias) * 0.m below.
  double value(uint32_t magc) const {
    int e = static_cast<int>(magc >> f.mbits);
    double frac = static_cast<double>(magc & ((1u << f.mbits) - 1)) / (1 << f.mbits);
    return e == 0 ? std::ldexp(frac, 1 - f.bias) : std::ldexp(1.0 + frac, e - f.bias);
  }

  double decode(uint32_t c) const {
    uint32_t m = c & mag_mask;
    double s = (c & sign_bit) ? -1.0 : 1.0;
    if (is_nan_code(c)) return std::numeric_limits<double>::quiet_NaN();
    if (is_special(m)) return s * std::numeric_limits<double>::infinity();
    return s * mag[m];
  }

  uint32_t sign_of(float x) const {
    bool neg = f.sign_is_less_than ? x < 0.0f : std::signbit(x);
    return neg ? sign_bit : 0;
  }

  // A magnitude code (possibly max_code + 1 meaning "overflowed") to the final code.
  uint32_t saturate(uint32_t magc) const {
    if (magc <= max_code) return magc;
    return f.satfinite ? max_code : max_code + 1; // max_code + 1 is inf for fp16 / bf16
  }

  // Expected code for a non-NaN x (NaN is format specific; see expect_encode).
  uint32_t encode(float x) const {
    double a = std::fabs(static_cast<double>(x));
    uint32_t over = max_code + 1;
    uint32_t magc;
    if (std::isinf(a)) {
      magc = over;
    } else {
      auto it = std::lower_bound(mag.begin(), mag.end(), a);
      if (it == mag.end()) {
        magc = over;
      } else {
        uint32_t hi = static_cast<uint32_t>(it - mag.begin());
        if (*it == a) {
          magc = hi;
        } else {
          uint32_t lo = hi - 1;                 // mag[0] == 0 < a, so hi >= 1
          double mid = (mag[lo] + mag[hi]) / 2; // exact: adjacent values of a short format
          magc = a < mid ? lo : a > mid ? hi : ((lo & 1) == 0 ? lo : hi);
        }
      }
    }
    return sign_of(x) | saturate(magc);
  }
};

const Oracle &oracle(const Format &f) {
  static const Oracle o[] = {Oracle(kE4M3), Oracle(kE5M2), Oracle(kE2M1), Oracle(kF16),
                             Oracle(kBF16)};
  for (const Oracle &x : o)
    if (&x.f == &f) return x;
  std::abort();
}

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%X", v);
  return buf;
}

// Checks one encode; returns false (after reporting) on a mismatch so that random sweeps can
// stop reporting after a few.
bool check_encode(const Format &f, float x, bool report = true) {
  const Oracle &o = oracle(f);
  uint32_t got = f.encode(x);
  bool ok;
  std::string want;
  if (std::isnan(x)) {
    if (&f == &kE2M1) { // ModelOpt's searchsorted gives +6 whatever the sign
      ok = got == 0x7;
      want = "0x7";
    } else if (f.satfinite) { // E4M3 / E5M2: the NaN code with the input's sign
      uint32_t w = (std::signbit(x) ? o.sign_bit : 0) | 0x7F;
      ok = got == w;
      want = hex(w);
    } else { // fp16 / bf16: a quiet NaN with the input's sign
      uint32_t quiet = 1u << (f.mbits - 1);
      ok = o.is_nan_code(got) && (got & quiet) && ((got & o.sign_bit) != 0) == std::signbit(x);
      want = "quiet NaN, same sign";
    }
  } else {
    uint32_t w = o.encode(x);
    ok = got == w;
    want = hex(w);
  }
  if (!ok && report)
    ADD_FAILURE() << f.name << " encode(" << x << " = fp32 " << hex(bits_f32(x)) << "): got "
                  << hex(got) << ", want " << want;
  return ok;
}

// ---- the oracle itself, pinned to the numbers in the spec's table ----

TEST(FormatsOracle, TableMatchesSpec) {
  const Oracle &e4 = oracle(kE4M3), &e5 = oracle(kE5M2), &e2 = oracle(kE2M1);
  const Oracle &h = oracle(kF16), &b = oracle(kBF16);
  EXPECT_EQ(e4.max_code, 0x7Eu);
  EXPECT_EQ(e4.mag[0x7E], 448.0);
  EXPECT_EQ(e4.mag[0x01], std::ldexp(1.0, -9));
  EXPECT_EQ(e4.mag[0x7F], 480.0); // would-be value past the top: the midpoint 464 is the rule
  EXPECT_EQ(e5.max_code, 0x7Bu);
  EXPECT_EQ(e5.mag[0x7B], 57344.0);
  EXPECT_EQ(e5.mag[0x01], std::ldexp(1.0, -16));
  EXPECT_EQ(e2.max_code, 0x7u);
  const double e2m1[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  for (uint32_t c = 0; c < 8; ++c)
    EXPECT_EQ(e2.mag[c], e2m1[c]) << c;
  EXPECT_EQ(h.max_code, 0x7BFFu);
  EXPECT_EQ(h.mag[0x7BFF], 65504.0);
  EXPECT_EQ(h.mag[0x0001], std::ldexp(1.0, -24));
  EXPECT_EQ(b.max_code, 0x7F7Fu);
  EXPECT_EQ(b.mag[0x7F7F], static_cast<double>(f32_bits(0x7F7F0000u)));
  for (const Format *f : kAll) {
    const Oracle &o = oracle(*f);
    for (size_t i = 1; i < o.mag.size(); ++i)
      ASSERT_LT(o.mag[i - 1], o.mag[i]) << f->name;
  }
  EXPECT_TRUE(e4.is_nan_code(0x7F) && e4.is_nan_code(0xFF) && !e4.is_nan_code(0x7E));
  EXPECT_TRUE(e5.is_nan_code(0x7D) && e5.is_nan_code(0xFF) && !e5.is_nan_code(0x7C));
}

// ---- decoders ----

TEST(Formats, DecodeEveryCode) {
  for (const Format *f : kAll) {
    const Oracle &o = oracle(*f);
    for (uint32_t c = 0; c < (1u << f->bits); ++c) {
      float got = f->decode(c);
      double want = o.decode(c);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got)) << f->name << " " << hex(c);
      } else {
        // Bit comparison so that the sign of zero counts (0x80 is -0.0).
        EXPECT_EQ(bits_f32(got), bits_f32(static_cast<float>(want))) << f->name << " " << hex(c);
      }
    }
  }
  EXPECT_EQ(e4m3_to_f32(0x38), 1.0f);
  EXPECT_EQ(e5m2_to_f32(0x3C), 1.0f);
  EXPECT_EQ(e5m2_to_f32(0x7C), kInf);
  EXPECT_EQ(e5m2_to_f32(0xFC), -kInf);
  EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xFC00), -kInf);
  EXPECT_EQ(e2m1_to_f32(0xF), -6.0f);
  EXPECT_EQ(e2m1_to_f32(0xF7), 6.0f) << "only the low nibble is read";
}

TEST(Formats, Bf16DecodeIsTheUpperHalf) {
  for (uint32_t c = 0; c < 0x10000; ++c)
    ASSERT_EQ(bits_f32(bf16_to_f32(static_cast<uint16_t>(c))), c << 16) << hex(c);
}

// ---- round trips over every code ----

TEST(Formats, RoundTripEveryCode) {
  for (uint32_t c = 0; c < 256; ++c) {
    // NaN codes come back as the canonical NaN code of the same sign.
    uint8_t want4 = e4m3_is_nan(static_cast<uint8_t>(c)) ? ((c & 0x80) | 0x7F) : c;
    EXPECT_EQ(f32_to_e4m3(e4m3_to_f32(static_cast<uint8_t>(c))), want4) << hex(c);
    // E5M2: NaN codes 0x7D-0x7F go to 0x7F; the inf codes 0x7C/0xFC cannot come back, because
    // the satfinite conversion never produces inf: they become +-max finite.
    uint32_t m = c & 0x7F;
    uint8_t want5 = m > 0x7C ? ((c & 0x80) | 0x7F) : m == 0x7C ? ((c & 0x80) | 0x7B) : c;
    EXPECT_EQ(f32_to_e5m2(e5m2_to_f32(static_cast<uint8_t>(c))), want5) << hex(c);
  }
  for (uint32_t c = 0; c < 16; ++c) {
    // Code 0x8 is -0.0, and -0.0 is not < 0, so it encodes back as +0 (0x0).
    uint8_t want = c == 0x8 ? 0x0 : c;
    EXPECT_EQ(f32_to_e2m1(e2m1_to_f32(static_cast<uint8_t>(c))), want) << hex(c);
  }
  for (const Format *f : {&kF16, &kBF16}) {
    const Oracle &o = oracle(*f);
    for (uint32_t c = 0; c < 0x10000; ++c) {
      uint32_t back = f->encode(f->decode(c));
      if (o.is_nan_code(c)) {
        EXPECT_TRUE(o.is_nan_code(back) && (back & o.sign_bit) == (c & o.sign_bit))
            << f->name << " " << hex(c) << " -> " << hex(back);
      } else {
        EXPECT_EQ(back, c) << f->name;
      }
    }
  }
}

// ---- every rounding boundary and tie ----

// For each pair of adjacent magnitudes (including the top value and the would-be next one):
// below the midpoint rounds down, above rounds up, the midpoint goes to the even code; with
// both signs. Expectations come from the pair itself, not from the oracle's search.
TEST(Formats, EveryBoundaryAndTie) {
  for (const Format *f : kAll) {
    const Oracle &o = oracle(*f);
    int failures = 0;
    for (uint32_t lo = 0; lo <= o.max_code && failures < 10; ++lo) {
      uint32_t hi = lo + 1;
      double mid_d = (o.mag[lo] + o.mag[hi]) / 2;
      float mid = static_cast<float>(mid_d);
      ASSERT_EQ(static_cast<double>(mid), mid_d) << f->name << " midpoint not an fp32";
      uint32_t tie = (lo & 1) == 0 ? lo : hi;
      struct {
        float x;
        uint32_t magc;
      } cases[] = {{static_cast<float>(o.mag[lo]), lo},
                   {std::nextafter(mid, 0.0f), lo},
                   {mid, tie},
                   {std::nextafter(mid, kInf), hi}};
      for (auto [x, magc] : cases)
        for (float s : {1.0f, -1.0f}) {
          float v = s * x;
          bool neg = f->sign_is_less_than ? v < 0.0f : std::signbit(v);
          uint32_t want = (neg ? o.sign_bit : 0) | o.saturate(magc);
          uint32_t got = f->encode(v);
          if (got != want && ++failures <= 10)
            ADD_FAILURE() << f->name << " encode(" << v << "): got " << hex(got) << ", want "
                          << hex(want);
        }
    }
  }
}

// The points numerics.md names, written out as literal numbers.
TEST(Formats, NamedPoints) {
  struct Case {
    const Format *f;
    float x;
    uint32_t want;
  };
  const float p = 1.0f;
  const Case cases[] = {
      // E4M3: satfinite. 464 is the tie between 448 (m=6) and the would-be 480 (m=7): even is
      // 448; above it RN gives 480, which saturates to 448 anyway.
      {&kE4M3, 448, 0x7E},
      {&kE4M3, 464, 0x7E},
      {&kE4M3, std::nextafter(464.0f, kInf), 0x7E},
      {&kE4M3, 480, 0x7E},
      {&kE4M3, 1e30f, 0x7E},
      {&kE4M3, kFltMax, 0x7E},
      {&kE4M3, kInf, 0x7E},
      {&kE4M3, -kInf, 0xFE},
      {&kE4M3, -500, 0xFE},
      {&kE4M3, 432, 0x7E}, // tie between 416 (m=5) and 448 (m=6): even is 448
      {&kE4M3, 0.0f, 0x00},
      {&kE4M3, -0.0f, 0x80},
      {&kE4M3, -1e-30f, 0x80},
      {&kE4M3, std::ldexp(p, -10), 0x00}, // tie between 0 and the min subnormal
      {&kE4M3, std::nextafter(std::ldexp(p, -10), kInf), 0x01},
      {&kE4M3, std::ldexp(p, -9), 0x01},
      {&kE4M3, std::ldexp(3.0f, -10), 0x02},  // tie 2^-9 / 2^-8: even is 0x02
      {&kE4M3, std::ldexp(15.0f, -10), 0x08}, // tie largest subnormal / min normal
      {&kE4M3, std::ldexp(p, -6), 0x08},
      {&kE4M3, 1.0f, 0x38},
      {&kE4M3, -1.0f, 0xB8},
      {&kE4M3, 1.0625f, 0x38}, // tie 1 / 1.125
      {&kE4M3, 1.1875f, 0x3A}, // tie 1.125 / 1.25
      // E5M2: 61440 is the tie between 57344 (m=3) and the would-be 65536 (even): rounds to
      // 65536 = overflow, which satfinite turns into 57344. Never inf.
      {&kE5M2, 57344, 0x7B},
      {&kE5M2, 61440, 0x7B},
      {&kE5M2, 65536, 0x7B},
      {&kE5M2, kInf, 0x7B},
      {&kE5M2, -kInf, 0xFB},
      {&kE5M2, std::ldexp(p, -16), 0x01},
      {&kE5M2, std::ldexp(p, -17), 0x00},
      {&kE5M2, -std::ldexp(p, -17), 0x80},
      {&kE5M2, -0.0f, 0x80},
      {&kE5M2, 1.0f, 0x3C},
      // E2M1: the spec's tie points, saturation, and the x < 0 sign rule.
      {&kE2M1, 0.25f, 0x0},
      {&kE2M1, std::nextafter(0.25f, kInf), 0x1},
      {&kE2M1, 0.75f, 0x2},
      {&kE2M1, 1.25f, 0x2},
      {&kE2M1, 1.75f, 0x4},
      {&kE2M1, 2.5f, 0x4},
      {&kE2M1, 3.5f, 0x6},
      {&kE2M1, 5.0f, 0x6},
      {&kE2M1, std::nextafter(5.0f, kInf), 0x7},
      {&kE2M1, std::nextafter(5.0f, 0.0f), 0x6},
      {&kE2M1, 6.0f, 0x7},
      {&kE2M1, 7.0f, 0x7},
      {&kE2M1, 1e30f, 0x7},
      {&kE2M1, kInf, 0x7},
      {&kE2M1, -kInf, 0xF},
      {&kE2M1, -5.0f, 0xE},
      {&kE2M1, -6.0f, 0xF},
      {&kE2M1, -0.0f, 0x0},
      {&kE2M1, -0.1f, 0x8},
      {&kE2M1, -0.25f, 0x8},
      {&kE2M1, -1e-45f, 0x8},
      // fp16: IEEE RN, overflow to inf from the midpoint 65520 up.
      {&kF16, 65504, 0x7BFF},
      {&kF16, std::nextafter(65520.0f, 0.0f), 0x7BFF},
      {&kF16, 65520, 0x7C00},
      {&kF16, -65520, 0xFC00},
      {&kF16, kInf, 0x7C00},
      {&kF16, -kInf, 0xFC00},
      {&kF16, std::ldexp(p, -24), 0x0001},
      {&kF16, std::ldexp(p, -25), 0x0000},
      {&kF16, std::nextafter(std::ldexp(p, -25), kInf), 0x0001},
      {&kF16, std::ldexp(3.0f, -25), 0x0002},
      {&kF16, -0.0f, 0x8000},
      {&kF16, 1.0f, 0x3C00},
      {&kF16, 1.0f + std::ldexp(p, -11), 0x3C00},
      {&kF16, 1.0f + std::ldexp(3.0f, -11), 0x3C02},
      // bf16: RN of the upper half; the top of the range rounds to inf like IEEE.
      {&kBF16, 1.0f, 0x3F80},
      {&kBF16, 1.0f + std::ldexp(p, -8), 0x3F80},
      {&kBF16, 1.0f + std::ldexp(3.0f, -8), 0x3F82},
      {&kBF16, f32_bits(0x7F7F7FFFu), 0x7F7F},
      {&kBF16, f32_bits(0x7F7F8000u), 0x7F80},
      {&kBF16, kFltMax, 0x7F80},
      {&kBF16, -kFltMax, 0xFF80},
      {&kBF16, f32_bits(0x00008000u), 0x0000}, // tie between 0 and the min bf16 subnormal
      {&kBF16, f32_bits(0x00018000u), 0x0002},
      {&kBF16, -0.0f, 0x8000},
  };
  for (const Case &c : cases) {
    EXPECT_EQ(c.f->encode(c.x), c.want) << c.f->name << " encode(" << c.x << ")";
    check_encode(*c.f, c.x); // and the oracle agrees with the hand-written value
    EXPECT_EQ(oracle(*c.f).encode(c.x), c.want) << "oracle " << c.f->name << " " << c.x;
  }
}

TEST(Formats, NaNBothSigns) {
  const uint32_t nans[] = {0x7FC00000u, 0x7F800001u, 0x7FFFFFFFu, 0x7FA00000u, 0x7F802000u};
  for (uint32_t n : nans)
    for (uint32_t sign : {0u, 0x80000000u}) {
      float x = f32_bits(n | sign);
      for (const Format *f : kAll)
        check_encode(*f, x);
    }
  EXPECT_EQ(f32_to_e4m3(qnan(false)), 0x7F);
  EXPECT_EQ(f32_to_e4m3(qnan(true)), 0xFF);
  EXPECT_EQ(f32_to_e5m2(qnan(false)), 0x7F);
  EXPECT_EQ(f32_to_e5m2(qnan(true)), 0xFF);
  EXPECT_EQ(f32_to_e2m1(qnan(false)), 0x7);
  EXPECT_EQ(f32_to_e2m1(qnan(true)), 0x7);
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(qnan(true)))));
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(qnan(true)))));
}

// ---- random sweep against the oracle ----

TEST(Formats, RandomAgainstOracle) {
  std::mt19937_64 rng(0x7E55E7A);
  std::vector<float> inputs;
  inputs.reserve(1u << 20);
  // Uniform fp32 bit patterns: every exponent, NaNs and infs included.
  for (int i = 0; i < (1 << 20); ++i)
    inputs.push_back(f32_bits(static_cast<uint32_t>(rng())));
  int failures = 0;
  for (const Format *f : kAll)
    for (float x : inputs)
      if (!check_encode(*f, x, failures < 10)) ++failures;

  for (const Format *f : kAll) {
    const Oracle &o = oracle(*f);
    int emax = static_cast<int>(o.max_code >> f->mbits) - f->bias;
    int emin_sub = 1 - f->bias - f->mbits;
    std::uniform_int_distribution<int> exp(emin_sub - 3, emax + 2);
    std::uniform_int_distribution<uint32_t> code(0, o.max_code); // pairs (code, code + 1)
    std::uniform_int_distribution<int> ulps(-3, 3);
    for (int i = 0; i < 300000; ++i) {
      // Values concentrated in the format's range, subnormals and overflow included.
      uint64_t r = rng();
      float x = std::ldexp(1.0f + static_cast<float>(r & 0x7FFFFF) * 0x1p-23f, exp(rng));
      if (r & (1ull << 40)) x = -x;
      if (!check_encode(*f, x, failures < 10)) ++failures;
      // A few fp32 ulps around a midpoint, where a rounding bug would show.
      uint32_t lo = code(rng);
      float mid = static_cast<float>((o.mag[lo] + o.mag[lo + 1]) / 2);
      uint32_t b = bits_f32(mid) + static_cast<uint32_t>(ulps(rng));
      float y = f32_bits(b);
      if (r & (1ull << 41)) y = -y;
      if (!check_encode(*f, y, failures < 10)) ++failures;
    }
  }
  EXPECT_EQ(failures, 0);
}

// ---- exact integer views and packing ----

TEST(Formats, E4m3IntegerView) {
  int32_t max_abs = 0;
  for (uint32_t c = 0; c < 256; ++c) {
    uint8_t code = static_cast<uint8_t>(c);
    if (e4m3_is_nan(code)) continue;
    int32_t i = e4m3_to_int(code);
    EXPECT_EQ(std::ldexp(static_cast<double>(i), -9), static_cast<double>(e4m3_to_f32(code)))
        << hex(c);
    max_abs = std::max(max_abs, std::abs(i));
  }
  EXPECT_EQ(max_abs, 229376);
  EXPECT_EQ(e4m3_to_int(0x7E), 229376);
  EXPECT_EQ(e4m3_to_int(0xFE), -229376);
  EXPECT_EQ(e4m3_to_int(0x01), 1);
  EXPECT_EQ(e4m3_to_int(0x80), 0);
  EXPECT_TRUE(e4m3_is_nan(0x7F) && e4m3_is_nan(0xFF) && !e4m3_is_nan(0x7E) && !e4m3_is_nan(0xFE));
}

TEST(Formats, E2m1IntegerView) {
  const int32_t js[8] = {0, 1, 2, 3, 4, 6, 8, 12};
  for (uint32_t c = 0; c < 16; ++c) {
    int32_t j = e2m1_to_int(static_cast<uint8_t>(c));
    EXPECT_EQ(j, (c & 8) ? -js[c & 7] : js[c & 7]) << c;
    EXPECT_EQ(static_cast<float>(j) / 2, e2m1_to_f32(static_cast<uint8_t>(c))) << c;
  }
}

TEST(Formats, E2m1PackingOrder) {
  for (uint32_t even = 0; even < 16; ++even)
    for (uint32_t odd = 0; odd < 16; ++odd) {
      uint8_t byte = e2m1_pack(static_cast<uint8_t>(even), static_cast<uint8_t>(odd));
      EXPECT_EQ(byte, even | (odd << 4)); // element 2i in the low nibble
      EXPECT_EQ(e2m1_unpack(byte, 0), even);
      EXPECT_EQ(e2m1_unpack(byte, 1), odd);
      EXPECT_EQ(e2m1_unpack(byte, (int64_t{1} << 40) + 6), even);
      EXPECT_EQ(e2m1_unpack(byte, (int64_t{1} << 40) + 7), odd);
    }
  EXPECT_EQ(e2m1_pack(0xF3, 0xA5), 0x53) << "only the low nibble of each input is packed";
}

TEST(Formats, CanonicalNaN) {
  EXPECT_EQ(bits_f32(canonical_nan()), 0x7FC00000u);
  EXPECT_EQ(bits_f32(canonicalize_nan(f32_bits(0xFF800001u))), 0x7FC00000u);
  EXPECT_EQ(bits_f32(canonicalize_nan(-0.0f)), 0x80000000u);
  EXPECT_EQ(canonicalize_nan(-kInf), -kInf);
  EXPECT_EQ(canonicalize_nan(1.5f), 1.5f);
}

} // namespace
