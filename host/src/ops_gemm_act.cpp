// GEMMs with the activation quantized in front (tessera::gemm_nvfp4_act, gemm_fp8_act):
// validated like quantize_* and gemm_* together, then run by the registry's variant of
// "gemm_nvfp4_act" / "gemm_fp8_act" (host/src/gemm_act.h). The CPU reference is literally the
// reference quantizer followed by the reference GEMM, so "bit-exact with quantize then GEMM"
// holds by construction there and the conformance tests hold every device variant to it.
#include "gemm_act.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "execute.h"
#include "fp32_operands.h"
#include "named.h"
#include "reference/gemm.h"
#include "reference/quantize.h"
#include "strided_views.h"

namespace tessera {

namespace {
using detail::check_epilogue;
using detail::kMaxNvfp4K; // the exact W4A4 sum fits in int64 up to here
using detail::out_type;

dispatch::Problem problem(std::string_view op, int64_t M, int64_t N, int64_t K) {
  return dispatch::Problem{op, {{"M", M}, {"N", N}, {"K", K}, {"elements", std::max({M * K, N * K, M * N})}}};
}

void check_scale_2(std::string_view op, std::string_view name, float s) {
  if (!(std::isfinite(s) && s > 0.0f))
    detail::fail(ErrorCode::InvalidArgument, "{}: {} = {} must be finite and > 0", op, name, s);
}

// x [M, K] floating as fp32 for the kernels, finite (the quantizers refuse NaN and inf): a host x
// is checked here, a resident one by the device's scan (the same error, device_found_non_finite).
detail::F32Input finite_x(std::string_view op, const TensorView& x) {
  detail::check_dtype(op, "x", x, detail::kFloatTypes);
  detail::check_rank(op, "x", x, 2);
  detail::check_view(op, "x", x);
  detail::F32Input v(op, "x", x);
  if (v.on_host()) detail::check_finite(op, "x", v.data(), x.shape);
  return v;
}

void check_weight(std::string_view op, const TensorView& b, DType dtype, int64_t K, int64_t k_cols) {
  detail::check_dtype(op, "b", b, {dtype});
  detail::check_rank(op, "b", b, 2);
  detail::check_view(op, "b", b);
  if (b.shape[1] != k_cols)
    detail::fail(ErrorCode::ShapeMismatch, "{}: b is {} but x has K = {}: expected [N, {}]", op, shape_str(b.shape), K, k_cols);
}

} // namespace

float gemm_nvfp4_act(const TensorView& x_in, std::optional<float> a_scale_2, const TensorView& b_in,
                     const TensorView& b_scale_in, float b_scale_2, const std::optional<TensorView>& bias_in,
                     const TensorView& c_in, const RunOptions& options, RunInfo* info) {
  constexpr std::string_view op = "gemm_nvfp4_act";
  detail::ResidentScope resident(options); // every tensor may be resident (x is widened and scanned there)
  detail::StridedViews strided(op);        // and strided (strided_views.h)
  const TensorView x = strided.in("x", x_in), b = strided.in("b", b_in), b_scale = strided.in("b_scale", b_scale_in),
                   c = strided.out("c", c_in);
  const std::optional<TensorView> bias = strided.in("bias", bias_in);
  if (a_scale_2) check_scale_2(op, "a_scale_2", *a_scale_2);
  check_scale_2(op, "b_scale_2", b_scale_2);
  detail::check_dtype(op, "x", x, detail::kFloatTypes);
  detail::check_rank(op, "x", x, 2);
  int64_t M = x.shape[0], K = x.shape[1];
  if (K % 16 != 0) detail::fail(ErrorCode::ShapeMismatch, "{}: K = {} is not a multiple of 16 (the NVFP4 block)", op, K);
  if (K > kMaxNvfp4K)
    detail::fail(ErrorCode::ShapeMismatch, "{}: K = {} exceeds {}, the largest K whose exact sum fits in int64", op, K, kMaxNvfp4K);
  check_weight(op, b, DType::U8, K, K / 2);
  int64_t N = b.shape[0];
  detail::check_arg(op, "b_scale", b_scale, {DType::F8_E4M3}, {N, K / 16});
  check_epilogue(op, bias, c, M, N);
  const detail::F32Input xv = finite_x(op, x);
  if (a_scale_2 && !std::isfinite(*a_scale_2 * b_scale_2))
    detail::fail(ErrorCode::InvalidArgument, "{}: alpha = a_scale_2 * b_scale_2 = {} * {} is not finite", op, *a_scale_2, b_scale_2);
  // Nothing to multiply: the scale_2 the activation would get is still the caller's answer.
  if (detail::nothing_to_compute(problem(op, M, N, K), options, info, {c.numel()})) {
    if (a_scale_2) return *a_scale_2;
    // N == 0 with M * K > 0: the answer is x's scale_2, which the host computes (a resident x is
    // read back for it).
    const std::vector<float> host = detail::host_f32(op, "x", x);
    detail::check_finite(op, "x", host.data(), x.shape);
    return ref::nvfp4_scale_2(host.data(), M * K, false);
  }
  float used = 0.0f;
  detail::execute(problem(op, M, N, K), options, info,
                  detail::GemmNvfp4ActArgs{xv.data(), a_scale_2, b.as<const uint8_t>(), b_scale.as<const uint8_t>(), b_scale_2,
                                           M, N, K, bias ? bias->as<const float>() : nullptr, out_type(c.dtype), c.data, &used});
  strided.store();
  return used;
}

void gemm_fp8_act(const TensorView& x_in, const TensorView& b_in, const TensorView& b_scale_in,
                  const std::optional<TensorView>& bias_in, const TensorView& c_in, const RunOptions& options,
                  RunInfo* info) {
  constexpr std::string_view op = "gemm_fp8_act";
  detail::ResidentScope resident(options); // every tensor may be resident (x is widened and scanned there)
  detail::StridedViews strided(op);        // and strided (strided_views.h)
  const TensorView x = strided.in("x", x_in), b = strided.in("b", b_in), b_scale = strided.in("b_scale", b_scale_in),
                   c = strided.out("c", c_in);
  const std::optional<TensorView> bias = strided.in("bias", bias_in);
  detail::check_dtype(op, "x", x, detail::kFloatTypes);
  detail::check_rank(op, "x", x, 2);
  int64_t M = x.shape[0], K = x.shape[1];
  check_weight(op, b, DType::F8_E4M3, K, K);
  int64_t N = b.shape[0];
  detail::check_arg(op, "b_scale", b_scale, {DType::F32}, {(N + 127) / 128, (K + 127) / 128});
  { // read on the host (downloaded when resident: one float per 128 x 128 block)
    const std::vector<std::byte> host = detail::host_bytes(op, "b_scale", b_scale);
    detail::check_finite(op, "b_scale", reinterpret_cast<const float*>(host.data()), b_scale.shape);
  }
  check_epilogue(op, bias, c, M, N);
  const detail::F32Input xv = finite_x(op, x);
  if (detail::nothing_to_compute(problem(op, M, N, K), options, info, {c.numel()})) return;
  detail::execute(problem(op, M, N, K), options, info,
                  detail::GemmFp8ActArgs{xv.data(), b.as<const uint8_t>(), b_scale.as<const float>(), M, N, K,
                                         bias ? bias->as<const float>() : nullptr, out_type(c.dtype), c.data});
  strided.store();
}

namespace detail {

// krun / kbench: x, b, b_scale, b_scale_2, optional a_scale_2 (static) and bias -> c, a_scale_2.
TensorMap named_gemm_nvfp4_act(NamedCall& call, const RunOptions& options, RunInfo* info) {
  DType out_t = out_dtype(call);
  call.finish_params();
  const TensorView& x = call.tensor("x");
  const TensorView& b = call.tensor("b");
  std::optional<float> a_s2;
  if (call.optional_tensor("a_scale_2")) a_s2 = call.scalar("a_scale_2");
  TensorView c = call.output("c", out_t, {extent(x, 0), extent(b, 0)});
  float used = gemm_nvfp4_act(x, a_s2, b, call.tensor("b_scale"), call.scalar("b_scale_2"),
                              call.optional_view("bias"), c, options, info);
  call.scalar_output("a_scale_2", used);
  return call.results();
}

TensorMap named_gemm_fp8_act(NamedCall& call, const RunOptions& options, RunInfo* info) {
  DType out_t = out_dtype(call);
  call.finish_params();
  const TensorView& x = call.tensor("x");
  const TensorView& b = call.tensor("b");
  TensorView c = call.output("c", out_t, {extent(x, 0), extent(b, 0)});
  gemm_fp8_act(x, b, call.tensor("b_scale"), call.optional_view("bias"), c, options, info);
  return call.results();
}

} // namespace detail

namespace detail::cpu {

// The reference: quantize, then GEMM, through the very functions quantize_* and gemm_* run.
void run(const GemmNvfp4ActArgs& a) {
  int64_t n = a.M * a.K;
  float s2 = a.static_a_scale_2 ? *a.static_a_scale_2 : ref::nvfp4_scale_2(a.x, n, false);
  float alpha = s2 * a.b_scale_2;
  if (!std::isfinite(alpha))
    fail(ErrorCode::InvalidArgument, "gemm_nvfp4_act: alpha = a_scale_2 * b_scale_2 = {} * {} is not finite", s2, a.b_scale_2);
  std::vector<uint8_t> q(static_cast<size_t>(n / 2)), s(static_cast<size_t>(n / 16));
  ref::quantize_nvfp4(a.x, a.M, a.K, s2, q.data(), s.data());
  // gemm_nvfp4's own CPU run, which also keeps c apart from the weight (cpu_backend.cpp).
  run(GemmNvfp4Args{q.data(), s.data(), a.b, a.b_scale, a.M, a.N, a.K, alpha, a.bias, a.out, a.c, false});
  *a.a_scale_2 = s2;
}

void run(const GemmFp8ActArgs& a) {
  int64_t kbs = (a.K + 127) / 128;
  std::vector<uint8_t> q(static_cast<size_t>(a.M * a.K));
  std::vector<float> s(static_cast<size_t>(a.M * kbs));
  ref::quantize_fp8(a.x, a.M, a.K, ref::Fp8Grouping::Token128, q.data(), s.data());
  run(GemmFp8BlockArgs{q.data(), s.data(), a.b, a.b_scale, a.M, a.N, a.K, a.bias, a.out, a.c});
}

} // namespace detail::cpu
} // namespace tessera
