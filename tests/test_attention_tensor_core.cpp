// The NVIDIA tensor-core attention variant "nv_mma_f16" (OpenCL, kernels/attention/flash_mma.cl),
// which cannot take its PTX path on this machine's PoCL:
// - Selection: the registry picks it for prefill on the NVIDIA OpenCL device files and rejects
//   it with its reason on PoCL (no inline PTX), for decode shapes and for D not a multiple of 16.
// - Compilation: the source the host assembles for an H100 holds the mma.sync path; where clang
//   (nvptx) and ptxas are installed it compiles to PTX that ptxas assembles for sm_80 and sm_90.
// - The bound: a CPU emulation of the variant's rounding (q, k, v, p to fp16, fp32 sums, online
//   softmax over 32-key tiles) against ref::attention is within the attention error bound with
//   kBoundAttnF16's fp16 operand term (docs/numerics.md "Attention error bound").
// - The portable branch on PoCL, launched directly through its record: within the bound of the
//   reference, NaN-free and deterministic.
// The Vulkan cooperative-matrix form "nv_coopmat_f16" (flash_coopmat.comp): the tests at the end.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <sys/wait.h>

#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "conformance/attention_bound.h"
#include "dispatch/registry.h"
#include "host/src/requirements.h"
#include "host/src/backends.h"
#include "host/src/opencl/source.h"
#include "host/src/vulkan/testing.h"
#include "reference/attention.h"
#include "reference/formats.h"
#include "variant_launch.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
namespace tensor_core = detail::tensor_core;

std::string device_file(const std::string& name) {
  return std::string(TESSERA_SOURCE_DIR) + "/tests/devices/" + name;
}

dispatch::Problem attn_problem(int64_t T, int64_t D) {
  return dispatch::Problem{"attention",
                           {{"T", T}, {"S", 4096}, {"n_seqs", 1}, {"Hq", 24}, {"Hkv", 4}, {"D", D},
                            {"causal", 1}, {"elements", 4096 * 4 * D}}};
}

struct Picked {
  std::string chosen;
  bool accepted = false;
  std::string reason;
};
Picked pick(const std::string& file, int64_t T, int64_t D) {
  dispatch::DeviceRef d = dispatch::describe(load_device_file(device_file(file)));
  Picked out;
  for (const auto& v : dispatch::explain("attention", d, attn_problem(T, D), test::opt_in_unproven())) {
    if (v.accepted && out.chosen.empty()) out.chosen = std::string(v.variant->name);
    if (v.variant->name == "nv_mma_f16" && v.variant->backend == "opencl") {
      out.accepted = v.accepted;
      out.reason = v.reason;
    }
  }
  return out;
}

TEST(AttentionTensorCoreSelection, NvidiaOpenclFilesPickMmaForPrefill) {
  if (!dispatch::backend_built("opencl")) GTEST_SKIP() << "opencl backend not built";
  for (const char* file : {"h100-sxm-opencl.json", "b200-opencl.json", "a100-opencl.json",
                           "rtx4090-opencl.json", "rtx5090-opencl.json"}) {
    SCOPED_TRACE(file);
    for (int64_t D : {64, 128, 256}) EXPECT_EQ(pick(file, 512, D).chosen, "nv_mma_f16");
    Picked decode = pick(file, 4, 128);
    EXPECT_EQ(decode.chosen, "splitkv_decode");
    EXPECT_NE(decode.reason.find("decode"), std::string::npos) << decode.reason;
    Picked odd = pick(file, 512, 72);
    EXPECT_FALSE(odd.accepted);
    EXPECT_NE(odd.reason.find("multiple of 16"), std::string::npos) << odd.reason;
    EXPECT_EQ(odd.chosen, "flash_prefill");
  }
}

TEST(AttentionTensorCoreSelection, PoclAndDisabledPtxReject) {
  if (!dispatch::backend_built("opencl")) GTEST_SKIP() << "opencl backend not built";
  Picked p = pick("pocl.json", 512, 128);
  EXPECT_FALSE(p.accepted);
  EXPECT_NE(p.reason.find("no inline PTX"), std::string::npos) << p.reason;
  EXPECT_EQ(p.chosen, "flash_prefill");
  dispatch::DeviceRef d = dispatch::describe(load_device_file(device_file("h100-sxm-opencl.json")));
  d.caps.nv_inline_ptx = false; // what "disable=cap:nv_inline_ptx" does
  EXPECT_NE(test::requirement("attention", "opencl", "nv_mma_f16", d, attn_problem(512, 128)).find("no inline PTX"),
            std::string::npos);
  d.caps.nv_inline_ptx = true;
  d.caps.cc_major = 7, d.caps.cc_minor = 5;
  EXPECT_NE(test::requirement("attention", "opencl", "nv_mma_f16", d, attn_problem(512, 128)).find("7.5 < 8.0"),
            std::string::npos);
}

// --- Compilation ------------------------------------------------------------------------------

int run_command(const std::string& cmd) {
  int raw = std::system(cmd.c_str());
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
}

fs::path tmp_dir() {
  fs::path d = fs::path(TESSERA_TEST_TMP) / "attention_tensor_core";
  fs::create_directories(d);
  return d;
}

std::string find_tool(std::initializer_list<const char*> names) {
  for (const char* n : names) {
    fs::path out = tmp_dir() / "which.txt";
    if (run_command(fmt::format("command -v {} > {} 2> /dev/null", n, out.string())) != 0) continue;
    std::string path;
    std::getline(std::ifstream(out), path);
    if (!path.empty() && fs::exists(path)) return path;
  }
  return "";
}

// The OpenCL builtins the kernel calls, for clang's nvptx target (no OpenCL library there):
// enough for ptxas to resolve the module; the math ones are the PTX approximations, which only
// matters for this compile check, never for a result.
constexpr const char* kNvptxShim = R"(
size_t __attribute__((overloadable)) get_local_id(uint d) { return __nvvm_read_ptx_sreg_tid_x(); }
size_t __attribute__((overloadable)) get_group_id(uint d) { return __nvvm_read_ptx_sreg_ctaid_x(); }
size_t __attribute__((overloadable)) get_num_groups(uint d) { return __nvvm_read_ptx_sreg_nctaid_x(); }
void __attribute__((overloadable)) barrier(cl_mem_fence_flags f) { __syncthreads(); }
uint __attribute__((overloadable)) clz(uint x) { return x == 0u ? 32u : (uint)__builtin_clz(x); }
int __attribute__((overloadable)) max(int a, int b) { return a > b ? a : b; }
int __attribute__((overloadable)) min(int a, int b) { return a < b ? a : b; }
uint __attribute__((overloadable)) min(uint a, uint b) { return a < b ? a : b; }
int __attribute__((overloadable)) clamp(int x, int a, int b) { return x < a ? a : x > b ? b : x; }
int __attribute__((overloadable)) isnan(float x) { return x != x; }
float __attribute__((overloadable)) fmax(float a, float b) { return __nvvm_fmax_f(a, b); }
float __attribute__((overloadable)) exp(float x) { return __nvvm_ex2_approx_f(x * 1.44269504f); }
float __attribute__((overloadable)) log(float x) { return __nvvm_lg2_approx_f(x) * 0.693147181f; }
)";

TEST(AttentionTensorCoreCompile, NvidiaSourceHasThePtxPathAndPoclSourceDoesNot) {
  if (!dispatch::backend_built("opencl")) GTEST_SKIP() << "opencl backend not built";
  const char* file = "attention/flash_mma.cl";
  std::string nv = detail::opencl::program_source(file, load_device_file(device_file("h100-sxm-opencl.json")));
  EXPECT_NE(nv.find("#define TESSERA_NV_INLINE_PTX 1"), std::string::npos);
  EXPECT_NE(nv.find("mma.sync.aligned.m16n8k16"), std::string::npos);
  std::string pocl = detail::opencl::program_source(file, load_device_file(device_file("pocl.json")));
  EXPECT_NE(pocl.find("#define TESSERA_NV_INLINE_PTX 0"), std::string::npos);
}

TEST(AttentionTensorCoreCompile, PtxAssemblesWithPtxas) {
  if (!dispatch::backend_built("opencl")) GTEST_SKIP() << "opencl backend not built";
  std::string clang = find_tool({"clang-15", "clang-16", "clang-17", "clang-18", "clang"});
  std::string ptxas = find_tool({"ptxas", "/usr/local/cuda/bin/ptxas"});
  if (clang.empty() || ptxas.empty()) GTEST_SKIP() << "needs clang (nvptx) and ptxas (CUDA toolkit)";
  // Built as the launcher builds it: the head limit and local memory of its record's manifest.
  const core::Variant* mma = test::find_record<detail::AttentionRunArgs>("opencl", "nv_mma_f16");
  ASSERT_NE(mma, nullptr);
  std::string src = detail::opencl::program_source(
      "attention/flash_mma.cl", load_device_file(device_file("h100-sxm-opencl.json")));
  fs::path stem = tmp_dir() / "flash_mma";
  std::ofstream(stem.string() + ".cl") << kNvptxShim << src;
  std::string log = stem.string() + ".log";
  std::string cmd = fmt::format(
      "{} -x cl -cl-std=CL1.2 -fgnu-keywords -target nvptx64-nvidia-nvcl -Xclang "
      "-finclude-default-header -O2 -S -Xclang -target-feature -Xclang +ptx75 -Xclang "
      "-target-cpu -Xclang sm_80 -DWG_SIZE=256 -DATT_DMAX={} -DLOCAL_BYTES={} {}.cl -o {}.ptx > {} 2>&1",
      clang, mma->manifest.limits.max_d, mma->manifest.limits.local_bytes, stem.string(), stem.string(), log);
  ASSERT_EQ(run_command(cmd), 0) << cmd << "\n" << std::ifstream(log).rdbuf();
  std::stringstream ptx;
  ptx << std::ifstream(stem.string() + ".ptx").rdbuf();
  const std::string text = ptx.str();
  EXPECT_NE(text.find("mma.sync.aligned.m16n8k16"), std::string::npos);
  for (const std::string arch : {"sm_80", "sm_90"}) {
    std::string t = text;
    size_t v = t.find(".version 7.5"), tg = t.find(".target sm_80");
    ASSERT_TRUE(v != std::string::npos && tg != std::string::npos);
    t.replace(tg, 13, ".target " + arch);
    t.replace(v, 12, ".version 8.4");
    fs::path p = stem.string() + "." + arch + ".ptx";
    std::ofstream(p) << t;
    EXPECT_EQ(run_command(fmt::format("{} -arch={} {} -o {}.cubin > {} 2>&1", ptxas, arch,
                                      p.string(), p.string(), log)),
              0)
        << arch << "\n"
        << std::ifstream(log).rdbuf();
  }
}

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
  return conformance::attention_bound_ratio(got.data(), want.data(), bound.data(), want.size());
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
  // (NvidiaOpenclFilesPickMmaForPrefill), and the launcher no longer checks it again.
}

} // namespace
} // namespace tessera

// --- The Vulkan cooperative-matrix variant "nv_coopmat_f16" (kernels/attention/flash_coopmat.comp)
// It needs VK_NV_cooperative_matrix, which lavapipe lacks: selection on the NVIDIA Vulkan device
// files, rejection elsewhere with the reason, the bound under its own rounding order, spirv-val
// of the SPIR-V the build embedded, and a clear failure (nothing written) when forced on lavapipe.
namespace tessera {
namespace {

Picked pick_vk(const std::string& file, int64_t T, int64_t D) {
  dispatch::DeviceRef d = dispatch::describe(load_device_file(device_file(file)));
  Picked out;
  for (const auto& v : dispatch::explain("attention", d, attn_problem(T, D), test::opt_in_unproven())) {
    if (v.variant->backend != "vulkan") continue;
    if (v.accepted && out.chosen.empty()) out.chosen = std::string(v.variant->name);
    if (v.variant->name == "nv_coopmat_f16") {
      out.accepted = v.accepted;
      out.reason = v.reason;
    }
  }
  return out;
}

// Whether this build has the shader (the registry's requirement sees the configure probe).
bool attn_coopmat_built() {
  dispatch::DeviceRef d = dispatch::describe(load_device_file(device_file("h100-sxm-vulkan.json")));
  for (const auto& v : dispatch::variants())
    if (v.op == "attention" && v.backend == "vulkan" && v.name == "nv_coopmat_f16")
      return v.requirements(v, d, attn_problem(512, 128)).empty();
  ADD_FAILURE() << "no vulkan attention nv_coopmat_f16 record in the registry";
  return false;
}

TEST(AttentionCoopmatSelection, NvidiaVulkanFilesPickCoopmatForPrefill) {
  if (!dispatch::backend_built("vulkan")) GTEST_SKIP() << "vulkan backend not built";
  const bool built = attn_coopmat_built();
  for (const char* file :
       {"h100-sxm-vulkan.json", "h200-vulkan.json", "b200-vulkan.json", "rtx5090-vulkan.json"}) {
    SCOPED_TRACE(file);
    for (int64_t D : {64, 128, 256}) {
      Picked p = pick_vk(file, 512, D);
      if (built) {
        EXPECT_EQ(p.chosen, "nv_coopmat_f16") << p.reason;
      } else {
        EXPECT_FALSE(p.accepted);
        EXPECT_NE(p.reason.find("not built"), std::string::npos) << p.reason;
      }
    }
    Picked decode = pick_vk(file, 4, 128);
    EXPECT_EQ(decode.chosen, "splitkv_decode");
    EXPECT_FALSE(decode.accepted);
    if (built) {
      EXPECT_NE(decode.reason.find("decode"), std::string::npos) << decode.reason;
    }
    Picked odd = pick_vk(file, 512, 72);
    EXPECT_FALSE(odd.accepted);
    if (built) {
      EXPECT_NE(odd.reason.find("multiple of 16"), std::string::npos) << odd.reason;
    }
    EXPECT_EQ(odd.chosen, "flash_prefill");
    Picked wide = pick_vk(file, 512, 512); // the head limit first, whatever the device
    EXPECT_FALSE(wide.accepted);
    EXPECT_NE(wide.reason.find("D = 512 > 256"), std::string::npos) << wide.reason;
  }
}

TEST(AttentionCoopmatSelection, OtherVulkanDevicesRejectWithTheReason) {
  if (!dispatch::backend_built("vulkan")) GTEST_SKIP() << "vulkan backend not built";
  const bool built = attn_coopmat_built();
  for (const char* file : {"lavapipe.json", "mi300x-vulkan.json", "arc-a770-vulkan.json"}) {
    SCOPED_TRACE(file);
    Picked p = pick_vk(file, 512, 128);
    EXPECT_FALSE(p.accepted);
    EXPECT_NE(p.reason.find(built ? "no VK_NV_cooperative_matrix" : "not built"), std::string::npos)
        << p.reason;
    EXPECT_EQ(p.chosen, "flash_prefill");
  }
  dispatch::DeviceRef d = dispatch::describe(load_device_file(device_file("h100-sxm-vulkan.json")));
  d.facts.subgroup_size = 64;
  // Through the registry's record: this file's copy of tensor_core.h does not see the build's
  // probe.
  for (const auto& v : dispatch::variants())
    if (built && v.op == "attention" && v.backend == "vulkan" && v.name == "nv_coopmat_f16") {
      EXPECT_NE(v.requirements(v, d, attn_problem(512, 128)).find("subgroup size 64"),
                std::string::npos);
    }
}

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

// The SPIR-V the build compiled with glslangValidator and embedded, through spirv-val.
TEST(AttentionCoopmatCompile, EmbeddedSpirvValidates) {
  if (!dispatch::backend_built("vulkan")) GTEST_SKIP() << "vulkan backend not built";
  fs::path p = fs::path(TESSERA_TEST_TMP).parent_path().parent_path() / "spirv" / "attention" /
               "flash_coopmat.spv";
  const bool built = attn_coopmat_built();
  ASSERT_EQ(fs::exists(p), built) << p << ": the registry and the build disagree";
  if (!built) GTEST_SKIP() << "this glslangValidator has no GL_NV_cooperative_matrix";
  std::ifstream f(p, std::ios::binary);
  uint32_t magic = 0;
  f.read(reinterpret_cast<char*>(&magic), 4);
  EXPECT_EQ(magic, 0x07230203u);
  std::string val = find_tool({"spirv-val"});
  if (val.empty()) GTEST_SKIP() << "spirv-val not installed (glslangValidator's checks remain)";
  EXPECT_EQ(
      run_command(fmt::format("{} --target-env vulkan1.1 {} > /dev/null 2>&1", val, p.string())),
      0);
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
    detail::vulkan::set_attention_window_for_testing(w.window);
    detail::vulkan::set_dispatch_groups_for_testing(1);
    run_emulated(dev, c, o_cut, lse_cut);
    detail::vulkan::set_attention_window_for_testing(0);
    detail::vulkan::set_dispatch_groups_for_testing(0);
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
