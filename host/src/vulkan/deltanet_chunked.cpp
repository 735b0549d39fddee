// The vulkan "chunked" Gated DeltaNet variant (placeholder until its kernel lands).
#include "host/src/vulkan/deltanet.h"

namespace tessera::detail::vulkan {

void deltanet_chunked(int, const DeltaNetRunArgs&) { throw BackendFailure("vulkan: deltanet chunked is not implemented"); }

} // namespace tessera::detail::vulkan
