// Device classification, device files, the registry's selection and the overrides, on
// described devices (tests/devices/*.json) as well as the ones probed here.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>

#include "dispatch/registry.h"
#include "tessera/error.h"
#include "tessera/ops.h"
#include "tessera/overrides.h"

using namespace tessera;
using dispatch::DeviceRef;
using dispatch::Problem;

namespace {

const std::filesystem::path kDevices = std::filesystem::path(TESSERA_SOURCE_DIR) / "tests" / "devices";

DeviceRef described(const std::string& file) { return dispatch::describe(load_device_file((kDevices / file).string())); }

DeviceFacts facts(std::string backend, std::string name, uint32_t vendor, std::string type = "gpu") {
  DeviceFacts f;
  f.backend = std::move(backend);
  f.name = std::move(name);
  f.vendor_id = vendor;
  f.device_type = std::move(type);
  return f;
}

void expect_error(ErrorCode code, const std::string& needle, const std::function<void()>& fn) {
  try {
    fn();
    ADD_FAILURE() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// Restores the overrides after each test so one test's overrides never leak into another.
struct DeviceTest : ::testing::Test {
  void TearDown() override { set_overrides(Overrides{}); }
};

} // namespace

TEST(Classify, ShippedDeviceFiles) {
  const std::map<std::string, std::string> expected = {
      {"h100-sxm-opencl.json", "nvidia-hopper"},  {"h100-sxm-vulkan.json", "nvidia-hopper"},
      {"h200-vulkan.json", "nvidia-hopper"},      {"b200-vulkan.json", "nvidia-blackwell"},
      {"b200-opencl.json", "nvidia-blackwell"},   {"rtx5090-vulkan.json", "nvidia-blackwell-consumer"},
      {"rtx5090-opencl.json", "nvidia-blackwell-consumer"}, {"rtx4090-opencl.json", "nvidia-ada"},
      {"a100-opencl.json", "nvidia-ampere"},      {"pocl.json", "cpu"},
      {"lavapipe.json", "cpu"},                   {"mi300x-vulkan.json", "amd"},
      {"arc-a770-vulkan.json", "intel"}};
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kDevices)) {
    std::string name = entry.path().filename().string();
    ASSERT_TRUE(expected.count(name)) << "no expectation for shipped device file " << name;
    EXPECT_EQ(arch_class_name(described(name).caps.arch), expected.at(name)) << name;
    ++files;
  }
  EXPECT_EQ(files, expected.size());
}

TEST(Classify, ComputeCapabilityTable) {
  auto cls = [](const std::string& cc) {
    DeviceFacts f = facts("opencl", "NVIDIA something", 0x10DE);
    f.compute_capability = cc;
    return std::string(arch_class_name(classify(f).arch));
  };
  EXPECT_EQ(cls("8.0"), "nvidia-ampere");
  EXPECT_EQ(cls("8.6"), "nvidia-ampere");
  EXPECT_EQ(cls("8.7"), "nvidia-ampere");
  EXPECT_EQ(cls("8.9"), "nvidia-ada");
  EXPECT_EQ(cls("9.0"), "nvidia-hopper");
  EXPECT_EQ(cls("10.0"), "nvidia-blackwell");
  EXPECT_EQ(cls("10.3"), "nvidia-blackwell");
  EXPECT_EQ(cls("12.0"), "nvidia-blackwell-consumer");
  EXPECT_EQ(cls("12.1"), "nvidia-blackwell-consumer");
  EXPECT_EQ(cls("7.5"), "nvidia-other");
  EXPECT_EQ(cls("11.0"), "nvidia-other");
}

TEST(Classify, VulkanNvidiaByDeviceIdThenName) {
  auto cls = [](std::optional<uint32_t> id, const std::string& name) {
    DeviceFacts f = facts("vulkan", name, 0x10DE);
    f.device_id = id;
    return std::string(arch_class_name(classify(f).arch));
  };
  EXPECT_EQ(cls(0x2330, "NVIDIA H100 80GB HBM3"), "nvidia-hopper");
  EXPECT_EQ(cls(0x2335, "NVIDIA H200"), "nvidia-hopper");
  EXPECT_EQ(cls(0x2342, "NVIDIA GH200 480GB"), "nvidia-hopper");
  EXPECT_EQ(cls(0x2901, "NVIDIA B200"), "nvidia-blackwell");
  EXPECT_EQ(cls(0x2B85, "NVIDIA GeForce RTX 5090"), "nvidia-blackwell-consumer");
  EXPECT_EQ(cls(0x2684, "NVIDIA GeForce RTX 4090"), "nvidia-ada");
  EXPECT_EQ(cls(0x2204, "NVIDIA GeForce RTX 3090"), "nvidia-ampere");
  EXPECT_EQ(cls(0x20B0, "NVIDIA A100-SXM4-40GB"), "nvidia-ampere");
  // Unknown id or none: the product name decides.
  EXPECT_EQ(cls(std::nullopt, "NVIDIA H100 PCIe"), "nvidia-hopper");
  EXPECT_EQ(cls(std::nullopt, "NVIDIA B300"), "nvidia-blackwell");
  EXPECT_EQ(cls(std::nullopt, "NVIDIA GB200"), "nvidia-blackwell");
  EXPECT_EQ(cls(std::nullopt, "NVIDIA RTX PRO 6000 Blackwell Workstation Edition"), "nvidia-blackwell-consumer");
  EXPECT_EQ(cls(std::nullopt, "NVIDIA GeForce RTX 5080"), "nvidia-blackwell-consumer");
  EXPECT_EQ(cls(std::nullopt, "NVIDIA GB10"), "nvidia-blackwell-consumer");
  EXPECT_EQ(cls(std::nullopt, "NVIDIA L40S"), "nvidia-ada");
  EXPECT_EQ(cls(std::nullopt, "NVIDIA GeForce RTX 3080"), "nvidia-ampere");
  EXPECT_EQ(cls(0x1E04, "NVIDIA GeForce RTX 2080 Ti"), "nvidia-other");
}

TEST(Classify, VendorsAndCpus) {
  EXPECT_EQ(classify(facts("vulkan", "AMD Radeon RX 7900 XTX", 0x1002)).arch, ArchClass::Amd);
  EXPECT_EQ(classify(facts("opencl", "Intel(R) Data Center GPU Max 1550", 0x8086)).arch, ArchClass::Intel);
  EXPECT_EQ(classify(facts("opencl", "Intel(R) Xeon(R) CPU", 0x8086, "cpu")).arch, ArchClass::Cpu);
  EXPECT_EQ(classify(facts("vulkan", "Some GPU", 0x13B5)).arch, ArchClass::Generic);
  // An NVIDIA CPU-type device is still a CPU device (e.g. a Grace CPU under PoCL).
  EXPECT_EQ(classify(facts("opencl", "cpu-neoverse-v2", 0x10DE, "cpu")).arch, ArchClass::Cpu);
}

TEST(Classify, DerivedCapabilities) {
  DeviceRef h100cl = described("h100-sxm-opencl.json");
  EXPECT_TRUE(h100cl.caps.nv_inline_ptx);
  EXPECT_FALSE(h100cl.caps.nv_cooperative_matrix);
  EXPECT_EQ(h100cl.caps.cc_major, 9);
  ASSERT_TRUE(h100cl.caps.peak_fp32_gflops.has_value());
  EXPECT_NEAR(*h100cl.caps.peak_fp32_gflops, 256.0 * 132 * 1980 / 1000, 1e-6);
  DeviceRef h100vk = described("h100-sxm-vulkan.json");
  EXPECT_TRUE(h100vk.caps.nv_cooperative_matrix);
  EXPECT_FALSE(h100vk.caps.nv_inline_ptx);
  EXPECT_TRUE(h100vk.caps.fp16);
  EXPECT_EQ(h100vk.caps.cc_major, 9); // from the device id range
  ASSERT_TRUE(h100vk.caps.peak_gbps.has_value());
  EXPECT_EQ(*h100vk.caps.peak_gbps, 3350);
  DeviceRef pocl = described("pocl.json");
  EXPECT_FALSE(pocl.caps.nv_inline_ptx);
  EXPECT_FALSE(pocl.caps.peak_gbps.has_value());
  EXPECT_FALSE(pocl.caps.rounding_mode_rte); // a Vulkan float control
  EXPECT_TRUE(described("lavapipe.json").caps.rounding_mode_rte);
}

// disable=cap:NAME masks each capability in one function, which the registry, the OpenCL
// capability prelude and the Vulkan build choice all read.
TEST(Classify, DisabledCapabilitiesAreMaskedInOnePlace) {
  Capabilities all;
  all.fp16 = all.fp64 = all.subgroups = all.nv_cooperative_matrix = all.nv_inline_ptx = true;
  all.correctly_rounded_divide = all.rounding_mode_rte = true;
  auto masked = [&](const std::string& cap) { return without_disabled(all, {"cap:" + cap}); };
  EXPECT_FALSE(masked("fp16").fp16);
  EXPECT_FALSE(masked("fp64").fp64);
  EXPECT_FALSE(masked("subgroups").subgroups);
  EXPECT_FALSE(masked("nv_cooperative_matrix").nv_cooperative_matrix);
  EXPECT_FALSE(masked("nv_inline_ptx").nv_inline_ptx);
  EXPECT_FALSE(masked("correctly_rounded_divide").correctly_rounded_divide);
  Capabilities rte = masked("rounding_mode_rte");
  EXPECT_FALSE(rte.rounding_mode_rte);
  EXPECT_TRUE(rte.fp16 && rte.nv_inline_ptx) << "only the named capability goes";
}

TEST(DeviceFile, BadFilesAreClearErrors) {
  auto parse = [](const std::string& text) { return [text] { parse_device_facts(text, "dev.json"); }; };
  expect_error(ErrorCode::InvalidArgument, "dev.json: not valid JSON", parse("{\"backend\": "));
  expect_error(ErrorCode::InvalidArgument, "one JSON object", parse("[1, 2]"));
  expect_error(ErrorCode::InvalidArgument, "missing required key 'vendor_id'",
               parse(R"({"backend": "vulkan", "name": "x", "device_type": "gpu"})"));
  expect_error(ErrorCode::InvalidArgument, "missing required key 'backend'",
               parse(R"({"name": "x", "vendor_id": 1, "device_type": "gpu"})"));
  expect_error(ErrorCode::InvalidArgument, "backend 'cuda'",
               parse(R"({"backend": "cuda", "name": "x", "vendor_id": 1, "device_type": "gpu"})"));
  expect_error(ErrorCode::InvalidArgument, "device_type 'npu'",
               parse(R"({"backend": "vulkan", "name": "x", "vendor_id": 1, "device_type": "npu"})"));
  expect_error(ErrorCode::InvalidArgument, "key 'vendor_id' must be a non-negative integer",
               parse(R"({"backend": "vulkan", "name": "x", "vendor_id": -3, "device_type": "gpu"})"));
  expect_error(ErrorCode::InvalidArgument, "key 'name' must be a string",
               parse(R"({"backend": "vulkan", "name": 7, "vendor_id": 1, "device_type": "gpu"})"));
  expect_error(ErrorCode::InvalidArgument, "compute_capability 'nine' is not MAJOR.MINOR",
               parse(R"({"backend": "opencl", "name": "x", "vendor_id": 1, "device_type": "gpu", "compute_capability": "nine"})"));
  expect_error(ErrorCode::InvalidArgument, "key 'extensions' must be a list",
               parse(R"({"backend": "opencl", "name": "x", "vendor_id": 1, "device_type": "gpu", "extensions": "cl_khr_fp16"})"));
  expect_error(ErrorCode::Io, "cannot open", [] { load_device_file("/nonexistent/dev.json"); });
  // Unknown keys are ignored; a hex string vendor id is accepted.
  DeviceFacts f = parse_device_facts(
      R"({"backend": "vulkan", "name": "x", "vendor_id": "0x10DE", "device_type": "gpu", "colour": "green"})", "dev.json");
  EXPECT_EQ(f.vendor_id, 0x10DEu);
}

TEST_F(DeviceTest, SelectionOnDescribedDevices) {
  Problem p{"quantize_nvfp4", {{"rows", 64}, {"cols", 256}}};
  for (const char* file : {"lavapipe.json", "h100-sxm-vulkan.json"}) {
    auto verdicts = dispatch::explain("quantize_nvfp4", described(file), p);
    ASSERT_FALSE(verdicts.empty()) << file;
    EXPECT_EQ(verdicts.front().variant->name, "block16");
    EXPECT_EQ(verdicts.front().accepted, dispatch::backend_built("vulkan")) << verdicts.front().reason;
    if (!dispatch::backend_built("vulkan")) {
      EXPECT_NE(verdicts.front().reason.find("not built"), std::string::npos);
    }
  }
  // An OpenCL device without correctly rounded division is refused the dividing kernels, with the reason.
  DeviceFacts f = facts("opencl", "SomeGPU", 0x1002);
  auto verdicts = dispatch::explain("quantize_nvfp4", dispatch::describe(f), p);
  ASSERT_FALSE(verdicts.empty());
  EXPECT_FALSE(verdicts.front().accepted);
  if (dispatch::backend_built("opencl")) {
    EXPECT_NE(verdicts.front().reason.find("correctly rounded"), std::string::npos);
  }
  // ... but the conversion, which does not divide, is not.
  auto conv = dispatch::explain("convert", dispatch::describe(f), Problem{"convert", {{"elements", 100}}});
  EXPECT_EQ(conv.front().accepted, dispatch::backend_built("opencl"));
  // Shapes past the 32-bit index limit are refused by problem, not by device.
  auto huge = dispatch::explain("convert", described("lavapipe.json"), Problem{"convert", {{"elements", int64_t{1} << 32}}});
  EXPECT_FALSE(huge.front().accepted);
  if (dispatch::backend_built("vulkan")) {
    EXPECT_NE(huge.front().reason.find("2^31"), std::string::npos) << huge.front().reason;
  }
}

TEST_F(DeviceTest, EveryVariantHasAConformanceClassAndTheReferenceIsLast) {
  std::map<std::string, std::string> last_backend;
  for (const auto& v : dispatch::variants()) {
    EXPECT_TRUE(v.conformance.exact || v.conformance.bound > 0) << v.op << " " << v.name;
    EXPECT_NE(v.requirements, nullptr);
    last_backend[std::string(v.op)] = std::string(v.backend);
  }
  for (const auto& [op, backend] : last_backend) EXPECT_EQ(backend, "cpu") << op << ": the reference must close the table";
}

TEST_F(DeviceTest, OverridesParseAndApply) {
  Overrides o = parse_overrides("backend=vulkan; variant=quantize_nvfp4:block16;disable=opencl:convert:elementwise;"
                                "disable=cap:fp16;program_cache=off;cache_dir=/tmp/x");
  EXPECT_EQ(o.backend, "vulkan");
  EXPECT_EQ(o.variants.at("quantize_nvfp4"), "block16");
  EXPECT_TRUE(o.disabled.count("opencl:convert:elementwise"));
  EXPECT_TRUE(o.disabled.count("cap:fp16"));
  EXPECT_FALSE(o.program_cache);
  EXPECT_EQ(o.cache_dir, "/tmp/x");
  expect_error(ErrorCode::InvalidArgument, "override 'colour=red': unknown key 'colour'", [] { parse_overrides("colour=red"); });
  expect_error(ErrorCode::InvalidArgument, "override 'backend': not KEY=VALUE", [] { parse_overrides("backend"); });
  expect_error(ErrorCode::InvalidArgument, "is not OP:NAME", [] { parse_overrides("variant=block16"); });
  expect_error(ErrorCode::InvalidArgument, "override 'backend=cuda'", [] { parse_overrides("backend=cuda"); });

  // Disabling a variant by override makes selection say so and move on.
  DeviceRef lvp = described("lavapipe.json");
  set_overrides(parse_overrides("disable=quantize_nvfp4:block16"));
  auto verdicts = dispatch::explain("quantize_nvfp4", lvp, Problem{"quantize_nvfp4", {{"rows", 1}, {"cols", 16}}});
  if (dispatch::backend_built("vulkan")) {
    EXPECT_EQ(verdicts.front().reason, "disabled by override");
  }
  // Disabling a capability removes it from what requirement functions see.
  set_overrides(parse_overrides("disable=cap:correctly_rounded_divide"));
  auto cl = dispatch::explain("quantize_fp8", described("pocl.json"), Problem{"quantize_fp8", {{"rows", 1}, {"cols", 1}}});
  EXPECT_FALSE(cl.front().accepted);
}

TEST_F(DeviceTest, SelectNamesTheDeviceAndFallsBackToTheReference) {
  ASSERT_FALSE(dispatch::devices().empty());
  EXPECT_EQ(dispatch::devices().front().backend, "cpu");
  Problem p{"gemm_nvfp4", {{"M", 1}}};
  auto c = dispatch::select("gemm_nvfp4", p, RunOptions{});
  EXPECT_EQ(c.variant->name, "reference");
  EXPECT_EQ(c.device->backend, "cpu");
  expect_error(ErrorCode::InvalidArgument, "unknown backend 'metal'", [&] { dispatch::select("gemm_nvfp4", p, RunOptions{"metal", 0, ""}); });
  expect_error(ErrorCode::Unsupported, "not device 2", [&] { dispatch::select("gemm_nvfp4", p, RunOptions{"cpu", 2, ""}); });
  expect_error(ErrorCode::Unsupported, "no variant 'tiled'", [&] { dispatch::select("gemm_nvfp4", p, RunOptions{"cpu", 0, "tiled"}); });
  for (const DeviceRef& d : dispatch::devices()) {
    if (d.backend == "cpu") continue;
    // A shape no kernel on this backend takes (heads past every DeltaNet variant's 128) falls
    // back to the reference, saying why.
    auto fb = dispatch::select("deltanet", Problem{"deltanet", {{"Dk", 1000}, {"Dv", 1000}}}, RunOptions{d.backend, d.index, ""});
    EXPECT_EQ(fb.device->backend, "cpu");
    EXPECT_NE(fb.reason.find("fell back to the CPU reference"), std::string::npos) << fb.reason;
    expect_error(ErrorCode::Unsupported, "no " + d.backend + " device 99",
                 [&] { dispatch::select("convert", Problem{"convert", {}}, RunOptions{d.backend, 99, ""}); });
  }
  // The override's backend applies when the call names none.
  set_overrides(parse_overrides("backend=cpu"));
  EXPECT_EQ(dispatch::select("convert", Problem{"convert", {{"elements", 4}}}, RunOptions{}).device->backend, "cpu");
}

TEST_F(DeviceTest, AFailingVariantIsDisabledAndTheCallFallsBack) {
  // fail= makes the variant's launch fail as a broken driver would; the call must still succeed
  // (on the next variant, here the reference) and say why. Each test runs in its own process, so
  // the disabled variant does not leak into other tests.
  int devices = 0;
  for (const DeviceRef& d : dispatch::devices()) {
    if (d.backend == "cpu") continue;
    ++devices;
    set_overrides(parse_overrides("fail=" + d.backend + ":convert:elementwise"));
    std::vector<float> x = {1.5f, -2.25f, 1e-3f, 448.0f};
    std::vector<uint8_t> got(4), want(4);
    TensorView xv{DType::F32, {4}, x.data(), 16};
    RunInfo info;
    convert(xv, Format::E4M3, TensorView{DType::F8_E4M3, {4}, got.data(), 4}, RunOptions{d.backend, d.index, ""}, &info);
    convert(xv, Format::E4M3, TensorView{DType::F8_E4M3, {4}, want.data(), 4});
    EXPECT_EQ(got, want);
    EXPECT_EQ(info.backend, "cpu") << info.reason;
    EXPECT_NE(info.reason.find("failed on this device"), std::string::npos) << info.reason;
    // A forced variant that fails is an error, not a silent fallback.
    set_overrides(parse_overrides("fail=" + d.backend + ":convert:elementwise"));
    expect_error(ErrorCode::Unsupported, "elementwise", [&] {
      convert(xv, Format::E4M3, TensorView{DType::F8_E4M3, {4}, got.data(), 4}, RunOptions{d.backend, d.index, "elementwise"});
    });
  }
  if (devices == 0) GTEST_SKIP() << "no OpenCL or Vulkan device here";
}
