// The vulkan "recurrent" Gated DeltaNet variant (placeholder until its kernel lands).
#include "host/src/vulkan/deltanet.h"

namespace tessera::detail::vulkan {

void deltanet_recurrent(int, const DeltaNetRunArgs&) { throw BackendFailure("vulkan: deltanet recurrent is not implemented"); }

} // namespace tessera::detail::vulkan
