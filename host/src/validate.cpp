#include "validate.h"

#include <cmath>
#include <cstring>

#include "core/backend.h"
#include "core/overrides.h"
#include "device_memory.h"
#include "reference/formats.h"

namespace tessera::detail {

namespace {
struct ResidentCall {
  bool open = false;    // a ResidentScope is open on this thread
  bool seen = false;    // and the call has a resident view
  std::string backend;  // the device the call runs on
  int device = 0;
};
thread_local ResidentCall t_resident;

// A resident view: accepted only inside a ResidentScope, on the call's device, in bounds.
void check_resident(std::string_view op, std::string_view name, const TensorView& t, size_t need) {
  if (!t_resident.open)
    fail(ErrorCode::Unsupported, "{}: {} is a view of device memory, which {} cannot take yet (it reads {} on the "
                                 "host); pass a host view",
         op, name, op, name);
  device_memory::Allocation a = device_memory::find(op, name, t.data, need);
  if (a.backend != t_resident.backend || a.device != t_resident.device)
    fail(ErrorCode::InvalidArgument, "{}: {} lives on {}:{}, the call runs on {}:{}", op, name, a.backend, a.device,
         t_resident.backend, t_resident.device);
  t_resident.seen = true;
}
} // namespace

ResidentScope::ResidentScope(const RunOptions& options) {
  // The backend a call runs on, as the registry resolves it (RunOptions, then the override).
  std::string backend = options.backend;
  if (backend.empty()) backend = current_overrides().backend;
  if (backend.empty()) backend = "cpu";
  t_resident = ResidentCall{true, false, backend, options.device};
  thread_traffic() = {};
}

ResidentScope::~ResidentScope() { t_resident = ResidentCall{}; }

bool call_has_resident_views() { return t_resident.open && t_resident.seen; }
bool in_resident_scope() { return t_resident.open; }
const std::string& resident_backend() { return t_resident.backend; }
int resident_device() { return t_resident.device; }

std::vector<std::byte> host_bytes(std::string_view op, std::string_view name, const TensorView& t) {
  const size_t n = shape_bytes(t.dtype, t.shape);
  std::vector<std::byte> out(n);
  if (n == 0) return out;
  if (!device_memory::resident(t.data)) {
    std::memcpy(out.data(), t.data, n);
    return out;
  }
  device_memory::Allocation a = device_memory::find(op, name, t.data, n);
  const size_t offset = reinterpret_cast<uintptr_t>(t.data) - a.base;
  device_memory::read(op, a, offset, out.data(), n);
  return out;
}

void check_view(std::string_view op, std::string_view name, const TensorView& t) {
  for (int64_t d : t.shape)
    if (d < 0) fail(ErrorCode::ShapeMismatch, "{}: {} has a negative extent in shape {}", op, name, shape_str(t.shape));
  if (t.shape.size() > kMaxRank)
    fail(ErrorCode::ShapeMismatch, "{}: {} has rank {}, more than the {} dimensions a tensor may have", op, name,
         t.shape.size(), kMaxRank);
  // The operations gather a strided view into a packed copy before they check it
  // (strided_views.h); anything else that reads a view reads it packed.
  if (!t.packed())
    fail(ErrorCode::Unsupported, "{}: {} has strides {}, which {} does not take; pass a packed view", op, name,
         shape_str(t.strides), op);
  auto need = checked_bytes(t.dtype, t.shape);
  if (!need)
    fail(ErrorCode::ShapeMismatch, "{}: {} {} {} describes more than 2^62 elements or bytes", op, name,
         dtype_name(t.dtype), shape_str(t.shape));
  if (*need > 0 && t.data == nullptr) fail(ErrorCode::NullBuffer, "{}: {} has no data (null pointer for {} bytes)", op, name, *need);
  if (t.bytes < *need)
    fail(ErrorCode::ShortBuffer, "{}: {} buffer holds {} bytes, its shape {} {} needs {}", op, name, t.bytes,
         dtype_name(t.dtype), shape_str(t.shape), *need);
  if (device_memory::resident(t.data)) check_resident(op, name, t, *need);
}

int64_t derived_extent(std::string_view op, std::string_view what, int64_t a, int64_t b) {
  if (auto p = checked_mul(a, b)) return *p;
  fail(ErrorCode::ShapeMismatch, "{}: {} = {} x {} is more than 2^62", op, what, a, b);
}

void check_dtype(std::string_view op, std::string_view name, const TensorView& t,
                 std::initializer_list<DType> allowed) {
  for (DType d : allowed)
    if (t.dtype == d) return;
  std::string list;
  for (DType d : allowed) {
    if (!list.empty()) list += " or ";
    list += dtype_name(d);
  }
  fail(ErrorCode::DTypeMismatch, "{}: {} has dtype {}, expected {}", op, name, dtype_name(t.dtype), list);
}

void check_rank(std::string_view op, std::string_view name, const TensorView& t, size_t rank) {
  if (t.shape.size() != rank)
    fail(ErrorCode::ShapeMismatch, "{}: {} has shape {}, expected rank {}", op, name, shape_str(t.shape), rank);
}

void check_shape(std::string_view op, std::string_view name, const TensorView& t,
                 const Shape& expected) {
  if (t.shape != expected)
    fail(ErrorCode::ShapeMismatch, "{}: {} has shape {}, expected {}", op, name, shape_str(t.shape),
         shape_str(expected));
}

void check_arg(std::string_view op, std::string_view name, const TensorView& t,
               std::initializer_list<DType> allowed, const Shape& expected) {
  check_dtype(op, name, t, allowed);
  check_shape(op, name, t, expected);
  check_view(op, name, t);
}

std::vector<float> widen_f32(const TensorView& t) {
  size_t n = static_cast<size_t>(t.numel());
  std::vector<float> out(n);
  switch (t.dtype) {
  case DType::F32:
    if (n) std::memcpy(out.data(), t.data, n * 4); // an empty view may have no data
    break;
  case DType::BF16:
    for (size_t i = 0; i < n; ++i) out[i] = ref::bf16_to_f32(t.as<const uint16_t>()[i]);
    break;
  case DType::F16:
    for (size_t i = 0; i < n; ++i) out[i] = ref::f16_to_f32(t.as<const uint16_t>()[i]);
    break;
  default: fail(ErrorCode::DTypeMismatch, "widen_f32: {} is not a floating type", dtype_name(t.dtype));
  }
  return out;
}

void store_f32(const float* src, const TensorView& out) {
  size_t n = static_cast<size_t>(out.numel());
  switch (out.dtype) {
  case DType::F32:
    if (n) std::memcpy(out.data, src, n * 4);
    break;
  case DType::BF16:
    for (size_t i = 0; i < n; ++i) out.as<uint16_t>()[i] = ref::f32_to_bf16(src[i]);
    break;
  case DType::F16:
    for (size_t i = 0; i < n; ++i) out.as<uint16_t>()[i] = ref::f32_to_f16(src[i]);
    break;
  default: fail(ErrorCode::DTypeMismatch, "store_f32: {} is not a floating type", dtype_name(out.dtype));
  }
}

std::string index_str(const Shape& shape, int64_t flat) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  return shape_str(idx);
}

namespace {
[[noreturn]] void refuse_non_finite(std::string_view op, std::string_view name, float v, const Shape& shape,
                                    int64_t i) {
  fail(ErrorCode::NonFinite, "{}: {}{} is {} (flat index {}); the quantizers refuse NaN and inf", op, name,
       index_str(shape, i), std::isnan(v) ? "NaN" : (v > 0 ? "+inf" : "-inf"), i);
}
} // namespace

void check_finite(std::string_view op, std::string_view name, const float* x, const Shape& shape) {
  int64_t n = shape_numel(shape);
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) refuse_non_finite(op, name, x[i], shape, i);
}

void device_found_non_finite(std::string_view op, std::string_view name, float value, const Shape& shape,
                             int64_t flat) {
  if (!std::isfinite(value)) refuse_non_finite(op, name, value, shape, flat);
  throw BackendFailure(fmt::format("{}: the device reports {}[{}] non-finite, but it is {}", op, name, flat, value));
}

std::string queued_non_finite(std::string_view op, std::string_view name, const Shape& shape, int64_t flat) {
  return fmt::format("{}: {}{} is NaN or inf (flat index {}); the quantizers refuse NaN and inf. The input was in device "
                     "memory, so the call was checked here, after it returned and wrote its outputs",
                     op, name, index_str(shape, flat), flat);
}

void check_outputs_apart(std::string_view op, std::initializer_list<NamedView> outputs) {
  for (auto a = outputs.begin(); a != outputs.end(); ++a)
    for (auto b = a + 1; b != outputs.end(); ++b) {
      if (!a->view || !b->view) continue;
      const auto lo_a = reinterpret_cast<uintptr_t>(a->view->data), lo_b = reinterpret_cast<uintptr_t>(b->view->data);
      const size_t n_a = shape_bytes(a->view->dtype, a->view->shape), n_b = shape_bytes(b->view->dtype, b->view->shape);
      if (n_a > 0 && n_b > 0 && lo_a < lo_b + n_b && lo_b < lo_a + n_a)
        fail(ErrorCode::InvalidArgument, "{}: outputs {} and {} overlap; each output needs its own memory", op, a->name,
             b->name);
    }
}

std::vector<float> host_f32(std::string_view op, std::string_view name, const TensorView& t) {
  std::vector<std::byte> bytes = host_bytes(op, name, t);
  return widen_f32(TensorView{t.dtype, t.shape, bytes.data(), bytes.size()});
}

void store_bytes(std::string_view op, std::string_view name, const void* src, const TensorView& t) {
  const size_t n = shape_bytes(t.dtype, t.shape);
  if (n == 0) return;
  if (!device_memory::resident(t.data)) {
    std::memcpy(t.data, src, n);
    return;
  }
  device_memory::Allocation a = device_memory::find(op, name, t.data, n);
  device_memory::write(op, a, reinterpret_cast<uintptr_t>(t.data) - a.base, src, n);
}

std::vector<int64_t> read_seqlens(std::string_view op, std::string_view name, const TensorView& t,
                                  int64_t total) {
  check_dtype(op, name, t, {DType::I32, DType::I64});
  check_rank(op, name, t, 1);
  check_view(op, name, t);
  if (t.shape[0] < 2) fail(ErrorCode::ShapeMismatch, "{}: {} needs at least 2 entries (N + 1), has {}", op, name, t.shape[0]);
  // Read on the host, where the launch is planned (a resident one is downloaded: N + 1 integers).
  const std::vector<std::byte> bytes = host_bytes(op, name, t);
  std::vector<int64_t> cu(static_cast<size_t>(t.shape[0]));
  for (size_t i = 0; i < cu.size(); ++i) {
    if (t.dtype == DType::I32) {
      int32_t v;
      std::memcpy(&v, bytes.data() + i * sizeof v, sizeof v);
      cu[i] = v;
    } else {
      std::memcpy(&cu[i], bytes.data() + i * sizeof cu[i], sizeof cu[i]);
    }
  }
  if (cu.front() != 0) fail(ErrorCode::InvalidArgument, "{}: {}[0] is {}, expected 0", op, name, cu.front());
  for (size_t i = 1; i < cu.size(); ++i)
    if (cu[i] < cu[i - 1])
      fail(ErrorCode::InvalidArgument, "{}: {} decreases at index {} ({} after {})", op, name, i, cu[i], cu[i - 1]);
  if (cu.back() != total)
    fail(ErrorCode::InvalidArgument, "{}: {} ends at {}, expected the total length {}", op, name, cu.back(), total);
  return cu;
}

} // namespace tessera::detail
