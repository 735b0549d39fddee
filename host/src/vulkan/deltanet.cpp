// The dispatch window both vulkan Gated DeltaNet launch functions share (deltanet.h;
// dispatch_windows itself is in batch.h, shared with attention).
#include "host/src/vulkan/deltanet.h"

#include "core/overrides.h"

namespace tessera::detail::vulkan {

int64_t deltanet_window_tokens() {
  const int64_t t = current_overrides().vulkan_deltanet_window;
  return t > 0 ? t : kDeltaNetWindowTokens;
}

} // namespace tessera::detail::vulkan
