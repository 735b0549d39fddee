// The Gated DeltaNet device variants ("recurrent", "chunked") on every OpenCL and Vulkan device:
// against a double-precision model of numerics.md section 5 within each variant's registry bound,
// and the properties that must hold whatever the algorithm: chained decode equals one prefill,
// varlen equals separate calls, chunked equals recurrent, extreme and adversarial gates (against
// the fp32 reference: huge and tiny gates mixed, -FLT_MAX, -0.0), T around the chunk size,
// h0, GQA, refusal of heads past 128, determinism, selection by T, and long sequences (to
// 40960 tokens, against the reference; Vulkan's dispatch windows and its report of a driver's
// cut loops: numerics.md "DeltaNet on Vulkan: long sequences").
//
// Each variant is forced through RunOptions{backend, device, variant}. Where the registry refuses
// the forced variant only because T is below its prefill threshold (chunked at decode sizes),
// the record's launch function is called directly (tests/variant_launch.h), so the kernel is
// still checked at T = 1 .. 63; the public path is checked at and above the threshold.
// TESSERA_OVERRIDE=disable=BACKEND:deltanet:NAME leaves a variant out (said in the output). Sizes are small but for the long sequences
// (about 18 s of the run on the 2-core machine): PoCL and lavapipe run kernels on the CPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "dispatch/registry.h"
#include "host/src/backends.h"
#include "core/overrides.h"
#include "host/src/vulkan/testing.h"
#include "reference/deltanet.h"
#include "tessera/error.h"
#include "tessera/ops.h"
#include "test_util.h"
#include "variant_launch.h"

namespace {
using namespace tessera;
using test::random_floats;
using test::rel_l2;

// The chunked variant's prefill threshold in host/src/requirements.h (deltanet_chunked) (measured on the CPU
// devices; a full chunk elsewhere).
int64_t chunked_min_t(const dispatch::DeviceRef& d) { return d.facts.device_type == "cpu" ? 2 : 64; }
constexpr double kChunkedBound = 1e-4;

struct Target {
  std::string backend;
  int device;
  std::string variant;
  double bound; // the registry's conformance bound
  std::string name() const { return backend + ":" + std::to_string(device) + ":" + variant; }
};

const dispatch::Variant* registered(std::string_view backend, std::string_view variant) {
  for (const dispatch::Variant& v : dispatch::variants())
    if (v.op == "deltanet" && v.backend == backend && v.name == variant) return &v;
  return nullptr;
}

// Registered and not disabled by TESSERA_OVERRIDE=disable=BACKEND:deltanet:NAME.
bool available(std::string_view backend, std::string_view variant) {
  return registered(backend, variant) &&
         !detail::current_overrides().disabled.count(std::string(backend) + ":deltanet:" + std::string(variant));
}

// Every (device, variant) pair to test; `why` collects what is missing, for the skip message.
std::vector<Target> targets(std::string* why = nullptr) {
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
        out.push_back({std::string(backend), d.index, std::string(name),
                       v->conformance.exact ? 0.0 : v->conformance.bound});
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

Problem make(const Case& c) {
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
Model model(const Problem& p) {
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

dispatch::Problem selection_problem(const Problem& p) {
  const Case& c = p.c;
  return {"deltanet",
          {{"T", p.longest()}, {"tokens", c.B * c.T}, {"n_seqs", p.N}, {"H", c.H}, {"HV", c.HV},
           {"Dk", c.Dk}, {"Dv", c.Dv},
           {"elements", std::max(c.B * c.T * c.HV * std::max(c.Dk, c.Dv), p.N * c.HV * c.Dk * c.Dv)}}};
}

// True when the registry refuses `t` for `p` only because T is below its prefill threshold.
bool below_threshold(const Target& t, const Problem& p) {
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
Result run(const Target& t, const Problem& p, RunInfo* info = nullptr, bool direct = false) {
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

void expect_close(const Result& r, const Model& m, double bound, const std::string& what) {
  double eo = r.o.empty() ? 0.0 : rel_l2(r.o.data(), m.o.data(), r.o.size());
  double eh = rel_l2(r.ht.data(), m.ht.data(), r.ht.size());
  EXPECT_LE(eo, bound) << what << ": o";
  EXPECT_LE(eh, bound) << what << ": ht";
  std::cout << "[ meas ] " << what << ": rel L2 o " << eo << ", ht " << eh << "\n";
}

void expect_close(const Result& a, const Result& b, double bound, const std::string& what) {
  EXPECT_LE(rel_l2(a.o.data(), b.o.data(), a.o.size()), bound) << what << ": o";
  EXPECT_LE(rel_l2(a.ht.data(), b.ht.data(), a.ht.size()), bound) << what << ": ht";
}

TEST(DeltaNetKernels, MatchesDoubleModelAcrossShapes) {
  std::vector<Case> cases;
  for (int64_t T : {1, 63, 64, 65, 130}) cases.push_back(Case{.T = T, .seed = uint32_t(T)});
  cases.push_back(Case{.T = 70, .H = 1, .HV = 3, .Dk = 24, .Dv = 40, .h0 = false, .seed = 7}); // GQA 3, partial slices
  cases.push_back(Case{.T = 66, .H = 2, .HV = 2, .l2norm = false, .seed = 8});                 // no l2norm
  cases.push_back(Case{.T = 65, .H = 1, .HV = 1, .Dk = 128, .Dv = 128, .seed = 9});           // the largest head
  cases.push_back(Case{.B = 2, .T = 67, .seed = 10});                                          // batch
  cases.push_back(Case{.T = 200, .cu = {0, 1, 65, 65, 200}, .seed = 11});                      // varlen, an empty sequence
  FOR_EACH_TARGET(t) {
    for (const Case& c : cases) {
      Problem p = make(c);
      expect_close(run(t, p), model(p), t.bound,
                   t.name() + " B=" + std::to_string(c.B) + " T=" + std::to_string(c.T) + " H=" +
                       std::to_string(c.H) + " HV=" + std::to_string(c.HV) + " Dk=" + std::to_string(c.Dk) +
                       " Dv=" + std::to_string(c.Dv) + (c.cu.empty() ? "" : " varlen"));
    }
  }
}

TEST(DeltaNetKernels, ChainedDecodeEqualsOnePrefill) {
  FOR_EACH_TARGET(t) {
    Problem whole = make(Case{.T = 70, .seed = 21});
    Result once = run(t, whole);
    Result chained{std::vector<float>(once.o.size()), whole.h0};
    const Case& c = whole.c;
    for (int64_t s = 0; s < c.T; ++s) {
      Problem step{c, 1, {}, {}, {}, {}, {}, chained.ht};
      step.c.T = 1;
      auto slice = [&](const std::vector<float>& x, int64_t per) {
        return std::vector<float>(x.begin() + s * per, x.begin() + (s + 1) * per);
      };
      step.q = slice(whole.q, c.H * c.Dk), step.k = slice(whole.k, c.H * c.Dk);
      step.v = slice(whole.v, c.HV * c.Dv);
      step.g = slice(whole.g, c.HV), step.beta = slice(whole.beta, c.HV);
      Result r = run(t, step);
      std::copy(r.o.begin(), r.o.end(), chained.o.begin() + s * c.HV * c.Dv);
      chained.ht = r.ht;
    }
    expect_close(chained, once, t.bound, t.name() + " chained decode vs prefill");
  }
}

TEST(DeltaNetKernels, VarlenEqualsSeparateCalls) {
  const std::vector<int64_t> cu{0, 3, 67, 130};
  FOR_EACH_TARGET(t) {
    Problem packed = make(Case{.T = 130, .cu = cu, .seed = 31});
    Result together = run(t, packed);
    const Case& c = packed.c;
    for (size_t n = 0; n + 1 < cu.size(); ++n) {
      int64_t t0 = cu[n], len = cu[n + 1] - cu[n];
      Problem one{c, 1, {}, {}, {}, {}, {}, {}};
      one.c.T = len, one.c.cu = {};
      auto part = [&](const std::vector<float>& x, int64_t per, int64_t at, int64_t count) {
        return std::vector<float>(x.begin() + at * per, x.begin() + (at + count) * per);
      };
      one.q = part(packed.q, c.H * c.Dk, t0, len), one.k = part(packed.k, c.H * c.Dk, t0, len);
      one.v = part(packed.v, c.HV * c.Dv, t0, len);
      one.g = part(packed.g, c.HV, t0, len), one.beta = part(packed.beta, c.HV, t0, len);
      one.h0 = part(packed.h0, c.HV * c.Dk * c.Dv, int64_t(n), 1);
      Result alone = run(t, one);
      Result mine{part(together.o, c.HV * c.Dv, t0, len), part(together.ht, c.HV * c.Dk * c.Dv, int64_t(n), 1)};
      expect_close(mine, alone, t.bound, t.name() + " sequence " + std::to_string(n));
    }
  }
}

TEST(DeltaNetKernels, ChunkedEqualsRecurrent) {
  bool compared = false;
  FOR_EACH_TARGET(t) {
    if (t.variant != "chunked") continue;
    Target rec{t.backend, t.device, "recurrent", 0.0};
    if (!available(t.backend, "recurrent")) continue;
    for (Case c : {Case{.T = 130, .seed = 41}, Case{.T = 100, .cu = {0, 36, 100}, .seed = 42}}) {
      Problem p = make(c);
      expect_close(run(t, p), run(rec, p), kChunkedBound, t.name() + " vs recurrent");
      compared = true;
    }
  }
  if (!compared) GTEST_SKIP() << "no device has both deltanet variants";
}

TEST(DeltaNetKernels, ExtremeGates) {
  FOR_EACH_TARGET(t) {
    // g near 0: almost no decay, the state keeps 130 tokens of updates.
    Problem near0 = make(Case{.T = 130, .g_lo = -1e-4f, .g_hi = 0, .seed = 51});
    expect_close(run(t, near0), model(near0), t.bound, t.name() + " g near 0");
    // g = -20 everywhere: exp(G) underflows within a chunk; never inf * 0.
    Problem strong = make(Case{.T = 130, .seed = 52});
    std::fill(strong.g.begin(), strong.g.end(), -20.0f);
    expect_close(run(t, strong), model(strong), t.bound, t.name() + " g = -20");
    // g exactly 0 (no decay) without l2norm.
    Problem zero = make(Case{.T = 65, .l2norm = false, .seed = 53});
    std::fill(zero.g.begin(), zero.g.end(), 0.0f);
    expect_close(run(t, zero), model(zero), t.bound, t.name() + " g = 0");
  }
}

// ---- Adversarial gates -------------------------------------------------------------------
// Every finite gate sequence must stay within the bound (numerics.md "DeltaNet chunked": the
// error argument). The first two families are the reported reproducers: fp32 cumulative gate
// sums let a -20 or -1e6 wipe out the bits of the small gates after it, and exp(G_i - G_j) turned
// that into 2.3e-4 and 0.17 relative L2 (PoCL and lavapipe alike) before the chunked kernels
// summed each exponent from its own anchor. Inputs q, k, v ~ N(0, 1) as in those reports.
struct GateFamily {
  std::string name;
  Case shape;
  std::function<std::vector<float>(size_t n, std::mt19937& rng)> gates; // n = tokens * HV
  float beta = -1; // a constant beta, or random in (0.01, 0.99) when negative
  double reference_tol = 1e-5; // the reference against the double model
};

std::vector<float> normal_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Runs of small gates (in (-1e-4, 0]) broken by huge ones: the pattern that broke fp32 prefix
// sums, at random positions and magnitudes up to -FLT_MAX (two of which add to -inf).
std::vector<float> spiky_gates(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  const float huge[] = {-20.0f, -300.0f, -1e6f, -1e30f, -std::numeric_limits<float>::max()};
  std::vector<float> g(n);
  for (float& x : g) x = unit(rng) < 0.1f ? huge[rng() % 5] : -1e-4f * unit(rng);
  return g;
}

std::vector<GateFamily> gate_families() {
  using V = std::vector<float>;
  auto fill = [](float x) { return [x](size_t n, std::mt19937&) { return V(n, x); }; };
  const Case one_head{.T = 64, .H = 1, .HV = 1, .Dk = 16, .Dv = 16, .h0 = false};
  // The two reproducers, then each family at T = 1, the chunk size and around it, and across
  // several chunks; GQA and h0 in some.
  std::vector<GateFamily> f = {
      {"repro -20 x32, -1e-4 x32", one_head,
       [](size_t n, std::mt19937&) {
         V g(n, -1e-4f);
         std::fill(g.begin(), g.begin() + 32, -20.0f);
         return g;
       },
       0.5f},
      {"repro -1e6, -1e-2 x63", one_head,
       [](size_t n, std::mt19937&) {
         V g(n, -1e-2f);
         g[0] = -1e6f;
         return g;
       },
       0.5f},
      {"all -1e-4 T=130", Case{.T = 130, .H = 1, .HV = 2, .Dk = 16, .Dv = 16}, fill(-1e-4f)},
      {"all -0.0 T=65", Case{.T = 65, .H = 1, .HV = 1, .Dk = 16, .Dv = 16}, fill(-0.0f)},
      {"all -FLT_MAX T=64", Case{.T = 64, .H = 1, .HV = 1, .Dk = 16, .Dv = 16},
       fill(-std::numeric_limits<float>::max())},
      {"-1e6 every 17th, else -1e-3 T=200", Case{.T = 200, .H = 1, .HV = 1, .Dk = 16, .Dv = 16},
       [](size_t n, std::mt19937&) {
         V g(n, -1e-3f);
         for (size_t i = 5; i < n; i += 17) g[i] = -1e6f;
         return g;
       }},
      {"halves -300 / -1e-5 T=128", Case{.T = 128, .H = 1, .HV = 1, .Dk = 16, .Dv = 16, .h0 = true},
       [](size_t n, std::mt19937&) {
         V g(n);
         for (size_t i = 0; i < n; ++i) g[i] = (i / 32) % 2 ? -1e-5f : -300.0f;
         return g;
       }},
      // Qwen3-Next's gating with A_log, dt_bias, a, b ~ N(0, 10): rates from e^-30 to e^30 a head.
      {"Qwen3-Next-like T=200 HV=4", Case{.T = 200, .H = 2, .HV = 4, .Dk = 16, .Dv = 16, .h0 = true}, {}},
      // 32 chunks at the largest head: rounding carried from chunk to chunk through the state.
      {"Qwen3-Next-like T=2048 Dk=Dv=128", Case{.T = 2048, .H = 1, .HV = 1, .Dk = 128, .Dv = 128, .seed = 9}, {}},
      {"all -1e-4 T=2048 Dk=Dv=128", Case{.T = 2048, .H = 1, .HV = 1, .Dk = 128, .Dv = 128, .seed = 10},
       fill(-1e-4f)},
      // The reference's own limit: exp(-8.6725e-6) is the worst-rounded decay near 1 (half an ulp),
      // the same every token, and beta = 0.02 forgets slowly, so the reference drifts from the
      // exact recurrence by ~1.7e-5 here; chunked follows the exact one, recurrent the reference.
      {"constant worst-rounded g, beta 0.02, T=16384", Case{.T = 16384, .H = 1, .HV = 1, .Dk = 16, .Dv = 16, .seed = 11},
       fill(-8.6725e-06f), 0.02f, 3e-5},
  };
  for (int64_t T : {1, 63, 64, 65, 129}) {
    Case c{.T = T, .H = 1, .HV = 2, .Dk = 16, .Dv = 16, .seed = uint32_t(100 + T)};
    f.push_back({"spiky T=" + std::to_string(T), c, spiky_gates});
  }
  f.push_back({"spiky varlen, empty sequences",
               Case{.T = 130, .H = 1, .HV = 2, .Dk = 16, .Dv = 16, .cu = {0, 0, 64, 64, 129, 130}, .seed = 106},
               spiky_gates});
  f.push_back({"spiky B=2 Dk=Dv=32 GQA2", Case{.B = 2, .T = 70, .H = 2, .HV = 4, .Dk = 32, .Dv = 32, .seed = 107},
               spiky_gates});
  return f;
}

Problem make_gated(const GateFamily& f) {
  Problem p = make(f.shape);
  const Case& c = p.c;
  const size_t ng = p.g.size();
  uint32_t s = c.seed * 1000;
  p.q = normal_floats(p.q.size(), s + 1);
  p.k = normal_floats(p.k.size(), s + 2);
  p.v = normal_floats(p.v.size(), s + 3);
  std::mt19937 rng(s + 4);
  if (f.gates) {
    p.g = f.gates(ng, rng);
  } else {
    std::normal_distribution<float> wide(0.0f, 10.0f);
    std::vector<float> a(ng), b(ng), A_log(size_t(c.HV)), dt_bias(size_t(c.HV));
    for (float& x : a) x = wide(rng);
    for (float& x : A_log) x = wide(rng);
    for (float& x : dt_bias) x = wide(rng);
    for (float& x : b) x = wide(rng);
    ref::deltanet_gating(a.data(), b.data(), A_log.data(), dt_bias.data(), int64_t(ng) / c.HV, c.HV,
                         p.g.data(), p.beta.data());
  }
  if (f.beta >= 0) std::fill(p.beta.begin(), p.beta.end(), f.beta);
  return p;
}

Result reference(const Problem& p) {
  const Case& c = p.c;
  Result r{std::vector<float>(c.B * c.T * c.HV * c.Dv), std::vector<float>(p.N * c.HV * c.Dk * c.Dv)};
  ref::deltanet(p.q.data(), p.k.data(), p.v.data(), p.g.data(), p.beta.data(), c.h0 ? p.h0.data() : nullptr,
                c.cu.empty() ? nullptr : c.cu.data(), p.N, {c.B, c.T, c.H, c.HV, c.Dk, c.Dv}, p.scale(),
                c.l2norm, r.o.data(), r.ht.data());
  return r;
}

TEST(DeltaNetKernels, AdversarialGatesWithinBoundOfReference) {
  std::vector<GateFamily> families = gate_families();
  std::vector<Problem> problems;
  std::vector<Result> refs;
  std::vector<Model> models;
  for (const GateFamily& f : families) {
    problems.push_back(make_gated(f));
    refs.push_back(reference(problems.back()));
    // The reference is the definition; it must itself be right on these gates.
    const Model& m = models.emplace_back(model(problems.back()));
    const Result& r = refs.back();
    double eo = rel_l2(r.o.data(), m.o.data(), r.o.size()), eh = rel_l2(r.ht.data(), m.ht.data(), r.ht.size());
    EXPECT_LE(eo, f.reference_tol) << f.name << ": reference o";
    EXPECT_LE(eh, f.reference_tol) << f.name << ": reference ht";
    std::cout << "[ meas ] reference " << f.name << ": rel L2 vs double o " << eo << ", ht " << eh << "\n";
  }
  FOR_EACH_TARGET(t) {
    for (size_t i = 0; i < families.size(); ++i) {
      Result r = run(t, problems[i]);
      double eo = rel_l2(r.o.data(), refs[i].o.data(), r.o.size());
      double eh = rel_l2(r.ht.data(), refs[i].ht.data(), r.ht.size());
      EXPECT_LE(eo, t.bound) << t.name() << " " << families[i].name << ": o";
      EXPECT_LE(eh, t.bound) << t.name() << " " << families[i].name << ": ht";
      // Against the double model too: where the reference's own fp32 error dominates (long runs of
      // gates near 0), the chunked decays are closer to exact than the reference's products.
      std::cout << "[ meas ] " << t.name() << " " << families[i].name << ": rel L2 vs reference o " << eo
                << ", ht " << eh << "; vs double o " << rel_l2(r.o.data(), models[i].o.data(), r.o.size())
                << ", ht " << rel_l2(r.ht.data(), models[i].ht.data(), r.ht.size()) << "\n";
    }
  }
}

TEST(DeltaNetKernels, Deterministic) {
  FOR_EACH_TARGET(t) {
    Problem p = make(Case{.T = 130, .seed = 61});
    Result a = run(t, p), b = run(t, p);
    EXPECT_TRUE(test::equal_bytes(a.o.data(), b.o.data(), a.o.size() * 4)) << t.name();
    EXPECT_TRUE(test::equal_bytes(a.ht.data(), b.ht.data(), a.ht.size() * 4)) << t.name();
  }
}

TEST(DeltaNetKernels, HeadsPast128AreRefusedClearly) {
  FOR_EACH_TARGET(t) {
    for (Case c : {Case{.T = 70, .H = 1, .HV = 1, .Dk = 160, .Dv = 16},
                   Case{.T = 70, .H = 1, .HV = 1, .Dk = 16, .Dv = 160}}) {
      if (t.variant == "recurrent" && c.Dk <= 128) continue; // recurrent takes any Dv
      Problem p = make(c);
      try {
        run(t, p);
        ADD_FAILURE() << t.name() << ": Dk = " << c.Dk << ", Dv = " << c.Dv << " was accepted";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::Unsupported) << e.what();
        EXPECT_NE(std::string(e.what()).find("128"), std::string::npos) << e.what();
      }
    }
    // The refusal came from the registry, so the variant still runs afterwards.
    Problem ok = make(Case{.T = 70, .seed = 71});
    expect_close(run(t, ok), model(ok), t.bound, t.name() + " after a refusal");
  }
}

// ---- Long sequences ----------------------------------------------------------------------
// lavapipe (llvmpipe) ends every loop of a shader invocation, silently, once that invocation has
// run 65535 loop iterations in all (numerics.md "DeltaNet on Vulkan: long sequences"). With the
// whole time loop in one dispatch, vulkan recurrent wrote nothing from token 21845 on (three
// counted iterations a token at Dk <= 32) and a wrong ht from T = 16384 at Dk = 64, and the
// chunked scan went wrong past ~256 chunks at Dk = Dv = 64, ~508 at 16, ~624 at 8. The launchers
// now advance a sequence at most host/src/vulkan/deltanet.h's kDeltaNetWindowTokens a dispatch.
// These cross those lengths, and the windows, against the reference (PoCL was right before).
struct LongCase {
  std::string name;
  Case c;
  bool recurrent; // also on recurrent (~0.15 ms a token on lavapipe: kept to one case)
};

std::vector<LongCase> long_cases() {
  // Gates in [-2, 0]: each token still sees the last few, so a state lost or misplaced between
  // windows shows in the outputs after it.
  return {
      // One call, two sequences: 21845 and 21846 tokens, either side of the recurrent cut.
      {"varlen 21845, 21846 Dk=Dv=8",
       Case{.T = 43691, .H = 1, .HV = 1, .Dk = 8, .Dv = 8, .cu = {0, 21845, 43691}, .g_lo = -2, .seed = 201},
       true},
      // 512 and 640 chunks, past the ~624 where chunked broke at Dk = Dv = 8.
      {"varlen 32768, 40960 Dk=Dv=8",
       Case{.T = 73728, .H = 1, .HV = 1, .Dk = 8, .Dv = 8, .cu = {0, 32768, 73728}, .g_lo = -2, .seed = 202},
       false},
      // The most loop iterations a chunk (Dk = 128, ~470): broke from ~140 chunks; 256 here, with
      // GQA and HV = 2.
      {"T=16384 Dk=128 Dv=8 GQA2", Case{.T = 16384, .H = 1, .HV = 2, .Dk = 128, .Dv = 8, .g_lo = -2, .seed = 203},
       false},
  };
}

// Relative L2 error of the o of each sequence's last 64 tokens (zeros where a loop was cut), the
// worst of them.
double worst_tail(const Result& got, const Result& want, const Case& c) {
  std::vector<int64_t> cu = c.cu.empty() ? std::vector<int64_t>{} : c.cu;
  if (cu.empty())
    for (int64_t n = 0; n <= c.B; ++n) cu.push_back(n * c.T);
  double worst = 0;
  const int64_t row = c.HV * c.Dv;
  for (size_t n = 0; n + 1 < cu.size(); ++n) {
    int64_t from = std::max(cu[n], cu[n + 1] - 64);
    size_t at = size_t(from * row), len = size_t((cu[n + 1] - from) * row);
    if (len) worst = std::max(worst, rel_l2(got.o.data() + at, want.o.data() + at, len));
  }
  return worst;
}

TEST(DeltaNetKernels, LongSequences) {
  std::vector<LongCase> cases = long_cases();
  std::vector<Problem> problems;
  std::vector<Result> refs;
  for (const LongCase& l : cases) {
    problems.push_back(make(l.c));
    refs.push_back(reference(problems.back()));
  }
  FOR_EACH_TARGET(t) {
    for (size_t i = 0; i < cases.size(); ++i) {
      if (t.variant == "recurrent" && !cases[i].recurrent) continue;
      Result got = run(t, problems[i]);
      const Result& want = refs[i];
      double eo = rel_l2(got.o.data(), want.o.data(), got.o.size());
      double eh = rel_l2(got.ht.data(), want.ht.data(), got.ht.size());
      double et = worst_tail(got, want, cases[i].c);
      EXPECT_LE(eo, t.bound) << t.name() << " " << cases[i].name << ": o";
      EXPECT_LE(eh, t.bound) << t.name() << " " << cases[i].name << ": ht";
      EXPECT_LE(et, t.bound) << t.name() << " " << cases[i].name << ": o of each sequence's last 64 tokens";
      std::cout << "[ meas ] " << t.name() << " " << cases[i].name << ": rel L2 vs reference o " << eo << ", ht "
                << eh << ", last 64 tokens' o " << et << "\n";
    }
  }
}

// Sets the vulkan DeltaNet dispatch window for a scope (testing.h).
struct WindowForTesting {
  explicit WindowForTesting(int64_t tokens) { detail::vulkan::set_deltanet_window_for_testing(tokens); }
  ~WindowForTesting() { detail::vulkan::set_deltanet_window_for_testing(0); }
};

// Windows of 1, 2 and 3 chunks (64, 128, 192 tokens): window boundaries inside sequences, at
// their ends, sequences ending before a window starts and empty ones, h0 and GQA; the result
// must not depend on the window (bytes equal to the default's, which covers these in one).
TEST(DeltaNetKernels, VulkanWindowsDoNotChangeResults) {
  if (!available("vulkan", "recurrent") && !available("vulkan", "chunked"))
    GTEST_SKIP() << "no vulkan deltanet variant";
  Problem p = make(Case{.T = 451, .H = 1, .HV = 2, .Dk = 16, .Dv = 40, .cu = {0, 0, 64, 65, 200, 451}, .seed = 211});
  bool ran = false;
  for (const dispatch::DeviceRef& d : dispatch::devices()) {
    if (d.backend != "vulkan") continue;
    for (std::string_view variant : {"recurrent", "chunked"}) {
      if (!available("vulkan", variant)) continue;
      Target t{"vulkan", d.index, std::string(variant), 0.0};
      Result whole = run(t, p);
      for (int64_t window : {64, 128, 192}) {
        WindowForTesting scope(window);
        Result cut = run(t, p);
        EXPECT_TRUE(test::equal_bytes(cut.o.data(), whole.o.data(), whole.o.size() * 4))
            << t.name() << " window " << window << ": o";
        EXPECT_TRUE(test::equal_bytes(cut.ht.data(), whole.ht.data(), whole.ht.size() * 4))
            << t.name() << " window " << window << ": ht";
      }
      ran = true;
    }
  }
  if (!ran) GTEST_SKIP() << "no vulkan device";
}

// The canary: with the whole sequence in one dispatch (the window lifted), a driver that cuts a
// variant's loops (lavapipe) must make the call fail, not return its outputs; a driver that does
// not must return the right ones.
void expect_cut_reported(std::string_view variant, const Case& c, const std::string& what) {
  if (!available("vulkan", variant)) GTEST_SKIP() << "no vulkan deltanet " << variant;
  Problem p = make(c);
  Result want = reference(p);
  bool ran = false;
  for (const dispatch::DeviceRef& d : dispatch::devices()) {
    if (d.backend != "vulkan") continue;
    ran = true;
    const bool llvmpipe = d.facts.name.find("llvmpipe") != std::string::npos;
    WindowForTesting scope(int64_t{1} << 30);
    Target t{"vulkan", d.index, std::string(variant), 0.0};
    try {
      Result r = run(t, p, nullptr, /*direct=*/true);
      EXPECT_FALSE(llvmpipe) << d.label() << ": " << what << " in one dispatch returned outputs";
      EXPECT_LE(rel_l2(r.o.data(), want.o.data(), r.o.size()), kChunkedBound) << d.label();
      EXPECT_LE(rel_l2(r.ht.data(), want.ht.data(), r.ht.size()), kChunkedBound) << d.label();
    } catch (const detail::BackendFailure& e) {
      EXPECT_NE(std::string(e.what()).find("loops short"), std::string::npos) << e.what();
      std::cout << "[ note ] " << t.name() << " " << what << " in one dispatch: " << e.what() << "\n";
    }
  }
  if (!ran) GTEST_SKIP() << "no vulkan device";
}

// lavapipe cuts the chunked scan from ~140 chunks at Dk = 128: 256 here.
TEST(DeltaNetKernels, VulkanCutLoopsAreReported) {
  expect_cut_reported("chunked", Case{.T = 16384, .H = 1, .HV = 1, .Dk = 128, .Dv = 8, .g_lo = -2, .seed = 221},
                      "256 chunks");
}

// The same for recurrent, which counts three iterations a token at Dk = 8: cut from 21845.
TEST(DeltaNetKernels, VulkanRecurrentCutLoopsAreReported) {
  expect_cut_reported("recurrent", Case{.T = 22000, .H = 1, .HV = 1, .Dk = 8, .Dv = 8, .g_lo = -2, .seed = 222},
                      "22000 tokens");
}

TEST(DeltaNetKernels, SelectionByT) {
  bool checked = false;
  for (std::string_view backend : {"opencl", "vulkan"}) {
    if (!available(backend, "chunked") || !available(backend, "recurrent")) continue;
    for (const dispatch::DeviceRef& d : dispatch::devices()) {
      if (d.backend != backend) continue;
      const int64_t min_t = chunked_min_t(d);
      for (int64_t T : {int64_t{1}, min_t - 1, min_t, int64_t{130}}) {
        Problem p = make(Case{.T = T, .HV = 2, .Dk = 16, .Dv = 16, .seed = 81});
        RunInfo info;
        Target auto_pick{std::string(backend), d.index, "", 0.0};
        Result r = run(auto_pick, p, &info);
        EXPECT_EQ(info.variant, T >= min_t ? "chunked" : "recurrent")
            << d.label() << " T = " << T << ": " << info.reason;
        expect_close(r, model(p), kChunkedBound, d.label() + " auto T=" + std::to_string(T));
        checked = true;
      }
      // varlen: the longest sequence decides, not the token count.
      const int64_t a = min_t - 1, b = 2 * (min_t - 1);
      Problem v = make(Case{.T = b, .HV = 2, .Dk = 16, .Dv = 16, .cu = {0, a, b}, .seed = 82});
      RunInfo info;
      run(Target{std::string(backend), d.index, "", 0.0}, v, &info);
      EXPECT_EQ(info.variant, "recurrent") << d.label() << ": two sequences of " << a;
    }
  }
  if (!checked) GTEST_SKIP() << "no backend has both deltanet variants available";
}

} // namespace
