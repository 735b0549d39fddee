// Randomized cases for the GEMMs (numerics.md section 4) and the GEMMs with the activation
// quantized in front, all exact. Shapes: M at 1, at the GEMV/tiled threshold (16, 17) and past
// a tile; N and K ragged; K = 16 (NVFP4's one block) and K past one split-K pass. Values: random
// codes (fp8 NaN codes included: a NaN operand makes its row or column NaN), all codes at the
// largest magnitude with equal or mixed signs (the largest exact sums), all-zero blocks; scale
// bytes over every code (NaN ones included, which the NVFP4 GEMM takes), 448, or tiny; fp8 block
// scales huge, tiny, subnormal or negative (finite: the operation refuses others); alpha 1,
// huge, tiny, subnormal or negative; bias on or off; every output dtype.
#include "conformance/random.h"
#include "reference/formats.h"

namespace tessera::conformance::random {

namespace {

std::string draw_out(Rng& r) { return r.pick(std::vector<std::string>{"f32", "bf16", "f16"}); }

std::string draw_alpha(Rng& r) {
  switch (r.range(0, 7)) {
  case 0: return "1";
  case 1: return float_param(static_cast<float>(r.uniform(1e28, 1e36)));
  case 2: return float_param(static_cast<float>(r.uniform(1e-30, 1e-25)));
  case 3: return float_param(static_cast<float>(r.uniform(1e-45, 1e-39))); // subnormal
  case 4: return float_param(static_cast<float>(-r.uniform(1e-3, 10)));
  default: return float_param(static_cast<float>(r.uniform(1e-4, 10)));
  }
}

Dims mnk(const Spec& s) {
  const int64_t M = s["M"], N = s["N"], K = s["K"];
  return {{"M", M},
          {"N", N},
          {"K", K},
          {"block_scaled", s["block"]},
          {"elements", std::max({M * K, N * K, M * N})}};
}

Dims mnk_act(const Spec& s) {
  const int64_t M = s["M"], N = s["N"], K = s["K"];
  return {{"M", M}, {"N", N}, {"K", K}, {"elements", std::max({M * K, N * K, M * N})}};
}

std::vector<Spec> mnk_smaller(const Spec& s, int64_t k_multiple) {
  std::vector<Spec> out = halvings(s, {"M", "N"});
  for (Spec& c : halvings(s, {"K"}, k_multiple, k_multiple))
    out.push_back(std::move(c));
  return out;
}

// M: one row, the decode/tiled threshold either side, past a tile; N ragged; the shared draw.
void draw_mn(Spec& s, Rng& r, Size size) {
  const bool quick = size == Size::Quick;
  s.n["M"] = edge_or(r, {1, 2, 15, 16, 17, 32, 33, 64, 65}, 1, quick ? 48 : 160, 0.45);
  s.n["N"] = edge_or(r, {1, 7, 8, 9, 63, 64, 65, 129}, 1, quick ? 160 : 600);
  s.n["M0"] = s.n["N0"] = 0;
  s.n["bias"] = r.chance(0.5);
  s.s["out"] = draw_out(r);
}

// A big K with small M and N keeps a long search's cases quick.
void cap_for_k(Spec& s) {
  if (s["K"] > 2048)
    s.n["M"] = std::min<int64_t>(s["M"], 17), s.n["N"] = std::min<int64_t>(s["N"], 64);
}

Tensor bias_of(const Spec& s) {
  Tensor b(DType::F32, {s["N"]});
  for (int64_t n = 0; n < s["N"]; ++n) {
    Rng e(s.seed, 54, s["N0"] + n);
    b.as<float>()[n] = static_cast<float>(e.chance(0.1) ? e.normal() * 1e6 : e.uniform(-2, 2));
  }
  return b;
}

// ---- gemm_nvfp4 ---------------------------------------------------------------------------------

uint8_t nvfp4_code_byte(const std::string& mode, Rng& e) {
  auto b = static_cast<uint8_t>(e.next());
  if (mode == "maxmag") return 0x77; // +6, +6
  if (mode == "maxmag_mixed")
    return static_cast<uint8_t>((b & 1 ? 0x7 : 0xF) | (b & 2 ? 0x70 : 0xF0)); // +-6
  if (mode == "zeros") return 0;
  return b;
}

uint8_t scale_byte(const std::string& mode, Rng& e) {
  auto b = static_cast<uint8_t>(e.next());
  if (mode == "moderate") return static_cast<uint8_t>((0x20 + b % 0x40) | (b & 0x80));
  if (mode == "max") return static_cast<uint8_t>(0x7E | (b & 0x80));
  if (mode == "tiny") return static_cast<uint8_t>((1 + b % 0x10) | (b & 0x80));
  return b; // any byte, NaN (0x7F, 0xFF) included
}

Spec nvfp4_draw(Rng& r, Size size) {
  Spec s;
  draw_mn(s, r, size);
  s.n["block"] = 0;
  s.n["K"] = 16 * (size == Size::Quick ? edge_or(r, {1, 2, 8, 9, 64}, 1, 32)
                                       : edge_or(r, {1, 2, 9, 64, 65, 131, 256, 1024}, 1, 128));
  cap_for_k(s);
  s.s["codes"] = r.pick(
      std::vector<std::string>{"random", "random", "random", "maxmag", "maxmag_mixed", "zeros"});
  s.s["scales"] =
      r.pick(std::vector<std::string>{"moderate", "moderate", "any_byte", "max", "tiny"});
  s.s["alpha"] = draw_alpha(r);
  s.seed = r.next();
  return s;
}

Drawn nvfp4_build(const Spec& s) {
  const int64_t M = s["M"], N = s["N"], K = s["K"];
  auto codes = [&](int64_t rows, int64_t row0, uint64_t id) {
    return byte_matrix(DType::U8, rows, K / 2, s.seed, id, row0, 0,
                       [&](Rng& e) { return nvfp4_code_byte(s.str("codes"), e); });
  };
  auto scales = [&](int64_t rows, int64_t row0, uint64_t id) {
    return byte_matrix(DType::F8_E4M3, rows, K / 16, s.seed, id, row0, 0,
                       [&](Rng& e) { return scale_byte(s.str("scales"), e); });
  };
  Drawn d;
  d.inputs.emplace("a", codes(M, s["M0"], 50));
  d.inputs.emplace("a_scale", scales(M, s["M0"], 51));
  d.inputs.emplace("b", codes(N, s["N0"], 52));
  d.inputs.emplace("b_scale", scales(N, s["N0"], 53));
  if (s["bias"]) d.inputs.emplace("bias", bias_of(s));
  d.params["alpha"] = s.str("alpha");
  d.params["out"] = s.str("out");
  return d;
}

void nvfp4_run(const Drawn& d, const RunOptions& o, std::vector<Guarded>& outs) {
  const Tensor &a = d.inputs.at("a"), &b = d.inputs.at("b");
  outs.emplace_back(out_dtype(d), Shape{a.shape()[0], b.shape()[0]});
  gemm_nvfp4(a.view(), d.inputs.at("a_scale").view(), b.view(), d.inputs.at("b_scale").view(),
             param_float(d, "alpha"), optional_input(d, "bias"), outs[0].view, o);
}

// ---- gemm_fp8 (per-tensor and block-scaled)
// -------------------------------------------------------

uint8_t fp8_code(const std::string& mode, Rng& e) {
  auto b = static_cast<uint8_t>(e.next());
  if (mode == "maxmag") return 0x7E;
  if (mode == "maxmag_mixed") return static_cast<uint8_t>(0x7E | (b & 0x80));
  if (mode == "finite" && (b & 0x7F) == 0x7F) return static_cast<uint8_t>(b ^ 1);
  if (mode == "sparse_nan")
    return e.chance(0.002) ? 0x7F : static_cast<uint8_t>((b & 0x7F) == 0x7F ? b ^ 1 : b);
  return b; // any byte, NaN codes included
}

Spec fp8_draw(Rng& r, Size size) {
  Spec s;
  draw_mn(s, r, size);
  s.n["block"] = r.chance(0.5);
  s.n["K"] = size == Size::Quick ? edge_or(r, {1, 2, 127, 128, 129, 256, 257}, 1, 300)
                                 : edge_or(r, {1, 2, 127, 128, 129, 257, 4099, 8965}, 1, 2000);
  cap_for_k(s);
  s.s["codes"] = r.pick(std::vector<std::string>{"finite", "finite", "sparse_nan", "any_byte",
                                                 "maxmag", "maxmag_mixed"});
  if (s["block"])
    s.s["scales"] = r.pick(std::vector<std::string>{"moderate", "moderate", "huge", "tiny",
                                                    "subnormal", "mixed_sign"});
  else
    s.s["alpha"] = draw_alpha(r);
  s.seed = r.next();
  return s;
}

Drawn fp8_build(const Spec& s) {
  const int64_t M = s["M"], N = s["N"], K = s["K"], kb = (K + 127) / 128;
  auto codes = [&](int64_t rows, int64_t row0, uint64_t id) {
    return byte_matrix(DType::F8_E4M3, rows, K, s.seed, id, row0, 0,
                       [&](Rng& e) { return fp8_code(s.str("codes"), e); });
  };
  Drawn d;
  d.inputs.emplace("a", codes(M, s["M0"], 60));
  d.inputs.emplace("b", codes(N, s["N0"], 61));
  if (s["block"]) {
    d.inputs.emplace("a_scale", fp8_block_scales(s.seed, 62, M, kb, s.str("scales")));
    d.inputs.emplace("b_scale", fp8_block_scales(s.seed, 63, (N + 127) / 128, kb, s.str("scales")));
  } else { // krun's per-tensor form: alpha = RN(a_scale * b_scale) = alpha
    Tensor sa(DType::F32, {}), sb(DType::F32, {});
    sa.as<float>()[0] = std::strtof(s.str("alpha").c_str(), nullptr);
    sb.as<float>()[0] = 1.0f;
    d.inputs.emplace("a_scale", std::move(sa));
    d.inputs.emplace("b_scale", std::move(sb));
  }
  if (s["bias"]) d.inputs.emplace("bias", bias_of(s));
  d.params["out"] = s.str("out");
  return d;
}

void fp8_run(const Drawn& d, const RunOptions& o, std::vector<Guarded>& outs) {
  const Tensor &a = d.inputs.at("a"), &b = d.inputs.at("b"), &sa = d.inputs.at("a_scale"),
               &sb = d.inputs.at("b_scale");
  outs.emplace_back(out_dtype(d), Shape{a.shape()[0], b.shape()[0]});
  if (sa.shape().empty())
    gemm_fp8(a.view(), b.view(), sa.as<float>()[0] * sb.as<float>()[0], optional_input(d, "bias"),
             outs[0].view, o);
  else
    gemm_fp8_block(a.view(), sa.view(), b.view(), sb.view(), optional_input(d, "bias"),
                   outs[0].view, o);
}

// ---- gemm_nvfp4_act
// -------------------------------------------------------------------------------

Spec nvfp4_act_draw(Rng& r, Size size) {
  Spec s;
  draw_mn(s, r, size);
  s.n["K"] = 16 * (size == Size::Quick ? edge_or(r, {1, 2, 8, 9}, 1, 24)
                                       : edge_or(r, {1, 2, 9, 64, 65, 256}, 1, 128));
  cap_for_k(s);
  draw_nvfp4_x(s, r, "a_scale_2");
  s.s["scales"] =
      r.pick(std::vector<std::string>{"moderate", "moderate", "any_byte", "max", "tiny"});
  s.s["b_scale_2"] = float_param(static_cast<float>(r.uniform(1e-3, 10)));
  s.seed = r.next();
  return s;
}

Drawn nvfp4_act_build(const Spec& s) {
  const int64_t M = s["M"], N = s["N"], K = s["K"];
  const float anchor =
      s["anchor"] ? static_cast<float>(std::ldexp(2688.0, static_cast<int>(s["k"]))) : 0.0f;
  Drawn d;
  d.inputs.emplace(
      "x", typed(dtype_of(s.str("in")), {M, K},
                 fit(nvfp4_input(s.seed, M, K, s["M0"], 0, static_cast<int>(s["k"]), anchor),
                     s.str("in"))));
  Tensor b =
      byte_matrix(DType::U8, N, K / 2, s.seed, 70, s["N0"], 0, [](Rng& e) { return e.next(); });
  Tensor sb = byte_matrix(DType::F8_E4M3, N, K / 16, s.seed, 71, s["N0"], 0,
                          [&](Rng& e) { return scale_byte(s.str("scales"), e); });
  Tensor b2(DType::F32, {});
  b2.as<float>()[0] = std::strtof(s.str("b_scale_2").c_str(), nullptr);
  d.inputs.emplace("b", std::move(b));
  d.inputs.emplace("b_scale", std::move(sb));
  d.inputs.emplace("b_scale_2", std::move(b2));
  if (s["static"]) {
    Tensor a2(DType::F32, {});
    a2.as<float>()[0] = std::strtof(s.str("a_scale_2").c_str(), nullptr);
    d.inputs.emplace("a_scale_2", std::move(a2));
  }
  if (s["bias"]) d.inputs.emplace("bias", bias_of(s));
  d.params["out"] = s.str("out");
  return d;
}

void nvfp4_act_run(const Drawn& d, const RunOptions& o, std::vector<Guarded>& outs) {
  const Tensor &x = d.inputs.at("x"), &b = d.inputs.at("b");
  std::optional<float> a2;
  if (auto it = d.inputs.find("a_scale_2"); it != d.inputs.end()) a2 = it->second.as<float>()[0];
  outs.emplace_back(out_dtype(d), Shape{x.shape()[0], b.shape()[0]});
  outs.emplace_back(DType::F32, Shape{1});
  float used = gemm_nvfp4_act(x.view(), a2, b.view(), d.inputs.at("b_scale").view(),
                              d.inputs.at("b_scale_2").as<float>()[0], optional_input(d, "bias"),
                              outs[0].view, o);
  std::memcpy(outs[1].view.data, &used, 4);
}

// ---- gemm_fp8_act
// ---------------------------------------------------------------------------------

Spec fp8_act_draw(Rng& r, Size size) {
  Spec s;
  draw_mn(s, r, size);
  s.n["K"] = size == Size::Quick ? edge_or(r, {1, 2, 127, 128, 129, 256}, 1, 300)
                                 : edge_or(r, {1, 2, 127, 128, 129, 257, 4099}, 1, 2000);
  cap_for_k(s);
  s.s["in"] = draw_in(r);
  std::string kind;
  s.n["k"] = draw_k(r, s.s["in"], &kind);
  s.s["x_scale"] = kind;
  s.s["codes"] = r.pick(std::vector<std::string>{"finite", "finite", "sparse_nan", "maxmag_mixed"});
  s.s["scales"] =
      r.pick(std::vector<std::string>{"moderate", "moderate", "huge", "tiny", "mixed_sign"});
  s.seed = r.next();
  return s;
}

Drawn fp8_act_build(const Spec& s) {
  const int64_t M = s["M"], N = s["N"], K = s["K"], kb = (K + 127) / 128;
  Spec xs;
  xs.n = {{"rows", M}, {"cols", K}, {"rows0", s["M0"]}, {"cols0", 0}, {"k", s["k"]}};
  xs.s = {{"recipe", "fp8-token128"}, {"in", s.str("in")}};
  xs.seed = s.seed;
  Drawn d;
  d.inputs.emplace("x", typed(dtype_of(s.str("in")), {M, K}, fp8_input(xs)));
  d.inputs.emplace("b", byte_matrix(DType::F8_E4M3, N, K, s.seed, 80, s["N0"], 0,
                                    [&](Rng& e) { return fp8_code(s.str("codes"), e); }));
  d.inputs.emplace("b_scale", fp8_block_scales(s.seed, 81, (N + 127) / 128, kb, s.str("scales")));
  if (s["bias"]) d.inputs.emplace("bias", bias_of(s));
  d.params["out"] = s.str("out");
  return d;
}

void fp8_act_run(const Drawn& d, const RunOptions& o, std::vector<Guarded>& outs) {
  const Tensor &x = d.inputs.at("x"), &b = d.inputs.at("b");
  outs.emplace_back(out_dtype(d), Shape{x.shape()[0], b.shape()[0]});
  gemm_fp8_act(x.view(), b.view(), d.inputs.at("b_scale").view(), optional_input(d, "bias"),
               outs[0].view, o);
}

} // namespace

std::vector<Generator> gemm_generators() {
  auto k16 = [](const Spec& s) { return mnk_smaller(s, 16); };
  auto k1 = [](const Spec& s) { return mnk_smaller(s, 1); };
  return {
      {"gemm_nvfp4", {"c"}, nvfp4_draw, mnk, k16, nvfp4_build, nvfp4_run},
      {"gemm_fp8", {"c"}, fp8_draw, mnk, k1, fp8_build, fp8_run},
      {"gemm_nvfp4_act",
       {"c", "a_scale_2"},
       nvfp4_act_draw,
       mnk_act,
       k16,
       nvfp4_act_build,
       nvfp4_act_run},
      {"gemm_fp8_act", {"c"}, fp8_act_draw, mnk_act, k1, fp8_act_build, fp8_act_run},
  };
}

} // namespace tessera::conformance::random
