// gemm_nvfp4_act / gemm_fp8_act: the API around the fused operations (the bytes themselves are
// held to quantize-then-GEMM by test_conformance on every device): the activation scale_2 they
// report, degenerate shapes, the variant each device runs, and bad inputs refused with nothing
// written.
#include <gtest/gtest.h>

#include <cmath>

#include "dispatch/registry.h"
#include "tessera/named_ops.h"
#include "tessera/ops.h"
#include "test_util.h"

using namespace tessera;

namespace {

template <class F>
ErrorCode error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "no error thrown";
  return ErrorCode::InvalidArgument;
}

struct W4 {
  Tensor b, s;
};

W4 nvfp4_weight(int64_t N, int64_t K) {
  W4 w{Tensor(DType::U8, {N, K / 2}), Tensor(DType::F8_E4M3, {N, K / 16})};
  for (int64_t i = 0; i < N * K / 2; ++i) w.b.as<uint8_t>()[i] = static_cast<uint8_t>(i * 37 + 11);
  for (int64_t i = 0; i < N * K / 16; ++i) w.s.as<uint8_t>()[i] = static_cast<uint8_t>(0x30 + i % 16);
  return w;
}

TEST(GemmAct, DynamicScale2IsAmaxOver2688AndStaticIsKept) {
  const int64_t M = 3, N = 5, K = 32;
  std::vector<float> xv = test::random_floats(M * K, -3, 3, 1);
  xv[17] = -9.5f; // the amax
  Tensor x = test::f32_tensor({M, K}, xv);
  W4 w = nvfp4_weight(N, K);
  Tensor c(DType::F32, {M, N});
  for (const dispatch::DeviceRef& d : dispatch::devices()) {
    RunOptions o{d.backend, d.index, ""};
    RunInfo info;
    EXPECT_EQ(gemm_nvfp4_act(x.view(), std::nullopt, w.b.view(), w.s.view(), 1.0f, std::nullopt, c.view(), o, &info),
              9.5f / 2688.0f)
        << d.label();
    EXPECT_EQ(info.variant, d.backend == "cpu" ? "reference" : "quantize_then_gemm") << info.reason;
    EXPECT_EQ(gemm_nvfp4_act(x.view(), 0.125f, w.b.view(), w.s.view(), 1.0f, std::nullopt, c.view(), o), 0.125f);
  }
}

TEST(GemmAct, DegenerateShapes) {
  for (const dispatch::DeviceRef& d : dispatch::devices()) {
    RunOptions o{d.backend, d.index, ""};
    SCOPED_TRACE(d.label());
    // K = 0: c is the bias alone; the activation scale_2 of an empty tensor is 1.0.
    Tensor x(DType::F32, {2, 0}), bias = test::f32_tensor({3}, {1.5f, -2.0f, 0.25f});
    W4 w = nvfp4_weight(3, 0);
    Tensor c(DType::F32, {2, 3});
    EXPECT_EQ(gemm_nvfp4_act(x.view(), std::nullopt, w.b.view(), w.s.view(), 2.0f, bias.view(), c.view(), o), 1.0f);
    for (int i = 0; i < 6; ++i) EXPECT_EQ(c.as<float>()[i], bias.as<float>()[i % 3]);
    Tensor b8(DType::F8_E4M3, {3, 0}), sb(DType::F32, {1, 0}), c8(DType::F32, {2, 3});
    gemm_fp8_act(x.view(), b8.view(), sb.view(), bias.view(), c8.view(), o);
    EXPECT_TRUE(test::same_bytes(c, c8));
    // M = 0: nothing to compute, and nothing fails.
    Tensor x0(DType::F32, {0, 32}), c0(DType::F32, {0, 3});
    W4 w32 = nvfp4_weight(3, 32);
    EXPECT_EQ(gemm_nvfp4_act(x0.view(), 0.5f, w32.b.view(), w32.s.view(), 2.0f, std::nullopt, c0.view(), o), 0.5f);
  }
}

TEST(GemmAct, BadInputsRefusedWithNothingWritten) {
  const int64_t M = 2, N = 4, K = 32;
  Tensor x = test::f32_tensor({M, K}, test::random_floats(M * K, -1, 1, 2));
  W4 w = nvfp4_weight(N, K);
  Tensor c(DType::F32, {M, N});
  for (int i = 0; i < M * N; ++i) c.as<float>()[i] = 42.0f;
  auto untouched = [&] {
    for (int i = 0; i < M * N; ++i)
      if (c.as<float>()[i] != 42.0f) return false;
    return true;
  };
  auto nv = [&](const TensorView& xv, std::optional<float> s2, float bs2, const TensorView& b, const TensorView& s) {
    return error_of([&] { gemm_nvfp4_act(xv, s2, b, s, bs2, std::nullopt, c.view()); });
  };
  EXPECT_EQ(nv(x.view(), NAN, 1.0f, w.b.view(), w.s.view()), ErrorCode::InvalidArgument);
  EXPECT_EQ(nv(x.view(), -1.0f, 1.0f, w.b.view(), w.s.view()), ErrorCode::InvalidArgument);
  EXPECT_EQ(nv(x.view(), std::nullopt, 0.0f, w.b.view(), w.s.view()), ErrorCode::InvalidArgument);
  EXPECT_EQ(nv(x.view(), 1e30f, 1e30f, w.b.view(), w.s.view()), ErrorCode::InvalidArgument); // alpha overflows
  Tensor x24 = test::f32_tensor({M, 24}, test::random_floats(M * 24, -1, 1, 3));
  EXPECT_EQ(nv(x24.view(), std::nullopt, 1.0f, w.b.view(), w.s.view()), ErrorCode::ShapeMismatch); // K % 16
  W4 w48 = nvfp4_weight(N, 48);
  EXPECT_EQ(nv(x.view(), std::nullopt, 1.0f, w48.b.view(), w.s.view()), ErrorCode::ShapeMismatch); // b's K
  EXPECT_EQ(nv(x.view(), std::nullopt, 1.0f, w.b.view(), w48.s.view()), ErrorCode::ShapeMismatch); // b_scale
  Tensor xi(DType::I32, {M, K});
  EXPECT_EQ(nv(xi.view(), std::nullopt, 1.0f, w.b.view(), w.s.view()), ErrorCode::DTypeMismatch);
  std::vector<float> bad = test::random_floats(M * K, -1, 1, 4);
  bad[40] = INFINITY;
  Tensor xb = test::f32_tensor({M, K}, bad);
  EXPECT_EQ(nv(xb.view(), std::nullopt, 1.0f, w.b.view(), w.s.view()), ErrorCode::NonFinite);
  EXPECT_EQ(nv(xb.view(), 1.0f, 1.0f, w.b.view(), w.s.view()), ErrorCode::NonFinite);

  Tensor b8(DType::F8_E4M3, {N, K}), sb = test::f32_tensor({1, 1}, {0.5f}), sb_nan = test::f32_tensor({1, 1}, {NAN});
  EXPECT_EQ(error_of([&] { gemm_fp8_act(xb.view(), b8.view(), sb.view(), std::nullopt, c.view()); }), ErrorCode::NonFinite);
  EXPECT_EQ(error_of([&] { gemm_fp8_act(x.view(), b8.view(), sb_nan.view(), std::nullopt, c.view()); }), ErrorCode::NonFinite);
  EXPECT_EQ(error_of([&] { gemm_fp8_act(x.view(), b8.view(), test::f32_tensor({2, 1}, {1, 1}).view(), std::nullopt, c.view()); }),
            ErrorCode::ShapeMismatch);
  EXPECT_EQ(error_of([&] { gemm_fp8_act(x.view(), w.b.view(), sb.view(), std::nullopt, c.view()); }), ErrorCode::DTypeMismatch);
  Tensor c_wrong(DType::F32, {M, N + 1});
  EXPECT_EQ(error_of([&] { gemm_fp8_act(x.view(), b8.view(), sb.view(), std::nullopt, c_wrong.view()); }), ErrorCode::ShapeMismatch);
  EXPECT_TRUE(untouched());
}

TEST(GemmAct, NamedOpsMatchTheTypedCalls) {
  const int64_t M = 3, N = 6, K = 48;
  Tensor x = test::f32_tensor({M, K}, test::random_floats(M * K, -2, 2, 9));
  W4 w = nvfp4_weight(N, K);
  TensorMap in;
  in.emplace("x", x);
  in.emplace("b", w.b);
  in.emplace("b_scale", w.s);
  in.emplace("b_scale_2", test::f32_tensor({}, {0.5f}));
  TensorMap got = run_named_op("gemm_nvfp4_act", in, {{"out", "bf16"}});
  Tensor c(DType::BF16, {M, N});
  float s2 = gemm_nvfp4_act(x.view(), std::nullopt, w.b.view(), w.s.view(), 0.5f, std::nullopt, c.view());
  EXPECT_TRUE(test::same_bytes(got.at("c"), c));
  EXPECT_EQ(got.at("a_scale_2").as<float>()[0], s2);
  in.emplace("a_scale_2", test::f32_tensor({}, {0.01f}));
  got = run_named_op("gemm_nvfp4_act", in, {});
  EXPECT_EQ(got.at("a_scale_2").as<float>()[0], 0.01f);

  TensorMap f8;
  std::vector<uint8_t> bytes(N * K);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>((i * 29) % 0x7E);
  f8.emplace("x", x);
  f8.emplace("b", test::make_tensor(DType::F8_E4M3, {N, K}, bytes.data()));
  f8.emplace("b_scale", test::f32_tensor({1, 1}, {0.25f}));
  TensorMap got8 = run_named_op("gemm_fp8_act", f8, {{"out", "f32"}});
  Tensor c8(DType::F32, {M, N});
  gemm_fp8_act(x.view(), f8.at("b").view(), f8.at("b_scale").view(), std::nullopt, c8.view());
  EXPECT_TRUE(test::same_bytes(got8.at("c"), c8));
  EXPECT_THROW(run_named_op("gemm_fp8_act", f8, {{"recipe", "x"}}), Error); // unknown parameter
}

} // namespace
