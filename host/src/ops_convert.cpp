// convert: fp32 -> one of the scalar formats of numerics.md section 1.
#include "execute.h"
#include "named.h"
#include "strided_views.h"

namespace tessera {

namespace {
DType format_dtype(Format f) {
  switch (f) {
  case Format::E4M3: return DType::F8_E4M3;
  case Format::E5M2: return DType::F8_E5M2;
  case Format::E2M1: return DType::U8; // one code per byte, low nibble
  case Format::BF16: return DType::BF16;
  case Format::F16: return DType::F16;
  }
  return DType::U8;
}
} // namespace

void convert(const TensorView& x_in, Format to, const TensorView& y_in, const RunOptions& options,
             RunInfo* info) {
  constexpr std::string_view op = "convert";
  detail::ResidentScope resident(options); // x and y go to the kernel as they are
  detail::StridedViews strided(op);        // once packed (strided_views.h)
  const TensorView x = strided.in("x", x_in), y = strided.out("y", y_in);
  detail::check_dtype(op, "x", x, {DType::F32});
  detail::check_view(op, "x", x);
  detail::check_arg(op, "y", y, {format_dtype(to)}, x.shape);
  detail::execute(dispatch::Problem{op, {{"elements", x.numel()}}}, options, info,
                  detail::ConvertArgs{x.as<const float>(), x.numel(), to, y.data});
  strided.store();
}

namespace detail {
TensorMap named_convert(NamedCall& call, const RunOptions& options, RunInfo* info) {
  std::string to = call.param_choice("to", {"e4m3", "e5m2", "e2m1", "bf16", "f16"}, "");
  if (to.empty()) fail(ErrorCode::InvalidArgument, "convert: parameter 'to' is required (e4m3|e5m2|e2m1|bf16|f16)");
  call.finish_params();
  Format f = to == "e4m3" ? Format::E4M3
             : to == "e5m2" ? Format::E5M2
             : to == "e2m1" ? Format::E2M1
             : to == "bf16" ? Format::BF16
                            : Format::F16;
  const TensorView& x = call.tensor("x");
  TensorView y = call.output("y", format_dtype(f), x.shape);
  convert(x, f, y, options, info);
  return call.results();
}
} // namespace detail

} // namespace tessera
