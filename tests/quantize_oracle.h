// What the reference quantizer tests share (test_quantize.cpp, test_quantize_fp8.cpp): the spec's
// RN operations evaluated in double, so that the oracles there take an evaluation path
// independent of the reference's fp32 expressions, and an output buffer with guard bytes.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace tessera::test {

// The spec's RN operations, evaluated in double and rounded once to fp32. For + - * / double
// has more than 2 * 24 + 2 bits, so this double rounding always equals the single fp32 RN: an
// evaluation path independent of the reference's fp32 expressions, with the same bits.
inline float rn_div(float a, float b) { return static_cast<float>(static_cast<double>(a) / b); }
inline float rn_mul(float a, float b) { return static_cast<float>(static_cast<double>(a) * b); }
inline float rn_add(float a, float b) { return static_cast<float>(static_cast<double>(a) + b); }
inline float rn_sub(float a, float b) { return static_cast<float>(static_cast<double>(a) - b); }

inline uint32_t bits(float x) { return std::bit_cast<uint32_t>(x); }

inline constexpr uint8_t kGuard = 0xA5;
inline constexpr size_t kGuardBytes = 64;

// An output buffer with guard bytes after it, so that a write past the end shows.
template <class T> struct Guarded {
  std::vector<uint8_t> raw;
  size_t n;
  explicit Guarded(size_t count) : raw(count * sizeof(T) + kGuardBytes, kGuard), n(count) {}
  T *data() { return reinterpret_cast<T *>(raw.data()); }
  std::vector<T> values() const {
    std::vector<T> v(n);
    if (n) std::memcpy(v.data(), raw.data(), n * sizeof(T));
    return v;
  }
  bool guard_intact() const {
    return std::all_of(raw.begin() + static_cast<std::ptrdiff_t>(n * sizeof(T)), raw.end(),
                       [](uint8_t b) { return b == kGuard; });
  }
};

} // namespace tessera::test
