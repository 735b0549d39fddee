// The opencl attention launchers (numerics.md section 6), kernels/attention/*.cl:
// "flash_prefill" (any T; one kernel), "nv_mma_f16" (flash_mma.cl: the same arguments, tensor
// cores on NVIDIA, its portable branch elsewhere) and "splitkv_decode" (T <= 16; a partial kernel over key
// splits, then a combine kernel that merges the splits in a fixed order). K and V are uploaded at
// their stored width (fp32, bf16, fp16 or E4M3 bytes) and widened in the kernel. Sequences reach
// the kernels as int32 cu_q / cu_k, built here for fixed-length batches. Outputs are read back
// only after every launch completed, so a failure leaves the caller's o and lse untouched; an
// unknown variant, a shape past the kernels' limits or any CL error is a BackendFailure.
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "host/src/backends.h"
#include "runtime.h"

namespace tessera::detail::opencl {

namespace {
constexpr std::string_view kOp = "attention";
constexpr int64_t kDMax = 256;         // ATT_DMAX of kernels/attention/attn_tile.cl
constexpr int64_t kDecodeMaxT = 16;    // the registry offers splitkv_decode for T <= 16
constexpr int64_t kKeyTile = 16;       // ATT_BC
constexpr size_t kPrefillLanes = 8;    // ATT_LPR of flash_prefill.cl
constexpr size_t kDecodeLanes = 32;    // ATT_LPR of splitkv_decode.cl
constexpr int64_t kGroupsPerUnitTarget = 8; // decode: aim for this many groups per compute unit
constexpr size_t kMmaWorkGroup = 256;  // flash_mma.cl: 8 warps of 32
constexpr int64_t kMmaRows = 128;      // FM_ROWS of flash_mma.cl (16 rows a warp)

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

// The kernels index with 32-bit integers; D is bounded by the private arrays of attn_tile.cl.
void check_shape(std::string_view variant, const AttentionRunArgs& a, size_t lanes, size_t wg) {
  const auto& d = a.d;
  if (d.D > kDMax)
    throw BackendFailure(fmt::format("opencl: attention {}: head dim D = {} > {}", variant, d.D, kDMax));
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  if (d.B * d.T * d.Hq * d.D > kMax || d.B * d.S * d.Hkv * d.D > kMax)
    throw BackendFailure(fmt::format("opencl: attention {}: more than 2^31 elements in a tensor", variant));
  if (wg < lanes)
    throw BackendFailure(fmt::format("opencl: attention {}: work-groups of {} are smaller than the {} lanes of a row", variant, wg, lanes));
}

size_t kv_bytes(DType t) { return t == DType::F32 ? 4 : t == DType::F8_E4M3 ? 1 : 2; }

// OpenCL has no empty buffers: absent inputs become a small dummy the kernel never reads.
Mem upload_any(Session& s, const void* src, size_t n, std::string_view what) {
  static const float dummy[1] = {0.0f};
  return n == 0 || src == nullptr ? s.upload(dummy, sizeof dummy, what) : s.upload(src, n, what);
}

// The kernel, with its local memory checked against the device's.
cl_kernel attention_kernel(Session& s, std::string_view file, std::string_view name) {
  cl_kernel k = s.kernel(file, name);
  cl_ulong local = 0;
  check(clGetKernelWorkGroupInfo(k, nullptr, CL_KERNEL_LOCAL_MEM_SIZE, sizeof local, &local, nullptr),
        "clGetKernelWorkGroupInfo(CL_KERNEL_LOCAL_MEM_SIZE)");
  if (s.facts().local_memory_bytes > 0 && local > static_cast<cl_ulong>(s.facts().local_memory_bytes))
    throw BackendFailure(fmt::format("opencl: attention: {} needs {} bytes of local memory, {} has {}", name, local,
                                     s.facts().name, s.facts().local_memory_bytes));
  return k;
}

cl_int flags_of(const AttentionRunArgs& a) {
  return (a.causal ? 1 : 0) | (a.gate ? 2 : 0) | (a.lse ? 4 : 0);
}

} // namespace

void run(int device, std::string_view variant, const AttentionRunArgs& a) {
  const bool decode = variant == "splitkv_decode";
  const bool mma = variant == "nv_mma_f16"; // flash_mma.cl: tensor cores (portable off NVIDIA)
  if (!decode && !mma && variant != "flash_prefill")
    throw BackendFailure(fmt::format("opencl: attention has no variant '{}' (known: flash_prefill, splitkv_decode, nv_mma_f16)", variant));
  set_last_device_ms(0.0);
  const auto& d = a.d;
  const Seqs seqs = sequences(a);
  if (decode && seqs.t_max > kDecodeMaxT)
    throw BackendFailure(fmt::format("opencl: attention splitkv_decode: T = {} > {}", seqs.t_max, kDecodeMaxT));
  const int64_t rows = d.B * d.T * d.Hq;
  if (rows == 0) return;
  Session s(device, kOp);
  const size_t lanes = decode ? kDecodeLanes : kPrefillLanes;
  check_shape(variant, a, lanes, s.work_group_size());
  if (mma && (s.work_group_size() != kMmaWorkGroup || d.D % 16 != 0))
    throw BackendFailure(fmt::format("opencl: attention nv_mma_f16 needs work-groups of {} (device: {}) and D a "
                                     "multiple of 16 (D = {})", kMmaWorkGroup, s.work_group_size(), d.D));
  const size_t o_bytes = static_cast<size_t>(rows * d.D) * 4, lse_bytes = static_cast<size_t>(rows) * 4;
  const size_t kv_n = static_cast<size_t>(d.B * d.S * d.Hkv * d.D);

  Mem q = s.upload(a.q, o_bytes, "q");
  Mem k = upload_any(s, a.k, kv_n * kv_bytes(a.k_dtype), "k");
  Mem v = upload_any(s, a.v, kv_n * kv_bytes(a.v_dtype), "v");
  Mem gate = upload_any(s, a.gate, a.gate ? o_bytes : 0, "gate");
  Mem cu_q = s.upload(seqs.cu_q.data(), seqs.cu_q.size() * 4, "cu_q");
  Mem cu_k = s.upload(seqs.cu_k.data(), seqs.cu_k.size() * 4, "cu_k");
  // Zeros, as the reference leaves a row no sequence covers.
  std::vector<float> zeros(static_cast<size_t>(rows * d.D), 0.0f);
  Mem o = s.upload(zeros.data(), o_bytes, "o");
  Mem lse = s.upload(zeros.data(), lse_bytes, "lse");

  const size_t wg = s.work_group_size();
  const int64_t G = d.Hq / d.Hkv;
  const int64_t rows_per_group = mma ? kMmaRows : static_cast<int64_t>(wg / lanes);
  const int64_t tiles = (seqs.t_max * G + rows_per_group - 1) / rows_per_group;
  const cl_int n_seqs = static_cast<cl_int>(a.n_seqs), Hq = static_cast<cl_int>(d.Hq),
               Hkv = static_cast<cl_int>(d.Hkv), D = static_cast<cl_int>(d.D),
               t_max = static_cast<cl_int>(seqs.t_max), flags = flags_of(a),
               kd = dtype_code(a.k_dtype), vd = dtype_code(a.v_dtype);
  if (mma) {
    cl_kernel kern = attention_kernel(s, "attention/flash_mma.cl", "attention_flash_mma");
    uint64_t units = static_cast<uint64_t>(a.n_seqs * d.Hkv * tiles);
    s.launch(kern, "attention_flash_mma", s.groups_for(units * wg), q, k, v, gate, cu_q, cu_k, o, lse, n_seqs, Hq, Hkv, D,
             t_max, flags, kd, vd, a.k_scale, a.v_scale, a.scale);
  } else if (!decode) {
    cl_kernel kern = attention_kernel(s, "attention/flash_prefill.cl", "attention_flash_prefill");
    uint64_t units = static_cast<uint64_t>(a.n_seqs * d.Hkv * tiles);
    s.launch(kern, "attention_flash_prefill", s.groups_for(units * wg), q, k, v, gate, cu_q, cu_k, o, lse, n_seqs, Hq, Hkv, D,
             t_max, flags, kd, vd, a.k_scale, a.v_scale, a.scale);
  } else {
    // Splits: enough work-groups to fill the device, each split a whole number of key tiles. A
    // function of the shape and the device only, so runs repeat bit for bit.
    const int64_t base = std::max<int64_t>(1, a.n_seqs * d.Hkv * tiles);
    const int64_t target = std::max<int64_t>(1, s.facts().compute_units) * kGroupsPerUnitTarget;
    const int64_t key_tiles = std::max<int64_t>(1, (seqs.s_max + kKeyTile - 1) / kKeyTile);
    int64_t n_split = std::clamp<int64_t>((target + base - 1) / base, 1, key_tiles);
    const int64_t chunk = ((key_tiles + n_split - 1) / n_split) * kKeyTile;
    n_split = std::max<int64_t>(1, (seqs.s_max + chunk - 1) / chunk);
    Mem part_o = s.alloc(static_cast<size_t>(rows * n_split * d.D) * 4, "partial o");
    Mem part_ml = s.alloc(static_cast<size_t>(rows * n_split) * 8, "partial m, l");
    cl_kernel kp = attention_kernel(s, "attention/splitkv_decode.cl", "attention_splitkv_partial");
    uint64_t units = static_cast<uint64_t>(base * n_split);
    s.launch(kp, "attention_splitkv_partial", s.groups_for(units * wg), q, k, v, cu_q, cu_k, part_o, part_ml, n_seqs, Hq, Hkv,
             D, t_max, flags, kd, vd, a.k_scale, a.v_scale, a.scale, static_cast<cl_int>(n_split),
             static_cast<cl_int>(chunk));
    cl_kernel kc = attention_kernel(s, "attention/splitkv_decode.cl", "attention_splitkv_combine");
    s.launch(kc, "attention_splitkv_combine", s.groups_for(static_cast<uint64_t>(rows * d.D)), part_o, part_ml, gate, o, lse,
             static_cast<cl_int>(rows), D, flags, static_cast<cl_int>(n_split));
  }
  s.finish();
  s.read(o, a.o, o_bytes, "o");
  if (a.lse) s.read(lse, a.lse, lse_bytes, "lse");
}

} // namespace tessera::detail::opencl
