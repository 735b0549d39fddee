// Storage buffers for one run. Host-visible, coherent memory, mapped for the buffer's lifetime:
// the host writes inputs and reads outputs in place, with no staging copies. Right for lavapipe
// and integrated GPUs (one memory); on a discrete GPU the kernels then read system memory over
// the bus, and staging through device-local memory is the later optimisation.
#pragma once

#include "device.h"

namespace tessera::detail::vulkan {

class Buffer {
public:
  // At least `bytes` (rounded up to whole 32-bit words, which is how the shaders see every
  // buffer). Throws BackendFailure when the size passes the device's limits or memory runs out.
  Buffer(Device& d, VkDeviceSize bytes);

  VkBuffer get() const { return buffer_.get(); }
  const Device& device() const { return *device_; }
  VkDeviceSize size() const { return size_; }
  void* data() const { return map_; }
  template <class T> T* as() const { return static_cast<T*>(map_); }

private:
  const Device* device_;
  OwnedMemory memory_; // declared first: freed after the buffer that is bound to it
  OwnedBuffer buffer_;
  VkDeviceSize size_ = 0;
  void* map_ = nullptr;
};

// The host's copies into and out of a buffer, at a byte offset; counted in thread_traffic()
// (core/backend.h) as bytes to and from the device. src (dst) may be a resident address, a view
// of a device buffer (Context::device_alloc) of the same device: then the copy is between the
// two buffers and nothing crosses to the host.
void to_buffer(const Buffer& b, VkDeviceSize offset, const void* src, size_t bytes);
void from_buffer(const Buffer& b, VkDeviceSize offset, void* dst, size_t bytes);

} // namespace tessera::detail::vulkan
