// What the OpenCL backend tests share (test_opencl_runtime.cpp, test_opencl_convert_quantize.cpp):
// the device list and the skip when there is none, a program cache under the build tree for
// every test, guarded outputs compared bit for bit, the NVFP4 and FP8 input generators, and the
// quantizers called on a device (through their records) and on the reference.
#pragma once

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "host/src/backends.h"
#include "reference/formats.h"
#include "reference/quantize.h"
#include "tessera/overrides.h"
#include "variant_launch.h"

namespace tessera::test {

namespace ocl = detail::opencl;
namespace fs = std::filesystem;

inline constexpr uint8_t kSentinel = 0xA5; // fills outputs, and guard bytes after them
inline constexpr size_t kGuard = 64;

inline int device_count() { return static_cast<int>(ocl::devices().size()); }

#define REQUIRE_OPENCL_DEVICE()                                                                    \
  if (device_count() == 0)                                                                         \
  GTEST_SKIP()                                                                                     \
      << "no OpenCL device: the backend is not built here, or there is no ICD / platform "         \
         "(install pocl-opencl-icd for a CPU device)"

// Every test uses its own cache directory under the build tree, never the user's ~/.cache.
inline fs::path test_cache_dir() { return fs::path(TESSERA_TEST_TMP) / "opencl_cache"; }
inline void use_test_overrides() {
  Overrides o;
  o.cache_dir = test_cache_dir().string();
  set_overrides(o);
}

class Environment : public ::testing::Environment {
public:
  void SetUp() override { use_test_overrides(); }
};
inline const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Environment);

inline uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }
inline float from_bits(uint32_t b) { return std::bit_cast<float>(b); }

// Output buffer of n elements followed by guard bytes, all set to the sentinel.
template <class T> std::vector<T> guarded(size_t n) {
  std::vector<T> v(n + kGuard / sizeof(T));
  std::memset(v.data(), kSentinel, v.size() * sizeof(T));
  return v;
}

template <class T>::testing::AssertionResult guard_intact(const std::vector<T>& v, size_t n) {
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());
  for (size_t i = n * sizeof(T); i < v.size() * sizeof(T); ++i)
    if (p[i] != kSentinel)
      return ::testing::AssertionFailure() << "write past the end at byte " << i;
  return ::testing::AssertionSuccess();
}

// Compares the first n elements bit for bit; names the first few differences and the input
// that produced them when `x` is given (one input per element).
template <class T>
::testing::AssertionResult same(const std::vector<T>& got, const std::vector<T>& want, size_t n,
                                const float* x = nullptr) {
  size_t bad = 0;
  std::string msg;
  for (size_t i = 0; i < n; ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(T)) == 0) continue;
    if (bad++ < 8) {
      uint64_t g = 0, w = 0;
      std::memcpy(&g, &got[i], sizeof(T));
      std::memcpy(&w, &want[i], sizeof(T));
      msg += fmt::format("\n  [{}] got 0x{:0{}X} want 0x{:0{}X}", i, g, 2 * sizeof(T), w,
                         2 * sizeof(T));
      if (x) msg += fmt::format(" for x = 0x{:08X} ({})", bits(x[i]), x[i]);
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << n << " elements differ:" << msg;
}

enum class Data { Random, Ties, Zeros, Denormals };
inline const char* data_name(Data d) {
  switch (d) {
  case Data::Random: return "random";
  case Data::Ties: return "ties";
  case Data::Zeros: return "zeros";
  case Data::Denormals: return "denormals";
  }
  return "?";
}

// NVFP4 inputs. Random: normals of a per-row magnitude, outlier blocks, all-zero blocks, signed
// zeros and negative denormals. Ties: each block is 2^k times values whose ratios to the block
// scale land exactly on E2M1 grid points and tie points (exact with scale_2 = 1).
inline std::vector<float> nvfp4_data(int64_t rows, int64_t cols, Data kind, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> x(static_cast<size_t>(rows * cols), 0.0f);
  if (kind == Data::Zeros) return x;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, 99);
  static constexpr float kTies[] = {0, 0.25f, 0.5f, 0.75f, 1, 1.25f, 1.5f, 1.75f,
                                    2, 2.5f,  3,    3.5f,  4, 5,     6};
  for (int64_t r = 0; r < rows; ++r) {
    float row_mag = std::ldexp(1.0f, static_cast<int>(rng() % 40) - 20);
    for (int64_t b = 0; b < cols / 16; ++b) {
      float* xb = x.data() + r * cols + b * 16;
      int k = static_cast<int>(rng() % 17) - 8, roll = pick(rng);
      for (int i = 0; i < 16; ++i) {
        float sign = (rng() & 1) ? -1.0f : 1.0f;
        switch (kind) {
        case Data::Random:
          xb[i] = roll < 5 ? 0.0f : normal(rng) * row_mag * (roll < 10 ? 100.0f : 1.0f);
          if (pick(rng) == 0) xb[i] = -0.0f;
          if (pick(rng) == 0)
            xb[i] = from_bits(0x80000000u | (static_cast<uint32_t>(rng()) & 0x7FFFFFu));
          break;
        case Data::Ties: xb[i] = sign * std::ldexp(kTies[rng() % std::size(kTies)], k); break;
        case Data::Denormals:
          xb[i] =
              from_bits((sign < 0 ? 0x80000000u : 0u) | (static_cast<uint32_t>(rng()) & 0x7FFFFFu));
          break;
        case Data::Zeros: break;
        }
      }
      if (kind == Data::Ties) xb[rng() % 16] = std::ldexp(6.0f, k); // block max 6 * 2^k: scale 2^k
    }
  }
  return x;
}

// FP8 inputs. Random: normals with a per-row magnitude, all-zero rows and outliers. Ties: every
// group holds 448 (so s = 1 for every recipe) and otherwise E4M3 midpoints and grid values.
inline std::vector<float> fp8_data(int64_t rows, int64_t cols, Data kind, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * cols), 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    float row_mag = std::ldexp(1.0f, static_cast<int>(rng() % 30) - 15);
    bool zero_row = rng() % 10 == 0;
    for (int64_t c = 0; c < cols; ++c) {
      float& v = x[static_cast<size_t>(r * cols + c)];
      if (kind == Data::Random) {
        v = zero_row ? 0.0f : normal(rng) * row_mag * (rng() % 50 == 0 ? 1000.0f : 1.0f);
      } else {
        uint8_t code = static_cast<uint8_t>(rng() % 0x7E);
        float lo = ref::e4m3_to_f32(code), hi = ref::e4m3_to_f32(static_cast<uint8_t>(code + 1));
        v = (rng() & 1) ? (lo + hi) / 2.0f : lo;
        if (rng() & 1) v = -v;
        if (c % 128 == 0) v = 448.0f;
      }
    }
  }
  return x;
}

// ---- callers of the backend ---------------------------------------------------------------

template <class T> std::vector<T> device_convert(int dev, const std::vector<float>& x, Format f) {
  std::vector<T> y = guarded<T>(x.size());
  launch_opencl(dev, "elementwise",
           detail::ConvertArgs{x.data(), static_cast<int64_t>(x.size()), f, y.data()});
  EXPECT_TRUE(guard_intact(y, x.size()));
  return y;
}

struct Nvfp4Out {
  std::vector<uint8_t> q, scale;
  float scale_2 = 0.0f;
};

inline Nvfp4Out device_nvfp4(int dev, const std::vector<float>& x, int64_t rows, int64_t cols, bool fos,
                      std::optional<float> fixed) {
  Nvfp4Out o{guarded<uint8_t>(static_cast<size_t>(rows * cols / 2)),
             guarded<uint8_t>(static_cast<size_t>(rows * cols / 16)), -1.0f};
  launch_opencl(dev, "block16",
           detail::QuantizeNvfp4Args{x.data(), rows, cols, fos, fixed, o.q.data(), o.scale.data(),
                                     &o.scale_2});
  EXPECT_TRUE(guard_intact(o.q, static_cast<size_t>(rows * cols / 2)));
  EXPECT_TRUE(guard_intact(o.scale, static_cast<size_t>(rows * cols / 16)));
  return o;
}

inline Nvfp4Out ref_nvfp4(const std::vector<float>& x, int64_t rows, int64_t cols, bool fos,
                   std::optional<float> fixed) {
  Nvfp4Out o{guarded<uint8_t>(static_cast<size_t>(rows * cols / 2)),
             guarded<uint8_t>(static_cast<size_t>(rows * cols / 16)), 0.0f};
  o.scale_2 = fixed ? *fixed : ref::nvfp4_scale_2(x.data(), rows * cols, fos);
  (fos ? ref::quantize_nvfp4_4over6 : ref::quantize_nvfp4)(x.data(), rows, cols, o.scale_2,
                                                           o.q.data(), o.scale.data());
  return o;
}

struct Fp8Out {
  std::vector<uint8_t> q;
  std::vector<float> scales;
};

inline Fp8Out device_fp8(int dev, const std::vector<float>& x, int64_t rows, int64_t cols,
                  ref::Fp8Grouping g) {
  size_t ns = static_cast<size_t>(ref::fp8_scale_count(g, rows, cols));
  Fp8Out o{guarded<uint8_t>(x.size()), guarded<float>(ns)};
  launch_opencl(dev, "group_amax",
           detail::QuantizeFp8Args{x.data(), rows, cols, g, o.q.data(), o.scales.data()});
  EXPECT_TRUE(guard_intact(o.q, x.size()));
  EXPECT_TRUE(guard_intact(o.scales, ns));
  return o;
}

inline Fp8Out ref_fp8(const std::vector<float>& x, int64_t rows, int64_t cols, ref::Fp8Grouping g) {
  Fp8Out o{std::vector<uint8_t>(x.size()),
           std::vector<float>(static_cast<size_t>(ref::fp8_scale_count(g, rows, cols)))};
  ref::quantize_fp8(x.data(), rows, cols, g, o.q.data(), o.scales.data());
  return o;
}

inline const char* grouping_name(ref::Fp8Grouping g) {
  switch (g) {
  case ref::Fp8Grouping::Tensor: return "fp8-tensor";
  case ref::Fp8Grouping::Token128: return "fp8-token128";
  case ref::Fp8Grouping::Block128: return "fp8-block128";
  }
  return "?";
}
inline constexpr ref::Fp8Grouping kGroupings[] = {ref::Fp8Grouping::Tensor, ref::Fp8Grouping::Token128,
                                           ref::Fp8Grouping::Block128};
} // namespace tessera::test
