// The OpenCL runtime behind the launch functions of launch.h: the probed devices with their
// lazily created context, queue and programs, and Session, the scope of one launch on one device.
#pragma once

#include <CL/cl.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/device.h"
#include "errors.h"
#include "host/src/device_memory.h"
#include "handles.h"

namespace tessera::detail::opencl {

struct ProgramEntry {
  Program program;
  std::map<std::string, Kernel, std::less<>> kernels; // created on first use
};

struct Device {
  cl_platform_id platform = nullptr;
  cl_device_id id = nullptr;
  std::string platform_name, platform_version;
  size_t max_work_item_size = 0; // CL_DEVICE_MAX_WORK_ITEM_SIZES[0]
  DeviceFacts facts;

  // Everything below is guarded by `mutex`. A device may be used from several threads; a
  // Session holds the lock from its first upload to its last read, which also makes the shared
  // cl_kernel objects safe (clSetKernelArg is not thread-safe on one kernel).
  std::mutex mutex;
  Context context;                              // created on first use
  Queue queue;                                  // in order, profiling enabled
  std::map<std::string, ProgramEntry> programs; // by options + '\n' + source
};

struct Probe {
  std::vector<std::unique_ptr<Device>> devices;
  std::string why_none; // when `devices` is empty: why, in one line; else ""
};
// probe.cpp: every device of every platform, with its facts; never throws.
Probe probe_all() noexcept;

// The probed devices in devices() order, probed once per process (thread-safe).
const std::vector<std::unique_ptr<Device>>& device_table();

void set_last_device_ms(double ms);

// One launch on one device.
class Session {
public:
  // Locks the device and creates its context and queue on first use. `op` names the operation
  // in error messages.
  Session(int device, std::string_view op);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const DeviceFacts& facts() const { return d_.facts; }
  size_t work_group_size() const { return wg_; }
  // Work-groups for a grid-stride kernel over `items` work-items: enough to fill the device,
  // never more than the items need.
  size_t groups_for(uint64_t items) const;

  // A buffer holding `bytes` from src. src may be a resident address (a view of a device
  // buffer of this device): then the copy is made on the device, and nothing crosses to it.
  Mem upload(const void* src, size_t bytes, std::string_view what);
  // OpenCL has no empty buffers: an empty or absent input (src null) becomes a one-word buffer
  // the kernel never reads.
  Mem upload_any(const void* src, size_t bytes, std::string_view what);
  Mem alloc(size_t bytes, std::string_view what);
  // A buffer owned by the session, for intermediates of helpers that return before the kernels
  // using them have run.
  const Mem& scratch(size_t bytes, std::string_view what);
  // The kernel `name` of kernels/<file>, built for this device on first use. `defines` (such as
  // "-DGEMV_MAX_M=16") pass the variant's manifest limits to kernels sized by them; they join
  // the build options, so they key the program cache too.
  cl_kernel kernel(std::string_view file, std::string_view name, std::string_view defines = {});
  // Throws BackendFailure when kernel k (`name` in the message) needs more local memory than
  // the device has, as the driver reports it after the build. For kernels whose manifest states
  // no local_bytes (the registry checks those that do).
  void check_local_memory(cl_kernel k, std::string_view name) const;

  template <class... Args>
  void launch(cl_kernel k, std::string_view name, size_t groups, const Args&... args) {
    cl_uint i = 0;
    (set_arg(k, name, i++, args), ...);
    enqueue(k, name, groups);
  }

  // Blocking read; the in-order queue makes it wait for every launch before it. dst may be a
  // resident address of this device: then the bytes are copied there on the device.
  void read(const Mem& m, void* dst, size_t bytes, std::string_view what);
  // Blocking copies between the host and a buffer at a byte offset (device buffers).
  void write_at(const Mem& m, size_t offset, const void* src, size_t bytes, std::string_view what);
  void read_at(const Mem& m, size_t offset, void* dst, size_t bytes, std::string_view what);
  // Waits for the queue, checks that every launch completed, and records their device time for
  // last_device_ms(). Called before anything is read back into the caller's outputs.
  void finish();

private:
  static void set_arg(cl_kernel k, std::string_view name, cl_uint i, const Mem& m);
  template <class T>
  requires std::is_arithmetic_v<T>
  static void set_arg(cl_kernel k, std::string_view name, cl_uint i, T v) {
    check(clSetKernelArg(k, i, sizeof v, &v),
          std::string("clSetKernelArg of ") + std::string(name));
  }
  void enqueue(cl_kernel k, std::string_view name, size_t groups);
  // The device buffer behind resident address p (of this device, `bytes` long from p), kept
  // alive until the session ends; Error naming `what` when p is no such address.
  cl_mem resident(const void* p, size_t bytes, std::string_view what, size_t* offset);

  int device_;
  Device& d_;
  std::unique_lock<std::mutex> lock_;
  std::string op_;
  std::string options_;
  size_t wg_ = 0;
  std::vector<Event> events_;
  std::deque<Mem> scratch_; // deque: references stay valid as it grows
  std::vector<device_memory::Allocation> resident_; // device buffers this session reads or writes
  bool pending_ = false;    // commands enqueued and not yet waited for
};

} // namespace tessera::detail::opencl
