// The OpenCL conversions, quantizers and dequantizers against the CPU reference, byte for byte,
// on every OpenCL device of the machine (PoCL's CPU device at least, in CI): each launch function
// (host/src/opencl/launch.h, called through its record) on random and adversarial inputs, the
// 4over6 error sums that a contracted fma would change, and empty tensors.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "host/src/backends.h"
#include "opencl_quantize_harness.h"
#include "reference/formats.h"
#include "reference/quantize.h"

namespace tessera {
namespace {

using namespace test;

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

} // namespace
} // namespace tessera
