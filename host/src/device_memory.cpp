#include "device_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "core/error.h"

namespace tessera::detail::device_memory {

namespace {
// 2^44 bytes of addresses (16 TiB, no memory behind them): the sum of every device allocation a
// process makes, since addresses are not reused. Where the process may not reserve that much
// (an address-space limit, a sanitizer's shadow), smaller ranges are tried down to 64 GiB.
// Allocations start on 256-byte boundaries, the alignment OpenCL sub-buffers and Vulkan
// storage-buffer offsets ask for at most.
constexpr int kRegionLog2[] = {44, 40, 36};
constexpr size_t kAlign = 256;

struct Region {
  std::mutex mutex;
  uintptr_t begin = 0, next = 0, end = 0;
  std::map<uintptr_t, Allocation> live; // by base
};

Region& region() {
  static Region* r = [] {
    auto* reg = new Region; // never destroyed: views may outlive static destruction order
    for (int log2 : kRegionLog2) {
      const size_t bytes = size_t{1} << log2;
      void* p = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p == MAP_FAILED) continue;
      reg->begin = reg->next = reinterpret_cast<uintptr_t>(p);
      reg->end = reg->begin + bytes;
      break;
    }
    return reg;
  }();
  return *r;
}
} // namespace

namespace {
uintptr_t add(std::string_view backend, int device, size_t bytes, std::shared_ptr<void> handle) {
  Region& r = region();
  std::lock_guard lock(r.mutex);
  if (r.begin == 0)
    fail(ErrorCode::Unsupported, "device memory: the process could not reserve an address range for device buffers");
  const size_t span = (std::max<size_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
  if (span > r.end - r.next)
    fail(ErrorCode::Unsupported, "device memory: the {} GiB of addresses for device buffers are used up (addresses "
                                 "are not reused: allocate once, keep the buffers)",
         (r.end - r.begin) >> 30);
  const uintptr_t base = r.next;
  r.next += span;
  r.live.emplace(base, Allocation{std::string(backend), device, base, bytes, std::move(handle)});
  return base;
}
} // namespace

void write(std::string_view op, const Allocation& a, size_t offset, const void* src, size_t bytes) {
  try {
    if (a.backend == "opencl") opencl::device_write(a.device, a.handle, offset, src, bytes);
    else vulkan::device_write(a.device, a.handle, offset, src, bytes);
  } catch (const BackendFailure& f) {
    fail(ErrorCode::Unsupported, "{}: writing {} bytes to {}:{}: {}", op, bytes, a.backend, a.device, f.what());
  }
}

void read(std::string_view op, const Allocation& a, size_t offset, void* dst, size_t bytes) {
  try {
    if (a.backend == "opencl") opencl::device_read(a.device, a.handle, offset, dst, bytes);
    else vulkan::device_read(a.device, a.handle, offset, dst, bytes);
  } catch (const BackendFailure& f) {
    fail(ErrorCode::Unsupported, "{}: reading {} bytes from {}:{}: {}", op, bytes, a.backend, a.device, f.what());
  }
}

uintptr_t allocate(std::string_view op, std::string_view backend, int device, size_t bytes) {
  Allocation a{std::string(backend), device, 0, bytes, nullptr};
  try {
    a.handle = backend == "opencl" ? opencl::device_alloc(device, bytes) : vulkan::device_alloc(device, bytes);
  } catch (const BackendFailure& f) {
    fail(ErrorCode::Unsupported, "{}: {} bytes on {}:{}: {}", op, bytes, backend, device, f.what());
  }
  // Zero-filled by the backend on the device, as Context::alloc's host memory is: a buffer read
  // before it is written holds no other process's or call's data, and no zeros cross the bus.
  return add(backend, device, bytes, std::move(a.handle));
}

uintptr_t adopt(std::string_view, std::string_view backend, int device, size_t bytes, std::shared_ptr<void> handle) {
  return add(backend, device, bytes, std::move(handle));
}

void remove(uintptr_t base) {
  Region& r = region();
  std::lock_guard lock(r.mutex);
  r.live.erase(base);
}

bool resident(const void* p) {
  const Region& r = region();
  const auto a = reinterpret_cast<uintptr_t>(p);
  return a >= r.begin && a < r.end; // begin and end never change after the first call
}

Allocation find(std::string_view op, std::string_view what, const void* p, size_t bytes) {
  Region& r = region();
  const auto a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard lock(r.mutex);
  auto it = r.live.upper_bound(a);
  if (it != r.live.begin()) {
    --it;
    const Allocation& m = it->second;
    if (a - m.base <= m.bytes) { // inside, or at the end (an empty view there is fine)
      if (bytes > m.bytes - (a - m.base))
        fail(ErrorCode::ShortBuffer, "{}: {} needs {} bytes at offset {} of a {}-byte device buffer", op, what, bytes,
             a - m.base, m.bytes);
      return m;
    }
  }
  if (a >= r.begin && a < r.next)
    fail(ErrorCode::NullBuffer, "{}: {} points into a device buffer that was freed", op, what);
  fail(ErrorCode::NullBuffer, "{}: {} is no address of a device buffer", op, what);
}

namespace {
// Free scratch buffers the pool keeps, in bytes over all devices: enough for the fp32 copies of
// a long prefill's activations (a 4096-token q of 24 heads of 256 is 96 MiB), small next to a
// GPU's memory. A buffer given back past it is freed instead.
constexpr size_t kScratchPoolBytes = size_t{1} << 30;

struct ScratchPool {
  std::mutex mutex;
  size_t free_bytes = 0;
  // (backend, device, size class) -> free buffers' bases
  std::map<std::tuple<std::string, int, size_t>, std::vector<uintptr_t>> free;
};

ScratchPool& scratch_pool() {
  static auto* pool = new ScratchPool; // never destroyed, like the region
  return *pool;
}
} // namespace

Scratch::Scratch(std::string_view op, std::string_view backend, int device, size_t bytes)
    : backend_(backend), device_(device), bytes_(std::bit_ceil(std::max<size_t>(bytes, kAlign))) {
  ScratchPool& p = scratch_pool();
  {
    std::lock_guard lock(p.mutex);
    auto it = p.free.find({backend_, device_, bytes_});
    if (it != p.free.end() && !it->second.empty()) {
      base_ = it->second.back();
      it->second.pop_back();
      p.free_bytes -= bytes_;
      return;
    }
  }
  base_ = allocate(op, backend, device, bytes_);
}

Scratch::~Scratch() { release(); }

Scratch::Scratch(Scratch&& o) noexcept
    : backend_(std::move(o.backend_)), device_(o.device_), base_(std::exchange(o.base_, 0)), bytes_(o.bytes_) {}

Scratch& Scratch::operator=(Scratch&& o) noexcept {
  if (this != &o) {
    release();
    backend_ = std::move(o.backend_);
    device_ = o.device_;
    base_ = std::exchange(o.base_, 0);
    bytes_ = o.bytes_;
  }
  return *this;
}

void Scratch::release() {
  if (base_ == 0) return;
  ScratchPool& p = scratch_pool();
  std::lock_guard lock(p.mutex);
  if (p.free_bytes + bytes_ <= kScratchPoolBytes) {
    p.free[{backend_, device_, bytes_}].push_back(base_);
    p.free_bytes += bytes_;
  } else {
    remove(base_);
  }
  base_ = 0;
}

} // namespace tessera::detail::device_memory
