// GEMM reference (numerics.md section 4) against an independent double-precision computation,
// and the properties that make the GEMMs exact: any order, split or tiling of K gives the same
// bits.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>
#include <random>

#include "reference/formats.h"
#include "reference/gemm.h"
#include "tessera/named_ops.h"
#include "tessera/ops.h"
#include "test_util.h"

using namespace tessera;

namespace {

struct Nvfp4Operand {
  int64_t rows, K;
  std::vector<uint8_t> q, s;
};

// Random codes over the whole E2M1 range, and scales over a realistic E4M3 range (never NaN),
// with some all-zero blocks and some max-magnitude blocks.
Nvfp4Operand random_nvfp4(int64_t rows, int64_t K, uint32_t seed) {
  std::mt19937 rng(seed);
  Nvfp4Operand o{rows, K, std::vector<uint8_t>(rows * K / 2), std::vector<uint8_t>(rows * K / 16)};
  for (auto& b : o.q) b = static_cast<uint8_t>(rng());
  for (auto& s : o.s) s = static_cast<uint8_t>(0x20 + rng() % 0x50); // 2^-3 .. 2^7 ish, positive
  for (int64_t i = 0; i < rows * K / 16; ++i) {
    if (rng() % 11 == 0) std::fill_n(o.q.begin() + i * 8, 8, 0);    // zero block
    if (rng() % 13 == 0) std::fill_n(o.q.begin() + i * 8, 8, 0xF7); // +6 / -6
    if (rng() % 17 == 0) o.s[i] = 0x7E;                              // 448
    if (rng() % 19 == 0) o.s[i] |= 0x80;                             // negative scale
  }
  return o;
}

// The oracle: the sum of the decoded products in double. Every product is a dyadic rational
// small enough that the double sum is exact at these sizes, so the result must match bit for bit.
double nvfp4_oracle_sum(const Nvfp4Operand& a, int64_t m, const Nvfp4Operand& b, int64_t n) {
  double s = 0;
  for (int64_t k = 0; k < a.K; ++k) {
    double va = ref::e2m1_to_f32(ref::e2m1_unpack(a.q[m * a.K / 2 + k / 2], k)) * double(ref::e4m3_to_f32(a.s[m * a.K / 16 + k / 16]));
    double vb = ref::e2m1_to_f32(ref::e2m1_unpack(b.q[n * b.K / 2 + k / 2], k)) * double(ref::e4m3_to_f32(b.s[n * b.K / 16 + k / 16]));
    s += va * vb;
  }
  return s;
}

uint32_t bits(float x) { return std::bit_cast<uint32_t>(x); }

std::vector<float> run_nvfp4(const Nvfp4Operand& a, const Nvfp4Operand& b, float alpha, const float* bias = nullptr) {
  std::vector<float> c(a.rows * b.rows);
  ref::gemm_nvfp4(a.q.data(), a.s.data(), b.q.data(), b.s.data(), a.rows, b.rows, a.K, alpha, bias, ref::OutType::F32, c.data());
  return c;
}

} // namespace

TEST(GemmNvfp4, MatchesDoubleOracleOnRaggedShapes) {
  for (auto [M, N, K] : {std::array<int64_t, 3>{1, 1, 16}, {1, 7, 32}, {3, 5, 48}, {17, 9, 144}, {33, 2, 256}}) {
    auto a = random_nvfp4(M, K, 1 + M), b = random_nvfp4(N, K, 100 + N);
    float alpha = 0.0371f;
    auto c = run_nvfp4(a, b, alpha);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        float expect = static_cast<float>(nvfp4_oracle_sum(a, m, b, n)) * alpha;
        ASSERT_EQ(bits(c[m * N + n]), bits(expect)) << "M=" << M << " N=" << N << " K=" << K << " at " << m << "," << n;
      }
  }
}

TEST(GemmNvfp4, PermutingSplittingAndTilingKGivesIdenticalBits) {
  int64_t M = 6, N = 5, K = 256, kbs = K / 16;
  auto a = random_nvfp4(M, K, 7), b = random_nvfp4(N, K, 8);
  auto c = run_nvfp4(a, b, 1.0f);

  // Permute the K blocks of both operands the same way.
  std::vector<int64_t> perm(kbs);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(3));
  auto permute = [&](const Nvfp4Operand& o) {
    Nvfp4Operand p = o;
    for (int64_t r = 0; r < o.rows; ++r)
      for (int64_t kb = 0; kb < kbs; ++kb) {
        std::copy_n(o.q.begin() + r * K / 2 + perm[kb] * 8, 8, p.q.begin() + r * K / 2 + kb * 8);
        p.s[r * kbs + kb] = o.s[r * kbs + perm[kb]];
      }
    return p;
  };
  EXPECT_EQ(run_nvfp4(permute(a), permute(b), 1.0f), c);

  // Split K at every block boundary: the two exact partial sums add to the same integer.
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      bool nan = false;
      int64_t whole = ref::nvfp4_dot_exact(&a.q[m * K / 2], &a.s[m * kbs], &b.q[n * K / 2], &b.s[n * kbs], 0, kbs, &nan);
      for (int64_t split = 0; split <= kbs; ++split) {
        int64_t lo = ref::nvfp4_dot_exact(&a.q[m * K / 2], &a.s[m * kbs], &b.q[n * K / 2], &b.s[n * kbs], 0, split, &nan);
        int64_t hi = ref::nvfp4_dot_exact(&a.q[m * K / 2], &a.s[m * kbs], &b.q[n * K / 2], &b.s[n * kbs], split, kbs, &nan);
        ASSERT_EQ(lo + hi, whole);
      }
    }

  // Tile the output: each row of A against each row of B on its own gives the same bits.
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      Nvfp4Operand am{1, K, {a.q.begin() + m * K / 2, a.q.begin() + (m + 1) * K / 2}, {a.s.begin() + m * kbs, a.s.begin() + (m + 1) * kbs}};
      Nvfp4Operand bn{1, K, {b.q.begin() + n * K / 2, b.q.begin() + (n + 1) * K / 2}, {b.s.begin() + n * kbs, b.s.begin() + (n + 1) * kbs}};
      ASSERT_EQ(bits(run_nvfp4(am, bn, 1.0f)[0]), bits(c[m * N + n]));
    }
}

TEST(GemmNvfp4, MaxMagnitudeAtLargestKIsExact) {
  // Every code +6 (J = 12), every scale 448 (I = 229376 = 7 * 2^15), K = 65536: S = 4096 blocks
  // * 16 * 144 * 229376^2 = 441 * 2^50, exactly representable, c = 441 * 2^30.
  int64_t K = 65536;
  Nvfp4Operand a{1, K, std::vector<uint8_t>(K / 2, 0x77), std::vector<uint8_t>(K / 16, 0x7E)};
  EXPECT_EQ(run_nvfp4(a, a, 1.0f)[0], 441.0f * 0x1p30f);
  // Negative scale on one side flips the sign exactly.
  Nvfp4Operand b = a;
  std::fill(b.s.begin(), b.s.end(), 0xFE);
  EXPECT_EQ(run_nvfp4(a, b, 1.0f)[0], -441.0f * 0x1p30f);
}

TEST(GemmNvfp4, NanScaleMakesExactlyTheOutputsItTouchesNaN) {
  int64_t M = 4, N = 3, K = 64;
  auto a = random_nvfp4(M, K, 11), b = random_nvfp4(N, K, 12);
  a.s[2 * (K / 16) + 1] = 0x7F; // row 2 of A
  b.s[0 * (K / 16) + 3] = 0xFF; // row 0 of B
  std::fill_n(a.q.begin() + 2 * K / 2 + 8, 8, 0); // even with zero codes in that block
  auto c = run_nvfp4(a, b, 1.0f);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      bool touched = m == 2 || n == 0;
      EXPECT_EQ(std::isnan(c[m * N + n]), touched) << m << "," << n;
      if (touched) {
        EXPECT_EQ(bits(c[m * N + n]), 0x7FC00000u); // canonical NaN
      }
    }
}

TEST(GemmNvfp4, BiasAndOutputTypesRoundOnceAtTheEnd) {
  int64_t M = 3, N = 4, K = 32;
  auto a = random_nvfp4(M, K, 21), b = random_nvfp4(N, K, 22);
  std::vector<float> bias = {0.5f, -1.25f, 1e-3f, 3.0f};
  auto plain = run_nvfp4(a, b, 0.3f);
  auto with_bias = run_nvfp4(a, b, 0.3f, bias.data());
  std::vector<uint16_t> bf(M * N), hf(M * N);
  ref::gemm_nvfp4(a.q.data(), a.s.data(), b.q.data(), b.s.data(), M, N, K, 0.3f, bias.data(), ref::OutType::BF16, bf.data());
  ref::gemm_nvfp4(a.q.data(), a.s.data(), b.q.data(), b.s.data(), M, N, K, 0.3f, bias.data(), ref::OutType::F16, hf.data());
  for (int64_t i = 0; i < M * N; ++i) {
    float expect = plain[i] + bias[i % N];
    EXPECT_EQ(bits(with_bias[i]), bits(expect));
    EXPECT_EQ(bf[i], ref::f32_to_bf16(expect));
    EXPECT_EQ(hf[i], ref::f32_to_f16(expect));
  }
}

TEST(GemmNvfp4, NamedOpDerivesAlphaFromScale2) {
  int64_t M = 2, N = 3, K = 32;
  auto a = random_nvfp4(M, K, 31), b = random_nvfp4(N, K, 32);
  TensorMap in;
  in.emplace("a", test::make_tensor(DType::U8, {M, K / 2}, a.q.data()));
  in.emplace("a_scale", test::make_tensor(DType::F8_E4M3, {M, K / 16}, a.s.data()));
  in.emplace("b", test::make_tensor(DType::U8, {N, K / 2}, b.q.data()));
  in.emplace("b_scale", test::make_tensor(DType::F8_E4M3, {N, K / 16}, b.s.data()));
  float s2a = 0.013f, s2b = 0.0071f;
  in.emplace("a_scale_2", test::make_tensor(DType::F32, {}, &s2a));
  in.emplace("b_scale_2", test::make_tensor(DType::F32, {1}, &s2b));
  auto out = run_named_op("gemm_nvfp4", in, {});
  auto expect = run_nvfp4(a, b, s2a * s2b);
  ASSERT_EQ(out.at("c").shape(), (Shape{M, N}));
  EXPECT_TRUE(std::equal(expect.begin(), expect.end(), out.at("c").as<float>()));
  auto out2 = run_named_op("gemm_nvfp4", in, {{"alpha", "2.5"}, {"out", "bf16"}});
  auto expect2 = run_nvfp4(a, b, 2.5f);
  for (int64_t i = 0; i < M * N; ++i) EXPECT_EQ(out2.at("c").as<uint16_t>()[i], ref::f32_to_bf16(expect2[i]));
}

namespace {
std::vector<uint8_t> random_e4m3(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& c : v) {
    c = static_cast<uint8_t>(rng());
    if (ref::e4m3_is_nan(c)) c = 0x7E; // NaN codes are tested on purpose, elsewhere
  }
  return v;
}

double fp8_oracle_sum(const uint8_t* a, const uint8_t* b, int64_t k0, int64_t k1) {
  double s = 0;
  for (int64_t k = k0; k < k1; ++k) s += double(ref::e4m3_to_f32(a[k])) * ref::e4m3_to_f32(b[k]);
  return s;
}
} // namespace

TEST(GemmFp8, PerTensorMatchesDoubleOracle) {
  for (auto [M, N, K] : {std::array<int64_t, 3>{1, 1, 1}, {1, 9, 33}, {5, 3, 129}, {12, 7, 300}}) {
    auto a = random_e4m3(M * K, 41 + M), b = random_e4m3(N * K, 42 + N);
    std::vector<float> c(M * N);
    float alpha = 0.75f * 0.0123f;
    ref::gemm_fp8(a.data(), b.data(), M, N, K, alpha, nullptr, ref::OutType::F32, c.data());
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n)
        ASSERT_EQ(bits(c[m * N + n]), bits(float(fp8_oracle_sum(&a[m * K], &b[n * K], 0, K)) * alpha)) << M << " " << N << " " << K;
  }
}

TEST(GemmFp8, NanOperandPoisonsItsRowAndColumn) {
  int64_t M = 3, N = 3, K = 20;
  auto a = random_e4m3(M * K, 51), b = random_e4m3(N * K, 52);
  a[1 * K + 4] = 0xFF;
  b[2 * K + 19] = 0x7F;
  std::vector<float> c(M * N);
  ref::gemm_fp8(a.data(), b.data(), M, N, K, 1.0f, nullptr, ref::OutType::F32, c.data());
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) EXPECT_EQ(std::isnan(c[m * N + n]), m == 1 || n == 2);
}

TEST(GemmFp8, BlockScaledFollowsTheBlockOrderRecipe) {
  for (auto [M, N, K] : {std::array<int64_t, 3>{1, 1, 5}, {3, 130, 129}, {129, 2, 384}, {4, 4, 200}}) {
    int64_t kbs = (K + 127) / 128;
    auto a = random_e4m3(M * K, 61), b = random_e4m3(N * K, 62);
    auto sa = test::random_floats(M * kbs, 1e-3f, 2.0f, 63);
    auto sb = test::random_floats(((N + 127) / 128) * kbs, 1e-3f, 2.0f, 64);
    std::vector<float> c(M * N);
    ref::gemm_fp8_block(a.data(), sa.data(), b.data(), sb.data(), M, N, K, nullptr, ref::OutType::F32, c.data());
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        float acc = 0;
        for (int64_t kb = 0; kb < kbs; ++kb) {
          float p = float(fp8_oracle_sum(&a[m * K], &b[n * K], kb * 128, std::min(K, kb * 128 + 128)));
          float t = p * sa[m * kbs + kb];
          t = t * sb[(n / 128) * kbs + kb];
          acc = acc + t;
        }
        ASSERT_EQ(bits(c[m * N + n]), bits(acc)) << M << " " << N << " " << K << " at " << m << "," << n;
      }
  }
}

TEST(GemmFp8, NamedOpPicksPerTensorOrBlockFromScaleRanks) {
  int64_t M = 2, N = 3, K = 130;
  auto a = random_e4m3(M * K, 71), b = random_e4m3(N * K, 72);
  TensorMap in;
  in.emplace("a", test::make_tensor(DType::F8_E4M3, {M, K}, a.data()));
  in.emplace("b", test::make_tensor(DType::F8_E4M3, {N, K}, b.data()));
  float sa = 0.5f, sb = 0.25f;
  in.emplace("a_scale", test::make_tensor(DType::F32, {}, &sa));
  in.emplace("b_scale", test::make_tensor(DType::F32, {}, &sb));
  auto per_tensor = run_named_op("gemm_fp8", in, {});
  std::vector<float> expect(M * N);
  ref::gemm_fp8(a.data(), b.data(), M, N, K, sa * sb, nullptr, ref::OutType::F32, expect.data());
  EXPECT_TRUE(std::equal(expect.begin(), expect.end(), per_tensor.at("c").as<float>()));

  std::vector<float> bsa(M * 2, 0.5f), bsb(2, 0.25f);
  in.erase("a_scale");
  in.erase("b_scale");
  in.emplace("a_scale", test::make_tensor(DType::F32, {M, 2}, bsa.data()));
  in.emplace("b_scale", test::make_tensor(DType::F32, {1, 2}, bsb.data()));
  auto block = run_named_op("gemm_fp8", in, {});
  ref::gemm_fp8_block(a.data(), bsa.data(), b.data(), bsb.data(), M, N, K, nullptr, ref::OutType::F32, expect.data());
  EXPECT_TRUE(std::equal(expect.begin(), expect.end(), block.at("c").as<float>()));
}
