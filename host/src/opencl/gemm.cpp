// The opencl launch functions of the exact GEMMs (numerics.md section 4), kernels/gemm/*.cl:
// "gemv_splitk_exact" (decode: at most the manifest's max_m rows of A, which the kernel is built
// for as GEMV_MAX_M) and "tiled_exact" (prefill M), each for NVFP4 x NVFP4 and both FP8 scale
// forms; and gemm_nvfp4_act / gemm_fp8_act ("quantize_then_gemm", host/src/gemm_act.h), which
// quantize on the device and then run the exact GEMM record chosen as the registry would. The
// args arrive validated and within the records' limits. Inputs are uploaded, the kernel
// launched and checked, and only then is C read back, so a failure leaves the caller's output
// untouched; any CL error or a device that cannot hold the kernel's work-group is a
// BackendFailure (the dispatcher disables the variant and falls back).
//
// Tile sizes are the kernel files' defaults, derived there from WG_SIZE (the Session's build
// option, so the program-cache key covers them); the host mirrors them only to size the grid.
// The kernels stride over tiles / column groups, so a mismatch would cost time, never bits.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/tuning.h"
#include "dispatch/registry.h"
#include "host/src/gemm_act.h"
#include "host/src/validate.h"
#include "gemm_common.h"
#include "launch.h"
#include "quantize.h"
#include "reference/quantize.h"
#include "runtime.h"

namespace tessera::detail::opencl {

namespace {
static_assert(static_cast<int>(ref::OutType::F32) == 0 && static_cast<int>(ref::OutType::BF16) == 1 &&
              static_cast<int>(ref::OutType::F16) == 2); // TSR_OUT_* of kernels/common/gemm_common.cl

constexpr size_t kGemvSplit = 64;    // GEMV_SPLIT default (or WG_SIZE when smaller)

// The two exact kernels differ in their grid, their build options and (NVFP4) one argument.
enum class Kind { Tiled, Gemv };

// The tiled kernels' geometry on this device, from record v's tuning row (core/tuning.cpp),
// which the kernels take as build options; TILE_N follows from the session's work-group size
// as the kernels derive it.
struct Tile {
  size_t tile_m, wpt_m, wpt_n;
  size_t rows_of_items() const { return tile_m / wpt_m; } // TM_THREADS: the fewest work-items
  size_t tile_n(size_t wg) const { return (wg / rows_of_items()) * wpt_n; }
};

Tile tile(const Session& s, const core::Variant& v) {
  const core::TuningRow& t = core::tuning(v, s.facts());
  return {static_cast<size_t>(t.get("TILE_M")), static_cast<size_t>(t.get("WPT_M")),
          static_cast<size_t>(t.get("WPT_N"))};
}

// Entry point `form` (0: per-tensor, 1: block-scaled) of exact GEMM record v, built for this
// device; the decode kernel with the rows its manifest gives it (GEMV_MAX_M sizes its per-row
// partial sums), the tiled one with its tuning row's tile.
cl_kernel exact_kernel(Session& s, const core::Variant& v, Kind kind, size_t form) {
  const std::string_view name = entry(v, form);
  std::string defines = fmt::format("-DGEMV_MAX_M={}", v.manifest.limits.max_m);
  if (kind == Kind::Tiled) {
    const Tile t = tile(s, v);
    if (s.work_group_size() < t.rows_of_items() || s.work_group_size() % t.rows_of_items() != 0)
      throw BackendFailure(fmt::format("opencl: {} {}: work-groups of {} on {}; the tile needs a multiple of {}",
                                       v.op, v.name, s.work_group_size(), s.facts().name, t.rows_of_items()));
    defines = fmt::format("-DTILE_M={} -DWPT_M={} -DWPT_N={}", t.tile_m, t.wpt_m, t.wpt_n);
  }
  cl_kernel k = s.kernel(v.manifest.source, name, defines);
  s.check_local_memory(k, name);
  return k;
}

// Work-groups for the grid-stride loops: one per output tile (tiled) or per column group (gemv),
// capped by Session::groups_for.
size_t gemm_groups(const Session& s, const core::Variant& v, Kind kind, int64_t M, int64_t N) {
  size_t wg = s.work_group_size();
  uint64_t units;
  if (kind == Kind::Tiled) {
    const Tile t = tile(s, v);
    const size_t tile_n = t.tile_n(wg);
    units = ((static_cast<uint64_t>(M) + t.tile_m - 1) / t.tile_m) *
            ((static_cast<uint64_t>(N) + tile_n - 1) / tile_n);
  } else {
    size_t cols = wg / std::min(wg, kGemvSplit);
    units = (static_cast<uint64_t>(N) + cols - 1) / cols;
  }
  return s.groups_for(units * wg);
}

// The decode kernel is the exact GEMM whose manifest bounds M: it keeps max_m rows of A
// (GEMV_MAX_M) in each work-group. For the fused GEMMs, which pick a record at launch.
Kind kind_of(const core::Variant& v) { return v.manifest.limits.max_m > 0 ? Kind::Gemv : Kind::Tiled; }

// C = alpha A B^T for NVFP4 on record v's kernel, A (a, a_scale) already on the device; a.a and
// a.a_scale are not read.
void nvfp4_on_device(Session& s, const core::Variant& v, Kind kind, const Mem& A, const Mem& SA,
                     const GemmNvfp4Args& a) {
  cl_kernel k = exact_kernel(s, v, kind, 0);
  Mem B = s.upload_any(a.b, bytes(a.N * a.K / 2, 1), "b");
  Mem SB = s.upload_any(a.b_scale, bytes(a.N * a.K / 16, 1), "b_scale");
  Epilogue e = epilogue(s, a.bias, a.M, a.N, a.out);
  const size_t groups = gemm_groups(s, v, kind, a.M, a.N);
  if (kind == Kind::Gemv) // the gemv kernel also takes B's layout (tessera/weights.h)
    s.launch(k, entry(v, 0), groups, A, SA, B, SB, static_cast<cl_int>(a.M), static_cast<cl_int>(a.N),
             static_cast<cl_int>(a.K), static_cast<cl_float>(a.alpha), e.bias, e.has_bias, e.out_type, e.c,
             static_cast<cl_int>(a.b_kblock_interleaved));
  else
    s.launch(k, entry(v, 0), groups, A, SA, B, SB, static_cast<cl_int>(a.M), static_cast<cl_int>(a.N),
             static_cast<cl_int>(a.K), static_cast<cl_float>(a.alpha), e.bias, e.has_bias, e.out_type, e.c);
  s.finish();
  s.read(e.c, a.c, e.c_bytes, "c");
}

void nvfp4_exact(int device, const core::Variant& v, Kind kind, const GemmNvfp4Args& a) {
  set_last_device_ms(0.0);
  if (a.M == 0 || a.N == 0) return;
  Session s(device, v.op);
  Mem A = s.upload_any(a.a, bytes(a.M * a.K / 2, 1), "a");
  Mem SA = s.upload_any(a.a_scale, bytes(a.M * a.K / 16, 1), "a_scale");
  nvfp4_on_device(s, v, kind, A, SA, a);
}

// Block-scaled FP8 on record v's kernel, A (a, a_scale) already on the device.
void fp8_block_on_device(Session& s, const core::Variant& v, Kind kind, const Mem& A, const Mem& SA,
                         const GemmFp8BlockArgs& a) {
  cl_kernel k = exact_kernel(s, v, kind, 1);
  const int64_t kbs = (a.K + 127) / 128;
  Mem B = s.upload_any(a.b, bytes(a.N * a.K, 1), "b");
  Mem SB = s.upload_any(a.b_scale, bytes(((a.N + 127) / 128) * kbs, 4), "b_scale");
  Epilogue e = epilogue(s, a.bias, a.M, a.N, a.out);
  s.launch(k, entry(v, 1), gemm_groups(s, v, kind, a.M, a.N), A, SA, B, SB, static_cast<cl_int>(a.M),
           static_cast<cl_int>(a.N), static_cast<cl_int>(a.K), e.bias, e.has_bias, e.out_type, e.c);
  s.finish();
  s.read(e.c, a.c, e.c_bytes, "c");
}

void fp8_block_exact(int device, const core::Variant& v, Kind kind, const GemmFp8BlockArgs& a) {
  set_last_device_ms(0.0);
  if (a.M == 0 || a.N == 0) return;
  Session s(device, v.op);
  Mem A = s.upload_any(a.a, bytes(a.M * a.K, 1), "a");
  Mem SA = s.upload_any(a.a_scale, bytes(a.M * ((a.K + 127) / 128), 4), "a_scale");
  fp8_block_on_device(s, v, kind, A, SA, a);
}

void fp8_exact(int device, const core::Variant& v, Kind kind, const GemmFp8Args& a) {
  set_last_device_ms(0.0);
  if (a.M == 0 || a.N == 0) return;
  Session s(device, v.op);
  cl_kernel k = exact_kernel(s, v, kind, 0);
  Mem A = s.upload_any(a.a, bytes(a.M * a.K, 1), "a");
  Mem B = s.upload_any(a.b, bytes(a.N * a.K, 1), "b");
  Epilogue e = epilogue(s, a.bias, a.M, a.N, a.out);
  s.launch(k, entry(v, 0), gemm_groups(s, v, kind, a.M, a.N), A, B, static_cast<cl_int>(a.M), static_cast<cl_int>(a.N),
           static_cast<cl_int>(a.K), static_cast<cl_float>(a.alpha), e.bias, e.has_bias, e.out_type, e.c);
  s.finish();
  s.read(e.c, a.c, e.c_bytes, "c");
}
} // namespace

void gemm_nvfp4_gemv(int device, const core::Variant& v, const GemmNvfp4Args& a) {
  nvfp4_exact(device, v, Kind::Gemv, a);
}

void gemm_nvfp4_tiled(int device, const core::Variant& v, const GemmNvfp4Args& a) {
  // Only the prepacked call sets the flag, and only for the gemv (host/src/weights.cpp).
  if (a.b_kblock_interleaved)
    throw BackendFailure(fmt::format("opencl: {} {} reads B in checkpoint layout only", v.op, v.name));
  nvfp4_exact(device, v, Kind::Tiled, a);
}

void gemm_fp8_gemv(int device, const core::Variant& v, const GemmFp8Args& a) { fp8_exact(device, v, Kind::Gemv, a); }
void gemm_fp8_tiled(int device, const core::Variant& v, const GemmFp8Args& a) { fp8_exact(device, v, Kind::Tiled, a); }

void gemm_fp8_block_gemv(int device, const core::Variant& v, const GemmFp8BlockArgs& a) {
  fp8_block_exact(device, v, Kind::Gemv, a);
}

void gemm_fp8_block_tiled(int device, const core::Variant& v, const GemmFp8BlockArgs& a) {
  fp8_block_exact(device, v, Kind::Tiled, a);
}

// ---- GEMMs with the activation quantized in front (host/src/gemm_act.h) --------------------
// Variant "quantize_then_gemm": the quantize kernels of its manifest's file and then an exact
// GEMM kernel, in one Session: x is uploaded once, the quantized activations stay in device
// buffers, and c is read back once. W4A4 reads back the 4-byte activation scale_2 between the
// two, because the GEMM's alpha = RN(a_scale_2 * b_scale_2) is a kernel argument.
// The inner GEMM is exact_gemm("opencl", ...)'s record (host/src/gemm_act.h).
void gemm_nvfp4_act(int device, const core::Variant& v, const GemmNvfp4ActArgs& a) {
  constexpr std::string_view op = "gemm_nvfp4_act";
  set_last_device_ms(0.0);
  const int64_t n = a.M * a.K;
  if (a.M == 0 || a.N == 0) { // no output: scale_2 as the reference defines it, on the host
    *a.a_scale_2 = a.static_a_scale_2 ? *a.static_a_scale_2 : ref::nvfp4_scale_2(a.x, n, false);
    return;
  }
  const core::Variant& gemm = exact_gemm("opencl", device, "gemm_nvfp4", a.M, a.N, a.K, false);
  Session s(device, op);
  Mem q = s.upload_any(nullptr, 0, "q"), sa = s.upload_any(nullptr, 0, "a_scale");
  float s2 = a.static_a_scale_2.value_or(1.0f); // amax of nothing is 0: scale_2 1.0
  if (n > 0) {
    Mem x = s.upload(a.x, bytes(n, 4), "x");
    Mem scale_2 = s.alloc(sizeof(cl_float), "scale_2");
    Mem bad = s.alloc(sizeof(cl_ulong), "non-finite index");
    q = s.alloc(bytes(n / 2, 1), "q");
    sa = s.alloc(bytes(n / 16, 1), "a_scale");
    launch_nvfp4_quantize(s, v.manifest.source, x, n, false, a.static_a_scale_2, scale_2, bad, q, sa);
    // Each read back waits for the device: only what the host needs. A host x was checked for
    // NaN and inf on the host; a resident one is checked by sync() (Session::check_at_sync),
    // unless the call waits anyway for a computed scale_2. A static scale_2 is known already.
    if (device_memory::resident(a.x) && a.static_a_scale_2) {
      s.check_at_sync(bad, "x", a.M, a.K);
    } else if (device_memory::resident(a.x)) {
      cl_ulong first_bad = 0;
      s.read(bad, &first_bad, sizeof first_bad, "non-finite index");
      if (first_bad != kNoIndex) non_finite(s, op, x, a.M, a.K, first_bad);
    }
    if (!a.static_a_scale_2) s.read(scale_2, &s2, sizeof s2, "scale_2");
  }
  float alpha = s2 * a.b_scale_2;
  if (!std::isfinite(alpha))
    detail::fail(ErrorCode::InvalidArgument, "{}: alpha = a_scale_2 * b_scale_2 = {} * {} is not finite", op, s2, a.b_scale_2);
  // B in checkpoint layout (b_kblock_interleaved false).
  nvfp4_on_device(s, gemm, kind_of(gemm), q, sa,
                  GemmNvfp4Args{nullptr, nullptr, a.b, a.b_scale, a.M, a.N, a.K, alpha, a.bias, a.out, a.c});
  *a.a_scale_2 = s2;
}

void gemm_fp8_act(int device, const core::Variant& v, const GemmFp8ActArgs& a) {
  constexpr std::string_view op = "gemm_fp8_act";
  set_last_device_ms(0.0);
  if (a.M == 0 || a.N == 0) return;
  const core::Variant& gemm = exact_gemm("opencl", device, "gemm_fp8", a.M, a.N, a.K, true);
  Session s(device, op);
  const int64_t n = a.M * a.K, kbs = (a.K + 127) / 128;
  Mem q = s.upload_any(nullptr, 0, "q"), sa = s.upload_any(nullptr, 0, "a_scale");
  if (n > 0) {
    Mem x = s.upload(a.x, bytes(n, 4), "x");
    q = s.alloc(bytes(n, 1), "q");
    sa = s.alloc(bytes(a.M * kbs, 4), "a_scale");
    launch_fp8_groups(s, v.manifest.source, x, a.M, a.K, 1, sa, q); // token128: groups of 1 x 128
    if (device_memory::resident(a.x)) { // the host checked a host x for NaN and inf; this one is checked here
      const Mem& unused = s.scratch(sizeof(cl_float), "tensor scale");
      const Mem& bad = s.scratch(sizeof(cl_ulong), "non-finite index");
      launch_amax(s, v.manifest.source, x, n, 448.0f, false, 0.0f, unused, bad);
      s.check_at_sync(bad, "x", a.M, a.K);
    }
  }
  fp8_block_on_device(s, gemm, kind_of(gemm), q, sa,
                      GemmFp8BlockArgs{nullptr, nullptr, a.b, a.b_scale, a.M, a.N, a.K, a.bias, a.out, a.c});
}

} // namespace tessera::detail::opencl
