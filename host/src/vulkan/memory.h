// Vulkan memory: the blocks behind every buffer, the device's pool of blocks for runs, and a run's
// buffers.
//
// A block is one of two kinds. Device-local memory, never mapped, is what kernels should read on
// a discrete GPU, where host-visible memory is system memory across the bus: the host reaches it
// through a mapped staging block and vkCmdCopyBuffer. Host-visible coherent memory, mapped for
// the block's lifetime, is every staging block, and every buffer where the device shares the
// host's memory (integrated GPUs, lavapipe), so that there the host copies in place. device_local()
// picks; tests force the discrete path on any device (testing.h: set_force_staging).
//
// A run's buffers take their blocks from the device's pool and give them back when the run ends
// (or, for a run left queued, when its submission completes: batch.h), so a steady workload
// allocates nothing; thread_traffic() (core/backend.h) counts each block
// made (a pool miss, a device buffer) as an allocation, and only the bytes that cross between
// host and device as traffic. A pooled block holds its last run's bytes: kernels must not expect
// zeros (Batch::fill clears what a kernel accumulates into).
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "device.h"

namespace tessera::detail::vulkan {

// Whether buffers on d are device-local: on a discrete GPU, or anywhere under set_force_staging.
bool device_local(const Device& d);
bool force_staging(); // testing.h: set_force_staging

// One VkBuffer with memory of its own: `mapped` (host-visible, coherent, mapped) or device-local.
// At least `bytes`, rounded up to whole 32-bit words (how the shaders see every buffer). Throws
// BackendFailure when the size passes the device's limits or memory runs out.
class Block {
public:
  Block(Device& d, VkDeviceSize bytes, bool mapped);
  // An engine's buffer (wrap, core/backend.h): `bytes` of `borrowed` from byte `base`, neither
  // owned nor mapped (the engine destroys it; copies to and from it go through staging).
  Block(Device& d, VkBuffer borrowed, VkDeviceSize base, VkDeviceSize bytes);

  VkBuffer get() const { return borrowed_ != VK_NULL_HANDLE ? borrowed_ : buffer_.get(); }
  Device& device() const { return *device_; }
  VkDeviceSize size() const { return size_; }
  // Where the block's first byte is in get(): 0 but for an engine's buffer wrapped at an offset.
  VkDeviceSize base() const { return base_; }
  std::byte* data() const { return map_; } // nullptr for device-local memory

private:
  Device* device_;
  OwnedMemory memory_; // declared first: freed after the buffer that is bound to it
  OwnedBuffer buffer_;
  VkBuffer borrowed_ = VK_NULL_HANDLE;
  VkDeviceSize base_ = 0;
  VkDeviceSize size_ = 0;
  std::byte* map_ = nullptr;
};

// A device's idle blocks, kept for the next runs; used under d.mutex.
class Pool {
public:
  explicit Pool(const Device& d);
  // A kept block of the size class of `bytes` and of that kind, else a new one.
  std::unique_ptr<Block> take(Device& d, VkDeviceSize bytes, bool mapped);
  // Keeps b, freeing the least recently kept blocks past the pool's bound (memory.cpp).
  void give(std::unique_ptr<Block> b);

private:
  std::vector<std::unique_ptr<Block>> idle_; // least recently given first
  VkDeviceSize kept_ = 0, limit_ = 0, largest_ = 0;
};

// A buffer of one run, of `bytes` rounded up to whole 32-bit words (the range its descriptor
// binds). It takes a block of the pool at first use, unless Batch::upload makes it a window of
// the device buffer its input lives in, and gives the block back when destroyed, or when the
// open submission completes where its run is queued (keep_until_complete, batch.h). The caller
// holds d.mutex for the buffer's whole life. Throws BackendFailure when the size passes the
// device's limits.
class Buffer {
public:
  Buffer(Device& d, VkDeviceSize bytes);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  Device& device() const { return *device_; }
  VkDeviceSize size() const { return size_; }

  // Where the buffer lies: its VkBuffer, its offset there, and the host's mapping of that offset
  // (nullptr where device-local). The first call takes a block, and says so in *taken.
  struct Place {
    VkBuffer buffer;
    VkDeviceSize offset;
    std::byte* host;
  };
  Place place(bool* taken = nullptr);
  // Makes this unused buffer the window at `offset` of device buffer `handle` (a Block), which it
  // keeps alive; false, and nothing changes, where the offset is not a storage-buffer offset the
  // device takes or the window would pass the block's end.
  bool window(std::shared_ptr<void> handle, VkDeviceSize offset);
  bool is_window() const { return resident_ != nullptr; }

private:
  Device* device_;
  VkDeviceSize size_;
  std::unique_ptr<Block> own_;     // from the pool
  std::shared_ptr<void> resident_; // or a device buffer's Block, at offset_
  VkDeviceSize offset_ = 0;
};

// Copies `bytes` from buffer b at `offset` to dst after its run's commands (Batch::finish), so
// that an output may alias an input of the run. dst is host memory (counted in thread_traffic()
// as bytes from the device): the open submission is submitted and waited for (batch.h,
// complete(); a failed one throws, and nothing is written), then the bytes are copied in place
// where b is mapped, else through a staging block. Or dst is a view of a device buffer of this
// device (Context::device_alloc): a copy on the device recorded after the run, which waits for
// nothing; nothing crosses to the host.
void from_buffer(Buffer& b, VkDeviceSize offset, void* dst, size_t bytes);

// Throws BackendFailure where a copy of `bytes` at `offset` passes the end of `size` bytes.
void check_range(VkDeviceSize size, VkDeviceSize offset, size_t bytes);

// The block behind resident address p, an allocation of this backend on d holding [p, p + bytes),
// and p's offset in the block's VkBuffer (its base() included); kept alive through `keep`. Error(InvalidArgument) naming `what` when it
// lives on another device.
const Block& resident_block(const Device& d, const void* p, size_t bytes, std::string_view what,
                            std::shared_ptr<void>& keep, VkDeviceSize& offset);

// A quantizer's scan found element i of its fp32 input x [rows, cols] (the run's buffer)
// non-finite: its value is read back and the host's check_finite error given for it, word for
// word (detail::device_found_non_finite).
[[noreturn]] void refuse_non_finite(std::string_view op, Buffer& x, int64_t rows, int64_t cols, uint32_t i);

} // namespace tessera::detail::vulkan
