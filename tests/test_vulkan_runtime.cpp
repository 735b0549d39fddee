// The vulkan backend on every Vulkan device: the probed facts; the correctly rounded fp32
// operations of kernels/common/fp32_rn.glsl on their own, against the host's IEEE arithmetic in
// every build, and what they take from the hardware; refusals (non-finite input; an unknown
// variant is never offered) that leave outputs untouched, timing, determinism and threads
// sharing a device. The conversions and quantizers against the reference:
// tests/test_vulkan_convert_quantize.cpp.
// Skipped only when there is no Vulkan device. Sizes are chosen to keep lavapipe under ~20 s.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dispatch/registry.h"
#include "host/src/backends.h"
#include "host/src/validate.h"
#include "host/src/vulkan/testing.h"
#include "reference/formats.h"
#include "reference/quantize.h"
#include "variant_launch.h"
#include "vulkan_quantize_harness.h"

namespace {

using namespace tessera;
using namespace tessera::test;
using detail::BackendFailure;
using ref::Fp8Grouping;

// fp32 operands for the fp32_rn checks: random bit patterns, and pairs steered into the hard
// places: quotients and products near the subnormal range and overflow, denormal operands,
// nearly cancelling sums, exactly representable quotients and their neighbours.
void fp32_pairs(std::vector<uint32_t>& a, std::vector<uint32_t>& b, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  auto with_exp = [&](int e) {
    return (rng() & 0x807FFFFFu) | (static_cast<uint32_t>(std::clamp(e, 0, 254)) << 23);
  };
  for (size_t i = 0; i < n; ++i) {
    uint32_t x = rng(), y = rng();
    switch (i % 8) {
    case 0: break; // anything, specials included
    case 1: { // quotient or product exponent near the bottom: subnormal and underflowing results
      int ex = 1 + static_cast<int>(rng() % 254);
      x = with_exp(ex);
      y = with_exp(ex + 100 + static_cast<int>(rng() % 60));
      if (rng() % 2) y = with_exp(127 - 100 - static_cast<int>(rng() % 60) - ex + 127);
      break;
    }
    case 2: { // near overflow
      int ex = 127 + static_cast<int>(rng() % 128);
      x = with_exp(ex);
      y = with_exp(rng() % 2 ? ex - 127 - static_cast<int>(rng() % 4) + 127 - 1
                             : 254 - ex + 127 + static_cast<int>(rng() % 4) - 2);
      break;
    }
    case 3: // denormal operands
      x = rng() & 0x807FFFFFu;
      if (rng() % 2) y = rng() & 0x807FFFFFu;
      break;
    case 4: { // nearly equal magnitudes: cancellation in add/sub, quotients near 1
      x = with_exp(static_cast<int>(rng() % 255));
      y = (x ^ (rng() % 2 ? 0x80000000u : 0u)) + (rng() % 16) - 8;
      break;
    }
    case 5: { // exact quotients and products of short significands, and their neighbours
      float q = static_cast<float>(rng() % 4096 + 1) *
                std::exp2(static_cast<float>(static_cast<int>(rng() % 40) - 20));
      float yy = static_cast<float>(rng() % 4096 + 1) *
                 std::exp2(static_cast<float>(static_cast<int>(rng() % 200) - 100));
      x = bits(q * yy) + (rng() % 3) - 1;
      y = bits(yy);
      break;
    }
    case 6: { // operands a few binades apart (alignment shifts 0..40)
      int ex = 1 + static_cast<int>(rng() % 200);
      x = with_exp(ex);
      y = with_exp(ex - static_cast<int>(rng() % 41));
      break;
    }
    default: // tiny normal and subnormal around the boundary
      x = with_exp(static_cast<int>(rng() % 4));
      y = with_exp(static_cast<int>(rng() % 4));
      break;
    }
    a.push_back(x);
    b.push_back(y);
  }
}

float host_op(vk::Fp32Op op, float x, float y) {
  switch (op) {
  case vk::Fp32Op::Div: return x / y;
  case vk::Fp32Op::Mul: return x * y;
  case vk::Fp32Op::Add: return x + y;
  default: return x - y;
  }
}

} // namespace

TEST(VulkanRuntime, ProbeFacts) {
  REQUIRE_VULKAN_DEVICE();
  for (const DeviceFacts& f : vk::devices()) {
    EXPECT_EQ(f.backend, "vulkan");
    EXPECT_FALSE(f.name.empty());
    EXPECT_TRUE(f.device_type == "cpu" || f.device_type == "gpu") << f.device_type;
    EXPECT_TRUE(f.compute_capability.empty()) << "Vulkan reports no compute capability";
    EXPECT_GT(f.max_workgroup_size, 0);
    EXPECT_GT(f.local_memory_bytes, 0);
    EXPECT_GT(f.subgroup_size, 0);
    EXPECT_FALSE(f.extensions.empty());
    std::cout << "[ facts    ] " << f.name << ": vendor 0x" << std::hex << f.vendor_id
              << " device 0x" << f.device_id.value_or(0) << std::dec << ", " << f.device_type
              << ", driver " << f.driver_version << ", subgroup " << f.subgroup_size
              << ", workgroup " << f.max_workgroup_size << ", shared " << f.local_memory_bytes
              << " B, fp64 " << f.fp64 << "\n";
  }
  EXPECT_EQ(&vk::devices(), &vk::devices()) << "probed once";
  EXPECT_TRUE(vk::built());
}

// div_rn, mul_rn, add_rn and sub_rn against the host's IEEE operations, in every build: integers
// only, with RoundingModeRTE and the hardware on the normal range (where the device has it), and
// div_rn with its hardware estimate made inexact on purpose (12 ulps, worse than Vulkan's 2.5).
// NaN results must be bit-exact too (x86 rules: the first NaN operand made quiet; invalid
// operations 0xFFC00000), except when both operands are NaN, where compilers may swap the
// operands of the host's operation.
TEST(VulkanRuntime, Fp32RnMatchesHostIeee) {
  REQUIRE_VULKAN_DEVICE();
  std::vector<uint32_t> a, b;
  fp32_pairs(a, b, 3 << 19, 7);
  for (int dev = 0; dev < device_count(); ++dev) {
    SCOPED_TRACE(label(dev));
    for (vk::Fp32Build build :
         {vk::Fp32Build::Soft, vk::Fp32Build::Rte, vk::Fp32Build::InexactDiv}) {
      if (build == vk::Fp32Build::Rte && !vk::has_rounding_mode_rte(dev)) continue;
      for (vk::Fp32Op op : {vk::Fp32Op::Div, vk::Fp32Op::Mul, vk::Fp32Op::Add, vk::Fp32Op::Sub}) {
        if (build == vk::Fp32Build::InexactDiv && op != vk::Fp32Op::Div) continue;
        std::vector<uint32_t> r(a.size());
        vk::run_fp32_rn_test(dev, build, op, a.data(), b.data(), r.data(), a.size());
        std::string what = "build " + std::to_string(static_cast<int>(build)) + " op " +
                           std::to_string(static_cast<int>(op));
        size_t bad = 0;
        for (size_t i = 0; i < a.size(); ++i) {
          float x = from_bits(a[i]), y = from_bits(b[i]);
          uint32_t want = bits(host_op(op, x, y));
          bool ok = r[i] == want;
          if (std::isnan(x) && std::isnan(y))
            ok = r[i] == (a[i] | 0x400000u) || r[i] == (b[i] | 0x400000u);
          if (!ok && ++bad <= 5)
            ADD_FAILURE() << what << std::hex << ": 0x" << a[i] << ", 0x" << b[i] << " gave 0x"
                          << r[i] << ", IEEE 0x" << want;
        }
        EXPECT_EQ(bad, 0u) << what << " over " << a.size() << " pairs";
      }
    }
  }
}

// What kernels/common/fp32_rn.glsl takes from the hardware, on every device. The ".rte" builds
// (picked by the host where the device reports shaderRoundingModeRTEFloat32) declare
// RoundingModeRTE and hand OpFMul and OpFAdd the operands that mul_rn and add_rn send there
// (normal operands whose exact result stays in the normal range): those must give the IEEE
// round-to-nearest-even result (a zero sum of either sign, which add_rn makes +0). In every build,
// div_rn's estimate float(A) / float(B) of two 24-bit significands must be within 15 ulps of the
// quotient, the most its integer correction absorbs. Whether OpFMul flushes denormals is only
// reported: no build relies on it.
TEST(VulkanRuntime, HardwareFp32MeetsWhatFp32RnAssumes) {
  REQUIRE_VULKAN_DEVICE();
  std::vector<uint32_t> a, b;
  fp32_pairs(a, b, 1 << 18, 8);
  std::vector<uint32_t> sa, sb; // significands A, B in [2^23, 2^24), as floats
  std::mt19937 rng(9);
  for (int i = 0; i < (1 << 16); ++i) {
    sa.push_back(bits(static_cast<float>(0x800000u | (rng() & 0x7FFFFFu))));
    sb.push_back(bits(static_cast<float>(0x800000u | (rng() & 0x7FFFFFu))));
  }
  std::vector<uint32_t> da = {0x00000001u, 0x00400000u, 0x80000003u, 0x00800000u},
                        db(4, bits(1.0f)), dr(4);
  // mul_rn's and add_rn's hardware ranges in the .rte build (biased exponents).
  auto mul_in_range = [](uint32_t x, uint32_t y) {
    int ex = static_cast<int>((x >> 23) & 0xFF), ey = static_cast<int>((y >> 23) & 0xFF);
    return ex != 0 && ey != 0 && ex != 255 && ey != 255 && ex + ey >= 128 && ex + ey <= 379;
  };
  auto add_in_range = [](uint32_t x, uint32_t y) {
    int ex = static_cast<int>((x >> 23) & 0xFF), ey = static_cast<int>((y >> 23) & 0xFF);
    return ex >= 25 && ey >= 25 && ex <= 252 && ey <= 252;
  };
  for (int dev = 0; dev < device_count(); ++dev) {
    SCOPED_TRACE(label(dev));
    const bool rte = vk::has_rounding_mode_rte(dev);
    uint32_t worst_div = 0;
    for (vk::Fp32Build build : {vk::Fp32Build::Soft, vk::Fp32Build::Rte}) {
      if (build == vk::Fp32Build::Rte && !rte) continue;
      std::vector<uint32_t> r(sa.size());
      vk::run_fp32_rn_test(dev, build, vk::Fp32Op::HwDiv, sa.data(), sb.data(), r.data(),
                           sa.size());
      for (size_t i = 0; i < sa.size(); ++i) { // positive normal quotients: ulps = bit distance
        uint32_t want = bits(from_bits(sa[i]) / from_bits(sb[i]));
        worst_div = std::max(worst_div, r[i] > want ? r[i] - want : want - r[i]);
      }
    }
    EXPECT_LE(worst_div, 15u) << "OpFDiv is too far off for div_rn's correction step";
    size_t checked[2] = {0, 0};
    if (rte) {
      std::vector<uint32_t> r(a.size());
      for (vk::Fp32Op op : {vk::Fp32Op::HwMul, vk::Fp32Op::HwAdd}) {
        const bool mul = op == vk::Fp32Op::HwMul;
        vk::run_fp32_rn_test(dev, vk::Fp32Build::Rte, op, a.data(), b.data(), r.data(), a.size());
        size_t bad = 0;
        for (size_t i = 0; i < a.size(); ++i) {
          if (!(mul ? mul_in_range(a[i], b[i]) : add_in_range(a[i], b[i]))) continue;
          ++checked[mul ? 0 : 1];
          uint32_t want = bits(
              host_op(mul ? vk::Fp32Op::Mul : vk::Fp32Op::Add, from_bits(a[i]), from_bits(b[i])));
          bool ok =
              r[i] == want || (!mul && (want & 0x7FFFFFFFu) == 0 && (r[i] & 0x7FFFFFFFu) == 0);
          if (!ok && ++bad <= 5)
            ADD_FAILURE() << (mul ? "OpFMul" : "OpFAdd") << " with RoundingModeRTE" << std::hex
                          << ": 0x" << a[i] << ", 0x" << b[i] << " gave 0x" << r[i] << ", IEEE 0x"
                          << want;
        }
        EXPECT_EQ(bad, 0u) << (mul ? "OpFMul" : "OpFAdd")
                           << " is not round-to-nearest-even under RoundingModeRTE";
      }
      EXPECT_GT(checked[0], a.size() / 4) << "too few pairs in mul_rn's hardware range";
      EXPECT_GT(checked[1], a.size() / 4) << "too few pairs in add_rn's hardware range";
    }
    vk::run_fp32_rn_test(dev, vk::Fp32Build::Soft, vk::Fp32Op::HwMul, da.data(), db.data(),
                         dr.data(), da.size());
    const bool flushes = dr[0] == 0 || dr[1] == 0;
    std::cout << "[ hardware ] " << label(dev) << ": RoundingModeRTE " << (rte ? "yes" : "no")
              << " (.rte OpFMul, OpFAdd IEEE on " << checked[0] << ", " << checked[1]
              << " pairs); OpFDiv estimate within " << worst_div << " ulps; fp32 denormals "
              << (flushes ? "flushed" : "kept") << " by OpFMul\n";
  }
}

// The device's own non-finite check: the same error as the host check (code and message, which
// names the first offending index), and no output written.
TEST(VulkanRuntime, NonFiniteInputIsRefusedWithHostMessage) {
  REQUIRE_VULKAN_DEVICE();
  const int64_t rows = 300, cols = 304;
  std::vector<float> x = nvfp4_random(rows, cols, 77);
  x[static_cast<size_t>(130 * cols)] = std::nanf(""); // tile (1, 0)
  x[200] = INFINITY;                                  // tile (0, 1): first in flat order
  x[250] = -INFINITY;
  x[static_cast<size_t>(299 * cols + 3)] = -std::nanf("");
  std::string want;
  try {
    detail::check_finite("quantize_nvfp4", "x", x.data(), {rows, cols});
  } catch (const Error& e) {
    want = e.what();
  }
  ASSERT_NE(want.find("[0, 200]"), std::string::npos) << want;
  auto expect_refusal = [&](const std::string& op, auto&& call) {
    try {
      call();
      ADD_FAILURE() << op << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::NonFinite) << op;
      std::string w = want;
      w.replace(0, std::string("quantize_nvfp4").size(), op);
      EXPECT_EQ(std::string(e.what()), w);
    }
  };
  for (int dev = 0; dev < device_count(); ++dev) {
    SCOPED_TRACE(label(dev));
    for (bool fos : {false, true}) {
      Guarded<uint8_t> q(x.size() / 2), s(x.size() / 16);
      float s2 = 12345.0f;
      expect_refusal("quantize_nvfp4", [&] {
        test::launch_vulkan(dev, "block16",
                detail::QuantizeNvfp4Args{x.data(), rows, cols, fos, std::nullopt, q.data(),
                                          s.data(), &s2});
      });
      EXPECT_TRUE(q.untouched() && s.untouched());
      EXPECT_EQ(s2, 12345.0f);
    }
    for (Fp8Grouping g : {Fp8Grouping::Tensor, Fp8Grouping::Token128, Fp8Grouping::Block128}) {
      Guarded<uint8_t> q(x.size());
      Guarded<float> s(static_cast<size_t>(ref::fp8_scale_count(g, rows, cols)));
      expect_refusal("quantize_fp8", [&] {
        test::launch_vulkan(dev, "group_amax",
                detail::QuantizeFp8Args{x.data(), rows, cols, g, q.data(), s.data()});
      });
      EXPECT_TRUE(q.untouched() && s.untouched());
    }
  }
}

// A name no record has is never offered, and forcing it is Unsupported naming it: nothing
// launches a kernel by name any more. An unknown device index is still a BackendFailure.
TEST(VulkanRuntime, UnknownVariantIsNeverOfferedAndUnknownDeviceIsABackendFailure) {
  REQUIRE_VULKAN_DEVICE();
  const dispatch::DeviceRef* dev0 = nullptr;
  for (const dispatch::DeviceRef& d : dispatch::devices())
    if (d.backend == "vulkan" && d.index == 0) dev0 = &d;
  ASSERT_NE(dev0, nullptr);
  const std::pair<std::string_view, std::string_view> unknown[] = {
      {"convert", "no_such_variant"}, {"quantize_nvfp4", "no_such_variant"}, {"dequantize_nvfp4", "block16"},
      {"quantize_fp8", "elementwise"}, {"dequantize_fp8", "group_amax"}};
  for (const auto& [op, name] : unknown) {
    SCOPED_TRACE(std::string(op) + " '" + std::string(name) + "'");
    const dispatch::Problem p{op, {{"rows", 2}, {"cols", 16}}};
    for (const dispatch::Verdict& v : dispatch::explain(op, *dev0, p)) EXPECT_NE(v.variant->name, name);
    try {
      dispatch::select(op, p, RunOptions{"vulkan", 0, std::string(name)});
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Unsupported);
      EXPECT_NE(std::string(e.what()).find("'" + std::string(name) + "'"), std::string::npos) << e.what();
    }
  }
  std::vector<float> x(32, 1.0f);
  Guarded<uint8_t> q(32);
  EXPECT_THROW(test::launch_vulkan(device_count(), "elementwise",
                                   detail::ConvertArgs{x.data(), 32, Format::E4M3, q.data()}),
               BackendFailure);
  EXPECT_TRUE(q.untouched());
}

TEST(VulkanRuntime, EmptyTensorsAndDeviceTime) {
  REQUIRE_VULKAN_DEVICE();
  float s2 = 0, scale = 0;
  test::launch_vulkan(0, "block16",
          detail::QuantizeNvfp4Args{nullptr, 0, 16, false, std::nullopt, nullptr, nullptr, &s2});
  EXPECT_EQ(s2, 1.0f);
  test::launch_vulkan(0, "group_amax",
          detail::QuantizeFp8Args{nullptr, 0, 5, Fp8Grouping::Tensor, nullptr, &scale});
  EXPECT_EQ(scale, 1.0f);
  test::launch_vulkan(0, "elementwise", detail::ConvertArgs{nullptr, 0, Format::F16, nullptr});
  EXPECT_EQ(vk::last_device_ms(), 0.0);
  for (int dev = 0; dev < device_count(); ++dev) {
    std::vector<float> x = nvfp4_random(64, 256, 3);
    std::vector<uint8_t> q(x.size() / 2), s(x.size() / 16);
    test::launch_vulkan(
        dev, "block16",
        detail::QuantizeNvfp4Args{x.data(), 64, 256, true, std::nullopt, q.data(), s.data(), &s2});
    double ms = vk::last_device_ms();
    EXPECT_GE(ms, 0.0);
    EXPECT_TRUE(std::isfinite(ms));
    std::cout << "[ timing   ] " << label(dev) << ": quantize_nvfp4 4over6 64x256 " << ms
              << " ms device\n";
  }
}

TEST(VulkanRuntime, Deterministic) {
  REQUIRE_VULKAN_DEVICE();
  std::vector<float> x = nvfp4_random(129, 272, 41);
  for (int dev = 0; dev < device_count(); ++dev) {
    SCOPED_TRACE(label(dev));
    std::vector<uint8_t> q0(x.size() / 2), s0(x.size() / 16), f0(x.size());
    std::vector<float> fs0(2 * 3);
    float s2 = 0;
    test::launch_vulkan(dev, "block16",
            detail::QuantizeNvfp4Args{x.data(), 129, 272, true, std::nullopt, q0.data(), s0.data(),
                                      &s2});
    test::launch_vulkan(
        dev, "group_amax",
        detail::QuantizeFp8Args{x.data(), 129, 272, Fp8Grouping::Block128, f0.data(), fs0.data()});
    for (int rep = 0; rep < 3; ++rep) {
      std::vector<uint8_t> q(q0.size()), s(s0.size()), f(f0.size());
      std::vector<float> fs(fs0.size());
      test::launch_vulkan(dev, "block16",
              detail::QuantizeNvfp4Args{x.data(), 129, 272, true, std::nullopt, q.data(), s.data(),
                                        &s2});
      test::launch_vulkan(
          dev, "group_amax",
          detail::QuantizeFp8Args{x.data(), 129, 272, Fp8Grouping::Block128, f.data(), fs.data()});
      EXPECT_EQ(q, q0);
      EXPECT_EQ(s, s0);
      EXPECT_EQ(f, f0);
      EXPECT_TRUE(same(fs, fs0, "fp8 scales"));
    }
  }
}

// Four threads on one device, each running its own operations and checking its own results:
// the device mutex must keep uploads, dispatches and readbacks of different runs apart.
TEST(VulkanRuntime, ThreadsShareOneDevice) {
  REQUIRE_VULKAN_DEVICE();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<float> x = nvfp4_random(48, 160, 900 + static_cast<uint32_t>(t));
      std::vector<uint8_t> q_ref(x.size() / 2), s_ref(x.size() / 16), c_ref(x.size()),
          f_ref(x.size());
      std::vector<float> fs_ref(48 * 2);
      ref::quantize_nvfp4(x.data(), 48, 160,
                          ref::nvfp4_scale_2(x.data(), static_cast<int64_t>(x.size()), false),
                          q_ref.data(), s_ref.data());
      ref::quantize_fp8(x.data(), 48, 160, Fp8Grouping::Token128, f_ref.data(), fs_ref.data());
      for (size_t i = 0; i < x.size(); ++i)
        c_ref[i] = ref::f32_to_e5m2(x[i]);
      try {
        for (int rep = 0; rep < 6; ++rep) {
          std::vector<uint8_t> q(q_ref.size()), s(s_ref.size()), c(c_ref.size()), f(f_ref.size());
          std::vector<float> fs(fs_ref.size());
          float s2 = 0;
          test::launch_vulkan(0, "block16",
                  detail::QuantizeNvfp4Args{x.data(), 48, 160, false, std::nullopt, q.data(),
                                            s.data(), &s2});
          test::launch_vulkan(0, "elementwise",
                  detail::ConvertArgs{x.data(), static_cast<int64_t>(x.size()), Format::E5M2,
                                      c.data()});
          test::launch_vulkan(0, "group_amax",
                  detail::QuantizeFp8Args{x.data(), 48, 160, Fp8Grouping::Token128, f.data(),
                                          fs.data()});
          if (q != q_ref || s != s_ref || c != c_ref || f != f_ref ||
              std::memcmp(fs.data(), fs_ref.data(), fs.size() * 4) != 0)
            ++failures;
          if (!(vk::last_device_ms() >= 0.0)) ++failures;
        }
      } catch (const std::exception&) {
        ++failures;
      }
    });
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(failures.load(), 0);
}

