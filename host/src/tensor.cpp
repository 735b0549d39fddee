#include "tessera/tensor.h"

#include <array>
#include <utility>

#include "tessera/error.h"

namespace tessera {

namespace {
struct DTypeInfo {
  DType type;
  std::string_view name;
  size_t size;
};
constexpr std::array<DTypeInfo, 8> kDTypes{{
    {DType::F32, "F32", 4},
    {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},
    {DType::U8, "U8", 1},
    {DType::I32, "I32", 4},
    {DType::I64, "I64", 8},
    {DType::F8_E4M3, "F8_E4M3", 1},
    {DType::F8_E5M2, "F8_E5M2", 1},
}};
} // namespace

size_t dtype_size(DType t) { return kDTypes[static_cast<size_t>(t)].size; }
std::string_view dtype_name(DType t) { return kDTypes[static_cast<size_t>(t)].name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& d : kDTypes)
    if (d.name == name) return d.type;
  return std::nullopt;
}

const char* error_code_name(ErrorCode c) {
  switch (c) {
  case ErrorCode::InvalidArgument: return "invalid argument";
  case ErrorCode::ShapeMismatch: return "shape mismatch";
  case ErrorCode::DTypeMismatch: return "dtype mismatch";
  case ErrorCode::NonFinite: return "non-finite input";
  case ErrorCode::NullBuffer: return "null buffer";
  case ErrorCode::ShortBuffer: return "short buffer";
  case ErrorCode::MissingTensor: return "missing tensor";
  case ErrorCode::MalformedFile: return "malformed file";
  case ErrorCode::Io: return "i/o error";
  case ErrorCode::Unsupported: return "unsupported";
  }
  return "error";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  for (int64_t d : shape_)
    if (d < 0) throw Error(ErrorCode::ShapeMismatch, "negative extent in shape " + shape_str(shape_));
  storage_.resize(static_cast<size_t>(shape_numel(shape_)) * dtype_size(dtype));
}

TensorView Tensor::view() const {
  return TensorView{dtype_, shape_, const_cast<std::byte*>(storage_.data()), storage_.size()};
}

} // namespace tessera
