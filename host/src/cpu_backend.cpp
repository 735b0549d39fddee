// The CPU reference as a backend: the same argument structs the device backends take.
#include "execute.h"
#include "reference/formats.h"

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

} // namespace tessera::detail::cpu
