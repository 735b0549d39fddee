// The opencl backend when it is not built (its SDK was not found at configure time): no devices,
// and no variant records, so nothing of it is ever launched.
#include "core/backend.h"
#include "host/src/opencl/introspect.h"

namespace tessera::detail::opencl {

bool built() { return false; }
double last_device_ms() { return 0.0; }

const std::vector<DeviceFacts>& devices() {
  static const std::vector<DeviceFacts> none;
  return none;
}

std::string no_device_reason() { return "the opencl backend is not built"; }

std::vector<core::Variant> variants() { return {}; }

ProgramCacheStats program_cache_stats() { return {}; }
void forget_programs() {}
std::string program_cache_dir() { return {}; }
PoolStats pool_stats(int) { return {}; }
int64_t set_pool_max_bytes(int, int64_t) { return 0; }
void fill_pool(int, unsigned char) {}

std::shared_ptr<void> device_alloc(int, size_t) { throw BackendFailure("the opencl backend is not built"); }
void device_write(int, const std::shared_ptr<void>&, size_t, const void*, size_t) {
  throw BackendFailure("the opencl backend is not built");
}
void device_read(int, const std::shared_ptr<void>&, size_t, void*, size_t) {
  throw BackendFailure("the opencl backend is not built");
}

QueueReport sync(int) { return {}; }
void cast(int, const void*, DType, void*, DType, int64_t) { throw BackendFailure("the opencl backend is not built"); }
void copy_rect(int, const void*, void*, const Rect&) { throw BackendFailure("the opencl backend is not built"); }
int device_index(void*) { return -1; }
void adopt(int, void*, void*) { throw BackendFailure("the opencl backend is not built"); }
std::shared_ptr<void> wrap(int, void*, size_t, size_t) { throw BackendFailure("the opencl backend is not built"); }
NativeHandles native_handles(int) { throw BackendFailure("the opencl backend is not built"); }
std::shared_ptr<void> mark(int) { throw BackendFailure("the opencl backend is not built"); }
bool mark_done(const std::shared_ptr<void>&) { return true; }
void mark_wait(const std::shared_ptr<void>&) {}

} // namespace tessera::detail::opencl
