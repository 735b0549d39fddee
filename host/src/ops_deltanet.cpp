// tessera::deltanet and its by-name adapter: validation, widening, the reference call.
#include <algorithm>
#include <cmath>
#include <vector>

#include "execute.h"
#include "fp32_operands.h"
#include "named.h"
#include "reference/deltanet.h"
#include "tessera/ops.h"
#include "strided_views.h"

namespace tessera {

namespace {
using detail::fail;
constexpr std::string_view kOp = "deltanet";

// Everything deltanet needs to know about its arguments once they have been checked.
struct Checked {
  ref::DeltaNetDims d;
  int64_t n_seqs;
  std::vector<int64_t> cu; // empty without cu_seqlens
  bool fused;
};

void need(const std::optional<TensorView>& t, std::string_view name, std::string_view why) {
  if (!t) fail(ErrorCode::MissingTensor, "{}: {} is missing ({})", kOp, name, why);
}

Checked check(const DeltaNetArgs& a, const TensorView& o, const TensorView& ht) {
  using namespace detail;
  check_dtype(kOp, "q", a.q, kFloatTypes);
  check_rank(kOp, "q", a.q, 4);
  check_view(kOp, "q", a.q);
  const int64_t B = a.q.shape[0], T = a.q.shape[1], H = a.q.shape[2], Dk = a.q.shape[3];
  if (H < 1 || Dk < 1)
    fail(ErrorCode::ShapeMismatch,
         "{}: q has shape {}, expected [B, T, H, Dk] with H >= 1 and Dk >= 1", kOp,
         shape_str(a.q.shape));
  check_arg(kOp, "k", a.k, kFloatTypes, a.q.shape);

  check_dtype(kOp, "v", a.v, kFloatTypes);
  check_rank(kOp, "v", a.v, 4);
  check_view(kOp, "v", a.v);
  const int64_t HV = a.v.shape[2], Dv = a.v.shape[3];
  if (a.v.shape[0] != B || a.v.shape[1] != T)
    fail(ErrorCode::ShapeMismatch,
         "{}: v has shape {}, expected [B, T, HV, Dv] with B = {}, T = {} (from q)", kOp,
         shape_str(a.v.shape), B, T);
  if (HV < 1 || Dv < 1)
    fail(ErrorCode::ShapeMismatch, "{}: v has shape {}, expected HV >= 1 and Dv >= 1", kOp,
         shape_str(a.v.shape));
  if (HV % H != 0)
    fail(ErrorCode::ShapeMismatch, "{}: v has shape {}, expected HV a multiple of H = {}", kOp,
         shape_str(a.v.shape), H);

  // Gating: g and beta directly, or the raw inputs the model derives them from; never both,
  // since which one wins would be a silent choice.
  const bool direct = a.g || a.beta;
  const bool fused = a.a || a.b || a.A_log || a.dt_bias;
  if (direct && fused)
    fail(ErrorCode::InvalidArgument,
         "{}: g/beta and the fused gating inputs (a, b, A_log, dt_bias) are both given", kOp);
  if (!direct && !fused)
    fail(ErrorCode::MissingTensor,
         "{}: no gating given: pass g and beta, or a, b, A_log and dt_bias", kOp);
  const Shape gate_shape{B, T, HV}, head_shape{HV};
  if (direct) {
    need(a.g, "g", "beta is given; the two come together");
    need(a.beta, "beta", "g is given; the two come together");
    check_arg(kOp, "g", *a.g, {DType::F32}, gate_shape);
    check_arg(kOp, "beta", *a.beta, {DType::F32}, gate_shape);
  } else {
    constexpr std::string_view why = "the fused gating needs all of a, b, A_log and dt_bias";
    need(a.a, "a", why);
    need(a.b, "b", why);
    need(a.A_log, "A_log", why);
    need(a.dt_bias, "dt_bias", why);
    check_arg(kOp, "a", *a.a, {DType::F32}, gate_shape);
    check_arg(kOp, "b", *a.b, {DType::F32}, gate_shape);
    check_arg(kOp, "A_log", *a.A_log, {DType::F32}, head_shape);
    check_arg(kOp, "dt_bias", *a.dt_bias, {DType::F32}, head_shape);
  }

  Checked c{{B, T, H, HV, Dk, Dv}, B, {}, fused};
  if (a.cu_seqlens) {
    // Packed sequences live on the T axis of a single batch entry (fla's convention).
    if (B != 1)
      fail(ErrorCode::InvalidArgument, "{}: cu_seqlens requires B == 1, but q has shape {}", kOp,
           shape_str(a.q.shape));
    c.cu = read_seqlens(kOp, "cu_seqlens", *a.cu_seqlens, T);
    c.n_seqs = static_cast<int64_t>(c.cu.size()) - 1;
  }
  if (a.scale && !std::isfinite(*a.scale))
    fail(ErrorCode::InvalidArgument, "{}: scale is {}, expected a finite number", kOp, *a.scale);

  const Shape state_shape{c.n_seqs, HV, Dk, Dv};
  if (a.h0) check_arg(kOp, "h0", *a.h0, {DType::F32}, state_shape);
  check_arg(kOp, "o", o, kFloatTypes, {B, T, HV, Dv});
  check_arg(kOp, "ht", ht, {DType::F32}, state_shape);
  check_outputs_apart(kOp, {{"o", &o}, {"ht", &ht}});
  return c;
}
} // namespace

void deltanet(const DeltaNetArgs& args_in, const TensorView& o_in, const TensorView& ht_in,
              const RunOptions& options, RunInfo* info) {
  detail::ResidentScope resident(options); // every tensor may be resident (fp32_operands.h)
  detail::StridedViews strided(kOp);       // and strided (strided_views.h)
  DeltaNetArgs args = args_in;
  args.q = strided.in("q", args.q);
  args.k = strided.in("k", args.k);
  args.v = strided.in("v", args.v);
  args.g = strided.in("g", args.g);
  args.beta = strided.in("beta", args.beta);
  args.a = strided.in("a", args.a);
  args.b = strided.in("b", args.b);
  args.A_log = strided.in("A_log", args.A_log);
  args.dt_bias = strided.in("dt_bias", args.dt_bias);
  args.h0 = strided.in("h0", args.h0);
  args.cu_seqlens = strided.in("cu_seqlens", args.cu_seqlens);
  const TensorView o = strided.out("o", o_in), ht = strided.out("ht", ht_in);
  const Checked c = check(args, o, ht);
  const ref::DeltaNetDims& d = c.d;

  // Inputs and outputs are distinct buffers while the kernels run (fp32_operands.h), so any output
  // may alias any input (ht over h0 is how an engine updates its cache in place).
  const detail::F32Input q(kOp, "q", args.q), k(kOp, "k", args.k), v(kOp, "v", args.v), h0(kOp, "h0", args.h0);
  std::vector<float> g, beta;
  std::optional<detail::F32Input> g_in, beta_in;
  if (c.fused) {
    // The gating is computed on the host: resident a and b (B * T * HV values each) are read back
    // for it, and g and beta go to the device with the call.
    g.resize(static_cast<size_t>(d.B * d.T * d.HV));
    beta.resize(g.size());
    using detail::host_f32;
    const std::vector<float> a = host_f32(kOp, "a", *args.a), b = host_f32(kOp, "b", *args.b);
    const std::vector<float> A_log = host_f32(kOp, "A_log", *args.A_log);
    const std::vector<float> dt_bias = host_f32(kOp, "dt_bias", *args.dt_bias);
    ref::deltanet_gating(a.data(), b.data(), A_log.data(), dt_bias.data(), d.B * d.T, d.HV, g.data(), beta.data());
  } else {
    g_in.emplace(kOp, "g", args.g);
    beta_in.emplace(kOp, "beta", args.beta);
  }
  const float scale = args.scale ? *args.scale : ref::default_scale(d.Dk);

  detail::F32Output out(kOp, "o", o), state(kOp, "ht", ht);
  // Selection sees the longest sequence (decode vs prefill) besides the extents.
  int64_t longest = d.T;
  if (!c.cu.empty()) {
    longest = 0;
    for (size_t n = 0; n + 1 < c.cu.size(); ++n) longest = std::max(longest, c.cu[n + 1] - c.cu[n]);
  }
  dispatch::Problem problem{kOp, {{"T", longest}, {"tokens", d.B * d.T}, {"n_seqs", c.n_seqs}, {"H", d.H},
                                  {"HV", d.HV}, {"Dk", d.Dk}, {"Dv", d.Dv},
                                  {"elements", std::max(d.B * d.T * d.HV * std::max(d.Dk, d.Dv), c.n_seqs * d.HV * d.Dk * d.Dv)}}};
  detail::execute(problem, options, info,
                  detail::DeltaNetRunArgs{q.data(), k.data(), v.data(), c.fused ? g.data() : g_in->data(),
                                          c.fused ? beta.data() : beta_in->data(), h0.data(),
                                          c.cu.empty() ? nullptr : c.cu.data(), c.n_seqs, d, scale, args.l2norm,
                                          out.data(), state.data()});
  out.store();
  state.store();
  strided.store();
  detail::note_traffic(info);
}

namespace detail {

TensorMap named_deltanet(NamedCall& call, const RunOptions& options, RunInfo* info) {
  DeltaNetArgs args;
  const TensorView& q = call.tensor("q");
  args.q = q;
  args.k = call.tensor("k");
  const TensorView& v = call.tensor("v");
  args.v = v;
  // Inputs an operation does not use are ignored (named_ops.h), so a file holding both gating
  // forms runs with g and beta; a file holding neither is told what it needs.
  if (call.optional_tensor("g") || call.optional_tensor("beta")) {
    args.g = call.tensor("g");
    args.beta = call.tensor("beta");
  } else if (call.optional_tensor("a") || call.optional_tensor("b") ||
             call.optional_tensor("A_log") || call.optional_tensor("dt_bias")) {
    args.a = call.tensor("a");
    args.b = call.tensor("b");
    args.A_log = call.tensor("A_log");
    args.dt_bias = call.tensor("dt_bias");
  } else {
    fail(ErrorCode::MissingTensor,
         "{}: missing input tensors 'g' and 'beta' (or 'a', 'b', 'A_log', 'dt_bias')", call.op());
  }
  args.h0 = call.optional_view("h0");
  args.cu_seqlens = call.optional_view("cu_seqlens");
  args.scale = call.param_float("scale");
  args.l2norm = call.param_flag("l2norm", false);
  const DType out = out_dtype(call);
  call.finish_params();

  int64_t n_seqs = extent(q, 0);
  if (const TensorView* cu = call.optional_tensor("cu_seqlens"))
    n_seqs = cu->shape.size() == 1 && cu->shape[0] >= 1 ? cu->shape[0] - 1 : 0;
  TensorView o = call.output("o", out, {extent(q, 0), extent(q, 1), extent(v, 2), extent(v, 3)});
  TensorView ht = call.output("ht", DType::F32, {n_seqs, extent(v, 2), extent(q, 3), extent(v, 3)});
  tessera::deltanet(args, o, ht, options, info);
  return call.results();
}

} // namespace detail
} // namespace tessera
