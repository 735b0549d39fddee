// Conformance: every device variant the registry lists, on every device found here (PoCL and
// lavapipe in CI), forced through the public API and compared with the CPU reference by its
// declared class (exact: equal bytes). ggml's test-backend-ops in spirit: one case list per
// operation, run for each (backend, device, variant); test names carry all three. A variant that
// cannot run a case is reported as unsupported (skipped with the registry's reason), never
// silently dropped, and a coverage listing says which variant ran where.
//
// TESSERA_TEST_SIZE=large gives real shapes for a GPU; the default keeps PoCL and lavapipe quick.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>

#include "dispatch/registry.h"
#include "tessera/ops.h"
#include "test_util.h"

#include <fmt/format.h>

using namespace tessera;

namespace {

bool large() {
  const char* s = std::getenv("TESSERA_TEST_SIZE");
  return s && std::string(s) == "large";
}

// An output buffer with guard bytes on both sides: a kernel that writes out of bounds is caught.
struct Guarded {
  static constexpr size_t kGuard = 64;
  std::vector<std::byte> bytes;
  TensorView view;
  Guarded(DType t, Shape s) {
    size_t n = static_cast<size_t>(shape_numel(s)) * dtype_size(t);
    bytes.assign(n + 2 * kGuard, std::byte{0xCD});
    view = TensorView{t, std::move(s), bytes.data() + kGuard, n};
  }
  bool guards_intact() const {
    for (size_t i = 0; i < kGuard; ++i)
      if (bytes[i] != std::byte{0xCD} || bytes[bytes.size() - 1 - i] != std::byte{0xCD}) return false;
    return true;
  }
  std::vector<std::byte> payload() const { return {bytes.begin() + kGuard, bytes.end() - kGuard}; }
};

// Inputs with the features that break quantizers: outlier blocks, all-zero blocks, tiny blocks,
// values on rounding ties, negative zeros.
std::vector<float> adversarial(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (auto& v : x) v = normal(rng);
  for (int64_t b = 0; b * 16 < rows * cols; ++b) {
    size_t at = static_cast<size_t>(b * 16);
    switch (rng() % 8) {
    case 0: x[at + rng() % std::min<size_t>(16, x.size() - at)] = 300.0f * normal(rng); break; // outlier
    case 1: std::fill(x.begin() + at, x.begin() + std::min(x.size(), at + 16), 0.0f); break;
    case 2:
      for (size_t i = at; i < std::min(x.size(), at + 16); ++i) x[i] *= 1e-7f;
      break;
    case 3:
      for (size_t i = at; i < std::min(x.size(), at + 16); ++i) x[i] = 0.25f * static_cast<float>(static_cast<int>(rng() % 49) - 24);
      break;
    case 4: x[at] = -0.0f; break;
    default: break;
    }
  }
  return x;
}

struct Case {
  std::string name;
  std::function<void(const RunOptions&)> run_and_compare;
  std::map<std::string, int64_t, std::less<>> dims = {}; // what the registry selects on; {} for elementwise ops
};

template <class F>
void expect_same_bytes(const RunOptions& device, F&& run) {
  // `run(options, outputs)` fills guarded outputs; the reference run is the oracle.
  std::vector<Guarded> got, want;
  run(device, got);
  run(RunOptions{"cpu", 0, ""}, want);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(got[i].guards_intact()) << "output " << i << " written out of bounds";
    auto a = got[i].payload(), b = want[i].payload();
    size_t first = 0;
    while (first < a.size() && a[first] == b[first]) ++first;
    EXPECT_EQ(first, a.size()) << "output " << i << " differs from the reference first at byte " << first << " of " << a.size();
  }
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed, bool allow_e4m3_nan) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) {
    b = static_cast<uint8_t>(rng());
    if (!allow_e4m3_nan && (b & 0x7F) == 0x7F) b ^= 0x01;
  }
  return v;
}

// GEMM cases: decode and prefill sizes, ragged M, N, K, every output type, bias, alpha.
void add_gemm_cases(std::string_view op, std::vector<Case>& out) {
  struct Shape3 {
    int64_t M, N, K;
  };
  std::vector<Shape3> shapes = op == "gemm_nvfp4"
                                   ? std::vector<Shape3>{{1, 1, 16}, {1, 37, 64}, {4, 130, 272}, {16, 64, 128}, {33, 65, 144}, {70, 129, 256}}
                                   : std::vector<Shape3>{{1, 1, 1}, {1, 37, 129}, {5, 130, 300}, {16, 64, 128}, {33, 65, 257}};
  if (large()) shapes.push_back({op == "gemm_nvfp4" ? 512 : 512, 1024, 2048});
  std::vector<bool> forms = op == "gemm_nvfp4" ? std::vector<bool>{false} : std::vector<bool>{false, true};
  int variant_no = 0;
  for (Shape3 sh : shapes)
    for (bool block : forms)
      for (DType out_t : {DType::F32, DType::BF16, DType::F16}) {
        bool with_bias = (variant_no++ % 2) == 0;
        bool poison = out_t == DType::F16 && sh.M > 1; // a NaN scale byte / NaN operand in one case per shape
        std::string name = fmt::format("M{}_N{}_K{}{}_{}{}{}", sh.M, sh.N, sh.K, block ? "_block" : "", dtype_name(out_t),
                                       with_bias ? "_bias" : "", poison ? "_nan" : "");
        auto [M, N, K] = sh;
        out.push_back({name,
                       [=](const RunOptions& o) {
                         uint32_t seed = static_cast<uint32_t>(M * 1000003 + N * 1009 + K);
                         std::vector<float> bias = test::random_floats(static_cast<size_t>(N), -2, 2, seed);
                         std::optional<TensorView> bias_v;
                         Tensor bias_t = test::f32_tensor({N}, bias);
                         if (with_bias) bias_v = bias_t.view();
                         if (op == "gemm_nvfp4") {
                           Tensor a = test::make_tensor(DType::U8, {M, K / 2}, random_bytes(M * K / 2, seed + 1, true).data());
                           Tensor b = test::make_tensor(DType::U8, {N, K / 2}, random_bytes(N * K / 2, seed + 2, true).data());
                           auto sa_bytes = random_bytes(M * K / 16, seed + 3, false), sb_bytes = random_bytes(N * K / 16, seed + 4, false);
                           for (auto& x : sa_bytes) x = static_cast<uint8_t>(0x20 + x % 0x40) | (x & 0x80); // moderate magnitudes
                           for (auto& x : sb_bytes) x = static_cast<uint8_t>(0x20 + x % 0x40) | (x & 0x80);
                           if (poison) sa_bytes[sa_bytes.size() / 2] = 0x7F;
                           Tensor sa = test::make_tensor(DType::F8_E4M3, {M, K / 16}, sa_bytes.data());
                           Tensor sb = test::make_tensor(DType::F8_E4M3, {N, K / 16}, sb_bytes.data());
                           expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                             outs.emplace_back(out_t, Shape{M, N});
                             gemm_nvfp4(a.view(), sa.view(), b.view(), sb.view(), 0.0123f, bias_v, outs[0].view, ro);
                           });
                         } else {
                           auto a_bytes = random_bytes(M * K, seed + 1, false), b_bytes = random_bytes(N * K, seed + 2, false);
                           if (poison) a_bytes[a_bytes.size() / 2] = 0xFF;
                           Tensor a = test::make_tensor(DType::F8_E4M3, {M, K}, a_bytes.data());
                           Tensor b = test::make_tensor(DType::F8_E4M3, {N, K}, b_bytes.data());
                           int64_t kb = (K + 127) / 128;
                           Tensor sa = test::f32_tensor({M, kb}, test::random_floats(M * kb, 1e-3f, 2.0f, seed + 3));
                           Tensor sb = test::f32_tensor({(N + 127) / 128, kb}, test::random_floats(((N + 127) / 128) * kb, 1e-3f, 2.0f, seed + 4));
                           expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                             outs.emplace_back(out_t, Shape{M, N});
                             if (block)
                               gemm_fp8_block(a.view(), sa.view(), b.view(), sb.view(), bias_v, outs[0].view, ro);
                             else
                               gemm_fp8(a.view(), b.view(), 0.0037f, bias_v, outs[0].view, ro);
                           });
                         }
                       },
                       {{"M", M}, {"N", N}, {"K", K}, {"block_scaled", block ? 1 : 0}, {"elements", std::max({M * K, N * K, M * N})}}});
      }
}

// Adversarial GEMM cases: the largest exact sums (max-magnitude codes and 448 scales at K = 4096,
// all signs equal or mixed), NaN scales over all-zero blocks, the M = 16 decode boundary either
// side, K = 16, and fp8 sums S = I(x) * I(y) + I(z) over every code z so that f32(S) meets
// rounding ties and carries past 2^32 (the int64 -> fp32 conversion on the device).
void add_gemm_extra_cases(std::string_view op, std::vector<Case>& out) {
  struct Extra {
    std::string name;
    int64_t M, N, K;
    int kind; // 0 max magnitude, 1 mixed-sign max magnitude, 2 NaN scales on zero blocks, 3 ties
    bool block;
  };
  std::vector<Extra> extras;
  if (op == "gemm_nvfp4") {
    extras = {{"maxmag_M16_N40_K4096", 16, 40, 4096, 0, false}, {"maxmag_mixed_M17_N24_K4096", 17, 24, 4096, 1, false},
              {"maxmag_mixed_M1_N9_K4096", 1, 9, 4096, 1, false}, {"nanscale_zeros_M16_N33_K16", 16, 33, 16, 2, false},
              {"nanscale_zeros_M17_N5_K32", 17, 5, 32, 2, false}};
  } else {
    extras = {{"maxmag_M16_N40_K4096", 16, 40, 4096, 0, false}, {"maxmag_mixed_M17_N24_K4099", 17, 24, 4099, 1, false},
              {"maxmag_block_M16_N130_K4096", 16, 130, 4096, 0, true}, {"maxmag_mixed_block_M3_N9_K4000", 3, 9, 4000, 1, true},
              {"ties_M4_N4096_K2", 4, 4096, 2, 3, false}, {"ties_block_M4_N300_K2", 4, 300, 2, 3, true},
              {"K16_M16_N33", 16, 33, 16, 1, false}};
  }
  for (const Extra& e : extras)
    out.push_back({e.name,
                   [=](const RunOptions& o) {
                     auto [name, M, N, K, kind, block] = e;
                     std::mt19937 rng(static_cast<uint32_t>(M * 7919 + N * 104729 + K + kind));
                     auto sign = [&](uint8_t v) { return kind == 0 ? v : static_cast<uint8_t>(v | (rng() % 2 ? 0x80 : 0)); };
                     if (op == "gemm_nvfp4") {
                       std::vector<uint8_t> a(M * K / 2), b(N * K / 2), sa(M * K / 16), sb(N * K / 16);
                       // 0x77 / 0xFF: two codes of +-6 (J = 12); 448 = 0x7E scales.
                       for (auto* v : {&a, &b})
                         for (auto& x : *v) x = kind == 2 ? 0 : kind == 0 ? 0x77 : static_cast<uint8_t>((rng() % 2 ? 0x7 : 0xF) | (rng() % 2 ? 0x70 : 0xF0));
                       for (auto* v : {&sa, &sb})
                         for (auto& x : *v) x = sign(0x7E);
                       if (kind == 2) { // NaN scale bytes over all-zero blocks: row 1 and column N-1
                         sa[static_cast<size_t>(1 % M) * (K / 16)] = 0x7F;
                         sb[static_cast<size_t>(N - 1) * (K / 16) + K / 16 - 1] = 0xFF;
                       }
                       Tensor ta = test::make_tensor(DType::U8, {M, K / 2}, a.data()), tb = test::make_tensor(DType::U8, {N, K / 2}, b.data());
                       Tensor tsa = test::make_tensor(DType::F8_E4M3, {M, K / 16}, sa.data()), tsb = test::make_tensor(DType::F8_E4M3, {N, K / 16}, sb.data());
                       expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                         outs.emplace_back(DType::F32, Shape{M, N});
                         gemm_nvfp4(ta.view(), tsa.view(), tb.view(), tsb.view(), 1.0f, std::nullopt, outs[0].view, ro);
                       });
                     } else {
                       std::vector<uint8_t> a(M * K), b(N * K);
                       if (kind == 3) { // row m = [x_m, I = 1]; column n = [y_n, z_n]: S = I(x) I(y) + I(z)
                         const uint8_t xs[4] = {0x58, 0x7E, 0x08, 0xD8}; // 2^13, 229376, 8, -2^13
                         for (int64_t m = 0; m < M; ++m) a[m * 2] = xs[m % 4], a[m * 2 + 1] = 0x01;
                         for (int64_t n = 0; n < N; ++n) {
                           uint8_t y = static_cast<uint8_t>(rng()), z = static_cast<uint8_t>(n % 256);
                           if ((y & 0x7F) == 0x7F) y ^= 1;
                           if ((z & 0x7F) == 0x7F) z ^= 1;
                           b[n * 2] = y, b[n * 2 + 1] = z;
                         }
                       } else {
                         for (auto* v : {&a, &b})
                           for (auto& x : *v) x = sign(0x7E);
                       }
                       int64_t kb = (K + 127) / 128;
                       std::vector<float> sa(M * kb, 1.0f), sb(((N + 127) / 128) * kb, 1.0f);
                       if (kind != 3) sa = test::random_floats(sa.size(), 0.5f, 2.0f, 3), sb = test::random_floats(sb.size(), 0.5f, 2.0f, 4);
                       Tensor ta = test::make_tensor(DType::F8_E4M3, {M, K}, a.data()), tb = test::make_tensor(DType::F8_E4M3, {N, K}, b.data());
                       Tensor tsa = test::f32_tensor({M, kb}, sa), tsb = test::f32_tensor({(N + 127) / 128, kb}, sb);
                       expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                         outs.emplace_back(DType::F32, Shape{M, N});
                         if (block)
                           gemm_fp8_block(ta.view(), tsa.view(), tb.view(), tsb.view(), std::nullopt, outs[0].view, ro);
                         else
                           gemm_fp8(ta.view(), tb.view(), 1.0f, std::nullopt, outs[0].view, ro);
                       });
                     }
                   },
                   {{"M", e.M}, {"N", e.N}, {"K", e.K}, {"block_scaled", e.block ? 1 : 0}, {"elements", std::max({e.M * e.K, e.N * e.K, e.M * e.N})}}});
}

// Split-K and grid-stride coverage for the decode and tiled kernels: K past one pass of the
// split (NVFP4 kbs = 131 > 64 work-items; fp8 block form 71 blocks > 64, with a ragged tail),
// N past one pass of the work-groups (the kernels stride over column groups / tiles), random
// codes and moderate scales; f32 out with bias.
void add_gemm_split_cases(std::string_view op, std::vector<Case>& out) {
  struct Split {
    int64_t M, N, K;
    bool block;
  };
  std::vector<Split> splits = op == "gemm_nvfp4"
                                  ? std::vector<Split>{{3, 7, 2096, false}, {16, 300, 64, false}, {130, 4100, 32, false}}
                                  : std::vector<Split>{{2, 5, 8965, false}, {2, 5, 8965, true}, {16, 300, 40, true}, {130, 4100, 24, false}};
  for (Split sp : splits)
    out.push_back({fmt::format("split_M{}_N{}_K{}{}", sp.M, sp.N, sp.K, sp.block ? "_block" : ""),
                   [=](const RunOptions& o) {
                     auto [M, N, K, block] = sp;
                     uint32_t seed = static_cast<uint32_t>(M * 31 + N * 7 + K);
                     Tensor bias = test::f32_tensor({N}, test::random_floats(static_cast<size_t>(N), -2, 2, seed));
                     if (op == "gemm_nvfp4") {
                       auto sa_b = random_bytes(M * K / 16, seed + 3, false), sb_b = random_bytes(N * K / 16, seed + 4, false);
                       for (auto* v : {&sa_b, &sb_b})
                         for (auto& x : *v) x = static_cast<uint8_t>(0x20 + x % 0x40) | (x & 0x80);
                       Tensor a = test::make_tensor(DType::U8, {M, K / 2}, random_bytes(M * K / 2, seed + 1, true).data());
                       Tensor b = test::make_tensor(DType::U8, {N, K / 2}, random_bytes(N * K / 2, seed + 2, true).data());
                       Tensor sa = test::make_tensor(DType::F8_E4M3, {M, K / 16}, sa_b.data());
                       Tensor sb = test::make_tensor(DType::F8_E4M3, {N, K / 16}, sb_b.data());
                       expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                         outs.emplace_back(DType::F32, Shape{M, N});
                         gemm_nvfp4(a.view(), sa.view(), b.view(), sb.view(), 0.0123f, bias.view(), outs[0].view, ro);
                       });
                     } else {
                       Tensor a = test::make_tensor(DType::F8_E4M3, {M, K}, random_bytes(M * K, seed + 1, false).data());
                       Tensor b = test::make_tensor(DType::F8_E4M3, {N, K}, random_bytes(N * K, seed + 2, false).data());
                       int64_t kb = (K + 127) / 128;
                       Tensor sa = test::f32_tensor({M, kb}, test::random_floats(M * kb, 1e-3f, 2.0f, seed + 3));
                       Tensor sb = test::f32_tensor({(N + 127) / 128, kb}, test::random_floats(((N + 127) / 128) * kb, 1e-3f, 2.0f, seed + 4));
                       expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                         outs.emplace_back(DType::F32, Shape{M, N});
                         if (block)
                           gemm_fp8_block(a.view(), sa.view(), b.view(), sb.view(), bias.view(), outs[0].view, ro);
                         else
                           gemm_fp8(a.view(), b.view(), 0.0037f, bias.view(), outs[0].view, ro);
                       });
                     }
                   },
                   {{"M", sp.M}, {"N", sp.N}, {"K", sp.K}, {"block_scaled", sp.block ? 1 : 0}, {"elements", std::max({sp.M * sp.K, sp.N * sp.K, sp.M * sp.N})}}});
}

std::vector<Case> cases_for(std::string_view op) {
  std::vector<Case> out;
  std::vector<std::pair<int64_t, int64_t>> nvfp4_shapes = {{1, 16}, {3, 48}, {17, 272}};
  std::vector<std::pair<int64_t, int64_t>> fp8_shapes = {{1, 1}, {5, 129}, {129, 300}};
  if (large()) {
    nvfp4_shapes.push_back({512, 5120});
    fp8_shapes.push_back({512, 5120});
  }
  if (op == "convert") {
    for (auto [fmt_name, f, dt] : std::vector<std::tuple<std::string, Format, DType>>{
             {"e4m3", Format::E4M3, DType::F8_E4M3}, {"e5m2", Format::E5M2, DType::F8_E5M2},
             {"e2m1", Format::E2M1, DType::U8}, {"bf16", Format::BF16, DType::BF16}, {"f16", Format::F16, DType::F16}}) {
      out.push_back({fmt_name, [f, dt](const RunOptions& o) {
                       int64_t n = large() ? (1 << 22) : 20000;
                       std::mt19937 rng(7);
                       std::vector<uint32_t> bits(static_cast<size_t>(n));
                       for (auto& b : bits) b = rng();
                       Tensor x = test::make_tensor(DType::F32, {n}, bits.data());
                       expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                         outs.emplace_back(dt, Shape{n});
                         convert(x.view(), f, outs[0].view, ro);
                       });
                     }});
    }
  } else if (op == "quantize_nvfp4") {
    for (auto [rows, cols] : nvfp4_shapes)
      for (auto recipe : {Nvfp4Recipe::Nvfp4, Nvfp4Recipe::FourOverSix})
        for (std::optional<float> s2 : {std::optional<float>{}, std::optional<float>{1e-3f}}) {
          std::string name = fmt::format("{}x{}_{}{}", rows, cols, recipe == Nvfp4Recipe::Nvfp4 ? "nvfp4" : "4over6",
                                         s2 ? "_static" : "");
          out.push_back({name, [=](const RunOptions& o) {
                           Tensor x = test::f32_tensor({rows, cols}, adversarial(rows, cols, 11));
                           std::vector<float> scale_2; // the device's, then the reference's
                           expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                             outs.emplace_back(DType::U8, Shape{rows, cols / 2});
                             outs.emplace_back(DType::F8_E4M3, Shape{rows, cols / 16});
                             scale_2.push_back(quantize_nvfp4(x.view(), recipe, s2, outs[0].view, outs[1].view, ro));
                           });
                           ASSERT_EQ(scale_2.size(), 2u);
                           EXPECT_EQ(std::memcmp(&scale_2[0], &scale_2[1], 4), 0) << "scale_2 " << scale_2[0] << " vs " << scale_2[1];
                         }});
        }
  } else if (op == "dequantize_nvfp4") {
    for (auto [rows, cols] : nvfp4_shapes)
      out.push_back({fmt::format("{}x{}", rows, cols), [=](const RunOptions& o) {
                       std::mt19937 rng(5);
                       Tensor q(DType::U8, {rows, cols / 2}), s(DType::F8_E4M3, {rows, cols / 16});
                       for (int64_t i = 0; i < q.numel(); ++i) q.as<uint8_t>()[i] = static_cast<uint8_t>(rng());
                       for (int64_t i = 0; i < s.numel(); ++i) s.as<uint8_t>()[i] = static_cast<uint8_t>(rng());
                       s.as<uint8_t>()[0] = 0xFF; // NaN scales of both signs: the output NaN must be canonical
                       s.as<uint8_t>()[s.numel() - 1] = 0x7F;
                       expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                         outs.emplace_back(DType::F32, Shape{rows, cols});
                         dequantize_nvfp4(q.view(), s.view(), 0.0123f, outs[0].view, ro);
                       });
                     }});
  } else if (op == "gemm_nvfp4" || op == "gemm_fp8") {
    add_gemm_cases(op, out);
    add_gemm_extra_cases(op, out);
    add_gemm_split_cases(op, out);
  } else if (op == "quantize_fp8" || op == "dequantize_fp8") {
    for (auto [rows, cols] : fp8_shapes)
      for (auto recipe : {Fp8Recipe::Tensor, Fp8Recipe::Token128, Fp8Recipe::Block128}) {
        Shape sshape = recipe == Fp8Recipe::Tensor     ? Shape{}
                       : recipe == Fp8Recipe::Token128 ? Shape{rows, (cols + 127) / 128}
                                                       : Shape{(rows + 127) / 128, (cols + 127) / 128};
        std::string name = fmt::format("{}x{}_{}", rows, cols,
                                       recipe == Fp8Recipe::Tensor ? "tensor" : recipe == Fp8Recipe::Token128 ? "token128" : "block128");
        bool quant = op == "quantize_fp8";
        out.push_back({name, [=](const RunOptions& o) {
                         Tensor x = test::f32_tensor({rows, cols}, adversarial(rows, cols, 13));
                         Tensor q(DType::F8_E4M3, {rows, cols}), s(DType::F32, sshape);
                         quantize_fp8(x.view(), recipe, q.view(), s.view()); // reference inputs for dequantize
                         q.as<uint8_t>()[0] = 0xFF;                            // and a NaN code
                         expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                           if (quant) {
                             outs.emplace_back(DType::F8_E4M3, Shape{rows, cols});
                             outs.emplace_back(DType::F32, sshape);
                             quantize_fp8(x.view(), recipe, outs[0].view, outs[1].view, ro);
                           } else {
                             outs.emplace_back(DType::F32, Shape{rows, cols});
                             dequantize_fp8(q.view(), s.view(), recipe, outs[0].view, ro);
                           }
                         });
                       }});
      }
  }
  return out;
}

class ConformanceTest : public ::testing::Test {
public:
  ConformanceTest(RunOptions o, std::function<void(const RunOptions&)> fn, std::string unsupported)
      : o_(std::move(o)), fn_(std::move(fn)), unsupported_(std::move(unsupported)) {}
  void TestBody() override {
    if (!unsupported_.empty()) GTEST_SKIP() << "unsupported: " << unsupported_;
    fn_(o_);
  }

private:
  RunOptions o_;
  std::function<void(const RunOptions&)> fn_;
  std::string unsupported_;
};

std::string sanitize(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

} // namespace

// OpenCL GEMMs: selection by M (gemv_splitk_exact for M <= 16, tiled_exact above) through the
// public API, and determinism (two runs of every variant give identical bytes).
namespace {
bool have_opencl() {
  for (const auto& d : dispatch::devices())
    if (d.backend == "opencl") return true;
  return false;
}

struct GemmInputs {
  Tensor a, sa, b, sb;
  GemmInputs(int64_t M, int64_t N, int64_t K)
      : a(test::make_tensor(DType::U8, {M, K / 2}, random_bytes(M * K / 2, 1, true).data())),
        sa(test::make_tensor(DType::F8_E4M3, {M, K / 16}, random_bytes(M * K / 16, 2, false).data())),
        b(test::make_tensor(DType::U8, {N, K / 2}, random_bytes(N * K / 2, 3, true).data())),
        sb(test::make_tensor(DType::F8_E4M3, {N, K / 16}, random_bytes(N * K / 16, 4, false).data())) {}
};
} // namespace

TEST(OpenclGemm, SelectsGemvForDecodeAndTiledAbove) {
  if (!have_opencl()) GTEST_SKIP() << "no OpenCL device";
  for (int64_t M : {1, 16, 17, 64}) {
    GemmInputs in(M, 40, 64);
    Tensor c(DType::F32, {M, 40});
    RunInfo info;
    gemm_nvfp4(in.a.view(), in.sa.view(), in.b.view(), in.sb.view(), 1.0f, std::nullopt, c.view(), RunOptions{"opencl", 0, ""}, &info);
    EXPECT_EQ(info.variant, M <= 16 ? "gemv_splitk_exact" : "tiled_exact") << "M = " << M << ": " << info.reason;
    Tensor a8 = test::make_tensor(DType::F8_E4M3, {M, 64}, random_bytes(M * 64, 5, false).data());
    Tensor b8 = test::make_tensor(DType::F8_E4M3, {40, 64}, random_bytes(40 * 64, 6, false).data());
    gemm_fp8(a8.view(), b8.view(), 1.0f, std::nullopt, c.view(), RunOptions{"opencl", 0, ""}, &info);
    EXPECT_EQ(info.variant, M <= 16 ? "gemv_splitk_exact" : "tiled_exact") << "fp8, M = " << M << ": " << info.reason;
  }
}

TEST(OpenclGemm, RunsAreDeterministic) {
  if (!have_opencl()) GTEST_SKIP() << "no OpenCL device";
  for (const char* variant : {"gemv_splitk_exact", "tiled_exact"}) {
    int64_t M = std::string(variant) == "tiled_exact" ? 70 : 9, N = 300, K = 1040;
    GemmInputs in(M, N, K);
    Tensor a8 = test::make_tensor(DType::F8_E4M3, {M, K}, random_bytes(M * K, 5, false).data());
    Tensor b8 = test::make_tensor(DType::F8_E4M3, {N, K}, random_bytes(N * K, 6, false).data());
    Tensor sa8 = test::f32_tensor({M, 9}, test::random_floats(M * 9, 1e-3f, 2.0f, 7));
    Tensor sb8 = test::f32_tensor({3, 9}, test::random_floats(27, 1e-3f, 2.0f, 8));
    RunOptions o{"opencl", 0, variant};
    for (int op = 0; op < 3; ++op) {
      std::vector<Tensor> runs;
      for (int r = 0; r < 2; ++r) {
        runs.emplace_back(DType::F32, Shape{M, N});
        if (op == 0) gemm_nvfp4(in.a.view(), in.sa.view(), in.b.view(), in.sb.view(), 0.5f, std::nullopt, runs.back().view(), o);
        if (op == 1) gemm_fp8(a8.view(), b8.view(), 0.5f, std::nullopt, runs.back().view(), o);
        if (op == 2) gemm_fp8_block(a8.view(), sa8.view(), b8.view(), sb8.view(), std::nullopt, runs.back().view(), o);
      }
      EXPECT_EQ(std::memcmp(runs[0].as<float>(), runs[1].as<float>(), static_cast<size_t>(M * N) * 4), 0) << variant << " op " << op;
    }
  }
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // The coverage listing: which variant runs where, and what it cannot run.
  std::string coverage = "conformance coverage (device, op, variant: cases, or why unsupported)\n";
  int registered = 0;
  for (const auto& d : dispatch::devices()) {
    // The reference against itself checks the harness; TESSERA_CONFORMANCE_SELF=1 turns it on.
    if (d.backend == "cpu" && !std::getenv("TESSERA_CONFORMANCE_SELF")) continue;
    for (const auto& v : dispatch::variants()) {
      if (v.backend != d.backend) continue;
      std::vector<Case> cases = cases_for(v.op);
      coverage += fmt::format("  {} {} {} [{}]: ", d.label(), v.op, v.name, v.conformance.describe());
      int runnable = 0;
      for (Case& c : cases) {
        RunOptions o{d.backend, d.index, std::string(v.name)};
        // The registry's own verdict decides "unsupported", so the rule is written once.
        std::string why;
        dispatch::Problem p{v.op, c.dims.empty() ? decltype(c.dims){{"rows", 129}, {"cols", 300}, {"elements", 20000}} : c.dims};
        for (const auto& verdict : dispatch::explain(v.op, d, p, o))
          if (verdict.variant == &v && !verdict.accepted) why = verdict.reason;
        runnable += why.empty();
        std::string suite = sanitize(fmt::format("Conformance_{}{}_{}_{}", d.backend, d.index, v.op, v.name));
        ::testing::RegisterTest(suite.c_str(), sanitize(c.name).c_str(), nullptr, nullptr, __FILE__, __LINE__,
                                [o, fn = c.run_and_compare, why]() -> ::testing::Test* { return new ConformanceTest(o, fn, why); });
        ++registered;
        if (!why.empty() && &c == &cases.front()) coverage += "unsupported: " + why + "; ";
      }
      coverage += fmt::format("{} of {} cases run\n", runnable, cases.size());
    }
  }
  if (registered == 0) coverage += "  no OpenCL or Vulkan device found: nothing but the reference to check\n";
  std::fputs(coverage.c_str(), stderr);
  return RUN_ALL_TESTS();
}
