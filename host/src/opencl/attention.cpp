// The opencl launch functions of the attention variants (numerics.md section 6),
// kernels/attention/*.cl: "flash_prefill" (any T; one kernel), "nv_mma_f16" (flash_mma.cl: the
// same arguments, tensor cores on NVIDIA, its portable branch elsewhere) and "splitkv_decode"
// (T <= the manifest's max_t; a partial kernel over key splits, then a combine kernel that merges
// the splits in a fixed order). Every kernel is built for the record's manifest max_d
// (ATT_DMAX, which sizes its per-lane and local arrays); the registry refuses larger heads, T
// past a decode variant's max_t, D off the tensor-core steps and tensors past 32-bit indexing,
// so none of that is checked here. K and V are uploaded at their stored width (fp32, bf16, fp16
// or E4M3 bytes) and widened in the kernel. Sequences reach the kernels as int32 cu_q / cu_k,
// built here for fixed-length batches. Outputs are read back only after every launch completed,
// so a failure leaves the caller's o and lse untouched; any CL error is a BackendFailure.
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/attention/geometry.h"
#include "launch.h"
#include "runtime.h"

namespace tessera::detail::opencl {

namespace {
constexpr int64_t kGroupsPerUnitTarget = 8; // decode: aim for this many groups per compute unit

// Host dtype -> the kernels' ATT_* code.
cl_int dtype_code(DType t) {
  switch (t) {
  case DType::F32: return 0;
  case DType::BF16: return 1;
  case DType::F16: return 2;
  case DType::F8_E4M3: return 3;
  default: throw BackendFailure(fmt::format("opencl: attention: K/V dtype {} is not supported", dtype_name(t)));
  }
}

struct Seqs {
  std::vector<cl_int> cu_q, cu_k;
  int64_t t_max = 0, s_max = 0;
};

// int32 sequence offsets for the kernels (fixed-length batches get n * T, n * S), and the
// longest sequences, which size the grids.
Seqs sequences(const AttentionRunArgs& a) {
  Seqs s;
  for (int64_t n = 0; n <= a.n_seqs; ++n) {
    s.cu_q.push_back(static_cast<cl_int>(a.cu_q ? a.cu_q[n] : n * a.d.T));
    s.cu_k.push_back(static_cast<cl_int>(a.cu_k ? a.cu_k[n] : n * a.d.S));
  }
  for (int64_t n = 0; n < a.n_seqs; ++n) {
    s.t_max = std::max<int64_t>(s.t_max, s.cu_q[n + 1] - s.cu_q[n]);
    s.s_max = std::max<int64_t>(s.s_max, s.cu_k[n + 1] - s.cu_k[n]);
  }
  return s;
}

size_t kv_bytes(DType t) { return t == DType::F32 ? 4 : t == DType::F8_E4M3 ? 1 : 2; }

cl_int flags_of(const AttentionRunArgs& a) {
  return (a.causal ? 1 : 0) | (a.gate ? 2 : 0) | (a.lse ? 4 : 0);
}

// One attention call on one device: the inputs uploaded, o and lse zeroed (as the reference
// leaves a row no sequence covers), and the scalars every kernel takes. `lanes` is the kernels'
// ATT_LPR: a work-group must hold the lanes of one query row.
struct Call {
  Call(int device, const core::Variant& rec, const AttentionRunArgs& a, size_t lanes)
      : seqs(sequences(a)), s(device, rec.op), rows(a.d.B * a.d.T * a.d.Hq),
        o_bytes(static_cast<size_t>(rows * a.d.D) * 4), lse_bytes(static_cast<size_t>(rows) * 4),
        defines(fmt::format("-DATT_DMAX={}", rec.manifest.limits.max_d)) {
    if (s.work_group_size() < lanes)
      throw BackendFailure(fmt::format("opencl: attention {}: work-groups of {} are smaller than the {} lanes of a row",
                                       rec.name, s.work_group_size(), lanes));
    const size_t kv_n = static_cast<size_t>(a.d.B * a.d.S * a.d.Hkv * a.d.D);
    q = s.upload(a.q, o_bytes, "q");
    k = s.upload_any(a.k, kv_n * kv_bytes(a.k_dtype), "k");
    v = s.upload_any(a.v, kv_n * kv_bytes(a.v_dtype), "v");
    gate = s.upload_any(a.gate, a.gate ? o_bytes : 0, "gate");
    cu_q = s.table(seqs.cu_q.data(), seqs.cu_q.size() * 4, "cu_q");
    cu_k = s.table(seqs.cu_k.data(), seqs.cu_k.size() * 4, "cu_k");
    o = s.zeros(o_bytes, "o");
    lse = s.zeros(lse_bytes, "lse");
    n_seqs = static_cast<cl_int>(a.n_seqs), Hq = static_cast<cl_int>(a.d.Hq), Hkv = static_cast<cl_int>(a.d.Hkv);
    D = static_cast<cl_int>(a.d.D), t_max = static_cast<cl_int>(seqs.t_max), flags = flags_of(a);
    kd = dtype_code(a.k_dtype), vd = dtype_code(a.v_dtype);
  }

  // Work-groups of `rows_per_group` query rows over every (sequence, KV head): the tiles of the
  // longest sequence (GQA heads of a KV head share a tile).
  int64_t tiles(const AttentionRunArgs& a, int64_t rows_per_group) const {
    return (seqs.t_max * (a.d.Hq / a.d.Hkv) + rows_per_group - 1) / rows_per_group;
  }

  void read(const AttentionRunArgs& a) {
    s.finish();
    s.read(o, a.o, o_bytes, "o");
    if (a.lse) s.read(lse, a.lse, lse_bytes, "lse");
  }

  const Seqs seqs; // before s: the session's uploads read cu_q and cu_k until it ends
  Session s;
  const int64_t rows;
  const size_t o_bytes, lse_bytes;
  const std::string defines; // the kernels' build options from the manifest
  Mem q, k, v, gate, cu_q, cu_k, o, lse;
  cl_int n_seqs, Hq, Hkv, D, t_max, flags, kd, vd;
};

// flash_prefill.cl and flash_mma.cl: one kernel with the same arguments, a work-group per tile
// of rows_per_group query rows.
void launch_tiles(Call& c, const core::Variant& rec, const AttentionRunArgs& a, cl_kernel kern, int64_t rows_per_group) {
  const uint64_t units = static_cast<uint64_t>(a.n_seqs * a.d.Hkv * c.tiles(a, rows_per_group));
  c.s.launch(kern, rec.manifest.entry, c.s.groups_for(units * c.s.work_group_size()), c.q, c.k, c.v, c.gate, c.cu_q,
             c.cu_k, c.o, c.lse, c.n_seqs, c.Hq, c.Hkv, c.D, c.t_max, c.flags, c.kd, c.vd, a.k_scale, a.v_scale,
             a.scale);
  c.read(a);
}

} // namespace

void attention_flash_prefill(int device, const core::Variant& rec, const AttentionRunArgs& a) {
  set_last_device_ms(0.0);
  if (a.d.B * a.d.T * a.d.Hq == 0) return;
  Call c(device, rec, a, ATT_LANES_PREFILL_CL);
  cl_kernel kern = c.s.kernel(rec.manifest.source, rec.manifest.entry, c.defines);
  c.s.check_local_memory(kern, rec.manifest.entry);
  launch_tiles(c, rec, a, kern, static_cast<int64_t>(c.s.work_group_size() / ATT_LANES_PREFILL_CL));
}

// Its work-group of 256 (8 warps) and its local memory are the manifest's, which the registry
// compared with the device; LOCAL_BYTES lets the kernel's build check its tiles against them.
void attention_flash_mma(int device, const core::Variant& rec, const AttentionRunArgs& a) {
  set_last_device_ms(0.0);
  if (a.d.B * a.d.T * a.d.Hq == 0) return;
  Call c(device, rec, a, ATT_LANES_PREFILL_CL);
  cl_kernel kern = c.s.kernel(rec.manifest.source, rec.manifest.entry,
                              fmt::format("{} -DLOCAL_BYTES={}", c.defines, rec.manifest.limits.local_bytes));
  launch_tiles(c, rec, a, kern, FM_ROWS);
}

void attention_splitkv_decode(int device, const core::Variant& rec, const AttentionRunArgs& a) {
  set_last_device_ms(0.0);
  const auto& d = a.d;
  if (d.B * d.T * d.Hq == 0) return;
  Call c(device, rec, a, ATT_LANES_DECODE_CL);
  Session& s = c.s;
  const size_t wg = s.work_group_size();
  // Splits: enough work-groups to fill the device, each split a whole number of key tiles. A
  // function of the shape and the device only, so runs repeat bit for bit.
  const int64_t base = std::max<int64_t>(1, a.n_seqs * d.Hkv * c.tiles(a, static_cast<int64_t>(wg / ATT_LANES_DECODE_CL)));
  const int64_t target = std::max<int64_t>(1, s.facts().compute_units) * kGroupsPerUnitTarget;
  const int64_t key_tiles = std::max<int64_t>(1, (c.seqs.s_max + ATT_KEY_TILE - 1) / ATT_KEY_TILE);
  int64_t n_split = std::clamp<int64_t>((target + base - 1) / base, 1, key_tiles);
  const int64_t chunk = ((key_tiles + n_split - 1) / n_split) * ATT_KEY_TILE;
  n_split = std::max<int64_t>(1, (c.seqs.s_max + chunk - 1) / chunk);
  Mem part_o = s.alloc(static_cast<size_t>(c.rows * n_split * d.D) * 4, "partial o");
  Mem part_ml = s.alloc(static_cast<size_t>(c.rows * n_split) * 8, "partial m, l");
  const std::string_view partial = entry(rec, 0), combine = entry(rec, 1);
  cl_kernel kp = s.kernel(rec.manifest.source, partial, c.defines);
  s.check_local_memory(kp, partial);
  s.launch(kp, partial, s.groups_for(static_cast<uint64_t>(base * n_split) * wg), c.q, c.k, c.v, c.cu_q, c.cu_k, part_o,
           part_ml, c.n_seqs, c.Hq, c.Hkv, c.D, c.t_max, c.flags, c.kd, c.vd, a.k_scale, a.v_scale, a.scale,
           static_cast<cl_int>(n_split), static_cast<cl_int>(chunk));
  cl_kernel kc = s.kernel(rec.manifest.source, combine, c.defines);
  s.check_local_memory(kc, combine);
  s.launch(kc, combine, s.groups_for(static_cast<uint64_t>(c.rows * d.D)), part_o, part_ml, c.gate, c.o, c.lse,
           static_cast<cl_int>(c.rows), c.D, c.flags, static_cast<cl_int>(n_split));
  c.read(a);
}

} // namespace tessera::detail::opencl
