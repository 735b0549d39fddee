#include "registry.h"

#include "host/src/validate.h"

namespace tessera::dispatch {

const std::vector<Variant>& variants() {
  // The reference is exact by definition: it is what "exact" is measured against.
  static const std::vector<Variant> table = {
      {"convert", "cpu", "reference", "exact"},         {"quantize_nvfp4", "cpu", "reference", "exact"},
      {"dequantize_nvfp4", "cpu", "reference", "exact"}, {"quantize_fp8", "cpu", "reference", "exact"},
      {"dequantize_fp8", "cpu", "reference", "exact"},   {"gemm_nvfp4", "cpu", "reference", "exact"},
      {"gemm_fp8", "cpu", "reference", "exact"},         {"deltanet", "cpu", "reference", "exact"},
      {"conv1d", "cpu", "reference", "exact"},           {"attention", "cpu", "reference", "exact"},
  };
  return table;
}

RunInfo select(std::string_view op, const RunOptions& options) {
  using detail::fail;
  const std::string& backend = options.backend.empty() ? std::string("cpu") : options.backend;
  if (backend == "opencl" || backend == "vulkan")
    fail(ErrorCode::Unsupported, "{}: backend '{}' is not available in this build (only the CPU reference is)", op, backend);
  if (backend != "cpu") fail(ErrorCode::InvalidArgument, "{}: unknown backend '{}' (known: cpu, opencl, vulkan)", op, backend);
  if (options.device != 0)
    fail(ErrorCode::Unsupported, "{}: backend cpu has one device (0), not device {}", op, options.device);
  for (const Variant& v : variants()) {
    if (v.op != op || v.backend != backend) continue;
    if (!options.variant.empty() && options.variant != v.name) continue;
    std::string reason = options.variant.empty() ? "the CPU reference is the only variant of " + std::string(op) + " in this build"
                                                 : "forced by the caller";
    return RunInfo{backend, "cpu0 (reference)", std::string(v.name), reason};
  }
  fail(ErrorCode::Unsupported, "{}: no variant '{}' on backend {} (known: reference)", op, options.variant, backend);
}

} // namespace tessera::dispatch
