#include "fp32_operands.h"

#include "core/backend.h"
#include "core/error.h"
#include "validate.h"

namespace tessera::detail {

namespace {
// n elements from src to dst on the call's device (both resident), as backend::cast.
void device_cast(std::string_view op, std::string_view name, const void* src, DType from, void* dst, DType to,
                 int64_t n) {
  const std::string& backend = resident_backend();
  try {
    if (backend == "opencl") opencl::cast(resident_device(), src, from, dst, to, n);
    else if (backend == "vulkan") vulkan::cast(resident_device(), src, from, dst, to, n);
    else fail(ErrorCode::Unsupported, "{}: {} is resident, and {} has no device memory", op, name, backend);
  } catch (const BackendFailure& f) {
    fail(ErrorCode::Unsupported, "{}: converting {} between {} and {} on {}:{}: {}", op, name, dtype_name(from),
         dtype_name(to), backend, resident_device(), f.what());
  }
}

size_t f32_bytes(const TensorView& t) { return static_cast<size_t>(t.numel()) * sizeof(float); }
} // namespace

F32Input::F32Input(std::string_view op, std::string_view name, const std::optional<TensorView>& t) {
  if (!t) return;
  if (!device_memory::resident(t->data)) {
    host_ = widen_f32(*t);
    data_ = host_.data();
  } else if (t->dtype == DType::F32) {
    data_ = t->as<const float>();
  } else {
    scratch_ = device_memory::Scratch(op, resident_backend(), resident_device(), f32_bytes(*t));
    device_cast(op, name, t->data, t->dtype, scratch_.data(), DType::F32, t->numel());
    data_ = static_cast<const float*>(scratch_.data());
  }
}

F32Output::F32Output(std::string_view op, std::string_view name, const std::optional<TensorView>& t)
    : op_(op), name_(name), view_(t) {
  if (!t) return;
  if (!device_memory::resident(t->data)) {
    host_.resize(static_cast<size_t>(t->numel()));
    data_ = host_.data();
  } else if (t->dtype == DType::F32) {
    data_ = t->as<float>();
  } else {
    scratch_ = device_memory::Scratch(op, resident_backend(), resident_device(), f32_bytes(*t));
    data_ = static_cast<float*>(scratch_.data());
  }
}

void F32Output::store() {
  if (!view_) return;
  if (!device_memory::resident(view_->data)) store_f32(host_.data(), *view_);
  else if (view_->dtype != DType::F32)
    device_cast(op_, name_, scratch_.data(), DType::F32, view_->data, view_->dtype, view_->numel());
}

void note_traffic(RunInfo* info) {
  if (info) info->traffic = thread_traffic();
}

} // namespace tessera::detail
