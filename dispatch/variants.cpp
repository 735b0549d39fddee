// The table of kernel variants. Adding a variant is one kernel file plus one record here.
#include <cstdint>
#include <string>

#include "registry.h"

namespace tessera::dispatch {

namespace {

std::string always(const DeviceRef&, const Problem&) { return ""; }

// The kernels index elements with 32-bit integers in places; past that they are not offered.
std::string fits_32bit_index(const DeviceRef&, const Problem& p) {
  return p.elements() < (int64_t{1} << 31) ? "" : "more than 2^31 elements (32-bit index math)";
}

// OpenCL quantizers divide; the program is built with -cl-fp32-correctly-rounded-divide-sqrt,
// which a device may only honour when it reports CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT.
std::string cl_exact_divide(const DeviceRef& d, const Problem& p) {
  if (!d.caps.correctly_rounded_divide) return "device has no correctly rounded fp32 division";
  return fits_32bit_index(d, p);
}

// OpenCL GEMMs: gemv_splitk_exact keeps all M rows of a column in registers (GEMV_MAX_M = 16).
std::string cl_gemm_decode(const DeviceRef& d, const Problem& p) {
  int64_t m = p.dim("M");
  if (m > 16) return "M = " + std::to_string(m) + " > 16: decode variant";
  return fits_32bit_index(d, p);
}

// Vulkan GEMMs: gemv_splitk_exact keeps a partial sum per row of A in registers (MAX_M = 16).
std::string vk_gemm_decode(const DeviceRef& d, const Problem& p) {
  if (p.dim("M") > 16) return "M = " + std::to_string(p.dim("M")) + " > 16: gemv_splitk_exact keeps at most 16 rows of A";
  return fits_32bit_index(d, p);
}

constexpr Conformance kExact{true, 0.0};

} // namespace

const std::vector<Variant>& variants() {
  static const std::vector<Variant> table = {
      // OpenCL C (kernels/quant/*.cl)
      {"convert", "opencl", "elementwise", 10, kExact, fits_32bit_index, "one work-item per element"},
      {"quantize_nvfp4", "opencl", "block16", 10, kExact, cl_exact_divide, "amax reduction, then one work-item per 16-block"},
      {"dequantize_nvfp4", "opencl", "elementwise", 10, kExact, fits_32bit_index, "one work-item per element"},
      {"quantize_fp8", "opencl", "group_amax", 10, kExact, cl_exact_divide, "one work-group per scale group"},
      {"dequantize_fp8", "opencl", "elementwise", 10, kExact, fits_32bit_index, "one work-item per element"},
      // Vulkan GLSL (kernels/quant/*.comp): division is corrected to IEEE in the shader (div_rn)
      {"convert", "vulkan", "elementwise", 10, kExact, fits_32bit_index, "one invocation per element"},
      {"quantize_nvfp4", "vulkan", "block16", 10, kExact, fits_32bit_index, "amax reduction, then one invocation per 16-block"},
      {"dequantize_nvfp4", "vulkan", "elementwise", 10, kExact, fits_32bit_index, "one invocation per element"},
      {"quantize_fp8", "vulkan", "group_amax", 10, kExact, fits_32bit_index, "one workgroup per scale group"},
      {"dequantize_fp8", "vulkan", "elementwise", 10, kExact, fits_32bit_index, "one invocation per element"},
      // OpenCL GEMMs (kernels/gemm/*.cl)
      {"gemm_nvfp4", "opencl", "gemv_splitk_exact", 20, kExact, cl_gemm_decode, "decode M <= 16: K split over a column's work-items, exact long partials, local-memory tree"},
      {"gemm_nvfp4", "opencl", "tiled_exact", 10, kExact, fits_32bit_index, "local-memory tiles, register micro-tiles, exact long sums per 16-block"},
      {"gemm_fp8", "opencl", "gemv_splitk_exact", 20, kExact, cl_gemm_decode, "decode M <= 16: split-K exact long partials (block form: whole 128-blocks, fp32 steps in kb order)"},
      {"gemm_fp8", "opencl", "tiled_exact", 10, kExact, fits_32bit_index, "local-memory tiles, register micro-tiles, exact long sums (block form: fp32 steps per 128-block)"},
      // Vulkan GEMMs (kernels/gemm/*.comp)
      {"gemm_nvfp4", "vulkan", "gemv_splitk_exact", 20, kExact, vk_gemm_decode, "decode: 8 columns a workgroup, K split across 8 invocations each, exact 64-bit partial sums reduced in shared memory"},
      {"gemm_nvfp4", "vulkan", "tiled_exact", 10, kExact, fits_32bit_index, "64x64 shared-memory tiles, 8x4 register micro-tiles, exact 64-bit sums"},
      {"gemm_fp8", "vulkan", "gemv_splitk_exact", 20, kExact, vk_gemm_decode, "decode: 8 columns a workgroup, K split across 8 invocations each (at 128-blocks when block-scaled), exact sums"},
      {"gemm_fp8", "vulkan", "tiled_exact", 10, kExact, fits_32bit_index, "64x64 shared-memory tiles, 8x4 register micro-tiles, exact 64-bit sums"},
      // GEMM tensor-core variants (bounded): insert below this line.
      // DeltaNet scan and conv1d variants: insert below this line.
      // Attention variants: insert below this line.
      // The CPU reference: the definition, exact by construction, always last.
      {"convert", "cpu", "reference", 0, kExact, always, "reference/formats.cpp"},
      {"quantize_nvfp4", "cpu", "reference", 0, kExact, always, "reference/quantize.cpp"},
      {"dequantize_nvfp4", "cpu", "reference", 0, kExact, always, "reference/quantize.cpp"},
      {"quantize_fp8", "cpu", "reference", 0, kExact, always, "reference/quantize.cpp"},
      {"dequantize_fp8", "cpu", "reference", 0, kExact, always, "reference/quantize.cpp"},
      {"gemm_nvfp4", "cpu", "reference", 0, kExact, always, "reference/gemm.cpp"},
      {"gemm_fp8", "cpu", "reference", 0, kExact, always, "reference/gemm.cpp"},
      {"deltanet", "cpu", "reference", 0, kExact, always, "reference/deltanet.cpp"},
      {"conv1d", "cpu", "reference", 0, kExact, always, "reference/conv1d.cpp"},
      {"attention", "cpu", "reference", 0, kExact, always, "reference/attention.cpp"},
  };
  return table;
}

} // namespace tessera::dispatch
