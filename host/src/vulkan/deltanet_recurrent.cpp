// The vulkan launch function of the "recurrent" Gated DeltaNet variant
// (kernels/deltanet/recurrent.comp): one workgroup per (sequence, value head, slice of 32 state
// columns), DK_MAX = the manifest's max_dk rows of it per column (a specialization constant; the
// registry refuses larger key heads), the state in registers for a window of
// at most deltanet_window_tokens() tokens a dispatch (deltanet.h says why: lavapipe cuts longer
// loops), carried through ht from window to window; one task a workgroup a dispatch, so tasks
// past the device's group count take more dispatches. The args arrive validated and widened. q
// and k share one buffer, as do g, beta and the token offsets, and o, ht and the status word
// (five bindings: within every device's limits). Outputs are copied out only after the batch
// succeeded, so a failure writes nothing; a device that cannot run 256 invocations, shared
// buffers past 32-bit indexing (q with k, o with ht: the registry's "elements" sees each tensor
// alone), a shader whose loops the driver cut short (the status word) or any Vulkan error is a
// BackendFailure (the dispatcher disables the variant and falls back).
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "batch.h"
#include "host/src/device_memory.h"
#include "host/src/vulkan/deltanet.h"
#include "kernels/deltanet/geometry.h"
#include "launch.h"

namespace tessera::detail::vulkan {

namespace {

struct Push {
  uint32_t n_seqs, H, HV, Dk, Dv;
  float scale;
  uint32_t flags;
  uint32_t k_off, beta_off, cu_off, ht_off;
  uint32_t t_first, t_count, task_base, task_end, status_off, two;
};

void put(Batch& batch, Buffer& b, size_t at_floats, const void* src, int64_t n) {
  if (n > 0) batch.upload(b, at_floats * sizeof(float), src, static_cast<size_t>(n) * 4);
}
} // namespace

void deltanet_recurrent(int device_index, const core::Variant& v, const DeltaNetRunArgs& a) {
  set_last_device_ms(0.0); // also when this run fails
  const ref::DeltaNetDims& d = a.d;
  Device& dev = device(device_index);
  const int64_t tokens = d.B * d.T;
  const int64_t qk = tokens * d.H * d.Dk, vn = tokens * d.HV * d.Dv, gn = tokens * d.HV;
  const int64_t state = a.n_seqs * d.HV * d.Dk * d.Dv;
  const int64_t tasks = a.n_seqs * d.HV * ((d.Dv + DN_STATE_COLS - 1) / DN_STATE_COLS);
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  if (2 * qk > kMax || vn + state + 1 > kMax || 2 * gn + a.n_seqs + 1 > kMax || tasks > kMax)
    backend_failure("deltanet recurrent indexes with 32-bit integers; the tensors exceed 2^31 - 1 "
                    "elements");
  if (a.n_seqs == 0) return;

  std::vector<uint32_t> cu(static_cast<size_t>(a.n_seqs) + 1);
  int64_t longest = 0;
  for (int64_t n = 0; n <= a.n_seqs; ++n) {
    cu[n] = static_cast<uint32_t>(a.cu_seqlens ? a.cu_seqlens[n] : n * d.T);
    if (n > 0) longest = std::max<int64_t>(longest, int64_t{cu[n]} - int64_t{cu[n - 1]});
  }
  // Windows of at most `window` tokens (one at least, which writes ht of empty sequences too).
  const int64_t window = std::min(deltanet_window_tokens(), std::max<int64_t>(1, longest));
  const int64_t windows = std::max<int64_t>(1, (longest + window - 1) / window);

  Push push{static_cast<uint32_t>(a.n_seqs),
            static_cast<uint32_t>(d.H),
            static_cast<uint32_t>(d.HV),
            static_cast<uint32_t>(d.Dk),
            static_cast<uint32_t>(d.Dv),
            a.scale,
            (a.h0 ? 1u : 0u) | (a.l2norm ? 2u : 0u),
            static_cast<uint32_t>(qk),
            static_cast<uint32_t>(gn),
            static_cast<uint32_t>(2 * gn),
            static_cast<uint32_t>(vn),
            0,
            static_cast<uint32_t>(window),
            0,
            0,
            static_cast<uint32_t>(vn + state),
            2};

  std::lock_guard lock(dev.mutex);
  const auto want = static_cast<uint32_t>(v.manifest.limits.workgroup); // WG of recurrent.comp
  uint32_t wg = workgroup_size(dev, want);
  if (wg != want)
    backend_failure(fmt::format("deltanet recurrent: the shader needs {} invocations a workgroup; "
                                "the device takes {}",
                                want, wg));
  // Specialization constant 1: DK_MAX, the state rows a column keeps in registers.
  const Kernel& k = kernel(dev, "deltanet/recurrent.spv", 5, sizeof push, wg,
                           {static_cast<uint32_t>(v.manifest.limits.max_dk)});
  // Buffer rounds sizes up and checks the device's limits; empty parts still get a word.
  Buffer qkb(dev, static_cast<size_t>(std::max<int64_t>(1, 2 * qk)) * 4);
  Buffer vb(dev, static_cast<size_t>(std::max<int64_t>(1, vn)) * 4);
  Buffer gates(dev, static_cast<size_t>(2 * gn + a.n_seqs + 1) * 4);
  Buffer h0(dev, a.h0 ? static_cast<size_t>(state) * 4 : 4);
  Buffer out(dev, static_cast<size_t>(vn + state + 1) * 4); // o, ht, the status word
  Batch batch(dev, "deltanet");
  put(batch, qkb, 0, a.q, qk);
  put(batch, qkb, static_cast<size_t>(qk), a.k, qk);
  put(batch, vb, 0, a.v, vn);
  put(batch, gates, 0, a.g, gn);
  put(batch, gates, static_cast<size_t>(gn), a.beta, gn);
  put(batch, gates, static_cast<size_t>(2 * gn), cu.data(), a.n_seqs + 1);
  if (a.h0) put(batch, h0, 0, a.h0, state);
  batch.fill(out, static_cast<VkDeviceSize>(vn + state) * 4, 4, 0); // the status word
  dispatch_windows(batch, k, {&qkb, &vb, &gates, &h0, &out}, &push, windows, tasks,
                   [&](int64_t w, uint32_t base, uint32_t end) {
                     push.t_first = static_cast<uint32_t>(w * window);
                     push.flags = (push.flags & ~4u) | (w > 0 ? 4u : 0u); // state from ht
                     push.task_base = base;
                     push.task_end = end;
                   });
  batch.finish();
  const std::string cut = fmt::format("deltanet recurrent: the driver cut the shader's loops short (a window of {} "
                                      "tokens a dispatch; llvmpipe stops an invocation's loops after 65535 "
                                      "iterations in all)",
                                      window);
  const VkDeviceSize status_at = static_cast<VkDeviceSize>(vn + state) * 4;
  if ((vn == 0 || device_memory::resident(a.o)) && device_memory::resident(a.ht)) {
    batch.status_at_sync(out, status_at, cut + "; the outputs it wrote are wrong"); // no wait (batch.h)
  } else {
    uint32_t status = 0;
    from_buffer(out, status_at, &status, 4);
    if (status != 0) backend_failure(cut + "; the outputs are not used");
  }
  if (vn) from_buffer(out, 0, a.o, static_cast<size_t>(vn) * 4);
  from_buffer(out, vn * sizeof(float), a.ht, static_cast<size_t>(state) * 4);
}

} // namespace tessera::detail::vulkan
