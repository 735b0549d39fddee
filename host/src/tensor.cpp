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

bool TensorView::packed() const {
  if (strides.empty()) return true;
  if (strides.size() != shape.size()) return false;
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 0) return true; // an empty view has no element out of place
    if (shape[i] != 1 && strides[i] != expected) return false;
    auto next = checked_mul(expected, shape[i]); // a negative or huge extent: not a packed view
    if (!next) return false;
    expected = *next;
  }
  return true;
}

std::optional<int64_t> checked_mul(int64_t a, int64_t b) {
  int64_t p = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &p) || p > kMaxElements) return std::nullopt;
  return p;
}

std::optional<int64_t> checked_numel(const Shape& s) {
  // The product of the non-zero extents is bounded too, so an empty tensor cannot carry extents
  // whose product (a loop bound, an index) would wrap: [2^40, 0, 2^40] is refused like [2^40, 2^40].
  int64_t nonzero = 1;
  bool empty = false;
  for (int64_t d : s) {
    if (d < 0) return std::nullopt;
    if (d == 0) {
      empty = true;
      continue;
    }
    auto p = checked_mul(nonzero, d);
    if (!p) return std::nullopt;
    nonzero = *p;
  }
  return empty ? 0 : nonzero;
}

std::optional<size_t> checked_bytes(DType dtype, const Shape& s) {
  auto n = checked_numel(s);
  if (!n) return std::nullopt;
  auto b = checked_mul(*n, static_cast<int64_t>(dtype_size(dtype)));
  if (!b) return std::nullopt;
  return static_cast<size_t>(*b);
}

namespace {
[[noreturn]] void fail_shape(const Shape& s) {
  for (int64_t d : s)
    if (d < 0) throw Error(ErrorCode::ShapeMismatch, "negative extent in shape " + shape_str(s));
  throw Error(ErrorCode::ShapeMismatch, "shape " + shape_str(s) + " describes more than 2^62 elements or bytes");
}
} // namespace

int64_t shape_numel(const Shape& s) {
  if (auto n = checked_numel(s)) return *n;
  fail_shape(s);
}

size_t shape_bytes(DType dtype, const Shape& s) {
  if (auto b = checked_bytes(dtype, s)) return *b;
  fail_shape(s);
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
  storage_.resize(shape_bytes(dtype, shape_));
}

TensorView Tensor::view() const {
  return TensorView{dtype_, shape_, const_cast<std::byte*>(storage_.data()), storage_.size()};
}

} // namespace tessera
