// The OpenCL backend on every OpenCL device of the machine (PoCL's CPU device at least, in CI):
// the device facts, the device-side refusal of non-finite input, errors, timing, determinism and
// concurrent use of one device, and the program cache. The conversions and quantizers against
// the CPU reference: tests/test_opencl_convert_quantize.cpp.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "host/src/backends.h"
#include "host/src/disk_cache.h"
#include "host/src/opencl/introspect.h"
#include "host/src/validate.h"
#include "opencl_quantize_harness.h"
#include "reference/formats.h"
#include "reference/quantize.h"
#include "tessera/overrides.h"

namespace tessera {
namespace {

using namespace test;
using detail::BackendFailure;

// ---- facts --------------------------------------------------------------------------------

TEST(OpenclRuntime, DeviceFacts) {
  REQUIRE_OPENCL_DEVICE();
  EXPECT_TRUE(ocl::built());
  for (const DeviceFacts& f : ocl::devices()) {
    std::string ext;
    for (const auto& e : f.extensions)
      ext += " " + e;
    std::printf(
        "opencl device: %s | vendor 0x%04X | %s | driver %s | cc '%s' | %lld CUs @ %lld MHz | wg "
        "%lld | "
        "local %lld | global %lld | subgroup %lld | cr-divide %d | fp64 %d\n  extensions:%s\n",
        f.name.c_str(), f.vendor_id, f.device_type.c_str(), f.driver_version.c_str(),
        f.compute_capability.c_str(), static_cast<long long>(f.compute_units),
        static_cast<long long>(f.max_clock_mhz), static_cast<long long>(f.max_workgroup_size),
        static_cast<long long>(f.local_memory_bytes), static_cast<long long>(f.global_memory_bytes),
        static_cast<long long>(f.subgroup_size), f.correctly_rounded_divide, f.fp64, ext.c_str());
    EXPECT_EQ(f.backend, "opencl");
    EXPECT_FALSE(f.name.empty());
    EXPECT_TRUE(f.device_type == "cpu" || f.device_type == "gpu") << f.device_type;
    EXPECT_FALSE(f.driver_version.empty());
    EXPECT_GT(f.compute_units, 0);
    EXPECT_GT(f.max_workgroup_size, 0);
    EXPECT_GT(f.local_memory_bytes, 0);
    EXPECT_GT(f.global_memory_bytes, 0);
    EXPECT_FALSE(f.extensions.empty());
    EXPECT_EQ(f.compute_capability.empty(),
              std::find(f.extensions.begin(), f.extensions.end(), "cl_nv_device_attribute_query") ==
                  f.extensions.end());
  }
  // The list is probed once: the same object every time.
  EXPECT_EQ(&ocl::devices(), &ocl::devices());
}

// ---- refusing non-finite input on the device ------------------------------------------------

// The message the host's validation gives for the same input.
std::string host_message(std::string_view op, const std::vector<float>& x, int64_t rows,
                         int64_t cols) {
  try {
    detail::check_finite(op, "x", x.data(), {rows, cols});
  } catch (const Error& e) {
    return e.what();
  }
  return "(host check passed)";
}

TEST(OpenclRuntime, NonFiniteIsRefusedOnTheDeviceWithTheHostMessage) {
  REQUIRE_OPENCL_DEVICE();
  const int64_t rows = 129, cols = 272; // several work-groups of the amax pass
  struct Poison {
    std::vector<std::pair<int64_t, float>> at;
  };
  Poison dense; // every work-item of the amax pass meets several, the first one last
  for (int64_t i = rows * cols - 1; i >= 777; --i)
    dense.at.emplace_back(i, i % 3 ? INFINITY : NAN);
  const Poison poisons[] = {dense,
                            {{{5, NAN}}},
                            {{{30000, NAN}, {20000, -INFINITY}, {34000, INFINITY}}},
                            {{{rows * cols - 1, INFINITY}}},
                            {{{0, from_bits(0xFFC00001u)}}}};
  for (int dev = 0; dev < device_count(); ++dev)
    for (const Poison& p : poisons) {
      std::vector<float> x = nvfp4_data(rows, cols, Data::Random, 3);
      for (auto [i, v] : p.at)
        x[static_cast<size_t>(i)] = v;
      {
        SCOPED_TRACE("quantize_nvfp4");
        std::vector<uint8_t> q(static_cast<size_t>(rows * cols / 2), kSentinel);
        std::vector<uint8_t> scale(static_cast<size_t>(rows * cols / 16), kSentinel);
        float s2 = 12345.0f;
        try {
          launch_opencl(dev, "block16",
                   detail::QuantizeNvfp4Args{x.data(), rows, cols, true, std::nullopt, q.data(),
                                             scale.data(), &s2});
          ADD_FAILURE() << "no error";
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), ErrorCode::NonFinite);
          EXPECT_EQ(std::string(e.what()), host_message("quantize_nvfp4", x, rows, cols));
        }
        EXPECT_TRUE(guard_intact(q, 0)) << "q was written";
        EXPECT_TRUE(guard_intact(scale, 0)) << "scale was written";
        EXPECT_EQ(s2, 12345.0f);
      }
      for (ref::Fp8Grouping g : kGroupings) {
        SCOPED_TRACE(grouping_name(g));
        std::vector<uint8_t> q(x.size(), kSentinel);
        std::vector<float> scales(static_cast<size_t>(ref::fp8_scale_count(g, rows, cols)),
                                  12345.0f);
        try {
          launch_opencl(dev, "group_amax",
                   detail::QuantizeFp8Args{x.data(), rows, cols, g, q.data(), scales.data()});
          ADD_FAILURE() << "no error";
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), ErrorCode::NonFinite);
          EXPECT_EQ(std::string(e.what()), host_message("quantize_fp8", x, rows, cols));
        }
        EXPECT_TRUE(guard_intact(q, 0)) << "q was written";
        for (float s : scales)
          ASSERT_EQ(s, 12345.0f) << "scales were written";
      }
    }
}

// ---- errors -------------------------------------------------------------------------------

// Launch functions receive their record, not a name: a variant an operation does not have on
// this backend has no record, so the registry never offers it, and forcing it is an Unsupported
// error naming it. A device index the backend does not have is a BackendFailure of the launch.
TEST(OpenclRuntime, UnknownVariantIsNeverOfferedAndUnknownDeviceIsABackendFailure) {
  REQUIRE_OPENCL_DEVICE();
  const dispatch::DeviceRef* dev0 = nullptr;
  for (const dispatch::DeviceRef& d : dispatch::devices())
    if (d.backend == "opencl" && d.index == 0) dev0 = &d;
  ASSERT_NE(dev0, nullptr);
  const std::pair<std::string_view, std::string_view> unknown[] = {
      {"convert", "tiled"}, {"quantize_nvfp4", "nope"}, {"dequantize_nvfp4", "block16"},
      {"quantize_fp8", "elementwise"}, {"dequantize_fp8", "group_amax"}};
  for (const auto& [op, name] : unknown) {
    SCOPED_TRACE(fmt::format("{} '{}'", op, name));
    const dispatch::Problem p{op, {{"rows", 2}, {"cols", 16}}};
    for (const dispatch::Verdict& v : dispatch::explain(op, *dev0, p)) EXPECT_NE(v.variant->name, name);
    try {
      dispatch::select(op, p, RunOptions{"opencl", 0, std::string(name)});
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Unsupported);
      EXPECT_NE(std::string(e.what()).find("'" + std::string(name) + "'"), std::string::npos) << e.what();
    }
  }
  std::vector<float> x(32, 1.0f);
  std::vector<uint8_t> q(32);
  for (int bad : {device_count(), -1}) {
    try {
      launch_opencl(bad, "elementwise", detail::ConvertArgs{x.data(), 32, Format::E4M3, q.data()});
      ADD_FAILURE() << "no error";
    } catch (const BackendFailure& e) {
      EXPECT_NE(std::string(e.what()).find("no device"), std::string::npos) << e.what();
    }
  }
}

// ---- timing, determinism, threads -----------------------------------------------------------

TEST(OpenclRuntime, LastDeviceTimeIsMeasured) {
  REQUIRE_OPENCL_DEVICE();
  std::vector<float> x = nvfp4_data(256, 4096, Data::Random, 5);
  for (int dev = 0; dev < device_count(); ++dev) {
    device_nvfp4(dev, x, 256, 4096, true, std::nullopt);
    double ms = ocl::last_device_ms();
    EXPECT_GT(ms, 0.0);
    EXPECT_LT(ms, 60000.0);
    std::printf("device %d: quantize_nvfp4 4over6 256x4096 took %.3f ms on the device\n", dev, ms);
  }
}

TEST(OpenclRuntime, RunsAreDeterministic) {
  REQUIRE_OPENCL_DEVICE();
  std::vector<float> x = nvfp4_data(129, 272, Data::Random, 9);
  for (int dev = 0; dev < device_count(); ++dev) {
    Nvfp4Out a = device_nvfp4(dev, x, 129, 272, true, std::nullopt);
    Nvfp4Out b = device_nvfp4(dev, x, 129, 272, true, std::nullopt);
    EXPECT_EQ(a.q, b.q);
    EXPECT_EQ(a.scale, b.scale);
    EXPECT_EQ(bits(a.scale_2), bits(b.scale_2));
    Fp8Out c = device_fp8(dev, x, 129, 272, ref::Fp8Grouping::Block128);
    Fp8Out d = device_fp8(dev, x, 129, 272, ref::Fp8Grouping::Block128);
    EXPECT_EQ(c.q, d.q);
    EXPECT_TRUE(same(c.scales, d.scales, c.scales.size()));
  }
}

TEST(OpenclRuntime, ConcurrentRunsOnOneDevice) {
  REQUIRE_OPENCL_DEVICE();
  constexpr int kThreads = 4, kIterations = 12;
  const int64_t rows = 33, cols = 272;
  struct Case {
    std::vector<float> x;
    Nvfp4Out nv;
    Fp8Out f8;
  };
  std::vector<Case> cases;
  for (int t = 0; t < kThreads; ++t) {
    Case c;
    c.x = nvfp4_data(rows, cols, Data::Random, 500 + static_cast<uint32_t>(t));
    c.nv = ref_nvfp4(c.x, rows, cols, t % 2 == 1, std::nullopt);
    c.f8 = ref_fp8(c.x, rows, cols, kGroupings[t % 3]);
    cases.push_back(std::move(c));
  }
  for (int dev = 0; dev < device_count(); ++dev) {
    std::atomic<int> wrong{0}, failed{0}, untimed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        const Case& c = cases[static_cast<size_t>(t)];
        size_t n = c.x.size();
        for (int it = 0; it < kIterations; ++it) {
          try {
            std::vector<uint8_t> q(n / 2), scale(n / 16), q8(n);
            float s2 = 0;
            launch_opencl(dev, "block16",
                     detail::QuantizeNvfp4Args{c.x.data(), rows, cols, t % 2 == 1, std::nullopt,
                                               q.data(), scale.data(), &s2});
            if (ocl::last_device_ms() <= 0.0) ++untimed;
            if (!std::equal(q.begin(), q.end(), c.nv.q.begin()) ||
                !std::equal(scale.begin(), scale.end(), c.nv.scale.begin()) ||
                bits(s2) != bits(c.nv.scale_2))
              ++wrong;
            std::vector<float> scales(c.f8.scales.size());
            launch_opencl(dev, "group_amax",
                     detail::QuantizeFp8Args{c.x.data(), rows, cols, kGroupings[t % 3], q8.data(),
                                             scales.data()});
            if (q8 != c.f8.q ||
                std::memcmp(scales.data(), c.f8.scales.data(), scales.size() * 4) != 0)
              ++wrong;
          } catch (const std::exception&) {
            ++failed;
          }
        }
      });
    for (auto& th : threads)
      th.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(untimed.load(), 0);
  }
}

// ---- program cache ------------------------------------------------------------------------

class ProgramCache : public ::testing::Test {
protected:
  void SetUp() override {
    if (device_count() == 0) GTEST_SKIP() << "no OpenCL device";
    dir_ = fs::path(TESSERA_TEST_TMP) /
           fmt::format("opencl_cache_test_{}", static_cast<long>(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override {
    use_test_overrides();
    ocl::forget_programs();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void use(bool on, const fs::path& dir) {
    Overrides o;
    o.program_cache = on;
    o.cache_dir = dir.string();
    set_overrides(o);
    ocl::forget_programs();
  }
  // A fresh compile (the memo is dropped) of the convert program, checked against the reference.
  void convert_once() {
    ocl::forget_programs();
    std::vector<float> x = {0.3f, -7.0f, 1e9f, from_bits(0x80000001u), NAN, 1.75f};
    std::vector<uint8_t> want(x.size());
    for (size_t i = 0; i < x.size(); ++i)
      want[i] = ref::f32_to_e4m3(x[i]);
    EXPECT_TRUE(same(device_convert<uint8_t>(0, x, Format::E4M3), want, x.size(), x.data()));
  }
  std::vector<fs::path> entries() const {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_ / "opencl", ec))
      out.push_back(e.path());
    return out;
  }
  fs::path dir_;
};

TEST_F(ProgramCache, SecondCompileReadsTheEntry) {
  use(true, dir_);
  EXPECT_EQ(ocl::program_cache_dir(), (dir_ / "opencl").string());
  auto s0 = ocl::program_cache_stats();
  convert_once();
  auto s1 = ocl::program_cache_stats();
  EXPECT_EQ(s1.source_builds - s0.source_builds, 1);
  EXPECT_EQ(s1.disk_writes - s0.disk_writes, 1);
  ASSERT_EQ(entries().size(), 1u);
  EXPECT_EQ(entries()[0].extension(), ".clbin");
  convert_once();
  auto s2 = ocl::program_cache_stats();
  EXPECT_EQ(s2.disk_hits - s1.disk_hits, 1);
  EXPECT_EQ(s2.source_builds, s1.source_builds);
  EXPECT_EQ(s2.disk_rejected, s1.disk_rejected);
}

TEST_F(ProgramCache, CorruptEntriesAreIgnoredAndRewritten) {
  use(true, dir_);
  convert_once();
  ASSERT_EQ(entries().size(), 1u);
  const fs::path entry = entries()[0];
  auto read_all = [&] {
    std::ifstream f(entry, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  };
  const std::string good = read_all();
  ASSERT_GT(good.size(), 64u);
  auto flip = [](std::string s, size_t at) {
    for (size_t i = at; i < at + 4 && i < s.size(); ++i)
      s[i] = static_cast<char>(~s[i]);
    return s;
  };
  const std::pair<const char*, std::string> corruptions[] = {
      {"truncated to half", good.substr(0, good.size() / 2)},
      {"truncated by one byte", good.substr(0, good.size() - 1)},
      {"empty", ""},
      {"bad magic", flip(good, 0)},
      {"key bytes flipped", flip(good, 40)},
      {"binary bytes flipped", flip(good, good.size() - 100)},
      {"checksum flipped", flip(good, good.size() - 4)},
      {"junk appended", good + "junk"},
  };
  for (const auto& [what, bytes] : corruptions) {
    SCOPED_TRACE(what);
    {
      std::ofstream f(entry, std::ios::binary | std::ios::trunc);
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    auto s0 = ocl::program_cache_stats();
    convert_once(); // still right
    auto s1 = ocl::program_cache_stats();
    EXPECT_EQ(s1.disk_rejected - s0.disk_rejected, 1);
    EXPECT_EQ(s1.source_builds - s0.source_builds, 1);
    EXPECT_EQ(s1.disk_writes - s0.disk_writes, 1);
    convert_once(); // the rewritten entry is read

    EXPECT_EQ(ocl::program_cache_stats().disk_hits - s1.disk_hits, 1);
  }
}

// An entry whose framing and checksum are right but whose binary is not one the driver accepts
// (another driver's, say): clCreateProgramWithBinary or clBuildProgram refuses it, and the entry
// is rebuilt.
TEST_F(ProgramCache, EntryTheDriverRefusesIsRebuilt) {
  use(true, dir_);
  convert_once();
  ASSERT_EQ(entries().size(), 1u);
  const fs::path entry = entries()[0];
  std::string e;
  {
    std::ifstream f(entry, std::ios::binary);
    e.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  std::string why;
  auto parsed = detail::disk_cache::parse(e, why);
  ASSERT_TRUE(parsed) << why;
  std::string forged = detail::disk_cache::frame(
      parsed->key, "not a program binary, but framed and checksummed like one");
  {
    std::ofstream f(entry, std::ios::binary | std::ios::trunc);
    f.write(forged.data(), static_cast<std::streamsize>(forged.size()));
  }
  auto s0 = ocl::program_cache_stats();
  convert_once();
  auto s1 = ocl::program_cache_stats();
  EXPECT_EQ(s1.disk_rejected - s0.disk_rejected, 1);
  EXPECT_EQ(s1.source_builds - s0.source_builds, 1);
  convert_once();
  EXPECT_EQ(ocl::program_cache_stats().disk_hits - s1.disk_hits, 1);
}

TEST_F(ProgramCache, OffWritesNothing) {
  use(false, dir_);
  EXPECT_EQ(ocl::program_cache_dir(), "");
  auto s0 = ocl::program_cache_stats();
  convert_once();
  auto s1 = ocl::program_cache_stats();
  EXPECT_EQ(s1.source_builds - s0.source_builds, 1);
  EXPECT_EQ(s1.disk_writes, s0.disk_writes);
  EXPECT_EQ(s1.disk_hits, s0.disk_hits);
  EXPECT_FALSE(fs::exists(dir_));
}

} // namespace
} // namespace tessera
