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
#include <tuple>
#include <type_traits>
#include <vector>

#include "core/device.h"
#include "errors.h"
#include "host/src/device_memory.h"
#include "handles.h"

namespace tessera::detail::opencl {

// Buffers of finished sessions, kept for the next ones, so that calls of a shape seen before
// make no clCreateBuffer (docs/architecture.md, "Memory"). Buffers are made at size classes,
// and a free buffer serves only a request of its own class. Guarded by the Device's mutex.
class BufferPool {
public:
  // The class of a request of `bytes` (runtime.cpp says which classes there are, and why).
  static size_t size_class(size_t bytes);
  // A free buffer of class `size` (the one given back last), or an empty Mem.
  Mem take(size_t size);
  // Keeps m, of class `size`, then trims the pool to `max_bytes`.
  void give(size_t size, Mem m, size_t max_bytes);
  // Releases the free buffers given back longest ago while their bytes exceed `max_bytes`.
  void trim(size_t max_bytes);
  // Releases every free buffer; whether there was one.
  bool clear();
  size_t buffers() const { return free_.size(); }
  size_t bytes() const { return bytes_; }
  // Enqueues a fill of every free buffer with `byte` on q (tests: a kernel that reads memory it
  // did not write then shows).
  void fill(cl_command_queue q, unsigned char byte) const;

private:
  struct Free {
    size_t size;
    Mem mem;
  };
  std::vector<Free> free_; // oldest first
  size_t bytes_ = 0;
};

// Kernels are found by what selects them, never by their program's source: the capability
// prelude of the session (it follows the overrides in force), the kernel file, the defines and
// the entry point. The build options are not part of the key: they follow from the device's
// facts alone (build_options), which never change.
using KernelKey = std::tuple<std::string, std::string, std::string, std::string>;

struct Device {
  cl_platform_id platform = nullptr;
  cl_device_id id = nullptr;
  std::string platform_name, platform_version;
  size_t max_work_item_size = 0; // CL_DEVICE_MAX_WORK_ITEM_SIZES[0]
  size_t base_addr_align = 0;    // CL_DEVICE_MEM_BASE_ADDR_ALIGN, in bytes (sub-buffer offsets)
  DeviceFacts facts;

  // Everything below is guarded by `mutex`. A device may be used from several threads; a
  // Session holds the lock from its first upload to its last read, which also makes the shared
  // cl_kernel objects safe (clSetKernelArg is not thread-safe on one kernel).
  std::mutex mutex;
  Context context;                              // created on first use
  Queue queue;                                  // in order, profiling enabled
  std::map<std::string, Program> programs;      // by options + '\n' + source
  std::map<KernelKey, Kernel, std::less<>> kernels; // of `programs`, created on first use
  BufferPool pool;
  // Calls whose kernels were enqueued and not waited for: nothing of theirs returned to the host
  // (Session::finish). sync() waits for them, checks their events and sums their device time;
  // past kMaxQueued (runtime.cpp) a new session folds them in first (folded_*).
  struct Queued {
    std::string op;
    std::vector<Event> events;
    std::vector<device_memory::Allocation> keep; // device buffers the call reads or writes
    bool counts = true; // a call of its own, not a part of one (Session::part_of_a_call)
  };
  std::vector<Queued> queued;
  // Non-finite scans of resident inputs left for sync() (Session::check_at_sync): each one's
  // first non-finite index is copied on the device into its slot of `flags` (kMaxQueued slots,
  // made on first use), read back by sync() in one read.
  struct Check {
    std::string op, name;
    int64_t rows, cols;
  };
  std::vector<Check> checks;
  Mem flags;
  int64_t folded_calls = 0;
  double folded_ms = 0.0;
  std::string folded_failure; // the first failure folded in, reported by the next sync()
  ErrorCode folded_code = ErrorCode::Unsupported;
  // Session::table's buffers by content, with the session that last used each (`sessions`
  // counts the sessions opened).
  struct Table {
    Mem mem;
    uint64_t used = 0;
  };
  std::map<std::string, Table, std::less<>> tables;
  uint64_t sessions = 0;
  size_t pool_max_bytes = 0; // the bound on pool.bytes() (kPoolShareOfMemory in runtime.cpp)
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

// Under d.mutex: gives the device its context and in-order, profiling queue at first use (unless
// adopt(), core/backend.h, gave it the engine's), and the bound of its buffer pool.
void ensure_queue(Device& d);
void set_pool_bound(Device& d);

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

  // Buffers for the session: from the device's pool (BufferPool) and back to it when the
  // session ends, so a handle must not outlive its session. Only a pool miss allocates (and
  // counts in thread_traffic().allocations). Their contents are whatever an earlier call left:
  // kernels write every element they read back (or the launcher fills it first).
  //
  // A buffer holding `bytes` from src. src may be a resident address (a view of a device
  // buffer of this device): then the kernel reads that buffer (or a copy made on the device),
  // and nothing crosses to it.
  // Otherwise the write is enqueued without waiting: src must stay valid until finish() or the
  // session's end.
  Mem upload(const void* src, size_t bytes, std::string_view what);
  // OpenCL has no empty buffers: an empty or absent input (src null) becomes a one-word buffer
  // the kernel never reads.
  Mem upload_any(const void* src, size_t bytes, std::string_view what);
  // A small read-only table the launcher built on the host (sequence offsets, chunk lists): the
  // device keeps the buffer of each distinct content it has seen (Device::tables), so a steady
  // state of calls sends nothing. Tables past kTableBytes are uploaded as upload() does.
  Mem table(const void* src, size_t bytes, std::string_view what);
  Mem alloc(size_t bytes, std::string_view what);
  // alloc, filled with zero bytes on the device.
  Mem zeros(size_t bytes, std::string_view what);
  // A buffer held by the session itself, for intermediates of helpers that return before the
  // kernels using them have run.
  const Mem& scratch(size_t bytes, std::string_view what);
  // A buffer of its own, outside the pool: resident memory (device_alloc), which outlives the
  // session.
  Mem alloc_unpooled(size_t bytes, std::string_view what);
  // Fills the first `bytes` of m with zeros on the device, and waits (device_alloc's buffers).
  void zero_fill(const Mem& m, size_t bytes);
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
  // The copy r (core/backend.h) from src to dst, resident addresses of this device, enqueued in
  // order with the session's launches.
  void copy_rect(const void* src, void* dst, const Rect& r);
  // Blocking copies between the host and a buffer at a byte offset (device buffers).
  void write_at(const Mem& m, size_t offset, const void* src, size_t bytes, std::string_view what);
  void read_at(const Mem& m, size_t offset, void* dst, size_t bytes, std::string_view what);
  // Called once the call's kernels are enqueued, before its outputs are read. It does not wait:
  // a read into host memory then waits for the kernels and checks them first (a failure is a
  // BackendFailure, with nothing written), and a call whose outputs all stay on the device
  // returns at once, its kernels queued (Device::queued) for sync() to check and time
  // (last_device_ms() is then -1). A session that sent host memory waits at its end anyway,
  // since the driver may read that memory until then.
  void finish();
  // sync() of core/backend.h on this session's device.
  QueueReport sync();
  // A scan's first non-finite index (a cl_ulong in `bad`, kNoIndex for none) of input `name`
  // [rows, cols], checked by sync() instead of now, so that the call need not wait: a resident
  // input is only known on the device. sync() then reports a non-finite element as
  // Error(NonFinite) naming the operation and the element; the call's outputs were written.
  void check_at_sync(const Mem& bad, std::string_view name, int64_t rows, int64_t cols);
  // This session is a step of an operation's call (a cast of its operands): sync() counts its
  // device time but not a call.
  void part_of_a_call() { counts_ = false; }

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
  // clCreateBuffer, counted; where the device is out of memory, once more after releasing the
  // pool's free buffers.
  Mem create(size_t bytes, std::string_view what);
  struct Lease {
    size_t size; // its size class
    Mem mem;
  };
  // A buffer of at least `bytes` from the pool (or created), held until the session ends.
  Lease& lease(size_t bytes, std::string_view what);

  int device_;
  Device& d_;
  std::unique_lock<std::mutex> lock_;
  std::string op_;
  std::string options_;
  std::string prelude_; // capability_prelude under the overrides in force when the session began
  size_t wg_ = 0;
  std::vector<Event> events_;
  bool finished_ = false;   // finish() was called: the kernels are all enqueued
  bool completed_ = false;  // and waited for and checked (complete())
  bool host_source_ = false; // a write from host memory was enqueued without waiting
  bool counts_ = true;       // Queued::counts
  // Waits for the queue, checks the launches' events (BackendFailure on a failed one) and
  // records their device time for last_device_ms().
  void complete();
  std::deque<Lease> leases_; // pooled buffers in use; deque: scratch()'s references stay valid
  std::vector<device_memory::Allocation> resident_; // device buffers this session reads or writes
  uint64_t serial_ = 0;     // this session's number (Device::sessions)
  bool pending_ = false;    // commands enqueued and not yet waited for
};

} // namespace tessera::detail::opencl
