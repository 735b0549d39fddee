// The passes of the quantize kernels (kernels/quant/nvfp4_quantize.cl, fp8_quantize.cl), shared
// by the quantizers of ops.cpp and the GEMMs with the activation quantized in front (gemm.cpp),
// which keep the quantized activations on the device.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "runtime.h"

namespace tessera::detail::opencl {

inline constexpr cl_ulong kNoIndex = ~cl_ulong{0}; // amax_finalize's "every element finite"

// The device found x[index] (of x [rows, cols], the launch's fp32 buffer) non-finite: its value is
// read back through the session and the host's check_finite error given for it, word for word.
[[noreturn]] void non_finite(Session& s, std::string_view op, const Mem& x, int64_t rows, int64_t cols,
                             cl_ulong index);

// Launches amax_partial and amax_finalize of `file` over x [n]: scale_out[0] gets fixed (when
// use_fixed), 1.0 for amax == 0, or RN(amax / divisor); bad_out[0] the first non-finite index
// or kNoIndex.
void launch_amax(Session& s, std::string_view file, const Mem& x, int64_t n, float divisor, bool use_fixed,
                 float fixed, const Mem& scale_out, const Mem& bad_out);

// Launches the NVFP4 quantizer of `file` over x [n] (n % 16 == 0): amax_partial and
// amax_finalize (scale_2[0] gets static_scale_2 when given, 1.0 for amax == 0, else amax over
// 6 * 448, or 6 * 256 for four_over_six; bad[0] the first non-finite index or kNoIndex), then
// nvfp4_quantize_blocks (q [n / 2] packed E2M1, scale [n / 16] E4M3).
void launch_nvfp4_quantize(Session& s, std::string_view file, const Mem& x, int64_t n, bool four_over_six,
                           std::optional<float> static_scale_2, const Mem& scale_2, const Mem& bad, const Mem& q,
                           const Mem& scale);

// Launches fp8_quantize_groups of `file`: one work-group per scale group of group_rows rows by
// 128 columns (grid-stride, so the launch is capped), writing the scales and the E4M3 codes q.
void launch_fp8_groups(Session& s, std::string_view file, const Mem& x, int64_t rows, int64_t cols,
                       int64_t group_rows, const Mem& scales, const Mem& q);

} // namespace tessera::detail::opencl
