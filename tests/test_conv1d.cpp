// Causal depthwise conv1d + SiLU (numerics.md section 5): the reference through tessera::conv1d
// and run_named_op against a double-precision model, decode/prefill equivalence, state aliasing
// and the refusal of every bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

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

// A variant no backend has: the registry refuses it before the operation looks at anything.
RunOptions missing_variant() {
  RunOptions o;
  o.variant = "no_such_variant";
  return o;
}

struct Case {
  int64_t B = 1, T = 8, C = 16, W = 4;
  bool bias = true, state = true;
  DType dtype = DType::F32; // of x
  uint32_t seed = 1;
};

struct Problem {
  Case c{};
  Tensor x{}, w{}, bias{}, state{};
  std::vector<double> xd{}; // x as the operation reads it (widened)

  std::optional<TensorView> bias_view() const {
    return c.bias ? std::optional(bias.view()) : std::nullopt;
  }
  std::optional<TensorView> state_view() const {
    return c.state ? std::optional(state.view()) : std::nullopt;
  }
};

Problem make_problem(const Case& c) {
  Problem p{c, Tensor(c.dtype, {c.B, c.T, c.C})};
  std::vector<float> x = random_floats(c.B * c.T * c.C, -2, 2, c.seed * 10 + 1);
  p.xd.resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    if (c.dtype == DType::F32) p.x.as<float>()[i] = x[i], p.xd[i] = x[i];
    if (c.dtype == DType::BF16)
      p.x.as<uint16_t>()[i] = ref::f32_to_bf16(x[i]),
      p.xd[i] = ref::bf16_to_f32(ref::f32_to_bf16(x[i]));
    if (c.dtype == DType::F16)
      p.x.as<uint16_t>()[i] = ref::f32_to_f16(x[i]),
      p.xd[i] = ref::f16_to_f32(ref::f32_to_f16(x[i]));
  }
  p.w = test::f32_tensor({c.C, c.W}, random_floats(c.C * c.W, -0.6f, 0.6f, c.seed * 10 + 2));
  p.bias = test::f32_tensor({c.C}, random_floats(c.C, -0.5f, 0.5f, c.seed * 10 + 3));
  p.state = test::f32_tensor({c.B, c.C, c.W - 1},
                             random_floats(c.B * c.C * (c.W - 1), -2, 2, c.seed * 10 + 4));
  return p;
}

struct Model {
  std::vector<double> y, state;
};

// The definition, in double: the inputs before x come from the state (zeros without one).
Model model(const Problem& p) {
  const Case& c = p.c;
  const int64_t K = c.W - 1;
  Model m{std::vector<double>(c.B * c.T * c.C), std::vector<double>(c.B * c.C * K)};
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t ch = 0; ch < c.C; ++ch) {
      auto input = [&](int64_t t) { // t may be negative, down to -K
        if (t >= 0) return p.xd[(b * c.T + t) * c.C + ch];
        return c.state ? double(p.state.as<float>()[(b * c.C + ch) * K + (K + t)]) : 0.0;
      };
      for (int64_t t = 0; t < c.T; ++t) {
        double z = c.bias ? p.bias.as<float>()[ch] : 0.0;
        for (int64_t j = 0; j < c.W; ++j)
          z += double(p.w.as<float>()[ch * c.W + j]) * input(t - c.W + 1 + j);
        m.y[(b * c.T + t) * c.C + ch] = z / (1 + std::exp(-z));
      }
      for (int64_t i = 0; i < K; ++i) m.state[(b * c.C + ch) * K + i] = input(c.T - K + i);
    }
  return m;
}

struct Out {
  Tensor y, state;
};

Out run_typed(const Problem& p, DType out = DType::F32) {
  const Case& c = p.c;
  Out r{Tensor(out, {c.B, c.T, c.C}), Tensor(DType::F32, {c.B, c.C, c.W - 1})};
  conv1d(p.x.view(), p.w.view(), p.bias_view(), p.state_view(), r.y.view(), r.state.view());
  return r;
}


void check_against_model(const Case& c) {
  SCOPED_TRACE(testing::Message() << "B=" << c.B << " T=" << c.T << " C=" << c.C << " W=" << c.W
                                  << " bias=" << c.bias << " state=" << c.state
                                  << " dtype=" << dtype_name(c.dtype));
  Problem p = make_problem(c);
  Model m = model(p);
  Out r = run_typed(p);
  EXPECT_LT(test::rel_l2(r.y.as<float>(), m.y.data(), m.y.size()), 1e-5);
  // The new state is a copy of inputs: exact.
  for (size_t i = 0; i < m.state.size(); ++i)
    ASSERT_EQ(double(r.state.as<float>()[i]), m.state[i]) << i;
  TensorMap in{{"x", p.x}, {"w", p.w}};
  if (c.bias) in["bias"] = p.bias;
  if (c.state) in["state"] = p.state;
  TensorMap named = run_named_op("conv1d", in, {});
  EXPECT_TRUE(same_bytes(named.at("y"), r.y));
  EXPECT_TRUE(same_bytes(named.at("state"), r.state));
}

TEST(Conv1d, MatchesModel) {
  for (int64_t T : {1, 2, 3, 7, 40}) check_against_model({.T = T, .seed = uint32_t(T)});
  check_against_model({.B = 3, .T = 5, .C = 24, .bias = false, .state = true, .seed = 50});
  check_against_model({.B = 2, .T = 9, .C = 8, .bias = true, .state = false, .seed = 51});
  check_against_model({.B = 2, .T = 2, .C = 8, .bias = false, .state = false, .seed = 52});
}

TEST(Conv1d, MatchesModelForOtherWidths) {
  for (int64_t W : {1, 2, 3, 6})
    for (int64_t T : {1, 4, 13})
      check_against_model({.B = 2, .T = T, .C = 5, .W = W, .seed = uint32_t(W * 20 + T)});
}

TEST(Conv1d, MatchesModelWithHalfPrecisionInputs) {
  check_against_model({.B = 2, .T = 11, .dtype = DType::BF16, .seed = 60});
  check_against_model({.B = 1, .T = 2, .dtype = DType::F16, .seed = 61});
}

TEST(Conv1d, ShortInputKeepsPartOfTheOldState) {
  // T = 1 < W - 1 = 3: the new state is old[1], old[2], x[0].
  Problem p = make_problem({.T = 1, .C = 3, .seed = 62});
  Out r = run_typed(p);
  for (int64_t c = 0; c < 3; ++c) {
    EXPECT_EQ(r.state.as<float>()[c * 3 + 0], p.state.as<float>()[c * 3 + 1]);
    EXPECT_EQ(r.state.as<float>()[c * 3 + 1], p.state.as<float>()[c * 3 + 2]);
    EXPECT_EQ(r.state.as<float>()[c * 3 + 2], p.x.as<float>()[c]);
  }
}

TEST(Conv1d, ChainedDecodeAndChunkedPrefillEqualOnePrefillExactly) {
  // Each output reads the same inputs with the same fp32 operations whichever call computes it.
  const Case c{.B = 2, .T = 9, .C = 12, .seed = 63};
  Problem whole = make_problem(c);
  Out all = run_typed(whole);
  for (std::vector<int64_t> chunks : {std::vector<int64_t>(9, 1), {3, 4, 2}, {2, 0, 7}}) {
    Tensor state = whole.state;
    int64_t t0 = 0;
    for (int64_t len : chunks) {
      Problem p = make_problem({.B = c.B, .T = len, .C = c.C, .seed = c.seed});
      for (int64_t b = 0; b < c.B; ++b)
        copy_bytes(p.x.data() + b * len * c.C * 4, whole.x.data() + (b * c.T + t0) * c.C * 4,
                   len * c.C * 4);
      Tensor y(DType::F32, {c.B, len, c.C});
      // state_out aliases state: the in-place cache update an engine does.
      conv1d(p.x.view(), whole.w.view(), whole.bias.view(), state.view(), y.view(), state.view());
      for (int64_t b = 0; b < c.B; ++b)
        ASSERT_TRUE(equal_bytes(y.data() + b * len * c.C * 4,
                                all.y.data() + (b * c.T + t0) * c.C * 4, len * c.C * 4))
            << "tokens from " << t0;
      t0 += len;
    }
    EXPECT_TRUE(same_bytes(state, all.state));
  }
}

TEST(Conv1d, HalfOutputsAreTheRoundedF32OutputAndRunsAreDeterministic) {
  Problem p = make_problem({.B = 2, .T = 7, .C = 10, .seed = 64});
  Out f = run_typed(p), again = run_typed(p), bf = run_typed(p, DType::BF16),
      hf = run_typed(p, DType::F16);
  EXPECT_TRUE(same_bytes(f.y, again.y));
  EXPECT_TRUE(same_bytes(f.state, again.state));
  for (int64_t i = 0; i < f.y.numel(); ++i) {
    ASSERT_EQ(bf.y.as<uint16_t>()[i], ref::f32_to_bf16(f.y.as<float>()[i])) << i;
    ASSERT_EQ(hf.y.as<uint16_t>()[i], ref::f32_to_f16(f.y.as<float>()[i])) << i;
  }
  TensorMap named = run_named_op(
      "conv1d", {{"x", p.x}, {"w", p.w}, {"bias", p.bias}, {"state", p.state}}, {{"out", "f16"}});
  EXPECT_TRUE(same_bytes(named.at("y"), hf.y));
}

TEST(Conv1d, RefusesBadInputsWithoutWriting) {
  Problem p = make_problem({.B = 2, .T = 5, .C = 6, .seed = 65});
  Tensor y(DType::F32, {2, 5, 6}), so(DType::F32, {2, 6, 3});
  struct Args {
    TensorView x, w;
    std::optional<TensorView> bias, state;
    TensorView y, so;
  };
  const Tensor w_bf16(DType::BF16, {6, 4}), w0(DType::F32, {6, 0}), x_u8(DType::U8, {2, 5, 6});
  auto refuse = [&](ErrorCode code, const char* what, auto&& mutate, RunOptions opt = {}) {
    SCOPED_TRACE(what);
    Args a{p.x.view(), p.w.view(), p.bias.view(), p.state.view(), y.view(), so.view()};
    mutate(a);
    std::memset(y.data(), 0xA5, y.nbytes());
    std::memset(so.data(), 0xA5, so.nbytes());
    try {
      conv1d(a.x, a.w, a.bias, a.state, a.y, a.so, opt);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      // Unsupported stands for "refused by the registry", which may say InvalidArgument too.
      if (code != ErrorCode::Unsupported || e.code() != ErrorCode::InvalidArgument) {
        EXPECT_EQ(e.code(), code) << e.what();
      }
      EXPECT_NE(std::string(e.what()).find("conv1d"), std::string::npos) << e.what();
    }
    for (const Tensor* t : {&y, &so})
      for (size_t i = 0; i < t->nbytes(); ++i)
        ASSERT_EQ(uint8_t(t->data()[i]), 0xA5) << "output written at " << i;
  };
  refuse(ErrorCode::ShapeMismatch, "x rank 2", [](Args& a) { a.x.shape = {10, 6}; });
  refuse(ErrorCode::ShapeMismatch, "w rows != C", [](Args& a) { a.w.shape = {4, 6}; });
  refuse(ErrorCode::ShapeMismatch, "W == 0", [&](Args& a) { a.w = w0.view(); });
  refuse(ErrorCode::ShapeMismatch, "bias shape", [](Args& a) { a.bias->shape = {5}; });
  refuse(ErrorCode::ShapeMismatch, "state shape", [](Args& a) { a.state->shape = {2, 6, 2}; });
  refuse(ErrorCode::ShapeMismatch, "state_out shape", [](Args& a) { a.so.shape = {2, 6, 2}; });
  refuse(ErrorCode::ShapeMismatch, "y shape", [](Args& a) { a.y.shape = {2, 6, 5}; });
  refuse(ErrorCode::DTypeMismatch, "w BF16", [&](Args& a) { a.w = w_bf16.view(); });
  refuse(ErrorCode::DTypeMismatch, "x U8", [&](Args& a) { a.x = x_u8.view(); });
  refuse(ErrorCode::DTypeMismatch, "state BF16", [](Args& a) { a.state->dtype = DType::BF16; });
  refuse(ErrorCode::DTypeMismatch, "state_out F16", [](Args& a) { a.so.dtype = DType::F16; });
  refuse(ErrorCode::DTypeMismatch, "y I32", [](Args& a) { a.y.dtype = DType::I32; });
  refuse(ErrorCode::NullBuffer, "null x", [](Args& a) { a.x.data = nullptr; });
  refuse(ErrorCode::NullBuffer, "null state_out", [](Args& a) { a.so.data = nullptr; });
  refuse(ErrorCode::ShortBuffer, "short w", [](Args& a) { a.w.bytes = 8; });
  refuse(ErrorCode::ShortBuffer, "short y", [](Args& a) { a.y.bytes -= 1; });
  refuse(
      ErrorCode::Unsupported, "unknown variant", [](Args&) {}, missing_variant());
}

TEST(Conv1d, NamedCallRefusesUnknownParamsAndMissingTensors) {
  Problem p = make_problem({.T = 3, .C = 4});
  TensorMap in{{"x", p.x}, {"w", p.w}};
  auto named = [](const TensorMap& in, const ParamMap& params) {
    try {
      run_named_op("conv1d", in, params);
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::Io; // accepted: a code conv1d never uses
  };
  EXPECT_EQ(named(in, {{"width", "4"}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(named(in, {{"out", "f64"}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(named({{"x", p.x}}, {}), ErrorCode::MissingTensor);
  EXPECT_EQ(named({{"w", p.w}}, {}), ErrorCode::MissingTensor);
  // Without a state input the state output still comes back, from zeros.
  TensorMap out = run_named_op("conv1d", in, {});
  EXPECT_EQ(out.at("state").shape(), (Shape{1, 4, 3}));
}

} // namespace
