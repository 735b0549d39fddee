// kbench: axis parsing, cartesian products and skips, statistics and the stopping rule on
// synthetic timings, the JSON schema of docs/interfaces.md, compare labels, plots, and a smoke test
// that runs one tiny case of every operation on every built backend's devices.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/axes.h"
#include "bench/baselines/clblast.h"
#include "bench/cases.h"
#include "bench/compare.h"
#include "bench/plots.h"
#include "bench/report.h"
#include "bench/resident.h"
#include "bench/runner.h"
#include "bench/step.h"
#include "bench/timing.h"
#include "dispatch/registry.h"
#include "tessera/context.h"

namespace tb = tessera::bench;
namespace fs = std::filesystem;

namespace {

std::vector<const tb::BenchOp*> ops(std::initializer_list<const char*> names) {
  std::vector<const tb::BenchOp*> out;
  for (const char* n : names) {
    const tb::BenchOp* op = tb::find_bench_op(n);
    EXPECT_NE(op, nullptr) << n;
    if (op) out.push_back(op);
  }
  return out;
}

tb::AxisValues ints(std::initializer_list<int64_t> v) { return {v.begin(), v.end()}; }

// Shapes small enough that every backend runs every op in milliseconds.
const tb::Preset& tiny_preset() {
  static const tb::Preset p{
      "tiny",
      "tests",
      {
          {"convert", "", {{"N", ints({256})}}},
          {"quantize_nvfp4", "", {{"M", ints({2})}, {"K", ints({64})}}},
          {"dequantize_nvfp4", "", {{"M", ints({2})}, {"K", ints({64})}}},
          {"quantize_fp8", "", {{"M", ints({2})}, {"K", ints({256})}}},
          {"dequantize_fp8", "", {{"M", ints({2})}, {"K", ints({256})}}},
          {"gemm_nvfp4", "", {{"M", ints({2})}, {"N", ints({32})}, {"K", ints({64})}}},
          {"gemm_fp8", "", {{"M", ints({2})}, {"N", ints({32})}, {"K", ints({256})}}},
          {"deltanet",
           "",
           {{"B", ints({1})},
            {"T", ints({2})},
            {"H", ints({1})},
            {"HV", ints({2})},
            {"D", ints({16})}}},
          {"conv1d", "", {{"B", ints({1})}, {"T", ints({2})}, {"C", ints({32})}, {"W", ints({4})}}},
          {"attention",
           "",
           {{"B", ints({1})},
            {"T", ints({2})},
            {"S", ints({8})},
            {"Hq", ints({2})},
            {"Hkv", ints({1})},
            {"D", ints({16})}}},
      }};
  return p;
}

std::vector<const tb::BenchOp*> all_ops() {
  std::vector<const tb::BenchOp*> out;
  for (const tb::BenchOp& op : tb::bench_ops())
    out.push_back(&op);
  return out;
}

tb::TimingConfig quick() {
  tb::TimingConfig c;
  c.min_samples = 1;
  c.max_time_s = 0;
  return c;
}

fs::path tmp_dir(const std::string& name) {
  fs::path p = fs::path(TESSERA_TEST_TMP) / "kbench" / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

} // namespace

// ---- axes ---------------------------------------------------------------------------------

TEST(KbenchAxes, IntegerListsRangesAndPowersOfTwo) {
  using V = std::vector<int64_t>;
  EXPECT_EQ(tb::parse_int_values("M", "1,2,4"), (V{1, 2, 4}));
  EXPECT_EQ(tb::parse_int_values("M", "512:2048:512"), (V{512, 1024, 1536, 2048}));
  EXPECT_EQ(tb::parse_int_values("M", "3:5"), (V{3, 4, 5}));
  EXPECT_EQ(tb::parse_int_values("M", "2^0:2^3"), (V{1, 2, 4, 8}));
  EXPECT_EQ(tb::parse_int_values("M", "2^4"), (V{16}));
  EXPECT_EQ(tb::parse_int_values("M", "1,2^3,10:12"), (V{1, 8, 10, 11, 12}));
  EXPECT_EQ(tb::parse_int_values("M", "0"), (V{0})); // attention's S = 0 means S = T
}

TEST(KbenchAxes, IntegerErrors) {
  for (const char* bad : {"", "a", "-1", "+1", " 1", "1,", "1:2:0", "5:1", "2^41", "2^1:8",
                          "1:2:3:4", "0:5000", "1.5"})
    EXPECT_THROW(tb::parse_int_values("M", bad), tb::AxisError) << "'" << bad << "'";
}

TEST(KbenchAxes, TextValues) {
  const std::vector<std::string> choices = {"bf16", "f16", "e4m3"};
  EXPECT_EQ(tb::parse_text_values("to", "e4m3,bf16", choices),
            (std::vector<std::string>{"e4m3", "bf16"}));
  EXPECT_EQ(tb::parse_text_values("to", "all", choices), choices);
  EXPECT_EQ(tb::parse_text_values("to", "bf16,bf16", choices), (std::vector<std::string>{"bf16"}));
  EXPECT_THROW(tb::parse_text_values("to", "fp4", choices), tb::AxisError);
  EXPECT_THROW(tb::parse_text_values("to", "", choices), tb::AxisError);

  tb::Axis text{"to", std::string("bf16"), "", choices}, num{"N", int64_t{4}, "", {}};
  EXPECT_EQ(tb::parse_axis_values(text, "f16"), (tb::AxisValues{std::string("f16")}));
  EXPECT_EQ(tb::parse_axis_values(num, "2^1:2^2"), (tb::AxisValues{int64_t{2}, int64_t{4}}));
  EXPECT_THROW(tb::parse_axis_values(num, "bf16"), tb::AxisError);
}

TEST(KbenchAxes, AxisArguments) {
  EXPECT_EQ(tb::split_axis_arg("M=1,2"), (std::pair<std::string, std::string>{"M", "1,2"}));
  for (const char* bad : {"M", "=1", "M="})
    EXPECT_THROW(tb::split_axis_arg(bad), tb::AxisError) << bad;
}

TEST(KbenchAxes, CartesianProductLastAxisFastest) {
  auto p = tb::cartesian({ints({1, 2}), {std::string("a"), std::string("b"), std::string("c")}});
  ASSERT_EQ(p.size(), 6u);
  EXPECT_EQ(p[0], (std::vector<tb::AxisValue>{int64_t{1}, std::string("a")}));
  EXPECT_EQ(p[2], (std::vector<tb::AxisValue>{int64_t{1}, std::string("c")}));
  EXPECT_EQ(p[3], (std::vector<tb::AxisValue>{int64_t{2}, std::string("a")}));
  EXPECT_TRUE(tb::cartesian({ints({1}), {}}).empty());
  EXPECT_EQ(tb::cartesian({}).size(), 1u); // no axes: one point
}

TEST(KbenchAxes, ShapeAccessors) {
  tb::BenchShape s;
  s.set("M", int64_t{4});
  s.set("out", std::string("bf16"));
  s.set("M", int64_t{8});
  EXPECT_EQ(s["M"], 8);
  EXPECT_EQ(s.text("out"), "bf16");
  EXPECT_EQ(s.str(), "M=8 out=bf16");
  EXPECT_THROW(s["out"], std::out_of_range);
  EXPECT_THROW(s.text("M"), std::out_of_range);
  EXPECT_THROW(s["K"], std::out_of_range);
}

// ---- planning: products, skips, overrides --------------------------------------------------

TEST(KbenchPlan, InvalidCombinationsAreSkippedWithAReason) {
  tb::CasePlan p = tb::plan_cases(ops({"deltanet"}), tiny_preset(), {{"HV", "2,3,4"}, {"H", "2"}});
  ASSERT_EQ(p.cases.size(), 2u); // HV = 2, 4
  ASSERT_EQ(p.skipped.size(), 1u);
  EXPECT_NE(p.skipped[0].shape.find("HV=3"), std::string::npos);
  EXPECT_NE(p.skipped[0].why.find("multiple of H"), std::string::npos);
}

TEST(KbenchPlan, ProductOfIntegerAndTextAxes) {
  tb::CasePlan p =
      tb::plan_cases(ops({"convert"}), tiny_preset(), {{"N", "16,32"}, {"to", "bf16,e4m3,e2m1"}});
  ASSERT_EQ(p.cases.size(), 6u);
  EXPECT_EQ(p.cases[0].shape.str(), "N=16 to=bf16");
  EXPECT_EQ(p.cases[5].shape.str(), "N=32 to=e2m1");
}

TEST(KbenchPlan, ResolveAndDeduplicate) {
  // S = 0 resolves to S = T; T = 4 with S = 0 and T = 4 with S = 4 are one shape.
  tb::CasePlan p = tb::plan_cases(ops({"attention"}), tiny_preset(), {{"T", "4"}, {"S", "0,4,2"}});
  ASSERT_EQ(p.cases.size(), 1u);
  EXPECT_EQ(p.cases[0].shape["S"], 4);
  ASSERT_EQ(p.skipped.size(), 1u); // S = 2 < T
  EXPECT_NE(p.skipped[0].why.find("S must be at least T"), std::string::npos);
}

TEST(KbenchPlan, TextOverridesApplyWhereTheyAreChoices) {
  tb::CasePlan p = tb::plan_cases(ops({"quantize_nvfp4", "quantize_fp8"}), tiny_preset(),
                                  {{"recipe", "fp8-block128"}});
  ASSERT_EQ(p.cases.size(), 1u);
  EXPECT_EQ(p.cases[0].op->name, "quantize_fp8");
  EXPECT_EQ(p.cases[0].shape.text("recipe"), "fp8-block128");
  ASSERT_EQ(p.skipped.size(), 1u);
  EXPECT_EQ(p.skipped[0].op, "quantize_nvfp4");
  // "all" takes every choice of each op.
  p = tb::plan_cases(ops({"quantize_nvfp4", "quantize_fp8"}), tiny_preset(), {{"recipe", "all"}});
  EXPECT_EQ(p.cases.size(), 5u);
}

TEST(KbenchPlan, BadOverridesAreErrors) {
  EXPECT_THROW(tb::plan_cases(ops({"convert"}), tiny_preset(), {{"M", "1"}}),
               tb::AxisError); // no such axis
  EXPECT_THROW(tb::plan_cases(ops({"convert"}), tiny_preset(), {{"to", "bf16,fp4"}}),
               tb::AxisError); // typo
  EXPECT_THROW(tb::plan_cases(ops({"convert"}), tiny_preset(), {{"N", "x"}}), tb::AxisError);
}

TEST(KbenchPlan, EveryPresetPlansEveryOperation) {
  for (const tb::Preset& preset : tb::presets()) {
    tb::CasePlan p = tb::plan_cases(all_ops(), preset, {});
    EXPECT_TRUE(p.skipped.empty())
        << preset.name << ": " << (p.skipped.empty() ? "" : p.skipped[0].why);
    std::set<std::string> covered;
    for (const tb::Case& c : p.cases)
      covered.insert(c.op->name);
    EXPECT_EQ(covered.size(), tb::bench_ops().size()) << preset.name;
  }
  ASSERT_NE(tb::find_preset("qwen3.6-27b"), nullptr);
  ASSERT_NE(tb::find_preset("qwen3-next-80b-a3b"), nullptr);
}

TEST(KbenchPlan, InputsAreNeverAllZero) {
  tb::CasePlan p = tb::plan_cases(all_ops(), tiny_preset(), {{"to", "all"}, {"kv", "all"}});
  for (const tb::Case& c : p.cases) {
    tb::BenchInputs in = c.op->make(c.shape, 1);
    ASSERT_FALSE(in.tensors.empty()) << c.op->name;
    for (const auto& [name, t] : in.tensors) {
      const std::byte* b = t.data();
      EXPECT_TRUE(std::any_of(b, b + t.nbytes(), [](std::byte x) { return x != std::byte{0}; }))
          << c.op->name << " " << c.shape.str() << " input " << name << " is all zeros";
    }
    EXPECT_GT(c.op->min_bytes(c.shape), 0) << c.op->name;
    EXPECT_EQ(c.op->gemm && c.op->gemm(c.shape).has_value(), c.op->name.rfind("gemm", 0) == 0)
        << c.op->name;
  }
}

// ---- statistics and the stopping rule ------------------------------------------------------

TEST(KbenchTiming, MedianAndNoise) {
  EXPECT_EQ(tb::median({3, 1, 2}), 2);
  EXPECT_EQ(tb::median({4, 1, 3, 2}), 2.5);
  EXPECT_TRUE(std::isnan(tb::median({})));
  EXPECT_DOUBLE_EQ(tb::noise_pct({1, 2, 3}), 50.0); // sd 1 (n - 1), mean 2
  EXPECT_DOUBLE_EQ(tb::noise_pct({5, 5, 5}), 0.0);
  EXPECT_TRUE(std::isnan(tb::noise_pct({5})));
}

TEST(KbenchTiming, StoppingRule) {
  tb::TimingConfig c;
  c.min_samples = 3;
  c.max_noise_pct = 5;
  c.max_time_s = 2;
  c.max_samples = 10;
  EXPECT_FALSE(tb::should_stop({}, 100, c));              // at least one sample, always
  EXPECT_FALSE(tb::should_stop({1.0, 1.0}, 0.1, c));      // quiet but fewer than min_samples
  EXPECT_TRUE(tb::should_stop({1.0, 1.0, 1.01}, 0.1, c)); // quiet enough
  EXPECT_FALSE(tb::should_stop({1.0, 2.0, 1.0}, 0.1, c)); // noisy, time left
  EXPECT_TRUE(tb::should_stop({1.0, 2.0, 1.0}, 2.0, c));  // noisy, time up
  EXPECT_TRUE(tb::should_stop({1.0}, 2.5, c));            // time wins over min_samples
  EXPECT_TRUE(tb::should_stop(std::vector<double>(10, 1.0), 0, c)); // sample bound
  EXPECT_TRUE(tb::converged({1.0, 1.0, 1.01}, c));
  EXPECT_FALSE(tb::converged({1.0, 1.0}, c));
  EXPECT_FALSE(tb::converged({1.0, 2.0, 1.0}, c));
}

TEST(KbenchTiming, BatchingAndRotation) {
  tb::TimingConfig c;
  EXPECT_EQ(tb::runs_per_sample(0.01, c), 1);
  EXPECT_EQ(tb::runs_per_sample(1e-4, c), 10);
  EXPECT_EQ(tb::runs_per_sample(1e-9, c), 1000);
  const double mib = 1024.0 * 1024;
  EXPECT_EQ(tb::input_sets_for(64 * mib, 64 * mib), 1);
  EXPECT_EQ(tb::input_sets_for(100 * mib, 64 * mib), 1);
  EXPECT_EQ(tb::input_sets_for(16 * mib, 64 * mib), 4);
  EXPECT_EQ(tb::input_sets_for(1, 64 * mib), tb::kMaxInputSets);
  EXPECT_GE(tb::rotation_bytes(), 64 * mib);
}

TEST(KbenchTiming, DeviceClockWhenTheDeviceTimes) {
  tb::TimingConfig c;
  c.min_samples = 5;
  int calls = 0;
  std::set<int> sets;
  tb::TimingResult r = tb::measure(
      [&](int s) {
        ++calls;
        sets.insert(s);
        return 0.25;
      },
      3, c);
  EXPECT_EQ(r.clock, tb::Clock::Device);
  EXPECT_DOUBLE_EQ(r.median_ms, 0.25);
  EXPECT_DOUBLE_EQ(r.noise_pct, 0.0);
  EXPECT_TRUE(r.converged);
  EXPECT_EQ(r.samples, 5);
  EXPECT_EQ(sets.size(), 3u);                      // every input set was used
  EXPECT_GT(calls, r.samples * r.runs_per_sample); // the warm-up is not a sample
}

// Calls left queued report no device time (-1); the finish that ends each sample waits for
// them and gives their time, so the row is on the device clock. A finish that gives none
// leaves the wall clock.
TEST(KbenchTiming, QueuedRunsTakeTheirDeviceTimeFromTheFinish) {
  tb::TimingConfig c;
  c.min_samples = 4;
  int queued = 0, finishes = 0;
  tb::TimingResult r = tb::measure(
      [&](int) {
        ++queued;
        return -1.0;
      },
      2, c,
      [&] {
        ++finishes;
        const double ms = 0.25 * queued;
        queued = 0;
        return ms;
      });
  EXPECT_EQ(r.clock, tb::Clock::Device);
  EXPECT_DOUBLE_EQ(r.median_ms, 0.25);
  EXPECT_EQ(queued, 0);                    // every sample ended with a finish
  EXPECT_GT(finishes, r.samples);          // and the warm-up too
  EXPECT_GT(r.wall_median_ms, 0);

  r = tb::measure([](int) { return -1.0; }, 1, quick(), [] { return 0.0; });
  EXPECT_EQ(r.clock, tb::Clock::Wall);
}

TEST(KbenchTiming, NoisyCasesStopAtTheTimeLimitAndSaySo) {
  tb::TimingConfig c;
  c.max_time_s = 0.05;
  int i = 0;
  // Runs of 2 ms (one per sample) whose device times alternate 1 and 3 ms: 50% noise forever.
  tb::TimingResult r = tb::measure(
      [&](int) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        return ++i % 2 ? 1.0 : 3.0;
      },
      1, c);
  EXPECT_EQ(r.runs_per_sample, 1);
  EXPECT_FALSE(r.converged);
  EXPECT_GT(r.noise_pct, c.max_noise_pct);
  EXPECT_GE(r.samples, 2);
}

TEST(KbenchTiming, WallClockWhenTheDeviceDoesNotTime) {
  tb::TimingConfig c = quick();
  tb::TimingResult r = tb::measure([](int) { return -1.0; }, 1, c);
  EXPECT_EQ(r.clock, tb::Clock::Wall);
  EXPECT_EQ(r.samples, 1);
  EXPECT_TRUE(std::isnan(r.noise_pct));
  EXPECT_FALSE(r.converged);
}

// ---- figures, JSON, compare -----------------------------------------------------------------

TEST(KbenchReport, PeakPercent) {
  tb::DevicePeaks both{1000.0, 10000.0}, bw{1000.0, std::nullopt}, none{};
  // Intensity 1 flop/byte: the roof is 1000 GFLOP/s (memory-bound); 500 achieved is 50%.
  EXPECT_DOUBLE_EQ(*tb::peak_percent(500.0, 500.0, both), 50.0);
  // Intensity 100: the roof is the compute peak.
  EXPECT_DOUBLE_EQ(*tb::peak_percent(5000.0, 50.0, both), 50.0);
  EXPECT_DOUBLE_EQ(*tb::peak_percent(std::nullopt, 250.0, bw), 25.0); // data movement: bandwidth
  EXPECT_FALSE(tb::peak_percent(500.0, 500.0, none).has_value());
}

TEST(KbenchReport, JsonHasEverySchemaKey) {
  tb::CasePlan p = tb::plan_cases(ops({"convert", "gemm_fp8"}), tiny_preset(), {});
  tb::RunnerConfig cfg;
  cfg.backends = {"cpu"};
  cfg.baselines = {};
  cfg.timing = quick();
  tb::RunOutput out = tb::run_cases(p.cases, cfg, {});
  ASSERT_EQ(out.rows.size(), 2u);
  out.rows[1].baselines["clblast"] = {2.0, 2.0 / out.rows[1].median_ms, 1.0, "opencl:0 (x)"};

  const fs::path file = tmp_dir("json") / "run.json";
  tb::write_json(file.string(), tb::to_json(out.rows, out.peaks, {cfg.timing, "tiny"}));
  std::ifstream f(file);
  nlohmann::json doc = nlohmann::json::parse(f);
  ASSERT_TRUE(doc["device_peaks"].is_object());
  ASSERT_TRUE(doc["device_peaks"].contains("cpu:0 (CPU reference)"));
  ASSERT_EQ(doc["rows"].size(), 2u);
  for (const auto& row : doc["rows"]) {
    for (const char* key :
         {"op", "variant", "backend", "device", "shape", "median_ms", "noise_pct", "samples",
          "gflops", "gbps", "peak_pct", "baselines", "noisy", "clock", "wall_ms", "h2d_bytes", "d2h_bytes", "allocs"})
      EXPECT_TRUE(row.contains(key)) << key;
    EXPECT_TRUE(row["op"].is_string());
    EXPECT_EQ(row["backend"], "cpu");
    EXPECT_TRUE(row["shape"].is_object());
    EXPECT_TRUE(row["median_ms"].is_number());
    EXPECT_GT(row["median_ms"].get<double>(), 0);
    EXPECT_TRUE(row["noise_pct"].is_null()); // one sample: unknown, not 0
    EXPECT_TRUE(row["samples"].is_number_integer());
    EXPECT_TRUE(row["gbps"].is_number());
    EXPECT_TRUE(row["peak_pct"].is_null()); // the CPU reference has no known peak
    EXPECT_TRUE(row["baselines"].is_object());
    EXPECT_TRUE(row["noisy"].is_boolean());
  }
  const auto& conv = doc["rows"][0];
  EXPECT_EQ(conv["shape"]["N"], 256);
  EXPECT_EQ(conv["shape"]["to"], "bf16");
  EXPECT_TRUE(conv["gflops"].is_null()); // data movement counts no flops
  const auto& gemm = doc["rows"][1];
  EXPECT_TRUE(gemm["gflops"].is_number());
  for (const char* key : {"median_ms", "speedup", "device"})
    EXPECT_TRUE(gemm["baselines"]["clblast"].contains(key)) << key;
  EXPECT_NEAR(gemm["baselines"]["clblast"]["speedup"].get<double>() *
                  gemm["median_ms"].get<double>(),
              2.0, 1e-9);
}

TEST(KbenchCompare, Labels) {
  using tb::Change;
  EXPECT_EQ(tb::classify_change(10, 3, 10.4, 4, 5), Change::Same);   // 4% change, 5% combined noise
  EXPECT_EQ(tb::classify_change(10, 3, 8, 4, 5), Change::Faster);    // -20%
  EXPECT_EQ(tb::classify_change(10, 3, 12, 4, 5), Change::Slower);   // +20%
  EXPECT_EQ(tb::classify_change(10, 0, 10.4, 0, 5), Change::Slower); // quiet runs resolve 4%
  EXPECT_EQ(tb::classify_change(10, NAN, 10.4, NAN, 5), Change::Same); // unknown noise: the target
  EXPECT_EQ(tb::classify_change(10, 30, 14, 30, 5), Change::Same);     // noisy runs hide 40%
}

TEST(KbenchCompare, MatchesRowsByIdentity) {
  auto row = [](const char* op, int64_t m, double ms, double noise) {
    return nlohmann::ordered_json{{"op", op},
                                  {"variant", "reference"},
                                  {"backend", "cpu"},
                                  {"device", "cpu:0"},
                                  {"shape", {{"out", "bf16"}, {"M", m}}},
                                  {"median_ms", ms},
                                  {"noise_pct", noise}};
  };
  nlohmann::ordered_json a = {
      {"rows", {row("gemm_fp8", 1, 10, 1), row("gemm_fp8", 2, 10, 1), row("convert", 1, 1, 1)}}};
  nlohmann::ordered_json b = {
      {"rows",
       {row("gemm_fp8", 1, 5, 1), row("gemm_fp8", 2, 10.05, 1), row("attention", 1, 1, 1)}}};
  // The same shape with its axes in another order is the same row.
  b["rows"][1]["shape"] = nlohmann::ordered_json{{"M", 2}, {"out", "bf16"}};
  tb::Comparison c = tb::compare_runs(a, b);
  ASSERT_EQ(c.rows.size(), 2u);
  std::map<std::string, tb::Change> by_key;
  for (const auto& r : c.rows)
    by_key[r.key] = r.change;
  EXPECT_EQ(by_key.at("gemm_fp8 reference cpu cpu:0 out=bf16 M=1"), tb::Change::Faster);
  EXPECT_EQ(by_key.at("gemm_fp8 reference cpu cpu:0 out=bf16 M=2"), tb::Change::Same);
  EXPECT_EQ(c.only_a.size(), 1u);
  EXPECT_EQ(c.only_b.size(), 1u);
  EXPECT_THROW(tb::compare_runs(nlohmann::ordered_json::object(), b), std::runtime_error);
}

// ---- plots ----------------------------------------------------------------------------------

TEST(KbenchPlots, ScriptsDataAndImages) {
  tb::Row r1, r2;
  r1.op = r2.op = "gemm_fp8";
  r1.variant = r2.variant = "reference";
  r1.backend = r2.backend = "cpu";
  r1.device = r2.device = "cpu:0 (CPU reference)";
  r1.shape = {{"M", int64_t{1}}, {"N", int64_t{512}}, {"out", std::string("bf16")}};
  r2.shape = {{"M", int64_t{16}}, {"N", int64_t{512}}, {"out", std::string("bf16")}};
  r1.median_ms = 1;
  r2.median_ms = 8;
  r1.gflops = 10;
  r2.gflops = 20;
  r1.gbps = 5;
  r2.gbps = 1;
  r2.noisy = true;
  r1.baselines["clblast"] = {0.5, 2, 1, "opencl:0 (x)"};
  EXPECT_EQ(tb::plot_axis({&r1, &r2}), "M");

  const fs::path dir = tmp_dir("plots");
  std::map<std::string, tb::DevicePeaks> peaks = {{r1.device, {100.0, 1000.0}}};
  std::string gnuplot = tb::find_in_path("gnuplot");
  tb::PlotFiles pf = tb::write_plots(dir.string(), {r1, r2}, peaks, "svg", gnuplot);
  ASSERT_EQ(pf.scripts.size(), 2u); // the op, the device's roofline
  for (const char* f : {"gemm_fp8.gp", "gemm_fp8.dat", "roofline_cpu_0.gp", "roofline_cpu_0.dat"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  std::ifstream gp(dir / "roofline_cpu_0.gp");
  std::string text((std::istreambuf_iterator<char>(gp)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("roof(x)"), std::string::npos);
  if (gnuplot.empty()) GTEST_SKIP() << "gnuplot is not installed: scripts only";
  EXPECT_EQ(pf.images.size(), 2u) << (pf.notes.empty() ? "" : pf.notes[0]);
  EXPECT_TRUE(fs::exists(dir / "gemm_fp8.svg"));
}

// ---- smoke: every operation on every built backend ------------------------------------------

TEST(KbenchSmoke, OneTinyCasePerOperationPerBackend) {
  tb::CasePlan p = tb::plan_cases(all_ops(), tiny_preset(), {});
  ASSERT_EQ(p.cases.size(), tb::bench_ops().size());
  tb::RunnerConfig cfg;
  cfg.timing = quick();
  cfg.baselines = {"reference", "clblast"};
  std::vector<std::string> notes;
  tb::RunOutput out =
      tb::run_cases(p.cases, cfg, {[&](const std::string& n) { notes.push_back(n); }, {}});
  EXPECT_EQ(out.failures, 0) << fmt::format("{}", fmt::join(notes, "\n"));

  bool opencl_device = false;
  for (const auto& d : tessera::dispatch::devices())
    opencl_device = opencl_device || d.backend == "opencl";
  std::set<std::string> seen;
  for (const tb::Row& r : out.rows) {
    seen.insert(r.op + " " + r.backend + " " + r.variant + " " + r.device);
    EXPECT_GT(r.median_ms, 0) << r.op << " " << r.backend;
    EXPECT_GE(r.samples, 1);
    EXPECT_TRUE(r.gbps.has_value());
    EXPECT_EQ(r.clock, r.backend == "cpu" ? tb::Clock::Wall : tb::Clock::Device)
        << r.op << " " << r.backend;
    if (r.backend != "cpu") {
      EXPECT_TRUE(r.baselines.count("reference")) << r.op << " on " << r.device;
    }
    if (r.op.rfind("gemm", 0) == 0 && tb::Clblast::built() && opencl_device) {
      EXPECT_TRUE(r.baselines.count("clblast")) << r.op << " on " << r.device << "\n"
                                                << fmt::format("{}", fmt::join(notes, "\n"));
    }
  }
  // A row for every (op, device, variant) the registry offers on a built backend.
  for (const tb::Case& c : p.cases)
    for (const auto& d : tessera::dispatch::devices()) {
      if (!tessera::dispatch::backend_built(d.backend)) continue;
      for (const std::string& v : tb::variants_of(c.op->name, d.backend)) {
        try {
          tessera::dispatch::select(c.op->name, tessera::RunOptions{d.backend, d.index, v});
        } catch (const tessera::Error&) {
          continue; // the registry refuses it here: kbench says so and has no row
        }
        EXPECT_TRUE(seen.count(c.op->name + " " + d.backend + " " + v + " " + d.label()))
            << c.op->name << " " << v << " " << d.label();
      }
    }
}

// ---- resident rows and --transfers -----------------------------------------------------------

namespace {
// Bytes of the tensors a by-name call moves when they are host tensors: all but the numbers
// the host reads or writes itself (bench/resident.h).
int64_t moved_bytes(const tessera::TensorMap& tensors) {
  int64_t n = 0;
  for (const auto& [name, t] : tensors)
    if (!tb::host_number(t.dtype(), t.shape())) n += static_cast<int64_t>(t.nbytes());
  return n;
}
} // namespace

// A GEMM row on PoCL and on lavapipe times inputs and outputs in device buffers: after the
// warm-up its calls allocate nothing and move nothing, and the device clocks them (on OpenCL
// through Context::sync, the calls being left queued). --transfers times the same case on host
// tensors: each call then moves exactly its inputs up and its output down.
TEST(KbenchResident, RowsMoveNothingAndTransfersMoveTheTensors) {
  tb::CasePlan p = tb::plan_cases(ops({"gemm_nvfp4"}), tiny_preset(), {});
  ASSERT_EQ(p.cases.size(), 1u);
  const tb::Case& c = p.cases[0];
  const tb::BenchInputs in = c.op->make(c.shape, 1);
  const int64_t up = moved_bytes(in.tensors);
  const int64_t down = moved_bytes(tessera::run_named_op(c.op->name, in.tensors, in.params));
  EXPECT_EQ(down, 2 * 32 * 2); // c: M x N bf16

  int ran = 0;
  for (const char* backend : {"opencl", "vulkan"}) {
    if (tessera::Context::device_count(backend) == 0) continue;
    SCOPED_TRACE(backend);
    tb::RunnerConfig cfg;
    cfg.backends = {backend};
    cfg.baselines = {};
    cfg.timing = quick();
    cfg.timing.min_samples = 2;
    cfg.timing.max_time_s = 0.2;
    cfg.transfers = true;
    std::vector<std::string> notes;
    tb::RunOutput out =
        tb::run_cases(p.cases, cfg, {[&](const std::string& n) { notes.push_back(n); }, {}});
    EXPECT_EQ(out.failures, 0) << fmt::format("{}", fmt::join(notes, "\n"));
    ASSERT_FALSE(out.rows.empty()) << fmt::format("{}", fmt::join(notes, "\n"));
    for (const tb::Row& r : out.rows) {
      SCOPED_TRACE(r.variant);
      EXPECT_EQ(r.backend, backend);
      EXPECT_TRUE(r.resident);
      EXPECT_EQ(r.clock, tb::Clock::Device);
      EXPECT_GT(r.median_ms, 0);
      // Per call, the sample's wall time includes waiting for the calls: not shorter than a
      // good part of their device time, and not absurdly longer.
      EXPECT_GE(r.wall_ms, 0.5 * r.median_ms);
      EXPECT_LT(r.wall_ms, 1000 * r.median_ms + 50);
      EXPECT_EQ(r.traffic.bytes_to_device, 0);
      EXPECT_EQ(r.traffic.bytes_from_device, 0);
      EXPECT_EQ(r.traffic.allocations, 0);
      ASSERT_TRUE(r.transfers.has_value());
      EXPECT_EQ(r.transfers->traffic.bytes_to_device, up);
      EXPECT_EQ(r.transfers->traffic.bytes_from_device, down);
      EXPECT_GT(r.transfers->wall_ms, 0);
      ASSERT_TRUE(r.transfers->device_ms.has_value());
      EXPECT_GT(*r.transfers->device_ms, 0);
    }
    // The fields reach the JSON, and come back from it.
    const nlohmann::ordered_json doc = tb::to_json(out.rows, out.peaks, {cfg.timing, "tiny", true});
    const auto& row = doc["rows"][0];
    EXPECT_EQ(row["resident"], true);
    EXPECT_EQ(row["h2d_bytes"], 0);
    EXPECT_EQ(row["transfers_h2d_bytes"], up);
    EXPECT_EQ(row["transfers_d2h_bytes"], down);
    EXPECT_EQ(doc["settings"]["transfers"], true);
    std::map<std::string, tb::DevicePeaks> peaks;
    const std::vector<tb::Row> back = tb::rows_from_json(doc, peaks);
    ASSERT_TRUE(back[0].transfers.has_value());
    EXPECT_EQ(back[0].transfers->traffic.bytes_to_device, up);
    EXPECT_TRUE(back[0].resident);
    ++ran;
  }
  if (!ran) GTEST_SKIP() << "no opencl or vulkan device";
}

// Every operation's resident row on every device: no allocation per call after the warm-up, at
// most a few words up (Vulkan's launch parameters of the fp32 operations), and less each way
// than the same call on host tensors. What still comes back is what the host checks or returns:
// a scale_2, status words, non-finite flags, the block scales gemm_fp8 reads back to check.
TEST(KbenchResident, EveryOperationMovesLessThanItsRoundTrip) {
  tb::CasePlan p = tb::plan_cases(all_ops(), tiny_preset(), {});
  tb::RunnerConfig cfg;
  cfg.backends = {"opencl", "vulkan"};
  cfg.baselines = {};
  cfg.timing = quick();
  cfg.transfers = true;
  std::vector<std::string> notes;
  tb::RunOutput out =
      tb::run_cases(p.cases, cfg, {[&](const std::string& n) { notes.push_back(n); }, {}});
  EXPECT_EQ(out.failures, 0) << fmt::format("{}", fmt::join(notes, "\n"));
  if (out.rows.empty()) GTEST_SKIP() << "no opencl or vulkan device";
  for (const tb::Row& r : out.rows) {
    SCOPED_TRACE(r.op + " " + r.variant + " " + r.device);
    EXPECT_TRUE(r.resident);
    EXPECT_EQ(r.traffic.allocations, 0);
    EXPECT_LE(r.traffic.bytes_to_device, 16);
    ASSERT_TRUE(r.transfers.has_value());
    EXPECT_LT(r.traffic.bytes_to_device, r.transfers->traffic.bytes_to_device);
    EXPECT_LT(r.traffic.bytes_from_device, r.transfers->traffic.bytes_from_device);
  }
}

// ---- the binary -------------------------------------------------------------------------------

namespace {
int run_kbench(const std::string& args, const fs::path& log) {
  std::string cmd = fmt::format("'{}' {} > '{}' 2>&1", TESSERA_KBENCH, args, log.string());
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
} // namespace

TEST(KbenchBinary, SweepJsonCompareAndErrors) {
  const fs::path dir = tmp_dir("binary");
  const fs::path json = dir / "a.json", log = dir / "log.txt";
  int rc = run_kbench(
      fmt::format(
          "--op convert --axis N=2^8:2^9 --axis to=bf16 --max-time 0 --min-samples 1 --json '{}' "
          "--csv '{}' --md '{}' --plots '{}'",
          json.string(), (dir / "a.csv").string(), (dir / "a.md").string(),
          (dir / "plots").string()),
      log);
  ASSERT_EQ(rc, 0) << slurp(log);
  nlohmann::json doc = nlohmann::json::parse(slurp(json));
  EXPECT_GE(doc["rows"].size(), 2u);
  EXPECT_TRUE(fs::exists(dir / "a.csv"));
  EXPECT_TRUE(fs::exists(dir / "plots" / "convert.gp"));
  EXPECT_NE(slurp(log).find("JSON written to"), std::string::npos);

  // A saved run redraws: the rows come back from the JSON.
  ASSERT_EQ(
      run_kbench(fmt::format("plot '{}' '{}' png", json.string(), (dir / "replot").string()), log),
      0)
      << slurp(log);
  EXPECT_TRUE(fs::exists(dir / "replot" / "convert.dat"));
  EXPECT_EQ(slurp(dir / "replot" / "convert.dat"), slurp(dir / "plots" / "convert.dat"));

  ASSERT_EQ(run_kbench(fmt::format("compare '{}' '{}'", json.string(), json.string()), log), 0)
      << slurp(log);
  EXPECT_NE(slurp(log).find("0 faster, 0 slower"), std::string::npos) << slurp(log);

  // --transfers: the by-name round trip next to the resident figures, in the JSON and the CSV.
  const fs::path tj = dir / "t.json";
  ASSERT_EQ(run_kbench(fmt::format("--op convert --axis N=256 --axis to=bf16 --max-time 0 "
                                   "--min-samples 1 --baseline none --transfers --json '{}' --csv '{}'",
                                   tj.string(), (dir / "t.csv").string()),
                       log),
            0)
      << slurp(log);
  nlohmann::json t = nlohmann::json::parse(slurp(tj));
  EXPECT_EQ(t["settings"]["transfers"], true);
  EXPECT_NE(slurp(dir / "t.csv").find("transfers_wall_ms"), std::string::npos);
  for (const auto& row : t["rows"]) {
    if (row["backend"] == "cpu") {
      EXPECT_FALSE(row.contains("transfers_wall_ms")); // host memory is the reference's own
      continue;
    }
    EXPECT_EQ(row["h2d_bytes"], 0) << row;
    EXPECT_EQ(row["transfers_h2d_bytes"], 256 * 4) << row;
    EXPECT_EQ(row["transfers_d2h_bytes"], 256 * 2) << row;
  }

  for (const char* bad :
       {"--op nope", "--axis Q=1", "--axis N=x", "--preset nope", "--baseline nope", "--device x:1",
        "compare only-one.json", "plot missing.json /tmp"})
    EXPECT_EQ(run_kbench(bad, log), 2) << bad << "\n" << slurp(log);
}

// kbench step: the decode step runs with every tensor on the device; after the warm-up it
// allocates nothing, and what crosses per token is the token's input, the output, and a few
// words per call (the quantizers' non-finite flags and status words read back, the KV length).
TEST(KbenchStep, ADecodeStepRunsResidentAndMovesOnlyTheTokenAndAFewWords) {
  int ran = 0;
  for (const char* backend : {"opencl", "vulkan"}) {
    if (tessera::Context::device_count(backend) == 0) continue;
    SCOPED_TRACE(backend);
    tb::StepConfig cfg;
    cfg.backend = backend;
    cfg.scale = 64;
    cfg.context = 20;
    cfg.steps = 3;
    const tb::StepResult r = tb::run_step(cfg);
    EXPECT_EQ(r.calls_per_token, 11);
    EXPECT_EQ(r.input_bytes, 80 * 2);
    EXPECT_EQ(r.output_bytes, 80 * 2);
    EXPECT_GT(r.device_ms, 0.0);
    EXPECT_EQ(r.allocations, 0);
    EXPECT_GE(r.h2d_bytes, r.input_bytes);
    EXPECT_LE(r.h2d_bytes, r.input_bytes + 256 * r.calls_per_token);
    EXPECT_GE(r.d2h_bytes, r.output_bytes);
    EXPECT_LE(r.d2h_bytes, r.output_bytes + 16 * r.calls_per_token);
    const nlohmann::ordered_json j = tb::to_json(cfg, r);
    EXPECT_EQ(j["benchmark"], "step");
    EXPECT_EQ(j["h2d_bytes_per_token"], r.h2d_bytes);
    ++ran;
  }
  if (!ran) GTEST_SKIP() << "no opencl or vulkan device";
}
