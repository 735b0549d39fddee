// The DeltaNet error bound (tests/conformance/deltanet_bound.h, docs/numerics.md "DeltaNet error
// bound") holds and stays meaningful: the fp32 reference and an fp32 recurrence in the recurrent
// kernel's order (8 strided partial sums per dot product, 32 for the l2norm's sums of squares)
// are inside it on well-conditioned inputs and on the cancelling ones that broke the relative
// bounds (T = 1 with q . k small; Dk = 1 with h0 and tiny values), while results a kernel with a
// real bug would give (an element moved by 1e-3 of its size, 3e-2 where 130 tokens are all
// remembered, a token's beta or gate forgotten, a NaN) are outside. Its double-precision model is the reference's recurrence.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <random>
#include <vector>

#include "conformance/deltanet_bound.h"
#include "reference/activations.h"
#include "reference/deltanet.h"

namespace tessera {
namespace {

using conformance::DeltaNetBound;
using conformance::DeltaNetForm;
using conformance::deltanet_bound;
using conformance::bound_ratio;

struct Inputs {
  ref::DeltaNetDims d;
  bool l2norm = true;
  std::vector<float> q, k, v, g, beta, h0;
  float scale;
  Inputs(int64_t T, int64_t H, int64_t HV, int64_t Dk, int64_t Dv, bool with_h0, uint32_t seed, float g_lo = -1.0f,
         float v_sd = 1.0f)
      : d{1, T, H, HV, Dk, Dv}, scale(ref::default_scale(Dk)) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    auto fill = [&](std::vector<float>& x, int64_t n, float sd) {
      x.resize(static_cast<size_t>(n));
      for (float& e : x) e = sd * normal(rng);
    };
    fill(q, T * H * Dk, 1.0f), fill(k, T * H * Dk, 1.0f), fill(v, T * HV * Dv, v_sd);
    g.resize(static_cast<size_t>(T * HV)), beta.resize(g.size());
    for (float& x : g) x = g_lo * unit(rng);
    for (float& x : beta) x = 0.02f + 0.96f * unit(rng);
    if (with_h0) fill(h0, HV * Dk * Dv, 0.5f);
  }
  const float* h0p() const { return h0.empty() ? nullptr : h0.data(); }
  DeltaNetBound bound(DeltaNetForm form) const {
    return deltanet_bound(q.data(), k.data(), v.data(), g.data(), beta.data(), h0p(), nullptr, 1, d, scale, l2norm,
                          form);
  }
  void reference(std::vector<float>& o, std::vector<float>& ht) const {
    o.assign(static_cast<size_t>(d.T * d.HV * d.Dv), 0.0f), ht.assign(static_cast<size_t>(d.HV * d.Dk * d.Dv), 0.0f);
    ref::deltanet(q.data(), k.data(), v.data(), g.data(), beta.data(), h0p(), nullptr, 1, d, scale, l2norm, o.data(),
                  ht.data());
  }
};

// The recurrence in fp32 in recurrent.cl's order (WG_SIZE 256, DN_COLS 32: 8 row slices; the
// l2norm's squares in 32 strided partials), its exp replaced by the reference's.
void recurrent_kernel_order(const Inputs& in, std::vector<float>& o, std::vector<float>& ht) {
  const auto& d = in.d;
  const int64_t split = 8, cols = 32, Dk = d.Dk, Dv = d.Dv;
  o.assign(static_cast<size_t>(d.T * d.HV * Dv), 0.0f), ht.assign(static_cast<size_t>(d.HV * Dk * Dv), 0.0f);
  auto normalise = [&](const float* x, float* out, float mul) {
    float parts[32] = {};
    for (int64_t p = 0; p < cols; ++p)
      for (int64_t i = p; i < Dk; i += cols) parts[p] = parts[p] + x[i] * x[i];
    float ss = 0.0f;
    for (int64_t p = 0; p < cols; ++p) ss = ss + parts[p];
    const float n = in.l2norm ? std::sqrt(ss + 1e-6f) : 1.0f;
    for (int64_t i = 0; i < Dk; ++i) out[i] = mul * (in.l2norm ? x[i] / n : x[i]);
  };
  auto dot = [&](const float* h, const float* x) { // h: a state column (stride Dv)
    float total = 0.0f;
    for (int64_t s = 0; s < split; ++s) {
      float part = 0.0f;
      for (int64_t i = s; i < Dk; i += split) part = part + h[i * Dv] * x[i];
      total = total + part;
    }
    return total;
  };
  std::vector<float> h(static_cast<size_t>(Dk * Dv)), kn(static_cast<size_t>(Dk)), qs(kn.size());
  for (int64_t hv = 0; hv < d.HV; ++hv) {
    const int64_t hk = hv / (d.HV / d.H);
    for (int64_t i = 0; i < Dk * Dv; ++i) h[static_cast<size_t>(i)] = in.h0.empty() ? 0.0f : in.h0[static_cast<size_t>(hv * Dk * Dv + i)];
    for (int64_t t = 0; t < d.T; ++t) {
      normalise(&in.k[static_cast<size_t>((t * d.H + hk) * Dk)], kn.data(), 1.0f);
      normalise(&in.q[static_cast<size_t>((t * d.H + hk) * Dk)], qs.data(), 1.0f);
      for (float& x : qs) x = in.scale * x;
      const int64_t gi = t * d.HV + hv;
      const float decay = ref::exp_rn(in.g[static_cast<size_t>(gi)]);
      for (int64_t j = 0; j < Dv; ++j) {
        float* col = h.data() + j;
        for (int64_t i = 0; i < Dk; ++i) col[i * Dv] = col[i * Dv] * decay;
        const float u = in.beta[static_cast<size_t>(gi)] * (in.v[static_cast<size_t>(gi * Dv + j)] - dot(col, kn.data()));
        for (int64_t i = 0; i < Dk; ++i) col[i * Dv] = col[i * Dv] + kn[static_cast<size_t>(i)] * u;
        o[static_cast<size_t>(gi * Dv + j)] = dot(col, qs.data());
      }
    }
    std::copy(h.begin(), h.end(), ht.begin() + hv * Dk * Dv);
  }
}

double ratio_exact(const std::vector<float>& got, const std::vector<double>& exact, const std::vector<double>& bound) {
  return bound_ratio(got.data(), exact.data(), bound.data(), got.size());
}
double ratio(const std::vector<float>& got, const std::vector<float>& want, const std::vector<double>& bound) {
  return bound_ratio(got.data(), want.data(), bound.data(), got.size());
}

// The reference's part of the bound: the whole minus the device's.
std::vector<double> ref_part(const std::vector<double>& all, const std::vector<double>& dev) {
  std::vector<double> r(all.size());
  for (size_t i = 0; i < r.size(); ++i) r[i] = all[i] - dev[i];
  return r;
}

std::vector<Inputs> problems() {
  std::vector<Inputs> p;
  p.emplace_back(20, 1, 2, 128, 128, true, 1);             // the largest head, h0
  p.emplace_back(70, 2, 4, 32, 24, true, 2);               // two chunks, GQA
  p.emplace_back(130, 1, 1, 16, 16, false, 3, -1e-4f);     // gates near 0: memory of every token
  p.emplace_back(1, 1, 2, 128, 64, false, 4);              // decode, no h0
  Inputs nol2(65, 1, 1, 24, 8, true, 5);
  nol2.l2norm = false;
  for (float& x : nol2.k) x *= 0.15f;                     // |k| ~ 0.7 without the l2norm
  p.push_back(nol2);
  // Dk = 1, h0, tiny values, no gates: the state shrinks to ~1e-3 of h0 by cancellation (the
  // chunked relative bound's counterexample, numerics.md "DeltaNet chunked" item 7).
  Inputs shrink(32, 2, 2, 1, 4, true, 6, 0.0f, 1e-3f);
  for (float& b : shrink.beta) b = 0.9f;
  p.push_back(shrink);
  return p;
}

TEST(DeltaNetBound, ModelIsTheReferenceRecurrence) {
  for (const Inputs& in : problems()) {
    std::vector<float> o, ht;
    in.reference(o, ht);
    const DeltaNetBound b = in.bound(DeltaNetForm::Recurrent);
    double eo = 0, no = 0;
    for (size_t i = 0; i < o.size(); ++i) eo += std::pow(o[i] - b.o_exact[i], 2), no += std::pow(b.o_exact[i], 2);
    EXPECT_LT(std::sqrt(eo / no), 1e-4) << "T = " << in.d.T << " Dk = " << in.d.Dk;
  }
}

TEST(DeltaNetBound, HoldsForTheReferenceAndAnotherOrder) {
  for (const Inputs& in : problems()) {
    SCOPED_TRACE("T = " + std::to_string(in.d.T) + " Dk = " + std::to_string(in.d.Dk));
    std::vector<float> o_ref, ht_ref, o_dev, ht_dev;
    in.reference(o_ref, ht_ref);
    recurrent_kernel_order(in, o_dev, ht_dev);
    for (DeltaNetForm form : {DeltaNetForm::Recurrent, DeltaNetForm::Chunked}) {
      const DeltaNetBound b = in.bound(form);
      // The reference within its own part against the exact recurrence.
      const double r_o = ratio_exact(o_ref, b.o_exact, ref_part(b.o, b.o_dev));
      const double r_h = ratio_exact(ht_ref, b.ht_exact, ref_part(b.ht, b.ht_dev));
      EXPECT_LE(r_o, 1.0);
      EXPECT_LE(r_h, 1.0);
      std::cout << "[ meas ] T=" << in.d.T << " Dk=" << in.d.Dk << (form == DeltaNetForm::Chunked ? " chunked" : " recurrent")
                << ": reference vs exact o " << r_o << ", ht " << r_h << " of its part";
      if (form == DeltaNetForm::Recurrent) {
        const double d_o = ratio_exact(o_dev, b.o_exact, b.o_dev), d_h = ratio_exact(ht_dev, b.ht_exact, b.ht_dev);
        const double x_o = ratio(o_dev, o_ref, b.o), x_h = ratio(ht_dev, ht_ref, b.ht);
        EXPECT_LE(d_o, 1.0);
        EXPECT_LE(d_h, 1.0);
        EXPECT_LE(x_o, 1.0);
        EXPECT_LE(x_h, 1.0);
        std::cout << "; kernel order vs exact o " << d_o << ", ht " << d_h << " of the device part, vs reference o "
                  << x_o << ", ht " << x_h << " of the bound";
      }
      std::cout << "\n";
    }
  }
}

// T = 1, no h0, Dk = 128 and q . k small against |q| |k|: o = scale beta (q . k) v cancels, and
// the two orders differ by far more than any relative bound allows, yet stay inside this one.
TEST(DeltaNetBound, HoldsWhereTheOutputCancels) {
  Inputs in(1, 1, 1, 128, 16, false, 9);
  // q minus its component along k, plus a little of k back: q . k ~ 1e-4 |q| |k|.
  double qk = 0, kk = 0;
  for (int64_t i = 0; i < 128; ++i) qk += double(in.q[i]) * in.k[i], kk += double(in.k[i]) * in.k[i];
  for (int64_t i = 0; i < 128; ++i) in.q[i] = static_cast<float>(in.q[i] - (qk / kk - 1e-4) * in.k[i]);
  std::vector<float> o_ref, ht_ref, o_dev, ht_dev;
  in.reference(o_ref, ht_ref);
  recurrent_kernel_order(in, o_dev, ht_dev);
  const DeltaNetBound b = in.bound(DeltaNetForm::Recurrent);
  double e = 0, n = 0;
  for (size_t i = 0; i < o_ref.size(); ++i) e += std::pow(double(o_dev[i]) - o_ref[i], 2), n += std::pow(double(o_ref[i]), 2);
  const double r = ratio(o_dev, o_ref, b.o);
  std::cout << "[ meas ] cancelling o: relative L2 between the orders " << std::sqrt(e / n) << ", " << r
            << " of the bound\n";
  EXPECT_LE(r, 1.0);
  EXPECT_LE(ratio(ht_dev, ht_ref, b.ht), 1.0);
}

TEST(DeltaNetBound, CatchesWrongResults) {
  for (const Inputs& in : problems()) {
    if (in.d.Dk == 1) continue; // tiny values: a perturbation of 1e-3 of an element there is noise-sized
    SCOPED_TRACE("T = " + std::to_string(in.d.T) + " Dk = " + std::to_string(in.d.Dk));
    std::vector<float> o_ref, ht_ref;
    in.reference(o_ref, ht_ref);
    for (DeltaNetForm form : {DeltaNetForm::Recurrent, DeltaNetForm::Chunked}) {
      const DeltaNetBound b = in.bound(form);
      // One element moved by 1e-3 of its size: the largest o of the last token and the largest ht.
      size_t io = o_ref.size() - static_cast<size_t>(in.d.Dv), ih = 0;
      for (size_t i = io; i < o_ref.size(); ++i)
        if (std::fabs(o_ref[i]) > std::fabs(o_ref[io])) io = i;
      for (size_t i = 0; i < ht_ref.size(); ++i)
        if (std::fabs(ht_ref[i]) > std::fabs(ht_ref[ih])) ih = i;
      // Where every token is remembered (gates near 0 for 130 tokens) the worst case adds up
      // over the sequence, and over a chunk's L^2 terms in the chunked form: 3e-2 there.
      const float by = in.g.back() > -1e-3f ? 0.03f : 0.001f;
      std::vector<float> o = o_ref, ht = ht_ref;
      o[io] *= 1.0f + by, ht[ih] *= 1.0f + by;
      const double r_o = ratio(o, o_ref, b.o), r_h = ratio(ht, ht_ref, b.ht);
      EXPECT_GT(r_o, 1.0);
      EXPECT_GT(r_h, 1.0);
      // A token's gate or beta forgotten (the last token's: every output reads it).
      Inputs no_gate = in, no_beta = in;
      no_gate.g[no_gate.g.size() - 1] = 0.0f;
      no_beta.beta[no_beta.beta.size() - 1] = 1.0f;
      std::vector<float> o2, ht2, o3, ht3;
      no_gate.reference(o2, ht2);
      no_beta.reference(o3, ht3);
      const double r_g = std::max(ratio(o2, o_ref, b.o), ratio(ht2, ht_ref, b.ht));
      const double r_b = std::max(ratio(o3, o_ref, b.o), ratio(ht3, ht_ref, b.ht));
      // (A gate near 0 forgotten changes little, and none at all from a zero state at T = 1.)
      if (std::fabs(in.g.back()) > 0.1f && (in.d.T > 1 || !in.h0.empty())) {
        EXPECT_GT(r_g, 1.0);
      }
      EXPECT_GT(r_b, 1.0);
      std::vector<float> nan = o_ref;
      nan[0] = NAN;
      EXPECT_EQ(ratio(nan, o_ref, b.o), INFINITY);
      std::cout << "[ meas ] T=" << in.d.T << " Dk=" << in.d.Dk << (form == DeltaNetForm::Chunked ? " chunked" : " recurrent")
                << ": o x " << 1 + by << " at " << r_o << ", ht at " << r_h << ", gate forgotten at " << r_g
                << ", beta 1 at " << r_b << " times the bound\n";
    }
  }
}

} // namespace
} // namespace tessera
