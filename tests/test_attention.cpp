// Gated attention (numerics.md section 6): the reference through tessera::attention and
// run_named_op against a double-precision model, decode / chunked prefill / varlen equivalence,
// and the refusal of every bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "reference/formats.h" // only to build bf16/f16/e4m3 inputs
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

// A variant no backend has: the registry refuses it before the operation looks at anything.
RunOptions missing_variant() {
  RunOptions o;
  o.variant = "no_such_variant";
  return o;
}

// A tensor in the dtype under test and the values the operation reads from it, in double. E4M3
// holds v / scale, so that its values come back near v.
struct Input {
  Tensor t;
  std::vector<double> d;
};

Input make_input(DType dt, Shape s, const std::vector<float>& v, float scale = 1.0f) {
  Input in{Tensor(dt, std::move(s)), std::vector<double>(v.size())};
  for (size_t i = 0; i < v.size(); ++i) {
    switch (dt) {
    case DType::BF16:
      in.d[i] = ref::bf16_to_f32(in.t.as<uint16_t>()[i] = ref::f32_to_bf16(v[i]));
      break;
    case DType::F16:
      in.d[i] = ref::f16_to_f32(in.t.as<uint16_t>()[i] = ref::f32_to_f16(v[i]));
      break;
    case DType::F8_E4M3:
      in.d[i] =
          double(ref::e4m3_to_f32(in.t.as<uint8_t>()[i] = ref::f32_to_e4m3(v[i] / scale))) * scale;
      break;
    default: in.d[i] = in.t.as<float>()[i] = v[i];
    }
  }
  return in;
}

struct Case {
  int64_t B = 1, T = 8, S = 8, Hq = 2, Hkv = 1, D = 16;
  bool causal = true, gate = false, lse = true;
  std::optional<float> scale{};
  DType dtype = DType::F32, kv = DType::F32; // q and gate; k and v
  float k_scale = 1.0f, v_scale = 1.0f;      // used when kv is E4M3
  std::vector<int64_t> cu_q{}, cu_k{};       // varlen when not empty (B == 1)
  uint32_t seed = 1;
};

struct Problem {
  Case c{};
  Input q{}, k{}, v{}, gate{};
  Tensor cu_q{}, cu_k{};

  AttentionArgs args() const {
    AttentionArgs a;
    a.q = q.t.view(), a.k = k.t.view(), a.v = v.t.view();
    if (c.gate) a.gate = gate.t.view();
    if (c.kv == DType::F8_E4M3) a.k_scale = c.k_scale, a.v_scale = c.v_scale;
    if (!c.cu_q.empty()) a.cu_seqlens_q = cu_q.view(), a.cu_seqlens_k = cu_k.view();
    a.causal = c.causal;
    a.scale = c.scale;
    return a;
  }
  TensorMap named_inputs() const {
    TensorMap m{{"q", q.t}, {"k", k.t}, {"v", v.t}};
    if (c.gate) m["gate"] = gate.t;
    if (c.kv == DType::F8_E4M3)
      m["k_scale"] = test::f32_tensor({}, {c.k_scale}),
      m["v_scale"] = test::f32_tensor({1}, {c.v_scale});
    if (!c.cu_q.empty()) m["cu_seqlens_q"] = cu_q, m["cu_seqlens_k"] = cu_k;
    return m;
  }
};

Problem make_problem(const Case& c) {
  Problem p{c};
  const size_t nq = c.B * c.T * c.Hq * c.D, nk = c.B * c.S * c.Hkv * c.D;
  const uint32_t s = c.seed * 10;
  p.q = make_input(c.dtype, {c.B, c.T, c.Hq, c.D}, random_floats(nq, -2, 2, s + 1));
  p.k = make_input(c.kv, {c.B, c.S, c.Hkv, c.D}, random_floats(nk, -2, 2, s + 2), c.k_scale);
  p.v = make_input(c.kv, {c.B, c.S, c.Hkv, c.D}, random_floats(nk, -1, 1, s + 3), c.v_scale);
  p.gate = make_input(c.dtype, {c.B, c.T, c.Hq, c.D}, random_floats(nq, -4, 4, s + 4));
  p.cu_q = test::make_tensor(DType::I32, {int64_t(c.cu_q.size())});
  p.cu_k = test::make_tensor(DType::I64, {int64_t(c.cu_k.size())}, c.cu_k.data());
  for (size_t i = 0; i < c.cu_q.size(); ++i) p.cu_q.as<int32_t>()[i] = int32_t(c.cu_q[i]);
  return p;
}

struct Model {
  std::vector<double> o, lse;
};

// Softmax attention straight from the spec, in double.
Model model(const Problem& p) {
  const Case& c = p.c;
  Model m{std::vector<double>(c.B * c.T * c.Hq * c.D), std::vector<double>(c.B * c.T * c.Hq)};
  const double scale = c.scale ? *c.scale : 1.0 / std::sqrt(double(c.D));
  const bool varlen = !c.cu_q.empty();
  for (int64_t n = 0; n < (varlen ? int64_t(c.cu_q.size()) - 1 : c.B); ++n) {
    int64_t q0 = varlen ? c.cu_q[n] : n * c.T, Tn = varlen ? c.cu_q[n + 1] - q0 : c.T;
    int64_t k0 = varlen ? c.cu_k[n] : n * c.S, Sn = varlen ? c.cu_k[n + 1] - k0 : c.S;
    for (int64_t t = 0; t < Tn; ++t)
      for (int64_t h = 0; h < c.Hq; ++h) {
        const int64_t row = (q0 + t) * c.Hq + h, kvh = h / (c.Hq / c.Hkv);
        const int64_t visible = c.causal ? t + (Sn - Tn) + 1 : Sn;
        std::vector<double> s(visible);
        for (int64_t j = 0; j < visible; ++j) {
          for (int64_t d = 0; d < c.D; ++d)
            s[j] += p.q.d[row * c.D + d] * p.k.d[((k0 + j) * c.Hkv + kvh) * c.D + d];
          s[j] *= scale;
        }
        double mx = *std::max_element(s.begin(), s.end()), l = 0;
        for (double& e : s) l += (e = std::exp(e - mx));
        for (int64_t d = 0; d < c.D; ++d) {
          double o = 0;
          for (int64_t j = 0; j < visible; ++j)
            o += s[j] * p.v.d[((k0 + j) * c.Hkv + kvh) * c.D + d];
          o /= l;
          if (c.gate) o /= 1 + std::exp(-p.gate.d[row * c.D + d]);
          m.o[row * c.D + d] = o;
        }
        m.lse[row] = mx + std::log(l);
      }
  }
  return m;
}

struct Out {
  Tensor o, lse;
};

Out run_typed(const Problem& p, DType out = DType::F32) {
  const Case& c = p.c;
  Out r{Tensor(out, {c.B, c.T, c.Hq, c.D}), Tensor(DType::F32, {c.B, c.T, c.Hq})};
  attention(p.args(), r.o.view(), c.lse ? std::optional(r.lse.view()) : std::nullopt);
  return r;
}


void check_against_model(const Case& c) {
  SCOPED_TRACE(testing::Message() << "B=" << c.B << " T=" << c.T << " S=" << c.S << " Hq=" << c.Hq
                                  << " Hkv=" << c.Hkv << " D=" << c.D << " causal=" << c.causal
                                  << " gate=" << c.gate << " q " << dtype_name(c.dtype) << " kv "
                                  << dtype_name(c.kv) << " seed=" << c.seed);
  Problem p = make_problem(c);
  Model m = model(p);
  Out r = run_typed(p);
  EXPECT_LT(test::rel_l2(r.o.as<float>(), m.o.data(), m.o.size()), 1e-5);
  if (c.lse) {
    EXPECT_LT(test::rel_l2(r.lse.as<float>(), m.lse.data(), m.lse.size()), 1e-5);
  }
  ParamMap params{{"causal", c.causal ? "1" : "0"}, {"lse", c.lse ? "1" : "0"}};
  char buf[32];
  if (c.scale)
    std::snprintf(buf, sizeof buf, "%.9g", *c.scale), params["scale"] = buf; // round-trips
  TensorMap named = run_named_op("attention", p.named_inputs(), params);
  EXPECT_TRUE(same_bytes(named.at("o"), r.o));
  EXPECT_EQ(named.count("lse"), c.lse ? 1u : 0u);
  if (c.lse) {
    EXPECT_TRUE(same_bytes(named.at("lse"), r.lse));
  }
}

TEST(Attention, MatchesModelAcrossGqaGroups) {
  for (int64_t g : {1, 2, 3, 4, 8})
    check_against_model({.T = 9, .S = 9, .Hq = 8 / g * g, .Hkv = 8 / g, .seed = uint32_t(g)});
  check_against_model({.B = 2, .T = 5, .S = 12, .Hq = 6, .Hkv = 2, .gate = true, .seed = 10});
}

TEST(Attention, MatchesModelForDecodeChunksAndNonCausal) {
  check_against_model(
      {.B = 2, .T = 1, .S = 37, .Hq = 4, .Hkv = 1, .D = 32, .gate = true, .seed = 11});
  check_against_model({.T = 70, .S = 70, .Hq = 2, .Hkv = 2, .D = 8, .seed = 12});
  check_against_model({.T = 6, .S = 3, .causal = false, .gate = true, .scale = 0.3f, .seed = 13});
  check_against_model({.B = 2, .T = 4, .S = 9, .causal = false, .lse = false, .seed = 14});
  check_against_model({.T = 3, .S = 5, .Hq = 4, .Hkv = 2, .D = 256, .gate = true, .seed = 15});
  check_against_model({.T = 2, .S = 4, .Hq = 2, .Hkv = 1, .D = 200, .scale = 0.05f, .seed = 16});
}

TEST(Attention, MatchesModelWithHalfPrecisionAndE4m3Inputs) {
  check_against_model(
      {.T = 7, .S = 11, .gate = true, .dtype = DType::BF16, .kv = DType::BF16, .seed = 17});
  check_against_model(
      {.B = 2, .T = 4, .S = 4, .Hq = 3, .dtype = DType::F16, .kv = DType::F16, .seed = 18});
  Case e4m3{.T = 5, .S = 13, .Hq = 4, .Hkv = 2, .D = 64, .gate = true, .dtype = DType::BF16};
  e4m3.kv = DType::F8_E4M3, e4m3.k_scale = 0.01f, e4m3.v_scale = 0.004f, e4m3.seed = 19;
  check_against_model(e4m3);
  check_against_model(
      {.B = 2, .T = 1, .S = 20, .causal = false, .kv = DType::F8_E4M3, .k_scale = 3, .seed = 20});
}

TEST(Attention, MatchesModelWithVarlen) {
  // An empty query run (sequence 1) and a decode-like tail (sequence 3).
  Case packed{.T = 10, .S = 19, .Hq = 4, .Hkv = 2, .gate = true, .seed = 21};
  packed.cu_q = {0, 3, 3, 9, 10}, packed.cu_k = {0, 5, 9, 15, 19};
  check_against_model(packed);
  check_against_model(
      {.T = 8, .S = 6, .causal = false, .cu_q = {0, 5, 8}, .cu_k = {0, 2, 6}, .seed = 22});
}

TEST(Attention, DecodeAndChunkedPrefillEqualFullPrefillExactly) {
  // Query t sees keys 0..t in all three and the same fp32 operations run in the same order.
  const Case full{.T = 12, .S = 12, .Hq = 4, .Hkv = 2, .gate = true, .seed = 23};
  Problem p = make_problem(full);
  Out all = run_typed(p);
  const int64_t row = full.Hq * full.D; // floats of one token's o
  for (auto [t0, t1] : {std::pair<int64_t, int64_t>{11, 12}, {0, 5}, {5, 9}, {9, 12}}) {
    Case chunk = full;
    chunk.T = t1 - t0, chunk.S = t1;
    Problem c = make_problem(chunk);
    copy_bytes(c.q.t.data(), p.q.t.data() + t0 * row * 4, c.q.t.nbytes());
    copy_bytes(c.gate.t.data(), p.gate.t.data() + t0 * row * 4, c.gate.t.nbytes());
    copy_bytes(c.k.t.data(), p.k.t.data(), c.k.t.nbytes());
    copy_bytes(c.v.t.data(), p.v.t.data(), c.v.t.nbytes());
    Out r = run_typed(c);
    EXPECT_TRUE(equal_bytes(r.o.data(), all.o.data() + t0 * row * 4, r.o.nbytes()))
        << t0 << ".." << t1;
    EXPECT_TRUE(equal_bytes(r.lse.data(), all.lse.data() + t0 * full.Hq * 4, r.lse.nbytes()))
        << t0 << ".." << t1;
  }
}

TEST(Attention, VarlenEqualsSeparateCallsExactly) {
  const Case c{.T = 9,
               .S = 14,
               .Hq = 2,
               .Hkv = 1,
               .gate = true,
               .cu_q = {0, 4, 4, 9},
               .cu_k = {0, 6, 8, 14},
               .seed = 24};
  Problem whole = make_problem(c);
  Out all = run_typed(whole);
  const int64_t qrow = c.Hq * c.D * 4, krow = c.Hkv * c.D * 4;
  for (size_t n = 0; n + 1 < c.cu_q.size(); ++n) {
    int64_t q0 = c.cu_q[n], k0 = c.cu_k[n];
    Problem p = make_problem(
        {.T = c.cu_q[n + 1] - q0, .S = c.cu_k[n + 1] - k0, .Hq = c.Hq, .Hkv = c.Hkv, .gate = true});
    copy_bytes(p.q.t.data(), whole.q.t.data() + q0 * qrow, p.q.t.nbytes());
    copy_bytes(p.gate.t.data(), whole.gate.t.data() + q0 * qrow, p.gate.t.nbytes());
    copy_bytes(p.k.t.data(), whole.k.t.data() + k0 * krow, p.k.t.nbytes());
    copy_bytes(p.v.t.data(), whole.v.t.data() + k0 * krow, p.v.t.nbytes());
    Out r = run_typed(p);
    EXPECT_TRUE(equal_bytes(r.o.data(), all.o.data() + q0 * qrow, r.o.nbytes()))
        << "sequence " << n;
    EXPECT_TRUE(equal_bytes(r.lse.data(), all.lse.data() + q0 * c.Hq * 4, r.lse.nbytes()))
        << "sequence " << n;
  }
}

TEST(Attention, HalfOutputsAreTheRoundedF32OutputAndRunsAreDeterministic) {
  Problem p = make_problem({.B = 2,
                            .T = 6,
                            .S = 10,
                            .Hq = 4,
                            .Hkv = 2,
                            .gate = true,
                            .kv = DType::F8_E4M3,
                            .k_scale = 0.02f,
                            .v_scale = 0.01f,
                            .seed = 25});
  Out f = run_typed(p), again = run_typed(p), bf = run_typed(p, DType::BF16),
      hf = run_typed(p, DType::F16);
  EXPECT_TRUE(same_bytes(f.o, again.o));
  EXPECT_TRUE(same_bytes(f.lse, again.lse));
  for (int64_t i = 0; i < f.o.numel(); ++i) {
    ASSERT_EQ(bf.o.as<uint16_t>()[i], ref::f32_to_bf16(f.o.as<float>()[i])) << i;
    ASSERT_EQ(hf.o.as<uint16_t>()[i], ref::f32_to_f16(f.o.as<float>()[i])) << i;
  }
}

// The code a call is refused with; Io (which attention never uses) when it is accepted.
template <class F> ErrorCode error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::Io;
}

TEST(Attention, RefusesBadInputsWithoutWriting) {
  Problem p =
      make_problem({.B = 1, .T = 4, .S = 6, .Hq = 4, .Hkv = 2, .D = 8, .gate = true, .seed = 26});
  Tensor o(DType::F32, {1, 4, 4, 8}), lse(DType::F32, {1, 4, 4});
  using A = AttentionArgs;
  using V = TensorView;
  auto refuse = [&](ErrorCode code, const char* what, auto&& mutate, RunOptions opt = {}) {
    SCOPED_TRACE(what);
    A a = p.args();
    V ov = o.view(), lv = lse.view();
    mutate(a, ov, lv);
    std::memset(o.data(), 0xA5, o.nbytes());
    std::memset(lse.data(), 0xA5, lse.nbytes());
    try {
      attention(a, ov, lv, opt);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      // Unsupported stands for "refused by the registry", which may say InvalidArgument too.
      if (code != ErrorCode::Unsupported || e.code() != ErrorCode::InvalidArgument) {
        EXPECT_EQ(e.code(), code) << e.what();
      }
      EXPECT_NE(std::string(e.what()).find("attention"), std::string::npos) << e.what();
    }
    for (const Tensor* t : {&o, &lse})
      for (size_t i = 0; i < t->nbytes(); ++i)
        ASSERT_EQ(uint8_t(t->data()[i]), 0xA5) << "output written at " << i;
  };
  const Tensor kv3(DType::F32, {1, 6, 3, 8}), k_u8(DType::U8, {1, 6, 2, 8}),
      q_e4m3(DType::F8_E4M3, {1, 4, 4, 8});
  auto cu = [](std::vector<int64_t> v) {
    return test::make_tensor(DType::I64, {int64_t(v.size())}, v.data());
  };
  const Tensor cu_q = cu({0, 4}), cu_k = cu({0, 6}), cu_q_short = cu({0, 3}), cu_k3 = cu({0, 3, 6});
  const Tensor cu_k_few = cu({0, 3}), cu_q_bad = cu({0, 5, 4}), cu_k_bad = cu({0, 6, 6});
  refuse(ErrorCode::ShapeMismatch, "q rank 3", [](A& a, V&, V&) { a.q.shape = {4, 4, 8}; });
  refuse(ErrorCode::ShapeMismatch, "D == 0", [](A& a, V&, V&) { a.q.shape[3] = 0; });
  refuse(ErrorCode::ShapeMismatch, "k D mismatch", [](A& a, V&, V&) { a.k.shape = {1, 12, 2, 4}; });
  refuse(ErrorCode::ShapeMismatch, "Hq % Hkv",
         [&](A& a, V&, V&) { a.k = kv3.view(), a.v = kv3.view(); });
  refuse(ErrorCode::ShapeMismatch, "v != k", [](A& a, V&, V&) { a.v.shape = {1, 5, 2, 8}; });
  refuse(ErrorCode::ShapeMismatch, "gate shape", [](A& a, V&, V&) {
    a.gate->shape = {1, 4, 8, 4};
  });
  refuse(ErrorCode::DTypeMismatch, "k U8", [&](A& a, V&, V&) { a.k = k_u8.view(); });
  refuse(ErrorCode::DTypeMismatch, "q E4M3", [&](A& a, V&, V&) { a.q = q_e4m3.view(); });
  refuse(ErrorCode::DTypeMismatch, "lse BF16", [](A&, V&, V& l) { l.dtype = DType::BF16; });
  refuse(ErrorCode::ShapeMismatch, "lse shape", [](A&, V&, V& l) { l.shape = {1, 4, 2, 2}; });
  refuse(ErrorCode::DTypeMismatch, "o E5M2", [](A&, V& o, V&) { o.dtype = DType::F8_E5M2; });
  refuse(ErrorCode::InvalidArgument, "causal S < T",
         [](A& a, V&, V&) { a.k.shape[1] = a.v.shape[1] = 3; });
  refuse(ErrorCode::InvalidArgument, "no keys",
         [](A& a, V&, V&) { a.causal = false, a.k.shape[1] = a.v.shape[1] = 0; });
  refuse(ErrorCode::InvalidArgument, "k_scale on F32 k", [](A& a, V&, V&) { a.k_scale = 0.5f; });
  refuse(ErrorCode::InvalidArgument, "NaN scale", [](A& a, V&, V&) { a.scale = NAN; });
  refuse(ErrorCode::InvalidArgument, "cu_q alone",
         [&](A& a, V&, V&) { a.cu_seqlens_q = cu_q.view(); });
  refuse(ErrorCode::InvalidArgument, "cu_q short",
         [&](A& a, V&, V&) { a.cu_seqlens_q = cu_q_short.view(), a.cu_seqlens_k = cu_k.view(); });
  refuse(ErrorCode::InvalidArgument, "cu_q decreasing",
         [&](A& a, V&, V&) { a.cu_seqlens_q = cu_q_bad.view(), a.cu_seqlens_k = cu_k_bad.view(); });
  refuse(ErrorCode::ShapeMismatch, "cu sizes",
         [&](A& a, V&, V&) { a.cu_seqlens_q = cu_q.view(), a.cu_seqlens_k = cu_k3.view(); });
  refuse(ErrorCode::InvalidArgument, "cu_k ends early",
         [&](A& a, V&, V&) { a.cu_seqlens_q = cu_q.view(), a.cu_seqlens_k = cu_k_few.view(); });
  refuse(ErrorCode::NullBuffer, "null v", [](A& a, V&, V&) { a.v.data = nullptr; });
  refuse(ErrorCode::ShortBuffer, "short gate", [](A& a, V&, V&) { a.gate->bytes -= 2; });
  refuse(ErrorCode::ShortBuffer, "short lse", [](A&, V&, V& l) { l.bytes = 0; });
  refuse(
      ErrorCode::Unsupported, "unknown variant", [](A&, V&, V&) {}, missing_variant());

  // Per-sequence causality, E4M3 scales and batching, on problems of their own.
  Problem two = make_problem({.B = 2, .T = 2, .S = 2, .Hq = 4, .Hkv = 2, .D = 8});
  const Tensor cu2 = cu({0, 2});
  A batched = two.args();
  batched.cu_seqlens_q = batched.cu_seqlens_k = cu2.view();
  Out out2 = run_typed(two);
  EXPECT_EQ(error_of([&] { attention(batched, out2.o.view()); }), ErrorCode::InvalidArgument);
  Problem seq = make_problem({.T = 6, .S = 6, .cu_q = {0, 4, 6}, .cu_k = {0, 3, 6}});
  Out out3 = run_typed(make_problem({.T = 6, .S = 6}));
  EXPECT_EQ(error_of([&] { attention(seq.args(), out3.o.view()); }), ErrorCode::InvalidArgument);
  Problem f8 = make_problem({.T = 2, .S = 2, .kv = DType::F8_E4M3});
  A inf_scale = f8.args();
  inf_scale.v_scale = INFINITY;
  EXPECT_EQ(error_of([&] { attention(inf_scale, out3.o.view()); }), ErrorCode::InvalidArgument);
}

TEST(Attention, NamedCallRefusesUnknownParamsAndMissingTensors) {
  Problem p = make_problem({.T = 3, .S = 3});
  TensorMap in = p.named_inputs();
  auto named = [](const TensorMap& in, const ParamMap& params) {
    return error_of([&] { run_named_op("attention", in, params); });
  };
  EXPECT_EQ(named(in, {{"window", "128"}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(named(in, {{"causal", "yes"}}), ErrorCode::InvalidArgument);
  TensorMap no_v = in, bad_scale = in;
  no_v.erase("v");
  bad_scale["k_scale"] = test::make_tensor(DType::F16, {});
  EXPECT_EQ(named(no_v, {}), ErrorCode::MissingTensor);
  EXPECT_EQ(named(bad_scale, {}), ErrorCode::DTypeMismatch);
  TensorMap out = run_named_op("attention", in, {{"out", "bf16"}});
  EXPECT_EQ(out.at("o").dtype(), DType::BF16);
  EXPECT_EQ(out.count("lse"), 0u); // lse defaults to 0
}

} // namespace
