// tessera_testing's vulkan half when the backend is not built (testing.h): nothing to run.
#include "host/src/backends.h"
#include "host/src/vulkan/testing.h"

namespace tessera::detail::vulkan {

namespace {
[[noreturn]] void not_built() { throw BackendFailure("the vulkan backend is not built"); }
} // namespace

bool has_rounding_mode_rte(int) { return false; }
void run_fp32_rn_test(int, Fp32Build, Fp32Op, const uint32_t*, const uint32_t*, uint32_t*, size_t) {
  not_built();
}
std::string reopen_pipeline_cache(int) { not_built(); }
void run_attention_coopmat_emulated(int, const AttentionRunArgs&) { not_built(); }

} // namespace tessera::detail::vulkan
