// The vulkan GEMM launchers (numerics.md section 4). No GEMM kernel is registered for vulkan yet:
// the registry never selects one, and a direct call is a BackendFailure.
#include "host/src/backends.h"

namespace tessera::detail::vulkan {

namespace {
[[noreturn]] void no_variant(std::string_view op, std::string_view variant) {
  throw BackendFailure(std::string(op) + ": no vulkan variant '" + std::string(variant) + "'");
}
} // namespace

void run(int, std::string_view variant, const GemmNvfp4Args&) { no_variant("gemm_nvfp4", variant); }
void run(int, std::string_view variant, const GemmFp8Args&) { no_variant("gemm_fp8", variant); }
void run(int, std::string_view variant, const GemmFp8BlockArgs&) { no_variant("gemm_fp8", variant); }

} // namespace tessera::detail::vulkan
