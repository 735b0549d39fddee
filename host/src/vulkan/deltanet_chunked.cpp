// The vulkan launch function of the "chunked" Gated DeltaNet variant (numerics.md section 5),
// kernels/deltanet/chunked.comp built once per pass, the scan specialized for the manifest's
// max_dk state rows (MAX_DK): normalize q and k, the per-chunk WY / UT transform of every
// chunk of every (sequence, value head) in parallel, then the sequential chunk-to-chunk scan per
// (sequence, value head, 32 state columns); kernels/deltanet/chunked.cl explains the math. The
// scan advances every sequence by at most deltanet_window_tokens() tokens (whole chunks) a
// dispatch, the state carried through ht (deltanet.h says why: lavapipe cuts longer loops); the
// WY and scan passes give a workgroup one unit a dispatch, so units past the device's group
// count take more dispatches. The args arrive validated and widened. Buffers are packed (see the
// shader's header) so that no pass binds more than five. Outputs are copied out only after the
// batch succeeded, so a failure writes nothing. The registry has refused heads past the
// manifest's max_dk / max_dv and the per-chunk scratch past 32-bit indexing; the shared buffers
// the registry does not see (q with k, o with ht, the gates with the chunk table) past 32-bit
// indexing, a pass whose loops the driver cut short (its status word) or any Vulkan error is a
// BackendFailure.
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
constexpr uint32_t kWorkgroup = 256; // WG of chunked.comp (any size the device takes works)
constexpr int64_t kChunk = DN_CHUNK; // int64_t, for std::min with token counts

struct Push {
  uint32_t rows, H, HV, Dk, Dv, n_chunks, n_seqs, flags;
  float scale;
  uint32_t k_off, beta_off, chunk_off, seq_off, w_off, ut_off, p_off, ht_off;
  uint32_t c_first, c_count, unit_base, unit_end, status_off, two;
};

void put(Batch& batch, Buffer& b, size_t at_words, const void* src, int64_t n) {
  if (n > 0) batch.upload(b, at_words * sizeof(float), src, static_cast<size_t>(n) * 4);
}
size_t words(int64_t n) { return static_cast<size_t>(std::max<int64_t>(1, n)) * 4; }
} // namespace

void deltanet_chunked(int device_index, const core::Variant& v, const DeltaNetRunArgs& a) {
  set_last_device_ms(0.0); // also when this run fails
  const ref::DeltaNetDims& d = a.d;
  Device& dev = device(device_index);
  const int64_t tokens = d.B * d.T;

  // The chunk table: chunks never cross a sequence boundary; a sequence's chunks are consecutive.
  std::vector<int32_t> table, seq_chunks{0};
  int64_t most_chunks = 0; // of one sequence
  for (int64_t n = 0; n < a.n_seqs; ++n) {
    int64_t begin = a.cu_seqlens ? a.cu_seqlens[n] : n * d.T;
    int64_t end = a.cu_seqlens ? a.cu_seqlens[n + 1] : (n + 1) * d.T;
    for (int64_t t = begin; t < end; t += kChunk) {
      table.push_back(static_cast<int32_t>(t));
      table.push_back(static_cast<int32_t>(std::min(kChunk, end - t)));
    }
    seq_chunks.push_back(static_cast<int32_t>(table.size() / 2));
    most_chunks = std::max<int64_t>(most_chunks, seq_chunks[n + 1] - seq_chunks[n]);
  }
  // Scan windows of at most `window` chunks (one at least, which writes ht of empty sequences).
  const int64_t window = std::clamp<int64_t>(deltanet_window_tokens() / kChunk, 1,
                                             std::max<int64_t>(1, most_chunks));
  const int64_t windows = std::max<int64_t>(1, (most_chunks + window - 1) / window);
  const int64_t n_chunks = static_cast<int64_t>(table.size() / 2);
  const int64_t units = n_chunks * d.HV;
  const int64_t qk = tokens * d.H * d.Dk, vn = tokens * d.HV * d.Dv, gn = tokens * d.HV;
  const int64_t state = a.n_seqs * d.HV * d.Dk * d.Dv;
  const int64_t gates_n = 2 * gn + 2 * n_chunks + a.n_seqs + 1;
  const int64_t w_off = units * 2 * kChunk, ut_off = w_off + units * kChunk * d.Dk; // E first
  const int64_t p_off = ut_off + units * kChunk * d.Dv, scratch_n = p_off + units * kChunk * kChunk;
  const int64_t slices = (d.Dv + DN_DV_SLICE - 1) / DN_DV_SLICE, scan_units = a.n_seqs * d.HV * slices;
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  if (2 * qk > kMax || vn + state + 1 > kMax || gates_n > kMax || scratch_n + 1 > kMax ||
      scan_units > kMax)
    backend_failure("deltanet chunked indexes with 32-bit integers; the tensors exceed 2^31 - 1 "
                    "elements");
  if (a.n_seqs == 0) return;

  Push push{static_cast<uint32_t>(tokens * d.H),
            static_cast<uint32_t>(d.H),
            static_cast<uint32_t>(d.HV),
            static_cast<uint32_t>(d.Dk),
            static_cast<uint32_t>(d.Dv),
            static_cast<uint32_t>(n_chunks),
            static_cast<uint32_t>(a.n_seqs),
            (a.l2norm ? 1u : 0u) | (a.h0 ? 2u : 0u),
            a.scale,
            static_cast<uint32_t>(qk),
            static_cast<uint32_t>(gn),
            static_cast<uint32_t>(2 * gn),
            static_cast<uint32_t>(2 * gn + 2 * n_chunks),
            static_cast<uint32_t>(w_off),
            static_cast<uint32_t>(ut_off),
            static_cast<uint32_t>(p_off),
            static_cast<uint32_t>(vn),
            0,
            static_cast<uint32_t>(window),
            0,
            0,
            0,
            2};

  std::lock_guard lock(dev.mutex);
  const uint32_t wg = workgroup_size(dev, kWorkgroup);
  const Kernel& k_norm = kernel(dev, "deltanet/chunked.normalize.spv", 2, sizeof push, wg);
  const Kernel& k_wy = kernel(dev, "deltanet/chunked.wy.spv", 4, sizeof push, wg);
  // Specialization constant 1 of the scan: MAX_DK, the state rows it keeps in shared memory.
  const Kernel& k_scan = kernel(dev, "deltanet/chunked.scan.spv", 5, sizeof push, wg,
                                {static_cast<uint32_t>(v.manifest.limits.max_dk)});
  // Buffer rounds sizes up and checks the device's limits; empty parts still get a word.
  Buffer qk_in(dev, words(2 * qk)), qk_norm(dev, words(2 * qk)), vb(dev, words(vn));
  Buffer gates(dev, words(gates_n)), scratch(dev, words(scratch_n + 1)); // + its status word
  Buffer h0(dev, a.h0 ? words(state) : 4), out(dev, words(vn + state + 1)); // o, ht, status
  Batch batch(dev, "deltanet");
  put(batch, qk_in, 0, a.q, qk);
  put(batch, qk_in, static_cast<size_t>(qk), a.k, qk);
  put(batch, vb, 0, a.v, vn);
  put(batch, gates, 0, a.g, gn);
  put(batch, gates, static_cast<size_t>(gn), a.beta, gn);
  put(batch, gates, static_cast<size_t>(2 * gn), table.data(), 2 * n_chunks);
  put(batch, gates, static_cast<size_t>(2 * gn + 2 * n_chunks), seq_chunks.data(), a.n_seqs + 1);
  if (a.h0) put(batch, h0, 0, a.h0, state);
  batch.fill(scratch, static_cast<VkDeviceSize>(scratch_n) * 4, 4, 0); // the status words
  batch.fill(out, static_cast<VkDeviceSize>(vn + state) * 4, 4, 0);
  if (qk > 0)
    batch.dispatch(k_norm, {&qk_in, &qk_norm}, &push,
                   group_count(dev, static_cast<uint64_t>(tokens * d.H), wg));
  // WY: every chunk at once, one unit a workgroup; then the scan, window after window.
  push.status_off = static_cast<uint32_t>(scratch_n);
  dispatch_windows(batch, k_wy, {&qk_norm, &vb, &gates, &scratch}, &push, 1, units,
                   [&](int64_t, uint32_t base, uint32_t end) {
                     push.unit_base = base;
                     push.unit_end = end;
                   });
  push.status_off = static_cast<uint32_t>(vn + state);
  dispatch_windows(batch, k_scan, {&qk_norm, &gates, &scratch, &h0, &out}, &push, windows,
                   scan_units, [&](int64_t w, uint32_t base, uint32_t end) {
                     push.c_first = static_cast<uint32_t>(w * window);
                     push.flags = (push.flags & ~4u) | (w > 0 ? 4u : 0u); // S from ht
                     push.unit_base = base;
                     push.unit_end = end;
                   });
  batch.finish();
  auto cut = [&](const char* pass) {
    return fmt::format("deltanet chunked: the driver cut the {} pass's loops short (a window of {} chunks a "
                       "dispatch; llvmpipe stops an invocation's loops after 65535 iterations in all)",
                       pass, window);
  };
  const VkDeviceSize wy_at = static_cast<VkDeviceSize>(scratch_n) * 4, scan_at = static_cast<VkDeviceSize>(vn + state) * 4;
  if ((vn == 0 || device_memory::resident(a.o)) && device_memory::resident(a.ht)) { // no wait (batch.h)
    batch.status_at_sync(scratch, wy_at, cut("WY") + "; the outputs it wrote are wrong");
    batch.status_at_sync(out, scan_at, cut("scan") + "; the outputs it wrote are wrong");
  } else {
    uint32_t wy_status = 0, scan_status = 0;
    from_buffer(scratch, wy_at, &wy_status, 4);
    from_buffer(out, scan_at, &scan_status, 4);
    if (wy_status != 0 || scan_status != 0) backend_failure(cut(wy_status != 0 ? "WY" : "scan") + "; the outputs are not used");
  }
  if (vn) from_buffer(out, 0, a.o, static_cast<size_t>(vn) * 4);
  from_buffer(out, vn * sizeof(float), a.ht, static_cast<size_t>(state) * 4);
}

} // namespace tessera::detail::vulkan
