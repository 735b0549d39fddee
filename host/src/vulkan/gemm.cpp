// The vulkan launch functions of the exact GEMMs (numerics.md section 4), kernels/gemm/*.comp:
// "gemv_splitk_exact" (decode: at most the manifest's max_m rows of A, which the shader is
// specialized for as MAX_M) and "tiled_exact" (any M), each for NVFP4 x NVFP4 and both FP8 scale
// forms. All four shaders share one interface (kernels/common/gemm.glsl): six storage buffers
// and the same push constants, so one routine launches them, the shader named by the record's
// manifest. The args arrive validated and within the records' limits (the registry checks M
// against max_m and 32-bit indexing against the problem's "elements"). As in ops.cpp, outputs
// are copied out only after the batch succeeded, so a failure (a device that cannot run the
// shader's workgroup, a Vulkan error) writes nothing and throws BackendFailure.
// Also here: gemm_nvfp4_act / gemm_fp8_act ("quantize_then_gemm", host/src/gemm_act.h), which
// quantize on the device and then run the exact GEMM record exact_gemm() picks, and flag bit 3
// of the nvfp4 gemv for prepacked weights (tessera/weights.h).
#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>

#include "batch.h"
#include "core/error.h"
#include "core/tuning.h"
#include "host/src/device_memory.h"
#include "host/src/gemm_act.h"
#include "host/src/validate.h"
#include "kernels/gemm/geometry.h"
#include "launch.h"
#include "reference/quantize.h"

namespace tessera::detail::vulkan {

namespace {

struct GemmPush {
  uint32_t M, N, K, alpha, flags;
};

enum class Kind { Tiled, Gemv };

// The decode shader is the exact GEMM whose manifest bounds M: it keeps max_m rows of A (its
// specialization constant MAX_M). For the fused GEMMs, which pick a record at launch.
Kind kind_of(const core::Variant& v) { return v.manifest.limits.max_m > 0 ? Kind::Gemv : Kind::Tiled; }

// One operand of a launch: host bytes and their count (nullptr: a 4-byte placeholder binding).
struct Input {
  const void* data;
  size_t bytes;
};

uint32_t out_flags(ref::OutType t, bool bias) {
  uint32_t type = t == ref::OutType::F32 ? 0u : t == ref::OutType::BF16 ? 1u : 2u;
  return type | (bias ? 4u : 0u);
}

// The tiled shaders' geometry on device d, from record v's tuning row (core/tuning.cpp), which
// the shaders take as specialization constants 1-4.
struct Tile {
  uint32_t bm, bn, tm, tn;
  uint32_t workgroup() const { return (bm / tm) * (bn / tn); }
};

Tile tile(const Device& d, const core::Variant& v) {
  const core::TuningRow& t = core::tuning(v, devices()[static_cast<size_t>(d.index)]);
  auto get = [&](std::string_view name) { return static_cast<uint32_t>(t.get(name)); };
  return {get("BM"), get("BN"), get("TM"), get("TN")};
}

// The pipeline of exact GEMM record v's shader in its build `build` ("" for NVFP4, "tensor" or
// "block" for FP8), plain or ".rte": the gemv specialized for the manifest's max_m rows, the
// tiled shader for its tuning row's tile.
const Kernel& exact_kernel(Device& d, const core::Variant& v, std::string_view build) {
  const Kind kind = kind_of(v);
  const Tile t = kind == Kind::Tiled ? tile(d, v) : Tile{};
  // The gemv's workgroup is its manifest's (the WG its layout is written for).
  const uint32_t want = kind == Kind::Tiled ? t.workgroup() : static_cast<uint32_t>(v.manifest.limits.workgroup);
  const uint32_t wg = workgroup_size(d, want);
  if (wg != want)
    backend_failure(fmt::format("{} {}: the shader needs {} invocations a workgroup; the device takes {}", v.op,
                                v.name, want, wg));
  const std::string spv = fp32_shader(d, shader_base(v, 0, build));
  if (kind == Kind::Gemv) return kernel(d, spv, 6, sizeof(GemmPush), wg, {static_cast<uint32_t>(v.manifest.limits.max_m)});
  return kernel(d, spv, 6, sizeof(GemmPush), wg, {t.bm, t.bn, t.tm, t.tn});
}

uint32_t exact_groups(const Device& d, const core::Variant& v, int64_t M, int64_t N, uint32_t wg) {
  uint64_t groups;
  if (kind_of(v) == Kind::Tiled) {
    const Tile t = tile(d, v);
    groups = uint64_t((M + t.bm - 1) / t.bm) * uint64_t((N + t.bn - 1) / t.bn);
  } else {
    groups = uint64_t((N + GEMV_COLS - 1) / GEMV_COLS);
  }
  return group_count(d, groups * wg, wg);
}

// Uploads a, sa, b, sb (bindings 0-3) and the bias, runs record v's shader in build `build`, and
// writes c.
void launch(int device_index, const core::Variant& v, std::string_view build, const Input (&in)[4], int64_t M,
            int64_t N, int64_t K, float alpha, const float* bias, ref::OutType out, void* c, uint32_t extra_flags = 0) {
  set_last_device_ms(0.0); // also when this run fails
  Device& d = device(device_index);
  if (M == 0 || N == 0) return;
  size_t out_bytes = static_cast<size_t>(M * N) * (out == ref::OutType::F32 ? 4 : 2);
  GemmPush push{static_cast<uint32_t>(M), static_cast<uint32_t>(N), static_cast<uint32_t>(K),
                std::bit_cast<uint32_t>(alpha), out_flags(out, bias != nullptr) | extra_flags};

  std::lock_guard lock(d.mutex);
  const Kernel& k = exact_kernel(d, v, build);
  // Buffer checks maxStorageBufferRange and maxMemoryAllocationSize for every size.
  Buffer a(d, in[0].bytes), sa(d, in[1].bytes), b(d, in[2].bytes), sb(d, in[3].bytes);
  Buffer bias_buf(d, bias ? static_cast<size_t>(N) * 4 : 4), cbuf(d, out_bytes);
  Buffer* bufs[4] = {&a, &sa, &b, &sb};
  Batch batch(d, v.op);
  for (int i = 0; i < 4; ++i)
    if (in[i].data) batch.upload(*bufs[i], 0, in[i].data, in[i].bytes);
  if (bias) batch.upload(bias_buf, 0, bias, static_cast<size_t>(N) * 4);
  if (out != ref::OutType::F32) batch.fill(cbuf, 0, cbuf.size(), 0); // halves are OR-ed in
  batch.dispatch(k, {&a, &sa, &b, &sb, &bias_buf, &cbuf}, &push, exact_groups(d, v, M, N, k.workgroup));
  batch.finish();
  from_buffer(cbuf, 0, c, out_bytes);
}

size_t bytes(int64_t rows, int64_t cols, size_t size) {
  return static_cast<size_t>(rows) * static_cast<size_t>(cols) * size;
}

void nvfp4(int device_index, const core::Variant& v, const GemmNvfp4Args& a) {
  Input in[4] = {{a.a, bytes(a.M, a.K / 2, 1)},
                 {a.a_scale, bytes(a.M, a.K / 16, 1)},
                 {a.b, bytes(a.N, a.K / 2, 1)},
                 {a.b_scale, bytes(a.N, a.K / 16, 1)}};
  launch(device_index, v, "", in, a.M, a.N, a.K, a.alpha, a.bias, a.out, a.c,
         a.b_kblock_interleaved ? 8u : 0u); // flag bit 3: nvfp4_gemv_splitk.comp
}

void fp8(int device_index, const core::Variant& v, const GemmFp8Args& a) {
  Input in[4] = {{a.a, bytes(a.M, a.K, 1)}, {nullptr, 4}, {a.b, bytes(a.N, a.K, 1)}, {nullptr, 4}};
  launch(device_index, v, "tensor", in, a.M, a.N, a.K, a.alpha, a.bias, a.out, a.c);
}

void fp8_block(int device_index, const core::Variant& v, const GemmFp8BlockArgs& a) {
  int64_t kbs = (a.K + 127) / 128;
  Input in[4] = {{a.a, bytes(a.M, a.K, 1)},
                 {a.a_scale, bytes(a.M, kbs, 4)},
                 {a.b, bytes(a.N, a.K, 1)},
                 {a.b_scale, bytes((a.N + 127) / 128, kbs, 4)}};
  launch(device_index, v, "block", in, a.M, a.N, a.K, 1.0f, a.bias, a.out, a.c);
}

} // namespace

void gemm_nvfp4_gemv(int device, const core::Variant& v, const GemmNvfp4Args& a) { nvfp4(device, v, a); }

void gemm_nvfp4_tiled(int device, const core::Variant& v, const GemmNvfp4Args& a) {
  // Only the prepacked call sets the flag, and only for the gemv (host/src/weights.cpp).
  if (a.b_kblock_interleaved) backend_failure(fmt::format("{} {} reads B in checkpoint layout only", v.op, v.name));
  nvfp4(device, v, a);
}

void gemm_fp8_gemv(int device, const core::Variant& v, const GemmFp8Args& a) { fp8(device, v, a); }
void gemm_fp8_tiled(int device, const core::Variant& v, const GemmFp8Args& a) { fp8(device, v, a); }
void gemm_fp8_block_gemv(int device, const core::Variant& v, const GemmFp8BlockArgs& a) { fp8_block(device, v, a); }
void gemm_fp8_block_tiled(int device, const core::Variant& v, const GemmFp8BlockArgs& a) { fp8_block(device, v, a); }

// ---- GEMMs with the activation quantized in front (host/src/gemm_act.h) --------------------
// Variant "quantize_then_gemm": the quantize shaders of kernels/quant/ and then the shader of
// the exact GEMM record exact_gemm() picks (the decode gemv up to its manifest's max_m rows, as
// the registry would select for gemm_nvfp4 / gemm_fp8) on the device buffers they wrote, in one run
// (Batch): x is copied in once and c out once. Where the W4A4 GEMM's alpha = RN(a_scale_2 *
// b_scale_2), a push constant, needs the a_scale_2 the quantizer computed, the run waits for it
// between the two; else nothing comes back before c: a host x was checked for NaN and inf on the
// host (ops_gemm_act.cpp), and a resident one is checked by sync() (Batch::check_at_sync).
namespace {
constexpr uint32_t kActNoIndex = 0xFFFFFFFFu; // "no non-finite element" in stats[1] (ops.cpp)

// The GEMM half on exact GEMM record `gemm` (build `build` of its shader), recorded into the run's
// batch after the quantizer: q, sa on the device already; b, sb, bias copied in; c copied out.
void act_gemm(Batch& batch, Device& d, const core::Variant& gemm, std::string_view build, Buffer& q, Buffer& sa,
              const void* b, size_t b_bytes, const void* sb, size_t sb_bytes, int64_t M, int64_t N, int64_t K,
              float alpha, const float* bias, ref::OutType out, void* c) {
  const Kernel& k = exact_kernel(d, gemm, build);
  size_t out_bytes = static_cast<size_t>(M * N) * (out == ref::OutType::F32 ? 4 : 2);
  GemmPush push{static_cast<uint32_t>(M), static_cast<uint32_t>(N), static_cast<uint32_t>(K),
                std::bit_cast<uint32_t>(alpha), out_flags(out, bias != nullptr)};
  Buffer bb(d, b_bytes), sbb(d, sb_bytes), bias_buf(d, bias ? static_cast<size_t>(N) * 4 : 4), cbuf(d, out_bytes);
  batch.upload(bb, 0, b, b_bytes);
  batch.upload(sbb, 0, sb, sb_bytes);
  if (bias) batch.upload(bias_buf, 0, bias, static_cast<size_t>(N) * 4);
  if (out != ref::OutType::F32) batch.fill(cbuf, 0, cbuf.size(), 0); // halves are OR-ed in
  batch.dispatch(k, {&q, &sa, &bb, &sbb, &bias_buf, &cbuf}, &push, exact_groups(d, gemm, M, N, k.workgroup));
  batch.finish();
  from_buffer(cbuf, 0, c, out_bytes);
}
} // namespace

void gemm_nvfp4_act(int device_index, const core::Variant&, const GemmNvfp4ActArgs& a) {
  constexpr std::string_view op = "gemm_nvfp4_act";
  set_last_device_ms(0.0);
  Device& d = device(device_index);
  int64_t n = a.M * a.K;
  if (a.M == 0 || a.N == 0) { // no output: scale_2 as the reference defines it, on the host
    *a.a_scale_2 = a.static_a_scale_2 ? *a.static_a_scale_2 : ref::nvfp4_scale_2(a.x, n, false);
    return;
  }
  const core::Variant& gemm = exact_gemm("vulkan", device_index, "gemm_nvfp4", a.M, a.N, a.K, false);
  uint32_t nblocks = static_cast<uint32_t>(n / 16);
  struct {
    uint32_t nblocks, flags, static_scale_2;
  } push{nblocks, a.static_a_scale_2 ? 2u : 0u, a.static_a_scale_2 ? std::bit_cast<uint32_t>(*a.static_a_scale_2) : 0u};

  std::lock_guard lock(d.mutex);
  Buffer x(d, static_cast<size_t>(n) * 4), stats(d, 16), q(d, size_t{nblocks} * 8), sa(d, nblocks);
  Batch b(d, op);
  float s2 = a.static_a_scale_2.value_or(1.0f); // amax of nothing is 0: scale_2 1.0
  if (n > 0) {
    uint32_t wg_reduce = workgroup_size(d, 256), wg_block = workgroup_size(d, 64);
    const Kernel& reduce = kernel(d, "quant/absmax.spv", 2, sizeof(uint32_t), wg_reduce);
    const Kernel& block = kernel(d, fp32_shader(d, "quant/nvfp4_quantize"), 4, sizeof push, wg_block);
    uint32_t n32 = static_cast<uint32_t>(n);
    b.upload(x, 0, a.x, static_cast<size_t>(n) * 4);
    b.fill(stats, 0, 4, 0);
    b.fill(stats, 4, 4, kActNoIndex);
    b.fill(sa, 0, sa.size(), 0);
    b.dispatch(reduce, {&x, &stats}, &n32, group_count(d, (n32 + 7) / 8, wg_reduce));
    b.dispatch(block, {&x, &stats, &q, &sa}, &push, group_count(d, nblocks, wg_block));
    b.finish();
    const bool resident = device_memory::resident(a.x);
    if (resident && a.static_a_scale_2) {
      b.check_at_sync(stats, 4, "x", a.M, a.K);
    } else if (resident || !a.static_a_scale_2) { // waits for the quantizer
      uint32_t st[3]; // amax, the first non-finite index, scale_2
      from_buffer(stats, 0, st, sizeof st);
      if (st[1] != kActNoIndex) refuse_non_finite(op, x, a.M, a.K, st[1]);
      s2 = std::bit_cast<float>(st[2]);
    }
  }
  float alpha = s2 * a.b_scale_2;
  if (!std::isfinite(alpha))
    detail::fail(ErrorCode::InvalidArgument, "{}: alpha = a_scale_2 * b_scale_2 = {} * {} is not finite", op, s2, a.b_scale_2);
  act_gemm(b, d, gemm, "", q, sa, a.b, bytes(a.N, a.K / 2, 1), a.b_scale, bytes(a.N, a.K / 16, 1), a.M, a.N,
           a.K, alpha, a.bias, a.out, a.c);
  *a.a_scale_2 = s2;
}

void gemm_fp8_act(int device_index, const core::Variant&, const GemmFp8ActArgs& a) {
  constexpr std::string_view op = "gemm_fp8_act";
  set_last_device_ms(0.0);
  Device& d = device(device_index);
  if (a.M == 0 || a.N == 0) return;
  const core::Variant& gemm = exact_gemm("vulkan", device_index, "gemm_fp8", a.M, a.N, a.K, true);
  int64_t n = a.M * a.K, kbs = (a.K + 127) / 128;
  struct {
    uint32_t rows, cols, grouping; // Fp8Push of ops.cpp; grouping 1 = token128
  } push{static_cast<uint32_t>(a.M), static_cast<uint32_t>(a.K), 1u};

  std::lock_guard lock(d.mutex);
  Buffer x(d, static_cast<size_t>(n) * 4), stats(d, 16), q(d, static_cast<size_t>(n)), sa(d, bytes(a.M, kbs, 4));
  Batch b(d, op);
  if (n > 0) {
    uint32_t wg = workgroup_size(d, 256);
    const Kernel& reduce = kernel(d, "quant/fp8_quantize.token.spv", 4, sizeof push, wg);
    const Kernel& apply = kernel(d, "quant/fp8_quantize.apply.spv", 4, sizeof push, wg);
    b.upload(x, 0, a.x, static_cast<size_t>(n) * 4);
    b.fill(stats, 0, 4, 0);
    b.fill(stats, 4, 4, kActNoIndex);
    b.dispatch(reduce, {&x, &stats, &q, &sa}, &push, group_count(d, static_cast<uint64_t>(a.M * kbs), wg));
    b.dispatch(apply, {&x, &stats, &q, &sa}, &push, group_count(d, (static_cast<uint64_t>(n) + 3) / 4, wg));
    b.finish();
    if (device_memory::resident(a.x)) b.check_at_sync(stats, 4, "x", a.M, a.K);
  }
  act_gemm(b, d, gemm, "block", q, sa, a.b, bytes(a.N, a.K, 1), a.b_scale, bytes((a.N + 127) / 128, kbs, 4), a.M,
           a.N, a.K, 1.0f, a.bias, a.out, a.c);
}

} // namespace tessera::detail::vulkan
