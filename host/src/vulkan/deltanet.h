// The vulkan Gated DeltaNet launchers, one per variant file: deltanet_recurrent.cpp ("recurrent":
// decode and short prefill) and deltanet_chunked.cpp ("chunked": prefill in chunks of 64).
#pragma once

#include "host/src/backends.h"

namespace tessera::detail::vulkan {
void deltanet_recurrent(int device, const DeltaNetRunArgs& a);
void deltanet_chunked(int device, const DeltaNetRunArgs& a);
} // namespace tessera::detail::vulkan
