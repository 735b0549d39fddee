// The opencl launch function of the "chunked" Gated DeltaNet variant (numerics.md section 5),
// kernels/deltanet/chunked.cl: prefill in chunks of 64 tokens in the WY / UT-transform form (the
// kernel file explains the math). Three launches: normalize q and k, the per-chunk transform of
// every chunk of every (sequence, value head) in parallel, then the sequential chunk-to-chunk
// scan per (sequence, value head, 32 state columns). The kernel's local state holds the
// manifest's max_dk rows (MAX_DK); the registry refuses larger heads and, through the record's
// requirement (requirements.h), buffers past 32-bit indexing, so neither is checked here.
// Outputs are read back only after every launch completed, so a failure leaves the caller's o
// and ht untouched; any CL error is a BackendFailure.
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "kernels/deltanet/geometry.h"
#include "launch.h"
#include "runtime.h"

namespace tessera::detail::opencl {

namespace {
constexpr int64_t kChunk = DN_CHUNK; // int64_t, for std::min with token counts

size_t f32s(int64_t n) { return static_cast<size_t>(n) * sizeof(float); }

// OpenCL has no empty buffers: an empty output becomes a one-word buffer never read back.
Mem alloc_any(Session& s, size_t n, std::string_view what) { return s.alloc(n ? n : 4, what); }
} // namespace

void deltanet_chunked(int device, const core::Variant& rec, const DeltaNetRunArgs& a) {
  set_last_device_ms(0.0);
  const ref::DeltaNetDims& d = a.d;
  const int64_t tokens = d.B * d.T;

  // The chunk table: chunks never cross a sequence boundary; a sequence's chunks are consecutive.
  std::vector<int32_t> chunks, seq_chunks{0};
  for (int64_t n = 0; n < a.n_seqs; ++n) {
    int64_t begin = a.cu_seqlens ? a.cu_seqlens[n] : n * d.T;
    int64_t end = a.cu_seqlens ? a.cu_seqlens[n + 1] : (n + 1) * d.T;
    for (int64_t t = begin; t < end; t += kChunk) {
      chunks.push_back(static_cast<int32_t>(t));
      chunks.push_back(static_cast<int32_t>(std::min(kChunk, end - t)));
    }
    seq_chunks.push_back(static_cast<int32_t>(chunks.size() / 2));
  }
  const int64_t n_chunks = static_cast<int64_t>(chunks.size() / 2);
  const int64_t units = n_chunks * d.HV; // (chunk, value head) pairs

  Session s(device, rec.op);
  const std::string max_dk = fmt::format("-DMAX_DK={}", rec.manifest.limits.max_dk);
  cl_kernel k_norm = s.kernel(rec.manifest.source, "dn_chunk_normalize", max_dk);
  cl_kernel k_wy = s.kernel(rec.manifest.source, "dn_chunk_wy", max_dk);
  cl_kernel k_scan = s.kernel(rec.manifest.source, "dn_chunk_scan", max_dk);
  const size_t wg = s.work_group_size();

  Mem q = s.upload_any(a.q, f32s(tokens * d.H * d.Dk), "q");
  Mem k = s.upload_any(a.k, f32s(tokens * d.H * d.Dk), "k");
  Mem v = s.upload_any(a.v, f32s(tokens * d.HV * d.Dv), "v");
  Mem g = s.upload_any(a.g, f32s(tokens * d.HV), "g");
  Mem beta = s.upload_any(a.beta, f32s(tokens * d.HV), "beta");
  Mem h0 = s.upload_any(a.h0, a.h0 ? f32s(a.n_seqs * d.HV * d.Dk * d.Dv) : 0, "h0");
  Mem chunk_buf = s.table(chunks.data(), chunks.size() * sizeof(int32_t), "chunk table");
  Mem seq_buf = s.table(seq_chunks.data(), seq_chunks.size() * sizeof(int32_t), "sequences");
  Mem qs = alloc_any(s, f32s(tokens * d.H * d.Dk), "normalized q");
  Mem kn = alloc_any(s, f32s(tokens * d.H * d.Dk), "normalized k");
  Mem E = alloc_any(s, f32s(units * 2 * kChunk), "decays"); // exp(G_i), exp(G_last - G_i)
  Mem W = alloc_any(s, f32s(units * kChunk * d.Dk), "W");
  Mem Ut = alloc_any(s, f32s(units * kChunk * d.Dv), "U");
  Mem P = alloc_any(s, f32s(units * kChunk * kChunk), "intra-chunk scores");
  const size_t o_bytes = f32s(tokens * d.HV * d.Dv);
  const size_t ht_bytes = f32s(a.n_seqs * d.HV * d.Dk * d.Dv);
  Mem o = alloc_any(s, o_bytes, "o");
  Mem ht = alloc_any(s, ht_bytes, "ht");

  const cl_int H = static_cast<cl_int>(d.H), HV = static_cast<cl_int>(d.HV);
  const cl_int Dk = static_cast<cl_int>(d.Dk), Dv = static_cast<cl_int>(d.Dv);
  const cl_int rows = static_cast<cl_int>(tokens * d.H);
  if (rows > 0)
    s.launch(k_norm, "dn_chunk_normalize", s.groups_for(static_cast<uint64_t>(rows)), q, k, rows,
             Dk, static_cast<cl_float>(a.scale), static_cast<cl_int>(a.l2norm), qs, kn);
  if (units > 0)
    s.launch(k_wy, "dn_chunk_wy", s.groups_for(static_cast<uint64_t>(units) * wg), qs, kn, v, g,
             beta, chunk_buf, static_cast<cl_int>(n_chunks), H, HV, Dk, Dv, E, W, Ut, P);
  const int64_t scan_units = a.n_seqs * d.HV * ((d.Dv + DN_DV_SLICE - 1) / DN_DV_SLICE);
  if (scan_units > 0)
    s.launch(k_scan, "dn_chunk_scan", s.groups_for(static_cast<uint64_t>(scan_units) * wg), qs, kn,
             E, W, Ut, P, chunk_buf, seq_buf, static_cast<cl_int>(a.n_seqs), H, HV, Dk, Dv, h0,
             static_cast<cl_int>(a.h0 != nullptr), o, ht);
  s.finish();
  if (o_bytes) s.read(o, a.o, o_bytes, "o");
  if (ht_bytes) s.read(ht, a.ht, ht_bytes, "ht");
}

} // namespace tessera::detail::opencl
