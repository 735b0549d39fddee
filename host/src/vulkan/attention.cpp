// The vulkan attention variants (placeholder until its kernel lands).
#include "host/src/backends.h"

namespace tessera::detail::vulkan {

void run(int, std::string_view, const AttentionRunArgs&) { throw BackendFailure("vulkan: attention is not implemented"); }

} // namespace tessera::detail::vulkan
