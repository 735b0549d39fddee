// Why a backend has no device, as the user sees it: krun's error for a call that asks for that
// backend and kinfo's report, with the ICDs made missing or broken through the loaders'
// environment variables; calls on the CPU still run. And how a bad override entry is reported.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "dispatch/registry.h"
#include "core/overrides.h"
#include "tessera/error.h"
#include "tessera/overrides.h"
#include "tessera/safetensors.h"
#include "test_util.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {

// One directory per test: ctest may run the tests in parallel.
fs::path tmp_dir() {
  fs::path d = fs::path(TESSERA_TEST_TMP) / "diagnostics" /
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
  fs::create_directories(d);
  return d;
}

// An empty directory `name` in the test's directory.
fs::path empty_dir(const std::string& name) {
  fs::path d = tmp_dir() / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string read_all(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Result {
  int status;
  std::string out, err;
};

// Runs `tool args` under `env` ("NAME=value ..." for env(1), which also takes "-u NAME"). The
// loaders' variables the test does not set are unset, so the caller's environment cannot steer
// the search (VK_DRIVER_FILES would win over VK_ICD_FILENAMES).
Result run(const std::string& env, const std::string& tool, const std::string& args) {
  fs::path out = tmp_dir() / "stdout.txt", err = tmp_dir() / "stderr.txt";
  std::string clean;
  for (const char* v :
       {"OCL_ICD_VENDORS", "OCL_ICD_FILENAMES", "OPENCL_VENDOR_PATH", "VK_DRIVER_FILES",
        "VK_ICD_FILENAMES", "VK_ADD_DRIVER_FILES", "TESSERA_OVERRIDE", "POCL_DEVICES"})
    if (env.find(std::string(v) + "=") == std::string::npos) clean += std::string(" -u ") + v;
  std::string cmd = "env" + clean + " " + env + " " + tool + " " + args + " > " + out.string() +
                    " 2> " + err.string();
  int raw = std::system(cmd.c_str());
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, read_all(out), read_all(err)};
}

// A one-tensor input for `krun convert`, and the arguments that convert it to e4m3 on `backend`.
std::string convert_args(const fs::path& dir, const std::string& backend) {
  TensorMap in;
  in.emplace("x", test::f32_tensor({4}, {1.5f, -2.25f, 1e-3f, 448.0f}));
  safetensors::save((dir / "in.safetensors").string(), in);
  fs::remove(dir / "out.safetensors");
  return "convert --param to=e4m3 --backend " + backend + " --in " +
         (dir / "in.safetensors").string() + " --out " + (dir / "out.safetensors").string();
}

bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// `krun --backend <backend>` under `env` fails with one line naming the cause (every needle);
// the same call on the CPU succeeds and prints nothing; kinfo reports the same reason.
void expect_no_device(const std::string& env, const std::string& backend,
                      const std::vector<std::string>& needles) {
  fs::path dir = tmp_dir();
  Result r = run(env, TESSERA_KRUN, convert_args(dir, backend));
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(has(r.err, "no " + backend + " device 0 (none found: ")) << r.err;
  for (const std::string& n : needles)
    EXPECT_TRUE(has(r.err, n)) << "missing '" << n << "' in: " << r.err;
  EXPECT_FALSE(fs::exists(dir / "out.safetensors"));

  Result cpu = run(env, TESSERA_KRUN, convert_args(dir, "cpu"));
  EXPECT_EQ(cpu.status, 0) << cpu.err;
  EXPECT_EQ(cpu.err, "");
  EXPECT_TRUE(fs::exists(dir / "out.safetensors"));

  Result text = run(env, TESSERA_KINFO, "");
  EXPECT_EQ(text.status, 0) << text.err;
  EXPECT_TRUE(has(text.out, "cpu 0: CPU reference")) << text.out;
  EXPECT_TRUE(has(text.out, backend + ": no device: ")) << text.out;
  for (const std::string& n : needles)
    EXPECT_TRUE(has(text.out, n)) << "missing '" << n << "' in: " << text.out;

  Result json = run(env, TESSERA_KINFO, "--json");
  ASSERT_EQ(json.status, 0) << json.err;
  auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["backends"][backend]["devices"], 0);
  std::string why = j["backends"][backend]["no_device_reason"].get<std::string>();
  for (const std::string& n : needles)
    EXPECT_TRUE(has(why, n)) << "missing '" << n << "' in: " << why;
}

void expect_error(const std::string& needle, const std::function<void()>& fn) {
  try {
    fn();
    ADD_FAILURE() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
    EXPECT_TRUE(has(e.what(), needle)) << e.what();
  }
}

} // namespace

TEST(Diagnostics, OpenclWithAnEmptyVendorsDirectory) {
  if (!dispatch::backend_built("opencl")) GTEST_SKIP() << "the opencl backend is not built";
  fs::path vendors = empty_dir("vendors");
  expect_no_device("OCL_ICD_VENDORS=" + vendors.string(), "opencl",
                   {"clGetPlatformIDs: CL_PLATFORM_NOT_FOUND_KHR (-1001",
                    "OCL_ICD_VENDORS=" + vendors.string() + ": no .icd file"});
}

TEST(Diagnostics, OpenclWithAnIcdNamingAMissingLibrary) {
  if (!dispatch::backend_built("opencl")) GTEST_SKIP() << "the opencl backend is not built";
  fs::path vendors = empty_dir("vendors");
  std::ofstream(vendors / "gone.icd") << "/nonexistent/libgone.so\n";
  expect_no_device("OCL_ICD_VENDORS=" + vendors.string(), "opencl",
                   {"CL_PLATFORM_NOT_FOUND_KHR", "gone.icd -> /nonexistent/libgone.so (missing)"});
}

TEST(Diagnostics, OpenclPlatformWithoutDevices) {
  // PoCL with a device list it does not know loads as a platform with no device.
  if (!dispatch::backend_built("opencl") || !fs::exists("/etc/OpenCL/vendors/pocl.icd"))
    GTEST_SKIP() << "needs the opencl backend and PoCL's ICD";
  expect_no_device("POCL_DEVICES=nosuchdevice", "opencl",
                   {"platform 'Portable Computing Language' has no device", "pocl.icd -> "});
}

TEST(Diagnostics, VulkanManifestThatIsNotJson) {
  if (!dispatch::backend_built("vulkan")) GTEST_SKIP() << "the vulkan backend is not built";
  fs::path bad = tmp_dir() / "bad_icd.json";
  std::ofstream(bad) << "{ \"ICD\": { \"library_path\": ";
  // Whatever the loader answers (VK_ERROR_OUT_OF_HOST_MEMORY for a parse failure), the reason
  // names the manifest, through either variable.
  for (const char* var : {"VK_ICD_FILENAMES", "VK_DRIVER_FILES"})
    expect_no_device(std::string(var) + "=" + bad.string(), "vulkan",
                     {"vkCreateInstance: VK_ERROR_", "likely caused by a broken ICD manifest",
                      std::string("(") + var + "): " + bad.string() + " is not valid JSON"});
}

TEST(Diagnostics, VulkanManifestNamingAMissingLibrary) {
  if (!dispatch::backend_built("vulkan")) GTEST_SKIP() << "the vulkan backend is not built";
  fs::path dir = empty_dir("icd.d");
  std::ofstream(dir / "gone.json")
      << R"({"file_format_version": "1.0.0", "ICD": {"library_path": "/nonexistent/libvulkan_gone.so", "api_version": "1.3.0"}})";
  expect_no_device("VK_DRIVER_FILES=" + dir.string(), "vulkan",
                   {"VK_ERROR_INCOMPATIBLE_DRIVER",
                    "gone.json names a missing library /nonexistent/libvulkan_gone.so"});
}

TEST(Diagnostics, VulkanWithNoManifest) {
  if (!dispatch::backend_built("vulkan")) GTEST_SKIP() << "the vulkan backend is not built";
  fs::path dir = empty_dir("icd.d");
  expect_no_device("VK_DRIVER_FILES=" + dir.string(), "vulkan",
                   {"VK_ERROR_INCOMPATIBLE_DRIVER",
                    "no ICD manifest found (VK_DRIVER_FILES: " + dir.string() + ")"});
}

TEST(Diagnostics, ReasonIsEmptyWhereADeviceWasFound) {
  for (const char* b : {"opencl", "vulkan"}) {
    bool any = std::any_of(dispatch::devices().begin(), dispatch::devices().end(),
                           [&](const dispatch::DeviceRef& d) { return d.backend == b; });
    EXPECT_EQ(any, dispatch::no_device_reason(b).empty())
        << b << ": " << dispatch::no_device_reason(b);
  }
}

// The decision (overrides.cpp, docs/architecture.md): in TESSERA_OVERRIDE a bad entry is left
// out and reported once, the others apply; through the API the whole text is refused.
TEST(Overrides, ABadEnvironmentEntryIsReportedOnceAndTheOthersApply) {
  if (!dispatch::backend_built("opencl")) GTEST_SKIP() << "the opencl backend is not built";
  std::string pocl = std::string(TESSERA_SOURCE_DIR) + "/tests/devices/pocl.json";
  Result r = run("TESSERA_OVERRIDE='colour=red; disable=opencl:convert:elementwise'", TESSERA_KINFO,
                 "--json --device-file " + pocl);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string warning = "tessera: TESSERA_OVERRIDE: ignoring override 'colour=red': unknown "
                              "key 'colour' (known: backend, variant, "
                              "disable, fail, numerics, strict, unproven, program_cache, cache_dir, tune_as, "
                              "vulkan_attention_window, vulkan_deltanet_window, vulkan_dispatch_groups); the other "
                              "entries apply\n";
  EXPECT_EQ(r.err, warning); // once, though kinfo asks for the overrides many times
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["override_errors"].size(), 1u);
  EXPECT_TRUE(has(j["override_errors"][0].get<std::string>(), "override 'colour=red'"));
  // The disable= entry next to it still applies.
  std::string convert = j["devices"][1]["selections"]["convert"]["reason"].get<std::string>();
  EXPECT_TRUE(has(convert, "elementwise: disabled by override")) << convert;

  Result text =
      run("TESSERA_OVERRIDE='colour=red; disable=opencl:convert:elementwise'", TESSERA_KINFO, "");
  EXPECT_TRUE(has(text.out, "TESSERA_OVERRIDE: ignored override 'colour=red'")) << text.out;

  // A call under the same variable runs, warning once.
  fs::path dir = tmp_dir();
  Result cpu = run("TESSERA_OVERRIDE='colour=red; disable=opencl:convert:elementwise'",
                   TESSERA_KRUN, convert_args(dir, "cpu"));
  EXPECT_EQ(cpu.status, 0) << cpu.err;
  EXPECT_EQ(cpu.err, warning);
}

// kinfo shows the choices that are not variants: the Vulkan fp32 shader build (from the
// rounding_mode_rte capability, which disable=cap: masks) and each choice's tuning row.
TEST(Kinfo, ShowsTheFp32ShaderBuildAndTheTuningRow) {
  if (!dispatch::backend_built("vulkan")) GTEST_SKIP() << "the vulkan backend is not built";
  std::string lavapipe = "--json --device-file " + std::string(TESSERA_SOURCE_DIR) + "/tests/devices/lavapipe.json";
  Result r = run("", TESSERA_KINFO, lavapipe);
  ASSERT_EQ(r.status, 0) << r.err;
  auto dev = nlohmann::json::parse(r.out)["devices"][1];
  EXPECT_TRUE(has(dev["fp32_shader_build"].get<std::string>(), ".rte")) << dev.dump();
  EXPECT_EQ(dev["selections"]["gemm_nvfp4"]["tuning"]["row"], "cpu") << dev["selections"].dump();
  EXPECT_TRUE(has(dev["selections"]["gemm_nvfp4"]["tuning"]["values"].get<std::string>(), "TM=8 TN=8"));

  Result off = run("TESSERA_OVERRIDE='disable=cap:rounding_mode_rte;tune_as=generic'", TESSERA_KINFO, lavapipe);
  ASSERT_EQ(off.status, 0) << off.err;
  dev = nlohmann::json::parse(off.out)["devices"][1];
  EXPECT_TRUE(has(dev["fp32_shader_build"].get<std::string>(), "plain")) << dev.dump();
  EXPECT_FALSE(dev["capabilities"]["rounding_mode_rte"].get<bool>());
  EXPECT_EQ(dev["selections"]["gemm_nvfp4"]["tuning"]["row"], "*");
}

TEST(Overrides, SetOverridesRefusesABadEntryNamingItAndChangesNothing) {
  set_overrides("disable=opencl:convert:elementwise");
  for (std::string bad : {"backend", "backend=cuda", "variant=block16", "disable=", "fail=opencl:convert",
                          "program_cache=maybe", "colour=red", "tune_as=tpu", "vulkan_attention_window=-16",
                          "vulkan_deltanet_window=64k", "vulkan_dispatch_groups=4294967296"}) {
    expect_error("override '" + bad + "'",
                 [&] { set_overrides(bad + ";disable=vulkan:convert:elementwise"); });
    expect_error("override '" + bad + "'", [&] { parse_overrides("backend=cpu; " + bad); });
  }
  Overrides now = detail::current_overrides();
  EXPECT_EQ(now.disabled, std::set<std::string>{"opencl:convert:elementwise"});
  set_overrides(Overrides{});
  Overrides windows = parse_overrides("vulkan_attention_window=4096; vulkan_deltanet_window=128; vulkan_dispatch_groups=5");
  EXPECT_EQ(windows.vulkan_attention_window, 4096);
  EXPECT_EQ(windows.vulkan_deltanet_window, 128);
  EXPECT_EQ(windows.vulkan_dispatch_groups, 5);
}
