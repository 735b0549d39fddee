// The OpenCL backend against the CPU reference, byte for byte, on every OpenCL device of the
// machine (PoCL's CPU device at least, in CI): each launch function (host/src/opencl/launch.h,
// called through its record) on random and adversarial inputs, the device-side refusal of
// non-finite input, the program cache, errors, timing, determinism and concurrent use of one
// device.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include "host/src/backends.h"
#include "host/src/disk_cache.h"
#include "host/src/opencl/introspect.h"
#include "host/src/validate.h"
#include "reference/formats.h"
#include "reference/quantize.h"
#include "tessera/overrides.h"
#include "variant_launch.h"

namespace tessera {
namespace {

namespace ocl = detail::opencl;
namespace fs = std::filesystem;
using detail::BackendFailure;
using test::launch_opencl;

constexpr uint8_t kSentinel = 0xA5; // fills outputs, and guard bytes after them
constexpr size_t kGuard = 64;

int device_count() { return static_cast<int>(ocl::devices().size()); }

#define REQUIRE_OPENCL_DEVICE()                                                                    \
  if (device_count() == 0)                                                                         \
  GTEST_SKIP()                                                                                     \
      << "no OpenCL device: the backend is not built here, or there is no ICD / platform "         \
         "(install pocl-opencl-icd for a CPU device)"

// Every test uses its own cache directory under the build tree, never the user's ~/.cache.
fs::path test_cache_dir() { return fs::path(TESSERA_TEST_TMP) / "opencl_cache"; }
void use_test_overrides() {
  Overrides o;
  o.cache_dir = test_cache_dir().string();
  set_overrides(o);
}

class Environment : public ::testing::Environment {
public:
  void SetUp() override { use_test_overrides(); }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Environment);

uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }
float from_bits(uint32_t b) { return std::bit_cast<float>(b); }

// Output buffer of n elements followed by guard bytes, all set to the sentinel.
template <class T> std::vector<T> guarded(size_t n) {
  std::vector<T> v(n + kGuard / sizeof(T));
  std::memset(v.data(), kSentinel, v.size() * sizeof(T));
  return v;
}

template <class T>::testing::AssertionResult guard_intact(const std::vector<T>& v, size_t n) {
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());
  for (size_t i = n * sizeof(T); i < v.size() * sizeof(T); ++i)
    if (p[i] != kSentinel)
      return ::testing::AssertionFailure() << "write past the end at byte " << i;
  return ::testing::AssertionSuccess();
}

// Compares the first n elements bit for bit; names the first few differences and the input
// that produced them when `x` is given (one input per element).
template <class T>
::testing::AssertionResult same(const std::vector<T>& got, const std::vector<T>& want, size_t n,
                                const float* x = nullptr) {
  size_t bad = 0;
  std::string msg;
  for (size_t i = 0; i < n; ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(T)) == 0) continue;
    if (bad++ < 8) {
      uint64_t g = 0, w = 0;
      std::memcpy(&g, &got[i], sizeof(T));
      std::memcpy(&w, &want[i], sizeof(T));
      msg += fmt::format("\n  [{}] got 0x{:0{}X} want 0x{:0{}X}", i, g, 2 * sizeof(T), w,
                         2 * sizeof(T));
      if (x) msg += fmt::format(" for x = 0x{:08X} ({})", bits(x[i]), x[i]);
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << n << " elements differ:" << msg;
}

// ---- inputs -----------------------------------------------------------------------------------

// Random fp32 bit patterns (every class: normals, denormals, infs, NaNs with payloads) plus, for
// every format, each grid value, its fp32 neighbours, the midpoints between grid neighbours
// (ties) and their neighbours, with both signs.
std::vector<float> convert_inputs() {
  std::vector<uint32_t> b;
  std::mt19937 rng(20240601);
  for (int i = 0; i < 300000; ++i)
    b.push_back(rng());
  for (uint32_t s :
       {0x00000000u, 0x00000001u, 0x00000002u, 0x003FFFFFu, 0x00400000u, 0x007FFFFFu, 0x00800000u,
        0x7F7FFFFFu, 0x7F800000u, 0x7F800001u, 0x7FA00000u, 0x7FBFFFFFu, 0x7FC00000u, 0x7FC00001u,
        0x7FFFFFFFu, 0x7F802000u, 0x3E800000u, 0x3F400000u, 0x43E80000u})
    for (uint32_t sign : {0u, 0x80000000u})
      b.push_back(s | sign);
  auto around = [&](float v) {
    for (float w : {v, std::nextafter(v, 0.0f), std::nextafter(v, INFINITY)})
      for (uint32_t sign : {0u, 0x80000000u})
        b.push_back(bits(w) | sign);
  };
  auto grid = [&](auto decode, uint32_t max_code) {
    for (uint32_t c = 0; c <= max_code; ++c) {
      float v = decode(c);
      around(v);
      // Past the largest finite value: half a quantum above it is the overflow tie.
      float next = c < max_code ? decode(c + 1) : v + (v - decode(c - 1));
      around((v + next) / 2.0f); // exact: few significant bits
    }
  };
  grid([](uint32_t c) { return ref::e4m3_to_f32(static_cast<uint8_t>(c)); }, 0x7E);
  grid([](uint32_t c) { return ref::e5m2_to_f32(static_cast<uint8_t>(c)); }, 0x7B);
  grid([](uint32_t c) { return ref::e2m1_to_f32(static_cast<uint8_t>(c)); }, 0x7);
  grid([](uint32_t c) { return ref::f16_to_f32(static_cast<uint16_t>(c)); }, 0x7BFF);
  grid([](uint32_t c) { return ref::bf16_to_f32(static_cast<uint16_t>(c)); }, 0x7F7F);
  std::vector<float> x(b.size());
  for (size_t i = 0; i < b.size(); ++i)
    x[i] = from_bits(b[i]);
  return x;
}

enum class Data { Random, Ties, Zeros, Denormals };
const char* data_name(Data d) {
  switch (d) {
  case Data::Random: return "random";
  case Data::Ties: return "ties";
  case Data::Zeros: return "zeros";
  case Data::Denormals: return "denormals";
  }
  return "?";
}

// NVFP4 inputs. Random: normals of a per-row magnitude, outlier blocks, all-zero blocks, signed
// zeros and negative denormals. Ties: each block is 2^k times values whose ratios to the block
// scale land exactly on E2M1 grid points and tie points (exact with scale_2 = 1).
std::vector<float> nvfp4_data(int64_t rows, int64_t cols, Data kind, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> x(static_cast<size_t>(rows * cols), 0.0f);
  if (kind == Data::Zeros) return x;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, 99);
  static constexpr float kTies[] = {0, 0.25f, 0.5f, 0.75f, 1, 1.25f, 1.5f, 1.75f,
                                    2, 2.5f,  3,    3.5f,  4, 5,     6};
  for (int64_t r = 0; r < rows; ++r) {
    float row_mag = std::ldexp(1.0f, static_cast<int>(rng() % 40) - 20);
    for (int64_t b = 0; b < cols / 16; ++b) {
      float* xb = x.data() + r * cols + b * 16;
      int k = static_cast<int>(rng() % 17) - 8, roll = pick(rng);
      for (int i = 0; i < 16; ++i) {
        float sign = (rng() & 1) ? -1.0f : 1.0f;
        switch (kind) {
        case Data::Random:
          xb[i] = roll < 5 ? 0.0f : normal(rng) * row_mag * (roll < 10 ? 100.0f : 1.0f);
          if (pick(rng) == 0) xb[i] = -0.0f;
          if (pick(rng) == 0)
            xb[i] = from_bits(0x80000000u | (static_cast<uint32_t>(rng()) & 0x7FFFFFu));
          break;
        case Data::Ties: xb[i] = sign * std::ldexp(kTies[rng() % std::size(kTies)], k); break;
        case Data::Denormals:
          xb[i] =
              from_bits((sign < 0 ? 0x80000000u : 0u) | (static_cast<uint32_t>(rng()) & 0x7FFFFFu));
          break;
        case Data::Zeros: break;
        }
      }
      if (kind == Data::Ties) xb[rng() % 16] = std::ldexp(6.0f, k); // block max 6 * 2^k: scale 2^k
    }
  }
  return x;
}

// FP8 inputs. Random: normals with a per-row magnitude, all-zero rows and outliers. Ties: every
// group holds 448 (so s = 1 for every recipe) and otherwise E4M3 midpoints and grid values.
std::vector<float> fp8_data(int64_t rows, int64_t cols, Data kind, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * cols), 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    float row_mag = std::ldexp(1.0f, static_cast<int>(rng() % 30) - 15);
    bool zero_row = rng() % 10 == 0;
    for (int64_t c = 0; c < cols; ++c) {
      float& v = x[static_cast<size_t>(r * cols + c)];
      if (kind == Data::Random) {
        v = zero_row ? 0.0f : normal(rng) * row_mag * (rng() % 50 == 0 ? 1000.0f : 1.0f);
      } else {
        uint8_t code = static_cast<uint8_t>(rng() % 0x7E);
        float lo = ref::e4m3_to_f32(code), hi = ref::e4m3_to_f32(static_cast<uint8_t>(code + 1));
        v = (rng() & 1) ? (lo + hi) / 2.0f : lo;
        if (rng() & 1) v = -v;
        if (c % 128 == 0) v = 448.0f;
      }
    }
  }
  return x;
}

// ---- callers of the backend ---------------------------------------------------------------

template <class T> std::vector<T> device_convert(int dev, const std::vector<float>& x, Format f) {
  std::vector<T> y = guarded<T>(x.size());
  launch_opencl(dev, "elementwise",
           detail::ConvertArgs{x.data(), static_cast<int64_t>(x.size()), f, y.data()});
  EXPECT_TRUE(guard_intact(y, x.size()));
  return y;
}

struct Nvfp4Out {
  std::vector<uint8_t> q, scale;
  float scale_2 = 0.0f;
};

Nvfp4Out device_nvfp4(int dev, const std::vector<float>& x, int64_t rows, int64_t cols, bool fos,
                      std::optional<float> fixed) {
  Nvfp4Out o{guarded<uint8_t>(static_cast<size_t>(rows * cols / 2)),
             guarded<uint8_t>(static_cast<size_t>(rows * cols / 16)), -1.0f};
  launch_opencl(dev, "block16",
           detail::QuantizeNvfp4Args{x.data(), rows, cols, fos, fixed, o.q.data(), o.scale.data(),
                                     &o.scale_2});
  EXPECT_TRUE(guard_intact(o.q, static_cast<size_t>(rows * cols / 2)));
  EXPECT_TRUE(guard_intact(o.scale, static_cast<size_t>(rows * cols / 16)));
  return o;
}

Nvfp4Out ref_nvfp4(const std::vector<float>& x, int64_t rows, int64_t cols, bool fos,
                   std::optional<float> fixed) {
  Nvfp4Out o{guarded<uint8_t>(static_cast<size_t>(rows * cols / 2)),
             guarded<uint8_t>(static_cast<size_t>(rows * cols / 16)), 0.0f};
  o.scale_2 = fixed ? *fixed : ref::nvfp4_scale_2(x.data(), rows * cols, fos);
  (fos ? ref::quantize_nvfp4_4over6 : ref::quantize_nvfp4)(x.data(), rows, cols, o.scale_2,
                                                           o.q.data(), o.scale.data());
  return o;
}

struct Fp8Out {
  std::vector<uint8_t> q;
  std::vector<float> scales;
};

Fp8Out device_fp8(int dev, const std::vector<float>& x, int64_t rows, int64_t cols,
                  ref::Fp8Grouping g) {
  size_t ns = static_cast<size_t>(ref::fp8_scale_count(g, rows, cols));
  Fp8Out o{guarded<uint8_t>(x.size()), guarded<float>(ns)};
  launch_opencl(dev, "group_amax",
           detail::QuantizeFp8Args{x.data(), rows, cols, g, o.q.data(), o.scales.data()});
  EXPECT_TRUE(guard_intact(o.q, x.size()));
  EXPECT_TRUE(guard_intact(o.scales, ns));
  return o;
}

Fp8Out ref_fp8(const std::vector<float>& x, int64_t rows, int64_t cols, ref::Fp8Grouping g) {
  Fp8Out o{std::vector<uint8_t>(x.size()),
           std::vector<float>(static_cast<size_t>(ref::fp8_scale_count(g, rows, cols)))};
  ref::quantize_fp8(x.data(), rows, cols, g, o.q.data(), o.scales.data());
  return o;
}

const char* grouping_name(ref::Fp8Grouping g) {
  switch (g) {
  case ref::Fp8Grouping::Tensor: return "fp8-tensor";
  case ref::Fp8Grouping::Token128: return "fp8-token128";
  case ref::Fp8Grouping::Block128: return "fp8-block128";
  }
  return "?";
}
constexpr ref::Fp8Grouping kGroupings[] = {ref::Fp8Grouping::Tensor, ref::Fp8Grouping::Token128,
                                           ref::Fp8Grouping::Block128};

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

// ---- conversions --------------------------------------------------------------------------

TEST(OpenclRuntime, ConvertMatchesReferenceOnEveryClassOfInput) {
  REQUIRE_OPENCL_DEVICE();
  const std::vector<float> x = convert_inputs();
  for (int dev = 0; dev < device_count(); ++dev) {
    SCOPED_TRACE(ocl::devices()[static_cast<size_t>(dev)].name);
    struct Byte {
      Format f;
      uint8_t (*ref)(float);
      const char* name;
    };
    for (const Byte& c : {Byte{Format::E4M3, ref::f32_to_e4m3, "e4m3"},
                          Byte{Format::E5M2, ref::f32_to_e5m2, "e5m2"},
                          Byte{Format::E2M1, ref::f32_to_e2m1, "e2m1"}}) {
      std::vector<uint8_t> want(x.size());
      for (size_t i = 0; i < x.size(); ++i)
        want[i] = c.ref(x[i]);
      EXPECT_TRUE(same(device_convert<uint8_t>(dev, x, c.f), want, x.size(), x.data())) << c.name;
    }
    struct Half {
      Format f;
      uint16_t (*ref)(float);
      const char* name;
    };
    for (const Half& c : {Half{Format::BF16, ref::f32_to_bf16, "bf16"},
                          Half{Format::F16, ref::f32_to_f16, "fp16"}}) {
      std::vector<uint16_t> want(x.size());
      for (size_t i = 0; i < x.size(); ++i)
        want[i] = c.ref(x[i]);
      EXPECT_TRUE(same(device_convert<uint16_t>(dev, x, c.f), want, x.size(), x.data())) << c.name;
    }
  }
}

TEST(OpenclRuntime, ConvertSignRules) {
  REQUIRE_OPENCL_DEVICE();
  // -0.0 keeps its sign in E4M3 but not in E2M1; a negative denormal is < 0 for E2M1.
  const std::vector<float> x = {-0.0f, from_bits(0x80000001u), from_bits(0xFFC00000u), -1e-30f};
  auto e2 = device_convert<uint8_t>(0, x, Format::E2M1);
  auto e4 = device_convert<uint8_t>(0, x, Format::E4M3);
  EXPECT_EQ(e2[0], 0x0);
  EXPECT_EQ(e2[1], 0x8);
  EXPECT_EQ(e2[2], 0x7);
  EXPECT_EQ(e2[3], 0x8);
  EXPECT_EQ(e4[0], 0x80);
  EXPECT_EQ(e4[1], 0x80);
  EXPECT_EQ(e4[2], 0xFF);
}

// ---- NVFP4 --------------------------------------------------------------------------------

TEST(OpenclRuntime, QuantizeNvfp4MatchesReference) {
  REQUIRE_OPENCL_DEVICE();
  struct Recipe {
    bool fos;
    std::optional<float> fixed;
    const char* name;
  };
  const Recipe recipes[] = {{false, std::nullopt, "nvfp4"},
                            {true, std::nullopt, "nvfp4-4over6"},
                            {false, 1.0f, "nvfp4 static 1"},
                            {true, 1.0f, "nvfp4-4over6 static 1"},
                            {false, 0.37f, "nvfp4 static 0.37"},
                            {false, 0x1p-20f, "nvfp4 static 2^-20 (saturates)"},
                            {true, 0x1p-20f, "nvfp4-4over6 static 2^-20 (saturates)"}};
  uint32_t seed = 1;
  for (int dev = 0; dev < device_count(); ++dev)
    for (int64_t rows : {1, 3, 129})
      for (int64_t cols : {16, 48, 272})
        for (Data kind : {Data::Random, Data::Ties, Data::Zeros, Data::Denormals})
          for (const Recipe& r : recipes) {
            SCOPED_TRACE(
                fmt::format("device {} {} {}x{} {}", dev, r.name, rows, cols, data_name(kind)));
            std::vector<float> x = nvfp4_data(rows, cols, kind, seed++);
            Nvfp4Out got = device_nvfp4(dev, x, rows, cols, r.fos, r.fixed);
            Nvfp4Out want = ref_nvfp4(x, rows, cols, r.fos, r.fixed);
            EXPECT_EQ(bits(got.scale_2), bits(want.scale_2));
            EXPECT_TRUE(same(got.q, want.q, static_cast<size_t>(rows * cols / 2)));
            EXPECT_TRUE(same(got.scale, want.scale, static_cast<size_t>(rows * cols / 16)));
          }
}

// Blocks whose 4over6 choice flips when the error sum e += d * d is contracted into an fma
// (found by bisecting one element across the A/B decision boundary). With OpenCL's default
// FP_CONTRACT ON, PoCL does contract it; the kernels' #pragma OPENCL FP_CONTRACT OFF keeps them
// equal to the reference. Quantized with static scale_2 = 2^-10.
constexpr uint32_t kContractionWitnesses[8][16] = {
    {0xBF1A4AE3, 0xBC3E4A7B, 0xBF974B10, 0x3F74C92E, 0x3F0B7280, 0x3F9D65B4, 0x3D48A1B3, 0x3E79D6E1,
     0x3FAE252A, 0x3FC37088, 0x3FD92E50, 0x3FEB0226, 0x3FA8FD10, 0x3F727EE4, 0xBFF90001,
     0x3EF0E2F1},
    {0x3F13287D, 0xBFD940E6, 0xBF500284, 0x3FBAE2C8, 0xBDDBAD46, 0x3F5ECE0F, 0xC009DCCB, 0xBF88C583,
     0xBF9BABDD, 0xBF8D81B7, 0x3F95A8A7, 0xBED7D9B5, 0x3F26CC72, 0xBEB5887B, 0xBF264B97,
     0xBFD8CC97},
    {0x3F9E2D10, 0x3FA41A6C, 0x3D8EDFA7, 0x3F0E5435, 0x3F243F74, 0x3F786047, 0x3E61F886, 0xBF02045F,
     0xBF7AA04A, 0xBF0D2A76, 0x3F2C4474, 0x3F5DC384, 0x3FFFE4C6, 0x3FD0B8AC, 0x3F7C96C0,
     0x3E56C835},
    {0xBFE09DC2, 0x3F7E58B2, 0xBD74D39F, 0x4002956E, 0xBF6EED40, 0xBE8E745F, 0x3F894C56, 0xBF63ECBD,
     0xBDEDD33C, 0x3E32003C, 0x3E062F1E, 0xBFCD0B1F, 0x3EC519BB, 0xBF32C417, 0xBF95973A,
     0x3E89D57C},
    {0xBFF5DE6C, 0xBF045CBF, 0xBFFC996C, 0xBEDB7186, 0x3EF5D097, 0x3F14F3E9, 0xBFD21B45, 0xBFFD99DA,
     0x3F50E546, 0x3F2CFCE4, 0x3F57DEE5, 0x3FA35BCB, 0xBD8C3EE3, 0xBCC1A8FD, 0x3F0316CB,
     0xBF28E7CB},
    {0x3D60D438, 0xBF6C571F, 0xBF6A2149, 0xBEDA322D, 0xBEB14C0C, 0x4004C32E, 0x3F722F28, 0x3F7F7344,
     0x3EC4214D, 0xBD1DC24B, 0x3FDDFB58, 0x3FF67EE0, 0xBEF68895, 0xBF3D5DDD, 0xBE65F2BB,
     0x3E81EAA1},
    {0xBEC4CFCB, 0xBFCF3247, 0xBFCC6236, 0xBF7D4E6A, 0x3DC87727, 0x3B4A2636, 0x3E40A16C, 0xBE92409A,
     0xBE1A94E4, 0x3D25B02B, 0x400134AC, 0x3F7114F7, 0x3F604891, 0xBF7BB124, 0x3FB3806C,
     0xBF9D7DAA},
    {0xBF58A726, 0xBEA189D3, 0x3F3954A6, 0xBF4467B8, 0x3FA0DED6, 0x3F1ED250, 0x3F082DAE, 0x3F841F0A,
     0x3F39AEEA, 0x3F1329A8, 0xBFF35993, 0x3FF480D0, 0xBE965828, 0x3F55F2BE, 0xBD75445E,
     0x400A86E4}};

// The reference's 4over6 choice for one block, with the error sum fused (fma) or not.
bool takes_b(const float* xb, float scale_2, bool fused) {
  uint8_t ca[16], cb[16];
  uint8_t sa = ref::quantize_nvfp4_block(xb, scale_2, 6.0f, ca),
          sb = ref::quantize_nvfp4_block(xb, scale_2, 4.0f, cb);
  auto error = [&](const uint8_t* c, uint8_t s) {
    float e = 0.0f;
    for (int i = 0; i < 16; ++i) {
      float d = xb[i] - (ref::e2m1_to_f32(c[i]) * ref::e4m3_to_f32(s)) * scale_2;
      e = fused ? std::fma(d, d, e) : e + d * d;
    }
    return e;
  };
  return error(cb, sb) < error(ca, sa);
}

TEST(OpenclRuntime, FourOverSixErrorSumsAreNotContracted) {
  REQUIRE_OPENCL_DEVICE();
  constexpr float kScale2 = 0x1p-10f;
  std::vector<float> x;
  for (const auto& block : kContractionWitnesses)
    for (uint32_t b : block)
      x.push_back(from_bits(b));
  for (size_t blk = 0; blk < std::size(kContractionWitnesses); ++blk)
    ASSERT_NE(takes_b(x.data() + blk * 16, kScale2, false),
              takes_b(x.data() + blk * 16, kScale2, true))
        << "block " << blk << " no longer tells a contracted sum from an exact one";
  for (int dev = 0; dev < device_count(); ++dev) {
    Nvfp4Out got = device_nvfp4(dev, x, 8, 16, true, kScale2),
             want = ref_nvfp4(x, 8, 16, true, kScale2);
    EXPECT_TRUE(same(got.scale, want.scale, 8));
    EXPECT_TRUE(same(got.q, want.q, 64));
  }
}

TEST(OpenclRuntime, DequantizeNvfp4MatchesReference) {
  REQUIRE_OPENCL_DEVICE();
  std::mt19937 rng(7);
  for (int dev = 0; dev < device_count(); ++dev)
    for (int64_t rows : {1, 3, 129})
      for (int64_t cols : {16, 48, 272})
        // 3e-39 makes denormal results, 1e37 overflows to inf; every scale byte, NaN included.
        for (float scale_2 : {1.0f, 0.0123f, 3e-39f, 1e37f}) {
          SCOPED_TRACE(fmt::format("device {} {}x{} scale_2 {}", dev, rows, cols, scale_2));
          size_t n = static_cast<size_t>(rows * cols);
          std::vector<uint8_t> q(n / 2), scale(n / 16);
          for (auto& b : q)
            b = static_cast<uint8_t>(rng());
          for (auto& b : scale)
            b = static_cast<uint8_t>(rng());
          std::vector<float> y = guarded<float>(n), want(n);
          launch_opencl(
              dev, "elementwise",
              detail::DequantizeNvfp4Args{q.data(), scale.data(), scale_2, rows, cols, y.data()});
          ref::dequantize_nvfp4(q.data(), scale.data(), scale_2, rows, cols, want.data());
          // Every NaN an operation writes is the canonical one (reference/formats.h).
          for (float& w : want)
            w = ref::canonicalize_nan(w);
          EXPECT_TRUE(same(y, want, n));
          EXPECT_TRUE(guard_intact(y, n));
        }
}

// ---- FP8 ----------------------------------------------------------------------------------

TEST(OpenclRuntime, QuantizeFp8MatchesReference) {
  REQUIRE_OPENCL_DEVICE();
  uint32_t seed = 100;
  for (int dev = 0; dev < device_count(); ++dev)
    for (int64_t rows : {1, 127, 128, 129, 300})
      for (int64_t cols : {1, 127, 128, 129, 300})
        for (Data kind : {Data::Random, Data::Ties})
          for (ref::Fp8Grouping g : kGroupings) {
            SCOPED_TRACE(fmt::format("device {} {} {}x{} {}", dev, grouping_name(g), rows, cols,
                                     data_name(kind)));
            std::vector<float> x = fp8_data(rows, cols, kind, seed++);
            Fp8Out got = device_fp8(dev, x, rows, cols, g), want = ref_fp8(x, rows, cols, g);
            EXPECT_TRUE(same(got.q, want.q, x.size(), x.data()));
            EXPECT_TRUE(same(got.scales, want.scales, want.scales.size()));
          }
}

TEST(OpenclRuntime, DequantizeFp8MatchesReference) {
  REQUIRE_OPENCL_DEVICE();
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> mag(-30.0f, 10.0f);
  for (int dev = 0; dev < device_count(); ++dev)
    for (int64_t rows : {1, 127, 129, 300})
      for (int64_t cols : {1, 128, 300})
        for (ref::Fp8Grouping g : kGroupings) {
          SCOPED_TRACE(fmt::format("device {} {} {}x{}", dev, grouping_name(g), rows, cols));
          size_t n = static_cast<size_t>(rows * cols);
          std::vector<uint8_t> q(n);
          for (auto& b : q)
            b = static_cast<uint8_t>(rng()); // NaN codes included
          std::vector<float> scales(static_cast<size_t>(ref::fp8_scale_count(g, rows, cols)));
          for (auto& s : scales)
            s = std::exp2(mag(rng));
          std::vector<float> y = guarded<float>(n), want(n);
          launch_opencl(dev, "elementwise",
                   detail::DequantizeFp8Args{q.data(), scales.data(), rows, cols, g, y.data()});
          ref::dequantize_fp8(q.data(), scales.data(), rows, cols, g, want.data());
          for (float& w : want)
            w = ref::canonicalize_nan(w);
          EXPECT_TRUE(same(y, want, n));
          EXPECT_TRUE(guard_intact(y, n));
        }
}

TEST(OpenclRuntime, EmptyTensors) {
  REQUIRE_OPENCL_DEVICE();
  float s2 = -1.0f;
  launch_opencl(0, "block16",
           detail::QuantizeNvfp4Args{nullptr, 0, 32, false, std::nullopt, nullptr, nullptr, &s2});
  EXPECT_EQ(s2, 1.0f);
  launch_opencl(0, "block16",
           detail::QuantizeNvfp4Args{nullptr, 4, 0, true, 0.5f, nullptr, nullptr, &s2});
  EXPECT_EQ(s2, 0.5f);
  float s = -1.0f;
  launch_opencl(0, "group_amax",
           detail::QuantizeFp8Args{nullptr, 0, 5, ref::Fp8Grouping::Tensor, nullptr, &s});
  EXPECT_EQ(s, 1.0f);
  launch_opencl(0, "elementwise", detail::ConvertArgs{nullptr, 0, Format::F16, nullptr});
  launch_opencl(0, "elementwise",
           detail::DequantizeFp8Args{nullptr, nullptr, 3, 0, ref::Fp8Grouping::Token128, nullptr});
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
