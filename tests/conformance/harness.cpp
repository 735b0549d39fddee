// The bounded comparison of numerics.md section 7 and the lookup of each variant's declared class.
#include "conformance/common.h"

#include "conformance/attention_bound.h"
#include "conformance/deltanet_bound.h"
#include "reference/deltanet.h"
#include "reference/activations.h"
#include "reference/formats.h"

namespace tessera::conformance {

Tensor typed(DType t, Shape s, const std::vector<float>& v) {
  Tensor x(t, std::move(s));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DType::F32) x.as<float>()[i] = v[i];
    if (t == DType::BF16) x.as<uint16_t>()[i] = ref::f32_to_bf16(v[i]);
    if (t == DType::F16) x.as<uint16_t>()[i] = ref::f32_to_f16(v[i]);
  }
  return x;
}

double element(const Guarded& g, size_t i) {
  const std::byte* p = g.bytes.data() + Guarded::kGuard;
  switch (g.view.dtype) {
  case DType::F32: {
    float f;
    std::memcpy(&f, p + i * 4, 4);
    return f;
  }
  case DType::BF16: {
    uint16_t h;
    std::memcpy(&h, p + i * 2, 2);
    return ref::bf16_to_f32(h);
  }
  case DType::F16: {
    uint16_t h;
    std::memcpy(&h, p + i * 2, 2);
    return ref::f16_to_f32(h);
  }
  case DType::F8_E4M3: return ref::e4m3_to_f32(static_cast<uint8_t>(p[i]));
  default: return static_cast<double>(static_cast<uint8_t>(p[i]));
  }
}

double rel_l2(const Guarded& got, const Guarded& want) {
  if (got.view.dtype != want.view.dtype || got.view.shape != want.view.shape) return INFINITY;
  if (want.view.dtype != DType::F32 && want.view.dtype != DType::BF16 && want.view.dtype != DType::F16) {
    ADD_FAILURE() << "rel_l2 compares float outputs, got " << dtype_name(want.view.dtype);
    return NAN;
  }
  size_t n = static_cast<size_t>(shape_numel(want.view.shape));
  double err = 0.0, norm = 0.0;
  for (size_t i = 0; i < n; ++i) {
    double a = element(got, i), b = element(want, i);
    if (std::isnan(a) || std::isnan(b)) return INFINITY;
    err += (a - b) * (a - b);
    norm += b * b;
  }
  if (err == 0.0) return 0.0;
  return norm == 0.0 ? INFINITY : std::sqrt(err / norm);
}

const dispatch::Conformance& declared(std::string_view op, const RunOptions& o) {
  for (const auto& v : dispatch::variants())
    if (v.op == op && v.backend == o.backend && v.name == o.variant) return v.conformance;
  static const dispatch::Conformance exact{};
  ADD_FAILURE() << "no variant " << o.backend << ":" << op << ":" << o.variant << " in the registry";
  return exact;
}

void expect_within_bound(std::string_view op, const RunOptions& device,
                         const std::function<void(const RunOptions&, std::vector<Guarded>&)>& run) {
  const dispatch::Conformance& c = declared(op, device);
  if (c.exact) {
    expect_same_bytes(device, run);
    return;
  }
  std::vector<Guarded> got, want;
  run(device, got);
  run(RunOptions{"cpu", 0, ""}, want);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(got[i].guards_intact()) << "output " << i << " written out of bounds";
    double e = rel_l2(got[i], want[i]);
    EXPECT_LE(e, c.bound) << "output " << i << ": relative L2 error " << e << " exceeds the declared bound "
                          << c.bound << " of " << device.backend << ":" << op << ":" << device.variant;
  }
}

namespace {

// A tensor as the reference reads it: fp32, bf16 and fp16 widened, E4M3 as RN(e4m3 * scale).
std::vector<float> as_f32(const TensorView& t, float scale = 1.0f) {
  std::vector<float> out(static_cast<size_t>(shape_numel(t.shape)));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (t.dtype) {
    case DType::BF16: out[i] = ref::bf16_to_f32(static_cast<const uint16_t*>(t.data)[i]); break;
    case DType::F16: out[i] = ref::f16_to_f32(static_cast<const uint16_t*>(t.data)[i]); break;
    case DType::F8_E4M3: out[i] = ref::e4m3_to_f32(static_cast<const uint8_t*>(t.data)[i]) * scale; break;
    default: out[i] = static_cast<const float*>(t.data)[i]; break;
    }
  }
  return out;
}

std::vector<int64_t> offsets_i64(const TensorView& t) {
  std::vector<int64_t> out(static_cast<size_t>(shape_numel(t.shape)));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = t.dtype == DType::I32 ? static_cast<const int32_t*>(t.data)[i] : static_cast<const int64_t*>(t.data)[i];
  return out;
}

} // namespace

std::vector<std::vector<double>> attention_bounds(const AttentionArgs& a, bool with_lse,
                                                  const dispatch::Conformance& c) {
  const Shape& qs = a.q.shape;
  const Shape& ks = a.k.shape;
  const ref::AttentionDims d{qs[0], qs[1], ks[1], qs[2], ks[2], qs[3]};
  std::vector<float> q = as_f32(a.q), k = as_f32(a.k, a.k_scale), v = as_f32(a.v, a.v_scale), gate;
  if (a.gate) gate = as_f32(*a.gate);
  std::vector<int64_t> cu_q, cu_k;
  if (a.cu_seqlens_q) cu_q = offsets_i64(*a.cu_seqlens_q), cu_k = offsets_i64(*a.cu_seqlens_k);
  const int64_t n_seqs = cu_q.empty() ? d.B : static_cast<int64_t>(cu_q.size()) - 1;
  const float scale = a.scale ? *a.scale : ref::default_scale(d.D);
  AttentionBound b = attention_bound(q.data(), k.data(), v.data(), a.gate ? gate.data() : nullptr,
                                     cu_q.empty() ? nullptr : cu_q.data(), cu_k.empty() ? nullptr : cu_k.data(),
                                     n_seqs, d, a.causal, scale, c.operand_u);
  std::vector<std::vector<double>> out{std::move(b.o)};
  if (with_lse) out.push_back(std::move(b.lse));
  return out;
}

double bound_ratio(const Guarded& got, const Guarded& want, const std::vector<double>& bound) {
  if (got.view.dtype != DType::F32 || want.view.dtype != DType::F32 || got.view.shape != want.view.shape ||
      static_cast<size_t>(shape_numel(want.view.shape)) != bound.size())
    return INFINITY;
  return bound_ratio(static_cast<const float*>(got.view.data), static_cast<const float*>(want.view.data),
                     bound.data(), bound.size());
}

namespace {
// The device's outputs against the reference's, each element within its bound (`bounds` of the
// call's inputs, one vector per output, named by `names`; `section` of numerics.md derives them).
void expect_within_elementwise_bound(std::string_view op, const dispatch::Conformance& c, const RunOptions& device,
                                     const std::function<void(const RunOptions&, std::vector<Guarded>&)>& run,
                                     const std::function<std::vector<std::vector<double>>()>& bounds_of,
                                     const std::vector<std::string>& names, std::string_view section) {
  std::vector<Guarded> got, want;
  run(device, got);
  run(RunOptions{"cpu", 0, ""}, want);
  ASSERT_EQ(got.size(), want.size());
  const std::vector<std::vector<double>> bounds = bounds_of();
  ASSERT_EQ(bounds.size(), got.size());
  ASSERT_LE(got.size(), names.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(got[i].guards_intact()) << "output " << i << " written out of bounds";
    double r = bound_ratio(got[i], want[i], bounds[i]);
    EXPECT_LE(r, c.bound) << names[i] << ": error " << r << " times its bound (numerics.md \"" << section << "\") on "
                          << device.backend << ":" << op << ":" << device.variant;
  }
}
} // namespace

void expect_attention_within_bound(const AttentionArgs& a, bool with_lse, const RunOptions& device,
                                   const std::function<void(const RunOptions&, std::vector<Guarded>&)>& run) {
  const dispatch::Conformance& c = declared("attention", device);
  if (!c.attention()) {
    expect_within_bound("attention", device, run);
    return;
  }
  expect_within_elementwise_bound("attention", c, device, run, [&] { return attention_bounds(a, with_lse, c); },
                                  {"o", "lse"}, "Attention error bound");
}

std::vector<std::vector<double>> deltanet_bounds(const DeltaNetArgs& a, const dispatch::Conformance& c) {
  const Shape& qs = a.q.shape;
  const Shape& vs = a.v.shape;
  const ref::DeltaNetDims d{qs[0], qs[1], qs[2], vs[2], qs[3], vs[3]};
  std::vector<float> q = as_f32(a.q), k = as_f32(a.k), v = as_f32(a.v), g, beta, h0;
  // g and beta win when given (the operation's rule); otherwise the fused gating, computed by the
  // reference's function as the host computes it for every variant.
  if (a.g && a.beta) {
    g = as_f32(*a.g), beta = as_f32(*a.beta);
  } else {
    const int64_t tokens = d.B * d.T;
    g.resize(static_cast<size_t>(tokens * d.HV)), beta.resize(g.size());
    std::vector<float> ga = as_f32(*a.a), gb = as_f32(*a.b), A_log = as_f32(*a.A_log), dt = as_f32(*a.dt_bias);
    ref::deltanet_gating(ga.data(), gb.data(), A_log.data(), dt.data(), tokens, d.HV, g.data(), beta.data());
  }
  if (a.h0) h0 = as_f32(*a.h0);
  std::vector<int64_t> cu;
  if (a.cu_seqlens) cu = offsets_i64(*a.cu_seqlens);
  const int64_t n_seqs = cu.empty() ? d.B : static_cast<int64_t>(cu.size()) - 1;
  const float scale = a.scale ? *a.scale : ref::default_scale(d.Dk);
  DeltaNetBound b = deltanet_bound(q.data(), k.data(), v.data(), g.data(), beta.data(), a.h0 ? h0.data() : nullptr,
                                   cu.empty() ? nullptr : cu.data(), n_seqs, d, scale, a.l2norm,
                                   c.mixed == core::MixedBound::DeltaNetChunked ? DeltaNetForm::Chunked
                                                                                     : DeltaNetForm::Recurrent);
  std::vector<std::vector<double>> out;
  out.push_back(std::move(b.o));
  out.push_back(std::move(b.ht));
  return out;
}

void expect_deltanet_within_bound(const DeltaNetArgs& a, const RunOptions& device,
                                  const std::function<void(const RunOptions&, std::vector<Guarded>&)>& run) {
  const dispatch::Conformance& c = declared("deltanet", device);
  if (!c.deltanet()) {
    expect_within_bound("deltanet", device, run);
    return;
  }
  expect_within_elementwise_bound("deltanet", c, device, run, [&] { return deltanet_bounds(a, c); }, {"o", "ht"},
                                  "DeltaNet error bound");
}

} // namespace tessera::conformance
