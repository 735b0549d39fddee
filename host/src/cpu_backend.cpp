// The CPU reference as a backend: the same argument structs the device backends take.
#include "execute.h"
#include "reference/attention.h"
#include "reference/conv1d.h"
#include "reference/deltanet.h"
#include "reference/formats.h"

#include <array>
#include <cstring>
#include <initializer_list>
#include <vector>

namespace tessera::detail::cpu {

namespace {
// The reference functions below write their outputs as they compute them, reading inputs all the
// while, so an output that shares bytes with an input would be read after it was overwritten.
// The device backends compute into buffers of their own and copy at the end, so an output may
// alias an input there (docs/architecture.md, "Aliasing"); the CPU does the same, only when the
// caller's buffers overlap: `compute` then writes fresh buffers, copied into the outputs after.
struct Span {
  const void* p;
  size_t bytes;
};
bool overlaps(const Span& a, const Span& b) {
  const auto x = reinterpret_cast<uintptr_t>(a.p), y = reinterpret_cast<uintptr_t>(b.p);
  return a.bytes > 0 && b.bytes > 0 && x < y + b.bytes && y < x + a.bytes;
}
template <size_t N, class F>
void apart(std::initializer_list<Span> inputs, const std::array<Span, N>& outputs, F compute) {
  bool alias = false;
  for (const Span& o : outputs)
    for (const Span& i : inputs) alias = alias || overlaps(o, i);
  std::array<void*, N> where;
  if (!alias) {
    for (size_t k = 0; k < N; ++k) where[k] = const_cast<void*>(outputs[k].p);
    compute(where);
    return;
  }
  std::array<std::vector<std::byte>, N> fresh;
  for (size_t k = 0; k < N; ++k) {
    fresh[k].resize(outputs[k].bytes);
    where[k] = fresh[k].data();
  }
  compute(where);
  for (size_t k = 0; k < N; ++k)
    if (outputs[k].bytes) std::memcpy(const_cast<void*>(outputs[k].p), fresh[k].data(), outputs[k].bytes);
}
size_t sz(int64_t n) { return static_cast<size_t>(n); }
size_t out_bytes(ref::OutType t, int64_t n) { return sz(n) * (t == ref::OutType::F32 ? 4 : 2); }
Span bias_span(const float* bias, int64_t N) { return {bias, bias ? sz(N) * 4 : 0}; }
} // namespace

void run(const ConvertArgs& a) {
  const size_t width = a.to == Format::BF16 || a.to == Format::F16 ? 2 : 1;
  apart<1>({{a.x, sz(a.n) * 4}}, {{{a.y, sz(a.n) * width}}}, [&](const std::array<void*, 1>& out) {
    for (int64_t i = 0; i < a.n; ++i) {
      switch (a.to) {
      case Format::E4M3: static_cast<uint8_t*>(out[0])[i] = ref::f32_to_e4m3(a.x[i]); break;
      case Format::E5M2: static_cast<uint8_t*>(out[0])[i] = ref::f32_to_e5m2(a.x[i]); break;
      case Format::E2M1: static_cast<uint8_t*>(out[0])[i] = ref::f32_to_e2m1(a.x[i]); break;
      case Format::BF16: static_cast<uint16_t*>(out[0])[i] = ref::f32_to_bf16(a.x[i]); break;
      case Format::F16: static_cast<uint16_t*>(out[0])[i] = ref::f32_to_f16(a.x[i]); break;
      }
    }
  });
}

void run(const QuantizeNvfp4Args& a) {
  float s2 = a.static_scale_2 ? *a.static_scale_2 : ref::nvfp4_scale_2(a.x, a.rows * a.cols, a.four_over_six);
  const int64_t n = a.rows * a.cols;
  apart<2>({{a.x, sz(n) * 4}}, {{{a.q, sz(n / 2)}, {a.scale, sz(n / 16)}}}, [&](const std::array<void*, 2>& out) {
    auto* q = static_cast<uint8_t*>(out[0]);
    auto* scale = static_cast<uint8_t*>(out[1]);
    if (a.four_over_six) ref::quantize_nvfp4_4over6(a.x, a.rows, a.cols, s2, q, scale);
    else ref::quantize_nvfp4(a.x, a.rows, a.cols, s2, q, scale);
  });
  *a.scale_2 = s2;
}

void run(const DequantizeNvfp4Args& a) {
  const int64_t n = a.rows * a.cols;
  apart<1>({{a.q, sz(n / 2)}, {a.scale, sz(n / 16)}}, {{{a.y, sz(n) * 4}}}, [&](const std::array<void*, 1>& out) {
    ref::dequantize_nvfp4(a.q, a.scale, a.scale_2, a.rows, a.cols, static_cast<float*>(out[0]));
  });
}

void run(const QuantizeFp8Args& a) {
  const int64_t n = a.rows * a.cols, scales = ref::fp8_scale_count(a.grouping, a.rows, a.cols);
  apart<2>({{a.x, sz(n) * 4}}, {{{a.q, sz(n)}, {a.scales, sz(scales) * 4}}}, [&](const std::array<void*, 2>& out) {
    ref::quantize_fp8(a.x, a.rows, a.cols, a.grouping, static_cast<uint8_t*>(out[0]), static_cast<float*>(out[1]));
  });
}

void run(const DequantizeFp8Args& a) {
  const int64_t n = a.rows * a.cols, scales = ref::fp8_scale_count(a.grouping, a.rows, a.cols);
  apart<1>({{a.q, sz(n)}, {a.scales, sz(scales) * 4}}, {{{a.y, sz(n) * 4}}}, [&](const std::array<void*, 1>& out) {
    ref::dequantize_fp8(a.q, a.scales, a.rows, a.cols, a.grouping, static_cast<float*>(out[0]));
  });
}

void run(const GemmNvfp4Args& a) {
  apart<1>({{a.a, sz(a.M * a.K / 2)}, {a.a_scale, sz(a.M * a.K / 16)}, {a.b, sz(a.N * a.K / 2)},
            {a.b_scale, sz(a.N * a.K / 16)}, bias_span(a.bias, a.N)},
           {{{a.c, out_bytes(a.out, a.M * a.N)}}}, [&](const std::array<void*, 1>& out) {
             ref::gemm_nvfp4(a.a, a.a_scale, a.b, a.b_scale, a.M, a.N, a.K, a.alpha, a.bias, a.out, out[0]);
           });
}

void run(const GemmFp8Args& a) {
  apart<1>({{a.a, sz(a.M * a.K)}, {a.b, sz(a.N * a.K)}, bias_span(a.bias, a.N)},
           {{{a.c, out_bytes(a.out, a.M * a.N)}}}, [&](const std::array<void*, 1>& out) {
             ref::gemm_fp8(a.a, a.b, a.M, a.N, a.K, a.alpha, a.bias, a.out, out[0]);
           });
}

void run(const GemmFp8BlockArgs& a) {
  const int64_t kb = (a.K + 127) / 128;
  apart<1>({{a.a, sz(a.M * a.K)}, {a.a_scale, sz(a.M * kb) * 4}, {a.b, sz(a.N * a.K)},
            {a.b_scale, sz((a.N + 127) / 128 * kb) * 4}, bias_span(a.bias, a.N)},
           {{{a.c, out_bytes(a.out, a.M * a.N)}}}, [&](const std::array<void*, 1>& out) {
             ref::gemm_fp8_block(a.a, a.a_scale, a.b, a.b_scale, a.M, a.N, a.K, a.bias, a.out, out[0]);
           });
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
