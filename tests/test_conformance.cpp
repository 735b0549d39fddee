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
