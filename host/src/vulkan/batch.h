// One run's commands: its uploads, then buffer fills and dispatches in order, each separated by a
// full memory barrier (the passes of an operation depend on each other), with timestamps around
// the fills and dispatches. A run records into the device's open submission (device.h,
// Submission) after a full barrier on the commands before it, and submits nothing itself: the
// submission is submitted and waited for by complete(), which runs when something needs its
// results on the host (from_buffer into host memory, transfer(), a device buffer's upload or
// download, sync()) or when it is full. So a run whose outputs all stay on the device returns
// without waiting (queued); sync() counts it, times it and reports its failure. Also
// transfer(), the one-shot submissions of memory.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/backend.h"
#include "memory.h"
#include "pipelines.h"

namespace tessera::detail::vulkan {

class Batch {
public:
  // How a run counts in sync(): a call of operation `op` of its own, or a step of one (a cast of
  // an operand, host/src/fp32_operands.h), whose device time counts and whose call does not.
  enum class Role { Call, Part };
  // Starts a run of `op` (named by sync() when the run fails after returning); the caller holds
  // d.mutex until the run's outputs are read, and no other Batch of d is alive.
  Batch(Device& d, std::string_view op, Role role = Role::Call);
  // Ends the run's recording; where its commands are still queued, last_device_ms() is -1.
  ~Batch();
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

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
  // the same full barrier. It binds nothing anew (no descriptor set on a device without pushed
  // descriptors), so a launcher can cut a long sequential loop into any number of dispatches.
  void redispatch(const void* push, uint32_t groups);
  const Device& device() const { return d_; }
  // Ends the timing of the commands recorded so far; submits nothing. Then the run's outputs are
  // copied out (from_buffer): a copy into host memory submits and waits for everything before
  // it, a copy into a device buffer is recorded after it. More commands may follow (a second
  // pass that needs what the host read back), timed anew.
  void finish();
  // Input `name` [rows, cols] of this run was scanned on the device, and the 32-bit word at
  // `offset` of `found` holds its first non-finite element's index (0xFFFFFFFF for none): a copy
  // of it is kept on the device and read when the submission completes, so that the run need not
  // wait; the next sync() then reports a non-finite element as Error(NonFinite) naming the
  // operation and the element, after the run wrote its outputs. For resident inputs, which the
  // host cannot scan.
  void check_at_sync(Buffer& found, VkDeviceSize offset, std::string_view name, int64_t rows, int64_t cols);
  // A status word at `offset` of `word` (0: the shaders' loops ran to their end) kept the same
  // way, for a run whose outputs all stay on the device: a non-zero word makes `failure` the
  // next sync()'s Error(Unsupported). The run's outputs were written by then (the host can only
  // know once the submission has run); a run with host outputs reads the word itself and falls
  // back instead.
  void status_at_sync(Buffer& word, VkDeviceSize offset, std::string failure);

private:
  VkCommandBuffer cmd();          // the open command buffer, in a segment of this run
  Buffer::Place place(Buffer& b); // b's place, its first block scribbled under set_force_staging
  void keep_word(Buffer& b, VkDeviceSize offset, Submission::Check check); // a slot of d.flags
  void start_timing();            // before the first fill or dispatch: uploads are not timed
  // A set of k's layout from the device's descriptor pool (made on first use), for a device
  // without pushed descriptors; freed when the submission completes.
  VkDescriptorSet take_set(const Kernel& k);
  Device& d_;
  std::string op_;
  Role role_;
  uint64_t call_;   // Submission::Segment::call
  int exceptions_;  // std::uncaught_exceptions() when the run began
  const Kernel* last_ = nullptr; // of the last dispatch(), bound for redispatch()
  uint64_t bound_in_ = 0;        // the submission (Submission::number) it was bound in
};

// The open command buffer, begun where nothing is open, after a full barrier on the commands
// before: for memory.cpp's copies, which are submitted with it. The caller holds d.mutex.
VkCommandBuffer recording(Device& d);
// Submits the open submission, if any, waits for it and completes it: the device time and count
// of its runs, and what their checks found, go to the device's report for the next sync(); its
// blocks go back to the pool, its device buffers are released, its descriptor sets (if any) freed. A
// failed submission is kept for sync() as the failure of the first run it held that had
// returned, and is thrown as BackendFailure once the submission is cleared. The caller holds
// d.mutex.
void complete(Device& d);
// Records `record` into the open command buffer after a barrier on everything before, then
// complete(): memory.cpp's copies through staging blocks and into device buffers. The caller
// holds d.mutex.
void transfer(Device& d, const std::function<void(VkCommandBuffer)>& record);
// Keeps what the open submission may still use until it completes (at once where none is open):
// a block goes back to the pool then, a device buffer's handle is released then.
void keep_until_complete(Device& d, std::unique_ptr<Block> b);
void keep_until_complete(Device& d, std::shared_ptr<void> resident);
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
