// The vulkan Gated DeltaNet entry point: routes the registry's variant name to its launcher, and
// the dispatch window both launchers share (deltanet.h; dispatch_windows is in batch.h).
#include "host/src/vulkan/deltanet.h"

#include <fmt/format.h>

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

void run(int device, std::string_view variant, const DeltaNetRunArgs& a) {
  if (variant == "recurrent") return deltanet_recurrent(device, a);
  if (variant == "chunked") return deltanet_chunked(device, a);
  throw BackendFailure(fmt::format("vulkan: deltanet has no variant '{}' (known: recurrent, chunked)", variant));
}

} // namespace tessera::detail::vulkan
