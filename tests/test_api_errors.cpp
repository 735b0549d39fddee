// Every bad input to the conversions, quantizers and GEMMs is refused with a tessera::Error of
// the right code and a message naming the argument, and the outputs are left untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "tessera/named_ops.h"
#include "tessera/ops.h"
#include "test_util.h"

using namespace tessera;

namespace {

// Runs `fn`, which must throw Error with `code` and a message containing `needle`, and checks
// that `outputs` still hold the sentinel they were filled with.
void expect_refused(ErrorCode code, const std::string& needle, const std::function<void()>& fn,
                    std::vector<Tensor*> outputs) {
  for (Tensor* t : outputs) std::fill_n(t->data(), t->nbytes(), std::byte{0xA5});
  try {
    fn();
    ADD_FAILURE() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  for (Tensor* t : outputs)
    for (size_t i = 0; i < t->nbytes(); ++i) ASSERT_EQ(t->data()[i], std::byte{0xA5}) << "output written on failure";
}

TensorView short_view(const Tensor& t) {
  TensorView v = t.view();
  v.bytes -= 1;
  return v;
}

TensorView null_view(const Tensor& t) {
  TensorView v = t.view();
  v.data = nullptr;
  return v;
}

} // namespace

TEST(ApiErrors, Convert) {
  Tensor x = test::f32_tensor({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor y(DType::F8_E4M3, {2, 3});
  expect_refused(ErrorCode::DTypeMismatch, "y has dtype", [&] { convert(x.view(), Format::E5M2, y.view()); }, {&y});
  Tensor y_bad(DType::F8_E4M3, {3, 2});
  expect_refused(ErrorCode::ShapeMismatch, "y has shape [3, 2]", [&] { convert(x.view(), Format::E4M3, y_bad.view()); }, {&y_bad});
  expect_refused(ErrorCode::ShortBuffer, "x buffer holds 23 bytes", [&] { convert(short_view(x), Format::E4M3, y.view()); }, {&y});
  expect_refused(ErrorCode::NullBuffer, "x has no data", [&] { convert(null_view(x), Format::E4M3, y.view()); }, {&y});
  Tensor xh(DType::F16, {2, 3});
  expect_refused(ErrorCode::DTypeMismatch, "x has dtype F16", [&] { convert(xh.view(), Format::E4M3, y.view()); }, {&y});
}

TEST(ApiErrors, QuantizeNvfp4) {
  auto v = test::random_floats(4 * 32, -3, 3, 1);
  Tensor x = test::f32_tensor({4, 32}, v);
  Tensor q(DType::U8, {4, 16}), s(DType::F8_E4M3, {4, 2});
  auto run = [&](const TensorView& xv, std::optional<float> s2 = std::nullopt) {
    return [&, xv, s2] { quantize_nvfp4(xv, Nvfp4Recipe::Nvfp4, s2, q.view(), s.view()); };
  };
  Tensor x20 = test::f32_tensor({2, 20}, std::vector<float>(40, 1.0f));
  expect_refused(ErrorCode::ShapeMismatch, "20 columns, not a multiple of 16", run(x20.view()), {&q, &s});
  v[2 * 32 + 5] = NAN;
  Tensor xn = test::f32_tensor({4, 32}, v);
  expect_refused(ErrorCode::NonFinite, "x[2, 5] is NaN", run(xn.view()), {&q, &s});
  v[2 * 32 + 5] = 0;
  v[3 * 32 + 31] = -INFINITY;
  Tensor xi = test::f32_tensor({4, 32}, v);
  expect_refused(ErrorCode::NonFinite, "x[3, 31] is -inf", run(xi.view()), {&q, &s});
  expect_refused(ErrorCode::InvalidArgument, "static scale_2", run(x.view(), 0.0f), {&q, &s});
  expect_refused(ErrorCode::InvalidArgument, "static scale_2", run(x.view(), NAN), {&q, &s});
  Tensor x3(DType::F32, {2, 2, 32});
  expect_refused(ErrorCode::ShapeMismatch, "expected rank 2", run(x3.view()), {&q, &s});
  Tensor s_bad(DType::U8, {4, 2});
  expect_refused(ErrorCode::DTypeMismatch, "scale has dtype U8",
                 [&] { quantize_nvfp4(x.view(), Nvfp4Recipe::Nvfp4, {}, q.view(), s_bad.view()); }, {&q, &s_bad});
  expect_refused(ErrorCode::ShortBuffer, "q buffer",
                 [&] { quantize_nvfp4(x.view(), Nvfp4Recipe::FourOverSix, {}, short_view(q), s.view()); }, {&q, &s});
}

TEST(ApiErrors, DequantizeAndFp8Quantize) {
  Tensor q(DType::U8, {2, 8}), s(DType::F8_E4M3, {2, 2}), y(DType::F32, {2, 16});
  expect_refused(ErrorCode::ShapeMismatch, "scale has shape [2, 2], expected [2, 1]",
                 [&] { dequantize_nvfp4(q.view(), s.view(), 1.0f, y.view()); }, {&y});
  Tensor x = test::f32_tensor({3, 130}, test::random_floats(390, -1, 1, 2));
  Tensor q8(DType::F8_E4M3, {3, 130}), tok(DType::F32, {3, 1});
  expect_refused(ErrorCode::ShapeMismatch, "scales has shape [3, 1], expected [3, 2]",
                 [&] { quantize_fp8(x.view(), Fp8Recipe::Token128, q8.view(), tok.view()); }, {&q8, &tok});
  Tensor blk(DType::F32, {3, 2});
  expect_refused(ErrorCode::ShapeMismatch, "expected [1, 2]",
                 [&] { quantize_fp8(x.view(), Fp8Recipe::Block128, q8.view(), blk.view()); }, {&q8, &blk});
  Tensor two(DType::F32, {2});
  expect_refused(ErrorCode::ShapeMismatch, "expected [] or [1]",
                 [&] { quantize_fp8(x.view(), Fp8Recipe::Tensor, q8.view(), two.view()); }, {&q8, &two});
  auto v = test::random_floats(390, -1, 1, 3);
  v[200] = INFINITY;
  Tensor xi = test::f32_tensor({3, 130}, v);
  Tensor one(DType::F32, {});
  expect_refused(ErrorCode::NonFinite, "x[1, 70] is +inf",
                 [&] { quantize_fp8(xi.view(), Fp8Recipe::Tensor, q8.view(), one.view()); }, {&q8, &one});
}

TEST(ApiErrors, GemmNvfp4) {
  int64_t M = 2, N = 3, K = 32;
  Tensor a(DType::U8, {M, K / 2}), sa(DType::F8_E4M3, {M, K / 16}), b(DType::U8, {N, K / 2}),
      sb(DType::F8_E4M3, {N, K / 16}), c(DType::F32, {M, N}), bias(DType::F32, {N});
  auto run = [&](const TensorView& av, const TensorView& sav, const TensorView& bv, const TensorView& sbv,
                 std::optional<TensorView> biasv, const TensorView& cv, float alpha = 1.0f) {
    return [=] { gemm_nvfp4(av, sav, bv, sbv, alpha, biasv, cv); };
  };
  Tensor a9(DType::U8, {M, 9}), b9(DType::U8, {N, 9});
  expect_refused(ErrorCode::ShapeMismatch, "K = 18 is not a multiple of 16",
                 run(a9.view(), sa.view(), b9.view(), sb.view(), {}, c.view()), {&c});
  Tensor b_k(DType::U8, {N, 8});
  expect_refused(ErrorCode::ShapeMismatch, "K (last) dimensions differ",
                 run(a.view(), sa.view(), b_k.view(), sb.view(), {}, c.view()), {&c});
  Tensor sa_bad(DType::F8_E4M3, {M, 3});
  expect_refused(ErrorCode::ShapeMismatch, "a_scale has shape [2, 3], expected [2, 2]",
                 run(a.view(), sa_bad.view(), b.view(), sb.view(), {}, c.view()), {&c});
  Tensor sb_f32(DType::F32, {N, K / 16});
  expect_refused(ErrorCode::DTypeMismatch, "b_scale has dtype F32",
                 run(a.view(), sa.view(), b.view(), sb_f32.view(), {}, c.view()), {&c});
  Tensor bias_bad(DType::F32, {N + 1});
  expect_refused(ErrorCode::ShapeMismatch, "bias has shape [4], expected [3]",
                 run(a.view(), sa.view(), b.view(), sb.view(), bias_bad.view(), c.view()), {&c});
  Tensor c_bad(DType::F32, {N, M});
  expect_refused(ErrorCode::ShapeMismatch, "c has shape [3, 2], expected [2, 3]",
                 run(a.view(), sa.view(), b.view(), sb.view(), {}, c_bad.view()), {&c_bad});
  Tensor c_u8(DType::U8, {M, N});
  expect_refused(ErrorCode::DTypeMismatch, "c has dtype U8",
                 run(a.view(), sa.view(), b.view(), sb.view(), {}, c_u8.view()), {&c_u8});
  expect_refused(ErrorCode::InvalidArgument, "alpha = inf",
                 run(a.view(), sa.view(), b.view(), sb.view(), {}, c.view(), INFINITY), {&c});
  expect_refused(ErrorCode::ShortBuffer, "b buffer",
                 run(a.view(), sa.view(), short_view(b), sb.view(), {}, c.view()), {&c});
  expect_refused(ErrorCode::NullBuffer, "a_scale has no data",
                 run(a.view(), null_view(sa), b.view(), sb.view(), {}, c.view()), {&c});
  Tensor big_a(DType::U8, {1, 65536 / 2 + 8}), big_b(DType::U8, {1, 65536 / 2 + 8});
  expect_refused(ErrorCode::ShapeMismatch, "exceeds 65536",
                 run(big_a.view(), sa.view(), big_b.view(), sb.view(), {}, c.view()), {&c});
}

TEST(ApiErrors, GemmFp8) {
  Tensor a(DType::F8_E4M3, {2, 130}), b(DType::F8_E4M3, {3, 130}), c(DType::F32, {2, 3});
  Tensor a_u8(DType::U8, {2, 130});
  expect_refused(ErrorCode::DTypeMismatch, "a has dtype U8", [&] { gemm_fp8(a_u8.view(), b.view(), 1.0f, {}, c.view()); }, {&c});
  Tensor sa(DType::F32, {2, 2}), sb(DType::F32, {1, 2});
  std::fill_n(sa.as<float>(), 4, 1.0f);
  std::fill_n(sb.as<float>(), 2, 1.0f);
  sb.as<float>()[1] = NAN;
  expect_refused(ErrorCode::NonFinite, "b_scale[0, 1] is NaN",
                 [&] { gemm_fp8_block(a.view(), sa.view(), b.view(), sb.view(), {}, c.view()); }, {&c});
  Tensor sb_bad(DType::F32, {3, 2});
  expect_refused(ErrorCode::ShapeMismatch, "b_scale has shape [3, 2], expected [1, 2]",
                 [&] { gemm_fp8_block(a.view(), sa.view(), b.view(), sb_bad.view(), {}, c.view()); }, {&c});
}

TEST(ApiErrors, NamedOps) {
  TensorMap in;
  in.emplace("x", test::f32_tensor({1, 16}, std::vector<float>(16, 1.0f)));
  auto expect_named = [&](ErrorCode code, const std::string& needle, const std::string& op, const ParamMap& p) {
    try {
      run_named_op(op, in, p);
      ADD_FAILURE() << "expected " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_named(ErrorCode::InvalidArgument, "unknown operation 'gemm_fp4'", "gemm_fp4", {});
  expect_named(ErrorCode::InvalidArgument, "unknown parameter 'recipie'", "quantize_nvfp4", {{"recipie", "nvfp4"}});
  expect_named(ErrorCode::InvalidArgument, "recipe='nvfp5' is not one of nvfp4|nvfp4-4over6", "quantize_nvfp4", {{"recipe", "nvfp5"}});
  expect_named(ErrorCode::InvalidArgument, "scale_2='abc' is not a finite number", "quantize_nvfp4", {{"scale_2", "abc"}});
  expect_named(ErrorCode::InvalidArgument, "parameter 'to' is required", "convert", {});
  expect_named(ErrorCode::MissingTensor, "missing input tensor 'x_scale'", "dequantize_nvfp4", {});
  expect_named(ErrorCode::MissingTensor, "missing input tensor 'a'", "gemm_nvfp4", {});
  expect_named(ErrorCode::InvalidArgument, "parameter 'recipe' is required", "quantize_fp8", {});
}

TEST(ApiErrors, UnavailableBackendsAreRefusedBeforeRunning) {
  Tensor x = test::f32_tensor({1, 2}, {1, 2});
  Tensor y(DType::BF16, {1, 2});
  RunOptions opencl{"opencl", 99, ""}, bogus{"cuda", 0, ""}, dev1{"cpu", 1, ""}, variant{"cpu", 0, "tiled_exact"};
  // Without the OpenCL backend built the message differs, but it is refused either way.
  expect_refused(ErrorCode::Unsupported, "opencl", [&] { convert(x.view(), Format::BF16, y.view(), opencl); }, {&y});
  expect_refused(ErrorCode::InvalidArgument, "unknown backend 'cuda'", [&] { convert(x.view(), Format::BF16, y.view(), bogus); }, {&y});
  expect_refused(ErrorCode::Unsupported, "not device 1", [&] { convert(x.view(), Format::BF16, y.view(), dev1); }, {&y});
  expect_refused(ErrorCode::Unsupported, "no variant 'tiled_exact'", [&] { convert(x.view(), Format::BF16, y.view(), variant); }, {&y});
  RunInfo info;
  convert(x.view(), Format::BF16, y.view(), {}, &info);
  EXPECT_EQ(info.backend, "cpu");
  EXPECT_EQ(info.variant, "reference");
  EXPECT_FALSE(info.reason.empty());
}
