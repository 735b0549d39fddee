// tessera::conv1d (causal depthwise conv + SiLU) and its by-name adapter.
#include <algorithm>
#include <vector>

#include "execute.h"
#include "fp32_operands.h"
#include "named.h"
#include "reference/conv1d.h"
#include "tessera/ops.h"
#include "strided_views.h"

namespace tessera {

namespace {
constexpr std::string_view kOp = "conv1d";
} // namespace

void conv1d(const TensorView& x_in, const TensorView& w_in, const std::optional<TensorView>& bias_in,
            const std::optional<TensorView>& state_in, const TensorView& y_in,
            const TensorView& state_out_in, const RunOptions& options, RunInfo* info) {
  using namespace detail;
  ResidentScope resident(options); // every tensor may be resident (fp32_operands.h)
  StridedViews strided(kOp);       // and strided (strided_views.h)
  const TensorView x = strided.in("x", x_in), w = strided.in("w", w_in);
  const std::optional<TensorView> bias = strided.in("bias", bias_in), state = strided.in("state", state_in);
  const TensorView y = strided.out("y", y_in), state_out = strided.out("state_out", state_out_in);
  check_dtype(kOp, "x", x, kFloatTypes);
  check_rank(kOp, "x", x, 3);
  check_view(kOp, "x", x);
  const int64_t B = x.shape[0], T = x.shape[1], C = x.shape[2];
  check_dtype(kOp, "w", w, {DType::F32});
  check_rank(kOp, "w", w, 2);
  check_view(kOp, "w", w);
  const int64_t W = w.shape[1];
  if (w.shape[0] != C)
    fail(ErrorCode::ShapeMismatch, "{}: w has shape {}, expected [C, W] with C = {} (from x)", kOp,
         shape_str(w.shape), C);
  // W == 1 is a pointwise op with an empty state, which is still well defined; W == 0 is not.
  if (W < 1)
    fail(ErrorCode::ShapeMismatch, "{}: w has shape {}, expected a kernel width W >= 1", kOp,
         shape_str(w.shape));
  if (bias) check_arg(kOp, "bias", *bias, {DType::F32}, {C});
  const Shape state_shape{B, C, W - 1};
  if (state) check_arg(kOp, "state", *state, {DType::F32}, state_shape);
  check_arg(kOp, "y", y, kFloatTypes, {B, T, C});
  check_arg(kOp, "state_out", state_out, {DType::F32}, state_shape);
  check_outputs_apart(kOp, {{"y", &y}, {"state_out", &state_out}});

  // Inputs and outputs are distinct buffers while the kernel runs: state_out may alias state (the
  // usual in-place cache update), and nothing is written until the whole result exists.
  dispatch::Problem problem{kOp, {{"T", T}, {"B", B}, {"C", C}, {"W", W}, {"elements", std::max(B * T * C, C * W)}}};
  if (nothing_to_compute(problem, options, info, {y.numel(), state_out.numel()})) return;
  const F32Input xf(kOp, "x", x), wf(kOp, "w", w), bf(kOp, "bias", bias), sf(kOp, "state", state);
  F32Output yf(kOp, "y", y), so(kOp, "state_out", state_out);
  execute(problem, options, info,
          Conv1dRunArgs{xf.data(), wf.data(), bf.data(), sf.data(), B, T, C, W, yf.data(), so.data()});
  yf.store();
  so.store();
  strided.store();
  note_traffic(info);
}

namespace detail {

TensorMap named_conv1d(NamedCall& call, const RunOptions& options, RunInfo* info) {
  const TensorView& x = call.tensor("x");
  const TensorView& w = call.tensor("w");
  std::optional<TensorView> bias = call.optional_view("bias");
  std::optional<TensorView> state = call.optional_view("state");
  const DType out = out_dtype(call);
  call.finish_params();

  const int64_t B = extent(x, 0), T = extent(x, 1), C = extent(x, 2);
  const int64_t keep = extent(w, 1) > 0 ? extent(w, 1) - 1 : 0;
  TensorView y = call.output("y", out, {B, T, C});
  // The state is always written, so a caller can chain decode steps from the output file.
  TensorView state_out = call.output("state", DType::F32, {B, C, keep});
  tessera::conv1d(x, w, bias, state, y, state_out, options, info);
  return call.results();
}

} // namespace detail
} // namespace tessera
