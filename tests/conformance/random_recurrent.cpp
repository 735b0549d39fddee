// Randomized cases for Gated DeltaNet and the causal conv1d + SiLU (numerics.md section 5),
// bounded: o and ht within the variant's declared bound (the elementwise DeltaNet error bound of
// numerics.md, deltanet_bound.h), y and the new state within conv1d's relative L2 bound.
//
// DeltaNet shapes: T at and around the chunked variant's chunk of 64 (63, 64, 65, 127, 128,
// 129, ...), decode T = 1, varlen batches with empty sequences and sequences at chunk
// boundaries, GQA ratios 1 to 4, head dims from 1 to 128 (past 128 now and then: the registry
// then refuses and another draw is taken), h0 on and off, l2norm on and off, f32/bf16/f16
// inputs and outputs, the default or an explicit scale. Gates: g in [-1, 0); log-uniform in
// [-1e6, -1e-6] mixed per element; all tiny; one huge spike (-1e6) in otherwise normal gates;
// runs of -20 and -1e-4 (as g = [-20]*32 + [-1e-4]*32); runs of mixed magnitudes; exact zeros;
// Qwen3-Next's g = -exp(A_log) * softplus(a + dt_bias) with a ~ N(0, 10), given as g or through
// the fused gating inputs. beta in (0, 1), sometimes at 0, 1 and 1e-6 from either end.
// The recurrence stays contractive, as in the models: keys are l2-normalised by the operation
// or, without l2norm, drawn with norm at most 1 (a non-contractive recurrence grows without
// bound in any precision and says nothing about a kernel).
#include "conformance/random.h"
#include "reference/formats.h"

namespace tessera::conformance::random {

namespace {

std::string draw_out(Rng& r) { return r.chance(0.7) ? "f32" : r.chance(0.5) ? "bf16" : "f16"; }

// ---- deltanet -----------------------------------------------------------------------------------

constexpr int64_t kChunk = 64; // the chunked variant's chunk (kernels/deltanet/chunked.*)

int64_t draw_len(Rng& r, Size size) {
  const bool quick = size == Size::Quick;
  std::vector<int64_t> edges = {1,          2,
                                3,          31,
                                32,         33,
                                kChunk - 1, kChunk,
                                kChunk + 1, 2 * kChunk - 1,
                                2 * kChunk, 2 * kChunk + 1};
  if (!quick)
    for (int64_t e : {3 * kChunk - 1, 3 * kChunk, 3 * kChunk + 1, 4 * kChunk, 5 * kChunk + 1})
      edges.push_back(e);
  return edge_or(r, edges, 1, quick ? 100 : 320, 0.5);
}

int64_t draw_head(Rng& r, Size size) {
  if (r.chance(0.05)) return r.range(129, 256); // past 128: only recurrent_dk256 takes Dk there
  if (r.chance(0.5)) return r.pick(std::vector<int64_t>{1, 16, 32, 64, 128});
  return r.range(1, size == Size::Quick ? 64 : 128);
}

Spec dn_draw(Rng& r, Size size) {
  Spec s;
  const bool quick = size == Size::Quick;
  if (r.chance(0.25)) {
    const int64_t n = r.range(1, 4);
    for (int64_t i = 0; i < n; ++i)
      s.seqs.push_back(r.chance(0.3)
                           ? r.pick(std::vector<int64_t>{0, 0, 1, kChunk - 1, kChunk, kChunk + 1})
                           : r.range(0, quick ? 70 : 200));
    s.n["B"] = 1;
    s.n["T"] = 0;
    for (int64_t l : s.seqs)
      s.n["T"] += l;
  } else {
    s.n["B"] = r.chance(0.7) ? 1 : r.range(2, 3);
    s.n["T"] = draw_len(r, size);
  }
  s.n["H"] = r.range(1, quick ? 2 : 4);
  s.n["ratio"] = r.pick(std::vector<int64_t>{1, 1, 2, 3, 4}); // GQA: HV = H * ratio
  s.n["Dk"] = draw_head(r, size);
  s.n["Dv"] = draw_head(r, size);
  s.n["l2norm"] = r.chance(0.6);
  s.n["h0"] = r.chance(0.5);
  s.n["fused"] = r.chance(0.25);
  s.s["gates"] = s["fused"]
                     ? (r.chance(0.7) ? "qwen" : "normal")
                     : r.pick(std::vector<std::string>{"normal", "mixed_extreme", "tiny", "spike",
                                                       "blocks_20_1e-4", "runs", "zero", "qwen"});
  s.s["beta"] = r.chance(0.8) ? "normal" : "edges";
  s.s["magnitude"] =
      r.pick(std::vector<std::string>{"unit", "unit", "unit", "large_q", "tiny_v", "large_v"});
  s.s["in"] = r.chance(0.6) ? "f32" : r.chance(0.5) ? "bf16" : "f16";
  s.s["out"] = draw_out(r);
  if (r.chance(0.3)) s.s["scale"] = float_param(static_cast<float>(r.uniform(0.05, 2.0)));
  s.seed = r.next();
  return s;
}

int64_t n_seqs_of(const Spec& s) {
  return s.seqs.empty() ? s["B"] : static_cast<int64_t>(s.seqs.size());
}

Dims dn_dims(const Spec& s) {
  const int64_t B = s["B"], T = s["T"], HV = s["H"] * s["ratio"], Dk = s["Dk"], Dv = s["Dv"],
                N = n_seqs_of(s);
  int64_t longest = T;
  if (!s.seqs.empty()) longest = *std::max_element(s.seqs.begin(), s.seqs.end());
  return {{"T", longest}, {"tokens", B * T},
          {"n_seqs", N},  {"H", s["H"]},
          {"HV", HV},     {"Dk", Dk},
          {"Dv", Dv},     {"elements", std::max(B * T * HV * std::max(Dk, Dv), N * HV * Dk * Dv)}};
}

std::vector<Spec> dn_smaller(const Spec& s) {
  std::vector<Spec> out;
  if (s.seqs.empty()) {
    for (Spec& c : halvings(s, {"T", "B"}))
      out.push_back(std::move(c));
  } else {
    for (size_t i = 0; i < s.seqs.size(); ++i) {
      if (s.seqs.size() > 1) { // drop sequence i
        Spec c = s;
        c.seqs.erase(c.seqs.begin() + static_cast<std::ptrdiff_t>(i));
        c.n["T"] -= s.seqs[i];
        out.push_back(std::move(c));
      }
      if (s.seqs[i] > 1) { // halve it
        Spec c = s;
        c.seqs[i] /= 2;
        c.n["T"] -= s.seqs[i] - c.seqs[i];
        out.push_back(std::move(c));
      }
    }
  }
  for (Spec& c : halvings(s, {"Dk", "Dv", "H", "ratio"}))
    out.push_back(std::move(c));
  for (const char* flag : {"h0", "fused"})
    if (s[flag]) {
      Spec c = s;
      c.n[flag] = 0;
      if (std::string(flag) == "fused" && c.str("gates") != "qwen") c.s["gates"] = "normal";
      out.push_back(std::move(c));
    }
  for (const char* choice : {"in", "out"})
    if (s.str(choice) != "f32") {
      Spec c = s;
      c.s[choice] = "f32";
      out.push_back(std::move(c));
    }
  return out;
}

// Qwen3-Next gating parameters of value head hv: A_log (A = exp(A_log) up to 16) and dt_bias.
float qwen_A_log(uint64_t seed, int64_t hv) {
  return static_cast<float>(Rng(seed, 110, hv).uniform(-4.0, 2.77));
}
float qwen_dt_bias(uint64_t seed, int64_t hv) {
  return static_cast<float>(Rng(seed, 111, hv).uniform(-3.0, 1.0));
}
float qwen_a(uint64_t seed, int64_t b, int64_t t, int64_t hv) {
  return static_cast<float>(10.0 * Rng(seed, 112, b, t, hv).normal());
}

float gate(const Spec& s, int64_t b, int64_t t, int64_t hv) {
  Rng e(s.seed, 100, b, t, hv);
  const std::string& m = s.str("gates");
  if (m == "mixed_extreme") return static_cast<float>(-std::pow(10.0, e.uniform(-6.0, 6.0)));
  if (m == "tiny") return static_cast<float>(-std::pow(10.0, e.uniform(-6.0, -4.0)));
  if (m == "spike")
    return t == Rng(s.seed, 101, b, hv).range(0, 130) ? -1e6f
                                                      : static_cast<float>(-e.uniform(1e-3, 1.0));
  if (m == "blocks_20_1e-4") return (t % kChunk) < kChunk / 2 ? -20.0f : -1e-4f;
  if (m == "runs") {
    const int64_t run = 1 + static_cast<int64_t>(s.seed % 40);
    Rng r(s.seed, 102, b, t / run, hv);
    return r.pick(std::vector<float>{-20.0f, -1e-4f, -1e-6f, -5.0f, -0.5f, -60.0f});
  }
  if (m == "zero") return e.chance(0.5) ? 0.0f : -0.0f;
  if (m == "qwen") { // g = -exp(A_log) * softplus(a + dt_bias), in double, rounded once
    const double x = static_cast<double>(qwen_a(s.seed, b, t, hv)) + qwen_dt_bias(s.seed, hv);
    return static_cast<float>(-std::exp(static_cast<double>(qwen_A_log(s.seed, hv))) *
                              (x > 20 ? x : std::log1p(std::exp(x))));
  }
  return static_cast<float>(-1.0 + 0.999 * e.unit()); // [-1, -0.001)
}

Drawn dn_build(const Spec& s) {
  const int64_t B = s["B"], T = s["T"], H = s["H"], HV = H * s["ratio"], Dk = s["Dk"], Dv = s["Dv"],
                N = n_seqs_of(s);
  const DType in = dtype_of(s.str("in"));
  const std::string& mag = s.str("magnitude");
  const double q_sd = mag == "large_q" ? 100.0 : 1.0, v_sd = mag == "tiny_v"    ? 1e-3
                                                             : mag == "large_v" ? 1e3
                                                                                : 1.0;
  std::vector<float> q(static_cast<size_t>(B * T * H * Dk)), k(q.size()),
      v(static_cast<size_t>(B * T * HV * Dv));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t h = 0; h < H; ++h) {
        const size_t at = static_cast<size_t>(((b * T + t) * H + h) * Dk);
        double norm = 0;
        for (int64_t i = 0; i < Dk; ++i) {
          q[at + i] = static_cast<float>(q_sd * Rng(s.seed, 103, b, t, h, i).normal());
          k[at + i] = static_cast<float>(Rng(s.seed, 104, b, t, h, i).normal());
          norm += static_cast<double>(k[at + i]) * k[at + i];
        }
        if (!s["l2norm"]) { // norm at most 1: the recurrence stays contractive
          const double want =
              Rng(s.seed, 105, b, t, h).uniform(0.5, 1.0) / std::sqrt(std::max(norm, 1e-30));
          for (int64_t i = 0; i < Dk; ++i)
            k[at + i] = static_cast<float>(k[at + i] * want);
        }
      }
      for (int64_t h = 0; h < HV; ++h)
        for (int64_t i = 0; i < Dv; ++i)
          v[static_cast<size_t>(((b * T + t) * HV + h) * Dv + i)] =
              static_cast<float>(v_sd * Rng(s.seed, 106, b, t, h, i).normal());
    }
  Drawn d;
  d.inputs.emplace("q", typed(in, {B, T, H, Dk}, fit(q, s.str("in"))));
  d.inputs.emplace("k", typed(in, {B, T, H, Dk}, fit(k, s.str("in"))));
  d.inputs.emplace("v", typed(in, {B, T, HV, Dv}, fit(v, s.str("in"))));
  if (s["fused"]) {
    Tensor a(DType::F32, {B, T, HV}), bb(DType::F32, {B, T, HV}), A_log(DType::F32, {HV}),
        dt(DType::F32, {HV});
    const bool qwen = s.str("gates") == "qwen";
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < HV; ++h) {
          const int64_t i = (b * T + t) * HV + h;
          a.as<float>()[i] = qwen ? qwen_a(s.seed, b, t, h)
                                  : static_cast<float>(1.5 * Rng(s.seed, 107, b, t, h).normal());
          bb.as<float>()[i] = static_cast<float>((s.str("beta") == "edges" ? 30.0 : 2.0) *
                                                 Rng(s.seed, 108, b, t, h).normal());
        }
    for (int64_t h = 0; h < HV; ++h)
      A_log.as<float>()[h] = qwen_A_log(s.seed, h), dt.as<float>()[h] = qwen_dt_bias(s.seed, h);
    d.inputs.emplace("a", std::move(a));
    d.inputs.emplace("b", std::move(bb));
    d.inputs.emplace("A_log", std::move(A_log));
    d.inputs.emplace("dt_bias", std::move(dt));
  } else {
    Tensor g(DType::F32, {B, T, HV}), beta(DType::F32, {B, T, HV});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < HV; ++h) {
          const int64_t i = (b * T + t) * HV + h;
          g.as<float>()[i] = gate(s, b, t, h);
          Rng e(s.seed, 109, b, t, h);
          float bt = static_cast<float>(e.uniform(0.02, 0.98));
          if (s.str("beta") == "edges" && e.chance(0.5))
            bt = e.pick(std::vector<float>{0.0f, 1.0f, 1e-6f, 0.999999f});
          beta.as<float>()[i] = bt;
        }
    d.inputs.emplace("g", std::move(g));
    d.inputs.emplace("beta", std::move(beta));
  }
  if (s["h0"]) {
    std::vector<float> h0(static_cast<size_t>(N * HV * Dk * Dv));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < HV; ++h)
        for (int64_t i = 0; i < Dk * Dv; ++i)
          h0[static_cast<size_t>((n * HV + h) * Dk * Dv + i)] =
              static_cast<float>(0.5 * Rng(s.seed, 113, n, h, i / Dv, i % Dv).normal());
    d.inputs.emplace("h0", typed(DType::F32, {N, HV, Dk, Dv}, h0));
  }
  if (!s.seqs.empty()) {
    Tensor cu(DType::I64, {N + 1});
    cu.as<int64_t>()[0] = 0;
    for (int64_t n = 0; n < N; ++n)
      cu.as<int64_t>()[n + 1] = cu.as<int64_t>()[n] + s.seqs[static_cast<size_t>(n)];
    d.inputs.emplace("cu_seqlens", std::move(cu));
  }
  d.params["l2norm"] = s["l2norm"] ? "1" : "0";
  d.params["out"] = s.str("out");
  if (!s.str("scale").empty()) d.params["scale"] = s.str("scale");
  return d;
}

void dn_run(const Drawn& d, const RunOptions& o, std::vector<Guarded>& outs) {
  const DeltaNetArgs a = deltanet_args(d);
  const Tensor &q = d.inputs.at("q"), &v = d.inputs.at("v");
  const int64_t N = a.cu_seqlens ? a.cu_seqlens->shape[0] - 1 : q.shape()[0];
  outs.emplace_back(out_dtype(d), Shape{q.shape()[0], q.shape()[1], v.shape()[2], v.shape()[3]});
  outs.emplace_back(DType::F32, Shape{N, v.shape()[2], q.shape()[3], v.shape()[3]});
  deltanet(a, outs[0].view, outs[1].view, o);
}

// ---- conv1d -------------------------------------------------------------------------------------

Spec conv_draw(Rng& r, Size size) {
  Spec s;
  const bool quick = size == Size::Quick;
  s.n["W"] = r.pick(std::vector<int64_t>{1, 2, 3, 4, 4, 4, 5, 8});
  s.n["B"] = r.chance(0.6) ? 1 : r.range(2, 4);
  s.n["T"] = edge_or(r, {1, 2, 3, std::max<int64_t>(1, s["W"] - 2), s["W"], s["W"] + 1}, 1,
                     quick ? 64 : 300);
  s.n["C"] = edge_or(r, {1, 7, 8, 63, 64, 65, 300}, 1, quick ? 300 : 2048);
  s.n["B0"] = s.n["C0"] = 0;
  s.n["bias"] = r.chance(0.5);
  s.n["state"] = r.chance(0.6);
  s.s["values"] =
      r.pick(std::vector<std::string>{"normal", "normal", "silu_tails", "tiny", "mixed"});
  s.s["in"] = r.chance(0.6) ? "f32" : r.chance(0.5) ? "bf16" : "f16";
  s.s["out"] = draw_out(r);
  s.seed = r.next();
  return s;
}

float conv_value(const Spec& s, uint64_t id, int64_t i0, int64_t i1, int64_t i2,
                 double normal_range) {
  Rng e(s.seed, id, i0, i1, i2);
  std::string m = s.str("values");
  if (m == "mixed") m = e.pick(std::vector<std::string>{"normal", "silu_tails", "tiny"});
  if (m == "silu_tails")
    return static_cast<float>((e.chance(0.5) ? 1 : -1) *
                              e.uniform(20.0, 120.0)); // exp(-z) over- and underflows
  if (m == "tiny") return static_cast<float>(e.normal() * (e.chance(0.5) ? 1e-40 : 1e-20));
  return static_cast<float>(e.uniform(-normal_range, normal_range));
}

Drawn conv_build(const Spec& s) {
  const int64_t B = s["B"], T = s["T"], C = s["C"], W = s["W"], keep = W - 1;
  std::vector<float> x(static_cast<size_t>(B * T * C)), w(static_cast<size_t>(C * W)),
      bias(static_cast<size_t>(C)), st(static_cast<size_t>(B * C * keep));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < C; ++c)
        x[static_cast<size_t>((b * T + t) * C + c)] =
            conv_value(s, 120, s["B0"] + b, t, s["C0"] + c, 4.0);
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t j = 0; j < W; ++j)
      w[static_cast<size_t>(c * W + j)] =
          static_cast<float>(Rng(s.seed, 121, s["C0"] + c, j).uniform(-1, 1));
    bias[static_cast<size_t>(c)] =
        static_cast<float>(Rng(s.seed, 122, s["C0"] + c).uniform(-0.5, 0.5));
  }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < keep; ++j)
        st[static_cast<size_t>((b * C + c) * keep + j)] =
            conv_value(s, 123, s["B0"] + b, s["C0"] + c, j, 4.0);
  Drawn d;
  d.inputs.emplace("x", typed(dtype_of(s.str("in")), {B, T, C}, fit(x, s.str("in"))));
  d.inputs.emplace("w", typed(DType::F32, {C, W}, w));
  if (s["bias"]) d.inputs.emplace("bias", typed(DType::F32, {C}, bias));
  if (s["state"]) d.inputs.emplace("state", typed(DType::F32, {B, C, keep}, st));
  d.params["out"] = s.str("out");
  return d;
}

void conv_run(const Drawn& d, const RunOptions& o, std::vector<Guarded>& outs) {
  const Tensor &x = d.inputs.at("x"), &w = d.inputs.at("w");
  const int64_t B = x.shape()[0], T = x.shape()[1], C = x.shape()[2], W = w.shape()[1];
  outs.emplace_back(out_dtype(d), Shape{B, T, C});
  outs.emplace_back(DType::F32, Shape{B, C, W - 1});
  conv1d(x.view(), w.view(), optional_input(d, "bias"), optional_input(d, "state"), outs[0].view,
         outs[1].view, o);
}

Dims conv_dims(const Spec& s) {
  const int64_t B = s["B"], T = s["T"], C = s["C"], W = s["W"];
  return {{"T", T}, {"B", B}, {"C", C}, {"W", W}, {"elements", std::max(B * T * C, C * W)}};
}

std::vector<Spec> conv_smaller(const Spec& s) {
  std::vector<Spec> out = halvings(s, {"C", "B", "T", "W"});
  for (const char* flag : {"bias", "state"})
    if (s[flag]) {
      Spec c = s;
      c.n[flag] = 0;
      out.push_back(std::move(c));
    }
  return out;
}

} // namespace

DeltaNetArgs deltanet_args(const Drawn& d) {
  DeltaNetArgs a;
  a.q = d.inputs.at("q").view(), a.k = d.inputs.at("k").view(), a.v = d.inputs.at("v").view();
  a.g = optional_input(d, "g"), a.beta = optional_input(d, "beta");
  a.a = optional_input(d, "a"), a.b = optional_input(d, "b"), a.A_log = optional_input(d, "A_log"),
  a.dt_bias = optional_input(d, "dt_bias");
  a.h0 = optional_input(d, "h0"), a.cu_seqlens = optional_input(d, "cu_seqlens");
  if (auto it = d.params.find("scale"); it != d.params.end())
    a.scale = std::strtof(it->second.c_str(), nullptr);
  a.l2norm = d.params.at("l2norm") == "1";
  return a;
}

std::vector<Generator> recurrent_generators() {
  return {
      {"deltanet", {"o", "ht"}, dn_draw, dn_dims, dn_smaller, dn_build, dn_run},
      {"conv1d", {"y", "state"}, conv_draw, conv_dims, conv_smaller, conv_build, conv_run},
  };
}

} // namespace tessera::conformance::random
