// The vulkan GEMM launchers (numerics.md section 4): kernels/gemm/*.comp, two variants per GEMM,
// "tiled_exact" (any M) and "gemv_splitk_exact" (M <= 16). All four shaders share one interface
// (kernels/common/gemm.glsl): six storage buffers and the same push constants, so one routine
// launches them. As in ops.cpp, outputs are copied out only after the batch succeeded, so a
// failure (an unknown variant, a size past the device's limits, a Vulkan error) writes nothing
// and throws BackendFailure.
#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <limits>

#include "batch.h"

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
            ref::OutType out, void* c) {
  set_last_device_ms(0.0); // also when this run fails
  Device& d = device(device_index);
  check_extents(op, M, N, K);
  if (M == 0 || N == 0) return;
  size_t out_bytes = static_cast<size_t>(M * N) * (out == ref::OutType::F32 ? 4 : 2);
  GemmPush push{static_cast<uint32_t>(M), static_cast<uint32_t>(N), static_cast<uint32_t>(K),
                std::bit_cast<uint32_t>(alpha), out_flags(out, bias != nullptr)};

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
  constexpr std::string_view op = "gemm_nvfp4";
  Kind kind = parse_variant(op, variant, a.M);
  if (a.K % 16 != 0) backend_failure(fmt::format("{}: K = {} is not a multiple of 16", op, a.K));
  Input in[4] = {{a.a, bytes(a.M, a.K / 2, 1)},
                 {a.a_scale, bytes(a.M, a.K / 16, 1)},
                 {a.b, bytes(a.N, a.K / 2, 1)},
                 {a.b_scale, bytes(a.N, a.K / 16, 1)}};
  launch(device_index, op, kind,
         kind == Kind::Tiled ? "gemm/nvfp4_tiled" : "gemm/nvfp4_gemv_splitk", in, a.M, a.N, a.K,
         a.alpha, a.bias, a.out, a.c);
}

void run(int device_index, std::string_view variant, const GemmFp8Args& a) {
  constexpr std::string_view op = "gemm_fp8";
  Kind kind = parse_variant(op, variant, a.M);
  Input in[4] = {{a.a, bytes(a.M, a.K, 1)}, {nullptr, 4}, {a.b, bytes(a.N, a.K, 1)}, {nullptr, 4}};
  launch(device_index, op, kind,
         kind == Kind::Tiled ? "gemm/fp8_tiled.tensor" : "gemm/fp8_gemv_splitk.tensor", in, a.M,
         a.N, a.K, a.alpha, a.bias, a.out, a.c);
}

void run(int device_index, std::string_view variant, const GemmFp8BlockArgs& a) {
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

} // namespace tessera::detail::vulkan
