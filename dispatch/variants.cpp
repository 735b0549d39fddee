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
      // Vulkan GEMMs (kernels/gemm/*.comp)
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
