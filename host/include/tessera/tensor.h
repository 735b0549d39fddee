// Tensors at the API boundary: a non-owning view (what an engine passes) and an owning tensor
// (what tools and tests build). Shapes are row-major, innermost dimension last.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tessera/dtype.h"

namespace tessera {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s); // "[4, 64]"

// A view of memory the caller owns. `bytes` is the size of the buffer behind `data`, so that a
// buffer shorter than the shape claims is an error instead of an out-of-bounds access.
struct TensorView {
  DType dtype = DType::F32;
  Shape shape;
  void* data = nullptr;
  size_t bytes = 0;

  int64_t numel() const { return shape_numel(shape); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  template <class T> T* as() const { return static_cast<T*>(data); }
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
