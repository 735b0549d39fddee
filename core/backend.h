// The device backends as the layers above see them: whether each is built, its devices' raw
// facts, why it has none, its variant records (which carry the launch functions), and the
// failure type its launchers throw.
// dispatch/ reads these to build its device list; host/src/opencl and host/src/vulkan define
// them (their stub.cpp when the backend is not built).
//
// BackendFailure: a kernel failed to build or launch (not bad input, which is tessera::Error).
// The dispatcher then disables that variant on that device, logs why, and moves on.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/variant.h"
#include "tessera/ops.h"

namespace tessera::detail {

class BackendFailure : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// What the launches on this thread allocated on a device and moved between host and device since
// execute() last reset it (host/src/execute.h copies it into the call's RunInfo). The backends'
// allocation and copy functions count here, so no launcher counts by hand.
// What a backend's sync() found: the calls that were queued (enqueued without a wait) since the
// last sync, and their kernels' device time.
struct QueueReport {
  int64_t calls = 0;
  double device_ms = 0.0;
};

// A copy of `rows` x `slices` runs of `run` bytes each between two places of one device's
// memory: run r of slice s starts at r * row + s * slice bytes from its side's start (the shape of
// clEnqueueCopyBufferRect, so row >= run and slice >= rows * row on both sides). How a strided
// view is gathered into a packed copy, or a packed result scattered into one
// (host/src/strided_views.h).
struct Rect {
  size_t run = 0, rows = 1, slices = 1;
  size_t src_row = 0, src_slice = 0, dst_row = 0, dst_slice = 0;
};

inline DeviceTraffic& thread_traffic() {
  thread_local DeviceTraffic t;
  return t;
}

namespace cpu {
// The CPU reference's records, one per operation (host/src/cpu_backend.cpp).
std::vector<core::Variant> variants();
} // namespace cpu

namespace opencl {
bool built();
// This backend's variant records (host/src/opencl/variants.cpp); empty when it is not built.
std::vector<core::Variant> variants();
// Device time (ms) of the kernels the last run on this thread launched, from OpenCL events.
double last_device_ms();
// Every OpenCL device of every platform; empty (never throws) when there is no ICD or device.
const std::vector<DeviceFacts>& devices();
// Why devices() is empty, in one line an operator can act on (the failing call, the ICD files
// found); "" when it is not.
std::string no_device_reason();
// Device memory (Context::device_alloc): a buffer of `bytes` on device `device`, owned by the
// handle, zero-filled on the device; blocking copies into and out of it at a byte offset,
// counted in thread_traffic().
// BackendFailure when the device cannot.
std::shared_ptr<void> device_alloc(int device, size_t bytes);
void device_write(int device, const std::shared_ptr<void>& buffer, size_t offset, const void* src, size_t bytes);
void device_read(int device, const std::shared_ptr<void>& buffer, size_t offset, void* dst, size_t bytes);
// n elements from src (of dtype `from`) to dst (of dtype `to`), both resident addresses of this
// device, on the device: F32 -> BF16/F16 rounds as convert does (RN), BF16/F16 -> F32 is exact.
// For operations that compute in fp32 and take or give resident 16-bit tensors
// (host/src/fp32_operands.h). BackendFailure when the device cannot.
void cast(int device, const void* src, DType from, void* dst, DType to, int64_t n);
// The copy `r` from src to dst, both resident addresses of this device, on the device (in order
// with the calls around it). BackendFailure when the device cannot.
void copy_rect(int device, const void* src, void* dst, const Rect& r);
// Engine-owned memory (Context::open_opencl, Context::wrap_opencl). The handles are the engine's
// cl_context, cl_device_id, cl_command_queue and cl_mem, as void* so that this header needs no
// OpenCL one.
// The index of the probed device that is `device_id`, or -1.
int device_index(void* device_id);
// Makes device `device` run on the engine's `context` (which must hold it) and in-order,
// profiling `queue` (null: a queue of ours on that context). Error(Unsupported) when the device
// already runs on another context (made at its first use), Error(InvalidArgument) for a queue
// that is not on that context and device, out of order, or without profiling.
void adopt(int device, void* context, void* queue);
// A handle for device_memory of `bytes` at `offset` of the engine's `buffer` (retained, not
// owned: the engine frees it). Error(InvalidArgument) for a buffer of another context or an
// offset the device cannot start a sub-buffer at, Error(ShortBuffer) past its end.
std::shared_ptr<void> wrap(int device, void* buffer, size_t offset, size_t bytes);
// The device's context, device id and queue (its context made if it was not yet).
struct NativeHandles {
  void* context = nullptr;
  void* device = nullptr;
  void* queue = nullptr;
};
NativeHandles native_handles(int device);
// Events (Context::event): a mark after the work enqueued on the device so far, whether it has
// finished, and a wait for it (which reports no failure: sync() does).
std::shared_ptr<void> mark(int device);
bool mark_done(const std::shared_ptr<void>& mark);
void mark_wait(const std::shared_ptr<void>& mark);
// Waits for every call queued on the device (their outputs all on the device, Session::finish),
// checks their kernels and sums their device time. Error(Unsupported) naming the first failed
// call's operation, after which the queue is empty and the device usable again.
QueueReport sync(int device);
} // namespace opencl

namespace vulkan {
bool built();
// This backend's variant records (host/src/vulkan/variants.cpp); empty when it is not built.
std::vector<core::Variant> variants();
// Device time (ms) of the last run on this thread, from timestamp queries; -1 where its commands
// were queued (sync() times them).
double last_device_ms();
const std::vector<DeviceFacts>& devices();
// As opencl::no_device_reason(): the failing call and the ICD manifests the loader read.
std::string no_device_reason();
// As opencl::device_alloc, device_write, device_read.
std::shared_ptr<void> device_alloc(int device, size_t bytes);
void device_write(int device, const std::shared_ptr<void>& buffer, size_t offset, const void* src, size_t bytes);
void device_read(int device, const std::shared_ptr<void>& buffer, size_t offset, void* dst, size_t bytes);
void cast(int device, const void* src, DType from, void* dst, DType to, int64_t n);
void copy_rect(int device, const void* src, void* dst, const Rect& r);
// Engine-owned memory (Context::wrap_vulkan, vulkan_handles). A handle for device_memory of
// `bytes` at `offset` of the engine's VkBuffer (as void*; made on this device's VkDevice, which
// vulkan_handles gives, with storage and transfer usage), neither owned nor copied.
// Error(InvalidArgument) for a null buffer or an offset that is no multiple of 4 (the shaders
// read 32-bit words), Error(ShortBuffer) past what the buffer's memory requirements cover.
std::shared_ptr<void> wrap(int device, void* buffer, size_t offset, size_t bytes);
struct NativeHandles {
  void* instance = nullptr;
  void* physical_device = nullptr;
  void* device = nullptr;
  uint32_t queue_family = 0;
  void* queue = nullptr;
};
NativeHandles native_handles(int device);
// As opencl::mark, mark_done, mark_wait (the open submission: host/src/vulkan/engine_memory.cpp).
std::shared_ptr<void> mark(int device);
bool mark_done(const std::shared_ptr<void>& mark);
void mark_wait(const std::shared_ptr<void>& mark);
// As opencl::sync: waits for the calls queued on the device (their outputs all on the device,
// recorded into its open command buffer, host/src/vulkan/batch.h), sums their device time and
// reports the first failure (a failed submission, a non-finite resident input).
QueueReport sync(int device);
} // namespace vulkan

} // namespace tessera::detail
