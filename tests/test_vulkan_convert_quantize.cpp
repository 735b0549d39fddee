// The vulkan conversions, quantizers and dequantizers against the reference, byte for byte, on
// every Vulkan device: each launch function (called through its record) on random and
// adversarial inputs (format boundaries and ties, denormals, signed zeros, NaN payloads, division
// ties that an inexact divide would break), in the ".rte" builds where the device has
// RoundingModeRTE and in the integer-only builds (QuantizersWithoutRoundingModeRte).
// Skipped only when there is no Vulkan device. Sizes are chosen to keep lavapipe under ~20 s.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/overrides.h"
#include "host/src/backends.h"
#include "reference/formats.h"
#include "reference/quantize.h"
#include "variant_launch.h"
#include "vulkan_quantize_harness.h"

namespace {

using namespace tessera;
using namespace tessera::test;
using ref::Fp8Grouping;

// ---------------------------------------------------------------------------------------------
// Input generators.

// Every finite non-negative value of a format, ascending, plus the first value past its largest
// (so the midpoint above the maximum is tested too).
std::vector<double> grid(float (*decode)(uint8_t), int codes, double past_max) {
  std::set<double> g;
  for (int c = 0; c < codes; ++c) {
    float v = decode(static_cast<uint8_t>(c));
    if (std::isfinite(v) && v >= 0) g.insert(v);
  }
  g.insert(past_max);
  return {g.begin(), g.end()};
}

// Grid points and midpoints of E4M3, E5M2, E2M1, fp16 and bf16, each with its fp32 neighbours,
// both signs; fp32 specials, denormals and NaN payloads; and `random` random bit patterns.
std::vector<float> convert_inputs(size_t random, uint32_t seed) {
  std::vector<float> v;
  auto around = [&](double x) {
    float f = static_cast<float>(x); // exact: every grid point and midpoint fits in fp32
    for (float y : {f, std::nextafter(f, 0.0f), std::nextafter(f, INFINITY)}) {
      v.push_back(y);
      v.push_back(-y);
    }
  };
  auto add_grid = [&](const std::vector<double>& g) {
    for (size_t i = 0; i < g.size(); ++i) {
      around(g[i]);
      if (i + 1 < g.size()) around((g[i] + g[i + 1]) / 2);
    }
  };
  add_grid(grid(ref::e4m3_to_f32, 256, 480.0));
  add_grid(grid(ref::e5m2_to_f32, 256, 61440.0));
  add_grid(grid(ref::e2m1_to_f32, 16, 8.0));
  std::vector<double> f16;
  for (uint32_t h = 0; h < 0x7C00; ++h)
    f16.push_back(ref::f16_to_f32(static_cast<uint16_t>(h)));
  f16.push_back(65536.0);
  add_grid(f16);
  for (uint32_t h = 0; h < 0x10000; h += 1) { // bf16: ties sit at +0x8000 in the fp32 bits
    uint32_t b = h << 16;
    for (uint32_t d : {0x0u, 0x7FFFu, 0x8000u, 0x8001u})
      v.push_back(from_bits(b + d));
  }
  for (uint32_t s : {0x0u, 0x80000000u})
    for (uint32_t b : {0x0u, 0x1u, 0x2u, 0x3u, 0x3FFFFFu, 0x400000u, 0x7FFFFFu, 0x800000u,
                       0x800001u, 0x7F7FFFFFu, 0x7F800000u, 0x7F800001u, 0x7FA5A5A5u, 0x7FBFFFFFu,
                       0x7FC00000u, 0x7FC00001u, 0x7FFFFFFFu, 0x7FE00000u})
      v.push_back(from_bits(s | b));
  std::mt19937 rng(seed);
  for (size_t i = 0; i < random; ++i)
    v.push_back(from_bits(rng()));
  for (size_t i = 0; i < 4096; ++i)
    v.push_back(from_bits((rng() & 0x807FFFFFu))); // denormals, both signs
  return v;
}

float random_e4m3_value(std::mt19937& rng, uint32_t max_code = 0x7E) {
  return ref::e4m3_to_f32(static_cast<uint8_t>(1 + rng() % max_code));
}


// Blocks whose elements divide by the block's d exactly onto E2M1 tie points (0.25, 0.75, 1.25,
// 1.75, 2.5, 3.5, 5) and grid points, and block maxima that divide onto E4M3 midpoints: the
// codes depend on the quotient being exactly the tie, so an inexact division changes them.
// `s2` must be a power of two; with `dynamic` the largest block makes the dynamic scale_2 equal
// s2 (amax = 2688 s2, or 1536 s2 for 4over6).
std::vector<float> nvfp4_ties(int64_t rows, int64_t cols, float s2, bool four_over_six,
                              uint32_t seed) {
  static const float t[] = {0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 1.25f, 1.5f, 1.75f,
                            2.0f, 2.5f,  3.0f, 3.5f,  4.0f, 5.0f,  6.0f};
  std::mt19937 rng(seed);
  float top = four_over_six ? 256.0f : 448.0f;
  uint32_t top_code = four_over_six ? 0x78u : 0x7Eu; // 256 is 0x78
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (size_t b = 0; b < x.size() / 16; ++b) {
    float* xb = x.data() + 16 * b;
    float sv = b == 0 ? top : random_e4m3_value(rng, top_code);
    float d = sv * s2;
    bool midpoint_max = b != 0 && rng() % 4 == 0 && sv < top;
    for (int i = 0; i < 16; ++i) {
      float v = d * t[rng() % 15];
      if (rng() % 16 == 0) v = std::nextafter(v, rng() % 2 ? INFINITY : 0.0f);
      xb[i] = rng() % 2 ? -v : v;
    }
    if (midpoint_max) { // bamax / (6 s2) lands halfway between sv and the next E4M3 value
      float next = ref::e4m3_to_f32(static_cast<uint8_t>(ref::f32_to_e4m3(sv) + 1));
      xb[rng() % 16] = 6.0f * s2 * ((sv + next) / 2);
    } else {
      xb[rng() % 16] = (rng() % 2 ? -6.0f : 6.0f) * d;
    }
  }
  return x;
}

// FP8 data with per-row magnitudes over 2^-16..2^16, outliers, zero and sub-1e-4 groups.
std::vector<float> fp8_random(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> expo(-16.0f, 16.0f);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    float m = rng() % 11 == 0 ? 1e-7f : rng() % 13 == 0 ? 0.0f : std::exp2(expo(rng));
    for (int64_t c = 0; c < cols; ++c)
      x[static_cast<size_t>(r * cols + c)] = normal(rng) * m * (rng() % 97 == 0 ? 50.0f : 1.0f);
  }
  return x;
}

// Every group (row group of 128 for token128, 128x128 tile for block128, the tensor) gets
// amax = 448 * 2^k, so s = 2^k exactly, and elements s * (E4M3 grid point or midpoint): the
// quotients x / s are exact ties of the E4M3 grid.
std::vector<float> fp8_ties(int64_t rows, int64_t cols, Fp8Grouping g, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<double> e4 = grid(ref::e4m3_to_f32, 256, 480.0);
  e4.pop_back();
  std::vector<float> x(static_cast<size_t>(rows * cols));
  int64_t cg = (cols + 127) / 128;
  auto group = [&](int64_t r, int64_t c) {
    return g == Fp8Grouping::Tensor     ? 0
           : g == Fp8Grouping::Token128 ? r * cg + c / 128
                                        : (r / 128) * cg + c / 128;
  };
  std::vector<int> k(static_cast<size_t>(ref::fp8_scale_count(g, rows, cols)));
  for (auto& e : k)
    e = static_cast<int>(rng() % 24) - 12;
  std::vector<bool> has_max(k.size(), false);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      size_t gi = static_cast<size_t>(group(r, c));
      size_t j = rng() % (e4.size() - 1);
      double q = rng() % 2 ? e4[j] : (e4[j] + e4[j + 1]) / 2;
      float v = static_cast<float>(std::ldexp(q, k[gi]));
      if (!has_max[gi]) { // the group's first element carries its amax
        v = std::ldexp(448.0f, k[gi]);
        has_max[gi] = true;
      }
      x[static_cast<size_t>(r * cols + c)] = rng() % 2 ? -v : v;
    }
  return x;
}

// ---------------------------------------------------------------------------------------------
// One comparison per operation.

void check_convert(int dev, const std::vector<float>& x, Format f, const char* name) {
  size_t n = x.size(), width = (f == Format::BF16 || f == Format::F16) ? 2 : 1;
  std::vector<uint8_t> want(n * width);
  for (size_t i = 0; i < n; ++i) {
    switch (f) {
    case Format::E4M3: want[i] = ref::f32_to_e4m3(x[i]); break;
    case Format::E5M2: want[i] = ref::f32_to_e5m2(x[i]); break;
    case Format::E2M1: want[i] = ref::f32_to_e2m1(x[i]); break;
    case Format::BF16: {
      uint16_t h = ref::f32_to_bf16(x[i]);
      std::memcpy(&want[2 * i], &h, 2);
      break;
    }
    case Format::F16: {
      uint16_t h = ref::f32_to_f16(x[i]);
      std::memcpy(&want[2 * i], &h, 2);
      break;
    }
    }
  }
  Guarded<uint8_t> got(n * width);
  test::launch_vulkan(dev, "elementwise",
          detail::ConvertArgs{x.data(), static_cast<int64_t>(n), f, got.data()});
  EXPECT_TRUE(got.guards_intact()) << name;
  EXPECT_TRUE(same(got.values(), want, std::string("convert to ") + name));
}

void check_nvfp4(int dev, const std::vector<float>& x, int64_t rows, int64_t cols, bool fos,
                 std::optional<float> s2, const std::string& what) {
  size_t n = x.size();
  float s2_ref = s2 ? *s2 : ref::nvfp4_scale_2(x.data(), static_cast<int64_t>(n), fos);
  std::vector<uint8_t> q_ref(n / 2), s_ref(n / 16);
  if (fos)
    ref::quantize_nvfp4_4over6(x.data(), rows, cols, s2_ref, q_ref.data(), s_ref.data());
  else
    ref::quantize_nvfp4(x.data(), rows, cols, s2_ref, q_ref.data(), s_ref.data());
  Guarded<uint8_t> q(n / 2), s(n / 16);
  float s2_got = -1.0f;
  test::launch_vulkan(dev, "block16",
          detail::QuantizeNvfp4Args{x.data(), rows, cols, fos, s2, q.data(), s.data(), &s2_got});
  std::string tag =
      what + (fos ? " 4over6 " : " nvfp4 ") + std::to_string(rows) + "x" + std::to_string(cols);
  EXPECT_EQ(bits(s2_got), bits(s2_ref)) << tag << " scale_2";
  EXPECT_TRUE(q.guards_intact() && s.guards_intact()) << tag;
  EXPECT_TRUE(same(s.values(), s_ref, tag + " scale"));
  EXPECT_TRUE(same(q.values(), q_ref, tag + " q"));
}

void check_fp8(int dev, const std::vector<float>& x, int64_t rows, int64_t cols, Fp8Grouping g,
               const std::string& what) {
  size_t n = x.size(), ns = static_cast<size_t>(ref::fp8_scale_count(g, rows, cols));
  std::vector<uint8_t> q_ref(n);
  std::vector<float> s_ref(ns);
  ref::quantize_fp8(x.data(), rows, cols, g, q_ref.data(), s_ref.data());
  Guarded<uint8_t> q(n);
  Guarded<float> s(ns);
  test::launch_vulkan(dev, "group_amax", detail::QuantizeFp8Args{x.data(), rows, cols, g, q.data(), s.data()});
  std::string tag = what + " grouping " + std::to_string(static_cast<int>(g)) + " " +
                    std::to_string(rows) + "x" + std::to_string(cols);
  EXPECT_TRUE(q.guards_intact() && s.guards_intact()) << tag;
  EXPECT_TRUE(same(s.values(), s_ref, tag + " scales"));
  EXPECT_TRUE(same(q.values(), q_ref, tag + " q"));
}

// The comparisons of the NVFP4 and dequantizer tests, per device, so that they also run on the
// integer-only shader builds (QuantizersWithoutRoundingModeRte).
void nvfp4_cases(int dev) {
  uint32_t seed = 100;
  for (bool fos : {false, true})
    for (int64_t rows : {1, 3, 129})
      for (int64_t cols : {16, 48, 272}) {
        check_nvfp4(dev, nvfp4_random(rows, cols, ++seed), rows, cols, fos, std::nullopt, "random");
        check_nvfp4(dev, nvfp4_ties(rows, cols, 0.25f, fos, ++seed), rows, cols, fos, std::nullopt,
                    "ties, dynamic");
        check_nvfp4(dev, nvfp4_ties(rows, cols, 0x1p-12f, fos, ++seed), rows, cols, fos, 0x1p-12f,
                    "ties, static");
      }
  for (bool fos : {false, true}) {
    std::vector<float> x = nvfp4_random(33, 64, 7);
    check_nvfp4(dev, x, 33, 64, fos, 1e-6f, "static scale_2 saturating at 448");
    check_nvfp4(dev, x, 33, 64, fos, 1e30f, "static scale_2 clamping at 2^-9");
    check_nvfp4(dev, x, 33, 64, fos, 0.37f, "static scale_2");
    check_nvfp4(dev, x, 33, 64, fos, 3e-41f, "denormal static scale_2");
    check_nvfp4(dev, x, 33, 64, fos, 3e38f, "static scale_2 overflowing 6 * scale_2");
  }
}

// Magnitudes where fp32 runs out: denormal elements, negative denormals (E2M1 keeps their sign),
// -0.0, a tensor so small that the dynamic scale_2 underflows to 0 (codes then follow x / 0),
// values near the fp32 maximum, and mixtures.
void nvfp4_extreme_cases(int dev) {
  std::mt19937 rng(5);
  std::vector<std::vector<float>> cases;
  for (float scale : {1e-39f, 1e-42f, 1e-30f, 1e-20f, 3e37f}) {
    std::vector<float> x = nvfp4_random(5, 64, static_cast<uint32_t>(rng()));
    double amax = 0;
    for (float v : x)
      amax = std::max(amax, std::fabs(static_cast<double>(v)));
    for (float& v : x)
      v = static_cast<float>(v / amax * scale); // |x| <= scale
    cases.push_back(x);
  }
  std::vector<float> mixed = nvfp4_random(4, 48, 9);
  for (size_t i = 0; i < mixed.size(); i += 3)
    mixed[i] = from_bits((rng() & 0x807FFFFFu));
  mixed[1] = -0.0f;
  mixed[2] = -from_bits(1);
  cases.push_back(mixed);
  std::vector<float> zeros(64, 0.0f);
  zeros[5] = -0.0f;
  cases.push_back(zeros);
  for (size_t c = 0; c < cases.size(); ++c)
    for (bool fos : {false, true}) {
      int64_t cols = c == cases.size() - 2 ? 48 : 64,
              rows = static_cast<int64_t>(cases[c].size()) / cols;
      check_nvfp4(dev, cases[c], rows, cols, fos, std::nullopt,
                  "extreme case " + std::to_string(c));
      check_nvfp4(dev, cases[c], rows, cols, fos, 1e-40f,
                  "extreme case, denormal static, " + std::to_string(c));
    }
}

// Random codes (NaN scale codes included) and scale_2 values of every kind: normal, denormal,
// overflowing, infinite, NaN (quiet, signaling, negative), zeros, negative.
void dequantize_nvfp4_cases(int dev) {
  std::mt19937 rng(21);
  const float s2s[] = {1.0f,          0.37f,          3e-41f,
                       3e38f,         INFINITY,       -INFINITY,
                       std::nanf(""), -std::nanf(""), from_bits(0x7FA00001u),
                       0.0f,          -0.0f,          -2.5f,
                       1e-30f};
  for (int64_t rows : {1, 3, 129})
    for (int64_t cols : {16, 48, 272}) {
      size_t n = static_cast<size_t>(rows * cols);
      std::vector<uint8_t> q(n / 2), s(n / 16);
      for (auto& v : q)
        v = static_cast<uint8_t>(rng());
      for (auto& v : s)
        v = static_cast<uint8_t>(rng() % 8 == 0 ? (rng() % 2 ? 0x7F : 0xFF) : rng());
      for (float s2 : s2s) {
        std::vector<float> want(n);
        ref::dequantize_nvfp4(q.data(), s.data(), s2, rows, cols, want.data());
        Guarded<float> y(n);
        test::launch_vulkan(dev, "elementwise",
                detail::DequantizeNvfp4Args{q.data(), s.data(), s2, rows, cols, y.data()});
        EXPECT_TRUE(y.guards_intact());
        EXPECT_TRUE(same(y.values(), want,
                         "dequantize_nvfp4 " + std::to_string(rows) + "x" + std::to_string(cols) +
                             " scale_2 bits " + std::to_string(bits(s2))));
      }
    }
}

void dequantize_fp8_cases(int dev) {
  std::mt19937 rng(31);
  const float specials[] = {3e-41f,        0.0f,           -0.0f, INFINITY, -INFINITY,
                            std::nanf(""), -std::nanf(""), -3.0f, 3e38f,    1e-38f};
  for (Fp8Grouping g : {Fp8Grouping::Tensor, Fp8Grouping::Token128, Fp8Grouping::Block128})
    for (int64_t rows : {1, 127, 129, 300})
      for (int64_t cols : {1, 128, 129, 300}) {
        size_t n = static_cast<size_t>(rows * cols),
               ns = static_cast<size_t>(ref::fp8_scale_count(g, rows, cols));
        std::vector<uint8_t> q(n);
        for (auto& v : q)
          v = static_cast<uint8_t>(rng());
        std::vector<float> s(ns);
        for (auto& v : s)
          v = rng() % 4 == 0
                  ? specials[rng() % 10]
                  : std::exp2(static_cast<float>(static_cast<int>(rng() % 60) - 30)) * 1.37f;
        std::vector<float> want(n);
        ref::dequantize_fp8(q.data(), s.data(), rows, cols, g, want.data());
        Guarded<float> y(n);
        test::launch_vulkan(dev, "elementwise",
                detail::DequantizeFp8Args{q.data(), s.data(), rows, cols, g, y.data()});
        EXPECT_TRUE(y.guards_intact());
        EXPECT_TRUE(same(y.values(), want,
                         "dequantize_fp8 grouping " + std::to_string(static_cast<int>(g)) + " " +
                             std::to_string(rows) + "x" + std::to_string(cols)));
      }
}

} // namespace

TEST(VulkanRuntime, ConvertElementwiseMatchesReference) {
  REQUIRE_VULKAN_DEVICE();
  std::vector<float> x = convert_inputs(300000, 11);
  for (int dev = 0; dev < device_count(); ++dev) {
    SCOPED_TRACE(label(dev));
    check_convert(dev, x, Format::E4M3, "e4m3");
    check_convert(dev, x, Format::E5M2, "e5m2");
    check_convert(dev, x, Format::E2M1, "e2m1");
    check_convert(dev, x, Format::BF16, "bf16");
    check_convert(dev, x, Format::F16, "f16");
    for (size_t n : {size_t{1}, size_t{3}, size_t{5}}) // ragged tails of the packed words
      check_convert(dev, std::vector<float>(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n)),
                    Format::E4M3, "e4m3 short");
  }
}

TEST(VulkanRuntime, QuantizeNvfp4Block16MatchesReference) {
  REQUIRE_VULKAN_DEVICE();
  for (int dev = 0; dev < device_count(); ++dev) {
    SCOPED_TRACE(label(dev));
    nvfp4_cases(dev);
  }
}

TEST(VulkanRuntime, QuantizeNvfp4Block16ExtremeMagnitudes) {
  REQUIRE_VULKAN_DEVICE();
  for (int dev = 0; dev < device_count(); ++dev) {
    SCOPED_TRACE(label(dev));
    nvfp4_extreme_cases(dev);
  }
}

TEST(VulkanRuntime, QuantizeFp8GroupAmaxMatchesReference) {
  REQUIRE_VULKAN_DEVICE();
  const int64_t sizes[] = {1, 127, 128, 129, 300};
  for (int dev = 0; dev < device_count(); ++dev) {
    SCOPED_TRACE(label(dev));
    uint32_t seed = 500;
    for (Fp8Grouping g : {Fp8Grouping::Tensor, Fp8Grouping::Token128, Fp8Grouping::Block128}) {
      for (int64_t rows : sizes)
        for (int64_t cols : sizes)
          check_fp8(dev, fp8_random(rows, cols, ++seed), rows, cols, g, "random");
      for (auto [rows, cols] :
           {std::pair<int64_t, int64_t>{129, 300}, {300, 129}, {128, 128}, {1, 1}})
        check_fp8(dev, fp8_ties(rows, cols, g, ++seed), rows, cols, g, "ties");
    }
    // fp8-tensor when s = RN(amax / 448) is denormal or 0 (amax in the denormal range): zeros
    // then give 0/0, the x86 default NaN, whose sign E4M3 keeps (0xFF).
    for (uint32_t amax_bits : {0x1u, 0x100u, 0x3FFFu, 0x7FFFFFu}) {
      std::vector<float> x = {0.0f,          from_bits(1),         -0.0f,
                              -from_bits(1), from_bits(amax_bits), -from_bits(amax_bits / 2 + 1)};
      check_fp8(dev, x, 2, 3, Fp8Grouping::Tensor, "denormal amax");
      check_fp8(dev, x, 3, 2, Fp8Grouping::Token128, "denormal amax");
    }
  }
}

TEST(VulkanRuntime, DequantizeNvfp4ElementwiseMatchesReference) {
  REQUIRE_VULKAN_DEVICE();
  for (int dev = 0; dev < device_count(); ++dev) {
    SCOPED_TRACE(label(dev));
    dequantize_nvfp4_cases(dev);
  }
}

TEST(VulkanRuntime, DequantizeFp8ElementwiseMatchesReference) {
  REQUIRE_VULKAN_DEVICE();
  for (int dev = 0; dev < device_count(); ++dev) {
    SCOPED_TRACE(label(dev));
    dequantize_fp8_cases(dev);
  }
}


// The integer-only builds, which devices without RoundingModeRTE run, through the override that
// turns the capability off.
TEST(VulkanRuntime, QuantizersWithoutRoundingModeRte) {
  REQUIRE_VULKAN_DEVICE();
  struct Restore { // the later tests see the overrides as they were, even if this one throws
    Overrides saved = detail::current_overrides();
    ~Restore() { set_overrides(saved); }
  } restore;
  Overrides off = restore.saved;
  off.disabled.insert("cap:rounding_mode_rte");
  set_overrides(off);
  for (int dev = 0; dev < device_count(); ++dev) {
    SCOPED_TRACE(label(dev) + ", integer-only builds");
    nvfp4_cases(dev);
    nvfp4_extreme_cases(dev);
    dequantize_nvfp4_cases(dev);
    dequantize_fp8_cases(dev);
  }
}
