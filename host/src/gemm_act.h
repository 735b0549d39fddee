// The GEMMs with the activation quantized in front (tessera::gemm_nvfp4_act, gemm_fp8_act):
// gemm_nvfp4's validation, shared with the prepacked call, the Problem the GEMMs select on, and
// exact_gemm(), which picks the fused GEMMs' inner GEMM record. The backends' launch functions
// for them are in host/src/opencl/launch.h and host/src/vulkan/launch.h.
//
// Each backend's variant "quantize_then_gemm" runs, in one device session, the backend's own
// quantize kernels (kernels/quant/) and then the kernel of its exact GEMM record that
// exact_gemm() picks (the decode gemv_splitk up to its record's max_m rows, tiled above) on the
// quantized activations, which stay on the device:
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

// Past this K the exact NVFP4 sum may leave int64 (numerics.md section 4): gemm_nvfp4, its
// prepacked and fused forms.
inline constexpr int64_t kMaxNvfp4K = 65536;
// The reference's output type for c's dtype (F32, BF16 or F16).
ref::OutType out_type(DType t);
// The checks every GEMM shares once M, N and K are known: bias [N] and c [M, N].
void check_epilogue(std::string_view op, const std::optional<TensorView>& bias, const TensorView& c, int64_t M,
                    int64_t N);

// gemm_nvfp4's validation (ops_gemm.cpp), shared with the prepacked call (weights.cpp): every
// check of tessera::gemm_nvfp4, then its arguments; and the Problem the GEMMs select on.
GemmNvfp4Args validated_gemm_nvfp4(const TensorView& a, const TensorView& a_scale, const TensorView& b,
                                   const TensorView& b_scale, float alpha, const std::optional<TensorView>& bias,
                                   const TensorView& c);
dispatch::Problem gemm_problem(std::string_view op, int64_t M, int64_t N, int64_t K, bool block_scaled);

// The inner GEMM of a fused GEMM on `backend`'s device `device`: among that backend's records of
// `op` (gemm_nvfp4 / gemm_fp8) only the exact ones, since the fused operation is declared exact
// and a bounded tensor-core GEMM may not serve it; of those, the highest-priority one whose
// requirement holds on this device for gemm_problem(op, M, N, K, block_scaled), the test the
// registry applies when it selects `op` itself. So the decode kernel (gemv_splitk_exact) takes M
// up to its manifest's max_m, and tiled_exact the rest. BackendFailure when none can run.
const core::Variant& exact_gemm(std::string_view backend, int device, std::string_view op, int64_t M, int64_t N,
                                int64_t K, bool block_scaled);

} // namespace tessera::detail
