// Checks shared by every operation's validation, each throwing a tessera::Error that names the
// operation and the argument. Operations call these before touching any output.
#pragma once

#include <fmt/format.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "tessera/ops.h"
#include "tessera/tensor.h"

namespace tessera::detail {

// Non-negative extents, data present when the tensor is not empty, buffer at least as large as
// the shape says. A resident view (data in a device buffer, host/src/device_memory.h) is refused
// unless a ResidentScope is open, and then must lie inside a live buffer of the call's device.
void check_view(std::string_view op, std::string_view name, const TensorView& t);

// Opened by an operation that can take resident views: one that passes its tensors to the
// device as they are (the GEMMs), or widens and narrows them there (fp32_operands.h). Within
// it, check_view accepts resident views of the device `options` names, and execute() refuses
// to fall back to the CPU reference for a call that has one (the reference cannot read device
// memory). Operations that still read their inputs on the host open none, so a resident view is
// an Error(Unsupported) there, not a fault.
class ResidentScope {
public:
  explicit ResidentScope(const RunOptions& options);
  ~ResidentScope();
  ResidentScope(const ResidentScope&) = delete;
  ResidentScope& operator=(const ResidentScope&) = delete;
};
// Whether this thread's current call has a resident view (execute() reads it), and whether it
// opened a ResidentScope (which reset the call's traffic before validation, so that execute()
// keeps what validation downloaded).
bool call_has_resident_views();
bool in_resident_scope();
// The device the open ResidentScope's call runs on: its backend ("cpu", "opencl", "vulkan") and
// index.
const std::string& resident_backend();
int resident_device();
// A host copy of view t (resident or not), for a check that reads values on the host; a
// resident view's bytes are downloaded (counted in the call's traffic).
std::vector<std::byte> host_bytes(std::string_view op, std::string_view name, const TensorView& t);
void check_dtype(std::string_view op, std::string_view name, const TensorView& t,
                 std::initializer_list<DType> allowed);
void check_rank(std::string_view op, std::string_view name, const TensorView& t, size_t rank);
void check_shape(std::string_view op, std::string_view name, const TensorView& t,
                 const Shape& expected);
// All of the above for one argument: a view of one of `allowed` dtypes and exactly `expected`.
void check_arg(std::string_view op, std::string_view name, const TensorView& t,
               std::initializer_list<DType> allowed, const Shape& expected);

// The outputs of one call, by name: refused (InvalidArgument naming both) when two of them
// share a byte, since which result would land there is not defined. (An output over an input
// is another matter: docs/architecture.md, "Aliasing", says where it is allowed.) Checked views
// only.
struct NamedView {
  std::string_view name;
  const TensorView* view; // null: the output is absent
};
void check_outputs_apart(std::string_view op, std::initializer_list<NamedView> outputs);

// a * b for an extent derived from validated ones (K = 2 * bytes per row, say), refused past
// kMaxElements as bad input naming `what`.
int64_t derived_extent(std::string_view op, std::string_view what, int64_t a, int64_t b);

inline constexpr std::initializer_list<DType> kFloatTypes = {DType::F32, DType::BF16, DType::F16};

// F32/BF16/F16 -> fp32 (exact).
std::vector<float> widen_f32(const TensorView& t);
// The same for a view that may be resident (its bytes downloaded, counted in the call's traffic),
// for a value the host computes with.
std::vector<float> host_f32(std::string_view op, std::string_view name, const TensorView& t);
// fp32 -> the view's F32/BF16/F16 with RN.
void store_f32(const float* src, const TensorView& out);

// Refuses NaN and +-inf, naming the first offending element by its multi-index.
void check_finite(std::string_view op, std::string_view name, const float* x, const Shape& shape);
// A device's scan found element `flat` of fp32 operand `name` non-finite, and `value` is what the
// launcher read back there: the error check_finite gives for it, word for word. A finite value
// means a broken device: BackendFailure. (The launcher reads the value itself, through the
// buffer it launched with, since it holds the device.)
[[noreturn]] void device_found_non_finite(std::string_view op, std::string_view name, float value,
                                          const Shape& shape, int64_t flat);
// The message of a non-finite element `flat` of fp32 operand `name` found by a device's scan of a
// resident input that the call did not wait for (the backends' sync(): the call returned and
// wrote its outputs), for Error(NonFinite).
std::string queued_non_finite(std::string_view op, std::string_view name, const Shape& shape, int64_t flat);
// Writes bytes of the view's size from the host into view t, resident or not (a device write).
void store_bytes(std::string_view op, std::string_view name, const void* src, const TensorView& t);
std::string index_str(const Shape& shape, int64_t flat);

// cu_seqlens [N + 1]: I32/I64, starts at 0, non-decreasing, ends at `total`. Returns it as int64.
std::vector<int64_t> read_seqlens(std::string_view op, std::string_view name, const TensorView& t,
                                  int64_t total);

} // namespace tessera::detail
