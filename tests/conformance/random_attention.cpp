// Randomized cases for gated attention (numerics.md section 6), bounded: o and lse within the
// attention error bound of the variant's Conformance (numerics.md "Attention error bound"). Shapes: decode T = 1 to 16 (the split-KV variant's
// range) against short and long caches, prefill T past 16, causal (S >= T, the offset S - T) and
// not, GQA ratios 1, 2, 3, 4, 6, 8, head dims 1 to 256 (past 256 now and then: refused, redrawn),
// batches, varlen with empty sequences (int64 or int32 offsets). K and V each fp32, bf16, fp16
// or E4M3 with small or large scales; q fp32, bf16 or fp16; gate on or off (saturating now and
// then); lse on or off; every output dtype; the default or an explicit scale. Values: moderate;
// peaky (large q and k: the softmax is nearly one-hot); flat (equal keys: uniform weights); a few
// dominant keys; tiny q and k; large v.
#include "conformance/random.h"
#include "reference/formats.h"

namespace tessera::conformance::random {

namespace {

Spec att_draw(Rng& r, Size size) {
  Spec s;
  const bool quick = size == Size::Quick;
  s.n["causal"] = r.chance(0.7);
  const bool causal = s["causal"];
  auto key_len = [&](int64_t t) {
    if (causal) return t + edge_or(r, {0, 1, 15, 16, 17}, 0, quick ? 64 : 300);
    return edge_or(r, {1, 15, 16, 17}, 1, quick ? 100 : 400);
  };
  if (r.chance(0.25)) { // varlen, empty sequences included
    const int64_t n = r.range(1, 4);
    for (int64_t i = 0; i < n; ++i) {
      int64_t t = r.chance(0.3) ? r.pick(std::vector<int64_t>{0, 0, 1, 16, 17})
                                : r.range(0, quick ? 40 : 150);
      int64_t k = t == 0 && r.chance(0.5) ? r.range(0, 20) : key_len(t);
      s.seqs.push_back(t);
      s.seqs_k.push_back(std::max(k, causal ? t : int64_t{1}));
    }
    s.n["B"] = 1;
    s.s["cu"] = r.chance(0.5) ? "i64" : "i32";
  } else {
    s.n["B"] = r.chance(0.7) ? 1 : r.range(2, 3);
    s.n["T"] = edge_or(r, {1, 2, 15, 16, 17, 64, 65}, 1, quick ? 48 : 200, 0.5);
    // Decode against a long cache now and then (split-KV territory).
    s.n["S"] =
        s["T"] <= 16 && r.chance(0.4) ? s["T"] + r.range(0, quick ? 600 : 6000) : key_len(s["T"]);
  }
  s.n["Hkv"] = r.range(1, 2);
  s.n["ratio"] = r.pick(std::vector<int64_t>{1, 2, 3, 4, 6, 8});
  s.n["D"] = r.chance(0.04)  ? r.range(257, 300)
             : r.chance(0.5) ? r.pick(std::vector<int64_t>{1, 16, 64, 80, 128, 200, 256})
                             : r.range(1, 256);
  s.n["gate"] = r.chance(0.5);
  s.n["lse"] = r.chance(0.5);
  const std::vector<std::string> kv = {"f32", "bf16", "f16", "e4m3"};
  s.s["q"] = r.pick(std::vector<std::string>{"f32", "f32", "bf16", "f16"});
  s.s["k"] = r.pick(kv);
  s.s["v"] = r.pick(kv);
  s.s["out"] = r.chance(0.7) ? "f32" : r.chance(0.5) ? "bf16" : "f16";
  s.s["values"] = r.pick(std::vector<std::string>{"moderate", "moderate", "peaky", "flat",
                                                  "dominant_keys", "tiny_qk", "large_v"});
  if (r.chance(0.3)) s.s["scale"] = float_param(static_cast<float>(r.uniform(0.01, 3.0)));
  if (s.str("k") == "e4m3")
    s.s["k_scale"] = float_param(r.pick(std::vector<float>{0.0125f, 1e-3f, 0.5f, 20.0f}));
  if (s.str("v") == "e4m3")
    s.s["v_scale"] = float_param(r.pick(std::vector<float>{0.03f, 1e-3f, 0.5f, 20.0f}));
  s.seed = r.next();
  return s;
}

int64_t total(const std::vector<int64_t>& v) {
  int64_t t = 0;
  for (int64_t x : v)
    t += x;
  return t;
}

// T and S as the tensors have them (varlen: the totals).
int64_t T_of(const Spec& s) { return s.seqs.empty() ? s["T"] : total(s.seqs); }
int64_t S_of(const Spec& s) { return s.seqs.empty() ? s["S"] : total(s.seqs_k); }

Dims att_dims(const Spec& s) {
  const int64_t B = s["B"], T = T_of(s), S = S_of(s), Hkv = s["Hkv"], Hq = Hkv * s["ratio"],
                D = s["D"];
  int64_t lq = T, lk = S;
  if (!s.seqs.empty()) {
    lq = *std::max_element(s.seqs.begin(), s.seqs.end());
    lk = *std::max_element(s.seqs_k.begin(), s.seqs_k.end());
  }
  return {{"T", lq},
          {"S", lk},
          {"n_seqs", s.seqs.empty() ? B : static_cast<int64_t>(s.seqs.size())},
          {"Hq", Hq},
          {"Hkv", Hkv},
          {"D", D},
          {"causal", s["causal"]},
          {"elements", std::max(B * T * Hq * D, B * S * Hkv * D)}};
}

std::vector<Spec> att_smaller(const Spec& s) {
  std::vector<Spec> out;
  if (s.seqs.empty()) {
    for (Spec& c : halvings(s, {"B", "T"}))
      out.push_back(std::move(c));
    if (s["S"] / 2 >= (s["causal"] ? s["T"] : 1) && s["S"] / 2 < s["S"]) {
      Spec c = s;
      c.n["S"] = s["S"] / 2;
      out.push_back(std::move(c));
    }
    if (s["T"] > 1) { // both, keeping the causal offset's sign
      Spec c = s;
      c.n["T"] = s["T"] / 2, c.n["S"] = std::max<int64_t>(c["T"], s["S"] / 2);
      out.push_back(std::move(c));
    }
  } else {
    for (size_t i = 0; i < s.seqs.size(); ++i) {
      if (s.seqs.size() > 1) {
        Spec c = s;
        c.seqs.erase(c.seqs.begin() + static_cast<std::ptrdiff_t>(i));
        c.seqs_k.erase(c.seqs_k.begin() + static_cast<std::ptrdiff_t>(i));
        out.push_back(std::move(c));
      }
      if (s.seqs_k[i] > 1) {
        Spec c = s;
        c.seqs[i] /= 2,
            c.seqs_k[i] = std::max<int64_t>(s.seqs_k[i] / 2, s["causal"] ? c.seqs[i] : 1);
        if (c.seqs_k[i] < s.seqs_k[i]) out.push_back(std::move(c));
      }
    }
  }
  for (Spec& c : halvings(s, {"D", "Hkv", "ratio"}))
    out.push_back(std::move(c));
  for (const char* flag : {"gate", "lse"})
    if (s[flag]) {
      Spec c = s;
      c.n[flag] = 0;
      out.push_back(std::move(c));
    }
  for (const char* t : {"q", "k", "v", "out"})
    if (s.str(t) != "f32") {
      Spec c = s;
      c.s[t] = "f32";
      c.s.erase(std::string(t) + "_scale");
      out.push_back(std::move(c));
    }
  return out;
}

// fp32 values stored as `t` (E4M3: divided by the scale first, so value ~ e4m3 * scale).
Tensor stored(std::string_view t, Shape shape, const std::vector<float>& x, float scale) {
  if (t != "e4m3") return typed(dtype_of(t), std::move(shape), fit(x, t));
  Tensor out(DType::F8_E4M3, std::move(shape));
  for (size_t i = 0; i < x.size(); ++i)
    out.as<uint8_t>()[i] = ref::f32_to_e4m3(x[i] / scale);
  return out;
}

Tensor offsets(const std::string& t, const std::vector<int64_t>& lens) {
  Tensor out(t == "i32" ? DType::I32 : DType::I64, {static_cast<int64_t>(lens.size()) + 1});
  int64_t at = 0;
  for (size_t i = 0; i <= lens.size(); ++i) {
    if (t == "i32")
      out.as<int32_t>()[i] = static_cast<int32_t>(at);
    else
      out.as<int64_t>()[i] = at;
    if (i < lens.size()) at += lens[i];
  }
  return out;
}

Drawn att_build(const Spec& s) {
  const int64_t B = s["B"], T = T_of(s), S = S_of(s), Hkv = s["Hkv"], Hq = Hkv * s["ratio"],
                D = s["D"];
  const std::string& m = s.str("values");
  std::vector<float> q(static_cast<size_t>(B * T * Hq * D)), gate(q.size()),
      k(static_cast<size_t>(B * S * Hkv * D)), v(k.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < Hq; ++h)
        for (int64_t d = 0; d < D; ++d) {
          const size_t i = static_cast<size_t>(((b * T + t) * Hq + h) * D + d);
          Rng e(s.seed, 130, b, t, h, d), g(s.seed, 133, b, t, h, d);
          q[i] = static_cast<float>(m == "peaky"     ? 8.0 * e.normal()
                                    : m == "tiny_qk" ? 1e-20 * e.normal()
                                                     : e.uniform(-3, 3));
          gate[i] = static_cast<float>(g.chance(0.1) ? 60.0 * g.normal() : g.uniform(-4, 4));
        }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < S; ++j)
      for (int64_t h = 0; h < Hkv; ++h)
        for (int64_t d = 0; d < D; ++d) {
          const size_t i = static_cast<size_t>(((b * S + j) * Hkv + h) * D + d);
          Rng e(s.seed, 131, b, m == "flat" ? 0 : j, h, d), f(s.seed, 132, b, j, h, d);
          double kv = e.uniform(-1.5, 1.5);
          if (m == "peaky") kv = 8.0 * e.normal();
          if (m == "tiny_qk") kv *= 1e-20;
          if (m == "dominant_keys" && j % 17 == 3) kv *= 25.0;
          k[i] = static_cast<float>(kv);
          v[i] = static_cast<float>(f.uniform(-2, 2) * (m == "large_v" ? 1e4 : 1.0));
        }
  const float k_scale =
      s.str("k") == "e4m3" ? std::strtof(s.str("k_scale").c_str(), nullptr) : 1.0f;
  const float v_scale =
      s.str("v") == "e4m3" ? std::strtof(s.str("v_scale").c_str(), nullptr) : 1.0f;
  Drawn d;
  d.inputs.emplace("q", stored(s.str("q"), {B, T, Hq, D}, q, 1.0f));
  d.inputs.emplace("k", stored(s.str("k"), {B, S, Hkv, D}, k, k_scale));
  d.inputs.emplace("v", stored(s.str("v"), {B, S, Hkv, D}, v, v_scale));
  if (s["gate"]) d.inputs.emplace("gate", stored(s.str("q"), {B, T, Hq, D}, gate, 1.0f));
  auto scalar = [](float x) {
    Tensor t(DType::F32, {});
    t.as<float>()[0] = x;
    return t;
  };
  if (s.str("k") == "e4m3") d.inputs.emplace("k_scale", scalar(k_scale));
  if (s.str("v") == "e4m3") d.inputs.emplace("v_scale", scalar(v_scale));
  if (!s.seqs.empty()) {
    d.inputs.emplace("cu_seqlens_q", offsets(s.str("cu"), s.seqs));
    d.inputs.emplace("cu_seqlens_k", offsets(s.str("cu"), s.seqs_k));
  }
  d.params["causal"] = s["causal"] ? "1" : "0";
  d.params["lse"] = s["lse"] ? "1" : "0";
  d.params["out"] = s.str("out");
  if (!s.str("scale").empty()) d.params["scale"] = s.str("scale");
  return d;
}

} // namespace

AttentionArgs attention_args(const Drawn& d) {
  AttentionArgs a;
  const Tensor& q = d.inputs.at("q");
  a.q = q.view(), a.k = d.inputs.at("k").view(), a.v = d.inputs.at("v").view();
  a.gate = optional_input(d, "gate");
  if (auto it = d.inputs.find("k_scale"); it != d.inputs.end())
    a.k_scale = it->second.as<float>()[0];
  if (auto it = d.inputs.find("v_scale"); it != d.inputs.end())
    a.v_scale = it->second.as<float>()[0];
  a.cu_seqlens_q = optional_input(d, "cu_seqlens_q"),
  a.cu_seqlens_k = optional_input(d, "cu_seqlens_k");
  a.causal = d.params.at("causal") == "1";
  if (auto it = d.params.find("scale"); it != d.params.end())
    a.scale = std::strtof(it->second.c_str(), nullptr);
  return a;
}

namespace {

void att_run(const Drawn& d, const RunOptions& o, std::vector<Guarded>& outs) {
  const AttentionArgs a = attention_args(d);
  const Tensor& q = d.inputs.at("q");
  const bool lse = d.params.at("lse") == "1";
  outs.emplace_back(dtype_of(d.params.at("out")), q.shape());
  if (lse) outs.emplace_back(DType::F32, Shape{q.shape()[0], q.shape()[1], q.shape()[2]});
  attention(a, outs[0].view, lse ? std::optional<TensorView>(outs[1].view) : std::nullopt, o);
}

} // namespace

std::vector<Generator> attention_generators() {
  return {{"attention", {"o", "lse"}, att_draw, att_dims, att_smaller, att_build, att_run}};
}

} // namespace tessera::conformance::random
