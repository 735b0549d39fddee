// tessera::Context: a device chosen once, and the operations of ops.h run there.
#include "tessera/context.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "core/backend.h"
#include "device_memory.h"
#include "dispatch/registry.h"
#include "core/overrides.h"
#include "validate.h"

namespace tessera {

namespace {
constexpr size_t kAlignment = 256;

uint64_t next_serial() {
  static std::atomic<uint64_t> serial{0};
  return ++serial;
}
} // namespace

struct Context::State {
  std::string backend;
  int device = 0;
  std::string device_name;
  NumericsPolicy policy;
  uint64_t serial = next_serial(); // never reused, unlike the State's address
  std::atomic<int64_t> allocations{0}, bytes_to_device{0}, bytes_from_device{0};
};

namespace {
// last_run() records, per thread, keyed by context serial. Thread-local so that concurrent
// callers never contend on a lock; the weak_ptr lets a thread drop the records of contexts that
// are gone, so a long-lived thread that opens many contexts does not accumulate them.
struct LastRun {
  std::weak_ptr<Context::State> owner;
  RunInfo info;
};
thread_local std::unordered_map<uint64_t, LastRun> t_last_run;

void record(const std::shared_ptr<Context::State>& s, RunInfo info) {
  s->allocations += info.traffic.allocations;
  s->bytes_to_device += info.traffic.bytes_to_device;
  s->bytes_from_device += info.traffic.bytes_from_device;
  auto it = t_last_run.find(s->serial);
  if (it == t_last_run.end()) {
    std::erase_if(t_last_run, [](const auto& kv) { return kv.second.owner.expired(); });
    it = t_last_run.emplace(s->serial, LastRun{s, {}}).first;
  }
  it->second.info = std::move(info);
}
} // namespace

// ---- Buffer ---------------------------------------------------------------------------------

Buffer::Buffer(Buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    Buffer old(std::move(*this));
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

Buffer::~Buffer() {
  if (data_) ::operator delete (data_, std::align_val_t{kAlignment});
}

// ---- Context --------------------------------------------------------------------------------

namespace {
// An empty name means what it means for a RunOptions: the override's backend, else cpu.
std::string resolve_backend(std::string backend) {
  if (backend.empty()) backend = detail::current_overrides().backend;
  if (backend.empty()) backend = "cpu";
  if (backend != "cpu" && backend != "opencl" && backend != "vulkan")
    detail::fail(ErrorCode::InvalidArgument,
                 "context: unknown backend '{}' (known: cpu, opencl, vulkan)", backend);
  return backend;
}
} // namespace

int Context::device_count(std::string backend) {
  backend = resolve_backend(std::move(backend));
  int count = 0;
  for (const dispatch::DeviceRef& d : dispatch::devices())
    count += d.backend == backend;
  return count;
}

Context Context::open(std::string backend, int device, NumericsPolicy policy) {
  backend = resolve_backend(std::move(backend));
  if (policy.numerics == Numerics::Bounded && !(policy.max_bound > 0.0 && std::isfinite(policy.max_bound)))
    detail::fail(ErrorCode::InvalidArgument, "context: numerics Bounded needs a max_bound > 0, not {}",
                 policy.max_bound);
  if (!dispatch::backend_built(backend))
    detail::fail(ErrorCode::Unsupported, "context: backend '{}' is not available in this build",
                 backend);
  int count = 0;
  for (const dispatch::DeviceRef& d : dispatch::devices()) {
    if (d.backend != backend) continue;
    ++count;
    if (d.index == device) {
      auto s = std::make_shared<State>();
      s->backend = backend;
      s->device = device;
      s->device_name = d.facts.name;
      s->policy = policy;
      return Context(std::move(s));
    }
  }
  if (count == 0)
    detail::fail(ErrorCode::Unsupported, "context: no {} device {} (none found: {})", backend, device,
                 dispatch::no_device_reason(backend));
  detail::fail(ErrorCode::Unsupported, "context: no {} device {} ({} found)", backend, device,
               count);
}

Context::~Context() = default;

const std::string& Context::backend() const { return s_->backend; }
int Context::device() const { return s_->device; }
const std::string& Context::device_name() const { return s_->device_name; }
const NumericsPolicy& Context::policy() const { return s_->policy; }

RunOptions Context::options(std::string variant) const {
  return RunOptions{s_->backend, s_->device, std::move(variant), s_->policy};
}

RunInfo Context::last_run() const {
  auto it = t_last_run.find(s_->serial);
  return it == t_last_run.end() ? RunInfo{} : it->second.info;
}

QueueInfo Context::sync() const {
  if (s_->backend == "cpu") return {};
  // The queued non-finite checks are read back here: counted as this context's traffic, even
  // when the sync reports a failure.
  detail::thread_traffic() = {};
  struct Count {
    Context::State& s;
    ~Count() { s.bytes_from_device += detail::thread_traffic().bytes_from_device; }
  } count{*s_};
  try {
    const detail::QueueReport r =
        s_->backend == "opencl" ? detail::opencl::sync(s_->device) : detail::vulkan::sync(s_->device);
    return {r.calls, r.device_ms};
  } catch (const detail::BackendFailure& f) {
    detail::fail(ErrorCode::Unsupported, "sync: {}", f.what());
  }
}

Event Context::event() const {
  Event e;
  e.backend_ = s_->backend;
  try {
    if (s_->backend == "opencl") e.mark_ = detail::opencl::mark(s_->device);
    if (s_->backend == "vulkan") e.mark_ = detail::vulkan::mark(s_->device);
  } catch (const detail::BackendFailure& f) {
    detail::fail(ErrorCode::Unsupported, "event: {}", f.what());
  }
  return e;
}

bool Event::done() const {
  if (!mark_) return true;
  try {
    return backend_ == "opencl" ? detail::opencl::mark_done(mark_) : detail::vulkan::mark_done(mark_);
  } catch (const detail::BackendFailure& f) {
    detail::fail(ErrorCode::Unsupported, "event: {}", f.what());
  }
}

void Event::wait() const {
  if (!mark_) return;
  try {
    if (backend_ == "opencl") detail::opencl::mark_wait(mark_);
    else detail::vulkan::mark_wait(mark_);
  } catch (const detail::BackendFailure& f) {
    detail::fail(ErrorCode::Unsupported, "event: {}", f.what());
  }
}

DeviceTraffic Context::traffic() const {
  return {s_->allocations.load(), s_->bytes_to_device.load(), s_->bytes_from_device.load()};
}

Buffer Context::alloc(size_t bytes) const {
  // At least one alignment unit, so that even an empty buffer has an address a view can hold.
  size_t rounded = bytes == 0 ? kAlignment : (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded < bytes) throw std::bad_alloc(); // the rounding overflowed
  void* p = ::operator new (rounded, std::align_val_t{kAlignment});
  std::memset(p, 0, rounded);
  return Buffer(p, bytes);
}

namespace {
// A view of `bytes` of memory at `data` (`has_memory`: false for a moved-from buffer).
TensorView checked_view(void* data, size_t bytes, bool has_memory, DType dtype, Shape shape) {
  constexpr std::string_view op = "Context::view";
  TensorView v{dtype, std::move(shape), data, bytes};
  for (int64_t d : v.shape)
    if (d < 0)
      detail::fail(ErrorCode::ShapeMismatch, "{}: negative extent in shape {}", op,
                   shape_str(v.shape));
  auto need = checked_bytes(dtype, v.shape);
  if (!need || v.shape.size() > kMaxRank)
    detail::fail(ErrorCode::ShapeMismatch, "{}: a {} {} view has more than {} dimensions or 2^62 elements or bytes",
                 op, dtype_name(dtype), shape_str(v.shape), kMaxRank);
  if (*need > 0 && !has_memory)
    detail::fail(ErrorCode::NullBuffer, "{}: the buffer holds no memory (moved from?)", op);
  if (*need > bytes)
    detail::fail(ErrorCode::ShortBuffer, "{}: a {} {} view needs {} bytes, the buffer holds {}", op,
                 dtype_name(dtype), shape_str(v.shape), *need, bytes);
  return v;
}
} // namespace

TensorView Context::view(Buffer& b, DType dtype, Shape shape) {
  return checked_view(b.data(), b.size(), static_cast<bool>(b), dtype, std::move(shape));
}

// ---- DeviceBuffer ---------------------------------------------------------------------------

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : base_(std::exchange(other.base_, 0)), bytes_(std::exchange(other.bytes_, 0)), host_(other.host_) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    release();
    base_ = std::exchange(other.base_, 0);
    bytes_ = std::exchange(other.bytes_, 0);
    host_ = other.host_;
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() { release(); }

void DeviceBuffer::release() noexcept {
  if (base_ == 0) return;
  if (host_)
    ::operator delete (reinterpret_cast<void*>(base_), std::align_val_t{kAlignment});
  else
    detail::device_memory::remove(base_);
  base_ = 0;
  bytes_ = 0;
}

DeviceBuffer Context::device_alloc(size_t bytes) const {
  DeviceBuffer b;
  b.bytes_ = bytes;
  if (s_->backend == "cpu") {
    Buffer host = alloc(bytes); // zeroed, aligned host memory; its ownership moves to b
    b.base_ = reinterpret_cast<uintptr_t>(std::exchange(host.data_, nullptr));
    b.host_ = true;
    return b;
  }
  b.base_ = detail::device_memory::allocate("device_alloc", s_->backend, s_->device, bytes);
  return b;
}

Context Context::open_opencl(void* cl_context, void* cl_device_id, void* cl_command_queue, NumericsPolicy policy) {
  if (!dispatch::backend_built("opencl"))
    detail::fail(ErrorCode::Unsupported, "open_opencl: the OpenCL backend is not available in this build");
  if (!cl_context || !cl_device_id)
    detail::fail(ErrorCode::NullBuffer, "open_opencl: the engine's cl_context and cl_device_id must not be null");
  const int device = detail::opencl::device_index(cl_device_id);
  if (device < 0)
    detail::fail(ErrorCode::InvalidArgument, "open_opencl: the cl_device_id is none of the devices this process's "
                                             "OpenCL platforms list");
  detail::opencl::adopt(device, cl_context, cl_command_queue);
  return open("opencl", device, policy);
}

namespace {
// What the engine-memory calls share: `op` needs a context of `backend` (`kind` in the message),
// and what the backend cannot do is an Error(Unsupported) naming `op`.
template <class F>
auto on_backend(const Context::State& s, std::string_view op, std::string_view backend, std::string_view kind, F f) {
  if (s.backend != backend)
    detail::fail(ErrorCode::Unsupported, "{}: this context is {}:{}, not {} one", op, s.backend, s.device, kind);
  try {
    return f();
  } catch (const detail::BackendFailure& e) {
    detail::fail(ErrorCode::Unsupported, "{}: {}", op, e.what());
  }
}
} // namespace

DeviceBuffer Context::wrap_opencl(void* cl_mem, size_t offset, size_t bytes) const {
  DeviceBuffer b;
  b.base_ = on_backend(*s_, "wrap_opencl", "opencl", "an OpenCL", [&] {
    return detail::device_memory::adopt("wrap_opencl", "opencl", s_->device, bytes,
                                        detail::opencl::wrap(s_->device, cl_mem, offset, bytes));
  });
  b.bytes_ = bytes;
  return b;
}

Context::OpenclHandles Context::opencl_handles() const {
  return on_backend(*s_, "opencl_handles", "opencl", "an OpenCL", [&] {
    const detail::opencl::NativeHandles h = detail::opencl::native_handles(s_->device);
    return OpenclHandles{h.context, h.device, h.queue};
  });
}

Context::VulkanHandles Context::vulkan_handles() const {
  return on_backend(*s_, "vulkan_handles", "vulkan", "a Vulkan", [&] {
    const detail::vulkan::NativeHandles h = detail::vulkan::native_handles(s_->device);
    return VulkanHandles{h.instance, h.physical_device, h.device, h.queue_family, h.queue};
  });
}

DeviceBuffer Context::wrap_vulkan(void* vk_buffer, size_t offset, size_t bytes) const {
  DeviceBuffer b;
  b.base_ = on_backend(*s_, "wrap_vulkan", "vulkan", "a Vulkan", [&] {
    return detail::device_memory::adopt("wrap_vulkan", "vulkan", s_->device, bytes,
                                        detail::vulkan::wrap(s_->device, vk_buffer, offset, bytes));
  });
  b.bytes_ = bytes;
  return b;
}

namespace {
// The allocation behind `b` at [offset, offset + bytes), checked against this context's device.
detail::device_memory::Allocation checked_range(const Context::State& s, std::string_view op, const DeviceBuffer& b,
                                                size_t offset, size_t bytes) {
  if (!b) detail::fail(ErrorCode::NullBuffer, "{}: the device buffer holds no memory (moved from?)", op);
  if (offset > b.size() || bytes > b.size() - offset)
    detail::fail(ErrorCode::ShortBuffer, "{}: bytes [{}, {} + {}) pass the end of a {}-byte device buffer", op, offset,
                 offset, bytes, b.size());
  detail::device_memory::Allocation a =
      detail::device_memory::find(op, "the device buffer", static_cast<const std::byte*>(b.address()) + offset, bytes);
  if (a.backend != s.backend || a.device != s.device)
    detail::fail(ErrorCode::InvalidArgument, "{}: the buffer lives on {}:{}, this context is {}:{}", op, a.backend,
                 a.device, s.backend, s.device);
  return a;
}
} // namespace

void Context::upload(const DeviceBuffer& dst, size_t offset, const void* src, size_t bytes) const {
  copy("upload", dst, offset, const_cast<void*>(src), bytes, true);
}

void Context::download(const DeviceBuffer& src, size_t offset, void* dst, size_t bytes) const {
  copy("download", src, offset, dst, bytes, false);
}

void Context::copy(std::string_view op, const DeviceBuffer& b, size_t offset, void* host, size_t bytes,
                   bool to_device) const {
  if (bytes > 0 && !host) detail::fail(ErrorCode::NullBuffer, "{}: the host pointer is null for {} bytes", op, bytes);
  if (b && b.host_) { // a cpu context's buffer: host memory
    if (offset > b.size() || bytes > b.size() - offset)
      detail::fail(ErrorCode::ShortBuffer, "{}: bytes [{}, {} + {}) pass the end of a {}-byte buffer", op, offset,
                   offset, bytes, b.size());
    std::byte* at = static_cast<std::byte*>(b.address()) + offset;
    if (bytes) std::memcpy(to_device ? at : host, to_device ? host : at, bytes);
    return;
  }
  detail::device_memory::Allocation a = checked_range(*s_, op, b, offset, bytes);
  detail::thread_traffic() = {};
  if (to_device) detail::device_memory::write(op, a, offset, host, bytes);
  else detail::device_memory::read(op, a, offset, host, bytes);
  s_->bytes_to_device += detail::thread_traffic().bytes_to_device;
  s_->bytes_from_device += detail::thread_traffic().bytes_from_device;
}

TensorView Context::view(const DeviceBuffer& b, DType dtype, Shape shape, size_t offset) {
  if (offset > b.size())
    detail::fail(ErrorCode::ShortBuffer, "Context::view: offset {} is past the end of a {}-byte device buffer", offset,
                 b.size());
  return checked_view(static_cast<std::byte*>(b.address()) + offset, b.size() - offset, static_cast<bool>(b), dtype,
                      std::move(shape));
}

template <class F> auto Context::run(F&& f) const {
  // A failed call leaves an empty record: an old RunInfo would describe a call that is not the
  // last.
  record(s_, RunInfo{});
  RunOptions o = options();
  RunInfo info;
  if constexpr (std::is_void_v<decltype(f(o, &info))>) {
    f(o, &info);
    record(s_, std::move(info));
  } else {
    auto result = f(o, &info);
    record(s_, std::move(info));
    return result;
  }
}

PackedWeight Context::pack_nvfp4_weight(const TensorView& b, const TensorView& b_scale, float scale_2,
                                        ScaleLayout scale_layout, int64_t M, std::string layout) const {
  return tessera::pack_nvfp4_weight(b, b_scale, scale_2, scale_layout, PackTarget{options(), M, std::move(layout)});
}

PackedWeight Context::pack_fp8_weight(const TensorView& b, const TensorView& scales, int64_t M,
                                      std::string layout) const {
  return tessera::pack_fp8_weight(b, scales, PackTarget{options(), M, std::move(layout)});
}

void Context::unpack_weight(const PackedWeight& w, const TensorView& b, const TensorView& scales) const {
  tessera::unpack_weight(w, b, scales);
}

// ---- generated from core/op_table.h by tools/gen_api.cpp (make api): do not edit ----

void Context::convert(const TensorView& x, Format to, const TensorView& y) const {
  return run([&](const RunOptions& run_options, RunInfo* run_info) {
    return tessera::convert(x, to, y, run_options, run_info);
  });
}

float Context::quantize_nvfp4(const TensorView& x, Nvfp4Recipe recipe,
                              std::optional<float> static_scale_2, const TensorView& q,
                              const TensorView& scale) const {
  return run([&](const RunOptions& run_options, RunInfo* run_info) {
    return tessera::quantize_nvfp4(x, recipe, static_scale_2, q, scale, run_options, run_info);
  });
}

void Context::dequantize_nvfp4(const TensorView& q, const TensorView& scale, float scale_2,
                               const TensorView& y) const {
  return run([&](const RunOptions& run_options, RunInfo* run_info) {
    return tessera::dequantize_nvfp4(q, scale, scale_2, y, run_options, run_info);
  });
}

void Context::quantize_fp8(const TensorView& x, Fp8Recipe recipe, const TensorView& q,
                           const TensorView& scales) const {
  return run([&](const RunOptions& run_options, RunInfo* run_info) {
    return tessera::quantize_fp8(x, recipe, q, scales, run_options, run_info);
  });
}

void Context::dequantize_fp8(const TensorView& q, const TensorView& scales, Fp8Recipe recipe,
                             const TensorView& y) const {
  return run([&](const RunOptions& run_options, RunInfo* run_info) {
    return tessera::dequantize_fp8(q, scales, recipe, y, run_options, run_info);
  });
}

void Context::gemm_nvfp4(const TensorView& a, const TensorView& a_scale, const TensorView& b,
                         const TensorView& b_scale, float alpha,
                         const std::optional<TensorView>& bias, const TensorView& c) const {
  return run([&](const RunOptions& run_options, RunInfo* run_info) {
    return tessera::gemm_nvfp4(a, a_scale, b, b_scale, alpha, bias, c, run_options, run_info);
  });
}

void Context::gemm_fp8(const TensorView& a, const TensorView& b, float alpha,
                       const std::optional<TensorView>& bias, const TensorView& c) const {
  return run([&](const RunOptions& run_options, RunInfo* run_info) {
    return tessera::gemm_fp8(a, b, alpha, bias, c, run_options, run_info);
  });
}

void Context::gemm_fp8_block(const TensorView& a, const TensorView& a_scale, const TensorView& b,
                             const TensorView& b_scale, const std::optional<TensorView>& bias,
                             const TensorView& c) const {
  return run([&](const RunOptions& run_options, RunInfo* run_info) {
    return tessera::gemm_fp8_block(a, a_scale, b, b_scale, bias, c, run_options, run_info);
  });
}

float Context::gemm_nvfp4_act(const TensorView& x, std::optional<float> a_scale_2,
                              const TensorView& b, const TensorView& b_scale, float b_scale_2,
                              const std::optional<TensorView>& bias, const TensorView& c) const {
  return run([&](const RunOptions& run_options, RunInfo* run_info) {
    return tessera::gemm_nvfp4_act(x, a_scale_2, b, b_scale, b_scale_2, bias, c, run_options,
                                   run_info);
  });
}

void Context::gemm_fp8_act(const TensorView& x, const TensorView& b, const TensorView& b_scale,
                           const std::optional<TensorView>& bias, const TensorView& c) const {
  return run([&](const RunOptions& run_options, RunInfo* run_info) {
    return tessera::gemm_fp8_act(x, b, b_scale, bias, c, run_options, run_info);
  });
}

void Context::gemm_nvfp4_packed(const TensorView& a, const TensorView& a_scale,
                                const PackedWeight& b, float alpha,
                                const std::optional<TensorView>& bias, const TensorView& c) const {
  return run([&](const RunOptions& run_options, RunInfo* run_info) {
    return tessera::gemm_nvfp4(a, a_scale, b, alpha, bias, c, run_options, run_info);
  });
}

void Context::gemm_fp8_packed(const TensorView& a, const PackedWeight& b, float alpha,
                              const std::optional<TensorView>& bias, const TensorView& c) const {
  return run([&](const RunOptions& run_options, RunInfo* run_info) {
    return tessera::gemm_fp8(a, b, alpha, bias, c, run_options, run_info);
  });
}

void Context::gemm_fp8_block_packed(const TensorView& a, const TensorView& a_scale,
                                    const PackedWeight& b, const std::optional<TensorView>& bias,
                                    const TensorView& c) const {
  return run([&](const RunOptions& run_options, RunInfo* run_info) {
    return tessera::gemm_fp8_block(a, a_scale, b, bias, c, run_options, run_info);
  });
}

void Context::deltanet(const DeltaNetArgs& args, const TensorView& o, const TensorView& ht) const {
  return run([&](const RunOptions& run_options, RunInfo* run_info) {
    return tessera::deltanet(args, o, ht, run_options, run_info);
  });
}

void Context::conv1d(const TensorView& x, const TensorView& w,
                     const std::optional<TensorView>& bias, const std::optional<TensorView>& state,
                     const TensorView& y, const TensorView& state_out) const {
  return run([&](const RunOptions& run_options, RunInfo* run_info) {
    return tessera::conv1d(x, w, bias, state, y, state_out, run_options, run_info);
  });
}

void Context::attention(const AttentionArgs& args, const TensorView& o,
                        const std::optional<TensorView>& lse) const {
  return run([&](const RunOptions& run_options, RunInfo* run_info) {
    return tessera::attention(args, o, lse, run_options, run_info);
  });
}
// ---- end of generated code ----

} // namespace tessera
