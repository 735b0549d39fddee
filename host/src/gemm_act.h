// The GEMMs with the activation quantized in front (tessera::gemm_nvfp4_act, gemm_fp8_act): the
// Vulkan backend's run() for them (the OpenCL backend's launch functions are in
// host/src/opencl/launch.h); and gemm_nvfp4's validation, shared with the prepacked call, and the
// Problem the GEMMs select on. Included before execute.h so that detail::execute sees these
// overloads.
//
// Each backend's variant "quantize_then_gemm" runs, in one device session, the backend's own
// quantize kernels (kernels/quant/) and then its exact GEMM kernel (the decode gemv_splitk up to
// its record's max_m rows, tiled above) on the quantized activations, which stay on the device:
// x is uploaded once and c read back once (plus, for W4A4, the 4-byte activation scale_2 the
// GEMM's alpha needs). Bit-exact with quantize_* followed by gemm_*, as the CPU reference
// computes it.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "backends.h"
#include "dispatch/registry.h"

namespace tessera::detail {

// gemm_nvfp4's validation (ops_gemm.cpp), shared with the prepacked call (weights.cpp): every
// check of tessera::gemm_nvfp4, then its arguments; and the Problem the GEMMs select on.
GemmNvfp4Args validated_gemm_nvfp4(const TensorView& a, const TensorView& a_scale, const TensorView& b,
                                   const TensorView& b_scale, float alpha, const std::optional<TensorView>& bias,
                                   const TensorView& c);
dispatch::Problem gemm_problem(std::string_view op, int64_t M, int64_t N, int64_t K, bool block_scaled);

namespace vulkan {
void run(int device, std::string_view variant, const GemmNvfp4ActArgs& a);
void run(int device, std::string_view variant, const GemmFp8ActArgs& a);
} // namespace vulkan

} // namespace tessera::detail
