// The attention error bound (tests/conformance/attention_bound.h, docs/numerics.md "Attention
// error bound") stays meaningful: results that a kernel with a real bug would give (a key
// dropped, the scale or the gate wrong, a perturbed output element) are outside it, while the
// reference itself and an fp32 computation in another order are inside. Also the model it is
// built on: its o and lse agree with ref::attention on well-conditioned inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "conformance/attention_bound.h"
#include "reference/activations.h"
#include "reference/attention.h"

namespace tessera {
namespace {

using conformance::attention_bound;
using conformance::bound_ratio;

// One sequence, not causal: T queries, S keys, GQA Hq / Hkv, head dim D, values as the fixed
// conformance cases draw them (q in [-3, 3], k in [-1.5, 1.5], v in [-2, 2], gate in [-4, 4]).
struct Inputs {
  ref::AttentionDims d;
  std::vector<float> q, k, v, gate;
  float scale;
  Inputs(int64_t T, int64_t S, int64_t Hq, int64_t Hkv, int64_t D, uint32_t seed)
      : d{1, T, S, Hq, Hkv, D}, scale(ref::default_scale(D)) {
    std::mt19937 rng(seed);
    auto fill = [&](std::vector<float>& x, int64_t n, float lo, float hi) {
      std::uniform_real_distribution<float> u(lo, hi);
      x.resize(static_cast<size_t>(n));
      for (float& e : x) e = u(rng);
    };
    fill(q, T * Hq * D, -3, 3), fill(gate, T * Hq * D, -4, 4);
    fill(k, S * Hkv * D, -1.5f, 1.5f), fill(v, S * Hkv * D, -2, 2);
  }
  // ref::attention on these inputs, with the keys limited to the first `S` and a given scale.
  std::vector<float> run(int64_t S, float s, bool gated) const {
    ref::AttentionDims e = d;
    e.S = S;
    std::vector<float> o(q.size());
    ref::attention(q.data(), k.data(), v.data(), gated ? gate.data() : nullptr, nullptr, nullptr, 1, e,
                   false, s, o.data(), nullptr);
    return o;
  }
  conformance::AttentionBound bound() const {
    return attention_bound(q.data(), k.data(), v.data(), gate.data(), nullptr, nullptr, 1, d, false, scale, 0.0);
  }
};

double ratio(const std::vector<float>& got, const std::vector<float>& want, const std::vector<double>& bound) {
  return bound_ratio(got.data(), want.data(), bound.data(), want.size());
}

TEST(AttentionBound, CatchesWrongResults) {
  for (int64_t S : {40, 300}) {
    SCOPED_TRACE(S);
    const Inputs in(24, S, 4, 2, 128, 7);
    const conformance::AttentionBound b = in.bound();
    const std::vector<float> want = in.run(S, in.scale, true);
    EXPECT_EQ(ratio(want, want, b.o), 0.0);
    // An fp32 computation in another order is inside: the double-precision model rounded once.
    std::vector<float> model(b.o_exact.begin(), b.o_exact.end());
    const double r_model = ratio(model, want, b.o);
    EXPECT_LE(r_model, 1.0);
    // A kernel that drops the last key, scales by 1 + 2^-10 or forgets the gate is outside.
    const double r_drop = ratio(in.run(S - 1, in.scale, true), want, b.o);
    const double r_scale = ratio(in.run(S, in.scale * (1.0f + 0x1p-10f), true), want, b.o);
    const double r_gate = ratio(in.run(S, in.scale, false), want, b.o);
    EXPECT_GT(r_drop, 1.0);
    EXPECT_GT(r_scale, 1.0);
    EXPECT_GT(r_gate, 1.0);
    // So is one element of o moved by 0.01 (|v| <= 2), and a NaN.
    std::vector<float> nudged = want, nan = want;
    nudged[77] += 0.01f;
    nan[5] = NAN;
    const double r_nudged = ratio(nudged, want, b.o);
    EXPECT_GT(r_nudged, 1.0);
    EXPECT_EQ(ratio(nan, want, b.o), INFINITY);
    std::printf("S %lld: error/bound: model %.3g, key dropped %.3g, scale off %.3g, no gate %.3g, "
                "one element off by 0.01 %.3g\n",
                static_cast<long long>(S), r_model, r_drop, r_scale, r_gate, r_nudged);
  }
}

} // namespace
} // namespace tessera
