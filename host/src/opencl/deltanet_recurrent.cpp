// The opencl launch function of the "recurrent" Gated DeltaNet variant
// (kernels/deltanet/recurrent.cl): one work-group per (sequence, value head, slice of 32 state
// columns), the state in registers for the whole sequence, DK_MAX = the manifest's max_dk rows
// of it per column. The args arrive validated and widened, and within the record's limits (the
// registry refuses larger key heads, and extents past 32-bit indexing: the problem's "elements"
// covers every buffer here, since HV is a multiple of H). Inputs are uploaded, the kernel
// launched and checked, and only then are o and ht read back, so a failure leaves the outputs
// untouched; a device whose work-groups are too small or any CL error is a BackendFailure (the
// dispatcher disables the variant and falls back).
#include <fmt/format.h>

#include <vector>

#include "kernels/deltanet/geometry.h"
#include "launch.h"
#include "runtime.h"

namespace tessera::detail::opencl {

namespace {

size_t bytes(int64_t n) { return static_cast<size_t>(n) * sizeof(float); }
} // namespace

void deltanet_recurrent(int device, const core::Variant& rec, const DeltaNetRunArgs& a) {
  set_last_device_ms(0.0);
  const ref::DeltaNetDims& d = a.d;
  const int64_t tokens = d.B * d.T;
  const int64_t state = a.n_seqs * d.HV * d.Dk * d.Dv;
  if (a.n_seqs == 0 || d.HV == 0 || d.Dv == 0 || d.Dk == 0) return;

  // Token offsets of every sequence, also for fixed-length batches, so the kernel has one form.
  std::vector<int32_t> cu(static_cast<size_t>(a.n_seqs + 1));
  for (int64_t n = 0; n <= a.n_seqs; ++n)
    cu[static_cast<size_t>(n)] = static_cast<int32_t>(a.cu_seqlens ? a.cu_seqlens[n] : n * d.T);

  Session s(device, rec.op);
  if (s.work_group_size() < DN_STATE_COLS)
    throw BackendFailure(fmt::format("opencl: deltanet recurrent needs work-groups of {}; {} "
                                     "takes {}",
                                     DN_STATE_COLS, s.facts().name, s.work_group_size()));
  cl_kernel k = s.kernel(rec.manifest.source, entry(rec, 0), fmt::format("-DDK_MAX={}", rec.manifest.limits.max_dk));
  Mem q = s.upload_any(a.q, bytes(tokens * d.H * d.Dk), "q");
  Mem kk = s.upload_any(a.k, bytes(tokens * d.H * d.Dk), "k");
  Mem v = s.upload_any(a.v, bytes(tokens * d.HV * d.Dv), "v");
  Mem g = s.upload_any(a.g, bytes(tokens * d.HV), "g");
  Mem beta = s.upload_any(a.beta, bytes(tokens * d.HV), "beta");
  Mem h0 = s.upload_any(a.h0, a.h0 ? bytes(state) : 0, "h0");
  Mem cub = s.table(cu.data(), cu.size() * sizeof(int32_t), "cu_seqlens");
  const size_t o_bytes = bytes(tokens * d.HV * d.Dv);
  Mem o = s.alloc(o_bytes == 0 ? 4 : o_bytes, "o");
  Mem ht = s.alloc(bytes(state), "ht");
  const uint64_t tasks = static_cast<uint64_t>(a.n_seqs * d.HV * ((d.Dv + DN_STATE_COLS - 1) / DN_STATE_COLS));
  s.launch(k, entry(rec, 0), s.groups_for(tasks * s.work_group_size()), q, kk, v, g, beta,
           h0, static_cast<cl_int>(a.h0 != nullptr), cub, static_cast<cl_int>(a.n_seqs),
           static_cast<cl_int>(d.H), static_cast<cl_int>(d.HV), static_cast<cl_int>(d.Dk),
           static_cast<cl_int>(d.Dv), static_cast<cl_float>(a.scale), static_cast<cl_int>(a.l2norm),
           o, ht);
  s.finish();
  if (o_bytes) s.read(o, a.o, o_bytes, "o");
  s.read(ht, a.ht, bytes(state), "ht");
}

} // namespace tessera::detail::opencl
