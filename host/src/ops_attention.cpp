// tessera::attention (gated, causal or not, varlen, E4M3 K/V) and its by-name adapter.
#include <algorithm>
#include <cmath>
#include <vector>

#include "execute.h"
#include "fp32_operands.h"
#include "named.h"
#include "reference/attention.h"
#include "reference/activations.h"
#include "reference/formats.h"
#include "tessera/ops.h"
#include "strided_views.h"

namespace tessera {

namespace {
using detail::fail;
constexpr std::string_view kOp = "attention";
constexpr std::initializer_list<DType> kKvTypes = {DType::F32, DType::BF16, DType::F16,
                                                   DType::F8_E4M3};

struct Checked {
  ref::AttentionDims d;
  int64_t n_seqs;
  std::vector<int64_t> cu_q, cu_k; // empty without varlen
};

// Every query must see at least one key: otherwise its softmax is 0 / 0, which no engine means.
void check_lengths(int64_t T, int64_t S, bool causal, std::string_view where) {
  if (causal && S < T)
    fail(ErrorCode::InvalidArgument,
         "{}: causal attention needs at least as many keys as queries, but {} has {} queries and "
         "{} keys (query t sees keys j <= t + (S - T))",
         kOp, where, T, S);
  if (!causal && S == 0 && T > 0)
    fail(ErrorCode::InvalidArgument, "{}: {} has {} queries and no keys", kOp, where, T);
}

// E4M3 K/V carry a per-tensor scale; for any other dtype a scale other than 1 would be silently
// ignored, so it is refused instead.
void check_kv_scale(const TensorView& t, std::string_view name, std::string_view scale_name,
                    float scale) {
  if (!std::isfinite(scale))
    fail(ErrorCode::InvalidArgument, "{}: {} is {}, expected a finite number", kOp, scale_name,
         scale);
  if (t.dtype != DType::F8_E4M3 && scale != 1.0f)
    fail(ErrorCode::InvalidArgument, "{}: {} = {} applies only to F8_E4M3 {}, but {} has dtype {}",
         kOp, scale_name, scale, name, name, dtype_name(t.dtype));
}

Checked check(const AttentionArgs& a, const TensorView& o, const std::optional<TensorView>& lse) {
  using namespace detail;
  check_dtype(kOp, "q", a.q, kFloatTypes);
  check_rank(kOp, "q", a.q, 4);
  check_view(kOp, "q", a.q);
  const int64_t B = a.q.shape[0], T = a.q.shape[1], Hq = a.q.shape[2], D = a.q.shape[3];
  if (Hq < 1 || D < 1)
    fail(ErrorCode::ShapeMismatch,
         "{}: q has shape {}, expected [B, T, Hq, D] with Hq >= 1 and D >= 1", kOp,
         shape_str(a.q.shape));
  check_dtype(kOp, "k", a.k, kKvTypes);
  check_rank(kOp, "k", a.k, 4);
  check_view(kOp, "k", a.k);
  const int64_t S = a.k.shape[1], Hkv = a.k.shape[2];
  if (a.k.shape[0] != B || a.k.shape[3] != D || Hkv < 1)
    fail(ErrorCode::ShapeMismatch,
         "{}: k has shape {}, expected [B, S, Hkv, D] with B = {}, D = {} (from q), Hkv >= 1", kOp,
         shape_str(a.k.shape), B, D);
  if (Hq % Hkv != 0)
    fail(ErrorCode::ShapeMismatch, "{}: k has shape {}, expected Hkv dividing Hq = {}", kOp,
         shape_str(a.k.shape), Hq);
  check_arg(kOp, "v", a.v, kKvTypes, a.k.shape);
  check_kv_scale(a.k, "k", "k_scale", a.k_scale);
  check_kv_scale(a.v, "v", "v_scale", a.v_scale);
  if (a.gate) check_arg(kOp, "gate", *a.gate, kFloatTypes, a.q.shape);

  Checked c{{B, T, S, Hq, Hkv, D}, B, {}, {}};
  if (a.cu_seqlens_q.has_value() != a.cu_seqlens_k.has_value())
    fail(ErrorCode::InvalidArgument,
         "{}: cu_seqlens_q and cu_seqlens_k come together; only {} is given", kOp,
         a.cu_seqlens_q ? "cu_seqlens_q" : "cu_seqlens_k");
  if (a.cu_seqlens_q) {
    if (B != 1)
      fail(ErrorCode::InvalidArgument,
           "{}: cu_seqlens_q/cu_seqlens_k require B == 1, but q has shape {}", kOp,
           shape_str(a.q.shape));
    c.cu_q = read_seqlens(kOp, "cu_seqlens_q", *a.cu_seqlens_q, T);
    c.cu_k = read_seqlens(kOp, "cu_seqlens_k", *a.cu_seqlens_k, S);
    if (c.cu_q.size() != c.cu_k.size())
      fail(ErrorCode::ShapeMismatch,
           "{}: cu_seqlens_q has {} entries and cu_seqlens_k {}; both are [N + 1]", kOp,
           c.cu_q.size(), c.cu_k.size());
    c.n_seqs = static_cast<int64_t>(c.cu_q.size()) - 1;
    for (int64_t n = 0; n < c.n_seqs; ++n)
      check_lengths(c.cu_q[n + 1] - c.cu_q[n], c.cu_k[n + 1] - c.cu_k[n], a.causal,
                    fmt::format("sequence {}", n));
  } else {
    check_lengths(T, S, a.causal, "the batch");
  }
  if (a.scale && !std::isfinite(*a.scale))
    fail(ErrorCode::InvalidArgument, "{}: scale is {}, expected a finite number", kOp, *a.scale);
  check_arg(kOp, "o", o, kFloatTypes, a.q.shape);
  if (lse) check_arg(kOp, "lse", *lse, {DType::F32}, {B, T, Hq});
  check_outputs_apart(kOp, {{"o", &o}, {"lse", lse ? &*lse : nullptr}});
  return c;
}

} // namespace

void attention(const AttentionArgs& args_in, const TensorView& o_in, const std::optional<TensorView>& lse_in,
               const RunOptions& options, RunInfo* info) {
  detail::ResidentScope resident(options); // every tensor may be resident (fp32_operands.h)
  detail::StridedViews strided(kOp);       // and strided (strided_views.h)
  AttentionArgs args = args_in;
  args.q = strided.in("q", args.q);
  args.k = strided.in("k", args.k);
  args.v = strided.in("v", args.v);
  args.gate = strided.in("gate", args.gate);
  args.cu_seqlens_q = strided.in("cu_seqlens_q", args.cu_seqlens_q);
  args.cu_seqlens_k = strided.in("cu_seqlens_k", args.cu_seqlens_k);
  const TensorView o = strided.out("o", o_in);
  const std::optional<TensorView> lse = strided.out("lse", lse_in);
  const Checked c = check(args, o, lse);
  const ref::AttentionDims& d = c.d;

  const float scale = args.scale ? *args.scale : ref::default_scale(d.D);
  const bool varlen = !c.cu_q.empty();

  int64_t longest_q = d.T, longest_k = d.S;
  if (varlen) {
    longest_q = longest_k = 0;
    for (int64_t n = 0; n < c.n_seqs; ++n) {
      longest_q = std::max(longest_q, c.cu_q[n + 1] - c.cu_q[n]);
      longest_k = std::max(longest_k, c.cu_k[n + 1] - c.cu_k[n]);
    }
  }
  const dispatch::Problem problem{kOp, {{"T", longest_q}, {"S", longest_k}, {"n_seqs", c.n_seqs}, {"Hq", d.Hq},
                                  {"Hkv", d.Hkv}, {"D", d.D}, {"causal", args.causal ? 1 : 0},
                                  {"elements", std::max(d.B * d.T * d.Hq * d.D, d.B * d.S * d.Hkv * d.D)}}};
  if (detail::nothing_to_compute(problem, options, info, {o.numel(), lse ? lse->numel() : 0})) return;
  // Inputs and outputs are distinct buffers while the kernels run (fp32_operands.h): outputs may
  // alias inputs, and nothing is written before the end. K and V go to the backend as stored, so
  // a device reads the cache at its own width.
  const detail::F32Input q(kOp, "q", args.q), gate(kOp, "gate", args.gate);
  detail::F32Output out(kOp, "o", o), lse_out(kOp, "lse", lse);
  detail::execute(problem, options, info,
                  detail::AttentionRunArgs{q.data(), args.k.data, args.v.data, args.k.dtype, args.v.dtype, args.k_scale,
                                           args.v_scale, gate.data(), varlen ? c.cu_q.data() : nullptr,
                                           varlen ? c.cu_k.data() : nullptr, c.n_seqs, d, args.causal, scale,
                                           out.data(), lse_out.data()});
  out.store();
  lse_out.store();
  strided.store();
  detail::note_traffic(info);
}

namespace detail {

TensorMap named_attention(NamedCall& call, const RunOptions& options, RunInfo* info) {
  AttentionArgs args;
  const TensorView& q = call.tensor("q");
  args.q = q;
  args.k = call.tensor("k");
  args.v = call.tensor("v");
  args.gate = call.optional_view("gate");
  if (call.optional_tensor("k_scale")) args.k_scale = call.scalar("k_scale");
  if (call.optional_tensor("v_scale")) args.v_scale = call.scalar("v_scale");
  args.cu_seqlens_q = call.optional_view("cu_seqlens_q");
  args.cu_seqlens_k = call.optional_view("cu_seqlens_k");
  args.causal = call.param_flag("causal", true);
  args.scale = call.param_float("scale");
  const bool want_lse = call.param_flag("lse", false);
  const DType out = out_dtype(call);
  call.finish_params();

  // o has q's shape whatever it is; the typed call refuses a bad one with a clear message.
  TensorView o = call.output("o", out, q.shape);
  std::optional<TensorView> lse;
  if (want_lse) {
    const Shape& s = q.shape;
    lse = call.output("lse", DType::F32, Shape(s.begin(), s.begin() + std::min<size_t>(s.size(), 3)));
  }
  tessera::attention(args, o, lse, options, info);
  return call.results();
}

} // namespace detail
} // namespace tessera
