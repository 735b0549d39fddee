// The vulkan GEMM launchers (numerics.md section 4): kernels/gemm/*.comp, two variants per GEMM,
// "tiled_exact" (any M) and "gemv_splitk_exact" (M <= 16). All four shaders share one interface
// (kernels/common/gemm.glsl): six storage buffers and the same push constants, so one routine
// launches them. As in ops.cpp, outputs are copied out only after the batch succeeded, so a
// failure (an unknown variant, a size past the device's limits, a Vulkan error) writes nothing
// and throws BackendFailure.
// Also here: gemm_nvfp4_act / gemm_fp8_act ("quantize_then_gemm", host/src/gemm_act.h), and
// flag bit 3 of the nvfp4 gemv for prepacked weights (tessera/weights.h).
#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "batch.h"
#include "gemm_tensor_core.h"
#include "host/src/gemm_act.h"
#include "host/src/validate.h"
#include "reference/quantize.h"

namespace tessera::detail::vulkan {

namespace {

// Workgroup sizes the shaders are written for (their WG define); a device that cannot run them
// cannot run the variant.
constexpr uint32_t kTiledWorkgroup = 128; // (BM/TM) * (BN/TN) = (64/8) * (64/4)
constexpr uint32_t kGemvWorkgroup = 64;
constexpr uint32_t kTiledBM = 64, kTiledBN = 64;
constexpr int64_t kGemvMaxM = 16; // MAX_M of the gemv shaders
constexpr int64_t kGemvCols = 8;  // COLS: columns of C a gemv workgroup owns

struct GemmPush {
  uint32_t M, N, K, alpha, flags;
};

enum class Kind { Tiled, Gemv };

// One operand of a launch: host bytes and their count (nullptr: a 4-byte placeholder binding).
struct Input {
  const void* data;
  size_t bytes;
};

Kind parse_variant(std::string_view op, std::string_view variant, int64_t M) {
  if (variant == "tiled_exact") return Kind::Tiled;
  if (variant == "gemv_splitk_exact") {
    if (M > kGemvMaxM)
      backend_failure(fmt::format("{} gemv_splitk_exact: M = {} exceeds {}", op, M, kGemvMaxM));
    return Kind::Gemv;
  }
  backend_failure(fmt::format("{} has no vulkan variant '{}' (known: tiled_exact, "
                              "gemv_splitk_exact)",
                              op, variant));
}

// The shaders index with 32-bit unsigned integers, and every extent travels as uint32.
void check_extents(std::string_view op, int64_t M, int64_t N, int64_t K) {
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  if (M < 0 || N < 0 || K < 0 || M > kMax || N > kMax || K > kMax ||
      (K > 0 && (M > kMax / K || N > kMax / K)) || (N > 0 && M > kMax / N))
    backend_failure(fmt::format("{}: M = {}, N = {}, K = {}: the kernels index with 32-bit "
                                "integers (at most 2^31 - 1 elements a tensor)",
                                op, M, N, K));
}

uint32_t out_flags(ref::OutType t, bool bias) {
  uint32_t type = t == ref::OutType::F32 ? 0u : t == ref::OutType::BF16 ? 1u : 2u;
  return type | (bias ? 4u : 0u);
}

// Uploads a, sa, b, sb (bindings 0-3) and the bias, runs shader `base` ("gemm/nvfp4_tiled") in
// its plain or ".rte" build, and writes c.
void launch(int device_index, std::string_view op, Kind kind, std::string_view base,
            const Input (&in)[4], int64_t M, int64_t N, int64_t K, float alpha, const float* bias,
            ref::OutType out, void* c, uint32_t extra_flags = 0) {
  set_last_device_ms(0.0); // also when this run fails
  Device& d = device(device_index);
  check_extents(op, M, N, K);
  if (M == 0 || N == 0) return;
  size_t out_bytes = static_cast<size_t>(M * N) * (out == ref::OutType::F32 ? 4 : 2);
  GemmPush push{static_cast<uint32_t>(M), static_cast<uint32_t>(N), static_cast<uint32_t>(K),
                std::bit_cast<uint32_t>(alpha), out_flags(out, bias != nullptr) | extra_flags};

  std::lock_guard lock(d.mutex);
  uint32_t want = kind == Kind::Tiled ? kTiledWorkgroup : kGemvWorkgroup;
  uint32_t wg = workgroup_size(d, want);
  if (wg != want)
    backend_failure(fmt::format("{}: the shader needs {} invocations a workgroup; the device "
                                "takes {}",
                                op, want, wg));
  const Kernel& k = kernel(d, fp32_shader(d, base), 6, sizeof push, wg);
  // Buffer checks maxStorageBufferRange and maxMemoryAllocationSize for every size.
  Buffer a(d, in[0].bytes), sa(d, in[1].bytes), b(d, in[2].bytes), sb(d, in[3].bytes);
  Buffer bias_buf(d, bias ? static_cast<size_t>(N) * 4 : 4), cbuf(d, out_bytes);
  const Buffer* bufs[4] = {&a, &sa, &b, &sb};
  for (int i = 0; i < 4; ++i)
    if (in[i].data && in[i].bytes) std::memcpy(bufs[i]->data(), in[i].data, in[i].bytes);
  if (bias) std::memcpy(bias_buf.data(), bias, static_cast<size_t>(N) * 4);

  uint64_t groups = kind == Kind::Tiled ? uint64_t((M + kTiledBM - 1) / kTiledBM) *
                                              uint64_t((N + kTiledBN - 1) / kTiledBN)
                                        : uint64_t((N + kGemvCols - 1) / kGemvCols);
  Batch batch(d);
  if (out != ref::OutType::F32) batch.fill(cbuf, 0, cbuf.size(), 0); // halves are OR-ed in
  batch.dispatch(k, {&a, &sa, &b, &sb, &bias_buf, &cbuf}, &push, group_count(d, groups * wg, wg));
  batch.submit();
  std::memcpy(c, cbuf.data(), out_bytes);
}

size_t bytes(int64_t rows, int64_t cols, size_t size) {
  return static_cast<size_t>(rows) * static_cast<size_t>(cols) * size;
}

} // namespace

void run(int device_index, std::string_view variant, const GemmNvfp4Args& a) {
  if (variant.starts_with("nv_")) return run_tensor_core(device_index, variant, a); // gemm_tensor_core.cpp
  constexpr std::string_view op = "gemm_nvfp4";
  Kind kind = parse_variant(op, variant, a.M);
  if (a.K % 16 != 0) backend_failure(fmt::format("{}: K = {} is not a multiple of 16", op, a.K));
  if (a.b_kblock_interleaved && kind != Kind::Gemv)
    backend_failure(fmt::format("{} {} reads B in checkpoint layout only", op, variant));
  Input in[4] = {{a.a, bytes(a.M, a.K / 2, 1)},
                 {a.a_scale, bytes(a.M, a.K / 16, 1)},
                 {a.b, bytes(a.N, a.K / 2, 1)},
                 {a.b_scale, bytes(a.N, a.K / 16, 1)}};
  launch(device_index, op, kind,
         kind == Kind::Tiled ? "gemm/nvfp4_tiled" : "gemm/nvfp4_gemv_splitk", in, a.M, a.N, a.K,
         a.alpha, a.bias, a.out, a.c, a.b_kblock_interleaved ? 8u : 0u); // flag bit 3: nvfp4_gemv_splitk.comp
}

void run(int device_index, std::string_view variant, const GemmFp8Args& a) {
  if (variant.starts_with("nv_")) return run_tensor_core(device_index, variant, a); // gemm_tensor_core.cpp
  constexpr std::string_view op = "gemm_fp8";
  Kind kind = parse_variant(op, variant, a.M);
  Input in[4] = {{a.a, bytes(a.M, a.K, 1)}, {nullptr, 4}, {a.b, bytes(a.N, a.K, 1)}, {nullptr, 4}};
  launch(device_index, op, kind,
         kind == Kind::Tiled ? "gemm/fp8_tiled.tensor" : "gemm/fp8_gemv_splitk.tensor", in, a.M,
         a.N, a.K, a.alpha, a.bias, a.out, a.c);
}

void run(int device_index, std::string_view variant, const GemmFp8BlockArgs& a) {
  if (variant.starts_with("nv_")) return run_tensor_core(device_index, variant, a); // gemm_tensor_core.cpp
  constexpr std::string_view op = "gemm_fp8";
  Kind kind = parse_variant(op, variant, a.M);
  int64_t kbs = (a.K + 127) / 128;
  Input in[4] = {{a.a, bytes(a.M, a.K, 1)},
                 {a.a_scale, bytes(a.M, kbs, 4)},
                 {a.b, bytes(a.N, a.K, 1)},
                 {a.b_scale, bytes((a.N + 127) / 128, kbs, 4)}};
  launch(device_index, op, kind,
         kind == Kind::Tiled ? "gemm/fp8_tiled.block" : "gemm/fp8_gemv_splitk.block", in, a.M,
         a.N, a.K, 1.0f, a.bias, a.out, a.c);
}

// ---- GEMMs with the activation quantized in front (host/src/gemm_act.h) --------------------
// Variant "quantize_then_gemm": the quantize shaders of kernels/quant/ and then the exact GEMM
// shader above on the device buffers they wrote, under one device lock: x is copied in once and
// c out once. Two batches, because the W4A4 GEMM's alpha = RN(a_scale_2 * b_scale_2) is a push
// constant and a_scale_2 comes out of the first (FP8 uses the same shape for simplicity).
namespace {
constexpr uint32_t kActNoIndex = 0xFFFFFFFFu; // "no non-finite element" in stats[1] (ops.cpp)

void expect_act_variant(std::string_view op, std::string_view variant) {
  if (variant != "quantize_then_gemm")
    backend_failure(fmt::format("{} has no vulkan variant '{}' (known: quantize_then_gemm)", op, variant));
}

// The GEMM half: q, sa on the device already; b, sb, bias copied in; c copied out.
void act_gemm(Device& d, std::string_view op, std::string_view base, const Buffer& q, const Buffer& sa,
              const void* b, size_t b_bytes, const void* sb, size_t sb_bytes, int64_t M, int64_t N, int64_t K,
              float alpha, const float* bias, ref::OutType out, void* c) {
  Kind kind = M <= kGemvMaxM ? Kind::Gemv : Kind::Tiled;
  uint32_t want = kind == Kind::Tiled ? kTiledWorkgroup : kGemvWorkgroup;
  uint32_t wg = workgroup_size(d, want);
  if (wg != want)
    backend_failure(fmt::format("{}: the GEMM shader needs {} invocations a workgroup; the device takes {}", op, want, wg));
  std::string name = std::string(base) + (kind == Kind::Tiled ? "_tiled" : "_gemv_splitk") +
                     (base == "gemm/fp8" ? ".block" : "");
  const Kernel& k = kernel(d, fp32_shader(d, name), 6, sizeof(GemmPush), wg);
  size_t out_bytes = static_cast<size_t>(M * N) * (out == ref::OutType::F32 ? 4 : 2);
  GemmPush push{static_cast<uint32_t>(M), static_cast<uint32_t>(N), static_cast<uint32_t>(K),
                std::bit_cast<uint32_t>(alpha), out_flags(out, bias != nullptr)};
  Buffer bb(d, b_bytes), sbb(d, sb_bytes), bias_buf(d, bias ? static_cast<size_t>(N) * 4 : 4), cbuf(d, out_bytes);
  if (b_bytes) std::memcpy(bb.data(), b, b_bytes);
  if (sb_bytes) std::memcpy(sbb.data(), sb, sb_bytes);
  if (bias) std::memcpy(bias_buf.data(), bias, static_cast<size_t>(N) * 4);
  uint64_t groups = kind == Kind::Tiled ? uint64_t((M + kTiledBM - 1) / kTiledBM) * uint64_t((N + kTiledBN - 1) / kTiledBN)
                                        : uint64_t((N + kGemvCols - 1) / kGemvCols);
  double quantize_ms = last_device_ms();
  Batch batch(d);
  if (out != ref::OutType::F32) batch.fill(cbuf, 0, cbuf.size(), 0); // halves are OR-ed in
  batch.dispatch(k, {&q, &sa, &bb, &sbb, &bias_buf, &cbuf}, &push, group_count(d, groups * wg, wg));
  batch.submit();
  set_last_device_ms(quantize_ms + last_device_ms());
  std::memcpy(c, cbuf.data(), out_bytes);
}
} // namespace

void run(int device_index, std::string_view variant, const GemmNvfp4ActArgs& a) {
  constexpr std::string_view op = "gemm_nvfp4_act";
  set_last_device_ms(0.0);
  expect_act_variant(op, variant);
  Device& d = device(device_index);
  check_extents(op, a.M, a.N, a.K);
  int64_t n = a.M * a.K;
  if (a.M == 0 || a.N == 0) { // no output: scale_2 as the reference defines it, on the host
    *a.a_scale_2 = a.static_a_scale_2 ? *a.static_a_scale_2 : ref::nvfp4_scale_2(a.x, n, false);
    return;
  }
  uint32_t nblocks = static_cast<uint32_t>(n / 16);
  struct {
    uint32_t nblocks, flags, static_scale_2;
  } push{nblocks, a.static_a_scale_2 ? 2u : 0u, a.static_a_scale_2 ? std::bit_cast<uint32_t>(*a.static_a_scale_2) : 0u};

  std::lock_guard lock(d.mutex);
  Buffer x(d, static_cast<size_t>(n) * 4), stats(d, 16), q(d, size_t{nblocks} * 8), sa(d, nblocks);
  float s2 = a.static_a_scale_2.value_or(1.0f); // amax of nothing is 0: scale_2 1.0
  if (n > 0) {
    uint32_t wg_reduce = workgroup_size(d, 256), wg_block = workgroup_size(d, 64);
    const Kernel& reduce = kernel(d, "quant/absmax.spv", 2, sizeof(uint32_t), wg_reduce);
    const Kernel& block = kernel(d, fp32_shader(d, "quant/nvfp4_quantize"), 4, sizeof push, wg_block);
    std::memcpy(x.data(), a.x, static_cast<size_t>(n) * 4);
    uint32_t n32 = static_cast<uint32_t>(n);
    Batch b(d);
    b.fill(stats, 0, 4, 0);
    b.fill(stats, 4, 4, kActNoIndex);
    b.fill(sa, 0, sa.size(), 0);
    b.dispatch(reduce, {&x, &stats}, &n32, group_count(d, (n32 + 7) / 8, wg_reduce));
    b.dispatch(block, {&x, &stats, &q, &sa}, &push, group_count(d, nblocks, wg_block));
    b.submit();
    const uint32_t* st = stats.as<const uint32_t>();
    if (st[1] != kActNoIndex) // the host checked x: a device that disagrees is broken
      backend_failure(fmt::format("{}: the device reports x[{}] non-finite; the host found none", op, st[1]));
    s2 = std::bit_cast<float>(st[2]);
  }
  float alpha = s2 * a.b_scale_2;
  if (!std::isfinite(alpha))
    detail::fail(ErrorCode::InvalidArgument, "{}: alpha = a_scale_2 * b_scale_2 = {} * {} is not finite", op, s2, a.b_scale_2);
  act_gemm(d, op, "gemm/nvfp4", q, sa, a.b, bytes(a.N, a.K / 2, 1), a.b_scale, bytes(a.N, a.K / 16, 1), a.M, a.N,
           a.K, alpha, a.bias, a.out, a.c);
  *a.a_scale_2 = s2;
}

void run(int device_index, std::string_view variant, const GemmFp8ActArgs& a) {
  constexpr std::string_view op = "gemm_fp8_act";
  set_last_device_ms(0.0);
  expect_act_variant(op, variant);
  Device& d = device(device_index);
  check_extents(op, a.M, a.N, a.K);
  if (a.M == 0 || a.N == 0) return;
  int64_t n = a.M * a.K, kbs = (a.K + 127) / 128;
  struct {
    uint32_t rows, cols, grouping; // Fp8Push of ops.cpp; grouping 1 = token128
  } push{static_cast<uint32_t>(a.M), static_cast<uint32_t>(a.K), 1u};

  std::lock_guard lock(d.mutex);
  Buffer x(d, static_cast<size_t>(n) * 4), stats(d, 16), q(d, static_cast<size_t>(n)), sa(d, bytes(a.M, kbs, 4));
  if (n > 0) {
    uint32_t wg = workgroup_size(d, 256);
    const Kernel& reduce = kernel(d, "quant/fp8_quantize.token.spv", 4, sizeof push, wg);
    const Kernel& apply = kernel(d, "quant/fp8_quantize.apply.spv", 4, sizeof push, wg);
    std::memcpy(x.data(), a.x, static_cast<size_t>(n) * 4);
    Batch b(d);
    b.fill(stats, 0, 4, 0);
    b.fill(stats, 4, 4, kActNoIndex);
    b.dispatch(reduce, {&x, &stats, &q, &sa}, &push, group_count(d, static_cast<uint64_t>(a.M * kbs), wg));
    b.dispatch(apply, {&x, &stats, &q, &sa}, &push, group_count(d, (static_cast<uint64_t>(n) + 3) / 4, wg));
    b.submit();
    const uint32_t* st = stats.as<const uint32_t>();
    if (st[1] != kActNoIndex)
      backend_failure(fmt::format("{}: the device reports x[{}] non-finite; the host found none", op, st[1]));
  }
  act_gemm(d, op, "gemm/fp8", q, sa, a.b, bytes(a.N, a.K, 1), a.b_scale, bytes((a.N + 127) / 128, kbs, 4), a.M,
           a.N, a.K, 1.0f, a.bias, a.out, a.c);
}

} // namespace tessera::detail::vulkan
