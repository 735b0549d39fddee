// The selection and compilation of the NVIDIA tensor-core attention variants, which cannot take
// their tensor-core paths on this machine's PoCL and lavapipe:
// - Selection: the registry picks "nv_mma_f16" (OpenCL, kernels/attention/flash_mma.cl) for
//   prefill on the NVIDIA OpenCL device files and rejects it with its reason on PoCL (no inline
//   PTX), for decode shapes and for D not a multiple of 16; the same for the Vulkan
//   cooperative-matrix form "nv_coopmat_f16" (flash_coopmat.comp) on the NVIDIA Vulkan device
//   files, rejected elsewhere with the reason.
// - Compilation: the source the host assembles for an H100 holds the mma.sync path; where clang
//   (nvptx) and ptxas are installed it compiles to PTX that ptxas assembles for sm_80 and sm_90;
//   the SPIR-V of flash_coopmat.comp the build embedded passes spirv-val.
// The bounds, the portable branch and the emulated shader: tests/test_attention_tensor_core.cpp.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "dispatch/registry.h"
#include "host/src/backends.h"
#include "host/src/opencl/source.h"
#include "variant_launch.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

std::string device_file(const std::string& name) {
  return std::string(TESSERA_SOURCE_DIR) + "/tests/devices/" + name;
}

dispatch::Problem attn_problem(int64_t T, int64_t D) {
  return dispatch::Problem{"attention",
                           {{"T", T}, {"S", 4096}, {"n_seqs", 1}, {"Hq", 24}, {"Hkv", 4}, {"D", D},
                            {"causal", 1}, {"elements", 4096 * 4 * D}}};
}

using test::Picked;
// The registry on an OpenCL device file: its choice, and its verdict on nv_mma_f16.
Picked pick(const std::string& file, int64_t T, int64_t D) {
  return test::pick(dispatch::describe(load_device_file(device_file(file))), attn_problem(T, D), "nv_mma_f16",
                    "opencl");
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

// --- The Vulkan cooperative-matrix variant "nv_coopmat_f16" (kernels/attention/flash_coopmat.comp)
// It needs VK_NV_cooperative_matrix, which lavapipe lacks: selection on the NVIDIA Vulkan device
// files, rejection elsewhere with the reason, and spirv-val of the SPIR-V the build embedded.

Picked pick_vk(const std::string& file, int64_t T, int64_t D) {
  return test::pick(dispatch::describe(load_device_file(device_file(file))), attn_problem(T, D), "nv_coopmat_f16",
                    "vulkan");
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

} // namespace
} // namespace tessera
