// The FP8 recipes of numerics.md section 3 (fp8-tensor, fp8-token128, fp8-block128), proven byte
// for byte: hand-worked tensors, then an independent reimplementation here, walking groups
// rather than elements, compared with the reference on random data with outliers, all-zero rows
// and rows below the 1e-4 floor, on ragged shapes and on ties after scaling; the dequantizer
// against its formula and the round trip within half an E4M3 step. The scalar conversions are
// trusted here because test_formats proves them against their own oracle.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "quantize_oracle.h"
#include "reference/formats.h"
#include "reference/quantize.h"

namespace {

using namespace tessera::ref;
using namespace tessera::test;

// ---- FP8 recipes ----

int64_t ceil128(int64_t n) { return (n + 127) / 128; }

// Straight from section 3, walking groups rather than elements.
void oracle_fp8(const std::vector<float> &x, int64_t rows, int64_t cols, Fp8Grouping g,
                std::vector<uint8_t> &q, std::vector<float> &scales) {
  int64_t gr = g == Fp8Grouping::Tensor ? rows : g == Fp8Grouping::Token128 ? 1 : 128;
  int64_t gc = g == Fp8Grouping::Tensor ? cols : 128;
  int64_t nr = (rows + gr - 1) / gr, nc = (cols + gc - 1) / gc;
  q.assign(x.size(), 0);
  scales.assign(static_cast<size_t>(nr * nc), 0.0f);
  for (int64_t br = 0; br < nr; ++br)
    for (int64_t bc = 0; bc < nc; ++bc) {
      int64_t r0 = br * gr, r1 = std::min(rows, r0 + gr), c0 = bc * gc,
              c1 = std::min(cols, c0 + gc);
      float amax = 0.0f;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c)
          amax = std::max(amax, std::fabs(x[static_cast<size_t>(r * cols + c)]));
      float s = g == Fp8Grouping::Tensor ? (amax == 0.0f ? 1.0f : rn_div(amax, 448.0f))
                                         : rn_div(std::max(amax, 1e-4f), 448.0f);
      scales[static_cast<size_t>(br * nc + bc)] = s;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) {
          size_t i = static_cast<size_t>(r * cols + c);
          q[i] = f32_to_e4m3(rn_div(x[i], s));
        }
    }
}

// Per row a magnitude, some outliers, some all-zero rows and column ranges (the 1e-4 floor),
// and some rows below the floor.
std::vector<float> fp8_data(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f), mag(-4.0f, 3.0f);
  std::uniform_int_distribution<int> kind(0, 7);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    int k = kind(rng);
    float m = k == 6 ? 1e-6f : std::pow(10.0f, mag(rng));
    for (int64_t c = 0; c < cols; ++c) {
      float &v = x[static_cast<size_t>(r * cols + c)];
      v = k == 5 || (k == 4 && c >= 128 && c < 256) ? 0.0f : u(rng) * m;
      if (k == 3 && u(rng) > 0.98f) v *= 1000.0f;
    }
  }
  return x;
}

const char *name(Fp8Grouping g) {
  return g == Fp8Grouping::Tensor ? "tensor" : g == Fp8Grouping::Token128 ? "token128" : "block128";
}

TEST(QuantizeFp8, ScaleCount) {
  EXPECT_EQ(fp8_scale_count(Fp8Grouping::Tensor, 200, 300), 1);
  EXPECT_EQ(fp8_scale_count(Fp8Grouping::Token128, 200, 300), 200 * 3);
  EXPECT_EQ(fp8_scale_count(Fp8Grouping::Block128, 200, 300), 2 * 3);
  EXPECT_EQ(fp8_scale_count(Fp8Grouping::Token128, 1, 128), 1);
  EXPECT_EQ(fp8_scale_count(Fp8Grouping::Block128, 129, 129), 4);
}

TEST(QuantizeFp8, HandWorked) {
  // Tensor: amax 896 -> s = 2; 896 / 2 = 448 (0x7E); -448 / 2 = -224 = -1.75 * 2^7 (0xF6);
  // 2 / 2 = 1 (0x38); -0.0 keeps its sign (0x80).
  {
    std::vector<float> x = {896, -448, 2, -0.0f, 0, 0.0029296875f};
    std::vector<uint8_t> q(6);
    float s = 0;
    quantize_fp8(x.data(), 1, 6, Fp8Grouping::Tensor, q.data(), &s);
    EXPECT_EQ(s, 2.0f);
    // 0.0029296875 / 2 = 1.5 * 2^-10 = 0.75 * 2^-9: between 0 and the min subnormal, nearer it.
    const std::vector<uint8_t> want = {0x7E, 0xF6, 0x38, 0x80, 0x00, 0x01};
    EXPECT_EQ(q, want);
  }
  // All-zero tensor: scale 1.0, codes keep the sign of zero.
  {
    std::vector<float> x = {0, -0.0f, 0};
    std::vector<uint8_t> q(3);
    float s = 0;
    quantize_fp8(x.data(), 1, 3, Fp8Grouping::Tensor, q.data(), &s);
    EXPECT_EQ(s, 1.0f);
    EXPECT_EQ(q, (std::vector<uint8_t>{0x00, 0x80, 0x00}));
  }
  // Token128, 2 rows x 130 cols: row 0 group 0 amax 448 (s = 1), group 1 is all zero and
  // floors at 1e-4 (s = RN(1e-4f / 448), as DeepSeek clamps an fp32 tensor at 1e-4); row 1
  // group 0 amax 4.48e-5 < 1e-4 also floors.
  {
    std::vector<float> x(260, 0.0f);
    x[0] = 448;
    x[1] = -3;
    x[130] = 4.48e-5f;
    std::vector<uint8_t> q(260);
    std::vector<float> s(4);
    quantize_fp8(x.data(), 2, 130, Fp8Grouping::Token128, q.data(), s.data());
    float floor_s = rn_div(1e-4f, 448.0f);
    EXPECT_EQ(s[0], 1.0f);
    EXPECT_EQ(bits(s[1]), bits(floor_s));
    EXPECT_EQ(bits(s[2]), bits(floor_s));
    EXPECT_EQ(bits(s[3]), bits(floor_s));
    EXPECT_EQ(q[0], 0x7E);
    EXPECT_EQ(q[1], 0xC4); // -3 = -1.5 * 2^1
    EXPECT_EQ(q[128], 0x00);
    EXPECT_EQ(q[130], f32_to_e4m3(rn_div(4.48e-5f, floor_s))); // ~200.7, not 448
    EXPECT_EQ(q[130], 0x75);                                   // 200.7 -> 208 = 1.625 * 2^7
  }
}

TEST(QuantizeFp8, RandomRaggedShapesMatchRecipe) {
  uint32_t seed = 500;
  for (Fp8Grouping g : {Fp8Grouping::Tensor, Fp8Grouping::Token128, Fp8Grouping::Block128})
    for (int64_t rows : {1, 127, 128, 129, 200})
      for (int64_t cols : {1, 127, 128, 129, 300}) {
        std::vector<float> x = fp8_data(rows, cols, ++seed);
        std::vector<uint8_t> want_q;
        std::vector<float> want_s;
        oracle_fp8(x, rows, cols, g, want_q, want_s);
        ASSERT_EQ(fp8_scale_count(g, rows, cols), static_cast<int64_t>(want_s.size()));
        Guarded<uint8_t> q(x.size());
        Guarded<float> s(want_s.size());
        quantize_fp8(x.data(), rows, cols, g, q.data(), s.data());
        EXPECT_TRUE(q.guard_intact() && s.guard_intact()) << name(g) << " " << rows << "x" << cols;
        std::vector<float> got_s = s.values();
        for (size_t i = 0; i < want_s.size(); ++i)
          ASSERT_EQ(bits(got_s[i]), bits(want_s[i]))
              << name(g) << " " << rows << "x" << cols << " scale " << i;
        EXPECT_EQ(q.values(), want_q) << name(g) << " " << rows << "x" << cols;
      }
}

// As for NVFP4: every element of a group but its max sits on or one ulp beside an E4M3 tie of
// x / s, where x * (1 / s) or any other reformulation of RN(x / s) would show.
TEST(QuantizeFp8, TiesAfterScalingMatchRecipe) {
  std::vector<float> ties;
  for (uint8_t c = 0; c < 0x7D; ++c)
    ties.push_back((e4m3_to_f32(c) + e4m3_to_f32(static_cast<uint8_t>(c + 1))) / 2);
  std::mt19937 rng(77);
  std::uniform_int_distribution<size_t> pick(0, ties.size() - 1);
  std::uniform_int_distribution<int> nudge(-1, 1), coin(0, 1), kind(0, 4);
  std::uniform_real_distribution<float> mag(-3.0f, 4.0f);
  auto step = [](float x, int k) { return k == 0 ? x : std::nextafter(x, k > 0 ? 1e30f : 0.0f); };
  for (Fp8Grouping g : {Fp8Grouping::Tensor, Fp8Grouping::Token128, Fp8Grouping::Block128})
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 300}, {129, 129}, {200, 127}}) {
      int64_t gr = g == Fp8Grouping::Tensor ? rows : g == Fp8Grouping::Token128 ? 1 : 128;
      int64_t gc = g == Fp8Grouping::Tensor ? cols : 128;
      std::vector<float> x(static_cast<size_t>(rows * cols));
      for (int64_t r0 = 0; r0 < rows; r0 += gr)
        for (int64_t c0 = 0; c0 < cols; c0 += gc) {
          // Some groups below the 1e-4 floor, where s no longer follows the group max.
          float amax =
              kind(rng) == 0 && g != Fp8Grouping::Tensor ? 3.7e-5f : std::pow(10.0f, mag(rng));
          float s = g == Fp8Grouping::Tensor ? rn_div(amax, 448.0f)
                                             : rn_div(std::max(amax, 1e-4f), 448.0f);
          for (int64_t r = r0; r < std::min(rows, r0 + gr); ++r)
            for (int64_t c = c0; c < std::min(cols, c0 + gc); ++c) {
              float e = std::min(step(rn_mul(ties[pick(rng)], s), nudge(rng)), amax);
              x[static_cast<size_t>(r * cols + c)] = coin(rng) ? -e : e;
            }
          x[static_cast<size_t>(r0 * cols + c0)] = amax;
        }
      std::vector<uint8_t> want_q, got_q(x.size());
      std::vector<float> want_s, got_s(static_cast<size_t>(fp8_scale_count(g, rows, cols)));
      oracle_fp8(x, rows, cols, g, want_q, want_s);
      quantize_fp8(x.data(), rows, cols, g, got_q.data(), got_s.data());
      ASSERT_EQ(got_s.size(), want_s.size());
      for (size_t i = 0; i < want_s.size(); ++i)
        ASSERT_EQ(bits(got_s[i]), bits(want_s[i])) << name(g) << " scale " << i;
      EXPECT_EQ(got_q, want_q) << name(g) << " " << rows << "x" << cols;
    }
}

TEST(DequantizeFp8, MatchesFormula) {
  std::mt19937 rng(41);
  std::uniform_int_distribution<int> code(0, 255);
  std::uniform_real_distribution<float> e(-30.0f, 10.0f);
  for (Fp8Grouping g : {Fp8Grouping::Tensor, Fp8Grouping::Token128, Fp8Grouping::Block128})
    for (int64_t rows : {1, 129, 200})
      for (int64_t cols : {1, 128, 300}) {
        std::vector<uint8_t> q(static_cast<size_t>(rows * cols));
        for (auto &v : q) {
          do
            v = static_cast<uint8_t>(code(rng));
          while (e4m3_is_nan(v));
        }
        std::vector<float> s(static_cast<size_t>(fp8_scale_count(g, rows, cols)));
        for (auto &v : s)
          v = std::exp2(e(rng));
        Guarded<float> y(q.size());
        dequantize_fp8(q.data(), s.data(), rows, cols, g, y.data());
        EXPECT_TRUE(y.guard_intact());
        std::vector<float> got = y.values();
        int64_t cg = ceil128(cols);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < cols; ++c) {
            size_t i = static_cast<size_t>(r * cols + c);
            int64_t si = g == Fp8Grouping::Tensor     ? 0
                         : g == Fp8Grouping::Token128 ? r * cg + c / 128
                                                      : (r / 128) * cg + c / 128;
            float want = rn_mul(e4m3_to_f32(q[i]), s[static_cast<size_t>(si)]);
            ASSERT_EQ(bits(got[i]), bits(want)) << name(g) << " (" << r << ", " << c << ")";
          }
      }
  std::vector<uint8_t> q = {0x7F, 0xFF, 0x38};
  std::vector<float> y(3), s = {2.0f};
  dequantize_fp8(q.data(), s.data(), 1, 3, Fp8Grouping::Tensor, y.data());
  EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[1]));
  EXPECT_EQ(y[2], 2.0f);
}

// Round trip: within half an E4M3 step of x / s, times s (no saturation: x / s <= 448 up to
// one rounding of the scale).
TEST(DequantizeFp8, RoundTripErrorBound) {
  for (Fp8Grouping g : {Fp8Grouping::Tensor, Fp8Grouping::Token128, Fp8Grouping::Block128}) {
    int64_t rows = 129, cols = 300;
    std::vector<float> x = fp8_data(rows, cols, 900 + static_cast<uint32_t>(g));
    std::vector<uint8_t> q(x.size());
    std::vector<float> s(static_cast<size_t>(fp8_scale_count(g, rows, cols))), y(x.size());
    quantize_fp8(x.data(), rows, cols, g, q.data(), s.data());
    dequantize_fp8(q.data(), s.data(), rows, cols, g, y.data());
    int64_t cg = ceil128(cols);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        size_t i = static_cast<size_t>(r * cols + c);
        int64_t si = g == Fp8Grouping::Tensor     ? 0
                     : g == Fp8Grouping::Token128 ? r * cg + c / 128
                                                  : (r / 128) * cg + c / 128;
        double sc = s[static_cast<size_t>(si)], ax = std::fabs(static_cast<double>(x[i]));
        double t = ax / sc;
        ASSERT_LE(t, 448.0 * (1 + 1e-6)) << name(g) << " " << i;
        double ulp = t < 0x1p-6 ? 0x1p-9 : std::ldexp(1.0, std::ilogb(t) - 3);
        double err = std::fabs(x[i] - static_cast<double>(y[i]));
        ASSERT_LE(err, 0.5 * ulp * sc + 1e-6 * ax + 1e-38) << name(g) << " " << i;
      }
  }
}

} // namespace
