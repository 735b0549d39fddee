// The vulkan launch function of conv1d "direct_silu" (kernels/conv/conv1d.comp): causal
// depthwise conv1d + SiLU, one invocation per output reading its W taps, the new state written
// in the same dispatch. The args arrive validated; outputs are copied out only after the batch
// succeeded, so a failure writes nothing. Outputs and new state past 32-bit indexing together
// (the shader indexes them as one range; the registry's "elements" sees each alone) or a Vulkan
// error is a BackendFailure (the dispatcher disables the variant and falls back).
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "batch.h"
#include "launch.h"

namespace tessera::detail::vulkan {

void conv1d_direct_silu(int device_index, const core::Variant&, const Conv1dRunArgs& a) {
  set_last_device_ms(0.0); // also when this run fails
  Device& d = device(device_index);
  const int64_t keep = a.W - 1;
  const int64_t outputs = a.B * a.T * a.C, states = a.B * a.C * keep;
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  if (outputs + states > kMax || a.C * a.W > kMax)
    backend_failure("conv1d direct_silu indexes with 32-bit integers; the tensors exceed 2^31 - 1 "
                    "elements");
  if (outputs + states == 0) return;
  struct {
    uint32_t B, T, C, W, flags;
  } push{static_cast<uint32_t>(a.B), static_cast<uint32_t>(a.T), static_cast<uint32_t>(a.C),
         static_cast<uint32_t>(a.W), (a.bias ? 1u : 0u) | (a.state ? 2u : 0u)};
  auto words = [](int64_t n) { return static_cast<size_t>(std::max<int64_t>(1, n)) * 4; };

  std::lock_guard lock(d.mutex);
  uint32_t wg = workgroup_size(d, 256);
  const Kernel& k = kernel(d, "conv/conv1d.spv", 6, sizeof push, wg);
  Buffer x(d, words(outputs)), w(d, words(a.C * a.W)), bias(d, words(a.bias ? a.C : 0));
  Buffer state(d, words(a.state ? states : 0)), y(d, words(outputs)), so(d, words(states));
  Batch b(d, "conv1d");
  b.upload(x, 0, a.x, static_cast<size_t>(outputs) * 4);
  b.upload(w, 0, a.w, static_cast<size_t>(a.C * a.W) * 4);
  if (a.bias) b.upload(bias, 0, a.bias, static_cast<size_t>(a.C) * 4);
  if (a.state) b.upload(state, 0, a.state, static_cast<size_t>(states) * 4);
  b.dispatch(k, {&x, &w, &bias, &state, &y, &so}, &push,
             group_count(d, static_cast<uint64_t>(outputs + states), wg));
  b.finish();
  if (outputs) from_buffer(y, 0, a.y, static_cast<size_t>(outputs) * 4);
  if (states) from_buffer(so, 0, a.state_out, static_cast<size_t>(states) * 4);
}

} // namespace tessera::detail::vulkan
