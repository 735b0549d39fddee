// The opencl launch function of conv1d's variant "direct_silu" (kernels/conv/conv1d.cl): causal
// depthwise conv1d + SiLU, one work-item per output reading its W taps, the new state written by
// the same launch. The args arrive validated; outputs are read back only after the launch
// succeeded, so a failure leaves them untouched. Outputs and states together past 32-bit
// indexing (one index range, which the registry's per-tensor limit does not cover) and CL errors
// are a BackendFailure (the dispatcher disables the variant and falls back).
#include <fmt/format.h>

#include <limits>

#include "launch.h"
#include "runtime.h"

namespace tessera::detail::opencl {

namespace {
size_t bytes(int64_t n) { return static_cast<size_t>(n) * sizeof(float); }
} // namespace

void conv1d_direct_silu(int device, const core::Variant& v, const Conv1dRunArgs& a) {
  set_last_device_ms(0.0);
  const int64_t keep = a.W - 1;
  const int64_t outputs = a.B * a.T * a.C, states = a.B * a.C * keep;
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  if (outputs + states > kMax || a.C * a.W > kMax)
    throw BackendFailure("opencl: conv1d direct_silu indexes tensors with 32-bit integers; the "
                         "tensors exceed 2^31 - 1 elements");
  if (outputs + states == 0) return;
  Session s(device, v.op);
  cl_kernel k = s.kernel(v.manifest.source, "conv1d_direct_silu");
  Mem x = s.upload_any(a.x, bytes(outputs), "x");
  Mem w = s.upload_any(a.w, bytes(a.C * a.W), "w");
  Mem bias = s.upload_any(a.bias, a.bias ? bytes(a.C) : 0, "bias");
  Mem state = s.upload_any(a.state, a.state ? bytes(states) : 0, "state");
  Mem y = s.alloc(outputs ? bytes(outputs) : 4, "y");
  Mem so = s.alloc(states ? bytes(states) : 4, "state_out");
  s.launch(k, "conv1d_direct_silu", s.groups_for(static_cast<uint64_t>(outputs + states)), x, w,
           bias, static_cast<cl_int>(a.bias != nullptr), state,
           static_cast<cl_int>(a.state != nullptr), static_cast<cl_int>(a.B),
           static_cast<cl_int>(a.T), static_cast<cl_int>(a.C), static_cast<cl_int>(a.W), y, so);
  s.finish();
  if (outputs) s.read(y, a.y, bytes(outputs), "y");
  if (states) s.read(so, a.state_out, bytes(states), "state_out");
}

} // namespace tessera::detail::opencl
