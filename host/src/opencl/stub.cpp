// The opencl backend when it is not built (its SDK was not found at configure time): no devices,
// and run() is never reached because the registry sees built() == false.
#include "host/src/backends.h"
#include "host/src/gemm_act.h"
#include "host/src/opencl/introspect.h"

namespace tessera::detail::opencl {

bool built() { return false; }
double last_device_ms() { return 0.0; }

const std::vector<DeviceFacts>& devices() {
  static const std::vector<DeviceFacts> none;
  return none;
}

std::string no_device_reason() { return "the opencl backend is not built"; }

namespace {
[[noreturn]] void not_built() { throw BackendFailure("the opencl backend is not built"); }
} // namespace

void run(int, std::string_view, const ConvertArgs&) { not_built(); }
void run(int, std::string_view, const QuantizeNvfp4Args&) { not_built(); }
void run(int, std::string_view, const DequantizeNvfp4Args&) { not_built(); }
void run(int, std::string_view, const QuantizeFp8Args&) { not_built(); }
void run(int, std::string_view, const DequantizeFp8Args&) { not_built(); }
void run(int, std::string_view, const GemmNvfp4Args&) { not_built(); }
void run(int, std::string_view, const GemmFp8Args&) { not_built(); }
void run(int, std::string_view, const GemmFp8BlockArgs&) { not_built(); }
void run(int, std::string_view, const GemmNvfp4ActArgs&) { not_built(); }
void run(int, std::string_view, const GemmFp8ActArgs&) { not_built(); }
void run(int, std::string_view, const DeltaNetRunArgs&) { not_built(); }
void run(int, std::string_view, const Conv1dRunArgs&) { not_built(); }
void run(int, std::string_view, const AttentionRunArgs&) { not_built(); }

ProgramCacheStats program_cache_stats() { return {}; }
void forget_programs() {}
std::string program_cache_dir() { return {}; }

} // namespace tessera::detail::opencl
