// One run's commands: its uploads, then buffer fills and dispatches in order, each separated by a
// full memory barrier (the passes of an operation depend on each other), with timestamps around
// the fills and dispatches. Also transfer(), the one-shot submissions of memory.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "memory.h"
#include "pipelines.h"

namespace tessera::detail::vulkan {

class Batch {
public:
  // Starts recording into the device's command buffer; the caller holds d.mutex until submit()
  // has returned and the outputs are read.
  explicit Batch(Device& d);
  ~Batch(); // gives the staging blocks back to the pool

  // Copies `bytes` from src into b at `offset`, ahead of the commands recorded after it; the host's
  // bytes are read now. src is host memory (counted in thread_traffic() as bytes to the device):
  // copied in place where b is mapped, else through a staging block. Or src is a view of a device
  // buffer of this device (Context::device_alloc): then b becomes a window of that buffer when src
  // is all of b and its offset meets minStorageBufferOffsetAlignment (the kernels read it where it
  // is), else a copy on the device; nothing crosses to the host. Only for a run's inputs, which
  // the kernels only read.
  void upload(Buffer& b, VkDeviceSize offset, const void* src, size_t bytes);
  // Fills `bytes` of `b` from `offset` with the 32-bit `value`.
  void fill(Buffer& b, VkDeviceSize offset, VkDeviceSize bytes, uint32_t value);
  // `buffers` go to bindings 0..n-1; `push` is k.push_bytes of push constants.
  void dispatch(const Kernel& k, std::initializer_list<Buffer*> buffers, const void* push,
                uint32_t groups);
  // One more dispatch of the last dispatch()'s kernel and buffers with new push constants, after
  // the same full barrier. It takes no descriptor set (the device's pool holds 16 a batch), so a
  // launcher can cut a long sequential loop into any number of dispatches.
  void redispatch(const void* push, uint32_t groups);
  const Device& device() const { return d_; }
  // Submits, waits, and records the device time of the batch for last_device_ms().
  void submit();

private:
  Buffer::Place place(Buffer& b); // b's place, its first block scribbled under set_force_staging
  void start_timing();            // before the first fill or dispatch: uploads are not timed
  Device& d_;
  const Kernel* last_ = nullptr; // of the last dispatch(), bound for redispatch()
  bool timing_ = false;
  std::vector<std::unique_ptr<Block>> staging_;
  std::vector<std::shared_ptr<void>> resident_; // device buffers this batch copies from
};

// Records `record` into the device's command buffer after a barrier on everything submitted
// before, submits it and waits, leaving last_device_ms() alone: memory.cpp's copies through
// staging blocks and into device buffers. The caller holds d.mutex.
void transfer(Device& d, const std::function<void(VkCommandBuffer)>& record);

// Workgroups for `items` work items at `workgroup` a group, capped by the device's limit (every
// kernel loops when it gets fewer groups than items need).
uint32_t group_count(const Device& d, uint64_t items, uint32_t workgroup);

// Records `k` over `units` units (tasks), one a workgroup, in slices of at most the device's
// group count, once per window w = 0 .. windows - 1, in that order: set(w, base, end) writes the
// window and the slice [base, end) into the push constants at `push` before each dispatch. The
// first dispatch binds `buffers`, the others reuse them (Batch::redispatch). For shaders that
// must bound the loop iterations of an invocation (deltanet.h, attention.cpp: llvmpipe's loop
// guard), so that no workgroup's count grows with the problem.
void dispatch_windows(Batch& batch, const Kernel& k, std::initializer_list<Buffer*> buffers,
                      const void* push, int64_t windows, int64_t units,
                      const std::function<void(int64_t w, uint32_t base, uint32_t end)>& set);

} // namespace tessera::detail::vulkan
