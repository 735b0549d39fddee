// The CPU reference as a backend: the same argument structs the device backends take.
#include "execute.h"
#include "reference/attention.h"
#include "reference/conv1d.h"
#include "reference/deltanet.h"
#include "reference/formats.h"

#include <vector>

namespace tessera::detail::cpu {

void run(const ConvertArgs& a) {
  for (int64_t i = 0; i < a.n; ++i) {
    switch (a.to) {
    case Format::E4M3: static_cast<uint8_t*>(a.y)[i] = ref::f32_to_e4m3(a.x[i]); break;
    case Format::E5M2: static_cast<uint8_t*>(a.y)[i] = ref::f32_to_e5m2(a.x[i]); break;
    case Format::E2M1: static_cast<uint8_t*>(a.y)[i] = ref::f32_to_e2m1(a.x[i]); break;
    case Format::BF16: static_cast<uint16_t*>(a.y)[i] = ref::f32_to_bf16(a.x[i]); break;
    case Format::F16: static_cast<uint16_t*>(a.y)[i] = ref::f32_to_f16(a.x[i]); break;
    }
  }
}

void run(const QuantizeNvfp4Args& a) {
  float s2 = a.static_scale_2 ? *a.static_scale_2 : ref::nvfp4_scale_2(a.x, a.rows * a.cols, a.four_over_six);
  if (a.four_over_six)
    ref::quantize_nvfp4_4over6(a.x, a.rows, a.cols, s2, a.q, a.scale);
  else
    ref::quantize_nvfp4(a.x, a.rows, a.cols, s2, a.q, a.scale);
  *a.scale_2 = s2;
}

void run(const DequantizeNvfp4Args& a) { ref::dequantize_nvfp4(a.q, a.scale, a.scale_2, a.rows, a.cols, a.y); }

void run(const QuantizeFp8Args& a) { ref::quantize_fp8(a.x, a.rows, a.cols, a.grouping, a.q, a.scales); }

void run(const DequantizeFp8Args& a) { ref::dequantize_fp8(a.q, a.scales, a.rows, a.cols, a.grouping, a.y); }

void run(const GemmNvfp4Args& a) {
  ref::gemm_nvfp4(a.a, a.a_scale, a.b, a.b_scale, a.M, a.N, a.K, a.alpha, a.bias, a.out, a.c);
}

void run(const GemmFp8Args& a) { ref::gemm_fp8(a.a, a.b, a.M, a.N, a.K, a.alpha, a.bias, a.out, a.c); }

void run(const GemmFp8BlockArgs& a) {
  ref::gemm_fp8_block(a.a, a.a_scale, a.b, a.b_scale, a.M, a.N, a.K, a.bias, a.out, a.c);
}

void run(const DeltaNetRunArgs& a) {
  ref::deltanet(a.q, a.k, a.v, a.g, a.beta, a.h0, a.cu_seqlens, a.n_seqs, a.d, a.scale, a.l2norm, a.o, a.ht);
}

void run(const Conv1dRunArgs& a) { ref::conv1d(a.x, a.w, a.bias, a.state, a.B, a.T, a.C, a.W, a.y, a.state_out); }

namespace {
// K or V as fp32: exact widening, or RN(e4m3 * scale) for E4M3 (a NaN code stays NaN).
std::vector<float> kv_f32(const void* src, DType t, float scale, size_t n) {
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    switch (t) {
    case DType::F32: out[i] = static_cast<const float*>(src)[i]; break;
    case DType::BF16: out[i] = ref::bf16_to_f32(static_cast<const uint16_t*>(src)[i]); break;
    case DType::F16: out[i] = ref::f16_to_f32(static_cast<const uint16_t*>(src)[i]); break;
    default: out[i] = ref::e4m3_to_f32(static_cast<const uint8_t*>(src)[i]) * scale; break;
    }
  }
  return out;
}
} // namespace

void run(const AttentionRunArgs& a) {
  const size_t kv = static_cast<size_t>(a.d.B * a.d.S * a.d.Hkv * a.d.D);
  std::vector<float> k = kv_f32(a.k, a.k_dtype, a.k_scale, kv), v = kv_f32(a.v, a.v_dtype, a.v_scale, kv);
  ref::attention(a.q, k.data(), v.data(), a.gate, a.cu_q, a.cu_k, a.n_seqs, a.d, a.causal, a.scale, a.o, a.lse);
}

namespace {
std::string always(const core::Variant&, const core::DeviceRef&, const core::Problem&) { return ""; }

template <class Args>
void launch(int, const core::Variant&, const Args& a) {
  run(a);
}

core::Variant reference(std::string_view op, std::string_view source, std::vector<core::Launch> launch) {
  return core::Variant{op, "cpu", "reference", 0, core::Conformance{true, 0.0, "*"}, always, source, {source, "", {}, ""},
                       std::move(launch)};
}
} // namespace

// The CPU reference: the definition, exact by construction, always last.
std::vector<core::Variant> variants() {
  return {
      reference("convert", "reference/formats.cpp", {launch<ConvertArgs>}),
      reference("quantize_nvfp4", "reference/quantize.cpp", {launch<QuantizeNvfp4Args>}),
      reference("dequantize_nvfp4", "reference/quantize.cpp", {launch<DequantizeNvfp4Args>}),
      reference("quantize_fp8", "reference/quantize.cpp", {launch<QuantizeFp8Args>}),
      reference("dequantize_fp8", "reference/quantize.cpp", {launch<DequantizeFp8Args>}),
      reference("gemm_nvfp4", "reference/gemm.cpp", {launch<GemmNvfp4Args>}),
      reference("gemm_fp8", "reference/gemm.cpp", {launch<GemmFp8Args>, launch<GemmFp8BlockArgs>}),
      reference("deltanet", "reference/deltanet.cpp", {launch<DeltaNetRunArgs>}),
      reference("conv1d", "reference/conv1d.cpp", {launch<Conv1dRunArgs>}),
      reference("attention", "reference/attention.cpp", {launch<AttentionRunArgs>}),
      reference("gemm_nvfp4_act", "reference/quantize.cpp then reference/gemm.cpp", {launch<GemmNvfp4ActArgs>}),
      reference("gemm_fp8_act", "reference/quantize.cpp then reference/gemm.cpp", {launch<GemmFp8ActArgs>}),
  };
}

} // namespace tessera::detail::cpu
