// Tensors at the API boundary: a non-owning view (what an engine passes) and an owning tensor
// (what tools and tests build). Shapes are row-major, innermost dimension last.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tessera/dtype.h"

namespace tessera {

using Shape = std::vector<int64_t>;

// The most elements, and the most bytes, one tensor may describe. Any shape past it is bad input,
// so no product of validated extents (nor a byte count, nor a sum of two) can wrap a 64-bit
// integer anywhere in the library. Far beyond any device's memory, so it refuses nothing real.
inline constexpr int64_t kMaxElements = int64_t{1} << 62;
// The most dimensions a tensor may have (the C API's TESSERA_MAX_DIMS is this number).
inline constexpr size_t kMaxRank = 8;

// Elements of `s`, or nullopt when an extent is negative or the product passes kMaxElements.
// An empty tensor (a zero extent) has 0 elements whatever its other extents: callers that
// multiply extents of different tensors rely on every tensor involved passing this check.
std::optional<int64_t> checked_numel(const Shape& s);
// Bytes of a `dtype` tensor of shape `s`, or nullopt as above (bytes past kMaxElements too).
std::optional<size_t> checked_bytes(DType dtype, const Shape& s);
// a * b for non-negative extents, or nullopt past kMaxElements (a derived extent, e.g. K = 2 * ...).
std::optional<int64_t> checked_mul(int64_t a, int64_t b);
// The throwing forms: Error(ShapeMismatch) naming the shape when checked_* gives nullopt.
int64_t shape_numel(const Shape& s);
size_t shape_bytes(DType dtype, const Shape& s);
std::string shape_str(const Shape& s); // "[4, 64]"

// A view of memory the caller owns. `bytes` is the size of the buffer behind `data`, so that a
// buffer shorter than the shape claims is an error instead of an out-of-bounds access.
//
// `strides` (in elements, one per dimension) describe a view whose elements are not packed
// back to back: a slice of a larger tensor, such as q, k or v inside a fused qkv projection
// ([T, (Hq + 2 Hkv) D] seen as q [T, Hq, D] with strides {(Hq + 2 Hkv) D, D, 1}), the layout
// DLPack and torch describe. Empty means row-major and packed. The operations take strided
// inputs and outputs in row-major order with packed rows: the innermost dimension of stride 1,
// each other stride at least the span of the dimensions inside it (a slice of a row-major
// tensor is always such a view); transposed, broadcast (stride 0) and overlapping views are
// refused. `bytes` must then cover the view's span, from data to its last element.
struct TensorView {
  DType dtype = DType::F32;
  Shape shape;
  void* data = nullptr;
  size_t bytes = 0;
  std::vector<int64_t> strides; // elements; empty: packed row-major

  TensorView() = default;
  TensorView(DType type, Shape extents, void* address, size_t size, std::vector<int64_t> steps = {})
      : dtype(type), shape(std::move(extents)), data(address), bytes(size), strides(std::move(steps)) {}

  int64_t numel() const { return shape_numel(shape); }
  size_t nbytes() const { return shape_bytes(dtype, shape); }
  template <class T> T* as() const { return static_cast<T*>(data); }
  // Whether the elements are packed row-major: no strides, or the strides of packed row-major
  // (a dimension of extent 1 may have any stride).
  bool packed() const;
};

// A tensor that owns its bytes (zero-initialised).
class Tensor {
public:
  Tensor() = default;
  Tensor(DType dtype, Shape shape);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return storage_.size(); }
  std::byte* data() { return storage_.data(); }
  const std::byte* data() const { return storage_.data(); }
  template <class T> T* as() { return reinterpret_cast<T*>(storage_.data()); }
  template <class T> const T* as() const { return reinterpret_cast<const T*>(storage_.data()); }

  // Views share this tensor's bytes; the tensor must outlive them.
  TensorView view() const;

private:
  DType dtype_ = DType::F32;
  Shape shape_;
  std::vector<std::byte> storage_;
};

// Tensors by name, as a safetensors file holds them.
using TensorMap = std::map<std::string, Tensor, std::less<>>;

} // namespace tessera
