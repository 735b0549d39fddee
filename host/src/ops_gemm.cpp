// NVFP4 x NVFP4 and FP8 x FP8 GEMMs (numerics.md section 4).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "execute.h"
#include "gemm_act.h"
#include "named.h"
#include "reference/gemm.h"
#include "tessera/weights.h"
#include "strided_views.h"

namespace tessera {

namespace {
using detail::check_epilogue;
using detail::kMaxNvfp4K;
using detail::out_type;

// What the registry selects GEMM variants on: decode vs prefill by M, the scale form.
dispatch::Problem problem(std::string_view op, int64_t M, int64_t N, int64_t K, bool block_scaled) {
  return dispatch::Problem{op, {{"M", M}, {"N", N}, {"K", K}, {"block_scaled", block_scaled ? 1 : 0}, {"elements", std::max({M * K, N * K, M * N})}}};
}

void check_alpha(std::string_view op, float alpha) {
  if (!std::isfinite(alpha)) detail::fail(ErrorCode::InvalidArgument, "{}: alpha = {} is not finite", op, alpha);
}

// Rank-2 operands A [M, Ka] and B [N, Kb] of one dtype with Ka == Kb; returns {M, N, Ka}.
std::array<int64_t, 3> check_operands(std::string_view op, const TensorView& a, const TensorView& b, DType dtype) {
  detail::check_dtype(op, "a", a, {dtype});
  detail::check_rank(op, "a", a, 2);
  detail::check_view(op, "a", a);
  detail::check_dtype(op, "b", b, {dtype});
  detail::check_rank(op, "b", b, 2);
  detail::check_view(op, "b", b);
  if (a.shape[1] != b.shape[1])
    detail::fail(ErrorCode::ShapeMismatch, "{}: a is {} and b is {}: their K (last) dimensions differ", op,
                 shape_str(a.shape), shape_str(b.shape));
  return {a.shape[0], b.shape[0], a.shape[1]};
}
} // namespace

namespace detail {
ref::OutType out_type(DType t) {
  return t == DType::F32 ? ref::OutType::F32 : t == DType::BF16 ? ref::OutType::BF16 : ref::OutType::F16;
}

void check_epilogue(std::string_view op, const std::optional<TensorView>& bias, const TensorView& c, int64_t M,
                    int64_t N) {
  if (bias) check_arg(op, "bias", *bias, {DType::F32}, {N});
  check_arg(op, "c", c, kFloatTypes, {M, N});
}

dispatch::Problem gemm_problem(std::string_view op, int64_t M, int64_t N, int64_t K, bool block_scaled) {
  return problem(op, M, N, K, block_scaled);
}

const core::Variant& exact_gemm(std::string_view backend, int device, std::string_view op, int64_t M, int64_t N,
                                int64_t K, bool block_scaled) {
  const core::Problem p = gemm_problem(op, M, N, K, block_scaled);
  const core::DeviceRef* d = nullptr;
  for (const core::DeviceRef& r : dispatch::devices())
    if (r.backend == backend && r.index == device) d = &r;
  const core::Variant* best = nullptr;
  for (const core::Variant& v : dispatch::variants())
    if (d && v.op == op && v.backend == backend && v.conformance.exact && (!best || v.priority > best->priority) &&
        v.requirements(v, *d, p).empty())
      best = &v;
  if (!best)
    throw BackendFailure(fmt::format("{}: no exact {} variant can run M = {} on device {}", backend, op, M, device));
  return *best;
}

GemmNvfp4Args validated_gemm_nvfp4(const TensorView& a, const TensorView& a_scale, const TensorView& b,
                                   const TensorView& b_scale, float alpha, const std::optional<TensorView>& bias,
                                   const TensorView& c) {
  constexpr std::string_view op = "gemm_nvfp4";
  auto [M, N, half_k] = check_operands(op, a, b, DType::U8);
  int64_t K = detail::derived_extent(op, "K (two E2M1 codes a byte)", half_k, 2);
  if (K % 16 != 0) detail::fail(ErrorCode::ShapeMismatch, "{}: K = {} is not a multiple of 16 (the NVFP4 block)", op, K);
  if (K > kMaxNvfp4K)
    detail::fail(ErrorCode::ShapeMismatch, "{}: K = {} exceeds {}, the largest K whose exact sum fits in int64", op, K, kMaxNvfp4K);
  detail::check_arg(op, "a_scale", a_scale, {DType::F8_E4M3}, {M, K / 16});
  detail::check_arg(op, "b_scale", b_scale, {DType::F8_E4M3}, {N, K / 16});
  check_alpha(op, alpha);
  check_epilogue(op, bias, c, M, N);
  return GemmNvfp4Args{a.as<const uint8_t>(), a_scale.as<const uint8_t>(), b.as<const uint8_t>(),
                       b_scale.as<const uint8_t>(), M, N, K, alpha,
                       bias ? bias->as<const float>() : nullptr, out_type(c.dtype), c.data};
}
} // namespace detail

void gemm_nvfp4(const TensorView& a, const TensorView& a_scale, const TensorView& b,
                const TensorView& b_scale, float alpha, const std::optional<TensorView>& bias,
                const TensorView& c_in, const RunOptions& options, RunInfo* info) {
  detail::ResidentScope resident(options); // its operands go to the kernels as they are
  detail::StridedViews strided("gemm_nvfp4"); // once packed (strided_views.h)
  const TensorView c = strided.out("c", c_in);
  detail::GemmNvfp4Args args =
      detail::validated_gemm_nvfp4(strided.in("a", a), strided.in("a_scale", a_scale), strided.in("b", b),
                                   strided.in("b_scale", b_scale), alpha, strided.in("bias", bias), c);
  const dispatch::Problem p = problem("gemm_nvfp4", args.M, args.N, args.K, false);
  if (detail::nothing_to_compute(p, options, info, {c.numel()})) return;
  detail::execute(p, options, info, args);
  strided.store();
}

void gemm_fp8(const TensorView& a_in, const TensorView& b_in, float alpha,
              const std::optional<TensorView>& bias_in, const TensorView& c_in, const RunOptions& options,
              RunInfo* info) {
  constexpr std::string_view op = "gemm_fp8";
  detail::ResidentScope resident(options); // its operands go to the kernels as they are
  detail::StridedViews strided(op);        // once packed (strided_views.h)
  const TensorView a = strided.in("a", a_in), b = strided.in("b", b_in), c = strided.out("c", c_in);
  const std::optional<TensorView> bias = strided.in("bias", bias_in);
  auto [M, N, K] = check_operands(op, a, b, DType::F8_E4M3);
  check_alpha(op, alpha);
  check_epilogue(op, bias, c, M, N);
  if (detail::nothing_to_compute(problem(op, M, N, K, false), options, info, {c.numel()})) return;
  detail::execute(problem(op, M, N, K, false), options, info,
                  detail::GemmFp8Args{a.as<const uint8_t>(), b.as<const uint8_t>(), M, N, K, alpha,
                                      bias ? bias->as<const float>() : nullptr, out_type(c.dtype), c.data});
  strided.store();
}

void gemm_fp8_block(const TensorView& a_in, const TensorView& a_scale_in, const TensorView& b_in,
                    const TensorView& b_scale_in, const std::optional<TensorView>& bias_in,
                    const TensorView& c_in, const RunOptions& options, RunInfo* info) {
  constexpr std::string_view op = "gemm_fp8";
  detail::ResidentScope resident(options); // its operands go to the kernels as they are
  detail::StridedViews strided(op);        // once packed (strided_views.h)
  const TensorView a = strided.in("a", a_in), a_scale = strided.in("a_scale", a_scale_in), b = strided.in("b", b_in),
                   b_scale = strided.in("b_scale", b_scale_in), c = strided.out("c", c_in);
  const std::optional<TensorView> bias = strided.in("bias", bias_in);
  auto [M, N, K] = check_operands(op, a, b, DType::F8_E4M3);
  int64_t kbs = (K + 127) / 128;
  detail::check_arg(op, "a_scale", a_scale, {DType::F32}, {M, kbs});
  detail::check_arg(op, "b_scale", b_scale, {DType::F32}, {(N + 127) / 128, kbs});
  // The scales are small (1/128 of a row each way): a resident one is read back for the check.
  for (const auto& [name, s] : {std::pair{"a_scale", &a_scale}, std::pair{"b_scale", &b_scale}}) {
    const std::vector<std::byte> host = detail::host_bytes(op, name, *s);
    detail::check_finite(op, name, reinterpret_cast<const float*>(host.data()), s->shape);
  }
  check_epilogue(op, bias, c, M, N);
  if (detail::nothing_to_compute(problem(op, M, N, K, true), options, info, {c.numel()})) return;
  detail::execute(problem(op, M, N, K, true), options, info,
                  detail::GemmFp8BlockArgs{a.as<const uint8_t>(), a_scale.as<const float>(), b.as<const uint8_t>(),
                                           b_scale.as<const float>(), M, N, K,
                                           bias ? bias->as<const float>() : nullptr, out_type(c.dtype), c.data});
  strided.store();
}

namespace detail {

TensorMap named_gemm_nvfp4(NamedCall& call, const RunOptions& options, RunInfo* info) {
  std::optional<float> alpha = call.param_float("alpha");
  DType out_t = out_dtype(call);
  // b_layout: prepack B first (tessera/weights.h) and call the packed overload, so kbench can
  // time a layout (the packing is host work, outside the device time).
  std::string layout = call.param_choice("b_layout", {"checkpoint", "gemv_kblock_interleaved"}, "");
  call.finish_params();
  const TensorView& a = call.tensor("a");
  const TensorView& b = call.tensor("b");
  // Engines pass alpha = input_scale * weight_scale_2; the convenience form derives it.
  if (!alpha) alpha = call.scalar("a_scale_2") * call.scalar("b_scale_2");
  TensorView c = call.output("c", out_t, {extent(a, 0), extent(b, 0)});
  if (!layout.empty()) {
    PackTarget target{options, std::max<int64_t>(1, extent(a, 0)), layout};
    PackedWeight w = pack_nvfp4_weight(b, call.tensor("b_scale"), 1.0f, ScaleLayout::Linear, target);
    gemm_nvfp4(a, call.tensor("a_scale"), w, *alpha, call.optional_view("bias"), c, options, info);
  } else {
    gemm_nvfp4(a, call.tensor("a_scale"), b, call.tensor("b_scale"), *alpha, call.optional_view("bias"), c,
               options, info);
  }
  return call.results();
}

TensorMap named_gemm_fp8(NamedCall& call, const RunOptions& options, RunInfo* info) {
  DType out_t = out_dtype(call);
  call.finish_params();
  const TensorView& a = call.tensor("a");
  const TensorView& b = call.tensor("b");
  const TensorView& sa = call.tensor("a_scale");
  const TensorView& sb = call.tensor("b_scale");
  TensorView c = call.output("c", out_t, {extent(a, 0), extent(b, 0)});
  auto per_tensor = [](const TensorView& s) { return s.shape.size() <= 1 && s.numel() == 1; };
  if (per_tensor(sa) && per_tensor(sb)) {
    gemm_fp8(a, b, call.scalar("a_scale") * call.scalar("b_scale"), call.optional_view("bias"), c, options, info);
  } else if (sa.shape.size() == 2 && sb.shape.size() == 2) {
    gemm_fp8_block(a, sa, b, sb, call.optional_view("bias"), c, options, info);
  } else {
    fail(ErrorCode::ShapeMismatch,
         "gemm_fp8: a_scale {} and b_scale {} are neither both per-tensor (one element) nor both block "
         "scales (rank 2)", shape_str(sa.shape), shape_str(sb.shape));
  }
  return call.results();
}

} // namespace detail
} // namespace tessera
