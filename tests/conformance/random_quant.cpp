// Randomized cases for the conversions, quantizers and dequantizers (numerics.md sections 1-3),
// all exact. Values: every fp32 bit pattern (NaN, inf, subnormals; convert takes them all), the
// rounding ties of each target format and one ulp either side, saturation and overflow
// thresholds; for the quantizers (which refuse NaN and inf) blocks and groups of exact ties at
// exact scales, zeros, outliers, subnormals, and tensors whose scale is huge or underflows;
// for the dequantizers every code and scale byte, NaN ones included, and huge, tiny, negative
// and zero scales.
#include <cfloat>

#include "conformance/random.h"
#include "reference/formats.h"

namespace tessera::conformance::random {

float near_tie(std::string_view f, Rng& r) {
  double lo = 0, hi = 0;
  if (f == "e4m3") {
    int c = static_cast<int>(r.range(0, 0x7E));
    lo = ref::e4m3_to_f32(static_cast<uint8_t>(c));
    hi = c == 0x7E ? 480.0 : ref::e4m3_to_f32(static_cast<uint8_t>(c + 1));
  } else if (f == "e5m2") {
    int c = static_cast<int>(r.range(0, 0x7B));
    lo = ref::e5m2_to_f32(static_cast<uint8_t>(c));
    hi = c == 0x7B ? 61440.0 : ref::e5m2_to_f32(static_cast<uint8_t>(c + 1));
  } else if (f == "e2m1") {
    static const double v[] = {0, 0.5, 1, 1.5, 2, 3, 4, 6, 8};
    int c = static_cast<int>(r.range(0, 7));
    lo = v[c], hi = v[c + 1];
  } else if (f == "bf16") {
    auto b = static_cast<uint16_t>(r.range(0, 0x7F7F));
    lo = ref::bf16_to_f32(b);
    hi = b == 0x7F7F ? 2 * lo - ref::bf16_to_f32(static_cast<uint16_t>(b - 1))
                     : ref::bf16_to_f32(static_cast<uint16_t>(b + 1));
  } else { // f16
    auto b = static_cast<uint16_t>(r.range(0, 0x7BFF));
    lo = ref::f16_to_f32(b);
    hi = b == 0x7BFF ? 65536.0 : ref::f16_to_f32(static_cast<uint16_t>(b + 1));
  }
  float mid = static_cast<float>(lo + (hi - lo) / 2); // exact: one bit more than the format has
  switch (r.range(0, 3)) {
  case 2: mid = std::nextafter(mid, INFINITY); break;
  case 3: mid = std::nextafter(mid, 0.0f); break;
  default: break;
  }
  return r.chance(0.5) ? -mid : mid;
}

// k = kUnderflowK: small multiples of 2^-149 (the smallest subnormal), so that a computed scale
// (amax / 2688, amax / 448) rounds to 0 or to a subnormal: the quantizers' underflow edge.
std::vector<float> underflow_input(uint64_t seed, int64_t rows, int64_t cols, int64_t rows0,
                                   int64_t cols0) {
  const int64_t m =
      Rng(seed, 12, 0).pick(std::vector<int64_t>{223, 224, 1343, 1344, 1345, 4031, 20000});
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      Rng e(seed, 13, rows0 + r, cols0 + c);
      x[static_cast<size_t>(r * cols + c)] =
          static_cast<float>(std::ldexp(static_cast<double>(e.range(-m, m)), -149));
    }
  return x;
}

std::vector<float> nvfp4_input(uint64_t seed, int64_t rows, int64_t cols, int64_t rows0,
                               int64_t cols0, int k, float anchor) {
  static const double ties[] = {0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 5, 6};
  if (k == kUnderflowK) return underflow_input(seed, rows, cols, rows0, cols0);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  const double base = std::ldexp(1.0, k);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t cb = 0; cb < cols / 16; ++cb) {
      const int64_t gr = rows0 + r, gb = cols0 / 16 + cb;
      Rng b(seed, 10, gr, gb);
      const int64_t mode = b.range(0, 10), forced = b.range(0, 15);
      const double mag = base * std::ldexp(1.0, static_cast<int>(b.range(-24, 9)));
      const double s = ref::e4m3_to_f32(static_cast<uint8_t>(b.range(0x08, 0x7E)));
      for (int64_t j = 0; j < 16; ++j) {
        Rng e(seed, 11, gr, gb * 16 + j);
        double v = e.normal() * mag;
        switch (mode) {
        case 3:
        case 4: // exact E2M1 ties (and codes) at the exact block scale s: the block's max is 6 s
                // 2^k
          v = (j == forced ? 6.0 : ties[e.range(0, 14)]) * s * base * (e.chance(0.5) ? -1 : 1);
          break;
        case 10: { // the block scale itself on (or an ulp off) an E4M3 tie: max = 6 * tie * 2^k
          Rng t(seed, 14, gr, gb);
          if (j == forced)
            v = 6.0 * std::fabs(near_tie("e4m3", t)) * base;
          else
            v = e.uniform(-1.0, 1.0) * ties[e.range(0, 14)] * s * base * 1e-3;
          break;
        }
        case 5: v = e.chance(0.5) ? -0.0 : 0.0; break;
        case 6: v = e.normal() * (e.chance(0.5) ? 1e-41 : base * 1e-12); break; // subnormal or tiny
        case 7:
          if (j == forced) v *= 300.0; // one outlier
          break;
        case 8: v = (b.state & 1) ? mag : -mag; break; // sixteen equal magnitudes
        case 9:
          if (e.chance(0.3)) v = -0.0;
          break;
        default: break;
        }
        x[static_cast<size_t>(r * cols + cb * 16 + j)] =
            static_cast<float>(std::clamp(v, -3.4e38, 3.4e38)); // finite
      }
    }
  if (anchor != 0.0f && rows0 == 0 && cols0 == 0 && !x.empty()) x[0] = anchor;
  return x;
}

std::vector<float> fit(std::vector<float> v, std::string_view in) {
  if (in == "f16")
    for (float& x : v)
      x = std::clamp(x, -65504.0f, 65504.0f);
  if (in == "bf16")
    for (float& x : v)
      x = std::clamp(x, -3.38e38f, 3.38e38f);
  return v;
}

int64_t edge_or(Rng& r, const std::vector<int64_t>& edges, int64_t lo, int64_t hi, double p_edge) {
  return r.chance(p_edge) ? r.pick(edges) : r.range(lo, hi);
}

// The exponent of a tensor's magnitude: moderate mostly, sometimes near overflow or underflow.
int draw_k(Rng& r, std::string_view in, std::string* kind) {
  double u = r.unit();
  if (in == "f16") return *kind = "moderate", static_cast<int>(r.range(-12, 3));
  if (u < 0.65) return *kind = "moderate", static_cast<int>(r.range(-20, 20));
  if (u < 0.8) return *kind = "huge", static_cast<int>(r.range(95, 112));
  if (u < 0.9 || in != "f32") return *kind = "tiny", static_cast<int>(r.range(-149, -118));
  return *kind = "underflow", kUnderflowK;
}

std::string draw_in(Rng& r) { return r.chance(0.6) ? "f32" : r.chance(0.5) ? "bf16" : "f16"; }

void draw_nvfp4_x(Spec& s, Rng& r, const std::string& static_key) {
  s.s["in"] = draw_in(r);
  std::string kind;
  s.n["k"] = draw_k(r, s.s["in"], &kind);
  s.s["x_scale"] = kind;
  s.n["static"] = r.chance(0.3);
  s.n["anchor"] = !s.n["static"] && r.chance(0.7);
  if (s["static"]) // 2^k * [0.5, 2], at least the smallest subnormal (the operations refuse 0)
    s.s[static_key] = float_param(
        std::max(1e-45f, static_cast<float>(std::ldexp(r.chance(0.5) ? 1.0 : r.uniform(0.5, 2.0),
                                                       static_cast<int>(s["k"])))));
}

Tensor fp8_block_scales(uint64_t seed, uint64_t id, int64_t rows, int64_t cols,
                        const std::string& mode) {
  Tensor t(DType::F32, {rows, cols});
  for (int64_t i = 0; i < t.numel(); ++i) {
    Rng e(seed, id, i);
    double v = mode == "huge"        ? e.uniform(1e15, 1e18)
               : mode == "tiny"      ? e.uniform(1e-30, 1e-25)
               : mode == "subnormal" ? e.uniform(1e-45, 1e-39)
                                     : e.uniform(1e-3, 2);
    if (mode == "mixed_sign" && e.chance(0.5)) v = -v;
    t.as<float>()[i] = static_cast<float>(v);
  }
  return t;
}

namespace {

// ---- convert --------------------------------------------------------------------------------

DType format_dtype(std::string_view to) {
  if (to == "e4m3") return DType::F8_E4M3;
  if (to == "e5m2") return DType::F8_E5M2;
  if (to == "e2m1") return DType::U8;
  return dtype_of(to);
}

Spec convert_draw(Rng& r, Size size) {
  Spec s;
  s.n["n"] = edge_or(r, {1, 2, 15, 16, 17, 255, 256, 257}, 1, size == Size::Quick ? 4096 : 100000);
  s.n["n0"] = 0;
  s.s["to"] = r.pick(std::vector<std::string>{"e4m3", "e5m2", "e2m1", "bf16", "f16"});
  s.s["values"] = r.pick(std::vector<std::string>{"bits", "ties", "edges", "mixed"});
  s.seed = r.next();
  return s;
}

float convert_value(const Spec& s, int64_t i) {
  Rng e(s.seed, 1, s["n0"] + i);
  std::string mode = s.str("values");
  if (mode == "mixed") mode = e.pick(std::vector<std::string>{"bits", "ties", "edges"});
  if (mode == "ties") return near_tie(s.str("to"), e);
  if (mode == "edges") {
    static const uint32_t bits[] = {
        0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001,
        0xFFFFFFFF, 0x7FBFFFFF, 0x00000001, 0x80000001, 0x007FFFFF, 0x00800000, 0x7F7FFFFF,
        0xFF7FFFFF, 0x7F7F8000, 0x477FE000, 0x477FF000, 0x47800000, 0x43E00000, 0x43E80000,
        0x43F00000, 0x47600000, 0x47700000, 0x3A800000, 0x3A000000, 0x33800000, 0x33000000,
        0x38800000, 0x37800000, 0x40E00000, 0x40C00000, 0x3E800000};
    uint32_t b = bits[e.range(0, static_cast<int64_t>(std::size(bits)) - 1)];
    if (e.chance(0.3))
      b += e.chance(0.5) ? 1u : static_cast<uint32_t>(-1); // one ulp off (0 - 1 is a NaN)
    if (e.chance(0.5)) b ^= 0x80000000u;
    float f;
    std::memcpy(&f, &b, 4);
    return f;
  }
  uint32_t b = static_cast<uint32_t>(e.next());
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

Drawn convert_build(const Spec& s) {
  std::vector<float> x(static_cast<size_t>(s["n"]));
  for (int64_t i = 0; i < s["n"]; ++i)
    x[static_cast<size_t>(i)] = convert_value(s, i);
  Drawn d;
  d.inputs.emplace("x", typed(DType::F32, {s["n"]}, x));
  d.params["to"] = s.str("to");
  return d;
}

void convert_run(const Drawn& d, const RunOptions& o, std::vector<Guarded>& outs) {
  const std::string& to = d.params.at("to");
  const Format f = to == "e4m3"   ? Format::E4M3
                   : to == "e5m2" ? Format::E5M2
                   : to == "e2m1" ? Format::E2M1
                   : to == "bf16" ? Format::BF16
                                  : Format::F16;
  const Tensor& x = d.inputs.at("x");
  outs.emplace_back(format_dtype(to), x.shape());
  convert(x.view(), f, outs[0].view, o);
}

// ---- quantize_nvfp4 -------------------------------------------------------------------------

Spec nvfp4_q_draw(Rng& r, Size size) {
  Spec s;
  const bool quick = size == Size::Quick;
  s.n["rows"] = edge_or(r, {1, 2, 3, 16, 17, 128, 129}, 1, quick ? 40 : 300);
  s.n["cols"] = 16 * edge_or(r, {1, 2, 8, 9}, 1, quick ? 24 : 160);
  s.n["rows0"] = s.n["cols0"] = 0;
  s.s["recipe"] = r.chance(0.5) ? "nvfp4" : "nvfp4-4over6";
  draw_nvfp4_x(s, r, "scale_2");
  s.seed = r.next();
  return s;
}

Drawn nvfp4_q_build(const Spec& s) {
  const float anchor =
      s["anchor"] ? static_cast<float>(std::ldexp(s.str("recipe") == "nvfp4" ? 2688.0 : 1536.0,
                                                  static_cast<int>(s["k"])))
                  : 0.0f;
  Drawn d;
  d.inputs.emplace("x", typed(dtype_of(s.str("in")), {s["rows"], s["cols"]},
                              fit(nvfp4_input(s.seed, s["rows"], s["cols"], s["rows0"], s["cols0"],
                                              static_cast<int>(s["k"]), anchor),
                                  s.str("in"))));
  d.params["recipe"] = s.str("recipe");
  if (s["static"]) d.params["scale_2"] = s.str("scale_2");
  return d;
}

void nvfp4_q_run(const Drawn& d, const RunOptions& o, std::vector<Guarded>& outs) {
  const Tensor& x = d.inputs.at("x");
  const int64_t R = x.shape()[0], C = x.shape()[1];
  std::optional<float> s2;
  if (auto it = d.params.find("scale_2"); it != d.params.end())
    s2 = std::strtof(it->second.c_str(), nullptr);
  outs.emplace_back(DType::U8, Shape{R, C / 2});
  outs.emplace_back(DType::F8_E4M3, Shape{R, C / 16});
  outs.emplace_back(DType::F32, Shape{1});
  float used = quantize_nvfp4(
      x.view(), d.params.at("recipe") == "nvfp4" ? Nvfp4Recipe::Nvfp4 : Nvfp4Recipe::FourOverSix,
      s2, outs[0].view, outs[1].view, o);
  std::memcpy(outs[2].view.data, &used, 4);
}

std::vector<Spec> matrix_smaller(const Spec& s, int64_t col_multiple) {
  std::vector<Spec> out = halvings(s, {"rows"});
  for (Spec& c : halvings(s, {"cols"}, col_multiple, col_multiple))
    out.push_back(std::move(c));
  return out;
}

Dims rows_cols(const Spec& s) { return {{"rows", s["rows"]}, {"cols", s["cols"]}}; }

// ---- dequantize_nvfp4 -----------------------------------------------------------------------

std::string draw_scale_2(Rng& r) {
  switch (r.range(0, 5)) {
  case 0: return float_param(static_cast<float>(r.uniform(1e30, 3e38)));
  case 1: return float_param(static_cast<float>(r.uniform(1e-45, 1e-38))); // subnormal
  case 2: return float_param(static_cast<float>(-r.uniform(1e-3, 10)));
  case 3: return r.chance(0.5) ? "0" : "-0";
  default: return float_param(static_cast<float>(r.uniform(1e-3, 10)));
  }
}

Spec nvfp4_dq_draw(Rng& r, Size size) {
  Spec s = nvfp4_q_draw(r, size);
  s.n.erase("k"), s.n.erase("static"), s.n.erase("anchor"), s.s.clear();
  s.s["scales"] = r.chance(0.6) ? "any_byte" : "moderate";
  s.s["scale_2"] = draw_scale_2(r);
  return s;
}

Drawn nvfp4_dq_build(const Spec& s) {
  const int64_t R = s["rows"], C = s["cols"];
  Tensor q = byte_matrix(DType::U8, R, C / 2, s.seed, 20, s["rows0"], s["cols0"] / 2,
                         [](Rng& e) { return e.next(); });
  Tensor sc =
      byte_matrix(DType::F8_E4M3, R, C / 16, s.seed, 21, s["rows0"], s["cols0"] / 16, [&](Rng& e) {
        auto b = static_cast<uint8_t>(e.next());
        return s.str("scales") == "moderate" ? static_cast<uint8_t>((0x20 + b % 0x40) | (b & 0x80))
                                             : b;
      });
  Tensor s2(DType::F32, {});
  s2.as<float>()[0] = std::strtof(s.str("scale_2").c_str(), nullptr);
  Drawn d;
  d.inputs.emplace("x", std::move(q));
  d.inputs.emplace("x_scale", std::move(sc));
  d.inputs.emplace("x_scale_2", std::move(s2));
  return d;
}

void nvfp4_dq_run(const Drawn& d, const RunOptions& o, std::vector<Guarded>& outs) {
  const Tensor& q = d.inputs.at("x");
  outs.emplace_back(DType::F32, Shape{q.shape()[0], q.shape()[1] * 2});
  dequantize_nvfp4(q.view(), d.inputs.at("x_scale").view(), d.inputs.at("x_scale_2").as<float>()[0],
                   outs[0].view, o);
}

// ---- quantize_fp8 / dequantize_fp8 -----------------------------------------------------------

Fp8Recipe fp8_recipe(std::string_view r) {
  return r == "fp8-tensor"     ? Fp8Recipe::Tensor
         : r == "fp8-token128" ? Fp8Recipe::Token128
                               : Fp8Recipe::Block128;
}

Shape fp8_scale_shape(std::string_view recipe, int64_t R, int64_t C) {
  if (recipe == "fp8-tensor") return {};
  return recipe == "fp8-token128" ? Shape{R, (C + 127) / 128}
                                  : Shape{(R + 127) / 128, (C + 127) / 128};
}

Spec fp8_q_draw(Rng& r, Size size) {
  Spec s;
  const bool quick = size == Size::Quick;
  s.n["rows"] = edge_or(r, {1, 2, 127, 128, 129}, 1, quick ? 40 : 300);
  s.n["cols"] = edge_or(r, {1, 2, 127, 128, 129, 256}, 1, quick ? 300 : 1000);
  s.n["rows0"] = s.n["cols0"] = 0;
  s.s["recipe"] = r.pick(std::vector<std::string>{"fp8-tensor", "fp8-token128", "fp8-block128"});
  s.s["in"] = draw_in(r);
  std::string kind;
  s.n["k"] = draw_k(r, s.s["in"], &kind);
  s.s["x_scale"] = kind;
  s.seed = r.next();
  return s;
}

} // namespace

// Per scale group one of: normal, exact E4M3 ties (the group's first element 448 * 2^k so the
// scale is exactly 2^k), magnitudes around token128's 1e-4 floor, zeros, subnormals, saturation.
std::vector<float> fp8_input(const Spec& s) {
  const int64_t R = s["rows"], C = s["cols"];
  if (s["k"] == kUnderflowK) return underflow_input(s.seed, R, C, s["rows0"], s["cols0"]);
  const std::string& recipe = s.str("recipe");
  std::vector<float> x(static_cast<size_t>(R * C));
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t gr = s["rows0"] + r, gc = s["cols0"] + c;
      const int64_t grp_r = recipe == "fp8-tensor" ? 0 : recipe == "fp8-token128" ? gr : gr / 128;
      const int64_t grp_c = recipe == "fp8-tensor" ? 0 : gc / 128;
      const bool first = recipe == "fp8-tensor"
                             ? (gr == 0 && gc == 0)
                             : (gc % 128 == 0 && (recipe == "fp8-token128" || gr % 128 == 0));
      Rng g(s.seed, 30, grp_r, grp_c), e(s.seed, 31, gr, gc);
      const int64_t mode = g.range(0, 7);
      const int k = static_cast<int>(s["k"]) +
                    (recipe == "fp8-tensor" ? 0 : static_cast<int>(g.range(-6, 6)));
      const double base = std::ldexp(1.0, std::clamp(k, -149, 115));
      double v;
      switch (mode) {
      case 0:
      case 1:
        v = first ? (g.chance(0.5) ? 448.0 : -448.0) * base : near_tie("e4m3", e) * base;
        break;
      case 2:
        v = e.uniform(-1, 1) * std::pow(10.0, g.uniform(-5.0, -3.0));
        break; // around the 1e-4 floor
      case 3: v = e.chance(0.5) ? 0.0 : -0.0; break;
      case 4: v = e.normal() * 1e-41; break;
      case 5: v = (e.chance(0.5) ? 1 : -1) * e.uniform(440.0, 470.0) * base; break; // saturation
      default: v = e.normal() * base * std::ldexp(1.0, static_cast<int>(g.range(-8, 8))); break;
      }
      x[static_cast<size_t>(r * C + c)] =
          static_cast<float>(std::clamp(v, -3.4e38, 3.4e38)); // finite
    }
  return fit(std::move(x), s.str("in"));
}

namespace {

Drawn fp8_q_build(const Spec& s) {
  Drawn d;
  d.inputs.emplace("x", typed(dtype_of(s.str("in")), {s["rows"], s["cols"]}, fp8_input(s)));
  d.params["recipe"] = s.str("recipe");
  return d;
}

void fp8_q_run(const Drawn& d, const RunOptions& o, std::vector<Guarded>& outs) {
  const Tensor& x = d.inputs.at("x");
  const std::string& recipe = d.params.at("recipe");
  outs.emplace_back(DType::F8_E4M3, x.shape());
  outs.emplace_back(DType::F32, fp8_scale_shape(recipe, x.shape()[0], x.shape()[1]));
  quantize_fp8(x.view(), fp8_recipe(recipe), outs[0].view, outs[1].view, o);
}

Spec fp8_dq_draw(Rng& r, Size size) {
  Spec s = fp8_q_draw(r, size);
  s.n.erase("k"), s.s.erase("in"), s.s.erase("x_scale");
  s.s["scales"] = r.pick(std::vector<std::string>{"moderate", "huge", "tiny", "mixed_sign"});
  return s;
}

Drawn fp8_dq_build(const Spec& s) {
  const int64_t R = s["rows"], C = s["cols"];
  const std::string& recipe = s.str("recipe");
  Tensor q = byte_matrix(DType::F8_E4M3, R, C, s.seed, 40, s["rows0"], s["cols0"],
                         [](Rng& e) { return e.next(); });
  Tensor sc(DType::F32, fp8_scale_shape(recipe, R, C));
  const int64_t sc_cols = recipe == "fp8-tensor" ? 1 : (C + 127) / 128;
  for (int64_t i = 0; i < sc.numel(); ++i) {
    Rng e(s.seed, 41, i / sc_cols, i % sc_cols);
    const std::string& m = s.str("scales");
    double v = m == "huge"   ? e.uniform(1e30, 7e35)
               : m == "tiny" ? e.uniform(1e-45, 1e-36)
                             : e.uniform(1e-3, 2.0);
    if (m == "mixed_sign" && e.chance(0.5)) v = -v;
    sc.as<float>()[i] = static_cast<float>(v);
  }
  Drawn d;
  d.inputs.emplace("x", std::move(q));
  d.inputs.emplace("x_scale", std::move(sc));
  d.params["recipe"] = recipe;
  return d;
}

void fp8_dq_run(const Drawn& d, const RunOptions& o, std::vector<Guarded>& outs) {
  const Tensor& q = d.inputs.at("x");
  outs.emplace_back(DType::F32, q.shape());
  dequantize_fp8(q.view(), d.inputs.at("x_scale").view(), fp8_recipe(d.params.at("recipe")),
                 outs[0].view, o);
}

} // namespace

std::vector<Generator> quant_generators() {
  auto plain = [](const Spec& s) { return halvings(s, {"n"}); };
  auto nv = [](const Spec& s) { return matrix_smaller(s, 16); };
  auto f8 = [](const Spec& s) { return matrix_smaller(s, 1); };
  return {
      {"convert",
       {"y"},
       convert_draw,
       [](const Spec& s) {
         return Dims{{"elements", s["n"]}};
       },
       plain,
       convert_build,
       convert_run},
      {"quantize_nvfp4",
       {"x", "x_scale", "x_scale_2"},
       nvfp4_q_draw,
       rows_cols,
       nv,
       nvfp4_q_build,
       nvfp4_q_run},
      {"dequantize_nvfp4", {"y"}, nvfp4_dq_draw, rows_cols, nv, nvfp4_dq_build, nvfp4_dq_run},
      {"quantize_fp8", {"x", "x_scale"}, fp8_q_draw, rows_cols, f8, fp8_q_build, fp8_q_run},
      {"dequantize_fp8", {"y"}, fp8_dq_draw, rows_cols, f8, fp8_dq_build, fp8_dq_run},
  };
}

} // namespace tessera::conformance::random
