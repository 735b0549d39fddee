// The opencl GEMM launchers (numerics.md section 4), kernels/gemm/*.cl: "tiled_exact" (prefill
// M) and "gemv_splitk_exact" (decode, M <= 16) for NVFP4 x NVFP4 and both FP8 scale forms. The
// args arrive validated. Inputs are uploaded, the kernel launched and checked, and only then is
// C read back, so a failure leaves the caller's output untouched; any CL error, an unknown
// variant or a device that cannot hold the kernel's work-group is a BackendFailure (the
// dispatcher disables the variant and falls back).
//
// Tile sizes are the kernel files' defaults, derived there from WG_SIZE (the Session's build
// option, so the program-cache key covers them); the host mirrors them only to size the grid.
// The kernels stride over tiles / column groups, so a mismatch would cost time, never bits.
//
// Also here: gemm_nvfp4_act / gemm_fp8_act ("quantize_then_gemm", host/src/gemm_act.h), and
// the gemv's B-layout argument for prepacked weights (tessera/weights.h).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "host/src/backends.h"
#include "host/src/gemm_act.h"
#include "host/src/validate.h"
#include "reference/quantize.h"
#include "gemm_tensor_core.h"
#include "runtime.h"

namespace tessera::detail::opencl {

namespace {
static_assert(static_cast<int>(ref::OutType::F32) == 0 && static_cast<int>(ref::OutType::BF16) == 1 &&
              static_cast<int>(ref::OutType::F16) == 2); // TSR_OUT_* of kernels/common/gemm_common.cl

constexpr int64_t kGemvMaxM = 16;   // GEMV_MAX_M of the gemv kernels
constexpr size_t kGemvSplit = 64;   // GEMV_SPLIT default (or WG_SIZE when smaller)
constexpr size_t kTileM = 64;       // TILE_M default; TILE_N = (WG_SIZE / (TILE_M / 4)) * 4
constexpr size_t kMinWorkGroup = 16; // the tiled kernels' TILE_M / WPT_M; >= GEMV_MAX_M

enum class Kind { Tiled, Gemv };

Kind kind_of(std::string_view op, std::string_view variant, int64_t M) {
  Kind k;
  if (variant == "tiled_exact")
    k = Kind::Tiled;
  else if (variant == "gemv_splitk_exact")
    k = Kind::Gemv;
  else
    throw BackendFailure(fmt::format(
        "opencl: {} has no variant '{}' (known: tiled_exact, gemv_splitk_exact)", op, variant));
  if (k == Kind::Gemv && M > kGemvMaxM)
    throw BackendFailure(fmt::format("opencl: {} gemv_splitk_exact: M = {} > {}", op, M, kGemvMaxM));
  return k;
}

size_t bytes(int64_t n, size_t each) { return static_cast<size_t>(n) * each; }

// OpenCL has no empty buffers: an empty input (K = 0) or an absent bias becomes a small dummy
// the kernel never reads.
Mem upload_any(Session& s, const void* src, size_t n, std::string_view what) {
  static const float dummy[1] = {0.0f};
  return n == 0 || src == nullptr ? s.upload(dummy, sizeof dummy, what) : s.upload(src, n, what);
}

// The kernel, checked against the device's limits: the launch size must fit the kernel's work-
// group limit (Session::kernel checks) and its local memory the device's (read from the device).
cl_kernel gemm_kernel(Session& s, std::string_view op, std::string_view file, std::string_view name) {
  if (s.work_group_size() < kMinWorkGroup)
    throw BackendFailure(fmt::format("opencl: {}: work-groups of {} on {}; {} needs at least {}",
                                     op, s.work_group_size(), s.facts().name, name, kMinWorkGroup));
  cl_kernel k = s.kernel(file, name);
  cl_ulong local = 0;
  // One device per context, so the device argument may be null.
  check(clGetKernelWorkGroupInfo(k, nullptr, CL_KERNEL_LOCAL_MEM_SIZE, sizeof local, &local, nullptr),
        "clGetKernelWorkGroupInfo(CL_KERNEL_LOCAL_MEM_SIZE)");
  if (s.facts().local_memory_bytes > 0 && local > static_cast<cl_ulong>(s.facts().local_memory_bytes))
    throw BackendFailure(fmt::format("opencl: {}: {} needs {} bytes of local memory, {} has {}", op,
                                     name, local, s.facts().name, s.facts().local_memory_bytes));
  return k;
}

// Work-groups for the grid-stride loops: one per output tile (tiled) or per column group (gemv),
// capped by Session::groups_for.
size_t gemm_groups(const Session& s, Kind kind, int64_t M, int64_t N) {
  size_t wg = s.work_group_size();
  uint64_t units;
  if (kind == Kind::Tiled) {
    size_t tile_n = (wg / (kTileM / 4)) * 4;
    units = ((static_cast<uint64_t>(M) + kTileM - 1) / kTileM) *
            ((static_cast<uint64_t>(N) + tile_n - 1) / tile_n);
  } else {
    size_t cols = wg / std::min(wg, kGemvSplit);
    units = (static_cast<uint64_t>(N) + cols - 1) / cols;
  }
  return s.groups_for(units * wg);
}

struct Epilogue {
  Mem bias;
  cl_int has_bias;
  cl_int out_type;
  Mem c;
  size_t c_bytes;
};

Epilogue epilogue(Session& s, const float* bias, int64_t M, int64_t N, ref::OutType out) {
  size_t each = out == ref::OutType::F32 ? 4 : 2;
  size_t c_bytes = bytes(M * N, each);
  return {upload_any(s, bias, bias ? bytes(N, 4) : 0, "bias"), static_cast<cl_int>(bias != nullptr),
          static_cast<cl_int>(out), s.alloc(c_bytes, "c"), c_bytes};
}
} // namespace

void run(int device, std::string_view variant, const GemmNvfp4Args& a) {
  if (variant.starts_with("nv_")) return run_tensor_core(device, variant, a); // gemm_tensor_core.cpp
  constexpr std::string_view op = "gemm_nvfp4";
  Kind kind = kind_of(op, variant, a.M);
  if (a.b_kblock_interleaved && kind != Kind::Gemv)
    throw BackendFailure(fmt::format("opencl: {} {} reads B in checkpoint layout only", op, variant));
  set_last_device_ms(0.0);
  if (a.M == 0 || a.N == 0) return;
  Session s(device, op);
  const char* file = kind == Kind::Tiled ? "gemm/nvfp4_tiled.cl" : "gemm/nvfp4_gemv_splitk.cl";
  const char* name = kind == Kind::Tiled ? "nvfp4_gemm_tiled" : "nvfp4_gemv_splitk";
  cl_kernel k = gemm_kernel(s, op, file, name);
  Mem A = upload_any(s, a.a, bytes(a.M * a.K / 2, 1), "a");
  Mem SA = upload_any(s, a.a_scale, bytes(a.M * a.K / 16, 1), "a_scale");
  Mem B = upload_any(s, a.b, bytes(a.N * a.K / 2, 1), "b");
  Mem SB = upload_any(s, a.b_scale, bytes(a.N * a.K / 16, 1), "b_scale");
  Epilogue e = epilogue(s, a.bias, a.M, a.N, a.out);
  if (kind == Kind::Gemv) // the gemv kernel also takes B's layout (tessera/weights.h)
    s.launch(k, name, gemm_groups(s, kind, a.M, a.N), A, SA, B, SB, static_cast<cl_int>(a.M),
             static_cast<cl_int>(a.N), static_cast<cl_int>(a.K), static_cast<cl_float>(a.alpha), e.bias,
             e.has_bias, e.out_type, e.c, static_cast<cl_int>(a.b_kblock_interleaved));
  else
    s.launch(k, name, gemm_groups(s, kind, a.M, a.N), A, SA, B, SB, static_cast<cl_int>(a.M),
             static_cast<cl_int>(a.N), static_cast<cl_int>(a.K), static_cast<cl_float>(a.alpha), e.bias,
             e.has_bias, e.out_type, e.c);
  s.finish();
  s.read(e.c, a.c, e.c_bytes, "c");
}

void run(int device, std::string_view variant, const GemmFp8Args& a) {
  if (variant.starts_with("nv_")) return run_tensor_core(device, variant, a); // gemm_tensor_core.cpp
  constexpr std::string_view op = "gemm_fp8";
  Kind kind = kind_of(op, variant, a.M);
  set_last_device_ms(0.0);
  if (a.M == 0 || a.N == 0) return;
  Session s(device, op);
  const char* file = kind == Kind::Tiled ? "gemm/fp8_tiled.cl" : "gemm/fp8_gemv_splitk.cl";
  const char* name = kind == Kind::Tiled ? "fp8_gemm_tiled" : "fp8_gemv_splitk";
  cl_kernel k = gemm_kernel(s, op, file, name);
  Mem A = upload_any(s, a.a, bytes(a.M * a.K, 1), "a");
  Mem B = upload_any(s, a.b, bytes(a.N * a.K, 1), "b");
  Epilogue e = epilogue(s, a.bias, a.M, a.N, a.out);
  s.launch(k, name, gemm_groups(s, kind, a.M, a.N), A, B, static_cast<cl_int>(a.M),
           static_cast<cl_int>(a.N), static_cast<cl_int>(a.K), static_cast<cl_float>(a.alpha), e.bias,
           e.has_bias, e.out_type, e.c);
  s.finish();
  s.read(e.c, a.c, e.c_bytes, "c");
}

void run(int device, std::string_view variant, const GemmFp8BlockArgs& a) {
  if (variant.starts_with("nv_")) return run_tensor_core(device, variant, a); // gemm_tensor_core.cpp
  constexpr std::string_view op = "gemm_fp8";
  Kind kind = kind_of(op, variant, a.M);
  set_last_device_ms(0.0);
  if (a.M == 0 || a.N == 0) return;
  Session s(device, op);
  const char* file = kind == Kind::Tiled ? "gemm/fp8_tiled.cl" : "gemm/fp8_gemv_splitk.cl";
  const char* name = kind == Kind::Tiled ? "fp8_block_gemm_tiled" : "fp8_block_gemv_splitk";
  cl_kernel k = gemm_kernel(s, op, file, name);
  int64_t kbs = (a.K + 127) / 128;
  Mem A = upload_any(s, a.a, bytes(a.M * a.K, 1), "a");
  Mem SA = upload_any(s, a.a_scale, bytes(a.M * kbs, 4), "a_scale");
  Mem B = upload_any(s, a.b, bytes(a.N * a.K, 1), "b");
  Mem SB = upload_any(s, a.b_scale, bytes(((a.N + 127) / 128) * kbs, 4), "b_scale");
  Epilogue e = epilogue(s, a.bias, a.M, a.N, a.out);
  s.launch(k, name, gemm_groups(s, kind, a.M, a.N), A, SA, B, SB, static_cast<cl_int>(a.M),
           static_cast<cl_int>(a.N), static_cast<cl_int>(a.K), e.bias, e.has_bias, e.out_type, e.c);
  s.finish();
  s.read(e.c, a.c, e.c_bytes, "c");
}


// ---- GEMMs with the activation quantized in front (host/src/gemm_act.h) --------------------
// Variant "quantize_then_gemm": the quantize kernels of kernels/quant/ and then the exact GEMM
// kernel above, in one Session: x is uploaded once, the quantized activations stay in device
// buffers, and c is read back once. W4A4 reads back the 4-byte activation scale_2 between the
// two, because the GEMM's alpha = RN(a_scale_2 * b_scale_2) is a kernel argument.
namespace {
constexpr cl_ulong kActNoIndex = ~cl_ulong{0}; // amax_finalize's "every element finite"

void expect_act_variant(std::string_view op, std::string_view variant) {
  if (variant != "quantize_then_gemm")
    throw BackendFailure(fmt::format("opencl: {} has no variant '{}' (known: quantize_then_gemm)", op, variant));
}

// The quantizers divide: bit-exact only where division is IEEE's (as in ops.cpp).
void expect_exact_divide(const Session& s, std::string_view op) {
  if (!s.facts().correctly_rounded_divide)
    throw BackendFailure(fmt::format("opencl: {}: {} has no correctly rounded fp32 division", op, s.facts().name));
}
} // namespace

void run(int device, std::string_view variant, const GemmNvfp4ActArgs& a) {
  constexpr std::string_view op = "gemm_nvfp4_act";
  constexpr std::string_view qfile = "quant/nvfp4_quantize.cl";
  expect_act_variant(op, variant);
  set_last_device_ms(0.0);
  Kind kind = a.M <= kGemvMaxM ? Kind::Gemv : Kind::Tiled;
  int64_t n = a.M * a.K, nblocks = n / 16;
  if (a.M == 0 || a.N == 0) { // no output: scale_2 as the reference defines it, on the host
    *a.a_scale_2 = a.static_a_scale_2 ? *a.static_a_scale_2 : ref::nvfp4_scale_2(a.x, n, false);
    return;
  }
  Session s(device, op);
  expect_exact_divide(s, op);
  Mem q = upload_any(s, nullptr, 0, "q"), sa = upload_any(s, nullptr, 0, "a_scale");
  float s2 = a.static_a_scale_2.value_or(1.0f); // amax of nothing is 0: scale_2 1.0
  if (n > 0) {
    Mem x = s.upload(a.x, bytes(n, 4), "x");
    Mem scale_2 = s.alloc(sizeof(cl_float), "scale_2");
    Mem bad = s.alloc(sizeof(cl_ulong), "non-finite index");
    q = s.alloc(bytes(n / 2, 1), "q");
    sa = s.alloc(bytes(nblocks, 1), "a_scale");
    size_t groups = s.groups_for(static_cast<uint64_t>(n));
    const Mem& part_max = s.scratch(groups * sizeof(cl_uint), "partial maxima");
    const Mem& part_bad = s.scratch(groups * sizeof(cl_ulong), "partial indices");
    s.launch(s.kernel(qfile, "amax_partial"), "amax_partial", groups, x, static_cast<cl_ulong>(n), part_max, part_bad);
    s.launch(s.kernel(qfile, "amax_finalize"), "amax_finalize", 1, part_max, part_bad, static_cast<cl_uint>(groups),
             static_cast<cl_float>(2688.0f), static_cast<cl_int>(a.static_a_scale_2.has_value()),
             static_cast<cl_float>(s2), scale_2, bad);
    s.launch(s.kernel(qfile, "nvfp4_quantize_blocks"), "nvfp4_quantize_blocks",
             s.groups_for(static_cast<uint64_t>(nblocks)), x, static_cast<cl_ulong>(nblocks), scale_2,
             static_cast<cl_int>(0), q, sa);
    cl_ulong first_bad = 0;
    s.read(bad, &first_bad, sizeof first_bad, "non-finite index"); // blocking: the quantizer is done
    if (first_bad != kActNoIndex) // the host checked x: a device that disagrees is broken
      throw BackendFailure(fmt::format("opencl: {}: the device reports x[{}] non-finite; the host found none", op, first_bad));
    s.read(scale_2, &s2, sizeof s2, "scale_2");
  }
  float alpha = s2 * a.b_scale_2;
  if (!std::isfinite(alpha))
    detail::fail(ErrorCode::InvalidArgument, "{}: alpha = a_scale_2 * b_scale_2 = {} * {} is not finite", op, s2, a.b_scale_2);
  const char* file = kind == Kind::Tiled ? "gemm/nvfp4_tiled.cl" : "gemm/nvfp4_gemv_splitk.cl";
  const char* name = kind == Kind::Tiled ? "nvfp4_gemm_tiled" : "nvfp4_gemv_splitk";
  cl_kernel k = gemm_kernel(s, op, file, name);
  Mem B = upload_any(s, a.b, bytes(a.N * a.K / 2, 1), "b");
  Mem SB = upload_any(s, a.b_scale, bytes(a.N * a.K / 16, 1), "b_scale");
  Epilogue e = epilogue(s, a.bias, a.M, a.N, a.out);
  if (kind == Kind::Gemv)
    s.launch(k, name, gemm_groups(s, kind, a.M, a.N), q, sa, B, SB, static_cast<cl_int>(a.M), static_cast<cl_int>(a.N),
             static_cast<cl_int>(a.K), static_cast<cl_float>(alpha), e.bias, e.has_bias, e.out_type, e.c,
             static_cast<cl_int>(0)); // B in checkpoint layout
  else
    s.launch(k, name, gemm_groups(s, kind, a.M, a.N), q, sa, B, SB, static_cast<cl_int>(a.M), static_cast<cl_int>(a.N),
             static_cast<cl_int>(a.K), static_cast<cl_float>(alpha), e.bias, e.has_bias, e.out_type, e.c);
  s.finish();
  s.read(e.c, a.c, e.c_bytes, "c");
  *a.a_scale_2 = s2;
}

void run(int device, std::string_view variant, const GemmFp8ActArgs& a) {
  constexpr std::string_view op = "gemm_fp8_act";
  expect_act_variant(op, variant);
  set_last_device_ms(0.0);
  Kind kind = a.M <= kGemvMaxM ? Kind::Gemv : Kind::Tiled;
  if (a.M == 0 || a.N == 0) return;
  Session s(device, op);
  expect_exact_divide(s, op);
  int64_t n = a.M * a.K, kbs = (a.K + 127) / 128;
  Mem q = upload_any(s, nullptr, 0, "q"), sa = upload_any(s, nullptr, 0, "a_scale");
  if (n > 0) {
    Mem x = s.upload(a.x, bytes(n, 4), "x");
    q = s.alloc(bytes(n, 1), "q");
    sa = s.alloc(bytes(a.M * kbs, 4), "a_scale");
    // token128: groups of one row by 128 columns, a work-group each (grid-stride).
    size_t groups = s.groups_for(static_cast<uint64_t>(a.M * kbs) * s.work_group_size());
    s.launch(s.kernel("quant/fp8_quantize.cl", "fp8_quantize_groups"), "fp8_quantize_groups", groups, x,
             static_cast<cl_ulong>(a.M), static_cast<cl_ulong>(a.K), static_cast<cl_ulong>(1), sa, q);
  }
  const char* file = kind == Kind::Tiled ? "gemm/fp8_tiled.cl" : "gemm/fp8_gemv_splitk.cl";
  const char* name = kind == Kind::Tiled ? "fp8_block_gemm_tiled" : "fp8_block_gemv_splitk";
  cl_kernel k = gemm_kernel(s, op, file, name);
  Mem B = upload_any(s, a.b, bytes(a.N * a.K, 1), "b");
  Mem SB = upload_any(s, a.b_scale, bytes(((a.N + 127) / 128) * kbs, 4), "b_scale");
  Epilogue e = epilogue(s, a.bias, a.M, a.N, a.out);
  s.launch(k, name, gemm_groups(s, kind, a.M, a.N), q, sa, B, SB, static_cast<cl_int>(a.M), static_cast<cl_int>(a.N),
           static_cast<cl_int>(a.K), e.bias, e.has_bias, e.out_type, e.c);
  s.finish();
  s.read(e.c, a.c, e.c_bytes, "c");
}

} // namespace tessera::detail::opencl
