// The conformance harness shared by the per-operation case files (tests/conformance/cases_*.cpp):
// guarded outputs, the two comparisons of numerics.md section 7 (exact: equal bytes; bounded:
// relative L2 within the variant's declared bound, NaN never passing) and input generators.
// test_conformance.cpp registers every case for every (device, variant) at run time.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "dispatch/registry.h"
#include "tessera/ops.h"
#include "test_util.h"

namespace tessera::conformance {

inline bool large() {
  const char* s = std::getenv("TESSERA_TEST_SIZE");
  return s && std::string(s) == "large";
}

// An output buffer with guard bytes on both sides: a kernel that writes out of bounds is caught.
struct Guarded {
  static constexpr size_t kGuard = 64;
  std::vector<std::byte> bytes;
  TensorView view;
  Guarded(DType t, Shape s) {
    size_t n = static_cast<size_t>(shape_numel(s)) * dtype_size(t);
    bytes.assign(n + 2 * kGuard, std::byte{0xCD});
    view = TensorView{t, std::move(s), bytes.data() + kGuard, n};
  }
  bool guards_intact() const {
    for (size_t i = 0; i < kGuard; ++i)
      if (bytes[i] != std::byte{0xCD} || bytes[bytes.size() - 1 - i] != std::byte{0xCD}) return false;
    return true;
  }
  std::vector<std::byte> payload() const { return {bytes.begin() + kGuard, bytes.end() - kGuard}; }
};

// Inputs with the features that break quantizers: outlier blocks, all-zero blocks, tiny blocks,
// values on rounding ties, negative zeros.
inline std::vector<float> adversarial(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (auto& v : x) v = normal(rng);
  for (int64_t b = 0; b * 16 < rows * cols; ++b) {
    size_t at = static_cast<size_t>(b * 16);
    switch (rng() % 8) {
    case 0: x[at + rng() % std::min<size_t>(16, x.size() - at)] = 300.0f * normal(rng); break; // outlier
    case 1: std::fill(x.begin() + at, x.begin() + std::min(x.size(), at + 16), 0.0f); break;
    case 2:
      for (size_t i = at; i < std::min(x.size(), at + 16); ++i) x[i] *= 1e-7f;
      break;
    case 3:
      for (size_t i = at; i < std::min(x.size(), at + 16); ++i) x[i] = 0.25f * static_cast<float>(static_cast<int>(rng() % 49) - 24);
      break;
    case 4: x[at] = -0.0f; break;
    default: break;
    }
  }
  return x;
}

struct Case {
  std::string name;
  std::function<void(const RunOptions&)> run_and_compare;
  std::map<std::string, int64_t, std::less<>> dims = {}; // what the registry selects on; {} for elementwise ops
};

template <class F>
void expect_same_bytes(const RunOptions& device, F&& run) {
  // `run(options, outputs)` fills guarded outputs; the reference run is the oracle.
  std::vector<Guarded> got, want;
  run(device, got);
  run(RunOptions{"cpu", 0, ""}, want);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(got[i].guards_intact()) << "output " << i << " written out of bounds";
    auto a = got[i].payload(), b = want[i].payload();
    size_t first = 0;
    while (first < a.size() && a[first] == b[first]) ++first;
    EXPECT_EQ(first, a.size()) << "output " << i << " differs from the reference first at byte " << first << " of " << a.size();
  }
}

inline std::vector<uint8_t> random_bytes(size_t n, uint32_t seed, bool allow_e4m3_nan) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) {
    b = static_cast<uint8_t>(rng());
    if (!allow_e4m3_nan && (b & 0x7F) == 0x7F) b ^= 0x01;
  }
  return v;
}

// f32 values stored as an F32, BF16 or F16 tensor (RN).
Tensor typed(DType t, Shape s, const std::vector<float>& v);

// Element i of an output as a double: fp32, bf16, fp16 and E4M3 decoded, other dtypes the byte.
double element(const Guarded& g, size_t i);

// Relative L2 error of one output against the reference's, both read as fp32/bf16/fp16 values;
// infinity when either side holds a NaN (NaN never passes) or the shapes differ.
double rel_l2(const Guarded& got, const Guarded& want);

// The declared conformance of the variant `o` forces (o.backend, op, o.variant); 0 for exact ones.
const dispatch::Conformance& declared(std::string_view op, const RunOptions& o);

// `run(options, outputs)` fills guarded outputs, once on the device and once on the reference;
// each output must be within the variant's declared relative L2 bound (or equal bytes when the
// variant is exact), with its guard bytes intact.
void expect_within_bound(std::string_view op, const RunOptions& device,
                         const std::function<void(const RunOptions&, std::vector<Guarded>&)>& run);

// Attention's comparison (numerics.md "Attention error bound"; attention_bound.h): the
// elementwise bounds of o and, when `with_lse`, lse for the call `a` under the variant's
// Conformance, and the largest error / bound ratio of one fp32 output (any elementwise bound).
std::vector<std::vector<double>> attention_bounds(const AttentionArgs& a, bool with_lse,
                                                  const dispatch::Conformance& c);
double bound_ratio(const Guarded& got, const Guarded& want, const std::vector<double>& bound);

// expect_within_bound for attention: `run` fills o (fp32) and, when `with_lse`, lse, for the call
// `a`; each within its elementwise bound (ratio <= the declared `bound`, 1), guards intact.
void expect_attention_within_bound(const AttentionArgs& a, bool with_lse, const RunOptions& device,
                                   const std::function<void(const RunOptions&, std::vector<Guarded>&)>& run);

// DeltaNet's comparison (numerics.md "DeltaNet error bound"; deltanet_bound.h): the elementwise
// bounds of o and ht for the call `a` under the variant's Conformance (its operation order).
std::vector<std::vector<double>> deltanet_bounds(const DeltaNetArgs& a, const dispatch::Conformance& c);

// expect_within_bound for DeltaNet: `run` fills o (fp32) and ht for the call `a`; each element
// within its bound (ratio <= the declared `bound`, 1), guards intact.
void expect_deltanet_within_bound(const DeltaNetArgs& a, const RunOptions& device,
                                  const std::function<void(const RunOptions&, std::vector<Guarded>&)>& run);

// Case lists, one per operation family (cases_*.cpp); an op with no cases returns {}.
std::vector<Case> quant_cases(std::string_view op);
std::vector<Case> gemm_cases(std::string_view op);
std::vector<Case> deltanet_cases(std::string_view op);
std::vector<Case> conv1d_cases(std::string_view op);
std::vector<Case> attention_cases(std::string_view op);
std::vector<Case> gemm_act_cases(std::string_view op);

} // namespace tessera::conformance
