// The vulkan backend against the reference, byte for byte, on every Vulkan device: each launch
// function (called through its record) on random and adversarial inputs (format boundaries and
// ties, denormals, signed zeros, NaN payloads, division ties that an inexact divide would break),
// the correctly rounded fp32 operations of kernels/common/fp32_rn.glsl on their own, refusals
// (non-finite input; an unknown variant is never offered) that leave outputs untouched, timing,
// determinism and threads sharing a device.
// Skipped only when there is no Vulkan device. Sizes are chosen to keep lavapipe under ~20 s.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <iostream>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "host/src/backends.h"
#include "core/overrides.h"
#include "dispatch/registry.h"
#include "host/src/validate.h"
#include "host/src/vulkan/testing.h"
#include "reference/formats.h"
#include "reference/quantize.h"
#include "variant_launch.h"

namespace {

using namespace tessera;
using detail::BackendFailure;
using ref::Fp8Grouping;
namespace vk = detail::vulkan;

#define REQUIRE_VULKAN_DEVICE()                                                                    \
  if (vk::devices().empty())                                                                       \
  GTEST_SKIP() << "no Vulkan device: no loader/ICD, or no device with Vulkan 1.1"

int device_count() { return static_cast<int>(vk::devices().size()); }
std::string label(int d) {
  return "vulkan:" + std::to_string(d) + " (" + vk::devices()[static_cast<size_t>(d)].name + ")";
}

uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }
float from_bits(uint32_t b) { return std::bit_cast<float>(b); }

// Equal bytes, or the first difference with both values in hex.
template <class T>
::testing::AssertionResult same(const std::vector<T>& got, const std::vector<T>& want,
                                const std::string& what) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure()
           << what << ": size " << got.size() << " vs " << want.size();
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) {
      uint64_t g = 0, w = 0;
      std::memcpy(&g, &got[i], sizeof(T));
      std::memcpy(&w, &want[i], sizeof(T));
      return ::testing::AssertionFailure() << what << ": first difference at " << i << ": got 0x"
                                           << std::hex << g << ", reference 0x" << w;
    }
  return ::testing::AssertionSuccess();
}

// An output with guard bytes on both sides: a kernel writing out of bounds changes them.
template <class T> struct Guarded {
  static constexpr size_t kGuard = 64;
  std::vector<T> buf;
  size_t n;
  explicit Guarded(size_t count, uint8_t fill = 0xA5) : buf(count + 2 * kGuard), n(count) {
    std::memset(buf.data(), fill, buf.size() * sizeof(T));
  }
  T* data() { return buf.data() + kGuard; }
  std::vector<T> values() const {
    return {buf.begin() + kGuard, buf.begin() + static_cast<std::ptrdiff_t>(kGuard + n)};
  }
  bool untouched(uint8_t fill = 0xA5) const {
    const auto* p = reinterpret_cast<const uint8_t*>(buf.data());
    return std::all_of(p, p + buf.size() * sizeof(T), [&](uint8_t b) { return b == fill; });
  }
  bool guards_intact(uint8_t fill = 0xA5) const {
    const auto* p = reinterpret_cast<const uint8_t*>(buf.data());
    size_t g = kGuard * sizeof(T), all = buf.size() * sizeof(T);
    return std::all_of(p, p + g, [&](uint8_t b) { return b == fill; }) &&
           std::all_of(p + all - g, p + all, [&](uint8_t b) { return b == fill; });
  }
};

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

// NVFP4 activations-like data: per-block magnitudes over 2^-12..2^12, outlier blocks, zeros and
// all-zero blocks.
std::vector<float> nvfp4_random(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> expo(-12.0f, 12.0f);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (size_t b = 0; b < x.size() / 16; ++b) {
    float m = std::exp2(expo(rng)) * (rng() % 17 == 0 ? 100.0f : 1.0f);
    bool zero_block = rng() % 23 == 0;
    for (size_t i = 16 * b; i < 16 * b + 16; ++i)
      x[i] = zero_block || rng() % 13 == 0 ? 0.0f : normal(rng) * m;
  }
  return x;
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

// fp32 operands for the fp32_rn checks: random bit patterns, and pairs steered into the hard
// places: quotients and products near the subnormal range and overflow, denormal operands,
// nearly cancelling sums, exactly representable quotients and their neighbours.
void fp32_pairs(std::vector<uint32_t>& a, std::vector<uint32_t>& b, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  auto with_exp = [&](int e) {
    return (rng() & 0x807FFFFFu) | (static_cast<uint32_t>(std::clamp(e, 0, 254)) << 23);
  };
  for (size_t i = 0; i < n; ++i) {
    uint32_t x = rng(), y = rng();
    switch (i % 8) {
    case 0: break; // anything, specials included
    case 1: { // quotient or product exponent near the bottom: subnormal and underflowing results
      int ex = 1 + static_cast<int>(rng() % 254);
      x = with_exp(ex);
      y = with_exp(ex + 100 + static_cast<int>(rng() % 60));
      if (rng() % 2) y = with_exp(127 - 100 - static_cast<int>(rng() % 60) - ex + 127);
      break;
    }
    case 2: { // near overflow
      int ex = 127 + static_cast<int>(rng() % 128);
      x = with_exp(ex);
      y = with_exp(rng() % 2 ? ex - 127 - static_cast<int>(rng() % 4) + 127 - 1
                             : 254 - ex + 127 + static_cast<int>(rng() % 4) - 2);
      break;
    }
    case 3: // denormal operands
      x = rng() & 0x807FFFFFu;
      if (rng() % 2) y = rng() & 0x807FFFFFu;
      break;
    case 4: { // nearly equal magnitudes: cancellation in add/sub, quotients near 1
      x = with_exp(static_cast<int>(rng() % 255));
      y = (x ^ (rng() % 2 ? 0x80000000u : 0u)) + (rng() % 16) - 8;
      break;
    }
    case 5: { // exact quotients and products of short significands, and their neighbours
      float q = static_cast<float>(rng() % 4096 + 1) *
                std::exp2(static_cast<float>(static_cast<int>(rng() % 40) - 20));
      float yy = static_cast<float>(rng() % 4096 + 1) *
                 std::exp2(static_cast<float>(static_cast<int>(rng() % 200) - 100));
      x = bits(q * yy) + (rng() % 3) - 1;
      y = bits(yy);
      break;
    }
    case 6: { // operands a few binades apart (alignment shifts 0..40)
      int ex = 1 + static_cast<int>(rng() % 200);
      x = with_exp(ex);
      y = with_exp(ex - static_cast<int>(rng() % 41));
      break;
    }
    default: // tiny normal and subnormal around the boundary
      x = with_exp(static_cast<int>(rng() % 4));
      y = with_exp(static_cast<int>(rng() % 4));
      break;
    }
    a.push_back(x);
    b.push_back(y);
  }
}

float host_op(vk::Fp32Op op, float x, float y) {
  switch (op) {
  case vk::Fp32Op::Div: return x / y;
  case vk::Fp32Op::Mul: return x * y;
  case vk::Fp32Op::Add: return x + y;
  default: return x - y;
  }
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

TEST(VulkanRuntime, ProbeFacts) {
  REQUIRE_VULKAN_DEVICE();
  for (const DeviceFacts& f : vk::devices()) {
    EXPECT_EQ(f.backend, "vulkan");
    EXPECT_FALSE(f.name.empty());
    EXPECT_TRUE(f.device_type == "cpu" || f.device_type == "gpu") << f.device_type;
    EXPECT_TRUE(f.compute_capability.empty()) << "Vulkan reports no compute capability";
    EXPECT_GT(f.max_workgroup_size, 0);
    EXPECT_GT(f.local_memory_bytes, 0);
    EXPECT_GT(f.subgroup_size, 0);
    EXPECT_FALSE(f.extensions.empty());
    std::cout << "[ facts    ] " << f.name << ": vendor 0x" << std::hex << f.vendor_id
              << " device 0x" << f.device_id.value_or(0) << std::dec << ", " << f.device_type
              << ", driver " << f.driver_version << ", subgroup " << f.subgroup_size
              << ", workgroup " << f.max_workgroup_size << ", shared " << f.local_memory_bytes
              << " B, fp64 " << f.fp64 << "\n";
  }
  EXPECT_EQ(&vk::devices(), &vk::devices()) << "probed once";
  EXPECT_TRUE(vk::built());
}

// div_rn, mul_rn, add_rn and sub_rn against the host's IEEE operations, in every build: integers
// only, with RoundingModeRTE and the hardware on the normal range (where the device has it), and
// div_rn with its hardware estimate made inexact on purpose (12 ulps, worse than Vulkan's 2.5).
// NaN results must be bit-exact too (x86 rules: the first NaN operand made quiet; invalid
// operations 0xFFC00000), except when both operands are NaN, where compilers may swap the
// operands of the host's operation.
TEST(VulkanRuntime, Fp32RnMatchesHostIeee) {
  REQUIRE_VULKAN_DEVICE();
  std::vector<uint32_t> a, b;
  fp32_pairs(a, b, 3 << 19, 7);
  for (int dev = 0; dev < device_count(); ++dev) {
    SCOPED_TRACE(label(dev));
    for (vk::Fp32Build build :
         {vk::Fp32Build::Soft, vk::Fp32Build::Rte, vk::Fp32Build::InexactDiv}) {
      if (build == vk::Fp32Build::Rte && !vk::has_rounding_mode_rte(dev)) continue;
      for (vk::Fp32Op op : {vk::Fp32Op::Div, vk::Fp32Op::Mul, vk::Fp32Op::Add, vk::Fp32Op::Sub}) {
        if (build == vk::Fp32Build::InexactDiv && op != vk::Fp32Op::Div) continue;
        std::vector<uint32_t> r(a.size());
        vk::run_fp32_rn_test(dev, build, op, a.data(), b.data(), r.data(), a.size());
        std::string what = "build " + std::to_string(static_cast<int>(build)) + " op " +
                           std::to_string(static_cast<int>(op));
        size_t bad = 0;
        for (size_t i = 0; i < a.size(); ++i) {
          float x = from_bits(a[i]), y = from_bits(b[i]);
          uint32_t want = bits(host_op(op, x, y));
          bool ok = r[i] == want;
          if (std::isnan(x) && std::isnan(y))
            ok = r[i] == (a[i] | 0x400000u) || r[i] == (b[i] | 0x400000u);
          if (!ok && ++bad <= 5)
            ADD_FAILURE() << what << std::hex << ": 0x" << a[i] << ", 0x" << b[i] << " gave 0x"
                          << r[i] << ", IEEE 0x" << want;
        }
        EXPECT_EQ(bad, 0u) << what << " over " << a.size() << " pairs";
      }
    }
  }
}

// What the hardware itself does, for the record (docs): whether it flushes fp32 denormals and
// how often its division differs from IEEE. Nothing here is asserted: the kernels do not rely
// on either.
TEST(VulkanRuntime, HardwareFp32Behaviour) {
  REQUIRE_VULKAN_DEVICE();
  std::vector<uint32_t> a, b;
  fp32_pairs(a, b, 1 << 18, 8);
  std::vector<uint32_t> da = {0x00000001u, 0x00400000u, 0x80000003u, 0x00800000u},
                        db(4, bits(1.0f)), dr(4);
  for (int dev = 0; dev < device_count(); ++dev) {
    vk::run_fp32_rn_test(dev, vk::Fp32Build::Soft, vk::Fp32Op::HwMul, da.data(), db.data(),
                         dr.data(), da.size());
    bool flushes = dr[0] == 0 || dr[1] == 0;
    std::vector<uint32_t> r(a.size());
    vk::run_fp32_rn_test(dev, vk::Fp32Build::Soft, vk::Fp32Op::HwDiv, a.data(), b.data(), r.data(),
                         a.size());
    size_t differ = 0, normal = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      float q = from_bits(a[i]) / from_bits(b[i]);
      if (std::isnormal(q)) {
        ++normal;
        differ += r[i] != bits(q);
      }
    }
    std::cout << "[ hardware ] " << label(dev) << ": fp32 denormals "
              << (flushes ? "flushed" : "kept") << " by OpFMul; OpFDiv differs from IEEE on "
              << differ << " of " << normal << " normal quotients; RoundingModeRTE for fp32: "
              << (vk::has_rounding_mode_rte(dev) ? "yes" : "no") << "\n";
  }
}

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

// The device's own non-finite check: the same error as the host check (code and message, which
// names the first offending index), and no output written.
TEST(VulkanRuntime, NonFiniteInputIsRefusedWithHostMessage) {
  REQUIRE_VULKAN_DEVICE();
  const int64_t rows = 300, cols = 304;
  std::vector<float> x = nvfp4_random(rows, cols, 77);
  x[static_cast<size_t>(130 * cols)] = std::nanf(""); // tile (1, 0)
  x[200] = INFINITY;                                  // tile (0, 1): first in flat order
  x[250] = -INFINITY;
  x[static_cast<size_t>(299 * cols + 3)] = -std::nanf("");
  std::string want;
  try {
    detail::check_finite("quantize_nvfp4", "x", x.data(), {rows, cols});
  } catch (const Error& e) {
    want = e.what();
  }
  ASSERT_NE(want.find("[0, 200]"), std::string::npos) << want;
  auto expect_refusal = [&](const std::string& op, auto&& call) {
    try {
      call();
      ADD_FAILURE() << op << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::NonFinite) << op;
      std::string w = want;
      w.replace(0, std::string("quantize_nvfp4").size(), op);
      EXPECT_EQ(std::string(e.what()), w);
    }
  };
  for (int dev = 0; dev < device_count(); ++dev) {
    SCOPED_TRACE(label(dev));
    for (bool fos : {false, true}) {
      Guarded<uint8_t> q(x.size() / 2), s(x.size() / 16);
      float s2 = 12345.0f;
      expect_refusal("quantize_nvfp4", [&] {
        test::launch_vulkan(dev, "block16",
                detail::QuantizeNvfp4Args{x.data(), rows, cols, fos, std::nullopt, q.data(),
                                          s.data(), &s2});
      });
      EXPECT_TRUE(q.untouched() && s.untouched());
      EXPECT_EQ(s2, 12345.0f);
    }
    for (Fp8Grouping g : {Fp8Grouping::Tensor, Fp8Grouping::Token128, Fp8Grouping::Block128}) {
      Guarded<uint8_t> q(x.size());
      Guarded<float> s(static_cast<size_t>(ref::fp8_scale_count(g, rows, cols)));
      expect_refusal("quantize_fp8", [&] {
        test::launch_vulkan(dev, "group_amax",
                detail::QuantizeFp8Args{x.data(), rows, cols, g, q.data(), s.data()});
      });
      EXPECT_TRUE(q.untouched() && s.untouched());
    }
  }
}

// A name no record has is never offered, and forcing it is Unsupported naming it: nothing
// launches a kernel by name any more. An unknown device index is still a BackendFailure.
TEST(VulkanRuntime, UnknownVariantIsNeverOfferedAndUnknownDeviceIsABackendFailure) {
  REQUIRE_VULKAN_DEVICE();
  const dispatch::DeviceRef* dev0 = nullptr;
  for (const dispatch::DeviceRef& d : dispatch::devices())
    if (d.backend == "vulkan" && d.index == 0) dev0 = &d;
  ASSERT_NE(dev0, nullptr);
  const std::pair<std::string_view, std::string_view> unknown[] = {
      {"convert", "no_such_variant"}, {"quantize_nvfp4", "no_such_variant"}, {"dequantize_nvfp4", "block16"},
      {"quantize_fp8", "elementwise"}, {"dequantize_fp8", "group_amax"}};
  for (const auto& [op, name] : unknown) {
    SCOPED_TRACE(std::string(op) + " '" + std::string(name) + "'");
    const dispatch::Problem p{op, {{"rows", 2}, {"cols", 16}}};
    for (const dispatch::Verdict& v : dispatch::explain(op, *dev0, p)) EXPECT_NE(v.variant->name, name);
    try {
      dispatch::select(op, p, RunOptions{"vulkan", 0, std::string(name)});
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Unsupported);
      EXPECT_NE(std::string(e.what()).find("'" + std::string(name) + "'"), std::string::npos) << e.what();
    }
  }
  std::vector<float> x(32, 1.0f);
  Guarded<uint8_t> q(32);
  EXPECT_THROW(test::launch_vulkan(device_count(), "elementwise",
                                   detail::ConvertArgs{x.data(), 32, Format::E4M3, q.data()}),
               BackendFailure);
  EXPECT_TRUE(q.untouched());
}

TEST(VulkanRuntime, EmptyTensorsAndDeviceTime) {
  REQUIRE_VULKAN_DEVICE();
  float s2 = 0, scale = 0;
  test::launch_vulkan(0, "block16",
          detail::QuantizeNvfp4Args{nullptr, 0, 16, false, std::nullopt, nullptr, nullptr, &s2});
  EXPECT_EQ(s2, 1.0f);
  test::launch_vulkan(0, "group_amax",
          detail::QuantizeFp8Args{nullptr, 0, 5, Fp8Grouping::Tensor, nullptr, &scale});
  EXPECT_EQ(scale, 1.0f);
  test::launch_vulkan(0, "elementwise", detail::ConvertArgs{nullptr, 0, Format::F16, nullptr});
  EXPECT_EQ(vk::last_device_ms(), 0.0);
  for (int dev = 0; dev < device_count(); ++dev) {
    std::vector<float> x = nvfp4_random(64, 256, 3);
    std::vector<uint8_t> q(x.size() / 2), s(x.size() / 16);
    test::launch_vulkan(
        dev, "block16",
        detail::QuantizeNvfp4Args{x.data(), 64, 256, true, std::nullopt, q.data(), s.data(), &s2});
    double ms = vk::last_device_ms();
    EXPECT_GE(ms, 0.0);
    EXPECT_TRUE(std::isfinite(ms));
    std::cout << "[ timing   ] " << label(dev) << ": quantize_nvfp4 4over6 64x256 " << ms
              << " ms device\n";
  }
}

TEST(VulkanRuntime, Deterministic) {
  REQUIRE_VULKAN_DEVICE();
  std::vector<float> x = nvfp4_random(129, 272, 41);
  for (int dev = 0; dev < device_count(); ++dev) {
    SCOPED_TRACE(label(dev));
    std::vector<uint8_t> q0(x.size() / 2), s0(x.size() / 16), f0(x.size());
    std::vector<float> fs0(2 * 3);
    float s2 = 0;
    test::launch_vulkan(dev, "block16",
            detail::QuantizeNvfp4Args{x.data(), 129, 272, true, std::nullopt, q0.data(), s0.data(),
                                      &s2});
    test::launch_vulkan(
        dev, "group_amax",
        detail::QuantizeFp8Args{x.data(), 129, 272, Fp8Grouping::Block128, f0.data(), fs0.data()});
    for (int rep = 0; rep < 3; ++rep) {
      std::vector<uint8_t> q(q0.size()), s(s0.size()), f(f0.size());
      std::vector<float> fs(fs0.size());
      test::launch_vulkan(dev, "block16",
              detail::QuantizeNvfp4Args{x.data(), 129, 272, true, std::nullopt, q.data(), s.data(),
                                        &s2});
      test::launch_vulkan(
          dev, "group_amax",
          detail::QuantizeFp8Args{x.data(), 129, 272, Fp8Grouping::Block128, f.data(), fs.data()});
      EXPECT_EQ(q, q0);
      EXPECT_EQ(s, s0);
      EXPECT_EQ(f, f0);
      EXPECT_TRUE(same(fs, fs0, "fp8 scales"));
    }
  }
}

// Four threads on one device, each running its own operations and checking its own results:
// the device mutex must keep uploads, dispatches and readbacks of different runs apart.
TEST(VulkanRuntime, ThreadsShareOneDevice) {
  REQUIRE_VULKAN_DEVICE();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<float> x = nvfp4_random(48, 160, 900 + static_cast<uint32_t>(t));
      std::vector<uint8_t> q_ref(x.size() / 2), s_ref(x.size() / 16), c_ref(x.size()),
          f_ref(x.size());
      std::vector<float> fs_ref(48 * 2);
      ref::quantize_nvfp4(x.data(), 48, 160,
                          ref::nvfp4_scale_2(x.data(), static_cast<int64_t>(x.size()), false),
                          q_ref.data(), s_ref.data());
      ref::quantize_fp8(x.data(), 48, 160, Fp8Grouping::Token128, f_ref.data(), fs_ref.data());
      for (size_t i = 0; i < x.size(); ++i)
        c_ref[i] = ref::f32_to_e5m2(x[i]);
      try {
        for (int rep = 0; rep < 6; ++rep) {
          std::vector<uint8_t> q(q_ref.size()), s(s_ref.size()), c(c_ref.size()), f(f_ref.size());
          std::vector<float> fs(fs_ref.size());
          float s2 = 0;
          test::launch_vulkan(0, "block16",
                  detail::QuantizeNvfp4Args{x.data(), 48, 160, false, std::nullopt, q.data(),
                                            s.data(), &s2});
          test::launch_vulkan(0, "elementwise",
                  detail::ConvertArgs{x.data(), static_cast<int64_t>(x.size()), Format::E5M2,
                                      c.data()});
          test::launch_vulkan(0, "group_amax",
                  detail::QuantizeFp8Args{x.data(), 48, 160, Fp8Grouping::Token128, f.data(),
                                          fs.data()});
          if (q != q_ref || s != s_ref || c != c_ref || f != f_ref ||
              std::memcmp(fs.data(), fs_ref.data(), fs.size() * 4) != 0)
            ++failures;
          if (!(vk::last_device_ms() >= 0.0)) ++failures;
        }
      } catch (const std::exception&) {
        ++failures;
      }
    });
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(failures.load(), 0);
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
