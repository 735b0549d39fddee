// tessera::Context: what an engine holds. A context is opened once on one device and then runs
// every operation of ops.h and weights.h there (core/op_table.h lists them), so the engine names its device once instead of in each call.
//
//   tessera::Context ctx = tessera::Context::open("opencl", 0);
//   tessera::Buffer xb = ctx.alloc(rows * cols * 4);
//   tessera::TensorView x = ctx.view(xb, tessera::DType::F32, {rows, cols});
//   float s2 = ctx.quantize_nvfp4(x, tessera::Nvfp4Recipe::Nvfp4, std::nullopt, q, scale);
//   ctx.last_run().variant;   // what ran, and ctx.last_run().reason: why
//
// Memory: a view may point at any host memory the caller owns (a device variant then uploads its
// inputs and downloads its outputs within the call), or into a DeviceBuffer of this context's
// device (device_alloc), which every operation reads and writes on the device
// (docs/architecture.md, "Memory").
// Buffer (alloc) is 256-byte-aligned host memory. traffic() counts what crosses.
//
// Threads: a Context may be used from several threads at once. The operations are reentrant and
// the device backends serialise work per device internally; contexts on different devices (or
// several on the same one) coexist. last_run() is per thread, so concurrent callers each see
// their own call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/ops.h"
#include "tessera/weights.h"

namespace tessera {

// Host memory from Context::alloc: zero-filled, 256-byte aligned, freed when the Buffer is
// destroyed. Move-only. (Device memory is DeviceBuffer, below.)
class Buffer {
public:
  Buffer() = default;
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer();

  void* data() const { return data_; }
  size_t size() const { return bytes_; } // the bytes asked for
  explicit operator bool() const { return data_ != nullptr; }

private:
  friend class Context;
  Buffer(void* data, size_t bytes) : data_(data), bytes_(bytes) {}
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// Memory on a context's device (Context::device_alloc): OpenCL device memory, Vulkan memory of
// the device (host-visible on lavapipe, where it is one memory), host memory on cpu. The host
// does not read it: upload() and download() move bytes, and view() describes a tensor in it,
// which every operation of the same context takes as an input or output without a copy through
// the host (the host-side helpers of weights.h, which read values, refuse one with
// Error(Unsupported)). address() is where views point: an
// address the host must not dereference (except on cpu), inside a range the library reserves,
// so that a view of a freed buffer, past the end or of another device is an Error, not a fault.
// Move-only; freed when destroyed (operations that hold views keep the memory until they end).
// What Context::sync() found.
struct QueueInfo {
  int64_t calls = 0;      // calls that had been queued since the last sync
  double device_ms = 0.0; // their kernels' device time
};

// A point in a context's device queue (Context::event): the calls enqueued on the device before
// it. done() says, without waiting, whether they have finished; wait() blocks until they have.
// Neither reports a failed call: sync() does, naming it. A default Event, and every event of a
// cpu context, is done. Copies share the point.
class Event {
public:
  Event() = default;
  bool done() const;
  void wait() const;

private:
  friend class Context;
  std::string backend_;
  std::shared_ptr<void> mark_;
};

class DeviceBuffer {
public:
  DeviceBuffer() = default;
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  void* address() const { return reinterpret_cast<void*>(base_); }
  size_t size() const { return bytes_; } // the bytes asked for
  explicit operator bool() const { return base_ != 0; }

private:
  friend class Context;
  void release() noexcept;
  uintptr_t base_ = 0;
  size_t bytes_ = 0;
  bool host_ = false; // a cpu context's: host memory
};

class Context {
public:
  // The device `device` of `backend` ("cpu", "opencl", "vulkan"; empty: TESSERA_OVERRIDE's
  // backend=, else "cpu"). Throws Error(InvalidArgument) for a name that is no backend, and
  // Error(Unsupported) for a backend not built in or a device that is not there. `policy` is
  // the numeric contract of every call through the context (ops.h, NumericsPolicy).
  static Context open(std::string backend = "", int device = 0, NumericsPolicy policy = {});
  // How many devices `backend` has (empty: as for open()); 0 for a backend not built in.
  // Error(InvalidArgument) for a name that is no backend.
  static int device_count(std::string backend = "");

  // Copies share the context (and its last_run() records): a Context is a cheap handle.
  Context(const Context&) = default;
  Context& operator=(const Context&) = default;
  ~Context();

  const std::string& backend() const;
  int device() const;
  const std::string& device_name() const; // as the device reports it ("CPU reference" for cpu)
  const NumericsPolicy& policy() const;

  // What this context passes to the free functions of ops.h; `variant` forces one variant.
  RunOptions options(std::string variant = "") const;
  // What the last operation this thread ran through this context ran on, and why. Empty before
  // the first call and after a call that failed (a refused call runs nothing). A device that
  // cannot run a call falls back to the CPU reference: backend then says "cpu".
  RunInfo last_run() const;
  // Device allocations and host <-> device bytes of every call through this context (and its
  // copies) that succeeded, from all threads: the sum of their RunInfo::traffic.
  DeviceTraffic traffic() const;
  // Waits for the calls queued on this context's device and checks them. On OpenCL and Vulkan a
  // call whose outputs all stay on the device (device buffers) returns once its kernels are
  // enqueued (OpenCL) or recorded into the device's command buffer (Vulkan, submitted here, at a
  // host read or when the buffer is full), without waiting for them; its RunInfo::device_ms is
  // then -1, and sync() gives the count of such calls since the last sync and their device time
  // (of every context on the device: the queue is the device's). A kernel or submission that
  // failed in one of them is an Error(Unsupported) here, naming its operation; a non-finite
  // element of a resident input that such a call checked on the device (gemm_*_act) is an
  // Error(NonFinite) naming the operation and the element, the call's outputs written. The queue
  // is empty afterwards and later calls work. A download waits for the work before it without
  // checking it. The CPU finishes every call before it returns: nothing is queued there.
  QueueInfo sync() const;
  // An event after every call enqueued on this context's device so far: made right after a call,
  // that call's event, so an engine can wait for one result without a sync. On OpenCL a marker
  // on the queue; on Vulkan the open submission, which wait() submits (done() stays false until
  // something submits it: wait(), sync(), a host read).
  Event event() const;

  Buffer alloc(size_t bytes) const;
  // A view of `b` with `dtype` and `shape`; Error(ShortBuffer) when the buffer is too small.
  static TensorView view(Buffer& b, DType dtype, Shape shape);

  // `bytes` of this context's device memory, zero-filled (DeviceBuffer). Error(Unsupported)
  // when the device cannot allocate it.
  DeviceBuffer device_alloc(size_t bytes) const;

  // Engine-owned memory: buffers an engine allocated itself, used as any DeviceBuffer without a
  // copy (docs/architecture.md, "Engine-owned memory"). The handles are the OpenCL types, as
  // void* so that this header needs no OpenCL one.
  //
  // A context on the engine's cl_context (void* cl_context, cl_device_id) and, optionally, its
  // in-order queue with CL_QUEUE_PROFILING_ENABLE (null: one of Tessera's on that context); with
  // the engine's queue, Tessera's work orders with the engine's own. The device must not have
  // been used in this process before (it would have a context of its own): Error(Unsupported).
  // Error(InvalidArgument) for a device no OpenCL platform lists, a context that does not hold
  // it, or a queue of another context or device, out of order or without profiling.
  static Context open_opencl(void* cl_context, void* cl_device_id, void* cl_command_queue = nullptr,
                             NumericsPolicy policy = {});
  // `bytes` of the engine's cl_mem from `offset` as a DeviceBuffer of this context, without a
  // copy: the buffer is retained, and the engine frees it (after the DeviceBuffer is destroyed
  // and the calls using it were synced). Error(InvalidArgument) for a cl_mem of another
  // cl_context (open the context with open_opencl) or an offset the device cannot start a
  // sub-buffer at (CL_DEVICE_MEM_BASE_ADDR_ALIGN; wrap from 0 and view at the offset instead),
  // Error(ShortBuffer) past its end, Error(Unsupported) on a context that is not OpenCL.
  DeviceBuffer wrap_opencl(void* cl_mem, size_t offset, size_t bytes) const;
  // The cl_context, cl_device_id and cl_command_queue this context runs on, so that an engine can
  // allocate its buffers there (or order with Tessera's queue). Error(Unsupported) on a context
  // that is not OpenCL.
  struct OpenclHandles {
    void* context = nullptr;
    void* device = nullptr;
    void* queue = nullptr;
  };
  OpenclHandles opencl_handles() const;
  // Vulkan: Tessera makes its own VkDevice (with the features its shaders need), and an engine
  // shares memory by allocating its buffers on it. vulkan_handles() gives the VkInstance,
  // VkPhysicalDevice, VkDevice, the compute queue family and the VkQueue Tessera submits to (as
  // void*; an engine that submits to that queue itself must not do so during a Tessera call,
  // since Vulkan wants a queue externally synchronised). wrap_vulkan takes `bytes` of such a
  // VkBuffer from `offset` (a multiple of 4) as a DeviceBuffer without a copy; the buffer must
  // have been made on that VkDevice with STORAGE_BUFFER, TRANSFER_SRC and TRANSFER_DST usage,
  // which Vulkan gives no way to check. Neither is owned: the engine destroys the buffer after
  // the DeviceBuffer is gone and the calls were synced. Error(InvalidArgument) for a null buffer
  // or an unaligned offset, Error(ShortBuffer) past the buffer's memory, Error(Unsupported) on a
  // context that is not Vulkan.
  struct VulkanHandles {
    void* instance = nullptr;
    void* physical_device = nullptr;
    void* device = nullptr;
    uint32_t queue_family = 0;
    void* queue = nullptr;
  };
  VulkanHandles vulkan_handles() const;
  DeviceBuffer wrap_vulkan(void* vk_buffer, size_t offset, size_t bytes) const;
  // Blocking copies between host memory and bytes [offset, offset + bytes) of a device buffer
  // of this context; Error(ShortBuffer) past its end, Error(InvalidArgument) for a buffer of
  // another device. Counted in traffic().
  void upload(const DeviceBuffer& dst, size_t offset, const void* src, size_t bytes) const;
  void download(const DeviceBuffer& src, size_t offset, void* dst, size_t bytes) const;
  // A view of `b` from byte `offset` with `dtype` and `shape`: the same checks as view(Buffer&).
  static TensorView view(const DeviceBuffer& b, DType dtype, Shape shape, size_t offset = 0);

  // Every operation of ops.h, and weights.h's GEMMs on a packed weight (as NAME_packed), on this
  // context's device. Arguments and errors are those of the free functions.
  // ---- generated from core/op_table.h by tools/gen_api.cpp (make api): do not edit ----
  void convert(const TensorView& x, Format to, const TensorView& y) const;
  float quantize_nvfp4(const TensorView& x, Nvfp4Recipe recipe, std::optional<float> static_scale_2,
                       const TensorView& q, const TensorView& scale) const;
  void dequantize_nvfp4(const TensorView& q, const TensorView& scale, float scale_2,
                        const TensorView& y) const;
  void quantize_fp8(const TensorView& x, Fp8Recipe recipe, const TensorView& q,
                    const TensorView& scales) const;
  void dequantize_fp8(const TensorView& q, const TensorView& scales, Fp8Recipe recipe,
                      const TensorView& y) const;
  void gemm_nvfp4(const TensorView& a, const TensorView& a_scale, const TensorView& b,
                  const TensorView& b_scale, float alpha, const std::optional<TensorView>& bias,
                  const TensorView& c) const;
  void gemm_fp8(const TensorView& a, const TensorView& b, float alpha,
                const std::optional<TensorView>& bias, const TensorView& c) const;
  void gemm_fp8_block(const TensorView& a, const TensorView& a_scale, const TensorView& b,
                      const TensorView& b_scale, const std::optional<TensorView>& bias,
                      const TensorView& c) const;
  float gemm_nvfp4_act(const TensorView& x, std::optional<float> a_scale_2, const TensorView& b,
                       const TensorView& b_scale, float b_scale_2,
                       const std::optional<TensorView>& bias, const TensorView& c) const;
  void gemm_fp8_act(const TensorView& x, const TensorView& b, const TensorView& b_scale,
                    const std::optional<TensorView>& bias, const TensorView& c) const;
  void gemm_nvfp4_packed(const TensorView& a, const TensorView& a_scale, const PackedWeight& b,
                         float alpha, const std::optional<TensorView>& bias,
                         const TensorView& c) const;
  void gemm_fp8_packed(const TensorView& a, const PackedWeight& b, float alpha,
                       const std::optional<TensorView>& bias, const TensorView& c) const;
  void gemm_fp8_block_packed(const TensorView& a, const TensorView& a_scale, const PackedWeight& b,
                             const std::optional<TensorView>& bias, const TensorView& c) const;
  void deltanet(const DeltaNetArgs& args, const TensorView& o, const TensorView& ht) const;
  void conv1d(const TensorView& x, const TensorView& w, const std::optional<TensorView>& bias,
              const std::optional<TensorView>& state, const TensorView& y,
              const TensorView& state_out) const;
  void attention(const AttentionArgs& args, const TensorView& o,
                 const std::optional<TensorView>& lse = std::nullopt) const;
  // ---- end of generated code ----

  // weights.h, for this context's device: a weight packed for calls with `M` rows (PackTarget;
  // `layout` empty: the registry's choice). Packing and unpacking run no kernel: last_run()
  // keeps the last operation's record.
  PackedWeight pack_nvfp4_weight(const TensorView& b, const TensorView& b_scale, float scale_2,
                                 ScaleLayout scale_layout = ScaleLayout::Linear, int64_t M = 1,
                                 std::string layout = {}) const;
  PackedWeight pack_fp8_weight(const TensorView& b, const TensorView& scales, int64_t M = 1,
                               std::string layout = {}) const;
  void unpack_weight(const PackedWeight& w, const TensorView& b, const TensorView& scales) const;
  // The scale layout conversions of weights.h (to_swizzled_scales, from_swizzled_scales) run on
  // the host for every device: they are free functions only.

  struct State; // the shared state behind the handle (context.cpp)

private:
  explicit Context(std::shared_ptr<State> s) : s_(std::move(s)) {}
  // Runs one operation with this context's options, recording what ran for last_run().
  template <class F> auto run(F&& f) const;
  // upload() (to_device) and download(): `host` is the host side.
  void copy(std::string_view op, const DeviceBuffer& b, size_t offset, void* host, size_t bytes, bool to_device) const;
  std::shared_ptr<State> s_;
};

} // namespace tessera
