// Strided views (TensorView::strides) as the operations take them. Every kernel and the CPU
// reference read and write packed row-major tensors, so a strided input is gathered into a packed
// copy before the call, and a strided output is computed into a packed buffer and scattered into
// the view after the call succeeded (a failed call writes nothing). Both copies run where the
// view lives: on the host for a host view; on the call's device for a resident one, as
// rectangular copies (core/backend.h, copy_rect), so a slice of a fused qkv projection feeds the
// next operation without a round trip through the host. What that costs: one device-side copy
// of the slice (bandwidth, no host traffic), where a kernel that read the strides itself would
// cost none; the fp32 operations pay it on top of their bf16 -> fp32 widening. A packed view
// costs nothing: it passes as it is.
//
// Construct inside the operation's ResidentScope and before its checks, which then see packed
// views only (check_view refuses a strided one, so an operation that forgot a view cannot read
// it wrongly).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "device_memory.h"
#include "tessera/tensor.h"

namespace tessera::detail {

class StridedViews {
public:
  explicit StridedViews(std::string_view op);
  StridedViews(const StridedViews&) = delete;
  StridedViews& operator=(const StridedViews&) = delete;

  // t when packed; else a packed copy of its elements, after checking the view (tensor.h's rules
  // for strides, its bytes, where it lives).
  TensorView in(std::string_view name, const TensorView& t);
  std::optional<TensorView> in(std::string_view name, const std::optional<TensorView>& t);
  // t when packed; else a packed buffer for the call to write, which store() scatters into t.
  TensorView out(std::string_view name, const TensorView& t);
  std::optional<TensorView> out(std::string_view name, const std::optional<TensorView>& t);
  // After the call succeeded: each strided output's elements into its view.
  void store();

private:
  struct Copy {
    std::string name;
    TensorView view; // the caller's strided view
    std::vector<std::byte> host;
    device_memory::Scratch device;
    TensorView packed; // the copy the call reads or writes
  };
  Copy& copy(std::deque<Copy>& list, std::string_view name, const TensorView& t, bool output);
  std::string op_;
  std::string backend_; // the device of the call (ResidentScope)
  int device_ = 0;
  std::deque<Copy> inputs_, outputs_; // a deque: the packed views handed out stay where they are
  // Every output's bytes from its first to past its last element, and whether it is strided:
  // the operation's own check (check_outputs_apart) sees the packed copies, not the caller's
  // views, so two outputs of which one is strided are kept apart here.
  struct Span {
    std::string name;
    uintptr_t begin, end;
    bool strided;
  };
  std::vector<Span> spans_;
  void keep_apart(std::string_view name, const TensorView& t, bool strided, size_t bytes);
};

} // namespace tessera::detail
