// The 128x4 swizzled scale layout against hand-computed offsets, and the prepack API: pack /
// unpack round trips, GEMMs on packed weights equal to the checkpoint call on every device, and
// bad inputs refused before anything is written.
#include <gtest/gtest.h>

#include <random>

#include "dispatch/registry.h"
#include "tessera/overrides.h"
#include "tessera/weights.h"
#include "test_util.h"

using namespace tessera;

namespace {

TensorView u8_view(std::vector<uint8_t>& v, Shape s, DType t = DType::U8) {
  return TensorView{t, std::move(s), v.data(), v.size()};
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// Scale bytes that are never the E4M3 NaN codes, over a moderate range.
std::vector<uint8_t> scale_bytes(size_t n, uint32_t seed) {
  auto v = random_bytes(n, seed);
  for (auto& b : v) b = static_cast<uint8_t>(0x20 + b % 0x40) | (b & 0x80);
  return v;
}

template <class F>
ErrorCode error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "no error thrown";
  return ErrorCode::InvalidArgument;
}

// ---- swizzled layout -------------------------------------------------------------------------

TEST(SwizzledScales, OffsetsOfOneTileByHand) {
  // Within a 128x4 tile: (r % 32) * 16 + (r / 32) * 4 + c.
  EXPECT_EQ(swizzled_offset(0, 0, 4), 0);
  EXPECT_EQ(swizzled_offset(0, 3, 4), 3);
  EXPECT_EQ(swizzled_offset(1, 0, 4), 16);
  EXPECT_EQ(swizzled_offset(31, 3, 4), 31 * 16 + 3);
  EXPECT_EQ(swizzled_offset(32, 0, 4), 4);
  EXPECT_EQ(swizzled_offset(33, 1, 4), 16 + 4 + 1);
  EXPECT_EQ(swizzled_offset(64, 2, 4), 8 + 2);
  EXPECT_EQ(swizzled_offset(127, 3, 4), 511);
  // Tiles: row-tile major, then column tile; a 5-column matrix pads to 8 (two column tiles).
  EXPECT_EQ(swizzled_offset(0, 4, 5), 512);
  EXPECT_EQ(swizzled_offset(128, 0, 5), 1024);
  EXPECT_EQ(swizzled_offset(129, 4, 5), 1536 + 16);
}

TEST(SwizzledScales, FullTileIsAPermutation) {
  // Scale (r, c) = (r * 4 + c) mod 256: distinct within any 64 rows, enough for the picks below.
  std::vector<uint8_t> lin(128 * 4), swz(512, 0xAA);
  for (int r = 0; r < 128; ++r)
    for (int c = 0; c < 4; ++c) lin[r * 4 + c] = static_cast<uint8_t>((r * 4 + c) & 0xFF);
  to_swizzled_scales(u8_view(lin, {128, 4}), u8_view(swz, {128, 4}));
  // Hand-picked bytes: offset 16 holds (1, 0); offset 4 holds (32, 0); offset 511 holds (127, 3).
  EXPECT_EQ(swz[0], lin[0]);
  EXPECT_EQ(swz[16], lin[1 * 4 + 0]);
  EXPECT_EQ(swz[4], lin[32 * 4 + 0]);
  EXPECT_EQ(swz[21], lin[33 * 4 + 1]);
  EXPECT_EQ(swz[511], lin[127 * 4 + 3]);
  // The first 16 bytes are row 0, 32, 64, 96 (4 columns each).
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 4; ++c) EXPECT_EQ(swz[i * 4 + c], lin[(32 * i) * 4 + c]) << i << "," << c;
}

TEST(SwizzledScales, RaggedPadsWithZerosAndRoundTrips) {
  const int64_t rows = 130, cols = 5;
  EXPECT_EQ(swizzled_rows(rows), 256);
  EXPECT_EQ(swizzled_cols(cols), 8);
  std::vector<uint8_t> lin(rows * cols);
  for (auto& b : lin) b = 0;
  for (size_t i = 0; i < lin.size(); ++i) lin[i] = static_cast<uint8_t>(1 + i % 250); // never 0
  std::vector<uint8_t> swz(256 * 8, 0xEE);
  to_swizzled_scales(u8_view(lin, {rows, cols}, DType::F8_E4M3), u8_view(swz, {256, 8}, DType::F8_E4M3));
  EXPECT_EQ(swz[1536 + 16], lin[129 * cols + 4]); // (129, 4): last tile, row 1
  EXPECT_EQ(swz[512], lin[4]);                    // (0, 4): second tile
  size_t nonzero = 0;
  for (uint8_t b : swz) nonzero += b != 0;
  EXPECT_EQ(nonzero, lin.size()); // every padding byte zeroed, every scale placed once
  std::vector<uint8_t> back(rows * cols, 0);
  from_swizzled_scales(u8_view(swz, {256 * 8}, DType::F8_E4M3), u8_view(back, {rows, cols}, DType::F8_E4M3));
  EXPECT_EQ(back, lin);
}

TEST(SwizzledScales, RandomRoundTrips) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {127, 3}, {128, 4}, {129, 9}, {300, 20}}) {
    auto lin = random_bytes(static_cast<size_t>(rows * cols), static_cast<uint32_t>(rows * 31 + cols));
    std::vector<uint8_t> swz(static_cast<size_t>(swizzled_rows(rows) * swizzled_cols(cols)));
    to_swizzled_scales(u8_view(lin, {rows, cols}), u8_view(swz, {swizzled_rows(rows), swizzled_cols(cols)}));
    std::vector<uint8_t> back(lin.size());
    from_swizzled_scales(u8_view(swz, {swizzled_rows(rows), swizzled_cols(cols)}), u8_view(back, {rows, cols}));
    EXPECT_EQ(back, lin) << rows << "x" << cols;
  }
}

TEST(SwizzledScales, MismatchedSizesRefusedWithoutWriting) {
  std::vector<uint8_t> lin(130 * 5, 7), swz(256 * 4, 0);
  EXPECT_EQ(error_of([&] { from_swizzled_scales(u8_view(swz, {256, 4}), u8_view(lin, {130, 5})); }), ErrorCode::ShapeMismatch);
  EXPECT_EQ(error_of([&] { from_swizzled_scales(u8_view(swz, {1024}), u8_view(lin, {130, 5})); }), ErrorCode::ShapeMismatch);
  EXPECT_EQ(error_of([&] { to_swizzled_scales(u8_view(lin, {130, 5}), u8_view(swz, {256, 4})); }), ErrorCode::ShapeMismatch);
  for (uint8_t b : lin) ASSERT_EQ(b, 7);
  for (uint8_t b : swz) ASSERT_EQ(b, 0);
  std::vector<uint8_t> swz_ok(256 * 8);
  EXPECT_EQ(error_of([&] { to_swizzled_scales(u8_view(lin, {130, 5}), u8_view(swz_ok, {256, 8}, DType::F8_E4M3)); }),
            ErrorCode::DTypeMismatch);
}

// ---- prepack ---------------------------------------------------------------------------------

struct Nvfp4Weight {
  int64_t N, K;
  std::vector<uint8_t> b, s;
};

Nvfp4Weight nvfp4_weight(int64_t N, int64_t K, uint32_t seed) {
  return {N, K, random_bytes(static_cast<size_t>(N * K / 2), seed), scale_bytes(static_cast<size_t>(N * K / 16), seed + 1)};
}

TEST(Prepack, Nvfp4LinearAndSwizzledScalesPackAlikeAndUnpack) {
  Nvfp4Weight w = nvfp4_weight(130, 96, 11);
  PackedWeight p = pack_nvfp4_weight(u8_view(w.b, {130, 48}), u8_view(w.s, {130, 6}, DType::F8_E4M3), 0.5f);
  EXPECT_EQ(p.layout, "checkpoint");
  EXPECT_EQ(p.backend, "cpu");
  EXPECT_EQ(p.variant, "reference");
  std::vector<uint8_t> swz(static_cast<size_t>(swizzled_rows(130) * swizzled_cols(6)));
  to_swizzled_scales(u8_view(w.s, {130, 6}, DType::F8_E4M3), u8_view(swz, {256, 8}, DType::F8_E4M3));
  PackedWeight q = pack_nvfp4_weight(u8_view(w.b, {130, 48}), u8_view(swz, {256, 8}, DType::F8_E4M3), 0.5f,
                                     ScaleLayout::Swizzled128x4);
  EXPECT_EQ(q.data, p.data);
  EXPECT_EQ(q.scales, p.scales);
  std::vector<uint8_t> b2(w.b.size()), s2(w.s.size());
  unpack_weight(q, u8_view(b2, {130, 48}), u8_view(s2, {130, 6}, DType::F8_E4M3));
  EXPECT_EQ(b2, w.b);
  EXPECT_EQ(s2, w.s);
}

TEST(Prepack, Fp8RoundTrips) {
  auto b = random_bytes(70 * 200, 5);
  for (auto& x : b)
    if ((x & 0x7F) == 0x7F) x ^= 1;
  std::vector<float> st = {0.25f};
  Tensor sb = test::f32_tensor({1, 2}, {0.5f, 2.0f});
  PackedWeight t = pack_fp8_weight(u8_view(b, {70, 200}, DType::F8_E4M3), test::f32_tensor({1}, st).view());
  EXPECT_EQ(t.format, WeightFormat::Fp8Tensor);
  EXPECT_EQ(t.scale, 0.25f);
  PackedWeight k = pack_fp8_weight(u8_view(b, {70, 200}, DType::F8_E4M3), sb.view());
  EXPECT_EQ(k.format, WeightFormat::Fp8Block128);
  std::vector<uint8_t> b2(b.size());
  Tensor s1(DType::F32, Shape{}), s2(DType::F32, {1, 2});
  unpack_weight(t, u8_view(b2, {70, 200}, DType::F8_E4M3), s1.view());
  EXPECT_EQ(b2, b);
  EXPECT_EQ(s1.as<float>()[0], 0.25f);
  std::fill(b2.begin(), b2.end(), 0);
  unpack_weight(k, u8_view(b2, {70, 200}, DType::F8_E4M3), s2.view());
  EXPECT_EQ(b2, b);
  EXPECT_TRUE(test::same_bytes(s2, sb));
}

TEST(Prepack, BadInputsRefused) {
  Nvfp4Weight w = nvfp4_weight(8, 32, 3);
  auto b = u8_view(w.b, {8, 16});
  auto s = u8_view(w.s, {8, 2}, DType::F8_E4M3);
  EXPECT_EQ(error_of([&] { pack_nvfp4_weight(b, s, NAN); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(error_of([&] { pack_nvfp4_weight(b, s, -1.0f); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(error_of([&] { pack_nvfp4_weight(u8_view(w.b, {16, 8}), s, 1.0f); }), ErrorCode::ShapeMismatch); // K = 16: scales [16, 1]
  EXPECT_EQ(error_of([&] { pack_nvfp4_weight(u8_view(w.b, {32, 4}), u8_view(w.s, {16}, DType::F8_E4M3), 1.0f); }),
            ErrorCode::ShapeMismatch); // K = 8
  EXPECT_EQ(error_of([&] { pack_nvfp4_weight(b, s, 1.0f, ScaleLayout::Swizzled128x4); }), ErrorCode::ShapeMismatch);
  EXPECT_EQ(error_of([&] { pack_nvfp4_weight(b, s, 1.0f, ScaleLayout::Linear, PackTarget{{}, 0}); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(error_of([&] { pack_nvfp4_weight(b, s, 1.0f, ScaleLayout::Linear, PackTarget{{"nosuch", 0, ""}, 1}); }),
            ErrorCode::InvalidArgument);
  PackedWeight p = pack_nvfp4_weight(b, s, 1.0f);
  // The wrong format for the call, and unpack into the wrong shape.
  std::vector<uint8_t> a(2 * 32, 0x11);
  Tensor c(DType::F32, {2, 8});
  EXPECT_EQ(error_of([&] { gemm_fp8(u8_view(a, {2, 32}, DType::F8_E4M3), p, 1.0f, std::nullopt, c.view()); }), ErrorCode::DTypeMismatch);
  std::vector<uint8_t> b2(w.b.size()), s2(w.s.size());
  EXPECT_EQ(error_of([&] { unpack_weight(p, u8_view(b2, {16, 8}), u8_view(s2, {8, 2}, DType::F8_E4M3)); }), ErrorCode::ShapeMismatch);
  // A tampered weight (bytes fewer than N and K say) is refused, never read past its end.
  PackedWeight bad = p;
  bad.data.resize(bad.data.size() / 2);
  std::vector<uint8_t> sa(2 * 2, 0x38);
  EXPECT_EQ(error_of([&] { gemm_nvfp4(u8_view(a, {2, 16}), u8_view(sa, {2, 2}, DType::F8_E4M3), bad, 1.0f, std::nullopt, c.view()); }),
            ErrorCode::ShortBuffer);
  // Block scales must be finite.
  std::vector<uint8_t> f8(4 * 4, 0x38);
  EXPECT_EQ(error_of([&] { pack_fp8_weight(u8_view(f8, {4, 4}, DType::F8_E4M3), test::f32_tensor({1, 1}, {NAN}).view()); }),
            ErrorCode::NonFinite);
  EXPECT_EQ(error_of([&] { pack_fp8_weight(u8_view(f8, {4, 4}, DType::F8_E4M3), test::f32_tensor({}, {0.0f}).view()); }),
            ErrorCode::InvalidArgument);
}

// The packed call must give the checkpoint call's bytes on every device present, for the decode
// and the prefill regime, whichever variant each picks; RunInfo names the packing.
TEST(Prepack, PackedGemmsEqualCheckpointGemmsOnEveryDevice) {
  for (const dispatch::DeviceRef& d : dispatch::devices()) {
    RunOptions o{d.backend, d.index, ""};
    for (int64_t M : {1, 20}) {
      SCOPED_TRACE(d.label() + " M=" + std::to_string(M));
      const int64_t N = 37, K = 160;
      Nvfp4Weight w = nvfp4_weight(N, K, static_cast<uint32_t>(M + 7));
      Nvfp4Weight x = nvfp4_weight(M, K, static_cast<uint32_t>(M + 99));
      Tensor bias = test::f32_tensor({N}, test::random_floats(N, -1, 1, 4));
      PackedWeight p = pack_nvfp4_weight(u8_view(w.b, {N, K / 2}), u8_view(w.s, {N, K / 16}, DType::F8_E4M3), 0.5f,
                                         ScaleLayout::Linear, PackTarget{o, M});
      EXPECT_EQ(p.backend, d.backend);
      Tensor c1(DType::BF16, {M, N}), c2(DType::BF16, {M, N});
      RunInfo info;
      gemm_nvfp4(u8_view(x.b, {M, K / 2}), u8_view(x.s, {M, K / 16}, DType::F8_E4M3), p, 0.75f, bias.view(), c1.view(), o, &info);
      gemm_nvfp4(u8_view(x.b, {M, K / 2}), u8_view(x.s, {M, K / 16}, DType::F8_E4M3), u8_view(w.b, {N, K / 2}),
                 u8_view(w.s, {N, K / 16}, DType::F8_E4M3), 0.75f, bias.view(), c2.view(), o);
      EXPECT_TRUE(test::same_bytes(c1, c2));
      EXPECT_NE(info.reason.find("packed"), std::string::npos) << info.reason;
      EXPECT_EQ(info.variant, p.variant);

      auto fb = random_bytes(static_cast<size_t>(N * 300), 17), fa = random_bytes(static_cast<size_t>(M * 300), 18);
      for (auto* v : {&fa, &fb})
        for (auto& y : *v)
          if ((y & 0x7F) == 0x7F) y ^= 1;
      Tensor sb = test::f32_tensor({1, 3}, {0.5f, 0.25f, 2.0f});
      Tensor sa = test::f32_tensor({M, 3}, test::random_floats(static_cast<size_t>(M * 3), 0.01f, 1.0f, 3));
      PackedWeight pb = pack_fp8_weight(u8_view(fb, {N, 300}, DType::F8_E4M3), sb.view(), PackTarget{o, M});
      Tensor d1(DType::F32, {M, N}), d2(DType::F32, {M, N});
      gemm_fp8_block(u8_view(fa, {M, 300}, DType::F8_E4M3), sa.view(), pb, std::nullopt, d1.view(), o);
      gemm_fp8_block(u8_view(fa, {M, 300}, DType::F8_E4M3), sa.view(), u8_view(fb, {N, 300}, DType::F8_E4M3), sb.view(),
                     std::nullopt, d2.view(), o);
      EXPECT_TRUE(test::same_bytes(d1, d2));
      PackedWeight pt = pack_fp8_weight(u8_view(fb, {N, 300}, DType::F8_E4M3), test::f32_tensor({}, {0.125f}).view(), PackTarget{o, M});
      gemm_fp8(u8_view(fa, {M, 300}, DType::F8_E4M3), pt, 0.5f * pt.scale, std::nullopt, d1.view(), o);
      gemm_fp8(u8_view(fa, {M, 300}, DType::F8_E4M3), u8_view(fb, {N, 300}, DType::F8_E4M3), 0.5f * 0.125f, std::nullopt,
               d2.view(), o);
      EXPECT_TRUE(test::same_bytes(d1, d2));
    }
  }
}

// A weight packed for one device used on another runs there, bit-exact, and says so.
TEST(Prepack, WeightPackedForAnotherDeviceRunsAndSaysSo) {
  Nvfp4Weight w = nvfp4_weight(16, 64, 1), x = nvfp4_weight(3, 64, 2);
  const auto& devs = dispatch::devices();
  RunOptions last{devs.back().backend, devs.back().index, ""};
  PackedWeight p = pack_nvfp4_weight(u8_view(w.b, {16, 32}), u8_view(w.s, {16, 4}, DType::F8_E4M3), 1.0f,
                                     ScaleLayout::Linear, PackTarget{last, 3});
  Tensor c1(DType::F32, {3, 16}), c2(DType::F32, {3, 16});
  RunInfo info;
  gemm_nvfp4(u8_view(x.b, {3, 32}), u8_view(x.s, {3, 4}, DType::F8_E4M3), p, 1.0f, std::nullopt, c1.view(),
             RunOptions{"cpu", 0, ""}, &info);
  gemm_nvfp4(u8_view(x.b, {3, 32}), u8_view(x.s, {3, 4}, DType::F8_E4M3), u8_view(w.b, {16, 32}),
             u8_view(w.s, {16, 4}, DType::F8_E4M3), 1.0f, std::nullopt, c2.view(), RunOptions{"cpu", 0, ""});
  EXPECT_TRUE(test::same_bytes(c1, c2));
  if (p.backend != "cpu") {
    EXPECT_NE(info.reason.find("packed for " + p.backend), std::string::npos) << info.reason;
  }
}

// ---- the gemv_kblock_interleaved layout --------------------------------------------------------

TEST(PrepackInterleaved, BytesByHand) {
  // K = 48: three 16-blocks a row, one short group: lo0 lo1 lo2 hi0 hi1 hi2 (4-byte words).
  std::vector<uint8_t> b(2 * 24), s = scale_bytes(2 * 3, 1);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i);
  const auto& devs = dispatch::devices();
  for (const dispatch::DeviceRef& d : devs) {
    if (d.backend == "cpu") continue;
    PackedWeight p = pack_nvfp4_weight(u8_view(b, {2, 24}), u8_view(s, {2, 3}, DType::F8_E4M3), 1.0f, ScaleLayout::Linear,
                                       PackTarget{{d.backend, d.index, ""}, 1, "gemv_kblock_interleaved"});
    ASSERT_EQ(p.variant, "gemv_splitk_exact");
    std::vector<uint8_t> want;
    for (int row = 0; row < 2; ++row)
      for (int word : {0, 2, 4, 1, 3, 5})
        for (int i = 0; i < 4; ++i) want.push_back(static_cast<uint8_t>(row * 24 + word * 4 + i));
    EXPECT_EQ(p.data, want);
    return;
  }
  GTEST_SKIP() << "no device with gemv_splitk_exact";
}

TEST(PrepackInterleaved, RefusedWhereTheVariantCannotReadIt) {
  Nvfp4Weight w = nvfp4_weight(4, 32, 8);
  EXPECT_EQ(error_of([&] {
              pack_nvfp4_weight(u8_view(w.b, {4, 16}), u8_view(w.s, {4, 2}, DType::F8_E4M3), 1.0f, ScaleLayout::Linear,
                                PackTarget{{"cpu", 0, ""}, 1, "gemv_kblock_interleaved"});
            }),
            ErrorCode::InvalidArgument);
  EXPECT_EQ(error_of([&] {
              pack_nvfp4_weight(u8_view(w.b, {4, 16}), u8_view(w.s, {4, 2}, DType::F8_E4M3), 1.0f, ScaleLayout::Linear,
                                PackTarget{{"cpu", 0, ""}, 1, "no_such_layout"});
            }),
            ErrorCode::InvalidArgument);
}

// Decode (the gemv reads the packed bytes) and prefill (tiled runs: repacked on the fly), ragged
// groups (K = 208: 13 blocks, groups of 8 and 5), round trips, equal bytes to the checkpoint call.
TEST(PrepackInterleaved, GemmsEqualCheckpointOnEveryDevice) {
  int ran = 0;
  for (const dispatch::DeviceRef& d : dispatch::devices()) {
    if (d.backend == "cpu") continue;
    RunOptions o{d.backend, d.index, ""};
    const int64_t N = 41, K = 208;
    Nvfp4Weight w = nvfp4_weight(N, K, 23);
    PackedWeight p = pack_nvfp4_weight(u8_view(w.b, {N, K / 2}), u8_view(w.s, {N, K / 16}, DType::F8_E4M3), 1.0f,
                                       ScaleLayout::Linear, PackTarget{o, 1, "gemv_kblock_interleaved"});
    EXPECT_EQ(p.layout, "gemv_kblock_interleaved");
    EXPECT_NE(p.data, w.b);
    std::vector<uint8_t> b2(w.b.size()), s2(w.s.size());
    unpack_weight(p, u8_view(b2, {N, K / 2}), u8_view(s2, {N, K / 16}, DType::F8_E4M3));
    EXPECT_EQ(b2, w.b);
    EXPECT_EQ(s2, w.s);
    for (int64_t M : {1, 16, 20}) {
      SCOPED_TRACE(d.label() + " M=" + std::to_string(M));
      Nvfp4Weight x = nvfp4_weight(M, K, static_cast<uint32_t>(M));
      Tensor c1(DType::F16, {M, N}), c2(DType::F16, {M, N});
      RunInfo info;
      gemm_nvfp4(u8_view(x.b, {M, K / 2}), u8_view(x.s, {M, K / 16}, DType::F8_E4M3), p, 0.3f, std::nullopt, c1.view(), o, &info);
      gemm_nvfp4(u8_view(x.b, {M, K / 2}), u8_view(x.s, {M, K / 16}, DType::F8_E4M3), u8_view(w.b, {N, K / 2}),
                 u8_view(w.s, {N, K / 16}, DType::F8_E4M3), 0.3f, std::nullopt, c2.view(), o);
      EXPECT_TRUE(test::same_bytes(c1, c2));
      EXPECT_EQ(info.variant, M <= 16 ? "gemv_splitk_exact" : "tiled_exact");
      EXPECT_EQ(info.reason.find("repacked") != std::string::npos, M > 16) << info.reason;
      ++ran;
    }
  }
  if (ran == 0) GTEST_SKIP() << "no OpenCL or Vulkan device";
}

// A driver failure of the variant the weight was packed for: the call still succeeds, bit-exact,
// on the next variant with the weight repacked. Disables gemv_splitk_exact for this process.
TEST(PrepackInterleaved, FailureOfItsVariantFallsBackRepacked) {
  int ran = 0;
  for (const dispatch::DeviceRef& d : dispatch::devices()) {
    if (d.backend == "cpu") continue;
    RunOptions o{d.backend, d.index, ""};
    const int64_t N = 9, K = 64;
    Nvfp4Weight w = nvfp4_weight(N, K, 3), x = nvfp4_weight(1, K, 4);
    PackedWeight p = pack_nvfp4_weight(u8_view(w.b, {N, K / 2}), u8_view(w.s, {N, K / 16}, DType::F8_E4M3), 1.0f,
                                       ScaleLayout::Linear, PackTarget{o, 1, "gemv_kblock_interleaved"});
    Tensor c1(DType::F32, {1, N}), c2(DType::F32, {1, N});
    gemm_nvfp4(u8_view(x.b, {1, K / 2}), u8_view(x.s, {1, K / 16}, DType::F8_E4M3), u8_view(w.b, {N, K / 2}),
               u8_view(w.s, {N, K / 16}, DType::F8_E4M3), 1.0f, std::nullopt, c2.view(), o);
    Overrides ov;
    ov.fail.insert(d.backend + ":gemm_nvfp4:gemv_splitk_exact");
    set_overrides(ov);
    RunInfo info;
    gemm_nvfp4(u8_view(x.b, {1, K / 2}), u8_view(x.s, {1, K / 16}, DType::F8_E4M3), p, 1.0f, std::nullopt, c1.view(), o, &info);
    set_overrides(Overrides{});
    EXPECT_TRUE(test::same_bytes(c1, c2));
    EXPECT_NE(info.variant, "gemv_splitk_exact");
    EXPECT_NE(info.reason.find("repacked"), std::string::npos) << info.reason;
    ++ran;
  }
  if (ran == 0) GTEST_SKIP() << "no OpenCL or Vulkan device";
}

} // namespace
