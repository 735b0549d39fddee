// Gated DeltaNet (numerics.md section 5): the reference through tessera::deltanet and
// run_named_op against an independent double-precision model, its exact properties (chaining,
// varlen, determinism, output rounding) and the refusal of every bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>

#include "reference/formats.h" // only to build bf16/f16 inputs
#include "tessera/error.h"
#include "tessera/named_ops.h"
#include "tessera/ops.h"
#include "test_util.h"

namespace {
using namespace tessera;
using test::copy_bytes;
using test::equal_bytes;
using test::same_bytes;
using test::random_floats;

// A tensor in the dtype under test and the values it holds, widened to double for the model.
struct Input {
  Tensor t;
  std::vector<double> d;
};

Input make_input(DType dt, Shape s, const std::vector<float>& v) {
  Input in{Tensor(dt, std::move(s)), std::vector<double>(v.size())};
  for (size_t i = 0; i < v.size(); ++i) {
    if (dt == DType::F32) in.t.as<float>()[i] = v[i];
    if (dt == DType::BF16) in.t.as<uint16_t>()[i] = ref::f32_to_bf16(v[i]);
    if (dt == DType::F16) in.t.as<uint16_t>()[i] = ref::f32_to_f16(v[i]);
    in.d[i] = dt == DType::F32    ? v[i]
              : dt == DType::BF16 ? ref::bf16_to_f32(in.t.as<uint16_t>()[i])
                                  : ref::f16_to_f32(in.t.as<uint16_t>()[i]);
  }
  return in;
}

struct Case {
  int64_t B = 1, T = 8, H = 2, HV = 2, Dk = 16, Dv = 16;
  bool l2norm = false, h0 = false, fused = false;
  std::optional<float> scale{};
  DType dtype = DType::F32;   // of q, k, v
  std::vector<int64_t> cu{};  // cu_seqlens when not empty (B == 1)
  float g_lo = -20, g_hi = 0; // the house range: decays from e^-20 to 1
  uint32_t seed = 1;
};

struct Problem {
  Case c{};
  int64_t N = 0;
  Input q{}, k{}, v{}, g{}, beta{}, a{}, b{}, A_log{}, dt_bias{}, h0{};
  Tensor cu{};

  DeltaNetArgs args() const {
    DeltaNetArgs x;
    x.q = q.t.view(), x.k = k.t.view(), x.v = v.t.view();
    if (c.fused)
      x.a = a.t.view(), x.b = b.t.view(), x.A_log = A_log.t.view(), x.dt_bias = dt_bias.t.view();
    else
      x.g = g.t.view(), x.beta = beta.t.view();
    if (c.h0) x.h0 = h0.t.view();
    if (!c.cu.empty()) x.cu_seqlens = cu.view();
    x.scale = c.scale;
    x.l2norm = c.l2norm;
    return x;
  }
  TensorMap named_inputs() const {
    TensorMap m;
    for (auto [name, in] : {std::pair{"q", &q}, {"k", &k}, {"v", &v}}) m[name] = in->t;
    if (c.fused)
      m["a"] = a.t, m["b"] = b.t, m["A_log"] = A_log.t, m["dt_bias"] = dt_bias.t;
    else
      m["g"] = g.t, m["beta"] = beta.t;
    if (c.h0) m["h0"] = h0.t;
    if (!c.cu.empty()) m["cu_seqlens"] = cu;
    return m;
  }
};

Problem make_problem(const Case& c) {
  Problem p{c, c.cu.empty() ? c.B : static_cast<int64_t>(c.cu.size()) - 1};
  const size_t nk = c.B * c.T * c.H * c.Dk, nv = c.B * c.T * c.HV * c.Dv, ng = c.B * c.T * c.HV;
  uint32_t s = c.seed * 100;
  // Without the l2norm the keys are kept small (norm about 0.6), as the model's are after it.
  float kr = c.l2norm ? 1.0f : 1.0f / std::sqrt(float(c.Dk));
  p.q = make_input(c.dtype, {c.B, c.T, c.H, c.Dk}, random_floats(nk, -1, 1, s + 1));
  p.k = make_input(c.dtype, {c.B, c.T, c.H, c.Dk}, random_floats(nk, -kr, kr, s + 2));
  p.v = make_input(c.dtype, {c.B, c.T, c.HV, c.Dv}, random_floats(nv, -1, 1, s + 3));
  p.g = make_input(DType::F32, {c.B, c.T, c.HV}, random_floats(ng, c.g_lo, c.g_hi, s + 4));
  p.beta = make_input(DType::F32, {c.B, c.T, c.HV}, random_floats(ng, 0.01f, 0.99f, s + 5));
  // a + dt_bias reaches past 20, so softplus's linear branch is exercised too.
  p.a = make_input(DType::F32, {c.B, c.T, c.HV}, random_floats(ng, -6, 22, s + 6));
  p.b = make_input(DType::F32, {c.B, c.T, c.HV}, random_floats(ng, -5, 5, s + 7));
  p.A_log = make_input(DType::F32, {c.HV}, random_floats(c.HV, -3, 1, s + 8));
  p.dt_bias = make_input(DType::F32, {c.HV}, random_floats(c.HV, -1, 1, s + 9));
  p.h0 = make_input(DType::F32, {p.N, c.HV, c.Dk, c.Dv},
                    random_floats(p.N * c.HV * c.Dk * c.Dv, -1, 1, s + 10));
  p.cu = test::make_tensor(DType::I64, {static_cast<int64_t>(c.cu.size())}, c.cu.data());
  return p;
}

// The recurrence straight from the spec, in double.
struct Model {
  std::vector<double> o, ht;
};

Model model(const Problem& p) {
  const Case& c = p.c;
  const int64_t HVD = c.Dk * c.Dv;
  Model m{std::vector<double>(c.B * c.T * c.HV * c.Dv), std::vector<double>(p.N * c.HV * HVD)};
  const double scale = c.scale ? *c.scale : 1.0 / std::sqrt(double(c.Dk));
  auto unit = [&](const double* x) {
    std::vector<double> y(x, x + c.Dk);
    if (!c.l2norm) return y;
    double ss = 0;
    for (double e : y) ss += e * e;
    for (double& e : y) e /= std::sqrt(ss + 1e-6);
    return y;
  };
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t hv = 0; hv < c.HV; ++hv) {
      double* h = &m.ht[(n * c.HV + hv) * HVD];
      for (int64_t i = 0; i < HVD; ++i) h[i] = c.h0 ? p.h0.d[(n * c.HV + hv) * HVD + i] : 0.0;
      int64_t t0 = c.cu.empty() ? n * c.T : c.cu[n],
              t1 = c.cu.empty() ? (n + 1) * c.T : c.cu[n + 1];
      for (int64_t t = t0; t < t1; ++t) {
        int64_t kh = hv / (c.HV / c.H), gi = t * c.HV + hv;
        std::vector<double> q = unit(&p.q.d[(t * c.H + kh) * c.Dk]),
                            k = unit(&p.k.d[(t * c.H + kh) * c.Dk]);
        double g = p.g.d[gi], beta = p.beta.d[gi];
        if (c.fused) {
          double x = p.a.d[gi] + p.dt_bias.d[hv];
          g = -std::exp(p.A_log.d[hv]) * (x > 20 ? x : std::log1p(std::exp(x)));
          beta = 1 / (1 + std::exp(-p.b.d[gi]));
        }
        for (int64_t i = 0; i < HVD; ++i) h[i] *= std::exp(g);
        for (int64_t j = 0; j < c.Dv; ++j) {
          double pred = 0;
          for (int64_t i = 0; i < c.Dk; ++i) pred += h[i * c.Dv + j] * k[i];
          double u = beta * (p.v.d[gi * c.Dv + j] - pred);
          for (int64_t i = 0; i < c.Dk; ++i) h[i * c.Dv + j] += k[i] * u;
        }
        for (int64_t j = 0; j < c.Dv; ++j) {
          double o = 0;
          for (int64_t i = 0; i < c.Dk; ++i) o += h[i * c.Dv + j] * scale * q[i];
          m.o[gi * c.Dv + j] = o;
        }
      }
    }
  return m;
}

struct Out {
  Tensor o, ht;
};

Out run_typed(const Problem& p, DType out = DType::F32) {
  const Case& c = p.c;
  Out r{Tensor(out, {c.B, c.T, c.HV, c.Dv}), Tensor(DType::F32, {p.N, c.HV, c.Dk, c.Dv})};
  deltanet(p.args(), r.o.view(), r.ht.view());
  return r;
}

Out run_named(const Problem& p) {
  ParamMap params{{"l2norm", p.c.l2norm ? "1" : "0"}};
  char buf[32];
  // %.9g round-trips every float, so the named call sees the same scale bits.
  if (p.c.scale) std::snprintf(buf, sizeof buf, "%.9g", *p.c.scale), params["scale"] = buf;
  TensorMap r = run_named_op("deltanet", p.named_inputs(), params);
  return {r.at("o"), r.at("ht")};
}


void check_against_model(const Case& c) {
  SCOPED_TRACE(testing::Message() << "B=" << c.B << " T=" << c.T << " H=" << c.H << " HV=" << c.HV
                                  << " Dk=" << c.Dk << " Dv=" << c.Dv << " l2norm=" << c.l2norm
                                  << " h0=" << c.h0 << " fused=" << c.fused
                                  << " dtype=" << dtype_name(c.dtype) << " seed=" << c.seed);
  Problem p = make_problem(c);
  Model m = model(p);
  Out t = run_typed(p);
  EXPECT_LT(test::rel_l2(t.o.as<float>(), m.o.data(), m.o.size()), 1e-5);
  EXPECT_LT(test::rel_l2(t.ht.as<float>(), m.ht.data(), m.ht.size()), 1e-5);
  Out n = run_named(p);
  EXPECT_TRUE(same_bytes(t.o, n.o));
  EXPECT_TRUE(same_bytes(t.ht, n.ht));
}

TEST(DeltaNet, MatchesModelAcrossGqaGroups) {
  for (int64_t group : {1, 2, 3})
    for (int64_t T : {1, 5, 33})
      check_against_model({.T = T, .H = 2, .HV = 2 * group, .seed = uint32_t(group * 10 + T)});
}

TEST(DeltaNet, MatchesModelWithL2normInitialStateAndScale) {
  check_against_model({.B = 2, .T = 12, .l2norm = true, .seed = 2});
  check_against_model({.B = 2, .T = 12, .H = 1, .HV = 3, .h0 = true, .seed = 3});
  check_against_model({.T = 9, .l2norm = true, .h0 = true, .scale = 0.37f, .seed = 4});
  check_against_model(
      {.T = 70, .H = 1, .HV = 2, .Dk = 24, .Dv = 40, .l2norm = true, .h0 = true, .seed = 5});
  check_against_model({.T = 20, .H = 3, .HV = 3, .Dk = 40, .Dv = 8, .scale = 1.5f, .seed = 6});
}

TEST(DeltaNet, MatchesModelWithGatesNearZeroAndVeryNegative) {
  // g near 0 keeps the whole history in the state; very negative g wipes it every token.
  check_against_model({.T = 70, .l2norm = true, .h0 = true, .g_lo = -0.02f, .g_hi = 0, .seed = 7});
  check_against_model({.T = 40, .HV = 4, .h0 = true, .g_lo = -1e-4f, .g_hi = 0, .seed = 8});
  check_against_model({.T = 16, .h0 = true, .g_lo = -80, .g_hi = -20, .seed = 9});
}

TEST(DeltaNet, MatchesModelWithHalfPrecisionInputs) {
  check_against_model({.T = 17, .HV = 4, .l2norm = true, .dtype = DType::BF16, .seed = 10});
  check_against_model(
      {.B = 2, .T = 6, .H = 1, .HV = 3, .h0 = true, .dtype = DType::F16, .seed = 11});
}

TEST(DeltaNet, MatchesModelWithFusedGating) {
  check_against_model({.T = 25, .HV = 4, .l2norm = true, .fused = true, .seed = 12});
  check_against_model({.B = 3,
                       .T = 4,
                       .H = 1,
                       .HV = 3,
                       .h0 = true,
                       .fused = true,
                       .dtype = DType::BF16,
                       .seed = 13});
}

TEST(DeltaNet, MatchesModelWithVarlen) {
  check_against_model(
      {.T = 30, .HV = 4, .l2norm = true, .h0 = true, .cu = {0, 7, 7, 19, 30}, .seed = 14});
}

TEST(DeltaNet, VarlenEqualsSeparateCallsExactly) {
  Case c{.T = 23, .H = 1, .HV = 2, .Dk = 8, .Dv = 12, .l2norm = true, .h0 = true};
  c.cu = {0, 5, 5, 16, 23};
  Problem whole = make_problem(c);
  Out all = run_typed(whole);
  for (int64_t n = 0; n + 1 < int64_t(c.cu.size()); ++n) {
    int64_t t0 = c.cu[n], len = c.cu[n + 1] - t0;
    Case one = c;
    one.T = len, one.cu = {};
    Problem p = make_problem(one);
    // The sequence's slices of the packed inputs: token-major rows, state n.
    auto slice = [&](Input& dst, const Input& src, int64_t row_bytes, int64_t first) {
      copy_bytes(dst.t.data(), src.t.data() + first * row_bytes, dst.t.nbytes());
    };
    slice(p.q, whole.q, c.H * c.Dk * 4, t0), slice(p.k, whole.k, c.H * c.Dk * 4, t0);
    slice(p.v, whole.v, c.HV * c.Dv * 4, t0), slice(p.g, whole.g, c.HV * 4, t0);
    slice(p.beta, whole.beta, c.HV * 4, t0), slice(p.h0, whole.h0, c.HV * c.Dk * c.Dv * 4, n);
    Out r = run_typed(p);
    EXPECT_TRUE(equal_bytes(r.o.data(), all.o.data() + t0 * c.HV * c.Dv * 4, r.o.nbytes()))
        << "sequence " << n;
    EXPECT_TRUE(equal_bytes(r.ht.data(), all.ht.data() + r.ht.nbytes() * n, r.ht.nbytes()))
        << "sequence " << n;
  }
}

TEST(DeltaNet, TokenByTokenEqualsOneCallExactly) {
  // Chaining ht into h0 runs the same fp32 operations in the same order as one call, so the
  // bytes agree exactly (no tolerance needed).
  Case c{.T = 11, .H = 1, .HV = 3, .Dk = 8, .Dv = 6, .l2norm = true, .h0 = true, .fused = true};
  Problem whole = make_problem(c);
  Out all = run_typed(whole);
  Case one = c;
  one.T = 1;
  Problem p = make_problem(one);
  copy_bytes(p.h0.t.data(), whole.h0.t.data(), p.h0.t.nbytes());
  Tensor o(DType::F32, {1, 1, c.HV, c.Dv});
  for (int64_t t = 0; t < c.T; ++t) {
    for (auto [dst, src, row] : {std::tuple{&p.q, &whole.q, c.H * c.Dk},
                                 {&p.k, &whole.k, c.H * c.Dk},
                                 {&p.v, &whole.v, c.HV * c.Dv},
                                 {&p.a, &whole.a, c.HV},
                                 {&p.b, &whole.b, c.HV}})
      copy_bytes(dst->t.data(), src->t.data() + t * row * 4, row * 4);
    // ht over h0: the in-place state update an engine does between decode steps.
    deltanet(p.args(), o.view(), p.h0.t.view());
    EXPECT_TRUE(equal_bytes(o.data(), all.o.data() + t * c.HV * c.Dv * 4, o.nbytes())) << t;
  }
  EXPECT_TRUE(equal_bytes(p.h0.t.data(), all.ht.data(), all.ht.nbytes()));
}

TEST(DeltaNet, HalfOutputsAreTheRoundedF32OutputAndRunsAreDeterministic) {
  Problem p = make_problem({.B = 2, .T = 9, .HV = 4, .l2norm = true, .h0 = true, .seed = 17});
  Out f = run_typed(p), again = run_typed(p);
  EXPECT_TRUE(same_bytes(f.o, again.o));
  EXPECT_TRUE(same_bytes(f.ht, again.ht));
  Out bf = run_typed(p, DType::BF16), hf = run_typed(p, DType::F16);
  for (int64_t i = 0; i < f.o.numel(); ++i) {
    ASSERT_EQ(bf.o.as<uint16_t>()[i], ref::f32_to_bf16(f.o.as<float>()[i])) << i;
    ASSERT_EQ(hf.o.as<uint16_t>()[i], ref::f32_to_f16(f.o.as<float>()[i])) << i;
  }
  EXPECT_TRUE(same_bytes(f.ht, bf.ht));
}

// Fills the outputs with a sentinel, expects `code`, and checks that nothing was written.
template <class F>
void expect_refused(ErrorCode code, F&& f, std::initializer_list<Tensor*> outs, const char* what) {
  SCOPED_TRACE(what);
  for (Tensor* t : outs) std::memset(t->data(), 0xA5, t->nbytes());
  try {
    f();
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    // Unsupported stands for "refused by the registry", which may say InvalidArgument too.
    if (code != ErrorCode::Unsupported || e.code() != ErrorCode::InvalidArgument) {
      EXPECT_EQ(e.code(), code) << e.what();
    }
    EXPECT_NE(std::string(e.what()).find("deltanet"), std::string::npos) << e.what();
  }
  for (Tensor* t : outs)
    for (size_t i = 0; i < t->nbytes(); ++i)
      ASSERT_EQ(uint8_t(t->data()[i]), 0xA5) << "output written at byte " << i;
}

TEST(DeltaNet, RefusesBadInputsWithoutWriting) {
  Problem p = make_problem({.B = 1, .T = 6, .H = 2, .HV = 4, .Dk = 8, .Dv = 4, .h0 = true});
  Tensor o(DType::F32, {1, 6, 4, 4}), ht(DType::F32, {1, 4, 8, 4});
  auto refuse = [&](ErrorCode code, const char* what, auto&& mutate) {
    DeltaNetArgs a = p.args();
    TensorView ov = o.view(), hv = ht.view();
    mutate(a, ov, hv);
    expect_refused(
        code, [&] { deltanet(a, ov, hv); }, {&o, &ht}, what);
  };
  using A = DeltaNetArgs;
  using V = TensorView;
  const Tensor bf16_g(DType::BF16, {1, 6, 4}), i32_q(DType::I32, {1, 6, 2, 8}),
      v3(DType::F32, {1, 6, 3, 4});
  const Tensor cu_f32(DType::F32, {2}), head(DType::F32, {3});
  refuse(ErrorCode::ShapeMismatch, "q rank 3", [](A& a, V&, V&) { a.q.shape = {6, 2, 8}; });
  refuse(ErrorCode::ShapeMismatch, "k mismatch", [](A& a, V&, V&) { a.k.shape = {1, 6, 2, 4}; });
  refuse(ErrorCode::ShapeMismatch, "v T mismatch", [](A& a, V&, V&) { a.v.shape = {1, 5, 4, 4}; });
  refuse(ErrorCode::ShapeMismatch, "HV % H", [&](A& a, V&, V&) { a.v = v3.view(); });
  refuse(ErrorCode::ShapeMismatch, "Dk == 0",
         [](A& a, V&, V&) { a.q.shape[3] = 0, a.k.shape[3] = 0; });
  refuse(ErrorCode::DTypeMismatch, "q I32", [&](A& a, V&, V&) { a.q = i32_q.view(); });
  refuse(ErrorCode::DTypeMismatch, "g BF16", [&](A& a, V&, V&) { a.g = bf16_g.view(); });
  refuse(ErrorCode::MissingTensor, "missing beta", [](A& a, V&, V&) { a.beta.reset(); });
  refuse(ErrorCode::MissingTensor, "no gating", [](A& a, V&, V&) { a.beta.reset(), a.g.reset(); });
  refuse(ErrorCode::InvalidArgument, "both gatings", [&](A& a, V&, V&) { a.a = p.a.t.view(); });
  refuse(ErrorCode::MissingTensor, "fused without dt_bias", [&](A& a, V&, V&) {
    a.g.reset(), a.beta.reset(), a.a = p.a.t.view(), a.b = p.b.t.view(), a.A_log = p.A_log.t.view();
  });
  refuse(ErrorCode::ShapeMismatch, "A_log shape", [&](A& a, V&, V&) {
    a.g.reset(), a.beta.reset(), a.a = p.a.t.view(), a.b = p.b.t.view(), a.A_log = head.view();
    a.dt_bias = p.dt_bias.t.view();
  });
  refuse(ErrorCode::ShapeMismatch, "h0 shape", [](A& a, V&, V&) { a.h0->shape = {1, 4, 4, 8}; });
  refuse(ErrorCode::NullBuffer, "null q", [](A& a, V&, V&) { a.q.data = nullptr; });
  refuse(ErrorCode::ShortBuffer, "short v", [](A& a, V&, V&) { a.v.bytes -= 1; });
  refuse(ErrorCode::ShortBuffer, "short o", [](A&, V& o, V&) { o.bytes -= 4; });
  refuse(ErrorCode::DTypeMismatch, "o U8", [](A&, V& o, V&) { o.dtype = DType::U8; });
  refuse(ErrorCode::DTypeMismatch, "ht BF16", [](A&, V&, V& h) { h.dtype = DType::BF16; });
  refuse(ErrorCode::ShapeMismatch, "ht shape", [](A&, V&, V& h) { h.shape = {4, 8, 4}; });
  refuse(ErrorCode::InvalidArgument, "NaN scale", [](A& a, V&, V&) { a.scale = NAN; });
  refuse(ErrorCode::DTypeMismatch, "cu F32", [&](A& a, V&, V&) { a.cu_seqlens = cu_f32.view(); });
  for (std::vector<int64_t> cu : {std::vector<int64_t>{1, 6}, {0, 4, 3, 6}, {0, 5}}) {
    Tensor t = test::make_tensor(DType::I64, {int64_t(cu.size())}, cu.data());
    refuse(ErrorCode::InvalidArgument, "bad cu_seqlens",
           [&](A& a, V&, V&) { a.cu_seqlens = t.view(); });
  }
  // The message names the operation, the argument and the rule.
  DeltaNetArgs bad = p.args();
  bad.v = v3.view();
  try {
    deltanet(bad, o.view(), ht.view());
    ADD_FAILURE() << "accepted HV = 3 with H = 2";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "deltanet: v has shape [1, 6, 3, 4], expected HV a multiple of H = 2");
  }
}

TEST(DeltaNet, RefusesVarlenWithBatchAndUnknownVariant) {
  Problem p = make_problem({.B = 2, .T = 3});
  Out r = run_typed(p);
  std::vector<int64_t> cu{0, 3};
  Tensor t = test::make_tensor(DType::I64, {2}, cu.data());
  DeltaNetArgs a = p.args();
  a.cu_seqlens = t.view();
  expect_refused(
      ErrorCode::InvalidArgument, [&] { deltanet(a, r.o.view(), r.ht.view()); }, {&r.o, &r.ht},
      "B = 2");
  // A variant no backend has: the registry refuses it before the operation looks at anything.
  RunOptions bogus;
  bogus.variant = "no_such_variant";
  expect_refused(
      ErrorCode::Unsupported, [&] { deltanet(p.args(), r.o.view(), r.ht.view(), bogus); },
      {&r.o, &r.ht}, "unknown variant");
}

// The code run_named_op refuses a call with; Io (which deltanet never uses) when it accepts it.
ErrorCode named_error(const TensorMap& in, const ParamMap& params) {
  try {
    run_named_op("deltanet", in, params);
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::Io;
}

TEST(DeltaNet, NamedCallRefusesUnknownParamsAndMissingTensors) {
  Problem p = make_problem({.T = 3});
  TensorMap in = p.named_inputs();
  EXPECT_EQ(named_error(in, {{"chunk", "64"}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(named_error(in, {{"l2norm", "2"}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(named_error(in, {{"scale", "inf"}}), ErrorCode::InvalidArgument);
  TensorMap no_k = in, no_beta = in, no_gate = in;
  no_k.erase("k"), no_beta.erase("beta"), no_gate.erase("g"), no_gate.erase("beta");
  EXPECT_EQ(named_error(no_k, {}), ErrorCode::MissingTensor);
  EXPECT_EQ(named_error(no_beta, {}), ErrorCode::MissingTensor);
  EXPECT_EQ(named_error(no_gate, {}), ErrorCode::MissingTensor);
  TensorMap out = run_named_op("deltanet", in, {{"out", "bf16"}});
  EXPECT_EQ(out.at("o").dtype(), DType::BF16);
  EXPECT_EQ(out.at("ht").dtype(), DType::F32);
}

} // namespace
