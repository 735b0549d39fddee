// The NVIDIA tensor-core GEMM variants (nv_mma_f16, nv_mma_e4m3 on OpenCL; nv_coopmat_f16 on
// Vulkan), which cannot run on this machine's PoCL and lavapipe:
// - Selection: the registry picks them for prefill shapes on the NVIDIA device files of
//   tests/devices (Hopper, Blackwell, Ampere, Ada) and rejects them, with the right reason, on
//   PoCL, lavapipe, AMD and Intel files and for decode shapes; kinfo --device-file shows it.
// - Compilation: the OpenCL source the host assembles for an NVIDIA device file holds the PTX
//   path and, where clang (nvptx) and ptxas are installed, compiles to PTX that ptxas assembles
//   for sm_80 / sm_89 / sm_90; the embedded SPIR-V of the cooperative-matrix shader passes
//   spirv-val; the macro-0 source builds and runs on PoCL (its portable branch).
// The bound and the portable branch on PoCL: tests/test_gemm_tensor_core_numerics.cpp.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dispatch/registry.h"
#include "host/src/requirements.h"
#include "host/src/backends.h"
#include "host/src/opencl/source.h"
#include "variant_launch.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using dispatch::Problem;
namespace tensor_core = detail::tensor_core;

std::string device_file(const std::string& name) {
  return std::string(TESSERA_SOURCE_DIR) + "/tests/devices/" + name;
}

Problem gemm_problem(std::string_view op, int64_t M, int64_t N, int64_t K) {
  return Problem{op,
                 {{"M", M},
                  {"N", N},
                  {"K", K},
                  {"block_scaled", 0},
                  {"elements", std::max({M * K, N * K, M * N})}}};
}

using test::Picked;
Picked pick(const std::string& file, std::string_view op, std::string_view name, int64_t M) {
  return test::pick(dispatch::describe(load_device_file(device_file(file))), gemm_problem(op, M, 5120, 5120), name);
}

// Whether the library was built with the cooperative-matrix shader, as its registry record says:
// the record's requirement (compiled inside the library, with its private configure result) on
// a device that has everything else. EmbeddedCooperativeMatrixSpirvValidates checks it against
// the build's SPIR-V files.
bool coopmat_shader_built() {
  dispatch::DeviceRef d = dispatch::describe(load_device_file(device_file("h100-sxm-vulkan.json")));
  for (const auto& v : dispatch::variants())
    if (v.op == "gemm_fp8" && v.backend == "vulkan" && v.name == "nv_coopmat_f16")
      return v.requirements(v, d, gemm_problem("gemm_fp8", 4096, 5120, 5120)).empty();
  ADD_FAILURE() << "no vulkan nv_coopmat_f16 record in the registry";
  return false;
}

TEST(TensorCoreSelection, OpenclNvidiaFilesPickInlinePtxForPrefill) {
  if (!dispatch::backend_built("opencl")) GTEST_SKIP() << "opencl backend not built";
  struct Case {
    const char* file;
    const char* fp8; // expected choice for gemm_fp8 at M = 4096
  };
  for (Case c :
       {Case{"h100-sxm-opencl.json", "nv_mma_e4m3"}, Case{"b200-opencl.json", "nv_mma_e4m3"},
        Case{"rtx4090-opencl.json", "nv_mma_e4m3"}, Case{"rtx5090-opencl.json", "nv_mma_e4m3"},
        Case{"a100-opencl.json", "nv_mma_f16"}}) {
    SCOPED_TRACE(c.file);
    EXPECT_EQ(pick(c.file, "gemm_nvfp4", "nv_mma_f16", 4096).chosen, "nv_mma_f16");
    EXPECT_EQ(pick(c.file, "gemm_fp8", "nv_mma_e4m3", 4096).chosen, c.fp8);
    // Decode stays on the exact split-K variant.
    Picked decode = pick(c.file, "gemm_fp8", "nv_mma_f16", 8);
    EXPECT_EQ(decode.chosen, "gemv_splitk_exact");
    EXPECT_NE(decode.reason.find("decode"), std::string::npos) << decode.reason;
  }
  Picked a100 = pick("a100-opencl.json", "gemm_fp8", "nv_mma_e4m3", 4096);
  EXPECT_FALSE(a100.accepted);
  EXPECT_NE(a100.reason.find("8.0 < 8.9"), std::string::npos) << a100.reason;
}

TEST(TensorCoreSelection, VulkanNvidiaFilesPickCooperativeMatrixForPrefill) {
  if (!dispatch::backend_built("vulkan")) GTEST_SKIP() << "vulkan backend not built";
  for (const char* file :
       {"h100-sxm-vulkan.json", "h200-vulkan.json", "b200-vulkan.json", "rtx5090-vulkan.json"}) {
    SCOPED_TRACE(file);
    for (const char* op : {"gemm_nvfp4", "gemm_fp8"}) {
      Picked p = pick(file, op, "nv_coopmat_f16", 4096);
      if (coopmat_shader_built()) {
        EXPECT_EQ(p.chosen, "nv_coopmat_f16") << p.reason;
      } else {
        EXPECT_FALSE(p.accepted);
        EXPECT_NE(p.reason.find("not built"), std::string::npos) << p.reason;
      }
      EXPECT_EQ(pick(file, op, "nv_coopmat_f16", 1).chosen, "gemv_splitk_exact");
    }
  }
}

TEST(TensorCoreSelection, OtherDevicesRejectWithTheReason) {
  struct Case {
    const char* file;
    const char* variant;
    const char* reason; // a part of the expected reason
  };
  for (Case c : {Case{"pocl.json", "nv_mma_f16", "no inline PTX"},
                 Case{"pocl.json", "nv_mma_e4m3", "no inline PTX"},
                 Case{"lavapipe.json", "nv_coopmat_f16", "no VK_NV_cooperative_matrix"},
                 Case{"mi300x-vulkan.json", "nv_coopmat_f16", "no VK_NV_cooperative_matrix"},
                 Case{"arc-a770-vulkan.json", "nv_coopmat_f16", "no VK_NV_cooperative_matrix"}}) {
    SCOPED_TRACE(fmt::format("{} {}", c.file, c.variant));
    bool vk = std::string_view(c.variant) == "nv_coopmat_f16";
    if (!dispatch::backend_built(vk ? "vulkan" : "opencl")) continue;
    Picked p = pick(c.file, "gemm_fp8", c.variant, 4096);
    EXPECT_FALSE(p.accepted);
    if (vk && !coopmat_shader_built())
      EXPECT_NE(p.reason.find("not built"), std::string::npos) << p.reason;
    else
      EXPECT_NE(p.reason.find(c.reason), std::string::npos) << p.reason;
    EXPECT_EQ(p.chosen, "tiled_exact");
  }
}

TEST(TensorCoreSelection, DisablingInlinePtxFallsBackToExact) {
  if (!dispatch::backend_built("opencl")) GTEST_SKIP() << "opencl backend not built";
  dispatch::DeviceRef d = dispatch::describe(load_device_file(device_file("h100-sxm-opencl.json")));
  d.caps.nv_inline_ptx = false; // what "disable=cap:nv_inline_ptx" does to a device
  std::string reason = test::requirement("gemm_fp8", "opencl", "nv_mma_f16", d, gemm_problem("gemm_fp8", 4096, 5120, 5120));
  EXPECT_NE(reason.find("no inline PTX"), std::string::npos) << reason;
}

int run_command(const std::string& cmd) {
  int raw = std::system(cmd.c_str());
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
}

fs::path tmp_dir() {
  fs::path d = fs::path(TESSERA_TEST_TMP) / "tensor_core";
  fs::create_directories(d);
  return d;
}

TEST(TensorCoreKinfo, DescribedDevicesShowTheVariants) {
  if (!dispatch::backend_built("opencl")) GTEST_SKIP() << "opencl backend not built";
  fs::path out = tmp_dir() / "kinfo.json";
  std::string cmd =
      fmt::format("TESSERA_OVERRIDE=unproven=1 {} --json --device-file {} --shape M=4096,N=5120,K=5120 > {} 2> /dev/null",
                  TESSERA_KINFO, device_file("h100-sxm-opencl.json"), out.string());
  ASSERT_EQ(run_command(cmd), 0) << cmd;
  std::ifstream f(out);
  nlohmann::json j = nlohmann::json::parse(f);
  ASSERT_EQ(j["devices"].size(), 2u);
  EXPECT_EQ(j["devices"][1]["selections"]["gemm_fp8"]["variant"], "nv_mma_e4m3");
  EXPECT_EQ(j["devices"][1]["selections"]["gemm_nvfp4"]["variant"], "nv_mma_f16");
  EXPECT_NE(
      j["devices"][1]["selections"]["gemm_nvfp4"]["reason"].get<std::string>().find("bounded"),
      std::string::npos);
}

// --- Compilation -------------------------------------------------------------------------------

// Definitions of the few OpenCL builtins the kernels call, for clang's nvptx target, which has
// no OpenCL library: enough for ptxas to resolve the module (single-dimension launches).
constexpr const char* kNvptxShim = R"(
size_t __attribute__((overloadable)) get_local_id(uint d) { return __nvvm_read_ptx_sreg_tid_x(); }
size_t __attribute__((overloadable)) get_group_id(uint d) { return __nvvm_read_ptx_sreg_ctaid_x(); }
size_t __attribute__((overloadable)) get_num_groups(uint d) { return __nvvm_read_ptx_sreg_nctaid_x(); }
void __attribute__((overloadable)) barrier(cl_mem_fence_flags f) { __syncthreads(); }
uint __attribute__((overloadable)) clz(uint x) { return x == 0u ? 32u : (uint)__builtin_clz(x); }
int __attribute__((overloadable)) max(int a, int b) { return a > b ? a : b; }
uint __attribute__((overloadable)) min(uint a, uint b) { return a < b ? a : b; }
int __attribute__((overloadable)) isnan(float x) { return x != x; }
float __attribute__((overloadable)) convert_float_rte(long x) { return (float)x; }
)";

std::string find_tool(std::initializer_list<const char*> names) {
  for (const char* n : names) {
    std::string path = fs::path(n).is_absolute() ? std::string(n) : "";
    if (path.empty()) {
      fs::path out = tmp_dir() / "which.txt";
      if (run_command(fmt::format("command -v {} > {} 2> /dev/null", n, out.string())) != 0)
        continue;
      std::ifstream f(out);
      std::getline(f, path);
    }
    if (!path.empty() && fs::exists(path)) return path;
  }
  return "";
}

const DeviceFacts& h100_facts() {
  static const DeviceFacts f = load_device_file(device_file("h100-sxm-opencl.json"));
  return f;
}

TEST(TensorCoreCompile, NvidiaSourceHasThePtxPathAndPoclSourceDoesNot) {
  if (!dispatch::backend_built("opencl")) GTEST_SKIP() << "opencl backend not built";
  for (const char* file : {"gemm/nvfp4_mma.cl", "gemm/fp8_mma.cl"}) {
    std::string nv = detail::opencl::program_source(file, h100_facts());
    EXPECT_NE(nv.find("#define TESSERA_NV_INLINE_PTX 1"), std::string::npos) << file;
    EXPECT_NE(nv.find("mma.sync.aligned.m16n8k"), std::string::npos) << file;
    std::string pocl =
        detail::opencl::program_source(file, load_device_file(device_file("pocl.json")));
    EXPECT_NE(pocl.find("#define TESSERA_NV_INLINE_PTX 0"), std::string::npos) << file;
  }
}

// The NVIDIA source through a real OpenCL C front end (clang, nvptx64-nvidia-nvcl) to PTX, and
// the PTX through ptxas for the architectures the registry allows, so the inline asm strings,
// their operand constraints and the fragment code are checked by NVIDIA's assembler. clang 15
// writes PTX ISA 7.5 headers; the header is raised to 8.4 (what mma .e4m3 needs, CUDA 12.4+)
// and the target to the architecture under test.
TEST(TensorCoreCompile, PtxAssemblesWithPtxas) {
  if (!dispatch::backend_built("opencl")) GTEST_SKIP() << "opencl backend not built";
  std::string clang = find_tool({"clang-15", "clang-16", "clang-17", "clang-18", "clang"});
  std::string ptxas = find_tool({"ptxas", "/usr/local/cuda/bin/ptxas"});
  if (clang.empty() || ptxas.empty())
    GTEST_SKIP() << "needs clang (nvptx) and ptxas (CUDA toolkit)";
  struct Case {
    const char* op;
    const char* variant; // its record gives the kernel file and build options
    std::vector<std::string> archs;
    const char* refused; // an architecture ptxas must refuse, or nullptr
  };
  for (const Case& c : {Case{"gemm_nvfp4", "nv_mma_f16", {"sm_80", "sm_90"}, nullptr},
                        Case{"gemm_fp8", "nv_mma_f16", {"sm_80", "sm_90"}, nullptr},
                        Case{"gemm_fp8", "nv_mma_e4m3", {"sm_89", "sm_90"}, "sm_80"}}) {
    SCOPED_TRACE(std::string(c.op) + " " + c.variant);
    const core::Variant* record = nullptr;
    for (const core::Variant& v : dispatch::variants())
      if (v.backend == "opencl" && v.op == c.op && v.name == c.variant) record = &v;
    ASSERT_NE(record, nullptr);
    const std::string file(record->manifest.source);
    std::string src = detail::opencl::program_source(file, h100_facts());
    fs::path stem = tmp_dir() / (std::string(c.op) + "_" + c.variant);
    {
      std::ofstream f(stem.string() + ".cl");
      f << kNvptxShim << src;
    }
    std::string log = stem.string() + ".log";
    std::string cmd = fmt::format(
        "{} -x cl -cl-std=CL1.2 -fgnu-keywords -target nvptx64-nvidia-nvcl -Xclang "
        "-finclude-default-header -O2 -S -Xclang -target-feature -Xclang +ptx75 -Xclang "
        "-target-cpu -Xclang sm_80 -DWG_SIZE=256 {} {}.cl -o {}.ptx > {} 2>&1",
        clang, record->manifest.defines, stem.string(), stem.string(), log);
    ASSERT_EQ(run_command(cmd), 0) << cmd << "\n" << std::ifstream(log).rdbuf();
    std::stringstream ptx;
    ptx << std::ifstream(stem.string() + ".ptx").rdbuf();
    std::string text = ptx.str();
    EXPECT_NE(text.find("mma.sync.aligned"), std::string::npos);
    auto assemble = [&](const std::string& arch) {
      std::string t = text;
      size_t v = t.find(".version 7.5"), tg = t.find(".target sm_80");
      EXPECT_TRUE(v != std::string::npos && tg != std::string::npos);
      if (v == std::string::npos || tg == std::string::npos) return -1;
      t.replace(tg, 13, ".target " + arch);
      t.replace(v, 12, ".version 8.4");
      fs::path p = stem.string() + "." + arch + ".ptx";
      std::ofstream(p) << t;
      return run_command(fmt::format("{} -arch={} {} -o {}.cubin > {} 2>&1", ptxas, arch,
                                     p.string(), p.string(), log));
    };
    for (const std::string& arch : c.archs)
      EXPECT_EQ(assemble(arch), 0) << arch << "\n" << std::ifstream(log).rdbuf();
    if (c.refused) {
      EXPECT_NE(assemble(c.refused), 0) << "ptxas accepted mma .e4m3 on " << c.refused;
    }
  }
}

// The SPIR-V the build compiled with glslangValidator (and embedded from these very files) for
// the three forms of kernels/gemm/nv_coopmat.comp, through spirv-val where it is installed.
TEST(TensorCoreCompile, EmbeddedCooperativeMatrixSpirvValidates) {
  if (!dispatch::backend_built("vulkan")) GTEST_SKIP() << "vulkan backend not built";
  fs::path spirv = fs::path(TESSERA_TEST_TMP).parent_path().parent_path() / "spirv" / "gemm";
  bool built = coopmat_shader_built();
  std::string val = find_tool({"spirv-val"});
  for (const char* name :
       {"nv_coopmat.nvfp4.spv", "nv_coopmat.fp8_tensor.spv", "nv_coopmat.fp8_block.spv"}) {
    fs::path p = spirv / name;
    ASSERT_EQ(fs::exists(p), built) << p << ": the registry and the build disagree";
    if (!built) continue;
    std::ifstream f(p, std::ios::binary);
    uint32_t magic = 0;
    f.read(reinterpret_cast<char*>(&magic), 4);
    EXPECT_EQ(magic, 0x07230203u) << name;
    if (val.empty()) continue; // glslangValidator's own checks at build time remain
    EXPECT_EQ(
        run_command(fmt::format("{} --target-env vulkan1.1 {} > /dev/null 2>&1", val, p.string())),
        0)
        << name;
  }
  if (!built) GTEST_SKIP() << "this glslangValidator has no GL_NV_cooperative_matrix";
}

} // namespace
} // namespace tessera
