// Conformance: every device variant the registry lists, on every device found here (PoCL and
// lavapipe in CI), forced through the public API and compared with the CPU reference by its
// declared class (exact: equal bytes; bounded: relative L2 within the stated bound). ggml's
// test-backend-ops in spirit: one case list per operation (tests/conformance/cases_*.cpp), run
// for each (backend, device, variant); test names carry all three. A variant that cannot run a
// case is reported as unsupported (skipped with the registry's reason), never silently dropped,
// and a coverage listing says which variant ran where.
//
// TESSERA_TEST_SIZE=large gives real shapes for a GPU; the default keeps PoCL and lavapipe quick.
#include "conformance/common.h"

using namespace tessera;
using namespace tessera::conformance;

namespace {

std::vector<Case> cases_for(std::string_view op) {
  for (auto* list : {quant_cases, gemm_cases, deltanet_cases, conv1d_cases, attention_cases, gemm_act_cases}) {
    std::vector<Case> cases = list(op);
    if (!cases.empty()) return cases;
  }
  return {};
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
