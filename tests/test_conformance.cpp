// Conformance: every device variant the registry lists, on every device found here (PoCL and
// lavapipe in CI), forced through the public API and compared with the CPU reference by its
// declared class (exact: equal bytes; bounded: relative L2 within the stated bound). ggml's
// test-backend-ops in spirit: one case list per operation (tests/conformance/cases_*.cpp), run
// for each (backend, device, variant); test names carry all three. A variant that cannot run a
// case is reported as unsupported (skipped with the registry's reason), never silently dropped,
// and a coverage listing says which variant ran where.
//
// TESSERA_TEST_SIZE=large gives real shapes for a GPU; the default keeps PoCL and lavapipe quick.
//
// Randomized mode (tests/conformance/random*.cpp): besides the fixed lists, one test per
// (backend, device, variant), Random_<backend><index>_<op>_<variant>.cases, draws seeded random
// legal cases and compares them the same way; a failure prints a reproducer. `make test` runs a
// quick slice from a fixed seed. A longer search:
//   test_conformance --cases N [--from I] [--seed S] [--op OP] [--case I] [--size quick|long] [--no-shrink] [--verbose]
// (--cases registers only the randomized tests, drawing from the long ranges of extents unless
// --size quick; --from I starts at case index I, so that a long search can run in parts (cases
// [I, N) of the same seed); --op keeps one operation; --case runs one case index of the seed; --verbose
// prints a line per case; TESSERA_CONFORMANCE_CASES / TESSERA_CONFORMANCE_SEED do the same as
// --cases / --seed, for ctest.) gtest's own flags (--gtest_filter=...) still apply.
#include <cerrno>

#include "conformance/common.h"
#include "conformance/random.h"
#include "tessera/safetensors.h"

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

class RandomTest : public ::testing::Test {
public:
  explicit RandomTest(std::function<void()> fn) : fn_(std::move(fn)) {}
  void TestBody() override { fn_(); }

private:
  std::function<void()> fn_;
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

// The randomized mode's reproducer: a case's inputs written to safetensors and run by name (what
// krun does) give the bytes the test's typed call gave, for cases of every operation, quick and
// long sizes. Also checks that every drawn case is legal for the reference.
TEST(RandomConformance, ReproducerFilesMeanWhatTheTestRan) {
  const RunOptions cpu{"cpu", 0, ""};
  for (const random::Generator& g : random::generators())
    for (int i = 0; i < 12; ++i) {
      random::Rng rng(random::hash_str(g.op) + static_cast<uint64_t>(i));
      const random::Spec spec = g.draw(rng, i % 3 == 2 ? random::Size::Long : random::Size::Quick);
      const random::Drawn d = g.build(spec);
      SCOPED_TRACE(fmt::format("{} case {}: {}", g.op, i, spec.describe()));
      std::vector<Guarded> typed;
      ASSERT_NO_THROW(g.run(d, cpu, typed));
      const TensorMap file = safetensors::parse(safetensors::serialize(d.inputs));
      TensorMap named;
      ASSERT_NO_THROW(named = run_named_op(g.op, file, d.params, cpu));
      for (size_t j = 0; j < typed.size(); ++j) {
        auto it = named.find(std::string(g.outputs.at(j)));
        ASSERT_NE(it, named.end()) << "krun gives no output " << g.outputs[j];
        auto want = typed[j].payload();
        ASSERT_EQ(it->second.nbytes(), want.size()) << g.outputs[j];
        EXPECT_TRUE(test::equal_bytes(it->second.data(), want.data(), want.size())) << g.outputs[j] << " differs by name";
      }
    }
}

namespace {

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "test_conformance: %s\n"
               "usage: test_conformance [--cases N] [--from I] [--seed S] [--op OP] [--case I] [--size quick|long] [--no-shrink] [--verbose] [gtest flags]\n", why);
  std::exit(2);
}

int64_t number(const char* flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text, &end, 0);
  if (!*text || *end || errno || v < 0) usage(fmt::format("{} wants a non-negative integer, got '{}'", flag, text).c_str());
  return v;
}

// Takes the randomized mode's flags out of argv (before gtest sees it); what is left is gtest's.
struct Cli {
  random::Config config;
  std::string op;        // "" : every operation
  bool random_only = false;
};

Cli parse(int& argc, char** argv) {
  Cli cli;
  cli.config.program = argv[0];
  if (const char* e = std::getenv("TESSERA_CONFORMANCE_CASES")) cli.config.cases = static_cast<int>(number("TESSERA_CONFORMANCE_CASES", e));
  if (const char* e = std::getenv("TESSERA_CONFORMANCE_SEED")) cli.config.seed = static_cast<uint64_t>(number("TESSERA_CONFORMANCE_SEED", e));
  int out = 1;
  bool size_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (a.rfind(std::string(flag) + "=", 0) == 0) return argv[i] + std::strlen(flag) + 1;
      if (a != flag) return nullptr;
      if (i + 1 >= argc) usage(fmt::format("{} needs a value", flag).c_str());
      return argv[++i];
    };
    if (const char* v = value("--cases")) {
      cli.config.cases = static_cast<int>(number("--cases", v));
      cli.random_only = true;
    } else if (const char* v = value("--seed")) {
      cli.config.seed = static_cast<uint64_t>(number("--seed", v));
    } else if (const char* v = value("--op")) {
      cli.op = v;
      if (!random::generator_for(cli.op)) usage(fmt::format("--op: no operation '{}'", cli.op).c_str());
    } else if (const char* v = value("--from")) {
      cli.config.first_case = static_cast<int>(number("--from", v));
    } else if (const char* v = value("--case")) {
      cli.config.only_case = static_cast<int>(number("--case", v));
      cli.random_only = true;
    } else if (a == "--no-shrink") {
      cli.config.shrink = false;
    } else if (const char* v = value("--size")) {
      if (std::string(v) != "quick" && std::string(v) != "long") usage("--size is quick or long");
      cli.config.size = std::string(v) == "quick" ? random::Size::Quick : random::Size::Long;
      size_given = true;
    } else if (a == "--verbose") {
      cli.config.verbose = true;
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  argv[argc] = nullptr;
  // --case I needs at least I + 1 cases.
  if (cli.config.only_case >= 0 && cli.config.cases <= cli.config.only_case) cli.config.cases = cli.config.only_case + 1;
  // A search draws from the long ranges (larger extents) unless --size quick says otherwise.
  if (cli.random_only && !size_given) cli.config.size = random::Size::Long;
  return cli;
}

} // namespace

int main(int argc, char** argv) {
  const Cli cli = parse(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  // A search (--cases, --case) runs the randomized tests only, unless a filter says otherwise.
  if (cli.random_only && ::testing::GTEST_FLAG(filter) == "*") ::testing::GTEST_FLAG(filter) = "Random_*";
  // The coverage listing: which variant runs where, and what it cannot run.
  std::string coverage = "conformance coverage (device, op, variant: cases, or why unsupported)\n";
  int registered = 0;
  for (const auto& d : dispatch::devices()) {
    // The reference against itself checks the harness; TESSERA_CONFORMANCE_SELF=1 turns it on.
    if (d.backend == "cpu" && !std::getenv("TESSERA_CONFORMANCE_SELF")) continue;
    for (const auto& v : dispatch::variants()) {
      if (v.backend != d.backend) continue;
      if (!cli.op.empty() && v.op != cli.op) continue;
      // The randomized test of this (device, variant): one gtest running its cases in turn.
      {
        std::string suite = sanitize(fmt::format("Random_{}{}_{}_{}", d.backend, d.index, v.op, v.name));
        ::testing::RegisterTest(suite.c_str(), "cases", nullptr, nullptr, __FILE__, __LINE__,
                                [&d, &v, config = cli.config]() -> ::testing::Test* {
                                  return new RandomTest([&d, &v, config] { random::run_variant(d, v, config); });
                                });
        ++registered;
      }
      if (cli.random_only) continue;
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
  if (!cli.random_only) std::fputs(coverage.c_str(), stderr);
  return RUN_ALL_TESTS();
}
