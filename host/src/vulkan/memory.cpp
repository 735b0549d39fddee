#include "memory.h"

#include <fmt/format.h>

#include <cstddef>
#include <cstring>

#include "core/backend.h"
#include "core/error.h"
#include "host/src/device_memory.h"

namespace tessera::detail::vulkan {

namespace {

// A host-visible coherent type the buffer may use; cached memory first, since outputs are read
// back by the CPU.
uint32_t memory_type(const Device& d, uint32_t allowed) {
  const VkMemoryPropertyFlags need =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  const VkPhysicalDeviceMemoryProperties& m = d.memory;
  for (VkMemoryPropertyFlags extra :
       {VkMemoryPropertyFlags(VK_MEMORY_PROPERTY_HOST_CACHED_BIT), VkMemoryPropertyFlags(0)})
    for (uint32_t i = 0; i < m.memoryTypeCount; ++i)
      if ((allowed & (1u << i)) &&
          (m.memoryTypes[i].propertyFlags & (need | extra)) == (need | extra))
        return i;
  backend_failure("no host-visible coherent memory type for a storage buffer");
}

} // namespace

Buffer::Buffer(Device& d, VkDeviceSize bytes) : device_(&d) {
  size_ = (bytes + 3) / 4 * 4;
  if (size_ == 0) size_ = 4; // Vulkan has no empty buffers
  // Larger tensors would need the kernels to bind windows of the tensor: not done yet.
  if (size_ > d.properties.limits.maxStorageBufferRange)
    backend_failure(fmt::format("a buffer of {} bytes exceeds maxStorageBufferRange ({})", size_,
                                d.properties.limits.maxStorageBufferRange));
  if (d.max_allocation && size_ > d.max_allocation)
    backend_failure(fmt::format("a buffer of {} bytes exceeds maxMemoryAllocationSize ({})", size_,
                                d.max_allocation));
  VkDevice dev = d.device.get();

  auto bi = make<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
  bi.size = size_;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer buffer;
  check(vkCreateBuffer(dev, &bi, nullptr, &buffer), "vkCreateBuffer");
  buffer_ = OwnedBuffer(dev, buffer);

  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev, buffer, &req);
  auto ai = make<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = memory_type(d, req.memoryTypeBits);
  VkDeviceMemory memory;
  check(vkAllocateMemory(dev, &ai, nullptr, &memory),
        fmt::format("vkAllocateMemory({} bytes)", req.size));
  memory_ = OwnedMemory(dev, memory);
  check(vkBindBufferMemory(dev, buffer, memory, 0), "vkBindBufferMemory");
  // Freeing the memory unmaps it, so the mapping needs no owner of its own.
  check(vkMapMemory(dev, memory, 0, VK_WHOLE_SIZE, 0, &map_), "vkMapMemory");
  thread_traffic().allocations += 1;
}

namespace {
// Copies `bytes` between b at `offset` and the device buffer behind resident address p (into b
// when `into_b`), which must be on b's device. The record `a` keeps that buffer alive during the
// copy even if its DeviceBuffer is freed meanwhile.
void resident_copy(const Buffer& b, VkDeviceSize offset, const void* p, size_t bytes, bool into_b,
                   std::string_view what) {
  const device_memory::Allocation a = device_memory::find("vulkan", what, p, bytes);
  const auto* r = static_cast<const Buffer*>(a.handle.get());
  if (a.backend != "vulkan" || &r->device() != &b.device())
    tessera::detail::fail(ErrorCode::InvalidArgument, "vulkan: {} lives on {}:{}, not on the device of this call",
                          what, a.backend, a.device);
  std::byte* there = static_cast<std::byte*>(r->data()) + (reinterpret_cast<uintptr_t>(p) - a.base);
  std::byte* here = static_cast<std::byte*>(b.data()) + offset;
  if (into_b) std::memcpy(here, there, bytes);
  else std::memcpy(there, here, bytes);
}
} // namespace

void to_buffer(const Buffer& b, VkDeviceSize offset, const void* src, size_t bytes) {
  if (offset + bytes > b.size())
    backend_failure(fmt::format("a copy of {} bytes at {} passes the end of a {}-byte buffer", bytes, offset, b.size()));
  if (device_memory::resident(src)) {
    resident_copy(b, offset, src, bytes, true, "an input");
    return;
  }
  std::memcpy(static_cast<std::byte*>(b.data()) + offset, src, bytes);
  thread_traffic().bytes_to_device += static_cast<int64_t>(bytes);
}

void from_buffer(const Buffer& b, VkDeviceSize offset, void* dst, size_t bytes) {
  if (offset + bytes > b.size())
    backend_failure(fmt::format("a copy of {} bytes at {} passes the end of a {}-byte buffer", bytes, offset, b.size()));
  if (device_memory::resident(dst)) {
    resident_copy(b, offset, dst, bytes, false, "an output");
    return;
  }
  std::memcpy(dst, static_cast<const std::byte*>(b.data()) + offset, bytes);
  thread_traffic().bytes_from_device += static_cast<int64_t>(bytes);
}

std::shared_ptr<void> device_alloc(int device_index, size_t bytes) {
  return std::make_shared<Buffer>(device(device_index), bytes);
}

void device_write(int, const std::shared_ptr<void>& buffer, size_t offset, const void* src, size_t bytes) {
  to_buffer(*static_cast<const Buffer*>(buffer.get()), offset, src, bytes);
}

void device_read(int, const std::shared_ptr<void>& buffer, size_t offset, void* dst, size_t bytes) {
  from_buffer(*static_cast<const Buffer*>(buffer.get()), offset, dst, bytes);
}

} // namespace tessera::detail::vulkan
