#include "memory.h"

#include <fmt/format.h>

#include <cstddef>
#include <cstring>

#include "core/backend.h"

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

Buffer::Buffer(Device& d, VkDeviceSize bytes) {
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

void to_buffer(const Buffer& b, VkDeviceSize offset, const void* src, size_t bytes) {
  if (offset + bytes > b.size_)
    backend_failure(fmt::format("a copy of {} bytes at {} passes the end of a {}-byte buffer", bytes, offset, b.size_));
  std::memcpy(static_cast<std::byte*>(b.map_) + offset, src, bytes);
  thread_traffic().bytes_to_device += static_cast<int64_t>(bytes);
}

void from_buffer(const Buffer& b, VkDeviceSize offset, void* dst, size_t bytes) {
  if (offset + bytes > b.size_)
    backend_failure(fmt::format("a copy of {} bytes at {} passes the end of a {}-byte buffer", bytes, offset, b.size_));
  std::memcpy(dst, static_cast<const std::byte*>(b.map_) + offset, bytes);
  thread_traffic().bytes_from_device += static_cast<int64_t>(bytes);
}

} // namespace tessera::detail::vulkan
