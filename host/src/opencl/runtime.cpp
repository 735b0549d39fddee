#include "runtime.h"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <bit>

#include "core/error.h"
#include "introspect.h"
#include "host/src/validate.h"
#include "program_cache.h"
#include "quantize.h"
#include "source.h"

namespace tessera::detail::opencl {

namespace {
// Queued calls (Device::queued) a device holds before a new session waits for them and folds
// their results in for the next sync(): a bound on the events and device buffers kept alive by
// an engine that never syncs, far above a decode step's calls.
constexpr size_t kMaxQueued = 4096;
// Work-items per group for every kernel of this backend, passed as -DWG_SIZE (so it is part of
// the program-cache key). 256 is a multiple of every GPU's warp or wavefront and small enough
// for the tree reductions' local memory everywhere; a per-device table can replace it.
constexpr size_t kWorkGroupSize = 256;
// Grid-stride kernels get at most this many work-groups per compute unit: enough to hide
// latency on a GPU; on a CPU device each group is a loop, and more of them only cost overhead.
constexpr size_t kGroupsPerComputeUnit = 32;
// The pool (BufferPool) keeps at most this fraction of the device's memory in free buffers:
// room for every buffer of the largest calls the kernels take (a bf16 KV cache of 128K tokens
// and 8 heads of 128 is 0.5 GiB), so that their steady state allocates nothing, while what it
// holds idle stays small beside what the caller's own device buffers need (and a failed
// allocation releases it all before it gives up).
constexpr int64_t kPoolShareOfMemory = 8;
// Size classes: four per power of two, so that sizes which change a little from call to call (a
// KV cache one token longer, another batch) still meet a free buffer while none is more than a
// quarter larger than asked; none under 256 bytes, where the scalars and small tables of every
// call share one class.
constexpr size_t kClassesPerOctave = 4;
constexpr size_t kSmallestClass = 256;

thread_local double t_last_device_ms = 0.0;
} // namespace

bool built() { return true; }
double last_device_ms() { return t_last_device_ms; }
void set_last_device_ms(double ms) { t_last_device_ms = ms; }

namespace {
const Probe& probed() {
  // Never destroyed: releasing contexts and queues from a static destructor at exit can run
  // after the OpenCL driver has torn down its own state.
  static const auto* probe = new Probe(probe_all());
  return *probe;
}
} // namespace

const std::vector<std::unique_ptr<Device>>& device_table() { return probed().devices; }

std::string no_device_reason() { return probed().why_none; }

const std::vector<DeviceFacts>& devices() {
  static const auto* facts = [] {
    auto* v = new std::vector<DeviceFacts>;
    for (const auto& d : device_table())
      v->push_back(d->facts);
    return v;
  }();
  return *facts;
}

namespace {
Device& device_at(int index, std::string_view op) {
  const auto& table = device_table();
  if (index < 0 || static_cast<size_t>(index) >= table.size())
    throw BackendFailure(
        fmt::format("opencl: {}: no device {} (this machine has {} OpenCL device{})", op, index,
                    table.size(), table.size() == 1 ? "" : "s"));
  return *table[static_cast<size_t>(index)];
}
} // namespace

void set_pool_bound(Device& d) {
  d.pool_max_bytes = static_cast<size_t>(std::max<int64_t>(0, d.facts.global_memory_bytes / kPoolShareOfMemory));
}

void ensure_queue(Device& d) {
  if (d.queue) return;
  set_pool_bound(d);
  cl_int err = CL_SUCCESS;
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
                                   reinterpret_cast<cl_context_properties>(d.platform), 0};
  Context ctx(clCreateContext(props, 1, &d.id, nullptr, nullptr, &err));
  check(err, "clCreateContext for " + d.facts.name);
  Queue queue(clCreateCommandQueue(ctx.get(), d.id, CL_QUEUE_PROFILING_ENABLE, &err));
  check(err, "clCreateCommandQueue for " + d.facts.name);
  d.context = std::move(ctx);
  d.queue = std::move(queue);
}

size_t BufferPool::size_class(size_t bytes) {
  if (bytes <= kSmallestClass) return kSmallestClass;
  const size_t step = std::bit_floor(bytes) / kClassesPerOctave;
  return (bytes + step - 1) / step * step;
}

Mem BufferPool::take(size_t size) {
  for (auto it = free_.rbegin(); it != free_.rend(); ++it)
    if (it->size == size) {
      Mem m = std::move(it->mem);
      free_.erase(std::next(it).base());
      bytes_ -= size;
      return m;
    }
  return {};
}

void BufferPool::give(size_t size, Mem m, size_t max_bytes) {
  free_.push_back({size, std::move(m)});
  bytes_ += size;
  trim(max_bytes);
}

void BufferPool::trim(size_t max_bytes) {
  while (bytes_ > max_bytes) {
    bytes_ -= free_.front().size;
    free_.erase(free_.begin());
  }
}

bool BufferPool::clear() {
  const bool any = !free_.empty();
  free_.clear();
  bytes_ = 0;
  return any;
}

void BufferPool::fill(cl_command_queue q, unsigned char byte) const {
  for (const Free& f : free_)
    check(clEnqueueFillBuffer(q, f.mem.get(), &byte, 1, 0, f.size, 0, nullptr, nullptr), "clEnqueueFillBuffer");
}

namespace {
// Waits for d's queue, then checks and times its queued calls and clears them: their count and
// device time are added to *calls and *ms, and the first failure's message (if none yet) to
// *failure with its code. The caller holds d.mutex.
void drain(Device& d, int64_t* calls, double* ms, std::string* failure, ErrorCode* code) {
  check(clFinish(d.queue.get()), "clFinish");
  if (!d.checks.empty()) {
    std::vector<cl_ulong> first(d.checks.size());
    check(clEnqueueReadBuffer(d.queue.get(), d.flags.get(), CL_TRUE, 0, first.size() * sizeof(cl_ulong), first.data(),
                              0, nullptr, nullptr),
          "reading the queued non-finite checks");
    thread_traffic().bytes_from_device += static_cast<int64_t>(first.size() * sizeof(cl_ulong));
    for (size_t i = 0; i < first.size() && failure->empty(); ++i) {
      if (first[i] == kNoIndex) continue;
      const Device::Check& c = d.checks[i];
      *failure = queued_non_finite(c.op, c.name, {c.rows, c.cols}, static_cast<int64_t>(first[i]));
      *code = ErrorCode::NonFinite;
    }
    d.checks.clear();
  }
  for (const Device::Queued& q : d.queued) {
    for (const Event& e : q.events) {
      cl_int status = CL_COMPLETE;
      check(clGetEventInfo(e.get(), CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, nullptr),
            "clGetEventInfo");
      if (status < 0) {
        if (failure->empty()) {
          *failure = fmt::format("{}: a kernel failed on the device ({})", q.op, error_name(status));
          *code = ErrorCode::Unsupported;
        }
        continue;
      }
      cl_ulong start = 0, end = 0;
      check(clGetEventProfilingInfo(e.get(), CL_PROFILING_COMMAND_START, sizeof start, &start, nullptr),
            "clGetEventProfilingInfo");
      check(clGetEventProfilingInfo(e.get(), CL_PROFILING_COMMAND_END, sizeof end, &end, nullptr),
            "clGetEventProfilingInfo");
      if (end > start) *ms += static_cast<double>(end - start) * 1e-6;
    }
    if (q.counts) ++*calls;
  }
  d.queued.clear();
}
} // namespace

Session::Session(int device, std::string_view op)
    : device_(device), d_(device_at(device, op)), lock_(d_.mutex), op_(op) {
  set_last_device_ms(0.0);
  ensure_queue(d_);
  serial_ = ++d_.sessions;
  if (d_.queued.size() >= kMaxQueued || d_.checks.size() >= kMaxQueued)
    drain(d_, &d_.folded_calls, &d_.folded_ms, &d_.folded_failure, &d_.folded_code);
  wg_ = kWorkGroupSize;
  while (wg_ > 1 &&
         (wg_ > static_cast<size_t>(d_.facts.max_workgroup_size) || wg_ > d_.max_work_item_size))
    wg_ /= 2;
  options_ = build_options(d_.facts, wg_);
  prelude_ = capability_prelude(d_.facts);
}

Session::~Session() {
  // A finished call whose results all stay on the device is left queued: its buffers go back to
  // the pool at once, which the in-order queue makes safe (their next use is enqueued after), and
  // the device buffers it uses are kept alive with its events until sync().
  if (finished_ && !completed_ && !host_source_ && !std::uncaught_exceptions()) {
    d_.queued.push_back(Device::Queued{op_, std::move(events_), std::move(resident_), counts_});
    set_last_device_ms(-1.0);
    for (Lease& l : leases_)
      d_.pool.give(l.size, std::move(l.mem), d_.pool_max_bytes);
    return;
  }
  // Commands of a run that failed half-way may still use buffers the caller is about to free,
  // or this session's, which the next one may take: wait for them before the next run can take
  // the device. A queue that cannot finish gets none of its buffers back into the pool (they
  // are released; the driver frees them when their commands are done).
  if (pending_ && clFinish(d_.queue.get()) != CL_SUCCESS) return;
  // A finished call that sent host memory waited just now; its kernels are checked by sync().
  if (finished_ && !completed_) d_.queued.push_back(Device::Queued{op_, std::move(events_), {}, counts_});
  for (Lease& l : leases_)
    d_.pool.give(l.size, std::move(l.mem), d_.pool_max_bytes);
}

size_t Session::groups_for(uint64_t items) const {
  size_t cap =
      static_cast<size_t>(std::max<int64_t>(1, d_.facts.compute_units)) * kGroupsPerComputeUnit;
  uint64_t need = (items + wg_ - 1) / wg_;
  return static_cast<size_t>(std::clamp<uint64_t>(need, 1, cap));
}

Mem Session::upload(const void* src, size_t bytes, std::string_view what) {
  if (device_memory::resident(src)) {
    size_t offset = 0;
    cl_mem from = resident(src, bytes, what, &offset);
    // The kernel reads the device buffer itself: the whole buffer, or a sub-buffer where the
    // offset meets the device's base-address alignment. (Only inputs come here, and outputs are
    // copied out at the end, so an input that aliases an output is still read unchanged.)
    if (offset == 0) {
      check(clRetainMemObject(from), "clRetainMemObject");
      return Mem(from);
    }
    // An engine's buffer wrapped at an offset is a sub-buffer (engine_memory.cpp), and OpenCL
    // makes no sub-buffer of a sub-buffer: the window is then taken from its parent.
    cl_mem parent = nullptr;
    size_t base = 0;
    check(clGetMemObjectInfo(from, CL_MEM_ASSOCIATED_MEMOBJECT, sizeof parent, &parent, nullptr), "clGetMemObjectInfo");
    if (parent) check(clGetMemObjectInfo(from, CL_MEM_OFFSET, sizeof base, &base, nullptr), "clGetMemObjectInfo");
    if (d_.base_addr_align > 0 && (base + offset) % d_.base_addr_align == 0) {
      cl_buffer_region region{base + offset, bytes};
      cl_int err = CL_SUCCESS;
      Mem sub(clCreateSubBuffer(parent ? parent : from, 0, CL_BUFFER_CREATE_TYPE_REGION, &region, &err));
      check(err, fmt::format("{}: a sub-buffer of {} bytes at {} for {}", op_, bytes, offset, what));
      return sub;
    }
    Mem m = alloc(bytes, what);
    pending_ = true;
    check(clEnqueueCopyBuffer(d_.queue.get(), from, m.get(), offset, 0, bytes, 0, nullptr, nullptr),
          fmt::format("{}: copying {} ({} bytes) on the device", op_, what, bytes));
    return m;
  }
  Mem m = alloc(bytes, what);
  pending_ = true; // the driver may read src until the queue finishes (a blocking read or ~Session)
  host_source_ = true;
  check(clEnqueueWriteBuffer(d_.queue.get(), m.get(), CL_FALSE, 0, bytes, src, 0, nullptr, nullptr),
        fmt::format("{}: uploading {} ({} bytes)", op_, what, bytes));
  thread_traffic().bytes_to_device += static_cast<int64_t>(bytes);
  return m;
}

Mem Session::upload_any(const void* src, size_t bytes, std::string_view what) {
  return bytes == 0 || src == nullptr ? zeros(4, what) : upload(src, bytes, what);
}

namespace {
// Session::table keeps tables up to kTableBytes (a decode step's offsets are a few words; the
// chunk list of a long prompt is not worth keeping), at most kTablesPerSize of each size. A new
// table of a size that has its share rewrites the buffer of that size used longest ago (not by
// this session), so a table that changes every call (a KV length growing by one a step) costs
// its bytes but no allocation.
constexpr size_t kTableBytes = 4096;
constexpr size_t kTablesPerSize = 4;
} // namespace

Mem Session::table(const void* src, size_t bytes, std::string_view what) {
  if (bytes == 0 || bytes > kTableBytes) return upload_any(src, bytes, what);
  std::string key(static_cast<const char*>(src), bytes);
  auto it = d_.tables.find(key);
  if (it == d_.tables.end()) {
    Device::Table entry;
    size_t same_size = 0;
    auto oldest = d_.tables.end();
    for (auto t = d_.tables.begin(); t != d_.tables.end(); ++t) {
      if (t->first.size() != bytes) continue;
      ++same_size;
      if (t->second.used != serial_ && (oldest == d_.tables.end() || t->second.used < oldest->second.used)) oldest = t;
    }
    if (same_size >= kTablesPerSize && oldest != d_.tables.end()) {
      entry = std::move(oldest->second); // the in-order queue runs its earlier readers first
      d_.tables.erase(oldest);
    } else {
      entry.mem = create(bytes, what);
    }
    check(clEnqueueWriteBuffer(d_.queue.get(), entry.mem.get(), CL_TRUE, 0, bytes, src, 0, nullptr, nullptr),
          fmt::format("{}: uploading {} ({} bytes)", op_, what, bytes));
    thread_traffic().bytes_to_device += static_cast<int64_t>(bytes);
    it = d_.tables.emplace(std::move(key), std::move(entry)).first;
  }
  it->second.used = serial_;
  check(clRetainMemObject(it->second.mem.get()), "clRetainMemObject"); // the caller's handle
  return Mem(it->second.mem.get());
}

Mem Session::create(size_t bytes, std::string_view what) {
  cl_int err = CL_SUCCESS;
  Mem m(clCreateBuffer(d_.context.get(), CL_MEM_READ_WRITE, bytes, nullptr, &err));
  // The pool's free buffers may be what the device lacks.
  if ((err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES) && d_.pool.clear())
    m = Mem(clCreateBuffer(d_.context.get(), CL_MEM_READ_WRITE, bytes, nullptr, &err));
  check(err, fmt::format("{}: allocating {} ({} bytes)", op_, what, bytes));
  thread_traffic().allocations += 1;
  return m;
}

Session::Lease& Session::lease(size_t bytes, std::string_view what) {
  const size_t size = BufferPool::size_class(bytes);
  Mem m = d_.pool.take(size);
  if (!m) m = create(size, what);
  return leases_.emplace_back(Lease{size, std::move(m)});
}

Mem Session::alloc(size_t bytes, std::string_view what) {
  cl_mem m = lease(bytes, what).mem.get();
  check(clRetainMemObject(m), "clRetainMemObject"); // the caller's handle; the lease keeps its own
  return Mem(m);
}

Mem Session::zeros(size_t bytes, std::string_view what) {
  Mem m = alloc(bytes, what);
  const cl_uchar zero = 0;
  pending_ = true;
  check(clEnqueueFillBuffer(d_.queue.get(), m.get(), &zero, 1, 0, bytes, 0, nullptr, nullptr),
        fmt::format("{}: zeroing {} ({} bytes)", op_, what, bytes));
  return m;
}

const Mem& Session::scratch(size_t bytes, std::string_view what) { return lease(bytes, what).mem; }

Mem Session::alloc_unpooled(size_t bytes, std::string_view what) { return create(bytes, what); }

cl_kernel Session::kernel(std::string_view file, std::string_view name, std::string_view defines) {
  const auto key = std::tuple<std::string_view, std::string_view, std::string_view, std::string_view>(
      prelude_, file, defines, name);
  if (auto it = d_.kernels.find(key); it != d_.kernels.end()) return it->second.get();
  const std::string options = defines.empty() ? options_ : options_ + " " + std::string(defines);
  cl_program p = program(d_, program_source(file, prelude_), options, file);
  cl_int err = CL_SUCCESS;
  Kernel k(clCreateKernel(p, std::string(name).c_str(), &err));
  check(err, fmt::format("{}: clCreateKernel {} of {}", op_, name, file));
  size_t most = 0;
  check(clGetKernelWorkGroupInfo(k.get(), d_.id, CL_KERNEL_WORK_GROUP_SIZE, sizeof most, &most, nullptr),
        "clGetKernelWorkGroupInfo");
  if (most < wg_)
    throw BackendFailure(fmt::format("opencl: {}: kernel {} of {} runs at most {} work-items per group on {}, "
                                     "the backend launches {}",
                                     op_, name, file, most, d_.facts.name, wg_));
  return d_.kernels.emplace(KernelKey(prelude_, file, defines, name), std::move(k)).first->second.get();
}

void Session::check_local_memory(cl_kernel k, std::string_view name) const {
  cl_ulong local = 0;
  check(clGetKernelWorkGroupInfo(k, d_.id, CL_KERNEL_LOCAL_MEM_SIZE, sizeof local, &local, nullptr),
        "clGetKernelWorkGroupInfo(CL_KERNEL_LOCAL_MEM_SIZE)");
  if (d_.facts.local_memory_bytes > 0 && local > static_cast<cl_ulong>(d_.facts.local_memory_bytes))
    throw BackendFailure(fmt::format("opencl: {}: {} needs {} bytes of local memory, {} has {}", op_, name, local,
                                     d_.facts.name, d_.facts.local_memory_bytes));
}

void Session::set_arg(cl_kernel k, std::string_view name, cl_uint i, const Mem& m) {
  cl_mem h = m.get();
  check(clSetKernelArg(k, i, sizeof h, &h), std::string("clSetKernelArg of ") + std::string(name));
}

void Session::enqueue(cl_kernel k, std::string_view name, size_t groups) {
  size_t global = groups * wg_, local = wg_;
  cl_event ev = nullptr;
  pending_ = true;
  check(clEnqueueNDRangeKernel(d_.queue.get(), k, 1, nullptr, &global, &local, 0, nullptr, &ev),
        fmt::format("{}: launching {} ({} x {} work-items)", op_, name, groups, wg_));
  events_.emplace_back(ev);
}

cl_mem Session::resident(const void* p, size_t bytes, std::string_view what, size_t* offset) {
  device_memory::Allocation a = device_memory::find(op_, what, p, bytes);
  if (a.backend != "opencl" || a.device != device_)
    tessera::detail::fail(ErrorCode::InvalidArgument, "{}: {} lives on {}:{}, this call runs on opencl:{}", op_, what, a.backend,
         a.device, device_);
  *offset = reinterpret_cast<uintptr_t>(p) - a.base;
  cl_mem m = static_cast<const Mem*>(a.handle.get())->get();
  resident_.push_back(std::move(a));
  return m;
}

void Session::copy_rect(const void* src, void* dst, const Rect& r) {
  if (r.run == 0 || r.rows == 0 || r.slices == 0) return;
  auto span = [&](size_t row, size_t slice) { return (r.slices - 1) * slice + (r.rows - 1) * row + r.run; };
  size_t src_offset = 0, dst_offset = 0;
  cl_mem from = resident(src, span(r.src_row, r.src_slice), "the source of a strided copy", &src_offset);
  cl_mem to = resident(dst, span(r.dst_row, r.dst_slice), "the destination of a strided copy", &dst_offset);
  // The offsets go in the origins' x, the byte within a row: OpenCL adds z * slice + y * row + x.
  const size_t src_origin[3] = {src_offset, 0, 0}, dst_origin[3] = {dst_offset, 0, 0};
  const size_t region[3] = {r.run, r.rows, r.slices};
  pending_ = true;
  check(clEnqueueCopyBufferRect(d_.queue.get(), from, to, src_origin, dst_origin, region, r.src_row, r.src_slice,
                                r.dst_row, r.dst_slice, 0, nullptr, nullptr),
        fmt::format("{}: a strided copy of {} x {} x {} bytes", op_, r.slices, r.rows, r.run));
  pending_ = false; // a copy on the device: nothing of the host's to wait for
}

void Session::write_at(const Mem& m, size_t offset, const void* src, size_t bytes, std::string_view what) {
  pending_ = true;
  check(clEnqueueWriteBuffer(d_.queue.get(), m.get(), CL_TRUE, offset, bytes, src, 0, nullptr, nullptr),
        fmt::format("{}: writing {} ({} bytes)", op_, what, bytes));
  pending_ = false;
  thread_traffic().bytes_to_device += static_cast<int64_t>(bytes);
}

void Session::read_at(const Mem& m, size_t offset, void* dst, size_t bytes, std::string_view what) {
  pending_ = true;
  check(clEnqueueReadBuffer(d_.queue.get(), m.get(), CL_TRUE, offset, bytes, dst, 0, nullptr, nullptr),
        fmt::format("{}: reading {} ({} bytes)", op_, what, bytes));
  pending_ = false;
  thread_traffic().bytes_from_device += static_cast<int64_t>(bytes);
}

void Session::read(const Mem& m, void* dst, size_t bytes, std::string_view what) {
  if (device_memory::resident(dst)) {
    size_t offset = 0;
    cl_mem to = resident(dst, bytes, what, &offset);
    // No wait: the copy involves no host memory, the kernels it copies from were checked by
    // finish(), and the in-order queue runs it before anything enqueued later (a pooled buffer's
    // next use, a download of the view). A device buffer freed meanwhile is released by the
    // driver only once the copy is done.
    check(clEnqueueCopyBuffer(d_.queue.get(), m.get(), to, 0, offset, bytes, 0, nullptr, nullptr),
          fmt::format("{}: copying {} ({} bytes) on the device", op_, what, bytes));
    return;
  }
  if (finished_ && !completed_) complete(); // a failed kernel writes nothing into dst
  pending_ = true;
  check(clEnqueueReadBuffer(d_.queue.get(), m.get(), CL_TRUE, 0, bytes, dst, 0, nullptr, nullptr),
        fmt::format("{}: reading back {} ({} bytes)", op_, what, bytes));
  thread_traffic().bytes_from_device += static_cast<int64_t>(bytes);
  pending_ = false; // a blocking read on an in-order queue completes everything before it
}

void Session::finish() {
  finished_ = true;
  check(clFlush(d_.queue.get()), op_ + ": clFlush");
}

void Session::complete() {
  completed_ = true;
  check(clFinish(d_.queue.get()), op_ + ": clFinish");
  pending_ = false;
  double ms = 0.0;
  for (const Event& e : events_) {
    // A kernel that failed on the device reports it only here, through its event.
    cl_int status = CL_COMPLETE;
    check(
        clGetEventInfo(e.get(), CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, nullptr),
        "clGetEventInfo");
    if (status < 0) fail(op_ + ": a kernel failed on the device", status);
    cl_ulong start = 0, end = 0;
    check(
        clGetEventProfilingInfo(e.get(), CL_PROFILING_COMMAND_START, sizeof start, &start, nullptr),
        "clGetEventProfilingInfo");
    check(clGetEventProfilingInfo(e.get(), CL_PROFILING_COMMAND_END, sizeof end, &end, nullptr),
          "clGetEventProfilingInfo");
    if (end > start) ms += static_cast<double>(end - start) * 1e-6;
  }
  set_last_device_ms(ms);
}

QueueReport sync(int device) {
  Session s(device, "sync");
  return s.sync();
}

QueueReport Session::sync() {
  QueueReport r{d_.folded_calls, d_.folded_ms};
  std::string failure = std::move(d_.folded_failure);
  ErrorCode code = d_.folded_code;
  d_.folded_calls = 0;
  d_.folded_ms = 0.0;
  d_.folded_failure.clear();
  drain(d_, &r.calls, &r.device_ms, &failure, &code);
  // Everything is cleared first, so later calls and syncs on this device work.
  if (!failure.empty()) tessera::detail::fail(code, "{} (found by sync)", failure);
  return r;
}

void Session::check_at_sync(const Mem& bad, std::string_view name, int64_t rows, int64_t cols) {
  if (d_.checks.size() >= kMaxQueued) drain(d_, &d_.folded_calls, &d_.folded_ms, &d_.folded_failure, &d_.folded_code);
  if (!d_.flags) d_.flags = alloc_unpooled(kMaxQueued * sizeof(cl_ulong), "the queued non-finite checks");
  const size_t slot = d_.checks.size() * sizeof(cl_ulong);
  pending_ = true;
  check(clEnqueueCopyBuffer(d_.queue.get(), bad.get(), d_.flags.get(), 0, slot, sizeof(cl_ulong), 0, nullptr, nullptr),
        fmt::format("{}: keeping the non-finite check of {} for sync", op_, name));
  pending_ = false; // a copy on the device: nothing of the host's to wait for
  d_.checks.push_back(Device::Check{op_, std::string(name), rows, cols});
}

std::shared_ptr<void> device_alloc(int device, size_t bytes) {
  Session s(device, "device_alloc");
  const size_t n = std::max<size_t>(bytes, 4); // no empty cl_mem
  auto m = std::make_shared<Mem>(s.alloc_unpooled(n, "a device buffer"));
  s.zero_fill(*m, n);
  return m;
}

void Session::zero_fill(const Mem& m, size_t bytes) {
  const cl_uchar zero = 0;
  pending_ = true;
  check(clEnqueueFillBuffer(d_.queue.get(), m.get(), &zero, 1, 0, bytes, 0, nullptr, nullptr),
        fmt::format("{}: zeroing {} bytes", op_, bytes));
  check(clFinish(d_.queue.get()), op_ + ": clFinish");
  pending_ = false;
}

void device_write(int device, const std::shared_ptr<void>& buffer, size_t offset, const void* src, size_t bytes) {
  if (bytes == 0) return;
  Session s(device, "upload");
  s.write_at(*static_cast<const Mem*>(buffer.get()), offset, src, bytes, "a device buffer");
}

void device_read(int device, const std::shared_ptr<void>& buffer, size_t offset, void* dst, size_t bytes) {
  if (bytes == 0) return;
  Session s(device, "download");
  s.read_at(*static_cast<const Mem*>(buffer.get()), offset, dst, bytes, "a device buffer");
}

void copy_rect(int device, const void* src, void* dst, const Rect& r) {
  Session s(device, "copy_rect");
  s.part_of_a_call();
  s.copy_rect(src, dst, r);
  s.finish();
}

// A marker after everything enqueued on the device's in-order queue, flushed so that it runs.
std::shared_ptr<void> mark(int device) {
  Device& d = device_at(device, "event");
  std::lock_guard lock(d.mutex);
  ensure_queue(d);
  cl_event e = nullptr;
  check(clEnqueueMarkerWithWaitList(d.queue.get(), 0, nullptr, &e), "clEnqueueMarkerWithWaitList");
  auto h = std::make_shared<Event>(e);
  check(clFlush(d.queue.get()), "clFlush");
  return h;
}

bool mark_done(const std::shared_ptr<void>& mark) {
  cl_int status = CL_COMPLETE;
  check(clGetEventInfo(static_cast<const Event*>(mark.get())->get(), CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status,
                       &status, nullptr),
        "clGetEventInfo");
  return status == CL_COMPLETE || status < 0; // a failed command has finished too (sync() reports it)
}

void mark_wait(const std::shared_ptr<void>& mark) {
  const cl_event e = static_cast<const Event*>(mark.get())->get();
  // A failed command before the marker makes the wait fail; sync() reports which.
  (void)clWaitForEvents(1, &e);
}

namespace {
// Device `device` with its queue, locked; null for a device that is not there.
Device* locked(int device, std::unique_lock<std::mutex>& lock) {
  const auto& table = device_table();
  if (device < 0 || static_cast<size_t>(device) >= table.size()) return nullptr;
  Device& d = *table[static_cast<size_t>(device)];
  lock = std::unique_lock(d.mutex);
  ensure_queue(d);
  return &d;
}
} // namespace

PoolStats pool_stats(int device) {
  std::unique_lock<std::mutex> lock;
  const Device* d = locked(device, lock);
  if (!d) return {};
  return {static_cast<int64_t>(d->pool.buffers()), static_cast<int64_t>(d->pool.bytes()),
          static_cast<int64_t>(d->pool_max_bytes)};
}

int64_t set_pool_max_bytes(int device, int64_t max_bytes) {
  std::unique_lock<std::mutex> lock;
  Device* d = locked(device, lock);
  if (!d) return 0;
  const auto old = static_cast<int64_t>(std::exchange(d->pool_max_bytes, static_cast<size_t>(max_bytes)));
  d->pool.trim(d->pool_max_bytes);
  return old;
}

void fill_pool(int device, unsigned char byte) {
  std::unique_lock<std::mutex> lock;
  Device* d = locked(device, lock);
  if (!d) return;
  d->pool.fill(d->queue.get(), byte);
  check(clFinish(d->queue.get()), "clFinish");
}

} // namespace tessera::detail::opencl
