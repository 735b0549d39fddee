// The vulkan attention launchers (numerics.md section 6), kernels/attention/*.comp:
// "flash_prefill" (any T), "splitkv_decode" (T <= 16; a partial pass over key splits, then a
// combine pass merging them in a fixed order) and "nv_coopmat_f16"
// (flash_coopmat.comp: NVIDIA tensor cores through GL_NV_cooperative_matrix, 128 invocations and
// 64 query rows a workgroup, D a multiple of 16; the device is checked for the cooperative
// matrix shape before anything is uploaded, as the GEMM's). "nv_coopmat_f16.emulated" is not a
// registered variant: the same shader with the matrix operations emulated (FC_EMULATE, D <= 64),
// which tests run on lavapipe to check the tile logic. All four shaders share one
// interface (kernels/attention/attn_tile.glsl): nine storage buffers and one push-constant block.
// K and V are copied at their stored width and widened in the shader. Every pass sweeps at most
// attention_window_keys() keys of a work unit a dispatch, one unit a workgroup (see
// kAttentionWindowKeys), the online-softmax state carried in part_o / part_ml between windows.
// Outputs are copied out only after the batch succeeded, so a failure writes nothing; an unknown
// variant, a shape past the shaders' limits, too little shared memory, a shader whose loops the
// driver cut short (the status word) or a Vulkan error is a BackendFailure.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "batch.h"
#include "host/src/device_memory.h"
#include "gemm_tensor_core.h"
#include "launch.h"
#include "attention.h"
#include "core/overrides.h"
#include "kernels/attention/geometry.h"

namespace tessera::detail::vulkan {

// How many keys of a work unit's key range one dispatch sweeps at most (a multiple of the
// 16-key tile): every attention pass cuts its key loop into windows of this many keys, one
// dispatch each, the online-softmax state (running max m, sum l, the fp32 accumulator) of every
// row carried from one window to the next in part_o / part_ml; the last window writes o and lse
// (splitkv_decode: its partials, merged by the combine pass as before). The reason is llvmpipe
// (lavapipe): every loop of a shader invocation shares one counter of 65535 iterations
// (LP_MAX_TGSI_LOOP_ITERATIONS in gallivm, an infinite-loop guard), and once it runs out every
// loop of that invocation leaves after its current iteration, with no error. One sweep counts an
// iteration per 16 keys, so a workgroup that saw more than ~1.05M keys returned garbage
// (flash_prefill at S = 1.1M: rel L2 0.11; docs/numerics.md "Attention on Vulkan: long key
// ranges"). What a window counts, per invocation, at most (D <= 256; the shaders' loops of
// constant trip count are unrolled): flash_prefill and the split-KV partial 131072 / 16 + 6 =
// ~8.2 K, nv_coopmat_f16 ~8.3 K (its Q staging loop adds up to 129), the split-KV combine
// (not windowed) <= 135: an eighth of the guard. A workgroup takes one work unit a dispatch
// (units past the device's group count go to more dispatches), so no count grows with the
// problem's width. Each unit ends with a canary loop that reports a cut anyway (the launcher
// throws BackendFailure), should a driver count differently. Ordinary lengths take one window:
// flash_prefill and nv_coopmat_f16 to S = 131072; splitkv_decode while a split is at most that,
// so the whole cache to 64 x 131072 keys with one work unit (64 splits), to 131072 with 64 units
// or more (one split). The result does not depend on the window (numerics.md).
constexpr int64_t kAttentionWindowKeys = 131072;

namespace {

// The shaders' geometry is kernels/attention/geometry.h; the limits a call must meet (head size,
// T, work-group, shared memory) are the records' manifests (variants.cpp), which the registry
// checked.
constexpr int64_t kDecodeGroupsTarget = 64; // split-KV: aim for this many workgroups
struct Push {
  int32_t n_seqs, Hq, Hkv, D, t_max, flags, k_dtype, v_dtype;
  float k_scale, v_scale, scale;
  int32_t n_split, chunk, rows;
  int32_t k_first, k_count, unit_base, unit_end, two; // window, units, the canary's 2
};

// kAttentionWindowKeys, or TESSERA_OVERRIDE's vulkan_attention_window= (rounded up to whole
// tiles, so the tiles, and the result, are those of one sweep).
int64_t attention_window_keys() {
  const int64_t t = current_overrides().vulkan_attention_window;
  return t > 0 ? (t + ATT_KEY_TILE - 1) / ATT_KEY_TILE * ATT_KEY_TILE : kAttentionWindowKeys;
}

int32_t dtype_code(DType t) {
  switch (t) {
  case DType::F32: return 0;
  case DType::BF16: return 1;
  case DType::F16: return 2;
  case DType::F8_E4M3: return 3;
  default: backend_failure(fmt::format("attention: K/V dtype {} is not supported", dtype_name(t)));
  }
}

size_t kv_bytes(DType t) { return t == DType::F32 ? 4 : t == DType::F8_E4M3 ? 1 : 2; }

} // namespace

// The body the launch functions share: they say which shader (never a name) and pass their
// record's limits.
void run_attention(int device_index, AttentionShader kind, std::string_view variant, const core::Limits& limits,
                   const AttentionRunArgs& a) {
  set_last_device_ms(0.0); // also when this run fails
  const bool decode = kind == AttentionShader::Decode, emulated = kind == AttentionShader::CoopmatEmulated;
  const bool coop = kind == AttentionShader::Coopmat || emulated;
  const auto& dm = a.d;
  // int32 sequence offsets: cu_q then cu_k (fixed-length batches get n * T, n * S).
  std::vector<int32_t> cu;
  int64_t t_max = 0, s_max = 0;
  for (int pass = 0; pass < 2; ++pass)
    for (int64_t n = 0; n <= a.n_seqs; ++n) {
      const int64_t* c = pass == 0 ? a.cu_q : a.cu_k;
      cu.push_back(static_cast<int32_t>(c ? c[n] : n * (pass == 0 ? dm.T : dm.S)));
    }
  for (int64_t n = 0; n < a.n_seqs; ++n) {
    t_max = std::max<int64_t>(t_max, cu[n + 1] - cu[n]);
    s_max = std::max<int64_t>(s_max, cu[a.n_seqs + 2 + n] - cu[a.n_seqs + 1 + n]);
  }
  if (emulated) { // no record, so the registry checked nothing
    if (dm.D > limits.max_d || dm.D % limits.d_multiple != 0)
      backend_failure(fmt::format("attention {}: head dim D = {}: the build takes multiples of {} up to {}",
                                  variant, dm.D, limits.d_multiple, limits.max_d));
  }
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  if (dm.B * dm.T * dm.Hq * dm.D > kMax || dm.B * dm.S * dm.Hkv * dm.D > kMax)
    backend_failure(fmt::format("attention {}: more than 2^31 elements in a tensor (32-bit indexing)", variant));
  const int64_t rows = dm.B * dm.T * dm.Hq;
  if (rows == 0) return;
  Device& d = device(device_index);

  const int64_t G = dm.Hq / dm.Hkv;
  const int64_t lanes = decode ? ATT_LANES_DECODE_VK : ATT_LANES_PREFILL_VK;
  const int64_t tile_rows = coop ? FC_ROWS : limits.workgroup / lanes;
  const int64_t tiles = (t_max * G + tile_rows - 1) / tile_rows;
  const int64_t base = std::max<int64_t>(1, a.n_seqs * dm.Hkv * tiles);
  int64_t n_split = 1, chunk = 0;
  if (decode) {
    // Splits: enough workgroups to keep the device busy, each a whole number of key tiles; a
    // function of the shape only, so runs repeat bit for bit.
    const int64_t key_tiles = std::max<int64_t>(1, (s_max + ATT_KEY_TILE - 1) / ATT_KEY_TILE);
    n_split = std::clamp<int64_t>((kDecodeGroupsTarget + base - 1) / base, 1, key_tiles);
    chunk = ((key_tiles + n_split - 1) / n_split) * ATT_KEY_TILE;
    n_split = std::max<int64_t>(1, (s_max + chunk - 1) / chunk);
  }
  // Windows of at most `window` keys of a unit's range (a split's, or the whole sequence's).
  const int64_t span = decode ? std::min(chunk, s_max) : s_max;
  const int64_t window = attention_window_keys();
  const int64_t windows = std::max<int64_t>(1, (span + window - 1) / window);
  const bool carry = decode || windows > 1; // part_o / part_ml hold state
  Push push{static_cast<int32_t>(a.n_seqs), static_cast<int32_t>(dm.Hq), static_cast<int32_t>(dm.Hkv),
            static_cast<int32_t>(dm.D), static_cast<int32_t>(t_max),
            (a.causal ? 1 : 0) | (a.gate ? 2 : 0) | (a.lse ? 4 : 0), dtype_code(a.k_dtype),
            dtype_code(a.v_dtype), a.k_scale, a.v_scale, a.scale, static_cast<int32_t>(n_split),
            static_cast<int32_t>(chunk), static_cast<int32_t>(rows), 0,
            static_cast<int32_t>(window), 0, 0, 2};

  const size_t o_bytes = static_cast<size_t>(rows * dm.D) * 4, lse_bytes = static_cast<size_t>(rows) * 4;
  const size_t kv_n = static_cast<size_t>(dm.B * dm.S * dm.Hkv * dm.D);
  std::lock_guard lock(d.mutex);
  if (coop && !emulated) check_coopmat_device(d, "attention");
  // The registry compared the manifest's work-group and shared memory with the device's facts;
  // the device as created must agree (the emulated run has only this check).
  if (d.properties.limits.maxComputeSharedMemorySize < static_cast<uint64_t>(limits.local_bytes))
    backend_failure(
        fmt::format("attention {}: the shader needs {} bytes of shared memory, the device has {}",
                    variant, limits.local_bytes, d.properties.limits.maxComputeSharedMemorySize));
  const uint32_t want_wg = static_cast<uint32_t>(limits.workgroup);
  uint32_t wg = workgroup_size(d, want_wg);
  if (wg != want_wg)
    backend_failure(fmt::format("attention {}: the shader needs {} invocations a workgroup; "
                                "the device takes {}",
                                variant, want_wg, wg));
  Buffer q(d, o_bytes), k(d, std::max<size_t>(4, kv_n * kv_bytes(a.k_dtype))),
      v(d, std::max<size_t>(4, kv_n * kv_bytes(a.v_dtype))), gate(d, a.gate ? o_bytes : 4),
      cu_buf(d, cu.size() * 4), o(d, o_bytes), lse(d, lse_bytes + 4); // lse, the status word
  Buffer part_o(d, carry ? static_cast<size_t>(rows * n_split * dm.D) * 4 : 4),
      part_ml(d, carry ? static_cast<size_t>(rows * n_split) * 8 : 4);
  std::initializer_list<Buffer*> bufs = {&q, &k, &v, &gate, &cu_buf, &o, &lse, &part_o, &part_ml};
  // Pipelines before recording starts (the first use of a shader creates its pipeline).
  const Kernel& k_main = kernel(d,
                                decode     ? "attention/splitkv_decode.partial.spv"
                                : emulated ? "attention/flash_coopmat.emulated.spv"
                                : coop     ? "attention/flash_coopmat.spv"
                                           : "attention/flash_prefill.spv",
                                9, sizeof push, wg, {static_cast<uint32_t>(limits.max_d)});
  // The shaders' specialization constant 1: ATT_DMAX, the manifest's max_d (attn_tile.glsl).
  const Kernel* k_combine =
      decode ? &kernel(d, "attention/splitkv_decode.combine.spv", 9, sizeof push, wg, {static_cast<uint32_t>(limits.max_d)})
             : nullptr;
  Batch b(d, "attention");
  b.upload(q, 0, a.q, o_bytes);
  b.upload(k, 0, a.k, kv_n * kv_bytes(a.k_dtype));
  b.upload(v, 0, a.v, kv_n * kv_bytes(a.v_dtype));
  if (a.gate) b.upload(gate, 0, a.gate, o_bytes);
  b.upload(cu_buf, 0, cu.data(), cu.size() * 4);
  // Zeros, as the reference leaves a row no sequence covers (and the status word).
  b.fill(o, 0, o.size(), 0);
  b.fill(lse, 0, lse.size(), 0);
  dispatch_windows(b, k_main, bufs, &push, windows, base * n_split,
                   [&](int64_t w, uint32_t first, uint32_t end) {
                     push.k_first = static_cast<int32_t>(w * window);
                     push.unit_base = static_cast<int32_t>(first);
                     push.unit_end = static_cast<int32_t>(end);
                   });
  if (k_combine) // one element an invocation, WG a unit
    dispatch_windows(b, *k_combine, bufs, &push, 1, (rows * dm.D + wg - 1) / wg,
                     [&](int64_t, uint32_t first, uint32_t end) {
                       push.unit_base = static_cast<int32_t>(first);
                       push.unit_end = static_cast<int32_t>(end);
                     });
  b.finish();
  const std::string cut = fmt::format("attention {}: the driver cut the shader's loops short (a window of {} keys a "
                                      "dispatch; llvmpipe stops an invocation's loops after 65535 iterations in all)",
                                      variant, window);
  if (device_memory::resident(a.o) && (!a.lse || device_memory::resident(a.lse))) {
    b.status_at_sync(lse, lse_bytes, cut + "; the outputs it wrote are wrong"); // no wait (batch.h)
  } else {
    uint32_t status = 0;
    from_buffer(lse, lse_bytes, &status, 4);
    if (status != 0) backend_failure(cut + "; the outputs are not used");
  }
  from_buffer(o, 0, a.o, o_bytes);
  if (a.lse) from_buffer(lse, 0, a.lse, lse_bytes);
}

// The launch functions of the records (launch.h); v.name only labels messages.
void attention_flash_prefill(int device, const core::Variant& v, const AttentionRunArgs& a) {
  run_attention(device, AttentionShader::Prefill, v.name, v.manifest.limits, a);
}
void attention_splitkv_decode(int device, const core::Variant& v, const AttentionRunArgs& a) {
  run_attention(device, AttentionShader::Decode, v.name, v.manifest.limits, a);
}
void attention_coopmat(int device, const core::Variant& v, const AttentionRunArgs& a) {
  run_attention(device, AttentionShader::Coopmat, v.name, v.manifest.limits, a);
}

} // namespace tessera::detail::vulkan
