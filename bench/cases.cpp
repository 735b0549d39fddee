#include "bench/cases.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <random>
#include <stdexcept>

#include <fmt/format.h>

namespace tessera::bench {

// ---- BenchShape ---------------------------------------------------------------------------

void BenchShape::set(std::string_view axis, int64_t value) {
  for (auto& [name, v] : dims_)
    if (name == axis) {
      v = value;
      return;
    }
  dims_.emplace_back(std::string(axis), value);
}

int64_t BenchShape::operator[](std::string_view axis) const {
  for (const auto& [name, v] : dims_)
    if (name == axis) return v;
  throw std::out_of_range(fmt::format("shape has no axis '{}'", axis));
}

bool BenchShape::has(std::string_view axis) const {
  for (const auto& d : dims_)
    if (d.first == axis) return true;
  return false;
}

std::string BenchShape::str() const {
  std::string s;
  for (const auto& [name, v] : dims_) s += fmt::format("{}{}={}", s.empty() ? "" : " ", name, v);
  return s;
}

namespace {

// ---- input makers -------------------------------------------------------------------------
// Uniform ranges: the reference's speed does not depend on the values, but a later GPU kernel
// with special paths (zero blocks, saturation) could, so the data looks like what a model holds.

using Rng = std::mt19937;

std::vector<float> uniform(int64_t n, float lo, float hi, Rng& rng) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

Tensor f32(Shape shape, float lo, float hi, Rng& rng) {
  Tensor t(DType::F32, shape);
  std::vector<float> v = uniform(t.numel(), lo, hi, rng);
  std::memcpy(t.data(), v.data(), t.nbytes());
  return t;
}

// Activations are BF16 in the models these presets describe, so the bench feeds BF16 where the
// API accepts it (the bytes column then counts what an engine would move). Round to nearest
// even; the values are finite and small, so no NaN or overflow handling is needed.
Tensor bf16(Shape shape, float lo, float hi, Rng& rng) {
  Tensor t(DType::BF16, shape);
  std::vector<float> v = uniform(t.numel(), lo, hi, rng);
  uint16_t* out = t.as<uint16_t>();
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t b = std::bit_cast<uint32_t>(v[i]);
    out[i] = static_cast<uint16_t>((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
  }
  return t;
}

// Quantized operands come from the library's own quantizers, so they hold exactly what an
// engine would pass (valid scales, the same layout), not hand-made bytes.
void add_quantized(TensorMap& to, const std::string& name, const std::string& op,
                   const ParamMap& params, Tensor x) {
  TensorMap in;
  in.emplace("x", std::move(x));
  TensorMap q = run_named_op(op, in, params);
  for (auto& [key, t] : q) to.emplace(name + key.substr(1), std::move(t)); // x_scale -> a_scale
}

constexpr double kBf16 = 2, kF32 = 4;
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Keys each query of a causal attention sees, summed over the T queries: the queries are the
// last T positions of the S keys (the reference's convention), so query t sees S - T + t + 1.
double causal_pairs(int64_t T, int64_t S) {
  double t = static_cast<double>(T), s = static_cast<double>(S);
  return t * (s - t) + t * (t + 1) / 2;
}

std::vector<BenchOp> make_ops() {
  std::vector<BenchOp> ops;

  ops.push_back({
      "convert",
      {{"N", 1 << 20, "elements (F32 in, BF16 out)"}},
      {},
      [](const BenchShape&) { return std::string(); },
      [](const BenchShape& s, uint32_t seed) {
        Rng rng(seed);
        BenchInputs in;
        in.tensors.emplace("x", f32({s["N"]}, -8.0f, 8.0f, rng));
        in.params["to"] = "bf16";
        return in;
      },
      [](const BenchShape&) { return std::optional<double>(); },
      [](const BenchShape& s) { return s["N"] * (kF32 + kBf16); },
  });

  ops.push_back({
      "quantize_nvfp4",
      {{"M", 16, "rows (tokens)"}, {"K", 2048, "columns, a multiple of 16"}},
      {},
      [](const BenchShape& s) { return s["K"] % 16 ? std::string("K must be a multiple of 16") : std::string(); },
      [](const BenchShape& s, uint32_t seed) {
        Rng rng(seed);
        BenchInputs in;
        in.tensors.emplace("x", bf16({s["M"], s["K"]}, -4.0f, 4.0f, rng));
        return in;
      },
      [](const BenchShape&) { return std::optional<double>(); },
      [](const BenchShape& s) {
        double mk = static_cast<double>(s["M"]) * s["K"];
        return mk * kBf16 + mk / 2 + mk / 16 + kF32; // x, codes, block scales, scale_2
      },
  });

  ops.push_back({
      "quantize_fp8",
      {{"M", 16, "rows (tokens)"}, {"K", 2048, "columns"}},
      {},
      [](const BenchShape&) { return std::string(); },
      [](const BenchShape& s, uint32_t seed) {
        Rng rng(seed);
        BenchInputs in;
        in.tensors.emplace("x", bf16({s["M"], s["K"]}, -4.0f, 4.0f, rng));
        in.params["recipe"] = "fp8-token128"; // what activations use in block-scaled FP8 models
        return in;
      },
      [](const BenchShape&) { return std::optional<double>(); },
      [](const BenchShape& s) {
        double mk = static_cast<double>(s["M"]) * s["K"];
        return mk * kBf16 + mk + s["M"] * ceil_div(s["K"], 128) * kF32;
      },
  });

  // C[M, N] = A[M, K] B[N, K]^T with A the activations and B the weights, output BF16.
  ops.push_back({
      "gemm_nvfp4",
      {{"M", 16, "tokens"}, {"N", 512, "output features"}, {"K", 2048, "input features, a multiple of 16"}},
      {},
      [](const BenchShape& s) {
        if (s["K"] % 16) return std::string("K must be a multiple of 16");
        if (s["K"] > 65536) return std::string("K must be at most 65536");
        return std::string();
      },
      [](const BenchShape& s, uint32_t seed) {
        Rng rng(seed);
        BenchInputs in;
        add_quantized(in.tensors, "a", "quantize_nvfp4", {}, f32({s["M"], s["K"]}, -4.0f, 4.0f, rng));
        add_quantized(in.tensors, "b", "quantize_nvfp4", {}, f32({s["N"], s["K"]}, -0.05f, 0.05f, rng));
        in.params["out"] = "bf16";
        return in;
      },
      [](const BenchShape& s) { return std::optional<double>(2.0 * s["M"] * s["N"] * s["K"]); },
      [](const BenchShape& s) {
        double M = s["M"], N = s["N"], K = s["K"];
        return (M + N) * (K / 2 + K / 16 + kF32) + M * N * kBf16;
      },
  });

  // Block-scaled FP8 (DeepSeek / Qwen FP8 checkpoints): activations scaled per 1x128, weights
  // per 128x128. Per-tensor FP8 is the same loop with one scale; it is not swept separately.
  ops.push_back({
      "gemm_fp8",
      {{"M", 16, "tokens"}, {"N", 512, "output features"}, {"K", 2048, "input features"}},
      {},
      [](const BenchShape&) { return std::string(); },
      [](const BenchShape& s, uint32_t seed) {
        Rng rng(seed);
        BenchInputs in;
        add_quantized(in.tensors, "a", "quantize_fp8", {{"recipe", "fp8-token128"}},
                      f32({s["M"], s["K"]}, -4.0f, 4.0f, rng));
        add_quantized(in.tensors, "b", "quantize_fp8", {{"recipe", "fp8-block128"}},
                      f32({s["N"], s["K"]}, -0.05f, 0.05f, rng));
        in.params["out"] = "bf16";
        return in;
      },
      [](const BenchShape& s) { return std::optional<double>(2.0 * s["M"] * s["N"] * s["K"]); },
      [](const BenchShape& s) {
        double M = s["M"], N = s["N"], K = s["K"], kb = ceil_div(s["K"], 128);
        return M * K + M * kb * kF32 + N * K + ceil_div(s["N"], 128) * kb * kF32 + M * N * kBf16;
      },
  });

  // Gated DeltaNet with Dk = Dv = D, q/k L2-normalised in the kernel (use_qk_l2norm_in_kernel, as
  // the Qwen3-Next models run it), and an initial state: decode always carries one, and reading
  // it is most of decode's traffic.
  ops.push_back({
      "deltanet",
      {{"B", 1, "sequences"},
       {"T", 16, "tokens per sequence"},
       {"H", 2, "key heads"},
       {"HV", 4, "value heads, a multiple of H"},
       {"D", 128, "head dim (Dk = Dv)"}},
      {},
      [](const BenchShape& s) { return s["HV"] % s["H"] ? std::string("HV must be a multiple of H") : std::string(); },
      [](const BenchShape& s, uint32_t seed) {
        Rng rng(seed);
        int64_t B = s["B"], T = s["T"], H = s["H"], HV = s["HV"], D = s["D"];
        BenchInputs in;
        in.tensors.emplace("q", bf16({B, T, H, D}, -1.0f, 1.0f, rng));
        in.tensors.emplace("k", bf16({B, T, H, D}, -1.0f, 1.0f, rng));
        in.tensors.emplace("v", bf16({B, T, HV, D}, -1.0f, 1.0f, rng));
        // Log-decays well inside numerics.md's [-20, 0): strongly decaying to almost keeping.
        in.tensors.emplace("g", f32({B, T, HV}, -8.0f, -0.01f, rng));
        in.tensors.emplace("beta", f32({B, T, HV}, 0.01f, 0.99f, rng));
        in.tensors.emplace("h0", f32({B, HV, D, D}, -0.1f, 0.1f, rng));
        in.params["l2norm"] = "1";
        in.params["out"] = "bf16";
        return in;
      },
      // Per token and value head the recurrence passes over the D x D state four times: the
      // decay (one multiply per element), the prediction k^T h, the rank-1 update and the output
      // q^T h (one multiply-add each): 7 D^2 flops. The O(D) terms (l2norm, u) are left out.
      [](const BenchShape& s) { return std::optional<double>(7.0 * s["B"] * s["T"] * s["HV"] * s["D"] * s["D"]); },
      [](const BenchShape& s) {
        double B = s["B"], T = s["T"], H = s["H"], HV = s["HV"], D = s["D"];
        double act = B * T * (2 * H * D + 2 * HV * D) * kBf16; // q, k, v in; o out
        return act + B * T * HV * 2 * kF32 + 2 * B * HV * D * D * kF32; // g, beta; h0 in, ht out
      },
  });

  // The short causal convolution in front of DeltaNet, over the concatenated q, k, v channels,
  // with the W - 1 previous inputs carried in `state` (decode always has one).
  ops.push_back({
      "conv1d",
      {{"B", 1, "sequences"}, {"T", 16, "tokens per sequence"}, {"C", 2048, "channels"}, {"W", 4, "kernel width"}},
      {},
      [](const BenchShape& s) { return s["W"] < 2 ? std::string("W must be at least 2") : std::string(); },
      [](const BenchShape& s, uint32_t seed) {
        Rng rng(seed);
        int64_t B = s["B"], T = s["T"], C = s["C"], W = s["W"];
        BenchInputs in;
        in.tensors.emplace("x", bf16({B, T, C}, -4.0f, 4.0f, rng));
        in.tensors.emplace("w", f32({C, W}, -0.5f, 0.5f, rng));
        in.tensors.emplace("state", f32({B, C, W - 1}, -4.0f, 4.0f, rng));
        in.params["out"] = "bf16";
        return in;
      },
      [](const BenchShape& s) { return std::optional<double>(2.0 * s["B"] * s["T"] * s["C"] * s["W"]); },
      [](const BenchShape& s) {
        double B = s["B"], T = s["T"], C = s["C"], W = s["W"];
        return 2 * B * T * C * kBf16 + C * W * kF32 + 2 * B * C * (W - 1) * kF32;
      },
  });

  // Causal gated attention (Qwen3-Next's output gate, one sigmoid per element of o).
  ops.push_back({
      "attention",
      {{"B", 1, "sequences"},
       {"T", 1, "queries per sequence"},
       {"S", 256, "keys per sequence (context); 0 means S = T (prefill)"},
       {"Hq", 4, "query heads"},
       {"Hkv", 1, "KV heads, Hq a multiple of it"},
       {"D", 256, "head dim"}},
      [](BenchShape& s) {
        if (s["S"] == 0) s.set("S", s["T"]);
      },
      [](const BenchShape& s) {
        if (s["Hq"] % s["Hkv"]) return std::string("Hq must be a multiple of Hkv");
        // The queries are the last T of the S positions; more queries than keys is not a
        // shape any engine runs.
        if (s["S"] < s["T"]) return std::string("S must be at least T");
        return std::string();
      },
      [](const BenchShape& s, uint32_t seed) {
        Rng rng(seed);
        int64_t B = s["B"], T = s["T"], S = s["S"], Hq = s["Hq"], Hkv = s["Hkv"], D = s["D"];
        BenchInputs in;
        in.tensors.emplace("q", bf16({B, T, Hq, D}, -1.0f, 1.0f, rng));
        in.tensors.emplace("k", bf16({B, S, Hkv, D}, -1.0f, 1.0f, rng));
        in.tensors.emplace("v", bf16({B, S, Hkv, D}, -1.0f, 1.0f, rng));
        in.tensors.emplace("gate", bf16({B, T, Hq, D}, -4.0f, 4.0f, rng));
        in.params["causal"] = "1";
        in.params["out"] = "bf16";
        return in;
      },
      // Two D-long dot products (q.k and p.v) per visited (query, key) pair and head. Only the
      // pairs the causal mask keeps are counted: T(T+1)/2 for prefill, close to the usual
      // "half of 4 T S Hq D".
      [](const BenchShape& s) {
        return std::optional<double>(4.0 * s["B"] * s["Hq"] * s["D"] * causal_pairs(s["T"], s["S"]));
      },
      [](const BenchShape& s) {
        double B = s["B"], T = s["T"], S = s["S"], Hq = s["Hq"], Hkv = s["Hkv"], D = s["D"];
        return (3 * B * T * Hq * D + 2 * B * S * Hkv * D) * kBf16; // q, gate, o; k, v
      },
  });
  return ops;
}

// ---- presets ------------------------------------------------------------------------------

using Values = std::vector<int64_t>;

// Decode is a batch of sequences with one new token each; prefill one sequence of many tokens.
const Values kDecode = {1, 4, 16, 64};
const Values kPrefill = {512, 2048, 8192, 16384};
const Values kDecodeAndPrefill = {1, 4, 16, 64, 512, 2048, 8192, 16384};
constexpr int64_t kDecodeContext = 4096; // keys each decoding sequence attends to

struct ModelShape {
  int64_t hidden;
  int64_t mlp;         // intermediate size of one MLP (an expert's for MoE models)
  int64_t dn_h, dn_hv; // DeltaNet key and value heads
  int64_t dn_d;
  int64_t att_hq, att_hkv, att_d;
};

std::vector<Sweep> model_sweeps(const ModelShape& m) {
  std::vector<Sweep> s;
  // GEMM projections as engines fuse them; M is the tokens through the projection. For a MoE
  // model M is the tokens routed to one expert, fewer than the batch: sweep M to see that range.
  struct Proj {
    const char* what;
    int64_t N, K;
  };
  const int64_t dn_qkvz = 2 * m.dn_h * m.dn_d + 2 * m.dn_hv * m.dn_d;
  const int64_t att_qkv = 2 * m.att_hq * m.att_d + 2 * m.att_hkv * m.att_d; // q and gate, k, v
  const Proj projs[] = {
      {"MLP gate+up", 2 * m.mlp, m.hidden},
      {"MLP down", m.hidden, m.mlp},
      {"DeltaNet in_proj qkvz", dn_qkvz, m.hidden},
      {"DeltaNet out_proj", m.hidden, m.dn_hv * m.dn_d},
      {"attention q+gate, k, v", att_qkv, m.hidden},
      {"attention o_proj", m.hidden, m.att_hq * m.att_d},
  };
  for (const char* op : {"gemm_nvfp4", "gemm_fp8"})
    for (const Proj& p : projs) s.push_back({op, p.what, {{"M", kDecodeAndPrefill}, {"N", {p.N}}, {"K", {p.K}}}});
  // Activations quantized in front of each distinct GEMM input width.
  Values widths;
  for (int64_t k : {m.hidden, m.mlp, m.dn_hv * m.dn_d, m.att_hq * m.att_d})
    if (std::find(widths.begin(), widths.end(), k) == widths.end()) widths.push_back(k);
  for (const char* op : {"quantize_nvfp4", "quantize_fp8"})
    s.push_back({op, "activations before each GEMM", {{"M", kDecodeAndPrefill}, {"K", widths}}});
  s.push_back({"convert", "hidden state to BF16", {{"N", {1 * m.hidden, 64 * m.hidden, 2048 * m.hidden, 16384 * m.hidden}}}});
  const int64_t conv_c = 2 * m.dn_h * m.dn_d + m.dn_hv * m.dn_d; // q, k, v channels
  s.push_back({"conv1d", "decode", {{"B", kDecode}, {"T", {1}}, {"C", {conv_c}}, {"W", {4}}}});
  s.push_back({"conv1d", "prefill", {{"B", {1}}, {"T", kPrefill}, {"C", {conv_c}}, {"W", {4}}}});
  const Values dn_heads[] = {{m.dn_h}, {m.dn_hv}, {m.dn_d}};
  s.push_back({"deltanet", "decode", {{"B", kDecode}, {"T", {1}}, {"H", dn_heads[0]}, {"HV", dn_heads[1]}, {"D", dn_heads[2]}}});
  s.push_back({"deltanet", "prefill", {{"B", {1}}, {"T", kPrefill}, {"H", dn_heads[0]}, {"HV", dn_heads[1]}, {"D", dn_heads[2]}}});
  const Values att_heads[] = {{m.att_hq}, {m.att_hkv}, {m.att_d}};
  s.push_back({"attention", "decode", {{"B", kDecode}, {"T", {1}}, {"S", {kDecodeContext}}, {"Hq", att_heads[0]},
                                       {"Hkv", att_heads[1]}, {"D", att_heads[2]}}});
  s.push_back({"attention", "prefill", {{"B", {1}}, {"T", kPrefill}, {"S", {0}}, {"Hq", att_heads[0]},
                                        {"Hkv", att_heads[1]}, {"D", att_heads[2]}}});
  return s;
}

std::vector<Preset> make_presets() {
  std::vector<Preset> p;
  // Small enough that the CPU reference runs every operation in well under two minutes on two
  // cores (its GEMMs are plain loops at roughly 10^8 multiply-adds per second), yet with the
  // models' head dims so that per-head work is realistic.
  p.push_back({"default",
               "small shapes of every operation, quick on the CPU reference",
               {
                   {"convert", "", {{"N", {1 << 16, 1 << 20}}}},
                   {"quantize_nvfp4", "", {{"M", {1, 64}}, {"K", {2048}}}},
                   {"quantize_fp8", "", {{"M", {1, 64}}, {"K", {2048}}}},
                   {"gemm_nvfp4", "", {{"M", {1, 16}}, {"N", {512}}, {"K", {2048}}}},
                   {"gemm_fp8", "", {{"M", {1, 16}}, {"N", {512}}, {"K", {2048}}}},
                   {"deltanet", "decode", {{"B", {1}}, {"T", {1}}, {"H", {2}}, {"HV", {4}}, {"D", {128}}}},
                   {"deltanet", "prefill", {{"B", {1}}, {"T", {64}}, {"H", {2}}, {"HV", {4}}, {"D", {128}}}},
                   {"conv1d", "", {{"B", {1}}, {"T", {1, 64}}, {"C", {2048}}, {"W", {4}}}},
                   {"attention", "decode", {{"B", {1}}, {"T", {1}}, {"S", {1024}}, {"Hq", {4}}, {"Hkv", {1}}, {"D", {256}}}},
                   {"attention", "prefill", {{"B", {1}}, {"T", {256}}, {"S", {0}}, {"Hq", {4}}, {"Hkv", {1}}, {"D", {256}}}},
               }});
  p.push_back({"qwen3.6-27b",
               "Qwen3.6-27B: hidden 5120, MLP 17408, DeltaNet 16/48 heads of 128, attention 24/4 heads of 256",
               model_sweeps({5120, 17408, 16, 48, 128, 24, 4, 256})});
  p.push_back({"qwen3-next-80b-a3b",
               "Qwen3-Next-80B-A3B: hidden 2048, experts 512 wide, DeltaNet 16/32 heads of 128, attention 16/2 heads of 256",
               model_sweeps({2048, 512, 16, 32, 128, 16, 2, 256})});
  return p;
}

} // namespace

const std::vector<BenchOp>& bench_ops() {
  static const std::vector<BenchOp> ops = make_ops();
  return ops;
}

const BenchOp* find_bench_op(std::string_view name) {
  for (const BenchOp& op : bench_ops())
    if (op.name == name) return &op;
  return nullptr;
}

const std::vector<Preset>& presets() {
  static const std::vector<Preset> p = make_presets();
  return p;
}

const Preset* find_preset(std::string_view name) {
  for (const Preset& p : presets())
    if (p.name == name) return &p;
  return nullptr;
}

} // namespace tessera::bench
