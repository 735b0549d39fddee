// NVFP4 and FP8 quantizers and dequantizers (numerics.md sections 2 and 3).
#include <cmath>

#include "execute.h"
#include "fp32_operands.h"
#include "named.h"
#include "reference/quantize.h"
#include "strided_views.h"

namespace tessera {

namespace {
// [R, C] floating input as fp32 for the kernels: every recipe refuses NaN and inf. A host x is
// checked here; a resident one by the device's own scan (the same error, device_found_non_finite).
detail::F32Input finite_matrix(std::string_view op, const TensorView& x) {
  detail::check_dtype(op, "x", x, detail::kFloatTypes);
  detail::check_rank(op, "x", x, 2);
  detail::check_view(op, "x", x);
  detail::F32Input v(op, "x", x);
  if (v.on_host()) detail::check_finite(op, "x", v.data(), x.shape);
  return v;
}

void check_nvfp4_cols(std::string_view op, std::string_view name, int64_t cols) {
  if (cols % 16 != 0)
    detail::fail(ErrorCode::ShapeMismatch, "{}: {} has {} columns, not a multiple of 16 (the NVFP4 block)", op, name, cols);
}

ref::Fp8Grouping grouping(Fp8Recipe r) {
  switch (r) {
  case Fp8Recipe::Tensor: return ref::Fp8Grouping::Tensor;
  case Fp8Recipe::Token128: return ref::Fp8Grouping::Token128;
  case Fp8Recipe::Block128: return ref::Fp8Grouping::Block128;
  }
  return ref::Fp8Grouping::Tensor;
}

// The shape the scales of a recipe have; per-tensor accepts [] and [1].
void check_fp8_scales(std::string_view op, const TensorView& scales, Fp8Recipe recipe, int64_t rows,
                      int64_t cols) {
  constexpr int64_t g = 128;
  if (recipe == Fp8Recipe::Tensor) {
    detail::check_dtype(op, "scales", scales, {DType::F32});
    if (scales.shape.size() > 1 || scales.numel() != 1)
      detail::fail(ErrorCode::ShapeMismatch, "{}: per-tensor scales have shape {}, expected [] or [1]", op, shape_str(scales.shape));
    detail::check_view(op, "scales", scales);
    return;
  }
  Shape want = recipe == Fp8Recipe::Token128 ? Shape{rows, (cols + g - 1) / g}
                                             : Shape{(rows + g - 1) / g, (cols + g - 1) / g};
  detail::check_arg(op, "scales", scales, {DType::F32}, want);
}
} // namespace

float quantize_nvfp4(const TensorView& x_in, Nvfp4Recipe recipe, std::optional<float> static_scale_2,
                     const TensorView& q_in, const TensorView& scale_in, const RunOptions& options,
                     RunInfo* info) {
  constexpr std::string_view op = "quantize_nvfp4";
  detail::ResidentScope resident(options); // x on the device is widened and scanned there
  detail::StridedViews strided(op);        // once packed (strided_views.h)
  const TensorView x = strided.in("x", x_in), q = strided.out("q", q_in), scale = strided.out("scale", scale_in);
  if (static_scale_2 && !(std::isfinite(*static_scale_2) && *static_scale_2 > 0.0f))
    detail::fail(ErrorCode::InvalidArgument, "{}: static scale_2 = {} must be finite and > 0", op, *static_scale_2);
  detail::check_dtype(op, "x", x, detail::kFloatTypes);
  detail::check_rank(op, "x", x, 2);
  int64_t rows = x.shape[0], cols = x.shape[1];
  check_nvfp4_cols(op, "x", cols);
  detail::check_arg(op, "q", q, {DType::U8}, {rows, cols / 2});
  detail::check_arg(op, "scale", scale, {DType::F8_E4M3}, {rows, cols / 16});
  detail::check_outputs_apart(op, {{"q", &q}, {"scale", &scale}});
  const detail::F32Input v = finite_matrix(op, x);
  const dispatch::Problem problem{op, {{"rows", rows}, {"cols", cols}}};
  // An empty x: scale_2 is still an output, the reference's for no elements.
  if (detail::nothing_to_compute(problem, options, info, {q.numel()}))
    return static_scale_2 ? *static_scale_2 : ref::nvfp4_scale_2(nullptr, 0, recipe == Nvfp4Recipe::FourOverSix);
  float scale_2 = 0.0f;
  detail::execute(problem, options, info,
                  detail::QuantizeNvfp4Args{v.data(), rows, cols, recipe == Nvfp4Recipe::FourOverSix, static_scale_2,
                                            q.as<uint8_t>(), scale.as<uint8_t>(), &scale_2});
  strided.store();
  return scale_2;
}

void dequantize_nvfp4(const TensorView& q_in, const TensorView& scale_in, float scale_2,
                      const TensorView& y_in, const RunOptions& options, RunInfo* info) {
  constexpr std::string_view op = "dequantize_nvfp4";
  detail::ResidentScope resident(options); // q, scale and y go to the kernel as they are
  detail::StridedViews strided(op);        // once packed (strided_views.h)
  const TensorView q = strided.in("q", q_in), scale = strided.in("scale", scale_in), y = strided.out("y", y_in);
  detail::check_dtype(op, "q", q, {DType::U8});
  detail::check_rank(op, "q", q, 2);
  detail::check_view(op, "q", q);
  int64_t rows = q.shape[0], cols = detail::derived_extent(op, "cols (two codes a byte)", q.shape[1], 2);
  check_nvfp4_cols(op, "q (two codes a byte)", cols);
  detail::check_arg(op, "scale", scale, {DType::F8_E4M3}, {rows, cols / 16});
  detail::check_arg(op, "y", y, {DType::F32}, {rows, cols});
  const dispatch::Problem problem{op, {{"rows", rows}, {"cols", cols}}};
  if (detail::nothing_to_compute(problem, options, info, {y.numel()})) return;
  detail::execute(problem, options, info,
                  detail::DequantizeNvfp4Args{q.as<const uint8_t>(), scale.as<const uint8_t>(), scale_2, rows, cols,
                                              y.as<float>()});
  strided.store();
}

void quantize_fp8(const TensorView& x_in, Fp8Recipe recipe, const TensorView& q_in,
                  const TensorView& scales_in, const RunOptions& options, RunInfo* info) {
  constexpr std::string_view op = "quantize_fp8";
  detail::ResidentScope resident(options); // x on the device is widened and scanned there
  detail::StridedViews strided(op);        // once packed (strided_views.h)
  const TensorView x = strided.in("x", x_in), q = strided.out("q", q_in), scales = strided.out("scales", scales_in);
  detail::check_dtype(op, "x", x, detail::kFloatTypes);
  detail::check_rank(op, "x", x, 2);
  int64_t rows = x.shape[0], cols = x.shape[1];
  detail::check_arg(op, "q", q, {DType::F8_E4M3}, x.shape);
  check_fp8_scales(op, scales, recipe, rows, cols);
  detail::check_outputs_apart(op, {{"q", &q}, {"scales", &scales}});
  const detail::F32Input v = finite_matrix(op, x);
  const dispatch::Problem problem{op, {{"rows", rows}, {"cols", cols}}};
  // An empty x: a per-tensor scale is still an output, the reference's for no elements.
  if (detail::nothing_to_compute(problem, options, info, {q.numel(), recipe == Fp8Recipe::Tensor ? 0 : scales.numel()})) {
    if (recipe == Fp8Recipe::Tensor) {
      float scale = 0.0f;
      ref::quantize_fp8(nullptr, 0, 0, grouping(recipe), nullptr, &scale);
      detail::store_bytes(op, "scales", &scale, scales);
      strided.store();
    }
    return;
  }
  detail::execute(problem, options, info,
                  detail::QuantizeFp8Args{v.data(), rows, cols, grouping(recipe), q.as<uint8_t>(), scales.as<float>()});
  strided.store();
}

void dequantize_fp8(const TensorView& q_in, const TensorView& scales_in, Fp8Recipe recipe,
                    const TensorView& y_in, const RunOptions& options, RunInfo* info) {
  constexpr std::string_view op = "dequantize_fp8";
  detail::ResidentScope resident(options); // q, scales and y go to the kernel as they are
  detail::StridedViews strided(op);        // once packed (strided_views.h)
  const TensorView q = strided.in("q", q_in), scales = strided.in("scales", scales_in), y = strided.out("y", y_in);
  detail::check_dtype(op, "q", q, {DType::F8_E4M3});
  detail::check_rank(op, "q", q, 2);
  detail::check_view(op, "q", q);
  int64_t rows = q.shape[0], cols = q.shape[1];
  check_fp8_scales(op, scales, recipe, rows, cols);
  detail::check_arg(op, "y", y, {DType::F32}, q.shape);
  const dispatch::Problem problem{op, {{"rows", rows}, {"cols", cols}}};
  if (detail::nothing_to_compute(problem, options, info, {y.numel()})) return;
  detail::execute(problem, options, info,
                  detail::DequantizeFp8Args{q.as<const uint8_t>(), scales.as<const float>(), rows, cols, grouping(recipe),
                                            y.as<float>()});
  strided.store();
}

namespace detail {

namespace {
Fp8Recipe fp8_recipe(NamedCall& call) {
  std::string r = call.param_choice("recipe", {"fp8-tensor", "fp8-token128", "fp8-block128"}, "");
  if (r.empty()) fail(ErrorCode::InvalidArgument, "{}: parameter 'recipe' is required (fp8-tensor|fp8-token128|fp8-block128)", call.op());
  return r == "fp8-tensor" ? Fp8Recipe::Tensor : r == "fp8-token128" ? Fp8Recipe::Token128 : Fp8Recipe::Block128;
}

Shape fp8_scale_shape(Fp8Recipe r, int64_t rows, int64_t cols) {
  int64_t cg = (cols + 127) / 128;
  if (r == Fp8Recipe::Tensor) return {};
  return r == Fp8Recipe::Token128 ? Shape{rows, cg} : Shape{(rows + 127) / 128, cg};
}

} // namespace

TensorMap named_quantize_nvfp4(NamedCall& call, const RunOptions& options, RunInfo* info) {
  std::string r = call.param_choice("recipe", {"nvfp4", "nvfp4-4over6"}, "nvfp4");
  std::optional<float> static_scale_2 = call.param_float("scale_2");
  call.finish_params();
  const TensorView& x = call.tensor("x");
  check_rank(call.op(), "x", x, 2);
  int64_t rows = x.shape[0], cols = x.shape[1];
  TensorView q = call.output("x", DType::U8, {rows, cols / 2});
  TensorView s = call.output("x_scale", DType::F8_E4M3, {rows, cols / 16});
  call.scalar_output("x_scale_2", quantize_nvfp4(x, r == "nvfp4" ? Nvfp4Recipe::Nvfp4 : Nvfp4Recipe::FourOverSix,
                                                 static_scale_2, q, s, options, info));
  return call.results();
}

TensorMap named_dequantize_nvfp4(NamedCall& call, const RunOptions& options, RunInfo* info) {
  call.finish_params();
  const TensorView& q = call.tensor("x");
  const TensorView& s = call.tensor("x_scale");
  float scale_2 = call.scalar("x_scale_2");
  check_rank(call.op(), "x", q, 2);
  TensorView y = call.output("y", DType::F32, {q.shape[0], derived_extent(call.op(), "cols (two codes a byte)", q.shape[1], 2)});
  dequantize_nvfp4(q, s, scale_2, y, options, info);
  return call.results();
}

TensorMap named_quantize_fp8(NamedCall& call, const RunOptions& options, RunInfo* info) {
  Fp8Recipe r = fp8_recipe(call);
  call.finish_params();
  const TensorView& x = call.tensor("x");
  check_rank(call.op(), "x", x, 2);
  TensorView q = call.output("x", DType::F8_E4M3, x.shape);
  TensorView s = call.output("x_scale", DType::F32, fp8_scale_shape(r, x.shape[0], x.shape[1]));
  quantize_fp8(x, r, q, s, options, info);
  return call.results();
}

TensorMap named_dequantize_fp8(NamedCall& call, const RunOptions& options, RunInfo* info) {
  Fp8Recipe r = fp8_recipe(call);
  call.finish_params();
  const TensorView& q = call.tensor("x");
  const TensorView& s = call.tensor("x_scale");
  check_rank(call.op(), "x", q, 2);
  TensorView y = call.output("y", DType::F32, q.shape);
  dequantize_fp8(q, s, r, y, options, info);
  return call.results();
}

} // namespace detail
} // namespace tessera
