// Tuning as data (core/tuning.h): every row of the table names a real variant and a real device
// class, each tuned variant has a default row with the parameters its launcher reads, every row
// gives a geometry its kernel accepts, and (run here on PoCL and lavapipe through tune_as=) every
// GEMM row gives the reference's bits: a tuning row changes speed, never results.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>

#include "core/device.h"
#include "core/tuning.h"
#include "dispatch/registry.h"
#include "tessera/context.h"
#include "tessera/ops.h"
#include "tessera/overrides.h"
#include "test_util.h"

namespace tessera {
namespace {

struct OverridesGuard {
  ~OverridesGuard() { set_overrides(Overrides{}); }
};

std::set<std::string, std::less<>> known_classes() {
  const auto& names = arch_class_names();
  return {names.begin(), names.end()};
}

std::string key(const core::TuningRow& r) {
  return std::string(r.backend) + ":" + std::string(r.op) + ":" + std::string(r.variant);
}

// The parameters a launcher reads, by what it launches.
std::set<std::string> expected_params(const core::TuningRow& r) {
  if (r.variant == "chunked") return {"min_t"};
  if (r.backend == "vulkan") return {"BM", "BN", "TM", "TN"};
  return {"TILE_M", "WPT_M", "WPT_N"};
}

TEST(Tuning, EveryRowNamesAVariantAClassAndTheParametersItsLauncherReads) {
  const auto classes = known_classes();
  std::map<std::string, std::set<std::string>> rows_of; // variant key -> classes
  for (const core::TuningRow& r : core::tuning_table()) {
    SCOPED_TRACE(key(r) + " " + std::string(r.device_class));
    EXPECT_TRUE(r.device_class == "*" || classes.count(r.device_class)) << "unknown device class";
    EXPECT_TRUE(rows_of[key(r)].insert(std::string(r.device_class)).second) << "two rows for one class";
    EXPECT_FALSE(r.basis.empty()) << "a row says where its numbers come from";
    std::set<std::string> names;
    for (const core::TuningParam& p : r.params) {
      EXPECT_GT(p.value, 0) << p.name;
      names.emplace(p.name);
    }
    EXPECT_EQ(names, expected_params(r));
    if (dispatch::backend_built(r.backend)) {
      bool found = false;
      for (const core::Variant& v : dispatch::variants())
        found |= v.backend == r.backend && v.op == r.op && v.name == r.variant;
      EXPECT_TRUE(found) << "no such variant record";
    }
  }
  for (const auto& [k, cls] : rows_of) EXPECT_TRUE(cls.count("*")) << k << " has no default row";
}

TEST(Tuning, EveryGemmRowIsAGeometryItsKernelTakes) {
  for (const core::TuningRow& r : core::tuning_table()) {
    if (r.variant != "tiled_exact") continue;
    SCOPED_TRACE(key(r) + " " + std::string(r.device_class));
    if (r.backend == "vulkan") {
      const int64_t bm = r.get("BM"), bn = r.get("BN"), tm = r.get("TM"), tn = r.get("TN");
      EXPECT_EQ(bm % tm, 0);
      EXPECT_EQ(bn % tn, 0);
      const int64_t wg = (bm / tm) * (bn / tn);
      // Vulkan guarantees 128 invocations and 16 KB of shared memory; a tile stages 16 K elements
      // (NVFP4 KB_TILE 1, FP8 KT 16) of BM + BN rows as 32-bit words, and at most 2 words a row
      // more (NVFP4's scales and the NaN flags).
      EXPECT_LE(wg, 128);
      EXPECT_GE(wg, std::max(bm, bn)) << "the NaN flags of a tile are reset one per invocation";
      EXPECT_LE((bm + bn) * 16 * 4 + (bm + bn) * 8, 16384);
    } else {
      const int64_t tile_m = r.get("TILE_M"), wpt_m = r.get("WPT_M");
      EXPECT_EQ(tile_m % wpt_m, 0);
      EXPECT_LE(tile_m / wpt_m, 256) << "the session's work-group (256 where the device allows)";
    }
  }
}

TEST(Tuning, RowsFollowTheDeviceClassAndTuneAs) {
  OverridesGuard guard;
  DeviceFacts cpu;
  cpu.backend = "vulkan";
  cpu.device_type = "cpu";
  cpu.name = "llvmpipe";
  EXPECT_EQ(core::tuning_class(cpu), "cpu");
  EXPECT_EQ(core::find_tuning("vulkan", "gemm_nvfp4", "tiled_exact", "cpu")->device_class, "cpu");
  EXPECT_EQ(core::find_tuning("vulkan", "gemm_nvfp4", "tiled_exact", "nvidia-hopper")->device_class, "*");
  EXPECT_EQ(core::find_tuning("vulkan", "gemm_nvfp4", "gemv_splitk_exact", "cpu"), nullptr);
  set_overrides("tune_as=nvidia-hopper");
  EXPECT_EQ(core::tuning_class(cpu), "nvidia-hopper");
  test::expect_error(ErrorCode::InvalidArgument, "unknown device class", [] { parse_overrides("tune_as=tpu"); });
}

// DeltaNet chunked's threshold is the row's min_t, stated in the registry's reason.
TEST(Tuning, DeltaNetChunkedThresholdComesFromItsRow) {
  OverridesGuard guard;
  for (const char* file : {"pocl.json", "h100-sxm-opencl.json"}) {
    dispatch::DeviceRef d = dispatch::describe(load_device_file(test::device_file(file)));
    const int64_t min_t = core::find_tuning(d.backend, "deltanet", "chunked", core::tuning_class(d.facts))->get("min_t");
    auto accepted = [&](int64_t T) {
      dispatch::Problem p{"deltanet", {{"T", T}, {"tokens", T}, {"n_seqs", 1}, {"H", 4}, {"HV", 4}, {"Dk", 64},
                                       {"Dv", 64}, {"elements", T * 4 * 64}}};
      for (const auto& v : dispatch::explain("deltanet", d, p))
        if (v.variant->name == "chunked") return v.accepted ? std::string() : v.reason;
      return std::string("no verdict");
    };
    EXPECT_EQ(accepted(min_t), "") << file;
    EXPECT_NE(accepted(min_t - 1).find("< " + std::to_string(min_t)), std::string::npos) << file;
  }
}

// A class whose lookup gives row r: its own, or for a default row one without a row of its own.
std::string class_for(const core::TuningRow& r) {
  if (r.device_class != "*") return std::string(r.device_class);
  for (const std::string& c : known_classes())
    if (core::find_tuning(r.backend, r.op, r.variant, c) == &r) return c;
  return "";
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed, uint8_t mask = 0xFF) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng()) & mask;
  return v;
}

// C of tiled_exact on `o` (a ragged shape: partial tiles in M, N and K) and of the reference.
void expect_tiled_matches_reference(std::string_view op, const RunOptions& o) {
  const int64_t M = 70, N = 129;
  const RunOptions cpu{"cpu", 0, ""};
  Tensor c(DType::F32, {M, N}), want(DType::F32, {M, N});
  if (op == "gemm_nvfp4") {
    const int64_t K = 272;
    auto a = random_bytes(M * K / 2, 1), b = random_bytes(N * K / 2, 2);
    auto sa = random_bytes(M * K / 16, 3, 0x3F), sb = random_bytes(N * K / 16, 4, 0x3F);
    Tensor ta = test::make_tensor(DType::U8, {M, K / 2}, a.data()), tb = test::make_tensor(DType::U8, {N, K / 2}, b.data());
    Tensor tsa = test::make_tensor(DType::F8_E4M3, {M, K / 16}, sa.data()),
           tsb = test::make_tensor(DType::F8_E4M3, {N, K / 16}, sb.data());
    gemm_nvfp4(ta.view(), tsa.view(), tb.view(), tsb.view(), 0.5f, std::nullopt, c.view(), o);
    gemm_nvfp4(ta.view(), tsa.view(), tb.view(), tsb.view(), 0.5f, std::nullopt, want.view(), cpu);
  } else {
    const int64_t K = 257;
    auto a = random_bytes(M * K, 5, 0x7E), b = random_bytes(N * K, 6, 0x7E); // no NaN codes
    Tensor ta = test::make_tensor(DType::F8_E4M3, {M, K}, a.data()), tb = test::make_tensor(DType::F8_E4M3, {N, K}, b.data());
    gemm_fp8(ta.view(), tb.view(), 0.25f, std::nullopt, c.view(), o);
    gemm_fp8(ta.view(), tb.view(), 0.25f, std::nullopt, want.view(), cpu);
  }
  EXPECT_TRUE(test::same_bytes(c, want));
}

TEST(Tuning, EveryGemmRowGivesTheReferenceBitsOnEveryDeviceHere) {
  OverridesGuard guard;
  int ran = 0;
  for (const core::TuningRow& r : core::tuning_table()) {
    if (r.variant != "tiled_exact" || !dispatch::backend_built(r.backend)) continue;
    const std::string cls = class_for(r);
    ASSERT_FALSE(cls.empty()) << key(r);
    set_overrides("tune_as=" + cls);
    for (int dev = 0; dev < Context::device_count(std::string(r.backend)); ++dev) {
      SCOPED_TRACE(key(r) + " row " + std::string(r.device_class) + " (" + r.values() + ") on device " +
                   std::to_string(dev));
      RunOptions o{std::string(r.backend), dev, "tiled_exact"};
      o.policy.strict = true; // a failing launch must not pass as the reference's fallback
      expect_tiled_matches_reference(r.op, o);
      ++ran;
    }
  }
  if (ran == 0) GTEST_SKIP() << "no OpenCL or Vulkan device here";
}

} // namespace
} // namespace tessera
