// The dispatch window both vulkan Gated DeltaNet launch functions share (deltanet.h;
// dispatch_windows itself is in batch.h, shared with attention).
#include "host/src/vulkan/deltanet.h"

#include <atomic>

#include "host/src/vulkan/testing.h"

namespace tessera::detail::vulkan {

namespace {
std::atomic<int64_t> g_window_for_testing{0};
} // namespace

void set_deltanet_window_for_testing(int64_t tokens) {
  g_window_for_testing = tokens > 0 ? tokens : 0;
}

int64_t deltanet_window_tokens() {
  const int64_t t = g_window_for_testing;
  return t > 0 ? t : kDeltaNetWindowTokens;
}

} // namespace tessera::detail::vulkan
