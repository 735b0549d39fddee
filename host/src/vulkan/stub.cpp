// The vulkan backend when it is not built (its SDK was not found at configure time): no devices,
// and no variant records, so nothing of it is ever launched.
#include "host/src/backends.h"
#include "host/src/vulkan/testing.h"

namespace tessera::detail::vulkan {

bool built() { return false; }
double last_device_ms() { return 0.0; }

const std::vector<DeviceFacts>& devices() {
  static const std::vector<DeviceFacts> none;
  return none;
}

std::string no_device_reason() { return "the vulkan backend is not built"; }

std::vector<core::Variant> variants() { return {}; }

PipelineCacheStats pipeline_cache_stats() { return {}; }
void set_force_staging(bool) {}
MemoryPaths memory_paths(int) { return {}; }
void set_force_descriptor_pool(bool) {}
DescriptorCounts descriptor_counts(int) { return {}; }
void fail_next_submission(int) {}
QueueReport sync(int) { return {}; }

std::shared_ptr<void> device_alloc(int, size_t) { throw BackendFailure("the vulkan backend is not built"); }
void device_write(int, const std::shared_ptr<void>&, size_t, const void*, size_t) {
  throw BackendFailure("the vulkan backend is not built");
}
void device_read(int, const std::shared_ptr<void>&, size_t, void*, size_t) {
  throw BackendFailure("the vulkan backend is not built");
}

void cast(int, const void*, DType, void*, DType, int64_t) { throw BackendFailure("the vulkan backend is not built"); }
void copy_rect(int, const void*, void*, const Rect&) { throw BackendFailure("the vulkan backend is not built"); }
std::shared_ptr<void> wrap(int, void*, size_t, size_t) { throw BackendFailure("the vulkan backend is not built"); }
NativeHandles native_handles(int) { throw BackendFailure("the vulkan backend is not built"); }
std::shared_ptr<void> mark(int) { throw BackendFailure("the vulkan backend is not built"); }
bool mark_done(const std::shared_ptr<void>&) { return true; }
void mark_wait(const std::shared_ptr<void>&) {}

} // namespace tessera::detail::vulkan
