// The NVFP4 recipes of numerics.md sections 2 and 3, proven byte for byte: blocks worked
// out by hand from the spec formulas, then an independent reimplementation here compared with
// the reference on random data with outlier, zero and tiny blocks and on ragged shapes; the
// dequantizer against its formula and the round trip. The scalar conversions (f32_to_e4m3,
// f32_to_e2m1, e4m3_to_f32) are trusted here because test_formats proves them against their own
// oracle. The FP8 recipes: test_quantize_fp8.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "quantize_oracle.h"
#include "reference/formats.h"
#include "reference/quantize.h"

namespace {

using namespace tessera::ref;
using namespace tessera::test;

// E2M1 values from the spec's table, not from the reference's decoder.
float e2m1_value(uint8_t code) {
  static constexpr float kMag[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  return (code & 8) ? -kMag[code & 7] : kMag[code & 7];
}

// ---- independent NVFP4 recipe, straight from section 3 ----

uint8_t oracle_block(const float *x, float scale_2, float divisor, uint8_t codes[16]) {
  float bamax = 0.0f;
  for (int i = 0; i < 16; ++i)
    bamax = std::max(bamax, std::fabs(x[i]));
  // ModelOpt's rule: 1.0 where the fp32 quotient is 0 (an all-zero block, or one whose quotient
  // underflows); bamax == 0 alone also covers scale_2 == 0, where the quotient is 0/0.
  uint8_t s = 0x38;
  float v = rn_div(bamax, rn_mul(divisor, scale_2));
  if (bamax != 0.0f && v != 0.0f) s = f32_to_e4m3(std::min(std::max(v, 0x1p-9f), 448.0f));
  float d = rn_mul(e4m3_to_f32(s), scale_2);
  for (int i = 0; i < 16; ++i)
    codes[i] = f32_to_e2m1(rn_div(x[i], d));
  return s;
}

float oracle_deq(uint8_t code, uint8_t scale, float scale_2) {
  return rn_mul(rn_mul(e2m1_value(code), e4m3_to_f32(scale)), scale_2);
}

float oracle_error(const float *x, const uint8_t codes[16], uint8_t scale, float scale_2) {
  float e = 0.0f;
  for (int i = 0; i < 16; ++i) {
    float diff = rn_sub(x[i], oracle_deq(codes[i], scale, scale_2));
    e = rn_add(e, rn_mul(diff, diff));
  }
  return e;
}

float oracle_scale_2(const std::vector<float> &x, float divisor) {
  float amax = 0.0f;
  for (float v : x)
    amax = std::max(amax, std::fabs(v));
  return amax == 0.0f ? 1.0f : rn_div(amax, divisor);
}

struct Nvfp4 {
  std::vector<uint8_t> q, scale;
};

Nvfp4 oracle_nvfp4(const std::vector<float> &x, int64_t rows, int64_t cols, float scale_2,
                   bool four_over_six) {
  Nvfp4 out{std::vector<uint8_t>(static_cast<size_t>(rows * cols / 2), 0),
            std::vector<uint8_t>(static_cast<size_t>(rows * cols / 16))};
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t kb = 0; kb < cols / 16; ++kb) {
      const float *xb = x.data() + r * cols + kb * 16;
      uint8_t a[16], b[16];
      uint8_t sa = oracle_block(xb, scale_2, 6.0f, a), s = sa;
      const uint8_t *codes = a;
      if (four_over_six) {
        uint8_t sb = oracle_block(xb, scale_2, 4.0f, b);
        if (oracle_error(xb, b, sb, scale_2) < oracle_error(xb, a, sa, scale_2)) {
          s = sb;
          codes = b;
        }
      }
      out.scale[static_cast<size_t>(r * (cols / 16) + kb)] = s;
      for (int i = 0; i < 16; ++i) {
        size_t e = static_cast<size_t>(r * cols + kb * 16 + i);
        out.q[e / 2] |= static_cast<uint8_t>(codes[i] << (4 * (e & 1))); // 2i low, 2i+1 high
      }
    }
  return out;
}

Nvfp4 run_nvfp4(const std::vector<float> &x, int64_t rows, int64_t cols, float scale_2,
                bool four_over_six) {
  Guarded<uint8_t> q(static_cast<size_t>(rows * cols / 2)),
      s(static_cast<size_t>(rows * cols / 16));
  if (four_over_six)
    quantize_nvfp4_4over6(x.data(), rows, cols, scale_2, q.data(), s.data());
  else
    quantize_nvfp4(x.data(), rows, cols, scale_2, q.data(), s.data());
  EXPECT_TRUE(q.guard_intact()) << "write past the end of q";
  EXPECT_TRUE(s.guard_intact()) << "write past the end of scale";
  return {q.values(), s.values()};
}

std::vector<uint8_t> unpack(const std::vector<uint8_t> &q) {
  std::vector<uint8_t> codes;
  for (uint8_t b : q) {
    codes.push_back(b & 0xF);
    codes.push_back(b >> 4);
  }
  return codes;
}

// One block through the block function, the whole-tensor function and the oracle.
void expect_block(const float (&x)[16], float scale_2, uint8_t want_scale,
                  const uint8_t (&want)[16], bool four_over_six = false) {
  std::vector<float> xv(x, x + 16);
  if (!four_over_six) {
    uint8_t codes[16];
    EXPECT_EQ(quantize_nvfp4_block(x, scale_2, 6.0f, codes), want_scale);
    for (int i = 0; i < 16; ++i)
      EXPECT_EQ(codes[i], want[i]) << "element " << i;
  }
  Nvfp4 got = run_nvfp4(xv, 1, 16, scale_2, four_over_six);
  EXPECT_EQ(got.scale[0], want_scale);
  std::vector<uint8_t> codes = unpack(got.q);
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(codes[i], want[i]) << "packed element " << i;
  Nvfp4 ref = oracle_nvfp4(xv, 1, 16, scale_2, four_over_six);
  EXPECT_EQ(ref.scale, got.scale) << "oracle disagrees with the hand-worked scale";
  EXPECT_EQ(ref.q, got.q) << "oracle disagrees with the hand-worked codes";
}

// ---- hand-worked NVFP4 blocks (scale_2 = 1 unless said, so the arithmetic is exact) ----

TEST(QuantizeNvfp4, OutlierZeroesTheRest) {
  // bamax 96: s = E4M3(96 / 6) = 16 = 0x58, d = 16. The rest scale into (-0.25, 0.25] and go
  // to 0 (sign bit kept for x < 0); 4/16 = 0.25 is the 0 / 0.5 tie (to 0), 4.01 just past it.
  const float x[16] = {96, 3.9f, -3.9f, 4, -4, 4.01f, 0.5f, -0.0f, 0, 1, -1, 2, -2, 3, -3, 0.1f};
  const uint8_t want[16] = {0x7, 0x0, 0x8, 0x0, 0x8, 0x1, 0x0, 0x0,
                            0x0, 0x0, 0x8, 0x0, 0x8, 0x0, 0x8, 0x0};
  expect_block(x, 1.0f, 0x58, want);
  // Element 2i in the low nibble: (7,0) (8,0) (8,1) (0,0) (0,0) (8,0) (8,0) (8,0).
  Nvfp4 got = run_nvfp4(std::vector<float>(x, x + 16), 1, 16, 1.0f, false);
  const std::vector<uint8_t> packed = {0x07, 0x08, 0x18, 0x00, 0x00, 0x08, 0x08, 0x08};
  EXPECT_EQ(got.q, packed);
}

TEST(QuantizeNvfp4, AllZeroBlock) {
  // bamax == 0 keeps scale 1.0 (0x38) whatever scale_2 is; -0.0 is not < 0, so code 0x0.
  const float zeros[16] = {};
  float negzeros[16];
  std::fill(negzeros, negzeros + 16, -0.0f);
  const uint8_t want[16] = {};
  expect_block(zeros, 0.37f, 0x38, want);
  expect_block(negzeros, 0.37f, 0x38, want);
  expect_block(zeros, 1.0f, 0x38, want, true);
}

TEST(QuantizeNvfp4, UnderflowingScaleIsOneAsModelOpt) {
  // x[0] = 1000 sets scale_2 = RN(1000 / 2688); block 1 holds +-2^-149, whose quotient
  // 2^-149 / RN(6 * scale_2) = 2^-149 / 2.23 rounds to 0 in fp32. ModelOpt 0.47
  // (NVFP4QTensor.quantize on the CPU) stores 0x38 for it, not the clamp's 0x01, and these bytes:
  std::vector<float> x(32, 0.0f);
  x[0] = 1000.0f;
  for (int i = 16; i < 32; ++i) x[static_cast<size_t>(i)] = i % 2 ? -0x1p-149f : 0x1p-149f;
  const float s2 = nvfp4_scale_2(x.data(), 32, false);
  const std::vector<uint8_t> modelopt_q = {0x07, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80,
                                           0x80, 0x80, 0x80, 0x80};
  const std::vector<uint8_t> modelopt_scale = {0x7E, 0x38};
  Nvfp4 got = run_nvfp4(x, 1, 32, s2, false);
  EXPECT_EQ(got.scale, modelopt_scale);
  EXPECT_EQ(got.q, modelopt_q);
  Nvfp4 oracle = oracle_nvfp4(x, 1, 32, s2, false);
  EXPECT_EQ(oracle.scale, got.scale);
  EXPECT_EQ(oracle.q, got.q);
  // 4over6: both candidates' quotients underflow, so 1.0 there too.
  EXPECT_EQ(run_nvfp4(x, 1, 32, nvfp4_scale_2(x.data(), 32, true), true).scale[1], 0x38);
  // A quotient that is not 0 is clamped, never replaced: ModelOpt gives 0x01 for each of these
  // beside the same 1000 (2^-148 / 2.23 rounds up to 2^-149).
  for (float tiny : {0x1p-148f, 0x1.8p-148f, 1e-5f}) {
    std::vector<float> y(32, 0.0f);
    y[0] = 1000.0f;
    y[16] = tiny;
    Nvfp4 r = run_nvfp4(y, 1, 32, nvfp4_scale_2(y.data(), 32, false), false);
    EXPECT_EQ(r.scale[1], 0x01) << tiny;
  }
  // A static scale_2 that makes the quotient underflow: the same rule.
  const float block[16] = {0x1p-140f};
  uint8_t codes[16];
  EXPECT_EQ(quantize_nvfp4_block(block, 0x1p100f, 6.0f, codes), 0x38);
}

TEST(QuantizeNvfp4, ScaleBelowClamp) {
  // bamax = 1.5 * 2^-10: bamax / 6 = 2^-12 < 2^-9, so s = E4M3(2^-9) = 0x01 and d = 2^-9.
  // Then x / d: 0.001 * 512 = 0.512 -> 0.5; -2^-10 -> -0.5; 2^-11 -> 0.25 (tie, 0);
  // 1.5 * 2^-10 -> 0.75 (tie, 1.0 = code 2); 0.0002 * 512 = 0.1024 -> 0; -0.0005 -> -0.256 -> -0.5.
  const float x[16] = {0.001f, -0x1p-10f, 0x1p-11f, 0x1.8p-10f, 0.0002f, -0.0005f, 0, 0,
                       0,      0,         0,        0,          0,       0,        0, 0};
  const uint8_t want[16] = {0x1, 0x9, 0x0, 0x2, 0x0, 0x9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  expect_block(x, 1.0f, 0x01, want);
}

TEST(QuantizeNvfp4, E2m1TiePointsAfterScaling) {
  // bamax 12: s = E4M3(2) = 0x40, d = 2, so x / d lands exactly on the spec's tie points:
  // 0.25->0, 0.75->1, 1.25->1, 1.75->2, 2.5->2, 3.5->4, 5->4, 5.25->6, and the negatives.
  const float x[16] = {12,    0.5f,  1.5f,  2.5f,  3.5f,  5,  7,  10,
                       10.5f, -0.5f, -1.5f, -2.5f, -3.5f, -5, -7, -10};
  const uint8_t want[16] = {0x7, 0x0, 0x2, 0x2, 0x4, 0x4, 0x6, 0x6,
                            0x7, 0x8, 0xA, 0xA, 0xC, 0xC, 0xE, 0xE};
  expect_block(x, 1.0f, 0x40, want);
}

TEST(QuantizeNvfp4, ScaleRoundsOnE4m3Grid) {
  // bamax 7: 7 / 6 = 1.1667 lies between 1.125 (0x39) and 1.25 (0x3A), nearer 1.125; d = 1.125.
  // 7 / 1.125 = 6.22 -> 6; 1.125 -> 1; -2.25 -> -2; 0.5625 -> 0.5; 3.9375 -> 3.5 (tie, 4).
  const float x[16] = {7, 1.125f, -2.25f, 0.5625f, 3.9375f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  const uint8_t want[16] = {0x7, 0x2, 0xC, 0x1, 0x6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  expect_block(x, 1.0f, 0x39, want);
}

TEST(QuantizeNvfp4, StaticScale2Saturates) {
  // A checkpoint's input_scale of 2^-10 is far too small for this block: 100 / (6 * 2^-10) =
  // 17067 clamps to 448 (0x7E), d = 448 * 2^-10 = 0.4375, and 100 / d = 228.6 saturates at 6.
  // 1 / d = 2.29 -> 2; -3 / d = -6.86 -> -6; 0.1 / d = 0.229 -> 0; 0.2 / d = 0.457 -> 0.5.
  const float x[16] = {100, 1, -3, 0.1f, 0.2f, -100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  const uint8_t want[16] = {0x7, 0x4, 0xF, 0x0, 0x1, 0xF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  expect_block(x, 0x1p-10f, 0x7E, want);
}

TEST(QuantizeNvfp4, DynamicScale2ExactBlock) {
  // amax 2688: scale_2 = 2688 / 2688 = 1, s = E4M3(2688 / 6 = 448) = 0x7E, d = 448.
  // 224 / 448 = 0.5; 112 -> 0.25 (tie, 0); -672 -> -1.5; 1120 -> 2.5 (tie, 2); 1568 -> 3.5 (4).
  const float x[16] = {2688, 224, 112, -672, 1120, 1568, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  std::vector<float> xv(x, x + 16);
  float s2 = nvfp4_scale_2(xv.data(), 16, false);
  EXPECT_EQ(s2, 1.0f);
  const uint8_t want[16] = {0x7, 0x1, 0x0, 0xB, 0x4, 0x6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  expect_block(x, s2, 0x7E, want);
}

TEST(QuantizeNvfp4, Scale2) {
  std::vector<float> x = {2688, -1, 0.5f};
  EXPECT_EQ(nvfp4_scale_2(x.data(), 3, false), 1.0f);
  x = {3, -5376, 1}; // amax is of |x|: the negative one wins
  EXPECT_EQ(nvfp4_scale_2(x.data(), 3, false), 2.0f);
  x = {1536, -7};
  EXPECT_EQ(nvfp4_scale_2(x.data(), 2, true), 1.0f);
  x = {0, -0.0f, 0};
  EXPECT_EQ(nvfp4_scale_2(x.data(), 3, false), 1.0f);
  EXPECT_EQ(nvfp4_scale_2(x.data(), 3, true), 1.0f);
  // Inexact quotients: RN of the fp32 division, whatever the reference's expression.
  x = {1.0f};
  EXPECT_EQ(bits(nvfp4_scale_2(x.data(), 1, false)), bits(rn_div(1.0f, 2688.0f)));
  EXPECT_EQ(bits(nvfp4_scale_2(x.data(), 1, true)), bits(rn_div(1.0f, 1536.0f)));
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> expo(-30.0f, 30.0f), unit(-1.0f, 1.0f);
  for (int t = 0; t < 200; ++t) {
    std::vector<float> v(1 + t % 37);
    for (float &e : v)
      e = unit(rng) * std::exp2(expo(rng));
    for (bool fos : {false, true})
      EXPECT_EQ(bits(nvfp4_scale_2(v.data(), static_cast<int64_t>(v.size()), fos)),
                bits(oracle_scale_2(v, fos ? 1536.0f : 2688.0f)));
  }
}

// ---- Four Over Six ----

TEST(QuantizeNvfp4FourOverSix, CandidateBWins) {
  // A: s = E4M3(4 / 6 = 0.667) = 0.6875 (0x33); 4 / 0.6875 = 5.82 -> 6 (deq 4.125),
  // 3 -> 4.36 -> 4 (2.75), 2 -> 2.91 -> 3 (2.0625), 1.5 -> 2.18 -> 2 (1.375), 1 -> 1.45 -> 1.5
  // (1.03125), 0.5 -> 0.727 -> 0.5 (0.34375). Squared errors per set {4,3,2,1.5,1,0.5}:
  // 1/64 + 1/16 + 1/256 + 1/64 + 1/1024 + 25/1024 = 0.123046875; the block holds that set with
  // both signs plus another 4 and 3: E_A = 2 * 0.123046875 + 1/64 + 1/16 = 0.32421875 (exact).
  // B: s = E4M3(4 / 4) = 1 (0x38): every element is on the grid, E_B = 0 < E_A.
  const float x[16] = {4, 3, 2, 1.5f, 1, 0.5f, 0, -4, -3, -2, -1.5f, -1, -0.5f, 0, 4, 3};
  uint8_t a[16], b[16];
  uint8_t sa = quantize_nvfp4_block(x, 1.0f, 6.0f, a);
  uint8_t sb = quantize_nvfp4_block(x, 1.0f, 4.0f, b);
  EXPECT_EQ(sa, 0x33);
  EXPECT_EQ(sb, 0x38);
  const uint8_t want_a[16] = {0x7, 0x6, 0x5, 0x4, 0x3, 0x1, 0x0, 0xF,
                              0xE, 0xD, 0xC, 0xB, 0x9, 0x0, 0x7, 0x6};
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(a[i], want_a[i]) << i;
  EXPECT_EQ(nvfp4_block_error(x, a, sa, 1.0f), 0.32421875f);
  EXPECT_EQ(nvfp4_block_error(x, b, sb, 1.0f), 0.0f);
  const uint8_t want[16] = {0x6, 0x5, 0x4, 0x3, 0x2, 0x1, 0x0, 0xE,
                            0xD, 0xC, 0xB, 0xA, 0x9, 0x0, 0x6, 0x5};
  expect_block(x, 1.0f, 0x38, want, true);
}

TEST(QuantizeNvfp4FourOverSix, CandidateAWins) {
  // A: s = 1, every element on the grid, E_A = 0. B: s = E4M3(6 / 4) = 1.5 (0x3C); 0.5 / 1.5 =
  // 0.333 -> 0.5 (deq 0.75), twice: E_B = 2 * 0.0625 = 0.125 > E_A.
  const float x[16] = {6, 3, 1.5f, 0.5f, -6, -3, -1.5f, -0.5f, 0, 0, 0, 0, 0, 0, 0, 0};
  uint8_t b[16];
  uint8_t sb = quantize_nvfp4_block(x, 1.0f, 4.0f, b);
  EXPECT_EQ(sb, 0x3C);
  EXPECT_EQ(nvfp4_block_error(x, b, sb, 1.0f), 0.125f);
  const uint8_t want[16] = {0x7, 0x5, 0x3, 0x1, 0xF, 0xD, 0xB, 0x9, 0, 0, 0, 0, 0, 0, 0, 0};
  expect_block(x, 1.0f, 0x38, want, true);
}

TEST(QuantizeNvfp4FourOverSix, TieKeepsA) {
  // Both candidates are exact: A with s = 1 (6, -3, 1.5, -1.5 on the grid), B with s = 1.5
  // (4, -2, 1, -1). E_A == E_B == 0, and a tie keeps A.
  const float x[16] = {6, -3, 1.5f, -1.5f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  uint8_t a[16], b[16];
  uint8_t sa = quantize_nvfp4_block(x, 1.0f, 6.0f, a);
  uint8_t sb = quantize_nvfp4_block(x, 1.0f, 4.0f, b);
  EXPECT_EQ(sb, 0x3C);
  EXPECT_EQ(nvfp4_block_error(x, a, sa, 1.0f), 0.0f);
  EXPECT_EQ(nvfp4_block_error(x, b, sb, 1.0f), 0.0f);
  const uint8_t want[16] = {0x7, 0xD, 0x3, 0xB, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  expect_block(x, 1.0f, 0x38, want, true);
}

TEST(QuantizeNvfp4FourOverSix, BlockErrorMatchesFormula) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  std::uniform_int_distribution<int> code(0, 15), sc(0, 0x7E);
  for (int t = 0; t < 2000; ++t) {
    float x[16];
    uint8_t codes[16];
    for (int i = 0; i < 16; ++i) {
      x[i] = u(rng);
      codes[i] = static_cast<uint8_t>(code(rng));
    }
    uint8_t s = static_cast<uint8_t>(sc(rng));
    float s2 = std::exp2(u(rng) * 4);
    ASSERT_EQ(bits(nvfp4_block_error(x, codes, s, s2)), bits(oracle_error(x, codes, s, s2)));
  }
}

// ---- random tensors against the independent recipe ----

// Rows of blocks of different kinds: plain, one big outlier, all zero, tiny (scale clamps at
// 2^-9), and exact grid multiples (ties everywhere).
std::vector<float> nvfp4_data(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f), mag(-3.0f, 3.0f);
  std::uniform_int_distribution<int> kind(0, 5), code(0, 15), idx(0, 15);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t kb = 0; kb < cols / 16; ++kb) {
      float *b = x.data() + r * cols + kb * 16;
      float m = std::pow(10.0f, mag(rng));
      int k = kind(rng);
      for (int i = 0; i < 16; ++i) {
        switch (k) {
        case 0:
        case 1: b[i] = u(rng) * m; break;
        case 2: b[i] = u(rng) * m * (i == idx(rng) ? 1000.0f : 1.0f); break;
        case 3: b[i] = (i % 3 == 0) ? -0.0f : 0.0f; break;
        case 4: b[i] = u(rng) * 1e-7f; break;
        case 5:
          b[i] = e2m1_value(static_cast<uint8_t>(code(rng))) * std::exp2(std::round(mag(rng)));
        }
      }
      if (k == 2) b[idx(rng)] = 1000.0f * m;
    }
  return x;
}

TEST(QuantizeNvfp4, RandomRaggedShapesMatchRecipe) {
  uint32_t seed = 100;
  for (int64_t rows : {1, 3, 129})
    for (int64_t cols : {16, 48, 144})
      for (bool fos : {false, true}) {
        std::vector<float> x = nvfp4_data(rows, cols, ++seed);
        float dyn = nvfp4_scale_2(x.data(), rows * cols, fos);
        EXPECT_EQ(bits(dyn), bits(oracle_scale_2(x, fos ? 1536.0f : 2688.0f)));
        // The dynamic scale_2, and static ones: 1e-3 saturates blocks at 448 and codes at 6,
        // 1e3 pushes most block scales onto the 2^-9 clamp.
        for (float s2 : {dyn, 1.0f, 1e-3f, 0.37f, 1e3f}) {
          Nvfp4 got = run_nvfp4(x, rows, cols, s2, fos);
          Nvfp4 want = oracle_nvfp4(x, rows, cols, s2, fos);
          EXPECT_EQ(got.scale, want.scale)
              << rows << "x" << cols << " 4over6=" << fos << " scale_2=" << s2;
          EXPECT_EQ(got.q, want.q) << rows << "x" << cols << " 4over6=" << fos << " scale_2=" << s2;
        }
      }
}

// Random data rarely lands near a rounding tie, yet that is where a reordered or fused expression
// (x / s / scale_2 for x / RN(s * scale_2), bamax / 6 / scale_2 for bamax / RN(6 * scale_2))
// changes a code. These blocks are built so that bamax / RN(divisor * scale_2) falls on or one
// ulp beside an E4M3 tie, and every other element on or beside an E2M1 tie of x / d.
std::vector<float> nvfp4_tie_data(int64_t rows, int64_t cols, float scale_2, bool both_divisors,
                                  float amax, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> e4m3_ties; // normal-range ties, so that d stays within 1/16 of bamax / 6
  for (uint8_t c = 0x10; c < 0x70; ++c)
    e4m3_ties.push_back((e4m3_to_f32(c) + e4m3_to_f32(static_cast<uint8_t>(c + 1))) / 2);
  const float e2m1_ties[] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f, 1.0f, 3.0f};
  std::uniform_int_distribution<size_t> pick_v(0, e4m3_ties.size() - 1);
  std::uniform_int_distribution<int> pick_t(0, 8), nudge(-1, 1), idx(0, 15), coin(0, 1);
  auto step = [](float x, int k) { return k == 0 ? x : std::nextafter(x, k > 0 ? 1e30f : 0.0f); };
  std::vector<float> x(static_cast<size_t>(rows * cols), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t kb = 0; kb < cols / 16; ++kb) {
      float *b = x.data() + r * cols + kb * 16;
      float divisor = both_divisors && coin(rng) ? 4.0f : 6.0f;
      float v = e4m3_ties[pick_v(rng)];
      float bamax = step(rn_mul(v, rn_mul(divisor, scale_2)), nudge(rng));
      bamax = std::min(bamax, amax);
      float s = std::min(std::max(rn_div(bamax, rn_mul(divisor, scale_2)), 0x1p-9f), 448.0f);
      float d = rn_mul(e4m3_to_f32(f32_to_e4m3(s)), scale_2);
      for (int i = 0; i < 16; ++i) {
        // Divisor 4 puts bamax near 4 d: keep t <= 3.5 there so bamax stays the block max.
        float t = e2m1_ties[pick_t(rng)];
        if (divisor == 4.0f && t > 3.5f) t = 3.5f;
        float e = std::min(step(rn_mul(t, d), nudge(rng)), bamax);
        b[i] = coin(rng) ? -e : e;
      }
      b[idx(rng)] = coin(rng) ? -bamax : bamax;
    }
  x[0] = amax; // the tensor max, so that the dynamic scale_2 is known in advance
  return x;
}

TEST(QuantizeNvfp4, TiesAfterScalingMatchRecipe) {
  uint32_t seed = 700;
  for (bool fos : {false, true})
    for (float amax : {1000.0f, 3.3f, 0.0123f}) {
      int64_t rows = 37, cols = 64;
      float dyn = rn_div(amax, fos ? 1536.0f : 2688.0f);
      std::vector<float> x = nvfp4_tie_data(rows, cols, dyn, fos, amax, ++seed);
      ASSERT_EQ(bits(nvfp4_scale_2(x.data(), rows * cols, fos)), bits(dyn));
      for (float s2 : {dyn, 0.37f * amax / 1000}) {
        if (s2 != dyn) x = nvfp4_tie_data(rows, cols, s2, fos, 1e30f, ++seed);
        Nvfp4 got = run_nvfp4(x, rows, cols, s2, fos);
        Nvfp4 want = oracle_nvfp4(x, rows, cols, s2, fos);
        EXPECT_EQ(got.scale, want.scale) << "4over6=" << fos << " scale_2=" << s2;
        EXPECT_EQ(got.q, want.q) << "4over6=" << fos << " scale_2=" << s2;
      }
    }
}

// ---- NVFP4 dequantization ----

TEST(DequantizeNvfp4, MatchesFormula) {
  std::mt19937 rng(21);
  std::uniform_int_distribution<int> byte(0, 255), sc(0, 0x7E);
  std::uniform_real_distribution<float> e(-20.0f, 20.0f);
  for (int64_t rows : {1, 3, 129})
    for (int64_t cols : {16, 48, 144}) {
      std::vector<uint8_t> q(static_cast<size_t>(rows * cols / 2)),
          s(static_cast<size_t>(rows * cols / 16));
      for (auto &v : q)
        v = static_cast<uint8_t>(byte(rng));
      for (auto &v : s)
        v = static_cast<uint8_t>(sc(rng) | (byte(rng) & 0x80));
      float s2 = std::exp2(e(rng));
      Guarded<float> y(static_cast<size_t>(rows * cols));
      dequantize_nvfp4(q.data(), s.data(), s2, rows, cols, y.data());
      EXPECT_TRUE(y.guard_intact());
      std::vector<float> got = y.values();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          size_t i = static_cast<size_t>(r * cols + c);
          uint8_t code = (c % 2 == 0) ? (q[i / 2] & 0xF) : (q[i / 2] >> 4);
          float want = oracle_deq(code, s[static_cast<size_t>(r * (cols / 16) + c / 16)], s2);
          ASSERT_EQ(bits(got[i]), bits(want)) << "(" << r << ", " << c << ")";
        }
    }
}

TEST(DequantizeNvfp4, NaNScalePoisonsOnlyItsBlock) {
  std::vector<uint8_t> q(16, 0x21), s = {0x38, 0x7F};
  std::vector<float> y(32);
  dequantize_nvfp4(q.data(), s.data(), 1.0f, 1, 32, y.data());
  for (int i = 0; i < 16; ++i)
    EXPECT_FALSE(std::isnan(y[static_cast<size_t>(i)])) << i;
  for (int i = 16; i < 32; ++i)
    EXPECT_TRUE(std::isnan(y[static_cast<size_t>(i)])) << i;
}

// Round trip: each element lands within half an E2M1 step of its scaled value (times d), or, if
// it lies beyond 6 d, at 6 d. With the dynamic scale_2 the block scale's E4M3 rounding is the
// only way past 6 d: at most 1/16 relative for a normal scale, 2^-10 absolute for a subnormal.
TEST(DequantizeNvfp4, RoundTripErrorBound) {
  uint32_t seed = 300;
  for (bool fos : {false, true}) {
    int64_t rows = 33, cols = 96;
    std::vector<float> x = nvfp4_data(rows, cols, ++seed);
    float s2 = nvfp4_scale_2(x.data(), rows * cols, fos);
    Nvfp4 got = run_nvfp4(x, rows, cols, s2, fos);
    std::vector<float> y(x.size());
    dequantize_nvfp4(got.q.data(), got.scale.data(), s2, rows, cols, y.data());
    for (size_t i = 0; i < x.size(); ++i) {
      double d = static_cast<double>(e4m3_to_f32(got.scale[i / 16])) * s2;
      double ax = std::fabs(static_cast<double>(x[i])),
             err = std::fabs(x[i] - static_cast<double>(y[i]));
      double t = ax / d;
      double tol = 1e-6 * (ax + 6 * d) + 1e-38;
      double sf = e4m3_to_f32(got.scale[i / 16]);
      double top = sf >= 0x1p-6 ? 6.0 * 17.0 / 16.0 : 6.0 * (sf + 0x1p-10) / sf;
      ASSERT_LE(t, top * (1 + 1e-6)) << i;
      double half_step = t <= 2 ? 0.25 : t <= 4 ? 0.5 : 1.0;
      double bound = t <= 6 ? half_step * d : ax - 6 * d;
      ASSERT_LE(err, bound + tol) << "element " << i << " x=" << x[i] << " y=" << y[i];
      if (x[i] != 0.0f && y[i] != 0.0f) {
        ASSERT_EQ(std::signbit(x[i]), std::signbit(y[i])) << i;
      }
    }
  }
}

} // namespace
