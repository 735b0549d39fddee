// krun end to end: each operation through a real file round trip equals the API, and every bad
// input gives a non-zero exit, exactly one line on stderr and no output file.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "dispatch/registry.h"
#include "tessera/named_ops.h"
#include "tessera/safetensors.h"
#include "test_util.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {

using Result = test::ToolRun;

fs::path tmp_dir() {
  fs::path d = fs::path(TESSERA_TEST_TMP) / ::testing::UnitTest::GetInstance()->current_test_info()->name();
  fs::create_directories(d);
  return d;
}

Result krun(const std::string& args) {
  return test::run_tool(std::string(TESSERA_KRUN) + " " + args, (tmp_dir() / "stderr.txt").string());
}

// A failure: non-zero status, one line on stderr mentioning `needle`, no output file.
void expect_krun_fails(const std::string& args, const std::string& needle) {
  fs::path out = tmp_dir() / "out.safetensors";
  fs::remove(out);
  Result r = krun(args + " --out " + out.string());
  EXPECT_NE(r.status, 0) << args;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  EXPECT_FALSE(fs::exists(out)) << "partial output left by " << args;
}

std::string write_inputs(const TensorMap& t, const std::string& name = "in.safetensors") {
  fs::path p = tmp_dir() / name;
  safetensors::save(p.string(), t);
  return p.string();
}

TensorMap matrix_input(int64_t rows, int64_t cols, uint32_t seed) {
  TensorMap in;
  in.emplace("x", test::f32_tensor({rows, cols}, test::random_floats(rows * cols, -4, 4, seed)));
  return in;
}

void expect_same(const TensorMap& a, const TensorMap& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    const Tensor& u = b.at(name);
    EXPECT_EQ(t.dtype(), u.dtype()) << name;
    EXPECT_EQ(t.shape(), u.shape()) << name;
    EXPECT_TRUE(t.nbytes() == u.nbytes() && std::equal(t.data(), t.data() + t.nbytes(), u.data())) << name;
  }
}

} // namespace

TEST(Krun, EveryQuantizerAndGemmMatchesTheApi) {
  TensorMap in = matrix_input(5, 64, 1);
  std::string in_path = write_inputs(in);
  fs::path out = tmp_dir() / "out.safetensors";
  struct Case {
    std::string op;
    ParamMap params;
  };
  for (const Case& c : std::vector<Case>{{"convert", {{"to", "e4m3"}}},
                                         {"convert", {{"to", "e2m1"}}},
                                         {"convert", {{"to", "bf16"}}},
                                         {"quantize_nvfp4", {{"recipe", "nvfp4"}}},
                                         {"quantize_nvfp4", {{"recipe", "nvfp4-4over6"}}},
                                         {"quantize_nvfp4", {{"scale_2", "0.0005"}}},
                                         {"quantize_fp8", {{"recipe", "fp8-token128"}}}}) {
    std::string args = c.op + " --in " + in_path + " --out " + out.string();
    for (const auto& [k, v] : c.params) args += " --param " + k + "=" + v;
    Result r = krun(args);
    ASSERT_EQ(r.status, 0) << args << ": " << r.err;
    expect_same(safetensors::load(out.string()), run_named_op(c.op, in, c.params));
  }

  // Quantize two matrices, then multiply them through krun.
  TensorMap a = run_named_op("quantize_nvfp4", matrix_input(3, 64, 2), {});
  TensorMap b = run_named_op("quantize_nvfp4", matrix_input(4, 64, 3), {});
  TensorMap g;
  for (auto& [k, v] : a) g.emplace("a" + k.substr(1), v);
  for (auto& [k, v] : b) g.emplace("b" + k.substr(1), v);
  std::string g_path = write_inputs(g, "gemm.safetensors");
  Result r = krun("gemm_nvfp4 --in " + g_path + " --out " + out.string() + " --param out=f16 --verbose");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("ran variant 'reference' on cpu"), std::string::npos) << r.err;
  expect_same(safetensors::load(out.string()), run_named_op("gemm_nvfp4", g, {{"out", "f16"}}));
}

TEST(Krun, BadInputsFailCleanly) {
  std::string good = write_inputs(matrix_input(2, 32, 4));
  expect_krun_fails("quantize_nvfp4 --in " + (tmp_dir() / "absent.safetensors").string(), "cannot open");
  expect_krun_fails("frobnicate --in " + good, "unknown operation 'frobnicate'");
  expect_krun_fails("quantize_nvfp4 --in " + good + " --backend opencl --device 99", "opencl");
  expect_krun_fails("quantize_nvfp4 --in " + good + " --backend metal", "unknown backend");
  expect_krun_fails("quantize_nvfp4 --in " + good + " --device 3", "not device 3");
  expect_krun_fails("quantize_nvfp4 --in " + good + " --variant tiled_exact", "no variant 'tiled_exact'");
  expect_krun_fails("quantize_nvfp4 --in " + good + " --param recipe=nvfp8", "is not one of");
  expect_krun_fails("quantize_nvfp4 --in " + good + " --param bogus=1", "unknown parameter 'bogus'");
  expect_krun_fails("quantize_nvfp4 --in " + good + " --param recipe", "not KEY=VALUE");
  expect_krun_fails("dequantize_nvfp4 --in " + good, "missing input tensor 'x_scale'");
  expect_krun_fails("quantize_nvfp4 --in " + good + " --frob", "frob");
  expect_krun_fails("quantize_nvfp4", "--in");

  auto v = test::random_floats(64, -1, 1, 5);
  v[37] = NAN;
  TensorMap nan_in;
  nan_in.emplace("x", test::f32_tensor({2, 32}, v));
  expect_krun_fails("quantize_nvfp4 --in " + write_inputs(nan_in, "nan.safetensors"), "x[1, 5] is NaN");
  expect_krun_fails("quantize_fp8 --param recipe=fp8-tensor --in " + write_inputs(nan_in, "nan.safetensors"), "x[1, 5] is NaN");

  TensorMap ragged;
  ragged.emplace("x", test::f32_tensor({2, 24}, std::vector<float>(48, 1.0f)));
  expect_krun_fails("quantize_nvfp4 --in " + write_inputs(ragged, "ragged.safetensors"), "not a multiple of 16");

  TensorMap wrong;
  wrong.emplace("x", Tensor(DType::I32, {2, 32}));
  expect_krun_fails("quantize_nvfp4 --in " + write_inputs(wrong, "wrong.safetensors"), "x has dtype I32");

  TensorMap g;
  g.emplace("a", Tensor(DType::U8, {2, 9}));
  g.emplace("a_scale", Tensor(DType::F8_E4M3, {2, 1}));
  g.emplace("b", Tensor(DType::U8, {2, 9}));
  g.emplace("b_scale", Tensor(DType::F8_E4M3, {2, 1}));
  g.emplace("a_scale_2", Tensor(DType::F32, {}));
  g.emplace("b_scale_2", Tensor(DType::F32, {}));
  expect_krun_fails("gemm_nvfp4 --in " + write_inputs(g, "k18.safetensors"), "K = 18 is not a multiple of 16");

  // A truncated file and a file whose header is not JSON.
  std::string trunc = (tmp_dir() / "trunc.safetensors").string();
  fs::copy_file(good, trunc, fs::copy_options::overwrite_existing);
  fs::resize_file(trunc, fs::file_size(trunc) - 3);
  expect_krun_fails("quantize_nvfp4 --in " + trunc, "trunc.safetensors");
  std::string junk = (tmp_dir() / "junk.safetensors").string();
  {
    std::ofstream f(junk, std::ios::binary);
    uint64_t n = 5;
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << "{nope";
  }
  expect_krun_fails("quantize_nvfp4 --in " + junk, "junk.safetensors");
}

TEST(Krun, FailureKeepsAnExistingOutputFileIntact) {
  std::string good = write_inputs(matrix_input(2, 32, 6));
  fs::path out = tmp_dir() / "keep.safetensors";
  ASSERT_EQ(krun("quantize_nvfp4 --in " + good + " --out " + out.string()).status, 0);
  auto before = fs::file_size(out);
  Result r = krun("quantize_nvfp4 --in " + good + " --out " + out.string() + " --param recipe=bad");
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(fs::file_size(out), before);
}

TEST(Krun, DeviceBackendsGiveTheReferenceBytes) {
  // Every OpenCL and Vulkan device found here (PoCL and lavapipe in CI) through the command line.
  TensorMap in = matrix_input(7, 272, 8);
  std::string in_path = write_inputs(in);
  fs::path out = tmp_dir() / "out.safetensors";
  int devices = 0;
  for (const auto& d : tessera::dispatch::devices()) {
    if (d.backend == "cpu") continue;
    ++devices;
    for (const auto& [op, params] : std::vector<std::pair<std::string, ParamMap>>{
             {"quantize_nvfp4", {{"recipe", "nvfp4-4over6"}}}, {"quantize_fp8", {{"recipe", "fp8-block128"}}},
             {"convert", {{"to", "e5m2"}}}}) {
      std::string args = op + " --in " + in_path + " --out " + out.string() + " --backend " + d.backend +
                         " --device " + std::to_string(d.index) + " --verbose";
      for (const auto& [k, v] : params) args += " --param " + k + "=" + v;
      Result r = krun(args);
      ASSERT_EQ(r.status, 0) << args << ": " << r.err;
      EXPECT_NE(r.err.find("on " + d.backend), std::string::npos) << "did not run on the device: " << r.err;
      expect_same(safetensors::load(out.string()), run_named_op(op, in, params));
    }
  }
  if (devices == 0) GTEST_SKIP() << "no OpenCL or Vulkan device here";
}

namespace {
nlohmann::json kinfo_json(const std::string& args) {
  fs::path out = tmp_dir() / "kinfo.json";
  std::string cmd = std::string(TESSERA_KINFO) + " --json " + args + " > " + out.string() + " 2> /dev/null";
  int raw = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(raw) && WEXITSTATUS(raw) == 0) << cmd;
  std::ifstream f(out);
  return nlohmann::json::parse(f);
}
} // namespace

TEST(Kinfo, ListsEveryDeviceWithClassAndASelectionPerOperation) {
  nlohmann::json j = kinfo_json("");
  ASSERT_TRUE(j["devices"].is_array());
  ASSERT_EQ(j["devices"].size(), tessera::dispatch::devices().size());
  for (const auto& d : j["devices"]) {
    // PoCL, lavapipe and the reference are all CPU devices here.
    if (d["backend"] == "cpu" || d["name"].get<std::string>().find("llvmpipe") != std::string::npos ||
        d["name"].get<std::string>().find("pthread") != std::string::npos || d["name"].get<std::string>().find("cpu") != std::string::npos) {
      EXPECT_EQ(d["class"], "cpu") << d["name"];
    }
    for (const auto& op : named_ops()) {
      ASSERT_TRUE(d["selections"].contains(std::string(op.name))) << op.name;
      EXPECT_FALSE(d["selections"][std::string(op.name)]["reason"].get<std::string>().empty());
    }
  }
}

TEST(Kinfo, DescribedDeviceChoosesPerShape) {
  std::string file = std::string(TESSERA_SOURCE_DIR) + "/tests/devices/h100-sxm-vulkan.json";
  nlohmann::json decode = kinfo_json("--device-file " + file + " --shape M=1,N=5120,K=5120");
  nlohmann::json prefill = kinfo_json("--device-file " + file + " --shape M=4096,N=5120,K=5120");
  ASSERT_EQ(decode["devices"].size(), 2u); // the reference, then the described device
  EXPECT_EQ(decode["devices"][1]["class"], "nvidia-hopper");
  if (tessera::dispatch::backend_built("vulkan")) {
    EXPECT_EQ(decode["devices"][1]["selections"]["gemm_nvfp4"]["variant"], "gemv_splitk_exact");
    // nv_coopmat_f16 (tensor cores) outranks tiled_exact where glslang could build its shader;
    // tests/test_gemm_tensor_core.cpp pins which.
    std::string prefill_variant = prefill["devices"][1]["selections"]["gemm_nvfp4"]["variant"];
    EXPECT_TRUE(prefill_variant == "nv_coopmat_f16" || prefill_variant == "tiled_exact") << prefill_variant;
  }
}
