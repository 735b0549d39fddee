// The dispatch window both vulkan Gated DeltaNet launch functions share (deltanet.h).
#include "host/src/vulkan/deltanet.h"

#include <algorithm>
#include <atomic>

#include "host/src/vulkan/batch.h"
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

void dispatch_windows(Batch& batch, const Kernel& k, std::initializer_list<const Buffer*> buffers,
                      const void* push, int64_t windows, int64_t units,
                      const std::function<void(int64_t w, uint32_t base, uint32_t end)>& set) {
  const int64_t cap = batch.device().properties.limits.maxComputeWorkGroupCount[0];
  bool first = true;
  for (int64_t w = 0; w < windows; ++w)
    for (int64_t base = 0; base < units; base += cap) {
      const int64_t end = std::min(units, base + cap);
      set(w, static_cast<uint32_t>(base), static_cast<uint32_t>(end));
      const auto groups = static_cast<uint32_t>(end - base);
      if (first) batch.dispatch(k, buffers, push, groups);
      else batch.redispatch(push, groups);
      first = false;
    }
}

} // namespace tessera::detail::vulkan
