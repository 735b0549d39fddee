// The numbers of the NVIDIA tensor-core GEMM variants (host/src/requirements.h):
// - The bound: a CPU emulation of the kernels' summation order (exact products, 32-product
//   chunks summed from zero, chunks added in fp32), with IEEE chunks and with truncating chunks
//   (models of the matrix units), stays within each declared bound on random and max-magnitude
//   inputs up to K = 65536, for every output type, against the exact reference.
// - The kernels' portable branch (what PoCL compiles; the registry never picks it there) equals
//   the IEEE chunk emulation byte for byte, ragged shapes, bias, NaN flags and all; and a Vulkan
//   device without cooperative matrices is refused with nothing written.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "dispatch/registry.h"
#include "host/src/requirements.h"
#include "host/src/backends.h"
#include "reference/formats.h"
#include "reference/gemm.h"
#include "tessera/overrides.h"
#include "variant_launch.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
namespace tensor_core = detail::tensor_core;

// Every test uses its own OpenCL program cache under the build tree, never the user's ~/.cache.
class Environment : public ::testing::Environment {
public:
  void SetUp() override {
    Overrides o;
    o.cache_dir = (fs::path(TESSERA_TEST_TMP) / "opencl_cache").string();
    set_overrides(o);
  }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Environment);

// --- The bound: the kernels' summation order on the CPU ---------------------------------------

// How a matrix unit sums one TILE_K chunk of exact products from zero. Ieee: fp32 RN adds in k
// order (the portable branch, and the ideal). Trunc23 / Trunc13: every product aligned to the
// largest one's exponent and truncated to 23 (fp16 HMMA, Fasi et al. 2021) or 13 (Hopper's fp8
// path, about 14 significant bits) fraction bits below it, summed, the sum truncated to fp32.
enum class Chunk { Ieee, Trunc23, Trunc13 };
constexpr int kChunk = 32; // TILE_K / KT of the kernels

float to_f32_toward_zero(double x) {
  float f = static_cast<float>(x);
  if (std::fabs(static_cast<double>(f)) > std::fabs(x)) f = std::nextafter(f, 0.0f);
  return f;
}

float chunk_sum(const double* p, int n, Chunk model) {
  if (model == Chunk::Ieee) {
    float s = 0.0f;
    for (int i = 0; i < n; ++i)
      s = s + static_cast<float>(p[i]); // each product exact in fp32
    return s;
  }
  double mx = 0;
  for (int i = 0; i < n; ++i)
    mx = std::max(mx, std::fabs(p[i]));
  if (mx == 0) return 0.0f;
  int e;
  std::frexp(mx, &e);
  double q = std::ldexp(1.0, e - 1 - (model == Chunk::Trunc23 ? 23 : 13));
  double s = 0; // exact: at most 32 terms below 2^24 units of q
  for (int i = 0; i < n; ++i)
    s += std::trunc(p[i] / q) * q;
  return to_f32_toward_zero(s);
}

// Operands as exact values (what the kernels stage: fp16 or E4M3, exact), with NaN flags.
struct Operands {
  int64_t M, N, K;
  std::vector<double> a, b;       // [M, K], [N, K]
  std::vector<char> nan_a, nan_b; // per row of A, per row of B
};

Operands fp8_operands(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, int64_t M,
                      int64_t N, int64_t K) {
  Operands o{M,
             N,
             K,
             std::vector<double>(M * K),
             std::vector<double>(N * K),
             std::vector<char>(M),
             std::vector<char>(N)};
  for (int64_t i = 0; i < M * K; ++i) {
    if (ref::e4m3_is_nan(a[i]))
      o.nan_a[i / K] = 1;
    else
      o.a[i] = ref::e4m3_to_f32(a[i]);
  }
  for (int64_t i = 0; i < N * K; ++i) {
    if (ref::e4m3_is_nan(b[i]))
      o.nan_b[i / K] = 1;
    else
      o.b[i] = ref::e4m3_to_f32(b[i]);
  }
  return o;
}

Operands nvfp4_operands(const std::vector<uint8_t>& a, const std::vector<uint8_t>& sa,
                        const std::vector<uint8_t>& b, const std::vector<uint8_t>& sb, int64_t M,
                        int64_t N, int64_t K) {
  Operands o{M,
             N,
             K,
             std::vector<double>(M * K),
             std::vector<double>(N * K),
             std::vector<char>(M),
             std::vector<char>(N)};
  auto fill = [K](const std::vector<uint8_t>& q, const std::vector<uint8_t>& s, int64_t rows,
                  std::vector<double>& v, std::vector<char>& nan) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < K; ++k) {
        uint8_t sc = s[r * (K / 16) + k / 16];
        if (ref::e4m3_is_nan(sc))
          nan[r] = 1;
        else
          v[r * K + k] =
              static_cast<double>(ref::e2m1_to_f32(ref::e2m1_unpack(q[r * (K / 2) + k / 2], k))) *
              ref::e4m3_to_f32(sc);
      }
  };
  fill(a, sa, M, o.a, o.nan_a);
  fill(b, sb, N, o.b, o.nan_b);
  return o;
}

// C before the epilogue's bias and conversion: per-tensor c = RN(acc * alpha); block-scaled
// (sa, sb non-null) tot = RN(tot + RN(RN(blk * sa) * sb)) per 128-block. NaN where flagged.
std::vector<float> emulate(const Operands& o, Chunk model, float alpha, const float* sa = nullptr,
                           const float* sb = nullptr) {
  std::vector<float> c(o.M * o.N);
  std::vector<double> p(kChunk);
  int64_t kbs = (o.K + 127) / 128;
  for (int64_t m = 0; m < o.M; ++m)
    for (int64_t n = 0; n < o.N; ++n) {
      float acc = 0.0f, tot = 0.0f;
      for (int64_t k0 = 0; k0 < o.K; k0 += kChunk) {
        int len = static_cast<int>(std::min<int64_t>(kChunk, o.K - k0));
        for (int i = 0; i < len; ++i)
          p[i] = o.a[m * o.K + k0 + i] * o.b[n * o.K + k0 + i];
        acc = acc + chunk_sum(p.data(), len, model);
        if (sa && ((k0 + kChunk) % 128 == 0 || k0 + kChunk >= o.K)) {
          float v = acc * sa[m * kbs + k0 / 128];
          v = v * sb[(n / 128) * kbs + k0 / 128];
          tot = tot + v;
          acc = 0.0f;
        }
      }
      float v = sa ? tot : acc * alpha;
      c[m * o.N + n] = (o.nan_a[m] || o.nan_b[n]) ? ref::canonical_nan() : v;
    }
  return c;
}

double rel_l2(const std::vector<float>& out, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (std::isnan(out[i]) || std::isnan(ref[i])) return NAN;
    double d = static_cast<double>(out[i]) - ref[i];
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

// Random E4M3 codes: "wide" draws every finite code (2^-9 .. 448 at once), "normal" quantizes
// N(0, 1) samples (activations), "max" is +-448 everywhere (the largest products).
std::vector<uint8_t> fp8_codes(size_t n, const std::string& kind, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint8_t> v(n);
  for (auto& c : v) {
    uint8_t sign = (rng() & 1u) << 7;
    if (kind == "wide")
      c = static_cast<uint8_t>(sign | (rng() % 0x7F));
    else if (kind == "max")
      c = static_cast<uint8_t>(sign | 0x7E);
    else
      c = ref::f32_to_e4m3(normal(rng));
  }
  return v;
}

struct Nvfp4 {
  std::vector<uint8_t> q, s;
};
Nvfp4 nvfp4_data(int64_t rows, int64_t K, bool max, uint32_t seed) {
  std::mt19937 rng(seed);
  Nvfp4 d{std::vector<uint8_t>(rows * K / 2), std::vector<uint8_t>(rows * K / 16)};
  for (auto& b : d.q)
    b = max ? static_cast<uint8_t>(((rng() & 1u) ? 0x7 : 0xF) | ((rng() & 1u) ? 0x70 : 0xF0))
            : static_cast<uint8_t>(rng());
  for (auto& s : d.s)
    s = max ? 0x7E : static_cast<uint8_t>(0x20 + rng() % 0x40); // 2^-3 .. 2^5
  return d;
}

// C as stored in `type` (the reference epilogue), widened back to fp32.
std::vector<float> stored(const std::vector<float>& c, ref::OutType type) {
  if (type == ref::OutType::F32) return c;
  std::vector<float> out(c.size());
  for (size_t i = 0; i < c.size(); ++i) {
    uint16_t h;
    ref::gemm_store(c[i], nullptr, 0, type, &h, 0);
    out[i] = type == ref::OutType::BF16 ? ref::bf16_to_f32(h) : ref::f16_to_f32(h);
  }
  return out;
}

// The worst relative L2 error of the emulation against the reference, over output types, for
// one chunk model; fp16 outputs only where the results stay inside fp16's range.
double worst_error(const Operands& o, Chunk model, float alpha, const std::vector<float>& ref,
                   const float* sa = nullptr, const float* sb = nullptr) {
  std::vector<float> c = emulate(o, model, alpha, sa, sb);
  double big = 0, worst = 0;
  for (float x : ref)
    big = std::max(big, std::fabs(static_cast<double>(x)));
  for (ref::OutType t : {ref::OutType::F32, ref::OutType::BF16, ref::OutType::F16}) {
    if (t == ref::OutType::F16 && big > 60000) continue;
    double e = rel_l2(stored(c, t), stored(ref, t));
    if (std::isnan(e)) return e;
    worst = std::max(worst, e);
  }
  return worst;
}

TEST(TensorCoreBound, EmulatedSummationStaysWithinTheDeclaredBounds) {
  struct Size {
    int64_t M, N, K;
  };
  double worst_f16 = 0, worst_e4m3 = 0, worst_f32_out = 0;
  auto check = [&](const Operands& o, float alpha, const std::vector<float>& ref, const float* sa,
                   const float* sb, bool fp8) {
    for (Chunk m : {Chunk::Ieee, Chunk::Trunc23}) {
      double e = worst_error(o, m, alpha, ref, sa, sb);
      EXPECT_LE(e, tensor_core::kBoundF16.bound) << "chunk model " << static_cast<int>(m);
      worst_f16 = std::max(worst_f16, e);
      worst_f32_out = std::max(worst_f32_out, rel_l2(emulate(o, m, alpha, sa, sb), ref));
    }
    if (!fp8) return;
    double e = worst_error(o, Chunk::Trunc13, alpha, ref, sa, sb);
    EXPECT_LE(e, tensor_core::kBoundE4m3.bound);
    worst_e4m3 = std::max(worst_e4m3, e);
  };
  for (Size z : {Size{64, 96, 256}, Size{8, 8, 4096}, Size{3, 4, 65536}}) {
    for (const char* kind : {"wide", "normal", "max"}) {
      SCOPED_TRACE(fmt::format("fp8 {} K = {}", kind, z.K));
      auto a = fp8_codes(z.M * z.K, kind, 1), b = fp8_codes(z.N * z.K, kind, 2);
      std::vector<float> ref(z.M * z.N);
      ref::gemm_fp8(a.data(), b.data(), z.M, z.N, z.K, 0.75f, nullptr, ref::OutType::F32,
                    ref.data());
      Operands o = fp8_operands(a, b, z.M, z.N, z.K);
      check(o, 0.75f, ref, nullptr, nullptr, true);

      // Block-scaled, scales around the DeepSeek-V3 range.
      int64_t kbs = (z.K + 127) / 128;
      std::mt19937 rng(3);
      std::uniform_real_distribution<float> u(0.001f, 0.05f);
      std::vector<float> sa(z.M * kbs), sb(((z.N + 127) / 128) * kbs);
      for (auto& x : sa)
        x = u(rng);
      for (auto& x : sb)
        x = u(rng);
      ref::gemm_fp8_block(a.data(), sa.data(), b.data(), sb.data(), z.M, z.N, z.K, nullptr,
                          ref::OutType::F32, ref.data());
      check(o, 1.0f, ref, sa.data(), sb.data(), true);
    }
    for (bool max : {false, true}) {
      SCOPED_TRACE(fmt::format("nvfp4 max = {} K = {}", max, z.K));
      Nvfp4 a = nvfp4_data(z.M, z.K, max, 4), b = nvfp4_data(z.N, z.K, max, 5);
      std::vector<float> ref(z.M * z.N);
      ref::gemm_nvfp4(a.q.data(), a.s.data(), b.q.data(), b.s.data(), z.M, z.N, z.K, 1.5f, nullptr,
                      ref::OutType::F32, ref.data());
      check(nvfp4_operands(a.q, a.s, b.q, b.s, z.M, z.N, z.K), 1.5f, ref, nullptr, nullptr, false);
    }
  }
  std::printf("worst relative L2: fp16-operand models %.3g (bound %g; fp32 outputs alone %.3g), "
              "e4m3 mma model %.3g "
              "(bound %g)\n",
              worst_f16, tensor_core::kBoundF16.bound, worst_f32_out, worst_e4m3,
              tensor_core::kBoundE4m3.bound);
}

// --- The portable branch on PoCL: the tile logic, byte for byte against the emulation ----------

// An OpenCL device that compiles the portable branch (the host writes TESSERA_NV_INLINE_PTX 0
// there), or -1. On NVIDIA's OpenCL the PTX path runs instead, whose sums are the matrix unit's:
// the conformance suite checks those against the bound.
int portable_opencl_device() {
  const auto& devs = detail::opencl::devices();
  for (size_t i = 0; i < devs.size(); ++i)
    if (!classify(devs[i]).nv_inline_ptx) return static_cast<int>(i);
  return -1;
}

// out (in `type`) must equal the emulated fp32 C through the reference epilogue, byte for byte.
void expect_epilogue_equal(const std::vector<float>& c, const float* bias, int64_t M, int64_t N,
                           ref::OutType type, const std::vector<uint8_t>& out) {
  size_t each = type == ref::OutType::F32 ? 4 : 2;
  std::vector<uint8_t> want(M * N * each);
  for (int64_t i = 0; i < M * N; ++i)
    ref::gemm_store(c[i], bias, i % N, type, want.data(), i);
  size_t bad = 0;
  for (size_t i = 0; i < want.size(); ++i)
    bad += want[i] != out[i];
  EXPECT_EQ(bad, 0u) << "bytes differing from the emulated summation order";
}

TEST(TensorCorePortable, OpenclKernelsMatchTheEmulationAndTheBound) {
  int dev = portable_opencl_device();
  if (dev < 0) GTEST_SKIP() << "no OpenCL device that takes the portable branch";
  const int64_t M = 131, N = 140, K = 208; // ragged in every direction; N crosses a 128-block
  std::vector<float> bias(N);
  for (int64_t n = 0; n < N; ++n)
    bias[n] = 0.25f * static_cast<float>(n % 7) - 0.5f;
  {
    Nvfp4 a = nvfp4_data(M, K, false, 11), b = nvfp4_data(N, K, false, 12);
    a.s[5 * (K / 16) + 3] = 0x7F; // NaN scale: row 5 of C is NaN
    std::vector<uint8_t> out(M * N * 2);
    test::launch_opencl(dev, "nv_mma_f16",
                        detail::GemmNvfp4Args{a.q.data(), a.s.data(), b.q.data(), b.s.data(), M, N,
                                              K, 0.5f, bias.data(), ref::OutType::BF16,
                                              out.data()});
    expect_epilogue_equal(emulate(nvfp4_operands(a.q, a.s, b.q, b.s, M, N, K), Chunk::Ieee, 0.5f),
                          bias.data(), M, N, ref::OutType::BF16, out);
    std::vector<float> c(M * N), want(M * N);
    test::launch_opencl(dev, "nv_mma_f16",
                        detail::GemmNvfp4Args{a.q.data(), a.s.data(), b.q.data(), b.s.data(), M, N,
                                              K, 0.5f, nullptr, ref::OutType::F32, c.data()});
    ref::gemm_nvfp4(a.q.data(), a.s.data(), b.q.data(), b.s.data(), M, N, K, 0.5f, nullptr,
                    ref::OutType::F32, want.data());
    for (int64_t i = 0; i < M * N; ++i)
      EXPECT_EQ(std::isnan(c[i]), std::isnan(want[i])) << i;
    for (int64_t n = 0; n < N; ++n)
      c[5 * N + n] = want[5 * N + n] = 0.0f;
    EXPECT_LE(rel_l2(c, want), tensor_core::kBoundF16.bound);
  }
  auto a = fp8_codes(M * K, "normal", 13), b = fp8_codes(N * K, "normal", 14);
  b[7 * K + 100] = 0xFF; // NaN code: column 7 of C is NaN
  Operands o = fp8_operands(a, b, M, N, K);
  int64_t kbs = (K + 127) / 128;
  std::vector<float> sa(M * kbs), sb(((N + 127) / 128) * kbs);
  for (size_t i = 0; i < sa.size(); ++i)
    sa[i] = 0.01f + 0.001f * static_cast<float>(i % 13);
  for (size_t i = 0; i < sb.size(); ++i)
    sb[i] = 0.02f - 0.001f * static_cast<float>(i % 5);
  for (const char* variant : {"nv_mma_f16", "nv_mma_e4m3"}) {
    SCOPED_TRACE(variant);
    std::vector<uint8_t> out(M * N * 4);
    test::launch_opencl(dev, variant,
                        detail::GemmFp8Args{a.data(), b.data(), M, N, K, 1.25f, bias.data(),
                                            ref::OutType::F16, out.data()});
    expect_epilogue_equal(emulate(o, Chunk::Ieee, 1.25f), bias.data(), M, N, ref::OutType::F16,
                          out);
    test::launch_opencl(dev, variant,
                        detail::GemmFp8BlockArgs{a.data(), sa.data(), b.data(), sb.data(), M, N, K,
                                                 nullptr, ref::OutType::F32, out.data()});
    expect_epilogue_equal(emulate(o, Chunk::Ieee, 1.0f, sa.data(), sb.data()), nullptr, M, N,
                          ref::OutType::F32, out);
  }
  // The e4m3 mma is an FP8 variant only: no gemm_nvfp4 record of that name, so no launch
  // function takes NVFP4 arguments and the registry never offers it for gemm_nvfp4.
  EXPECT_EQ(test::find_record<detail::GemmNvfp4Args>("opencl", "nv_mma_e4m3"), nullptr);
  for (const dispatch::DeviceRef& d : dispatch::devices())
    for (const dispatch::Verdict& v : dispatch::explain("gemm_nvfp4", d, dispatch::Problem{"gemm_nvfp4", {{"M", M}, {"N", N}, {"K", K}}}))
      EXPECT_NE(v.variant->name, "nv_mma_e4m3") << d.label();
}

TEST(TensorCorePortable, VulkanRefusesADeviceWithoutCooperativeMatrices) {
  if (!dispatch::backend_built("vulkan") || detail::vulkan::devices().empty())
    GTEST_SKIP() << "no Vulkan device";
  for (size_t i = 0; i < detail::vulkan::devices().size(); ++i) {
    if (std::find(detail::vulkan::devices()[i].extensions.begin(),
                  detail::vulkan::devices()[i].extensions.end(),
                  "VK_NV_cooperative_matrix") != detail::vulkan::devices()[i].extensions.end())
      continue; // an NVIDIA device: the conformance suite runs the variant there
    std::vector<uint8_t> a(64 * 32, 0x38), c(64 * 64 * 4, 0xA5);
    const std::vector<uint8_t> before = c;
    EXPECT_THROW(test::launch_vulkan(static_cast<int>(i), "nv_coopmat_f16",
                                     detail::GemmFp8Args{a.data(), a.data(), 64, 64, 32, 1.0f,
                                                         nullptr, ref::OutType::F32, c.data()}),
                 detail::BackendFailure);
    EXPECT_EQ(c, before); // nothing written
  }
}

} // namespace
} // namespace tessera
