// What the DeltaNet device-kernel tests share (test_deltanet_kernels.cpp,
// test_deltanet_long_sequences.cpp): every (device, variant) pair to test, random problems, the
// double-precision model of numerics.md section 5 and the fp32 reference, and a run on a forced
// variant, through the registry or, where it refuses the variant only because T is below its
// prefill threshold, through the record's launch function (tests/variant_launch.h).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/overrides.h"
#include "dispatch/registry.h"
#include "host/src/backends.h"
#include "conformance/deltanet_bound.h"
#include "reference/deltanet.h"
#include "tessera/ops.h"
#include "test_util.h"
#include "variant_launch.h"

namespace tessera::test {

// The variants' declared bound is the elementwise DeltaNet error bound of numerics.md
// (tests/conformance/deltanet_bound.h; expect_within_mixed_bound below). These tests also keep
// relative L2 checks on their inputs, which are well conditioned (no cancelling output or
// state), as regression tests: the relative L2 bounds the variants declared until 2026-12, 1e-6
// for the recurrent kernel and 1e-4 for the chunked one, which hold there with margin.
inline constexpr double kRecurrentRelTol = 1e-6;
inline constexpr double kChunkedRelTol = 1e-4;
inline constexpr double kChunkedBound = kChunkedRelTol; // two runs of a problem compared

struct Target {
  std::string backend;
  int device;
  std::string variant;
  double rel_tol; // the relative L2 regression check on these tests' well-conditioned inputs
  std::string name() const { return backend + ":" + std::to_string(device) + ":" + variant; }
  conformance::DeltaNetForm form() const {
    return variant == "chunked" ? conformance::DeltaNetForm::Chunked : conformance::DeltaNetForm::Recurrent;
  }
};

inline double rel_tol_of(std::string_view variant) {
  return variant == "chunked" ? kChunkedRelTol : kRecurrentRelTol;
}

inline const dispatch::Variant* registered(std::string_view backend, std::string_view variant) {
  for (const dispatch::Variant& v : dispatch::variants())
    if (v.op == "deltanet" && v.backend == backend && v.name == variant) return &v;
  return nullptr;
}

// Registered and not disabled by TESSERA_OVERRIDE=disable=BACKEND:deltanet:NAME.
inline bool available(std::string_view backend, std::string_view variant) {
  return registered(backend, variant) &&
         !detail::current_overrides().disabled.count(std::string(backend) + ":deltanet:" + std::string(variant));
}

// Every (device, variant) pair to test; `why` collects what is missing, for the skip message.
inline std::vector<Target> targets(std::string* why = nullptr) {
  std::vector<Target> out;
  for (std::string_view backend : {"opencl", "vulkan"}) {
    int count = 0;
    for (const dispatch::DeviceRef& d : dispatch::devices()) {
      if (d.backend != backend) continue;
      ++count;
      for (std::string_view name : {"recurrent", "chunked"}) {
        const dispatch::Variant* v = registered(backend, name);
        if (!v) {
          if (why) *why += std::string(backend) + " has no deltanet '" + std::string(name) + "'; ";
          continue;
        }
        // TESSERA_OVERRIDE=disable=BACKEND:deltanet:NAME leaves a variant out here too.
        if (detail::current_overrides().disabled.count(std::string(backend) + ":deltanet:" + std::string(name))) {
          if (why) *why += std::string(backend) + " deltanet '" + std::string(name) + "' disabled by override; ";
          continue;
        }
        out.push_back({std::string(backend), d.index, std::string(name), rel_tol_of(name)});
      }
    }
    if (count == 0 && why) *why += "no " + std::string(backend) + " device; ";
  }
  return out;
}

#define FOR_EACH_TARGET(t)                                                                         \
  std::string skip_why;                                                                            \
  std::vector<Target> all_targets = targets(&skip_why);                                            \
  if (all_targets.empty()) GTEST_SKIP() << "no deltanet device variant to test: " << skip_why;     \
  if (!skip_why.empty()) std::cout << "[ note ] " << skip_why << "\n";                             \
  for (const Target& t : all_targets)

struct Case {
  int64_t B = 1, T = 70, H = 2, HV = 4, Dk = 32, Dv = 32;
  bool l2norm = true, h0 = true;
  std::vector<int64_t> cu{}; // cu_seqlens (B == 1) when not empty
  float g_lo = -20, g_hi = 0;
  uint32_t seed = 1;
};

struct Problem {
  Case c;
  int64_t N; // sequences
  std::vector<float> q, k, v, g, beta, h0;
  float scale() const { return 1.0f / std::sqrt(float(c.Dk)); }
  int64_t longest() const {
    if (c.cu.empty()) return c.T;
    int64_t m = 0;
    for (size_t i = 0; i + 1 < c.cu.size(); ++i) m = std::max(m, c.cu[i + 1] - c.cu[i]);
    return m;
  }
};

inline Problem make(const Case& c) {
  Problem p{c, c.cu.empty() ? c.B : int64_t(c.cu.size()) - 1, {}, {}, {}, {}, {}, {}};
  size_t nk = c.B * c.T * c.H * c.Dk, nv = c.B * c.T * c.HV * c.Dv, ng = c.B * c.T * c.HV;
  uint32_t s = c.seed * 10;
  float kr = c.l2norm ? 1.0f : 1.0f / std::sqrt(float(c.Dk)); // keys of norm ~0.6 without l2norm
  p.q = random_floats(nk, -1, 1, s + 1);
  p.k = random_floats(nk, -kr, kr, s + 2);
  p.v = random_floats(nv, -1, 1, s + 3);
  p.g = random_floats(ng, c.g_lo, c.g_hi, s + 4);
  p.beta = random_floats(ng, 0.01f, 0.99f, s + 5);
  if (c.h0) p.h0 = random_floats(p.N * c.HV * c.Dk * c.Dv, -1, 1, s + 6);
  return p;
}

struct Result {
  std::vector<float> o, ht;
};

// The recurrence of numerics.md section 5 in double.
struct Model {
  std::vector<double> o, ht;
};
inline Model model(const Problem& p) {
  const Case& c = p.c;
  const int64_t S = c.Dk * c.Dv;
  Model m{std::vector<double>(c.B * c.T * c.HV * c.Dv), std::vector<double>(p.N * c.HV * S)};
  auto unit = [&](const float* x, double mul) {
    std::vector<double> y(x, x + c.Dk);
    double ss = 0;
    for (double e : y) ss += e * e;
    for (double& e : y) e = (c.l2norm ? e / std::sqrt(ss + 1e-6) : e) * mul;
    return y;
  };
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t hv = 0; hv < c.HV; ++hv) {
      double* h = &m.ht[(n * c.HV + hv) * S];
      for (int64_t i = 0; i < S; ++i) h[i] = c.h0 ? p.h0[(n * c.HV + hv) * S + i] : 0.0;
      int64_t t0 = c.cu.empty() ? n * c.T : c.cu[n], t1 = c.cu.empty() ? (n + 1) * c.T : c.cu[n + 1];
      for (int64_t t = t0; t < t1; ++t) {
        int64_t kh = hv / (c.HV / c.H), gi = t * c.HV + hv;
        auto q = unit(&p.q[(t * c.H + kh) * c.Dk], 1.0 / std::sqrt(double(c.Dk)));
        auto k = unit(&p.k[(t * c.H + kh) * c.Dk], 1.0);
        for (int64_t i = 0; i < S; ++i) h[i] *= std::exp(double(p.g[gi]));
        for (int64_t j = 0; j < c.Dv; ++j) {
          double pred = 0;
          for (int64_t i = 0; i < c.Dk; ++i) pred += h[i * c.Dv + j] * k[i];
          double u = p.beta[gi] * (p.v[gi * c.Dv + j] - pred);
          for (int64_t i = 0; i < c.Dk; ++i) h[i * c.Dv + j] += k[i] * u;
        }
        for (int64_t j = 0; j < c.Dv; ++j) {
          double o = 0;
          for (int64_t i = 0; i < c.Dk; ++i) o += h[i * c.Dv + j] * q[i];
          m.o[gi * c.Dv + j] = o;
        }
      }
    }
  return m;
}

inline dispatch::Problem selection_problem(const Problem& p) {
  const Case& c = p.c;
  return {"deltanet",
          {{"T", p.longest()}, {"tokens", c.B * c.T}, {"n_seqs", p.N}, {"H", c.H}, {"HV", c.HV},
           {"Dk", c.Dk}, {"Dv", c.Dv},
           {"elements", std::max(c.B * c.T * c.HV * std::max(c.Dk, c.Dv), p.N * c.HV * c.Dk * c.Dv)}}};
}

// True when the registry refuses `t` for `p` only because T is below its prefill threshold.
inline bool below_threshold(const Target& t, const Problem& p) {
  for (const dispatch::DeviceRef& d : dispatch::devices()) {
    if (d.backend != t.backend || d.index != t.device) continue;
    for (const dispatch::Verdict& v : dispatch::explain("deltanet", d, selection_problem(p)))
      if (v.variant->name == t.variant) return !v.accepted && v.reason.rfind("T = ", 0) == 0;
  }
  return false;
}

// Runs `p` on the forced variant (see the file comment for the direct path).
// `direct`: the record's launch function whatever the registry says (a failure then throws
// BackendFailure and does not disable the variant for the tests after it).
inline Result run(const Target& t, const Problem& p, RunInfo* info = nullptr, bool direct = false) {
  const Case& c = p.c;
  Result r{std::vector<float>(c.B * c.T * c.HV * c.Dv), std::vector<float>(p.N * c.HV * c.Dk * c.Dv)};
  if (direct || below_threshold(t, p)) {
    detail::DeltaNetRunArgs a{p.q.data(), p.k.data(), p.v.data(), p.g.data(), p.beta.data(),
                              c.h0 ? p.h0.data() : nullptr, c.cu.empty() ? nullptr : c.cu.data(),
                              p.N, {c.B, c.T, c.H, c.HV, c.Dk, c.Dv}, p.scale(), c.l2norm,
                              r.o.data(), r.ht.data()};
    test::launch_variant(t.backend, t.device, t.variant, a);
    if (info) info->variant = t.variant;
    return r;
  }
  // Views of the problem's const inputs: the operation only reads them.
  auto view = [](const std::vector<float>& x, Shape s) {
    return TensorView{DType::F32, std::move(s), const_cast<float*>(x.data()), x.size() * 4};
  };
  DeltaNetArgs a;
  a.q = view(p.q, {c.B, c.T, c.H, c.Dk});
  a.k = view(p.k, {c.B, c.T, c.H, c.Dk});
  a.v = view(p.v, {c.B, c.T, c.HV, c.Dv});
  a.g = view(p.g, {c.B, c.T, c.HV});
  a.beta = view(p.beta, {c.B, c.T, c.HV});
  if (c.h0) a.h0 = view(p.h0, {p.N, c.HV, c.Dk, c.Dv});
  if (!c.cu.empty()) a.cu_seqlens = TensorView{DType::I64, {int64_t(c.cu.size())}, const_cast<int64_t*>(c.cu.data()), c.cu.size() * 8};
  a.scale = p.scale();
  a.l2norm = c.l2norm;
  TensorView o{DType::F32, {c.B, c.T, c.HV, c.Dv}, r.o.data(), r.o.size() * 4};
  TensorView ht{DType::F32, {p.N, c.HV, c.Dk, c.Dv}, r.ht.data(), r.ht.size() * 4};
  deltanet(a, o, ht, RunOptions{t.backend, t.device, t.variant}, info);
  return r;
}

inline void expect_close(const Result& r, const Model& m, double bound, const std::string& what) {
  double eo = r.o.empty() ? 0.0 : rel_l2(r.o.data(), m.o.data(), r.o.size());
  double eh = rel_l2(r.ht.data(), m.ht.data(), r.ht.size());
  EXPECT_LE(eo, bound) << what << ": o";
  EXPECT_LE(eh, bound) << what << ": ht";
  std::cout << "[ meas ] " << what << ": rel L2 o " << eo << ", ht " << eh << "\n";
}

inline void expect_close(const Result& a, const Result& b, double bound, const std::string& what) {
  EXPECT_LE(rel_l2(a.o.data(), b.o.data(), a.o.size()), bound) << what << ": o";
  EXPECT_LE(rel_l2(a.ht.data(), b.ht.data(), a.ht.size()), bound) << what << ": ht";
}

// The DeltaNet error bound of `p` in the operation order `form` (numerics.md "DeltaNet error
// bound"), with the problem's fp32 scale.
inline conformance::DeltaNetBound mixed_bound(const Problem& p, conformance::DeltaNetForm form) {
  const Case& c = p.c;
  return conformance::deltanet_bound(p.q.data(), p.k.data(), p.v.data(), p.g.data(), p.beta.data(),
                                     c.h0 ? p.h0.data() : nullptr, c.cu.empty() ? nullptr : c.cu.data(), p.N,
                                     {c.B, c.T, c.H, c.HV, c.Dk, c.Dv}, p.scale(), c.l2norm, form);
}

// The declared bound: every element of o and ht within it, against the fp32 reference `want`
// (the whole bound) or, when `want` is null, against the bound's exact recurrence (the device's
// part of it). Returns the larger error / bound ratio of o and ht.
inline double expect_within_mixed_bound(const Result& got, const Result* want, const conformance::DeltaNetBound& b,
                                        const std::string& what) {
  double ro, rh;
  if (want) {
    ro = conformance::bound_ratio(got.o.data(), want->o.data(), b.o.data(), got.o.size());
    rh = conformance::bound_ratio(got.ht.data(), want->ht.data(), b.ht.data(), got.ht.size());
  } else {
    ro = conformance::bound_ratio(got.o.data(), b.o_exact.data(), b.o_dev.data(), got.o.size());
    rh = conformance::bound_ratio(got.ht.data(), b.ht_exact.data(), b.ht_dev.data(), got.ht.size());
  }
  EXPECT_LE(ro, 1.0) << what << ": o, error / bound (numerics.md \"DeltaNet error bound\")";
  EXPECT_LE(rh, 1.0) << what << ": ht, error / bound (numerics.md \"DeltaNet error bound\")";
  std::cout << "[ meas ] " << what << ": error / bound " << (want ? "vs reference" : "vs exact (device part)")
            << " o " << ro << ", ht " << rh << "\n";
  return std::max(ro, rh);
}

inline Result reference(const Problem& p) {
  const Case& c = p.c;
  Result r{std::vector<float>(c.B * c.T * c.HV * c.Dv), std::vector<float>(p.N * c.HV * c.Dk * c.Dv)};
  ref::deltanet(p.q.data(), p.k.data(), p.v.data(), p.g.data(), p.beta.data(), c.h0 ? p.h0.data() : nullptr,
                c.cu.empty() ? nullptr : c.cu.data(), p.N, {c.B, c.T, c.H, c.HV, c.Dk, c.Dv}, p.scale(),
                c.l2norm, r.o.data(), r.ht.data());
  return r;
}

} // namespace tessera::test
