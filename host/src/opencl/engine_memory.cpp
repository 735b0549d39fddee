// Engine-owned OpenCL memory (core/backend.h: device_index, adopt, wrap, native_handles). A cl_mem
// may only be bound by kernels of the context it belongs to, so an engine that holds its tensors
// in its own cl_mem first gives the device its cl_context (and, if it likes, its in-order queue,
// so that Tessera's work orders with its own); its buffers are then wrapped without a copy, as
// device_memory allocations whose handle is a retained reference (the engine frees the memory).
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "core/backend.h"
#include "core/error.h"
#include "runtime.h"

namespace tessera::detail::opencl {

namespace {
Device& device_or_fail(int device) {
  const auto& table = device_table();
  if (device < 0 || static_cast<size_t>(device) >= table.size())
    tessera::detail::fail(ErrorCode::Unsupported, "opencl: no device {}", device);
  return *table[static_cast<size_t>(device)];
}
} // namespace

int device_index(void* device_id) {
  const auto& table = device_table();
  for (size_t i = 0; i < table.size(); ++i)
    if (table[i]->id == static_cast<cl_device_id>(device_id)) return static_cast<int>(i);
  return -1;
}

void adopt(int device, void* context, void* queue) {
  Device& d = device_or_fail(device);
  std::lock_guard lock(d.mutex);
  const auto c = static_cast<cl_context>(context);
  const auto q = static_cast<cl_command_queue>(queue);
  cl_uint n = 0;
  if (clGetContextInfo(c, CL_CONTEXT_NUM_DEVICES, sizeof n, &n, nullptr) != CL_SUCCESS)
    tessera::detail::fail(ErrorCode::InvalidArgument, "opencl: the engine's context is no valid cl_context");
  std::vector<cl_device_id> ids(n);
  check(clGetContextInfo(c, CL_CONTEXT_DEVICES, n * sizeof(cl_device_id), ids.data(), nullptr), "clGetContextInfo");
  if (std::find(ids.begin(), ids.end(), d.id) == ids.end())
    tessera::detail::fail(ErrorCode::InvalidArgument, "opencl: the engine's context does not hold device {} ({})",
                          device, d.facts.name);
  if (q) {
    cl_context qc = nullptr;
    cl_device_id qd = nullptr;
    cl_command_queue_properties props = 0;
    if (clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof qc, &qc, nullptr) != CL_SUCCESS)
      tessera::detail::fail(ErrorCode::InvalidArgument, "opencl: the engine's queue is no valid cl_command_queue");
    check(clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof qd, &qd, nullptr), "clGetCommandQueueInfo");
    check(clGetCommandQueueInfo(q, CL_QUEUE_PROPERTIES, sizeof props, &props, nullptr), "clGetCommandQueueInfo");
    if (qc != c || qd != d.id)
      tessera::detail::fail(ErrorCode::InvalidArgument, "opencl: the engine's queue is not on its context and device {}",
                            device);
    // Launches rely on the queue's order (a kernel reads what the one before it wrote), and every
    // call's device time comes from its kernels' profiling events.
    if (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)
      tessera::detail::fail(ErrorCode::InvalidArgument, "opencl: the engine's queue runs out of order; Tessera needs an "
                                                        "in-order queue (or pass none: it makes its own)");
    if (!(props & CL_QUEUE_PROFILING_ENABLE))
      tessera::detail::fail(ErrorCode::InvalidArgument, "opencl: the engine's queue has no CL_QUEUE_PROFILING_ENABLE, "
                                                        "which each call's device time comes from (or pass none)");
  }
  // Checked after the arguments, so that a bad argument is reported as such either way.
  if (d.queue) {
    if (d.context.get() == c && (q == nullptr || q == d.queue.get())) return; // adopted before
    tessera::detail::fail(ErrorCode::Unsupported,
                          "opencl:{} ({}) already runs on a {} of its own, made when this process first used it: open "
                          "the engine's context before anything else uses the device",
                          device, d.facts.name, d.context.get() == c ? "queue" : "context");
  }
  check(clRetainContext(c), "clRetainContext");
  d.context = Context(c);
  if (q) {
    check(clRetainCommandQueue(q), "clRetainCommandQueue");
    d.queue = Queue(q);
  } else {
    cl_int err = CL_SUCCESS;
    d.queue = Queue(clCreateCommandQueue(c, d.id, CL_QUEUE_PROFILING_ENABLE, &err));
    check(err, "clCreateCommandQueue on the engine's context");
  }
  set_pool_bound(d);
}

std::shared_ptr<void> wrap(int device, void* buffer, size_t offset, size_t bytes) {
  Device& d = device_or_fail(device);
  std::lock_guard lock(d.mutex);
  ensure_queue(d);
  const auto m = static_cast<cl_mem>(buffer);
  cl_context owner = nullptr;
  if (m == nullptr || clGetMemObjectInfo(m, CL_MEM_CONTEXT, sizeof owner, &owner, nullptr) != CL_SUCCESS)
    tessera::detail::fail(ErrorCode::InvalidArgument, "wrap: the engine's buffer is no valid cl_mem");
  if (owner != d.context.get())
    tessera::detail::fail(ErrorCode::InvalidArgument,
                          "wrap: the engine's cl_mem belongs to another cl_context than opencl:{}'s; open the "
                          "Context on the engine's context (Context::open_opencl) first",
                          device);
  size_t size = 0;
  check(clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof size, &size, nullptr), "clGetMemObjectInfo");
  if (offset > size || bytes > size - offset)
    tessera::detail::fail(ErrorCode::ShortBuffer, "wrap: bytes [{}, {} + {}) pass the end of the engine's {}-byte cl_mem",
                          offset, offset, bytes, size);
  if (offset == 0) {
    check(clRetainMemObject(m), "clRetainMemObject");
    return std::make_shared<Mem>(m);
  }
  // A window that starts inside the buffer is a sub-buffer, whose origin the device constrains.
  if (d.base_addr_align == 0 || offset % d.base_addr_align != 0)
    tessera::detail::fail(ErrorCode::InvalidArgument,
                          "wrap: offset {} is not a multiple of {} bytes, where opencl:{} can start a sub-buffer "
                          "(CL_DEVICE_MEM_BASE_ADDR_ALIGN); wrap from 0 and take views at the offset instead",
                          offset, d.base_addr_align, device);
  cl_buffer_region region{offset, std::max<size_t>(bytes, 1)};
  cl_int err = CL_SUCCESS;
  Mem sub(clCreateSubBuffer(m, 0, CL_BUFFER_CREATE_TYPE_REGION, &region, &err));
  if (err != CL_SUCCESS)
    tessera::detail::fail(ErrorCode::InvalidArgument, "wrap: clCreateSubBuffer at offset {} of the engine's cl_mem failed "
                                                      "(error {}; a sub-buffer cannot be wrapped at an offset)",
                          offset, err);
  return std::make_shared<Mem>(std::move(sub));
}

NativeHandles native_handles(int device) {
  Device& d = device_or_fail(device);
  std::lock_guard lock(d.mutex);
  ensure_queue(d);
  return {d.context.get(), d.id, d.queue.get()};
}

} // namespace tessera::detail::opencl
