// The operations kbench sweeps: one BenchOp each (cases.h). Presets live in presets.cpp.
#include "bench/cases.h"

#include <bit>
#include <cstring>
#include <random>

#include <fmt/format.h>

namespace tessera::bench {

namespace {

// ---- input makers -------------------------------------------------------------------------
// Uniform ranges: the reference's speed does not depend on the values, but a GPU kernel with
// special paths (zero blocks, saturation) could, so the data looks like what a model holds.

using Rng = std::mt19937;

Tensor random_f32(Shape shape, float lo, float hi, Rng& rng) {
  Tensor t(DType::F32, shape);
  std::uniform_real_distribution<float> dist(lo, hi);
  float* p = t.as<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] = dist(rng);
  return t;
}

// `x` (F32) in the dtype a text axis names. BF16 is rounded here (round to nearest even; the
// values are small and finite) because it is the common case and a loop is fast; the others
// go through the library's own convert, so they hold exactly what an engine would pass.
Tensor cast(Tensor x, const std::string& dtype) {
  if (dtype == "f32") return x;
  if (dtype == "bf16") {
    Tensor t(DType::BF16, x.shape());
    const float* in = x.as<float>();
    uint16_t* out = t.as<uint16_t>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      uint32_t b = std::bit_cast<uint32_t>(in[i]);
      out[i] = static_cast<uint16_t>((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
    }
    return t;
  }
  TensorMap in;
  in.emplace("x", std::move(x));
  return std::move(run_named_op("convert", in, {{"to", dtype}}).at("y"));
}

Tensor random_as(const std::string& dtype, Shape shape, float lo, float hi, Rng& rng) {
  return cast(random_f32(std::move(shape), lo, hi, rng), dtype);
}

// Bytes per element of a text axis's dtype word (e2m1 is stored one code per byte by convert).
double bytes_of(const std::string& dtype) {
  if (dtype == "f32") return 4;
  if (dtype == "bf16" || dtype == "f16") return 2;
  return 1; // e4m3, e5m2, e2m1
}

// Quantized operands come from the library's own quantizers, so they hold exactly what an
// engine would pass (valid scales, the same layout), not hand-made bytes.
void add_quantized(TensorMap& to, const std::string& name, const std::string& op,
                   const ParamMap& params, Tensor x) {
  TensorMap in;
  in.emplace("x", std::move(x));
  TensorMap q = run_named_op(op, in, params);
  for (auto& [key, t] : q)
    to.emplace(name + key.substr(1), std::move(t)); // x_scale -> a_scale
}

constexpr double kF32 = 4;
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Scales an FP8 recipe stores for an [R, C] matrix.
double fp8_scales(const std::string& recipe, int64_t R, int64_t C) {
  if (recipe == "fp8-tensor") return 1;
  if (recipe == "fp8-token128") return static_cast<double>(R * ceil_div(C, 128));
  return static_cast<double>(ceil_div(R, 128) * ceil_div(C, 128)); // fp8-block128
}

// Keys each query of a causal attention sees, summed over the T queries: the queries are the
// last T positions of the S keys (the reference's convention), so query t sees S - T + t + 1.
double causal_pairs(int64_t T, int64_t S) {
  double t = static_cast<double>(T), s = static_cast<double>(S);
  return t * (s - t) + t * (t + 1) / 2;
}

Axis num(std::string name, int64_t def, std::string help) {
  return {std::move(name), def, std::move(help), {}};
}
Axis word(std::string name, std::string def, std::string help, std::vector<std::string> choices) {
  return {std::move(name), std::move(def), std::move(help), std::move(choices)};
}
const std::vector<std::string> kFloats = {"bf16", "f16", "f32"};

std::string ok() { return {}; }
std::string need_k16(const BenchShape& s) {
  return s["K"] % 16 ? "K must be a multiple of 16" : "";
}
std::optional<double> no_flops(const BenchShape&) { return std::nullopt; }
std::optional<GemmDims> gemm_mnk(const BenchShape& s) { return GemmDims{s["M"], s["N"], s["K"]}; }

// The fused activation GEMMs' inputs: x [M, K] in the x_dtype axis's dtype, and the weights
// B [N, K] quantized by `quantize` with `recipe`.
BenchInputs act_inputs(const BenchShape& s, uint32_t seed, const std::string& quantize, const ParamMap& recipe) {
  Rng rng(seed);
  BenchInputs in;
  in.tensors.emplace("x", random_as(s.text("x_dtype"), {s["M"], s["K"]}, -4.0f, 4.0f, rng));
  add_quantized(in.tensors, "b", quantize, recipe, random_f32({s["N"], s["K"]}, -0.05f, 0.05f, rng));
  in.params["out"] = s.text("out");
  return in;
}

std::vector<BenchOp> make_ops() {
  std::vector<BenchOp> ops;

  ops.push_back({"convert",
                 {num("N", 1 << 20, "elements (F32 in)"),
                  word("to", "bf16", "output format", {"bf16", "f16", "e4m3", "e5m2", "e2m1"})},
                 {},
                 [](const BenchShape&) { return ok(); },
                 [](const BenchShape& s, uint32_t seed) {
                   Rng rng(seed);
                   BenchInputs in;
                   // Within E2M1's range (6), so every format sees mostly in-range values.
                   in.tensors.emplace("x", random_f32({s["N"]}, -6.0f, 6.0f, rng));
                   in.params["to"] = s.text("to");
                   return in;
                 },
                 no_flops,
                 [](const BenchShape& s) { return s["N"] * (kF32 + bytes_of(s.text("to"))); },
                 {}});

  ops.push_back(
      {"quantize_nvfp4",
       {num("M", 16, "rows (tokens)"), num("K", 2048, "columns, a multiple of 16"),
        word("recipe", "nvfp4", "scale choice per 16-block", {"nvfp4", "nvfp4-4over6"}),
        word("dtype", "bf16", "input dtype", kFloats)},
       {},
       need_k16,
       [](const BenchShape& s, uint32_t seed) {
         Rng rng(seed);
         BenchInputs in;
         in.tensors.emplace("x", random_as(s.text("dtype"), {s["M"], s["K"]}, -4.0f, 4.0f, rng));
         in.params["recipe"] = s.text("recipe");
         return in;
       },
       no_flops,
       [](const BenchShape& s) {
         double mk = static_cast<double>(s["M"]) * s["K"];
         return mk * bytes_of(s.text("dtype")) + mk / 2 + mk / 16 +
                kF32; // x; codes, scales, scale_2
       },
       {}});

  ops.push_back({"dequantize_nvfp4",
                 {num("M", 16, "rows"), num("K", 2048, "columns, a multiple of 16")},
                 {},
                 need_k16,
                 [](const BenchShape& s, uint32_t seed) {
                   Rng rng(seed);
                   BenchInputs in;
                   add_quantized(in.tensors, "x", "quantize_nvfp4", {},
                                 random_f32({s["M"], s["K"]}, -4.0f, 4.0f, rng));
                   return in;
                 },
                 no_flops,
                 [](const BenchShape& s) {
                   double mk = static_cast<double>(s["M"]) * s["K"];
                   return mk / 2 + mk / 16 + kF32 + mk * kF32;
                 },
                 {}});

  ops.push_back(
      {"quantize_fp8",
       {num("M", 16, "rows (tokens)"), num("K", 2048, "columns"),
        word("recipe", "fp8-token128", "scaling granularity",
             {"fp8-token128", "fp8-block128", "fp8-tensor"}),
        word("dtype", "bf16", "input dtype", kFloats)},
       {},
       [](const BenchShape&) { return ok(); },
       [](const BenchShape& s, uint32_t seed) {
         Rng rng(seed);
         BenchInputs in;
         in.tensors.emplace("x", random_as(s.text("dtype"), {s["M"], s["K"]}, -4.0f, 4.0f, rng));
         in.params["recipe"] = s.text("recipe");
         return in;
       },
       no_flops,
       [](const BenchShape& s) {
         double mk = static_cast<double>(s["M"]) * s["K"];
         return mk * bytes_of(s.text("dtype")) + mk +
                fp8_scales(s.text("recipe"), s["M"], s["K"]) * kF32;
       },
       {}});

  ops.push_back({"dequantize_fp8",
                 {num("M", 16, "rows"), num("K", 2048, "columns"),
                  word("recipe", "fp8-token128", "scaling granularity",
                       {"fp8-token128", "fp8-block128", "fp8-tensor"})},
                 {},
                 [](const BenchShape&) { return ok(); },
                 [](const BenchShape& s, uint32_t seed) {
                   Rng rng(seed);
                   BenchInputs in;
                   in.params["recipe"] = s.text("recipe");
                   add_quantized(in.tensors, "x", "quantize_fp8", in.params,
                                 random_f32({s["M"], s["K"]}, -4.0f, 4.0f, rng));
                   return in;
                 },
                 no_flops,
                 [](const BenchShape& s) {
                   double mk = static_cast<double>(s["M"]) * s["K"];
                   return mk + fp8_scales(s.text("recipe"), s["M"], s["K"]) * kF32 + mk * kF32;
                 },
                 {}});

  // C[M, N] = A[M, K] B[N, K]^T with A the activations and B the weights.
  ops.push_back(
      {"gemm_nvfp4",
       {num("M", 16, "tokens"), num("N", 512, "output features"),
        num("K", 2048, "input features, a multiple of 16"),
        word("out", "bf16", "output dtype", kFloats),
        word("b_layout", "checkpoint", "B prepacked into this layout first (tessera/weights.h)",
             {"checkpoint", "gemv_kblock_interleaved"})},
       {},
       [](const BenchShape& s) {
         return s["K"] > 65536 ? std::string("K must be at most 65536") : need_k16(s);
       },
       [](const BenchShape& s, uint32_t seed) {
         Rng rng(seed);
         BenchInputs in;
         add_quantized(in.tensors, "a", "quantize_nvfp4", {},
                       random_f32({s["M"], s["K"]}, -4.0f, 4.0f, rng));
         add_quantized(in.tensors, "b", "quantize_nvfp4", {},
                       random_f32({s["N"], s["K"]}, -0.05f, 0.05f, rng));
         in.params["out"] = s.text("out");
         if (s.text("b_layout") != "checkpoint") {
           in.params["b_layout"] = s.text("b_layout");
           in.on_host = {"b", "b_scale"}; // packed on the host by every call
         }
         return in;
       },
       [](const BenchShape& s) { return std::optional<double>(2.0 * s["M"] * s["N"] * s["K"]); },
       [](const BenchShape& s) {
         double M = s["M"], N = s["N"], K = s["K"];
         return (M + N) * (K / 2 + K / 16 + kF32) + M * N * bytes_of(s.text("out"));
       },
       gemm_mnk});

  // FP8 with block scales (DeepSeek / Qwen FP8 checkpoints: activations per 1x128, weights per
  // 128x128) or one scale per tensor; the kernels differ only in where the scale is applied.
  ops.push_back(
      {"gemm_fp8",
       {num("M", 16, "tokens"), num("N", 512, "output features"), num("K", 2048, "input features"),
        word("scaling", "block128", "block128: A per 1x128, B per 128x128; tensor: one scale each",
             {"block128", "tensor"}),
        word("out", "bf16", "output dtype", kFloats)},
       {},
       [](const BenchShape&) { return ok(); },
       [](const BenchShape& s, uint32_t seed) {
         Rng rng(seed);
         bool block = s.text("scaling") == "block128";
         BenchInputs in;
         add_quantized(in.tensors, "a", "quantize_fp8",
                       {{"recipe", block ? "fp8-token128" : "fp8-tensor"}},
                       random_f32({s["M"], s["K"]}, -4.0f, 4.0f, rng));
         add_quantized(in.tensors, "b", "quantize_fp8",
                       {{"recipe", block ? "fp8-block128" : "fp8-tensor"}},
                       random_f32({s["N"], s["K"]}, -0.05f, 0.05f, rng));
         in.params["out"] = s.text("out");
         return in;
       },
       [](const BenchShape& s) { return std::optional<double>(2.0 * s["M"] * s["N"] * s["K"]); },
       [](const BenchShape& s) {
         double M = s["M"], N = s["N"], K = s["K"];
         bool block = s.text("scaling") == "block128";
         double scales = block ? fp8_scales("fp8-token128", s["M"], s["K"]) +
                                     fp8_scales("fp8-block128", s["N"], s["K"])
                               : 2;
         return M * K + N * K + scales * kF32 + M * N * bytes_of(s.text("out"));
       },
       gemm_mnk});

  // The same GEMMs with the activation quantized in front, in one call (the fused variants:
  // quantize on the device, then the exact GEMM; byte-equal to quantize + GEMM). x is what the
  // previous layer wrote, in the dtype the x_dtype axis names; B as above.
  ops.push_back(
      {"gemm_nvfp4_act",
       {num("M", 16, "tokens"), num("N", 512, "output features"),
        num("K", 2048, "input features, a multiple of 16"),
        word("x_dtype", "bf16", "activation dtype", kFloats), word("out", "bf16", "output dtype", kFloats)},
       {},
       [](const BenchShape& s) {
         return s["K"] > 65536 ? std::string("K must be at most 65536") : need_k16(s);
       },
       [](const BenchShape& s, uint32_t seed) { return act_inputs(s, seed, "quantize_nvfp4", {}); },
       [](const BenchShape& s) { return std::optional<double>(2.0 * s["M"] * s["N"] * s["K"]); },
       [](const BenchShape& s) {
         double M = s["M"], N = s["N"], K = s["K"];
         return M * K * bytes_of(s.text("x_dtype")) + N * (K / 2 + K / 16) + kF32 +
                M * N * bytes_of(s.text("out"));
       },
       gemm_mnk});
  ops.push_back(
      {"gemm_fp8_act",
       {num("M", 16, "tokens"), num("N", 512, "output features"), num("K", 2048, "input features"),
        word("x_dtype", "bf16", "activation dtype", kFloats), word("out", "bf16", "output dtype", kFloats)},
       {},
       [](const BenchShape&) { return ok(); },
       [](const BenchShape& s, uint32_t seed) {
         return act_inputs(s, seed, "quantize_fp8", {{"recipe", "fp8-block128"}});
       },
       [](const BenchShape& s) { return std::optional<double>(2.0 * s["M"] * s["N"] * s["K"]); },
       [](const BenchShape& s) {
         double M = s["M"], N = s["N"], K = s["K"];
         return M * K * bytes_of(s.text("x_dtype")) + N * K + fp8_scales("fp8-block128", s["N"], s["K"]) * kF32 +
                M * N * bytes_of(s.text("out"));
       },
       gemm_mnk});

  // Gated DeltaNet with Dk = Dv = D, q/k L2-normalised in the kernel (use_qk_l2norm_in_kernel, as
  // the Qwen3-Next models run it), and an initial state: decode always carries one, and reading
  // it is most of decode's traffic.
  ops.push_back(
      {"deltanet",
       {num("B", 1, "sequences"), num("T", 16, "tokens per sequence"), num("H", 2, "key heads"),
        num("HV", 4, "value heads, a multiple of H"), num("D", 128, "head dim (Dk = Dv)"),
        word("dtype", "bf16", "q, k, v and o dtype", kFloats)},
       {},
       [](const BenchShape& s) {
         return s["HV"] % s["H"] ? std::string("HV must be a multiple of H") : ok();
       },
       [](const BenchShape& s, uint32_t seed) {
         Rng rng(seed);
         int64_t B = s["B"], T = s["T"], H = s["H"], HV = s["HV"], D = s["D"];
         const std::string& dt = s.text("dtype");
         BenchInputs in;
         in.tensors.emplace("q", random_as(dt, {B, T, H, D}, -1.0f, 1.0f, rng));
         in.tensors.emplace("k", random_as(dt, {B, T, H, D}, -1.0f, 1.0f, rng));
         in.tensors.emplace("v", random_as(dt, {B, T, HV, D}, -1.0f, 1.0f, rng));
         // Log-decays well inside numerics.md's [-20, 0): strongly decaying to almost keeping.
         in.tensors.emplace("g", random_f32({B, T, HV}, -8.0f, -0.01f, rng));
         in.tensors.emplace("beta", random_f32({B, T, HV}, 0.01f, 0.99f, rng));
         in.tensors.emplace("h0", random_f32({B, HV, D, D}, -0.1f, 0.1f, rng));
         in.params["l2norm"] = "1";
         in.params["out"] = dt;
         return in;
       },
       // Per token and value head the recurrence passes over the D x D state four
       // times: the decay (one multiply per element), the prediction k^T h, the rank-1
       // update and the output q^T h (one multiply-add each): 7 D^2 flops. The O(D)
       // terms (l2norm, u) are left out.
       [](const BenchShape& s) {
         return std::optional<double>(7.0 * s["B"] * s["T"] * s["HV"] * s["D"] * s["D"]);
       },
       [](const BenchShape& s) {
         double B = s["B"], T = s["T"], H = s["H"], HV = s["HV"], D = s["D"];
         double act =
             B * T * (2 * H * D + 2 * HV * D) * bytes_of(s.text("dtype")); // q, k, v in; o out
         return act + B * T * HV * 2 * kF32 + 2 * B * HV * D * D * kF32;   // g, beta; h0 in, ht out
       },
       {}});

  // The short causal convolution in front of DeltaNet, over the concatenated q, k, v channels,
  // with the W - 1 previous inputs carried in `state` (decode always has one).
  ops.push_back(
      {"conv1d",
       {num("B", 1, "sequences"), num("T", 16, "tokens per sequence"), num("C", 2048, "channels"),
        num("W", 4, "kernel width"), word("dtype", "bf16", "x and y dtype", kFloats)},
       {},
       [](const BenchShape& s) { return s["W"] < 2 ? std::string("W must be at least 2") : ok(); },
       [](const BenchShape& s, uint32_t seed) {
         Rng rng(seed);
         int64_t B = s["B"], T = s["T"], C = s["C"], W = s["W"];
         BenchInputs in;
         in.tensors.emplace("x", random_as(s.text("dtype"), {B, T, C}, -4.0f, 4.0f, rng));
         in.tensors.emplace("w", random_f32({C, W}, -0.5f, 0.5f, rng));
         in.tensors.emplace("state", random_f32({B, C, W - 1}, -4.0f, 4.0f, rng));
         in.params["out"] = s.text("dtype");
         return in;
       },
       [](const BenchShape& s) {
         return std::optional<double>(2.0 * s["B"] * s["T"] * s["C"] * s["W"]);
       },
       [](const BenchShape& s) {
         double B = s["B"], T = s["T"], C = s["C"], W = s["W"];
         return 2 * B * T * C * bytes_of(s.text("dtype")) + C * W * kF32 +
                2 * B * C * (W - 1) * kF32;
       },
       {}});

  // Causal gated attention (Qwen3-Next's output gate, one sigmoid per element of o). `kv` e4m3
  // is an FP8 KV cache (one scale per tensor), which halves decode's dominant traffic.
  ops.push_back({"attention",
                 {num("B", 1, "sequences"), num("T", 1, "queries per sequence"),
                  num("S", 256, "keys per sequence (context); 0 means S = T (prefill)"),
                  num("Hq", 4, "query heads"), num("Hkv", 1, "KV heads, Hq a multiple of it"),
                  num("D", 256, "head dim"), word("dtype", "bf16", "q, gate and o dtype", kFloats),
                  word("kv", "bf16", "K and V dtype", {"bf16", "f16", "f32", "e4m3"})},
                 [](BenchShape& s) {
                   if (s["S"] == 0) s.set("S", s["T"]);
                 },
                 [](const BenchShape& s) {
                   if (s["Hq"] % s["Hkv"]) return std::string("Hq must be a multiple of Hkv");
                   // The queries are the last T of the S positions; more queries than keys is not a
                   // shape any engine runs.
                   if (s["S"] < s["T"]) return std::string("S must be at least T");
                   return ok();
                 },
                 [](const BenchShape& s, uint32_t seed) {
                   Rng rng(seed);
                   int64_t B = s["B"], T = s["T"], S = s["S"], Hq = s["Hq"], Hkv = s["Hkv"],
                           D = s["D"];
                   const std::string &dt = s.text("dtype"), &kv = s.text("kv");
                   BenchInputs in;
                   in.tensors.emplace("q", random_as(dt, {B, T, Hq, D}, -1.0f, 1.0f, rng));
                   in.tensors.emplace("k", random_as(kv, {B, S, Hkv, D}, -1.0f, 1.0f, rng));
                   in.tensors.emplace("v", random_as(kv, {B, S, Hkv, D}, -1.0f, 1.0f, rng));
                   in.tensors.emplace("gate", random_as(dt, {B, T, Hq, D}, -4.0f, 4.0f, rng));
                   if (kv == "e4m3") {
                     // Values in [-1, 1] need no scaling; a scale of 1 still exercises the path.
                     for (const char* name : {"k_scale", "v_scale"}) {
                       Tensor one(DType::F32, {});
                       one.as<float>()[0] = 1.0f;
                       in.tensors.emplace(name, std::move(one));
                     }
                   }
                   in.params["causal"] = "1";
                   in.params["out"] = dt;
                   return in;
                 },
                 // Two D-long dot products (q.k and p.v) per visited (query, key) pair and head.
                 // Only the pairs the causal mask keeps are counted: T(T+1)/2 for prefill, close
                 // to the usual "half of 4 T S Hq D".
                 [](const BenchShape& s) {
                   return std::optional<double>(4.0 * s["B"] * s["Hq"] * s["D"] *
                                                causal_pairs(s["T"], s["S"]));
                 },
                 [](const BenchShape& s) {
                   double B = s["B"], T = s["T"], S = s["S"], Hq = s["Hq"], Hkv = s["Hkv"],
                          D = s["D"];
                   return 3 * B * T * Hq * D * bytes_of(s.text("dtype")) +
                          2 * B * S * Hkv * D * bytes_of(s.text("kv"));
                 },
                 {}});
  return ops;
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

} // namespace tessera::bench
