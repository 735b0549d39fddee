// What the Vulkan backend tests share (test_vulkan_runtime.cpp, test_vulkan_convert_quantize.cpp):
// the device list and the skip when there is none, byte comparison, outputs with guard bytes on
// both sides, and NVFP4 activation-like input.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "host/src/backends.h"

namespace tessera::test {

namespace vk = detail::vulkan;

#define REQUIRE_VULKAN_DEVICE()                                                                    \
  if (vk::devices().empty())                                                                       \
  GTEST_SKIP() << "no Vulkan device: no loader/ICD, or no device with Vulkan 1.1"

inline int device_count() { return static_cast<int>(vk::devices().size()); }
inline std::string label(int d) {
  return "vulkan:" + std::to_string(d) + " (" + vk::devices()[static_cast<size_t>(d)].name + ")";
}

inline uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }
inline float from_bits(uint32_t b) { return std::bit_cast<float>(b); }

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

// NVFP4 activations-like data: per-block magnitudes over 2^-12..2^12, outlier blocks, zeros and
// all-zero blocks.
inline std::vector<float> nvfp4_random(int64_t rows, int64_t cols, uint32_t seed) {
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

} // namespace tessera::test
