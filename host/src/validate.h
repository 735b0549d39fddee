// Checks shared by every operation's validation, each throwing a tessera::Error that names the
// operation and the argument. Operations call these before touching any output.
#pragma once

#include <fmt/format.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "tessera/tensor.h"

namespace tessera::detail {

// Non-negative extents, data present when the tensor is not empty, buffer at least as large as
// the shape says.
void check_view(std::string_view op, std::string_view name, const TensorView& t);
void check_dtype(std::string_view op, std::string_view name, const TensorView& t,
                 std::initializer_list<DType> allowed);
void check_rank(std::string_view op, std::string_view name, const TensorView& t, size_t rank);
void check_shape(std::string_view op, std::string_view name, const TensorView& t,
                 const Shape& expected);
// All of the above for one argument: a view of one of `allowed` dtypes and exactly `expected`.
void check_arg(std::string_view op, std::string_view name, const TensorView& t,
               std::initializer_list<DType> allowed, const Shape& expected);

// a * b for an extent derived from validated ones (K = 2 * bytes per row, say), refused past
// kMaxElements as bad input naming `what`.
int64_t derived_extent(std::string_view op, std::string_view what, int64_t a, int64_t b);

inline constexpr std::initializer_list<DType> kFloatTypes = {DType::F32, DType::BF16, DType::F16};

// F32/BF16/F16 -> fp32 (exact).
std::vector<float> widen_f32(const TensorView& t);
// fp32 -> the view's F32/BF16/F16 with RN.
void store_f32(const float* src, const TensorView& out);

// Refuses NaN and +-inf, naming the first offending element by its multi-index.
void check_finite(std::string_view op, std::string_view name, const float* x, const Shape& shape);
std::string index_str(const Shape& shape, int64_t flat);

// cu_seqlens [N + 1]: I32/I64, starts at 0, non-decreasing, ends at `total`. Returns it as int64.
std::vector<int64_t> read_seqlens(std::string_view op, std::string_view name, const TensorView& t,
                                  int64_t total);

} // namespace tessera::detail
