#include "common.h"

#include <fmt/format.h>

#include <cstdio>

namespace tessera::detail::vulkan {

std::string result_name(VkResult r) {
  switch (r) {
#define TESSERA_VK_RESULT(x)                                                                       \
  case x: return #x;
    TESSERA_VK_RESULT(VK_SUCCESS)
    TESSERA_VK_RESULT(VK_NOT_READY)
    TESSERA_VK_RESULT(VK_TIMEOUT)
    TESSERA_VK_RESULT(VK_EVENT_SET)
    TESSERA_VK_RESULT(VK_EVENT_RESET)
    TESSERA_VK_RESULT(VK_INCOMPLETE)
    TESSERA_VK_RESULT(VK_ERROR_OUT_OF_HOST_MEMORY)
    TESSERA_VK_RESULT(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    TESSERA_VK_RESULT(VK_ERROR_INITIALIZATION_FAILED)
    TESSERA_VK_RESULT(VK_ERROR_DEVICE_LOST)
    TESSERA_VK_RESULT(VK_ERROR_MEMORY_MAP_FAILED)
    TESSERA_VK_RESULT(VK_ERROR_LAYER_NOT_PRESENT)
    TESSERA_VK_RESULT(VK_ERROR_EXTENSION_NOT_PRESENT)
    TESSERA_VK_RESULT(VK_ERROR_FEATURE_NOT_PRESENT)
    TESSERA_VK_RESULT(VK_ERROR_INCOMPATIBLE_DRIVER)
    TESSERA_VK_RESULT(VK_ERROR_TOO_MANY_OBJECTS)
    TESSERA_VK_RESULT(VK_ERROR_FORMAT_NOT_SUPPORTED)
    TESSERA_VK_RESULT(VK_ERROR_FRAGMENTED_POOL)
    TESSERA_VK_RESULT(VK_ERROR_UNKNOWN)
    TESSERA_VK_RESULT(VK_ERROR_OUT_OF_POOL_MEMORY)
    TESSERA_VK_RESULT(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    TESSERA_VK_RESULT(VK_ERROR_FRAGMENTATION)
    TESSERA_VK_RESULT(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
    TESSERA_VK_RESULT(VK_PIPELINE_COMPILE_REQUIRED)
    TESSERA_VK_RESULT(VK_ERROR_INVALID_SHADER_NV)
#undef TESSERA_VK_RESULT
  default: return fmt::format("VkResult({})", static_cast<int>(r));
  }
}

void backend_failure(std::string_view message) {
  throw BackendFailure(fmt::format("vulkan: {}", message));
}

void check(VkResult r, std::string_view what) {
  if (r != VK_SUCCESS) backend_failure(fmt::format("{} failed: {}", what, result_name(r)));
}

void log_problem(std::string_view message) {
  std::fprintf(stderr, "tessera: vulkan: %.*s\n", static_cast<int>(message.size()), message.data());
}

} // namespace tessera::detail::vulkan
