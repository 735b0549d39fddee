// The numbers of the NVIDIA tensor-core attention variants, which cannot take their tensor-core
// paths on this machine's PoCL and lavapipe:
// - "nv_mma_f16" (OpenCL, kernels/attention/flash_mma.cl), the bound: a CPU emulation of the
//   variant's rounding (q, k, v, p to fp16, fp32 sums, online softmax over 32-key tiles) against
//   ref::attention is within the attention error bound with kBoundAttnF16's fp16 operand term
//   (docs/numerics.md "Attention error bound").
// - Its portable branch on PoCL, launched directly through its record: within the bound of the
//   reference, NaN-free and deterministic.
// - The Vulkan cooperative-matrix form "nv_coopmat_f16" (flash_coopmat.comp): the bound under its
//   own rounding order, a clear failure (nothing written) when forced on a device without
//   cooperative matrices, and the shader with its matrix operations emulated on lavapipe.
// Selection and compilation: tests/test_attention_tensor_core_selection.cpp.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "conformance/attention_bound.h"
#include "core/overrides.h"
#include "dispatch/registry.h"
#include "host/src/requirements.h"
#include "host/src/backends.h"
#include "host/src/vulkan/testing.h"
#include "reference/attention.h"
#include "reference/formats.h"
#include "variant_launch.h"

namespace tessera {
namespace {

namespace tensor_core = detail::tensor_core;

// --- The bound --------------------------------------------------------------------------------

struct Case {
  int64_t T, S, Hq, Hkv, D;
  bool e4m3;
  uint32_t seed;
  std::vector<float> q, k, v, gate; // k, v dequantized fp32 (what the reference takes)
  std::vector<uint8_t> k8, v8;      // the E4M3 codes when e4m3
  float k_scale = 0.02f, v_scale = 0.03f;
  Case(int64_t T_, int64_t S_, int64_t Hq_, int64_t Hkv_, int64_t D_, bool e4m3_, uint32_t seed_)
      : T(T_), S(S_), Hq(Hq_), Hkv(Hkv_), D(D_), e4m3(e4m3_), seed(seed_) {
    std::mt19937 rng(seed);
    auto fill = [&](std::vector<float>& x, size_t n, float lo, float hi) {
      std::uniform_real_distribution<float> u(lo, hi);
      x.resize(n);
      for (auto& e : x) e = u(rng);
    };
    size_t nq = static_cast<size_t>(T * Hq * D), nk = static_cast<size_t>(S * Hkv * D);
    fill(q, nq, -3, 3), fill(gate, nq, -4, 4), fill(k, nk, -1.5f, 1.5f), fill(v, nk, -2, 2);
    if (e4m3) {
      k8.resize(nk), v8.resize(nk);
      for (size_t i = 0; i < nk; ++i) {
        k8[i] = ref::f32_to_e4m3(k[i] / k_scale), v8[i] = ref::f32_to_e4m3(v[i] / v_scale);
        k[i] = ref::e4m3_to_f32(k8[i]) * k_scale, v[i] = ref::e4m3_to_f32(v8[i]) * v_scale;
      }
    }
  }
  float scale() const { return 1.0f / std::sqrt(static_cast<float>(D)); }
  ref::AttentionDims dims() const { return {1, T, S, Hq, Hkv, D}; }
};

float h(float x) { return ref::f16_to_f32(ref::f32_to_f16(x)); }

// The variant's rounding: q, k, v, p in fp16, fp32 sums, online softmax over 32-key tiles.
std::vector<float> emulate(const Case& c) {
  std::vector<float> o(static_cast<size_t>(c.T * c.Hq * c.D));
  const int64_t G = c.Hq / c.Hkv;
  for (int64_t t = 0; t < c.T; ++t)
    for (int64_t hq = 0; hq < c.Hq; ++hq) {
      const float* q = &c.q[static_cast<size_t>((t * c.Hq + hq) * c.D)];
      const int64_t visible = std::min(c.S, t + (c.S - c.T) + 1);
      float m = -INFINITY, l = 0.0f;
      std::vector<float> acc(static_cast<size_t>(c.D), 0.0f);
      for (int64_t j0 = 0; j0 < visible; j0 += 32) {
        const int64_t nk = std::min<int64_t>(32, visible - j0);
        std::vector<float> s(static_cast<size_t>(nk));
        float tmax = -INFINITY;
        for (int64_t j = 0; j < nk; ++j) {
          const float* k = &c.k[static_cast<size_t>(((j0 + j) * c.Hkv + hq / G) * c.D)];
          float dot = 0.0f;
          for (int64_t d = 0; d < c.D; ++d) dot += h(q[d]) * h(k[d]);
          s[j] = c.scale() * dot;
          tmax = std::max(tmax, s[j]);
        }
        const float m_new = std::max(m, tmax), alpha = std::exp(m - m_new);
        float sum = 0.0f;
        for (auto& e : s) sum += (e = h(std::exp(e - m_new)));
        l = l * alpha + sum;
        m = m_new;
        for (int64_t d = 0; d < c.D; ++d) {
          float a = acc[d] * alpha;
          for (int64_t j = 0; j < nk; ++j)
            a += s[j] * h(c.v[static_cast<size_t>(((j0 + j) * c.Hkv + hq / G) * c.D + d)]);
          acc[d] = a;
        }
      }
      for (int64_t d = 0; d < c.D; ++d) {
        size_t i = static_cast<size_t>((t * c.Hq + hq) * c.D + d);
        o[i] = acc[d] / l * (1.0f / (1.0f + std::exp(-c.gate[i])));
      }
    }
  return o;
}

std::vector<float> reference(const Case& c) {
  std::vector<float> o(c.q.size());
  ref::attention(c.q.data(), c.k.data(), c.v.data(), c.gate.data(), nullptr, nullptr, 1, c.dims(),
                 true, c.scale(), o.data(), nullptr);
  return o;
}

double rel_l2(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(got[i])) return INFINITY; // NaN never passes
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  return std::sqrt(num / den);
}

// The attention error bound of a case (docs/numerics.md "Attention error bound") with the operand
// rounding `operand_u`, and the largest error / bound ratio of o (or lse) against the reference.
conformance::AttentionBound bound_of(const Case& c, double operand_u) {
  return conformance::attention_bound(c.q.data(), c.k.data(), c.v.data(), c.gate.data(), nullptr,
                                      nullptr, 1, c.dims(), true, c.scale(), operand_u);
}
double ratio(const std::vector<float>& got, const std::vector<float>& want,
             const std::vector<double>& bound) {
  return conformance::bound_ratio(got.data(), want.data(), bound.data(), want.size());
}

// An emulated order's o against the reference: within kBoundAttnF16's bound. The ratio under the
// fp32 variants' bound (no operand term) is printed: 1 to 2.3 at D 64 / 128, where the bound
// tells fp16 operands from fp32 ones, 0.3 to 0.6 at D 256, where its worst-case dot-product term
// (2D + 40) u C covers them.
void expect_within_fp16_bound(const Case& c, const std::vector<float>& got, double* worst) {
  const std::vector<float> want = reference(c);
  const double r16 = ratio(got, want, bound_of(c, tensor_core::kBoundAttnF16.operand_u).o);
  const double r32 = ratio(got, want, bound_of(c, 0.0).o);
  const double err = rel_l2(got, want);
  const std::string what = fmt::format("T {} S {} D {} e4m3 {}: rel L2 {:.3g}, error/bound {:.3g} (fp32 operands: {:.3g})",
                                       c.T, c.S, c.D, c.e4m3, err, r16, r32);
  std::printf("%s\n", what.c_str());
  SCOPED_TRACE(what);
  EXPECT_LE(r16, tensor_core::kBoundAttnF16.bound);
  EXPECT_GT(err, 1e-5); // the fp16 rounding is visible: the emulation is not the reference
  *worst = std::max(*worst, r16);
}

TEST(AttentionTensorCoreBound, EmulatedFp16RoundingStaysInsideTheBound) {
  double worst = 0;
  for (const Case& c : {Case(80, 96, 4, 2, 64, false, 1), Case(64, 64, 2, 1, 128, true, 2),
                        Case(40, 72, 4, 1, 256, false, 3), Case(48, 48, 2, 2, 256, true, 4)})
    expect_within_fp16_bound(c, emulate(c), &worst);
  std::printf("emulated worst error/bound %.3g\n", worst);
}

// --- The portable branch on PoCL --------------------------------------------------------------

int portable_opencl_device() {
  if (!dispatch::backend_built("opencl")) return -1;
  const auto& devs = detail::opencl::devices();
  for (size_t i = 0; i < devs.size(); ++i)
    if (!classify(devs[i]).nv_inline_ptx) return static_cast<int>(i);
  return -1;
}

void run_mma(int dev, const Case& c, std::vector<float>& o, std::vector<float>& lse, int64_t D) {
  o.assign(c.q.size(), -7.0f), lse.assign(static_cast<size_t>(c.T * c.Hq), -7.0f);
  detail::AttentionRunArgs a{c.q.data(), c.e4m3 ? static_cast<const void*>(c.k8.data()) : c.k.data(),
                             c.e4m3 ? static_cast<const void*>(c.v8.data()) : c.v.data(),
                             c.e4m3 ? DType::F8_E4M3 : DType::F32, c.e4m3 ? DType::F8_E4M3 : DType::F32,
                             c.e4m3 ? c.k_scale : 1.0f, c.e4m3 ? c.v_scale : 1.0f, c.gate.data(),
                             nullptr, nullptr, 1, {1, c.T, c.S, c.Hq, c.Hkv, D}, true, c.scale(),
                             o.data(), lse.data()};
  test::launch_opencl(dev, "nv_mma_f16", a);
}

TEST(AttentionTensorCorePortable, PoclRunsThePortableBranchWithinTheBound) {
  int dev = portable_opencl_device();
  if (dev < 0) GTEST_SKIP() << "no OpenCL device that takes the portable branch";
  for (const Case& c : {Case(40, 56, 4, 2, 64, false, 11), Case(20, 40, 2, 1, 256, true, 12)}) {
    SCOPED_TRACE(fmt::format("T {} S {} D {} e4m3 {}", c.T, c.S, c.D, c.e4m3));
    std::vector<float> o, lse, o2, lse2;
    run_mma(dev, c, o, lse, c.D);
    std::vector<float> want(c.q.size()), want_lse(static_cast<size_t>(c.T * c.Hq));
    ref::attention(c.q.data(), c.k.data(), c.v.data(), c.gate.data(), nullptr, nullptr, 1,
                   c.dims(), true, c.scale(), want.data(), want_lse.data());
    const conformance::AttentionBound b = bound_of(c, tensor_core::kBoundAttnF16.operand_u);
    double err = rel_l2(o, want), r = ratio(o, want, b.o);
    EXPECT_LE(r, tensor_core::kBoundAttnF16.bound);
    EXPECT_GT(err, 0.0); // fp16 operands: equal bits would mean the fp32 kernel ran
    std::printf("PoCL portable branch, D %lld: rel L2 %.3g, error/bound %.3g\n",
                static_cast<long long>(c.D), err, r);
    EXPECT_LE(ratio(lse, want_lse, b.lse), tensor_core::kBoundAttnF16.bound);
    run_mma(dev, c, o2, lse2, c.D);
    EXPECT_EQ(0, std::memcmp(o.data(), o2.data(), o.size() * 4)) << "not deterministic";
  }
  // D not a multiple of 16 is the manifest's d_multiple: the registry refuses it
  // (NvidiaOpenclFilesPickMmaForPrefill in test_attention_tensor_core_selection.cpp), and the
  // launcher no longer checks it again.
}

} // namespace
} // namespace tessera

// --- The Vulkan cooperative-matrix variant "nv_coopmat_f16" (kernels/attention/flash_coopmat.comp)
// It needs VK_NV_cooperative_matrix, which lavapipe lacks: the bound under its own rounding
// order, a clear failure (nothing written) when forced on lavapipe, and the shader with its
// matrix operations emulated.
namespace tessera {
namespace {

// The shader's order: 16-key tiles; P V of a tile summed from zero, then O = O * alpha + PV.
std::vector<float> emulate_coopmat(const Case& c) {
  std::vector<float> o(static_cast<size_t>(c.T * c.Hq * c.D));
  const int64_t G = c.Hq / c.Hkv;
  for (int64_t t = 0; t < c.T; ++t)
    for (int64_t hq = 0; hq < c.Hq; ++hq) {
      const float* q = &c.q[static_cast<size_t>((t * c.Hq + hq) * c.D)];
      const int64_t visible = std::min(c.S, t + (c.S - c.T) + 1);
      float m = -INFINITY, l = 0.0f;
      std::vector<float> acc(static_cast<size_t>(c.D), 0.0f);
      for (int64_t j0 = 0; j0 < visible; j0 += 16) {
        const int64_t nk = std::min<int64_t>(16, visible - j0);
        std::vector<float> s(static_cast<size_t>(nk));
        float m_new = m;
        for (int64_t j = 0; j < nk; ++j) {
          const float* k = &c.k[static_cast<size_t>(((j0 + j) * c.Hkv + hq / G) * c.D)];
          float dot = 0.0f;
          for (int64_t d = 0; d < c.D; ++d)
            dot += h(q[d]) * h(k[d]);
          s[j] = c.scale() * dot;
          m_new = std::max(m_new, s[j]);
        }
        const float alpha = m == -INFINITY ? 0.0f : std::exp(m - m_new);
        float sum = 0.0f;
        for (auto& e : s)
          sum += (e = h(std::exp(e - m_new)));
        l = l * alpha + sum;
        m = m_new;
        for (int64_t d = 0; d < c.D; ++d) {
          float pv = 0.0f;
          for (int64_t j = 0; j < nk; ++j)
            pv += s[j] * h(c.v[static_cast<size_t>(((j0 + j) * c.Hkv + hq / G) * c.D + d)]);
          acc[d] = acc[d] * alpha + pv;
        }
      }
      for (int64_t d = 0; d < c.D; ++d) {
        size_t i = static_cast<size_t>((t * c.Hq + hq) * c.D + d);
        o[i] = acc[d] / l * (1.0f / (1.0f + std::exp(-c.gate[i])));
      }
    }
  return o;
}

TEST(AttentionCoopmatBound, EmulatedShaderOrderStaysInsideTheBound) {
  double worst = 0;
  for (const Case& c : {Case(80, 96, 4, 2, 64, false, 21), Case(64, 64, 2, 1, 128, true, 22),
                        Case(40, 72, 4, 1, 256, false, 23), Case(48, 48, 2, 2, 256, true, 24)})
    expect_within_fp16_bound(c, emulate_coopmat(c), &worst);
  std::printf("coopmat order: emulated worst error/bound %.3g\n", worst);
}

TEST(AttentionCoopmatLaunch, ForcedOnADeviceWithoutCoopmatFailsAndWritesNothing) {
  if (!dispatch::backend_built("vulkan")) GTEST_SKIP() << "vulkan backend not built";
  const auto& devs = detail::vulkan::devices();
  int dev = -1;
  for (size_t i = 0; i < devs.size() && dev < 0; ++i)
    if (!classify(devs[i]).nv_cooperative_matrix) dev = static_cast<int>(i);
  if (dev < 0) GTEST_SKIP() << "every Vulkan device here has cooperative matrices";
  Case c(20, 24, 2, 1, 64, false, 31);
  std::vector<float> o(c.q.size(), -7.0f), lse(static_cast<size_t>(c.T * c.Hq), -7.0f);
  detail::AttentionRunArgs a{c.q.data(), c.k.data(), c.v.data(), DType::F32,
                             DType::F32, 1.0f,       1.0f,       c.gate.data(),
                             nullptr,    nullptr,    1,          {1, c.T, c.S, c.Hq, c.Hkv, c.D},
                             true,       c.scale(),  o.data(),   lse.data()};
  try {
    test::launch_vulkan(dev, "nv_coopmat_f16", a);
    ADD_FAILURE() << "ran on a device without VK_NV_cooperative_matrix";
  } catch (const detail::BackendFailure& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("VK_NV_cooperative_matrix"), std::string::npos) << what;
  }
  for (float x : o)
    ASSERT_EQ(x, -7.0f) << "output written on failure";
  for (float x : lse)
    ASSERT_EQ(x, -7.0f) << "lse written on failure";
  a.d.D = 72; // not a multiple of 16: refused before the device is looked at
  EXPECT_THROW(test::launch_vulkan(dev, "nv_coopmat_f16", a), detail::BackendFailure);
  EXPECT_EQ(o[0], -7.0f);
}

// A Vulkan device that runs nv_coopmat_f16.emulated (fp16 arithmetic), or -1.
int emulation_device() {
  const auto& devs = detail::vulkan::devices();
  for (size_t i = 0; i < devs.size(); ++i)
    if (classify(devs[i]).fp16) return static_cast<int>(i);
  return -1;
}

// Causal, gated, lse: o and lse start at -7.
void run_emulated(int dev, const Case& c, std::vector<float>& o, std::vector<float>& lse) {
  o.assign(c.q.size(), -7.0f), lse.assign(static_cast<size_t>(c.T * c.Hq), -7.0f);
  detail::AttentionRunArgs a{c.q.data(),
                             c.e4m3 ? static_cast<const void*>(c.k8.data()) : c.k.data(),
                             c.e4m3 ? static_cast<const void*>(c.v8.data()) : c.v.data(),
                             c.e4m3 ? DType::F8_E4M3 : DType::F32,
                             c.e4m3 ? DType::F8_E4M3 : DType::F32,
                             c.e4m3 ? c.k_scale : 1.0f,
                             c.e4m3 ? c.v_scale : 1.0f,
                             c.gate.data(),
                             nullptr,
                             nullptr,
                             1,
                             {1, c.T, c.S, c.Hq, c.Hkv, c.D},
                             true,
                             c.scale(),
                             o.data(),
                             lse.data()};
  detail::vulkan::run_attention_coopmat_emulated(dev, a);
}

// The shader itself with its matrix operations emulated (FC_EMULATE, D <= 64) on a Vulkan device
// without cooperative matrices: staging, masks, online softmax, GQA rows over two row tiles,
// gate, lse and E4M3 K/V as the real variant computes them, within the bound and deterministic.
TEST(AttentionCoopmatLaunch, EmulatedMatrixOpsRunTheTileLogicWithinTheBound) {
  if (!dispatch::backend_built("vulkan")) GTEST_SKIP() << "vulkan backend not built";
  const int dev = emulation_device();
  if (dev < 0) GTEST_SKIP() << "no Vulkan device with fp16 arithmetic";
  for (const Case& c : {Case(36, 40, 4, 2, 64, false, 41), Case(17, 24, 2, 1, 32, true, 42),
                        Case(20, 20, 3, 3, 48, false, 43)}) {
    SCOPED_TRACE(fmt::format("T {} S {} D {} e4m3 {}", c.T, c.S, c.D, c.e4m3));
    std::vector<float> o[2], lse[2];
    for (int rep = 0; rep < 2; ++rep) run_emulated(dev, c, o[rep], lse[rep]);
    std::vector<float> want(c.q.size()), want_lse(static_cast<size_t>(c.T * c.Hq));
    ref::attention(c.q.data(), c.k.data(), c.v.data(), c.gate.data(), nullptr, nullptr, 1, c.dims(),
                   true, c.scale(), want.data(), want_lse.data());
    const conformance::AttentionBound b = bound_of(c, tensor_core::kBoundAttnF16.operand_u);
    double err = rel_l2(o[0], want), emu = rel_l2(emulate_coopmat(c), want);
    std::printf("emulated coopmat shader, D %lld: rel L2 %.3g (CPU emulation %.3g), error/bound %.3g\n",
                static_cast<long long>(c.D), err, emu, ratio(o[0], want, b.o));
    EXPECT_LE(ratio(o[0], want, b.o), tensor_core::kBoundAttnF16.bound);
    EXPECT_GT(err, 0.0);            // fp16 operands: equal bits would mean an fp32 path ran
    EXPECT_LT(err, 3 * emu + 1e-4); // the same roundings as the CPU emulation of its order
    EXPECT_LE(ratio(lse[0], want_lse, b.lse), tensor_core::kBoundAttnF16.bound);
    EXPECT_EQ(0, std::memcmp(o[0].data(), o[1].data(), o[0].size() * 4)) << "not deterministic";
  }
}

// The same shader with its key range cut into windows (kAttentionWindowKeys, numerics.md
// "Attention on Vulkan: long key ranges": the fp32 O shares, row maxima and sums carried between
// dispatches through part_o / part_ml) and its row tiles into dispatches of one workgroup
// (testing.h): the bytes of o and lse equal one window's, and stay within the bound.
TEST(AttentionCoopmatLaunch, EmulatedWindowsChangeNoBit) {
  if (!dispatch::backend_built("vulkan")) GTEST_SKIP() << "vulkan backend not built";
  const int dev = emulation_device();
  if (dev < 0) GTEST_SKIP() << "no Vulkan device with fp16 arithmetic";
  struct Cut {
    Case c;
    int64_t window;
  };
  // Two row tiles and 300 keys (19 windows of 16; causal, so the first tile sees a window less);
  // GQA 3 and E4M3 with 10 windows of 32, the last one partial.
  for (const Cut& w : {Cut{Case(80, 300, 2, 2, 64, false, 51), 16}, Cut{Case(30, 310, 6, 2, 32, true, 52), 32}}) {
    const Case& c = w.c;
    SCOPED_TRACE(fmt::format("T {} S {} D {} window {}", c.T, c.S, c.D, w.window));
    std::vector<float> o, lse, o_cut, lse_cut;
    run_emulated(dev, c, o, lse);
    {
      const Overrides saved = detail::current_overrides();
      Overrides cut = saved;
      cut.vulkan_attention_window = w.window;
      cut.vulkan_dispatch_groups = 1;
      set_overrides(cut);
      run_emulated(dev, c, o_cut, lse_cut);
      set_overrides(saved);
    }
    EXPECT_EQ(0, std::memcmp(o.data(), o_cut.data(), o.size() * 4)) << "o";
    EXPECT_EQ(0, std::memcmp(lse.data(), lse_cut.data(), lse.size() * 4)) << "lse";
    std::vector<float> want(c.q.size()), want_lse(static_cast<size_t>(c.T * c.Hq));
    ref::attention(c.q.data(), c.k.data(), c.v.data(), c.gate.data(), nullptr, nullptr, 1, c.dims(),
                   true, c.scale(), want.data(), want_lse.data());
    EXPECT_LT(rel_l2(o_cut, want), tensor_core::kBoundAttnF16.bound);
    EXPECT_LT(rel_l2(lse_cut, want_lse), tensor_core::kBoundAttnF16.bound);
  }
}

} // namespace
} // namespace tessera
