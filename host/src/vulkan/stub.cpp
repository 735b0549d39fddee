// The vulkan backend when it is not built (its SDK was not found at configure time): no devices,
// and no variant records, so nothing of it is ever launched.
#include "host/src/backends.h"
#include "host/src/vulkan/testing.h"

namespace tessera::detail::vulkan {

bool built() { return false; }
double last_device_ms() { return 0.0; }

const std::vector<DeviceFacts>& devices() {
  static const std::vector<DeviceFacts> none;
  return none;
}

std::string no_device_reason() { return "the vulkan backend is not built"; }

std::vector<core::Variant> variants() { return {}; }

namespace {
[[noreturn]] void not_built() { throw BackendFailure("the vulkan backend is not built"); }
} // namespace

bool has_rounding_mode_rte(int) { return false; }
void run_fp32_rn_test(int, Fp32Build, Fp32Op, const uint32_t*, const uint32_t*, uint32_t*, size_t) {
  not_built();
}
PipelineCacheStats pipeline_cache_stats() { return {}; }
std::string reopen_pipeline_cache(int) { not_built(); }
void set_deltanet_window_for_testing(int64_t) {}
void run_attention_coopmat_emulated(int, const AttentionRunArgs&) { not_built(); }
void set_attention_window_for_testing(int64_t) {}
void set_dispatch_groups_for_testing(uint32_t) {}

} // namespace tessera::detail::vulkan
