#include "memory.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>

#include "batch.h"
#include "core/backend.h"
#include "core/error.h"
#include "host/src/device_memory.h"
#include "host/src/validate.h"
#include "testing.h"

namespace tessera::detail::vulkan {

namespace {

std::atomic<bool> g_force_staging{false};

// What the pool may keep idle: a quarter of the device's largest memory heap. Enough to hold
// every buffer of a steady workload's calls, which is the pool's point; little enough to leave
// most of the memory to the application's own device buffers. Past it the least recently given
// blocks are freed.
constexpr VkDeviceSize kPoolHeapFraction = 4;

// The smallest block the pool makes: status words, scalars and placeholder bindings share it.
constexpr VkDeviceSize kSmallestBlock = 256;

// A memory type the block may use: for a mapped block host-visible and coherent, cached first
// (outputs and staged reads are read by the CPU); else device-local first, any type at all where
// there is none (a forced discrete path on lavapipe, whose one type is both).
uint32_t memory_type(const Device& d, uint32_t allowed, bool mapped) {
  constexpr VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  const VkMemoryPropertyFlags mapped_order[] = {host | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, host};
  const VkMemoryPropertyFlags local_order[] = {VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0};
  const VkPhysicalDeviceMemoryProperties& m = d.memory;
  for (VkMemoryPropertyFlags need : mapped ? mapped_order : local_order)
    for (uint32_t i = 0; i < m.memoryTypeCount; ++i)
      if ((allowed & (1u << i)) && (m.memoryTypes[i].propertyFlags & need) == need) return i;
  backend_failure(mapped ? "no host-visible coherent memory type for a storage buffer"
                         : "no memory type for a storage buffer");
}

// bytes rounded up to whole words (Vulkan has no empty buffers), within what one storage buffer
// and one allocation may hold. Larger tensors would need the kernels to bind windows of them.
VkDeviceSize checked_size(const Device& d, VkDeviceSize bytes) {
  const VkDeviceSize size = std::max<VkDeviceSize>(4, (bytes + 3) / 4 * 4);
  if (size > d.properties.limits.maxStorageBufferRange)
    backend_failure(fmt::format("a buffer of {} bytes exceeds maxStorageBufferRange ({})", size,
                                d.properties.limits.maxStorageBufferRange));
  if (d.max_allocation && size > d.max_allocation)
    backend_failure(fmt::format("a buffer of {} bytes exceeds maxMemoryAllocationSize ({})", size, d.max_allocation));
  return size;
}

// The block size a request of `bytes` gets: four classes an octave (5, 6, 7 or 8 quarters of the
// power of two below), so a block is under 25% larger than asked, and kept blocks fit the next
// requests of about their size; never past `largest`, the most a buffer may hold.
VkDeviceSize size_class(VkDeviceSize bytes, VkDeviceSize largest) {
  if (bytes <= kSmallestBlock) return kSmallestBlock;
  const VkDeviceSize step = std::bit_floor(bytes - 1) / 4;
  return std::max(bytes, std::min((bytes + step - 1) / step * step, largest));
}

// Host <-> [offset, offset + bytes) of `buffer` through a staging block, each a submission with
// everything queued before it.
void staged_write(Device& d, VkBuffer buffer, VkDeviceSize offset, const void* src, size_t bytes) {
  d.paths.staged_bytes += static_cast<int64_t>(bytes);
  std::unique_ptr<Block> s = d.pool->take(d, bytes, true);
  std::memcpy(s->data(), src, bytes);
  transfer(d, [&](VkCommandBuffer cmd) {
    const VkBufferCopy region{0, offset, bytes};
    vkCmdCopyBuffer(cmd, s->get(), buffer, 1, &region);
  });
  d.pool->give(std::move(s));
}

void staged_read(Device& d, VkBuffer buffer, VkDeviceSize offset, void* dst, size_t bytes) {
  d.paths.staged_bytes += static_cast<int64_t>(bytes);
  std::unique_ptr<Block> s = d.pool->take(d, bytes, true);
  transfer(d, [&](VkCommandBuffer cmd) {
    const VkBufferCopy region{offset, 0, bytes};
    vkCmdCopyBuffer(cmd, buffer, s->get(), 1, &region);
  });
  std::memcpy(dst, s->data(), bytes);
  d.pool->give(std::move(s));
}

} // namespace

void check_range(VkDeviceSize size, VkDeviceSize offset, size_t bytes) {
  if (offset > size || bytes > size - offset)
    backend_failure(fmt::format("a copy of {} bytes at {} passes the end of a {}-byte buffer", bytes, offset, size));
}

void set_force_staging(bool on) { g_force_staging = on; }
bool force_staging() { return g_force_staging; }

MemoryPaths memory_paths(int device_index) {
  Device& d = device(device_index);
  std::lock_guard lock(d.mutex);
  MemoryPaths p = d.paths;
  p.device_local = device_local(d);
  return p;
}

bool device_local(const Device& d) {
  return d.properties.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU || force_staging();
}

Block::Block(Device& d, VkBuffer borrowed, VkDeviceSize base, VkDeviceSize bytes)
    : device_(&d), borrowed_(borrowed), base_(base), size_(bytes) {}

Block::Block(Device& d, VkDeviceSize bytes, bool mapped) : device_(&d), size_(checked_size(d, bytes)) {
  VkDevice dev = d.device.get();
  auto bi = make<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
  bi.size = size_;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer buffer;
  check(vkCreateBuffer(dev, &bi, nullptr, &buffer), "vkCreateBuffer");
  buffer_ = OwnedBuffer(dev, buffer);

  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev, buffer, &req);
  auto ai = make<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = memory_type(d, req.memoryTypeBits, mapped);
  VkDeviceMemory memory;
  check(vkAllocateMemory(dev, &ai, nullptr, &memory), fmt::format("vkAllocateMemory({} bytes)", req.size));
  memory_ = OwnedMemory(dev, memory);
  check(vkBindBufferMemory(dev, buffer, memory, 0), "vkBindBufferMemory");
  // Freeing the memory unmaps it, so the mapping needs no owner of its own.
  void* map = nullptr;
  if (mapped) check(vkMapMemory(dev, memory, 0, VK_WHOLE_SIZE, 0, &map), "vkMapMemory");
  map_ = static_cast<std::byte*>(map);
  thread_traffic().allocations += 1;
}

Pool::Pool(const Device& d) {
  for (uint32_t i = 0; i < d.memory.memoryHeapCount; ++i)
    limit_ = std::max(limit_, d.memory.memoryHeaps[i].size / kPoolHeapFraction);
  largest_ = std::min<VkDeviceSize>(d.properties.limits.maxStorageBufferRange,
                                    d.max_allocation ? d.max_allocation : ~VkDeviceSize{0}) /
             4 * 4;
}

std::unique_ptr<Block> Pool::take(Device& d, VkDeviceSize bytes, bool mapped) {
  const VkDeviceSize size = size_class(checked_size(d, bytes), largest_);
  for (auto it = idle_.rbegin(); it != idle_.rend(); ++it)
    if ((*it)->size() == size && ((*it)->data() != nullptr) == mapped) {
      std::unique_ptr<Block> b = std::move(*it);
      idle_.erase(std::next(it).base());
      kept_ -= size;
      return b;
    }
  return std::make_unique<Block>(d, size, mapped);
}

void Pool::give(std::unique_ptr<Block> b) {
  if (b->size() > limit_) return; // freed now
  kept_ += b->size();
  idle_.push_back(std::move(b));
  size_t drop = 0;
  while (kept_ > limit_)
    kept_ -= idle_[drop++]->size();
  idle_.erase(idle_.begin(), idle_.begin() + static_cast<std::ptrdiff_t>(drop));
}

Buffer::Buffer(Device& d, VkDeviceSize bytes) : device_(&d), size_(checked_size(d, bytes)) {}

Buffer::~Buffer() {
  // Commands of a queued run may still use the block, or read the device buffer of a window.
  if (own_) keep_until_complete(*device_, std::move(own_));
  if (resident_) keep_until_complete(*device_, std::move(resident_));
}

Buffer::Place Buffer::place(bool* taken) {
  if (taken) *taken = false;
  if (resident_) return {static_cast<const Block*>(resident_.get())->get(), offset_, nullptr};
  if (!own_) {
    own_ = device_->pool->take(*device_, size_, !device_local(*device_));
    if (taken) *taken = true;
  }
  return {own_->get(), 0, own_->data()};
}

bool Buffer::window(std::shared_ptr<void> handle, VkDeviceSize offset) {
  const auto* b = static_cast<const Block*>(handle.get());
  const VkDeviceSize end = b->base() + b->size(); // offsets are the VkBuffer's (resident_block)
  if (own_ || resident_ || offset % device_->properties.limits.minStorageBufferOffsetAlignment != 0 ||
      offset < b->base() || offset > end || size_ > end - offset)
    return false;
  resident_ = std::move(handle);
  offset_ = offset;
  return true;
}

const Block& resident_block(const Device& d, const void* p, size_t bytes, std::string_view what,
                            std::shared_ptr<void>& keep, VkDeviceSize& offset) {
  const device_memory::Allocation a = device_memory::find("vulkan", what, p, bytes);
  const auto* r = static_cast<const Block*>(a.handle.get());
  if (a.backend != "vulkan" || &r->device() != &d)
    tessera::detail::fail(ErrorCode::InvalidArgument, "vulkan: {} lives on {}:{}, not on the device of this call",
                          what, a.backend, a.device);
  keep = a.handle;
  offset = r->base() + (reinterpret_cast<uintptr_t>(p) - a.base);
  return *r;
}

void from_buffer(Buffer& b, VkDeviceSize offset, void* dst, size_t bytes) {
  check_range(b.size(), offset, bytes);
  if (bytes == 0) return;
  Device& d = b.device();
  const Buffer::Place p = b.place();
  if (device_memory::resident(dst)) { // a copy on the device; nothing crosses to the host
    std::shared_ptr<void> keep;
    VkDeviceSize at = 0;
    const Block& r = resident_block(d, dst, bytes, "an output", keep, at);
    d.paths.device_copies += 1;
    const VkBufferCopy region{p.offset + offset, at, bytes};
    vkCmdCopyBuffer(recording(d), p.buffer, r.get(), 1, &region);
    keep_until_complete(d, std::move(keep));
    return;
  }
  complete(d); // the run, and everything queued before it
  if (p.host) std::memcpy(dst, p.host + offset, bytes);
  else staged_read(d, p.buffer, p.offset + offset, dst, bytes);
  thread_traffic().bytes_from_device += static_cast<int64_t>(bytes);
}

std::shared_ptr<void> device_alloc(int device_index, size_t bytes) {
  Device& d = device(device_index);
  auto b = std::make_shared<Block>(d, bytes, !device_local(d));
  // Zero-filled where it is (core/backend.h): nothing crosses from the host.
  if (b->data()) {
    std::memset(b->data(), 0, b->size());
  } else {
    std::lock_guard lock(d.mutex);
    transfer(d, [&](VkCommandBuffer cmd) { vkCmdFillBuffer(cmd, b->get(), 0, VK_WHOLE_SIZE, 0); });
  }
  return b;
}

void device_write(int, const std::shared_ptr<void>& buffer, size_t offset, const void* src, size_t bytes) {
  const auto& b = *static_cast<const Block*>(buffer.get());
  check_range(b.size(), offset, bytes);
  if (bytes == 0) return;
  Device& d = b.device();
  std::lock_guard lock(d.mutex);
  if (b.data()) {
    complete(d); // queued runs read the bytes before they change
    std::memcpy(b.data() + offset, src, bytes);
  } else {
    staged_write(d, b.get(), b.base() + offset, src, bytes);
  }
  thread_traffic().bytes_to_device += static_cast<int64_t>(bytes);
}

void device_read(int, const std::shared_ptr<void>& buffer, size_t offset, void* dst, size_t bytes) {
  const auto& b = *static_cast<const Block*>(buffer.get());
  check_range(b.size(), offset, bytes);
  if (bytes == 0) return;
  Device& d = b.device();
  std::lock_guard lock(d.mutex);
  if (b.data()) {
    complete(d); // queued runs write the bytes first
    std::memcpy(dst, b.data() + offset, bytes);
  } else {
    staged_read(d, b.get(), b.base() + offset, dst, bytes);
  }
  thread_traffic().bytes_from_device += static_cast<int64_t>(bytes);
}

void refuse_non_finite(std::string_view op, Buffer& x, int64_t rows, int64_t cols, uint32_t i) {
  float v = 0.0f;
  if (i < rows * cols) from_buffer(x, VkDeviceSize{i} * sizeof v, &v, sizeof v);
  device_found_non_finite(op, "x", v, {rows, cols}, i);
}

} // namespace tessera::detail::vulkan
