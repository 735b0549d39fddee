// Engine-owned Vulkan memory (core/backend.h: wrap, native_handles). A VkBuffer can only be bound
// on the VkDevice that made it, and Tessera makes its own VkDevice with the features its shaders
// need, so an engine shares memory by allocating its buffers on that device (native_handles gives
// the instance, physical device, device and compute queue) and wrapping them: a Block that
// borrows the buffer, recorded in device_memory like an allocation of ours.
#include <fmt/format.h>

#include <mutex>

#include "batch.h"
#include "core/backend.h"
#include "core/error.h"
#include "instance.h"

namespace tessera::detail::vulkan {

std::shared_ptr<void> wrap(int device_index, void* buffer, size_t offset, size_t bytes) {
  Device& d = device(device_index);
  const auto b = reinterpret_cast<VkBuffer>(buffer);
  if (b == VK_NULL_HANDLE) tessera::detail::fail(ErrorCode::InvalidArgument, "wrap_vulkan: the engine's buffer is VK_NULL_HANDLE");
  if (offset % 4 != 0)
    tessera::detail::fail(ErrorCode::InvalidArgument,
                          "wrap_vulkan: offset {} is no multiple of 4 bytes (the shaders read 32-bit words)", offset);
  // Vulkan cannot report a buffer's size; its memory requirements cover at least that size, so
  // a window past them is surely past the buffer (one inside is the engine's word).
  VkMemoryRequirements req{};
  vkGetBufferMemoryRequirements(d.device.get(), b, &req);
  if (offset > req.size || bytes > req.size - offset)
    tessera::detail::fail(ErrorCode::ShortBuffer,
                          "wrap_vulkan: bytes [{}, {} + {}) pass the end of the engine's VkBuffer ({} bytes of memory)",
                          offset, offset, bytes, req.size);
  return std::make_shared<Block>(d, b, offset, bytes);
}

NativeHandles native_handles(int device_index) {
  Device& d = device(device_index);
  return {instance().handle, d.physical, d.device.get(), d.family, d.queue};
}

// An event is the submission open when it was made (batch.h): submissions complete in order and
// each is waited for when submitted, so the event is done once that one is no longer open.
// Nothing submits the open submission by itself before a sync, a host read or a full buffer:
// wait() does.
namespace {
struct Mark {
  Device* d;
  uint64_t number; // 0: nothing was queued
};
} // namespace

std::shared_ptr<void> mark(int device_index) {
  Device& d = device(device_index);
  std::lock_guard lock(d.mutex);
  return std::make_shared<Mark>(Mark{&d, d.submission.open ? d.submission.number : 0});
}

bool mark_done(const std::shared_ptr<void>& mark) {
  const auto& m = *static_cast<const Mark*>(mark.get());
  std::lock_guard lock(m.d->mutex);
  return m.number == 0 || !(m.d->submission.open && m.d->submission.number == m.number);
}

void mark_wait(const std::shared_ptr<void>& mark) {
  const auto& m = *static_cast<const Mark*>(mark.get());
  std::lock_guard lock(m.d->mutex);
  if (m.number == 0 || !(m.d->submission.open && m.d->submission.number == m.number)) return;
  try {
    complete(*m.d);
  } catch (const BackendFailure&) {
    // Kept for sync(), which reports it naming the call.
  }
}

} // namespace tessera::detail::vulkan
