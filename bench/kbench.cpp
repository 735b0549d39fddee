// kbench: time Tessera's operations over shape sweeps (interfaces.md, docs/kbench.md).
//   kbench [--op OP ...] [--backend B ...] [--device N] [--variant NAME] [--preset NAME]
//          [--axis NAME=V1,V2,...] [--json FILE] [--csv FILE] [--md FILE] [--min-samples N]
//          [--max-noise PCT] [--max-time SEC] [--baseline NAME] [--list]
// Every case runs through run_named_op, the interface krun and the tests use, so what is timed
// is what an engine calling by name gets. Exit status: 0 when every case ran, 1 when a case
// failed or none could run, 2 for a bad command line.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bench/cases.h"
#include "bench/report.h"
#include "bench/timing.h"
#include "dispatch/registry.h"
#include "tessera/error.h"

namespace tb = tessera::bench;

namespace {

// Baselines (CLBlast, cuBLAS) arrive with the GPU backends; the option exists now so that
// scripts written against interfaces.md get a clear answer instead of an unknown option.
const std::vector<std::string> kBaselines = {};
const std::vector<std::string> kBackends = {"cpu", "opencl", "vulkan"};

struct UsageError {
  std::string message;
};

// ---- progress and notes on stderr ---------------------------------------------------------

const bool kStderrTty = isatty(STDERR_FILENO) != 0;

void clear_progress() {
  if (kStderrTty) std::fputs("\r\033[K", stderr);
}

void note(const std::string& msg) {
  clear_progress();
  std::fputs(("kbench: " + msg + "\n").c_str(), stderr);
}

void progress(const std::string& msg) {
  if (!kStderrTty) return; // a log file gets the notes and the table, not a stream of \r
  std::fputs(("\r\033[K" + msg).c_str(), stderr);
  std::fflush(stderr);
}

// ---- axis values: "1,2,4", "a:b:step", "2^a:2^b", mixed in one comma list ----------------

int64_t parse_int(const std::string& s, const std::string& what) {
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE || v < 0)
    throw UsageError{fmt::format("--axis {}: '{}' is not a non-negative integer", what, s)};
  return v;
}

std::vector<int64_t> parse_axis_values(const std::string& axis, const std::string& list) {
  constexpr size_t kMaxValues = 4096; // a typo like 1:1000000 should fail, not run for a week
  std::vector<int64_t> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    std::string item = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? list.size() + 1 : comma + 1;
    std::vector<std::string> parts;
    for (size_t p = 0;;) {
      size_t c = item.find(':', p);
      parts.push_back(item.substr(p, c == std::string::npos ? std::string::npos : c - p));
      if (c == std::string::npos) break;
      p = c + 1;
    }
    auto pow2 = [&](const std::string& s) -> std::optional<int64_t> {
      if (s.rfind("2^", 0) != 0) return std::nullopt;
      int64_t e = parse_int(s.substr(2), axis);
      if (e > 40) throw UsageError{fmt::format("--axis {}: {} is too large", axis, s)};
      return int64_t{1} << e;
    };
    if (parts.size() == 1) {
      auto p = pow2(parts[0]);
      out.push_back(p ? *p : parse_int(parts[0], axis));
    } else if (parts.size() == 2 && pow2(parts[0]) && pow2(parts[1])) {
      for (int64_t v = *pow2(parts[0]); v <= *pow2(parts[1]) && out.size() <= kMaxValues; v *= 2) out.push_back(v);
    } else if (parts.size() == 2 || parts.size() == 3) {
      int64_t a = parse_int(parts[0], axis), b = parse_int(parts[1], axis);
      int64_t step = parts.size() == 3 ? parse_int(parts[2], axis) : 1;
      if (step == 0) throw UsageError{fmt::format("--axis {}: step 0 in '{}'", axis, item)};
      for (int64_t v = a; v <= b && out.size() <= kMaxValues; v += step) out.push_back(v);
    } else {
      throw UsageError{fmt::format("--axis {}: cannot read '{}' (use 1,2,4 or a:b:step or 2^a:2^b)", axis, item)};
    }
    if (out.size() > kMaxValues) throw UsageError{fmt::format("--axis {}: more than {} values", axis, kMaxValues)};
  }
  if (out.empty()) throw UsageError{fmt::format("--axis {}: no values", axis)};
  return out;
}

// ---- the sweep ----------------------------------------------------------------------------

struct Case {
  const tb::BenchOp* op;
  tb::BenchShape shape;
};

using AxisOverrides = std::map<std::string, std::vector<int64_t>, std::less<>>;

// The cases of one op: each of the preset's sweeps of it (or the op's defaults when the preset
// has none), with --axis replacing an axis's values, as a cartesian product, invalid and
// repeated shapes left out.
std::vector<Case> cases_for(const tb::BenchOp& op, const tb::Preset& preset, const AxisOverrides& overrides) {
  std::vector<tb::Sweep> sweeps;
  for (const tb::Sweep& s : preset.sweeps)
    if (s.op == op.name) sweeps.push_back(s);
  if (sweeps.empty()) sweeps.push_back({op.name, "defaults", {}});

  std::vector<Case> out;
  std::set<std::string> seen, skipped;
  for (const tb::Sweep& sweep : sweeps) {
    std::vector<std::vector<int64_t>> values;
    for (const tb::Axis& a : op.axes) {
      auto o = overrides.find(a.name);
      auto s = sweep.axes.find(a.name);
      values.push_back(o != overrides.end() ? o->second : s != sweep.axes.end() ? s->second : std::vector<int64_t>{a.def});
    }
    std::vector<size_t> idx(values.size(), 0);
    for (bool more = true; more;) {
      tb::BenchShape shape;
      for (size_t i = 0; i < values.size(); ++i) shape.set(op.axes[i].name, values[i][idx[i]]);
      if (op.resolve) op.resolve(shape);
      std::string why;
      for (const auto& [name, v] : shape.dims())
        if (v < 1 && why.empty()) why = name + " must be at least 1";
      if (why.empty()) why = op.check(shape);
      std::string key = shape.str();
      if (!why.empty()) {
        if (skipped.insert(key).second) note(fmt::format("skipped {} {}: {}", op.name, key, why));
      } else if (seen.insert(key).second) {
        out.push_back({&op, shape});
      }
      // Odometer over the axes, last axis fastest.
      more = false;
      for (size_t i = values.size(); i-- > 0;) {
        if (++idx[i] < values[i].size()) {
          more = true;
          break;
        }
        idx[i] = 0;
      }
    }
  }
  return out;
}

// Variants the registry lists for (op, backend), in selection order.
std::vector<std::string> variants_of(std::string_view op, std::string_view backend) {
  std::vector<std::string> v;
  for (const auto& r : tessera::dispatch::variants())
    if (r.op == op && r.backend == backend && std::find(v.begin(), v.end(), r.name) == v.end())
      v.emplace_back(r.name);
  return v;
}


void list_everything() {
  fmt::print("Operations (axes with their defaults):\n");
  for (const tb::BenchOp& op : tb::bench_ops()) {
    fmt::print("  {}\n", op.name);
    for (const tb::Axis& a : op.axes) fmt::print("    {:<4} = {:<8} {}\n", a.name, a.def, a.help);
    for (const std::string& b : kBackends)
      for (const std::string& v : variants_of(op.name, b)) fmt::print("    variant {} on {}\n", v, b);
  }
  fmt::print("\nPresets:\n");
  for (const tb::Preset& p : tb::presets()) {
    fmt::print("  {}: {}\n", p.name, p.what);
    for (const tb::Sweep& s : p.sweeps) {
      std::string axes; // in the op's axis order, as the table prints shapes
      if (const tb::BenchOp* op = tb::find_bench_op(s.op))
        for (const tb::Axis& a : op->axes)
          if (auto it = s.axes.find(a.name); it != s.axes.end())
            axes += fmt::format(" {}={}", a.name, fmt::join(it->second, ","));
      fmt::print("    {:<15}{}{}\n", s.op, axes, s.what.empty() ? "" : "  (" + s.what + ")");
    }
  }
  fmt::print("\nBaselines: none in this build (CLBlast and cuBLAS come with the GPU backends)\n");
}

struct Options {
  std::vector<std::string> ops, backends{"cpu", "opencl", "vulkan"}, axes, baselines;
  int device = -1; // every device of each backend
  std::string variant, preset = "default", json, csv, md;
  tb::TimingConfig timing;
  bool list = false;
};

int run(const Options& opt) {
  if (opt.list) {
    list_everything();
    return 0;
  }
  const tb::Preset* preset = tb::find_preset(opt.preset);
  if (!preset) {
    std::string known;
    for (const auto& p : tb::presets()) known += (known.empty() ? "" : ", ") + p.name;
    throw UsageError{fmt::format("unknown preset '{}' (known: {})", opt.preset, known)};
  }
  std::vector<const tb::BenchOp*> ops;
  for (const std::string& name : opt.ops) {
    const tb::BenchOp* op = tb::find_bench_op(name);
    if (!op) {
      std::string known;
      for (const auto& o : tb::bench_ops()) known += (known.empty() ? "" : ", ") + o.name;
      throw UsageError{fmt::format("unknown operation '{}' (kbench has: {})", name, known)};
    }
    if (std::find(ops.begin(), ops.end(), op) == ops.end()) ops.push_back(op);
  }
  if (ops.empty())
    for (const tb::BenchOp& op : tb::bench_ops()) ops.push_back(&op);
  for (const std::string& b : opt.baselines)
    if (std::find(kBaselines.begin(), kBaselines.end(), b) == kBaselines.end())
      throw UsageError{fmt::format("unknown baseline '{}' (none are built yet: CLBlast and cuBLAS come with the GPU "
                                   "backends)", b)};
  for (const std::string& b : opt.backends)
    if (std::find(kBackends.begin(), kBackends.end(), b) == kBackends.end())
      throw UsageError{fmt::format("unknown backend '{}' (known: cpu, opencl, vulkan)", b)};

  AxisOverrides overrides;
  for (const std::string& a : opt.axes) {
    size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError{fmt::format("--axis '{}' is not NAME=V1,V2,...", a)};
    std::string name = a.substr(0, eq);
    bool known = false;
    for (const tb::BenchOp* op : ops)
      for (const tb::Axis& ax : op->axes) known = known || ax.name == name;
    if (!known) throw UsageError{fmt::format("--axis {}: no selected operation has an axis '{}'", name, name)};
    overrides[name] = parse_axis_values(name, a.substr(eq + 1));
  }

  std::vector<Case> cases;
  for (const tb::BenchOp* op : ops)
    for (Case& c : cases_for(*op, *preset, overrides)) cases.push_back(std::move(c));

  std::vector<std::string> backends;
  for (const std::string& b : opt.backends) {
    if (std::find(backends.begin(), backends.end(), b) != backends.end()) continue;
    if (!tessera::dispatch::backend_built(b))
      note(fmt::format("backend '{}' is not built; skipping it", b));
    else
      backends.push_back(b);
  }

  std::vector<tb::Row> rows;
  std::set<std::string> reported; // a refusal repeated for every case is said once
  int failures = 0;
  auto started = std::chrono::steady_clock::now();
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& c = cases[ci];
    // What can run, asked of the registry before any input is made.
    std::vector<tessera::RunOptions> runs;
    for (const std::string& b : backends)
      for (const tessera::dispatch::DeviceRef& d : tessera::dispatch::devices())
      for (const std::string& v : opt.variant.empty() ? variants_of(c.op->name, b) : std::vector{opt.variant}) {
        if (d.backend != b || (opt.device >= 0 && d.index != opt.device)) continue;
        tessera::RunOptions ro{b, d.index, v};
        try {
          tessera::dispatch::select(c.op->name, ro);
          runs.push_back(ro);
        } catch (const tessera::Error& e) {
          if (reported.insert(e.what()).second) note(fmt::format("not run: {}", e.what()));
        }
      }
    if (runs.empty()) continue;

    progress(fmt::format("[{}/{}] {} {}: making inputs", ci + 1, cases.size(), c.op->name, c.shape.str()));
    std::vector<tb::BenchInputs> sets;
    try {
      uint32_t seed = static_cast<uint32_t>(std::hash<std::string>{}(c.op->name + " " + c.shape.str()));
      sets.push_back(c.op->make(c.shape, seed));
      double bytes = 0;
      for (const auto& [name, t] : sets[0].tensors) bytes += static_cast<double>(t.nbytes());
      int n = tb::input_sets_for(bytes);
      for (int i = 1; i < n; ++i) sets.push_back(c.op->make(c.shape, seed + static_cast<uint32_t>(i)));
    } catch (const std::exception& e) {
      note(fmt::format("{} {}: making inputs failed: {}", c.op->name, c.shape.str(), e.what()));
      ++failures;
      continue;
    }

    for (const tessera::RunOptions& ro : runs) {
      progress(fmt::format("[{}/{}] {} {} on {} {}", ci + 1, cases.size(), c.op->name, c.shape.str(), ro.backend,
                           ro.variant));
      tessera::RunInfo info;
      tb::TimingResult t;
      try {
        t = tb::measure([&](int set) {
          tessera::run_named_op(c.op->name, sets[set].tensors, sets[set].params, ro, &info);
        }, static_cast<int>(sets.size()), opt.timing);
      } catch (const tessera::Error& e) {
        if (e.code() == tessera::ErrorCode::Unsupported) {
          if (reported.insert(e.what()).second) note(fmt::format("not run: {}", e.what()));
        } else {
          note(fmt::format("{} {} failed on {}: {}", c.op->name, c.shape.str(), ro.backend, e.what()));
          ++failures;
        }
        continue;
      } catch (const std::bad_alloc&) {
        note(fmt::format("{} {} on {}: out of memory", c.op->name, c.shape.str(), ro.backend));
        ++failures;
        continue;
      }
      tb::Row r;
      r.op = c.op->name;
      r.variant = info.variant;
      r.backend = info.backend;
      r.device = info.device;
      r.shape = c.shape.dims();
      r.median_ms = t.median_ms;
      r.noise_pct = t.noise_pct;
      r.samples = t.samples;
      double seconds = t.median_ms / 1e3;
      if (auto f = c.op->flops(c.shape); f && seconds > 0) r.gflops = *f / seconds / 1e9;
      if (seconds > 0) r.gbps = c.op->min_bytes(c.shape) / seconds / 1e9;
      // peak_pct stays null: no device's peak is known yet (the CPU reference has none to reach).
      rows.push_back(std::move(r));
    }
  }
  clear_progress();

  if (!rows.empty()) tb::print_table(stdout, rows);
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  fmt::print("\n{} rows in {:.1f} s\n", rows.size(), total);
  const nlohmann::json peaks = nlohmann::json::object();
  if (!opt.json.empty()) {
    tb::write_json(opt.json, rows, peaks);
    fmt::print("JSON written to {}\n", opt.json);
  }
  if (!opt.csv.empty()) {
    tb::write_csv(opt.csv, rows);
    fmt::print("CSV written to {}\n", opt.csv);
  }
  if (!opt.md.empty()) {
    tb::write_markdown(opt.md, rows);
    fmt::print("Markdown written to {}\n", opt.md);
  }
  std::fflush(stdout);
  if (rows.empty()) {
    note("no case could run");
    return 1;
  }
  return failures ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"kbench: time Tessera's operations over shape sweeps (see docs/kbench.md)"};
  Options opt;
  app.add_option("--op", opt.ops, "operations to run (default: all)");
  app.add_option("--backend", opt.backends, "cpu, opencl, vulkan (default: all that are built)");
  app.add_option("--device", opt.device, "device index within each backend (default: every device)");
  app.add_option("--variant", opt.variant, "run only this variant (default: every variant the registry lists)");
  app.add_option("--preset", opt.preset, "shape preset: default, qwen3.6-27b, qwen3-next-80b-a3b")->default_val("default");
  app.add_option("--axis", opt.axes, "NAME=V1,V2,... (also a:b:step, 2^a:2^b): replaces that axis's values");
  app.add_option("--json", opt.json, "write rows as JSON (interfaces.md's schema)");
  app.add_option("--csv", opt.csv, "write rows as CSV");
  app.add_option("--md", opt.md, "write rows as a Markdown table");
  app.add_option("--min-samples", opt.timing.min_samples, "fewest samples per case")->default_val(3)->check(CLI::Range(1, 1000000));
  app.add_option("--max-noise", opt.timing.max_noise_pct, "stop sampling at this relative std dev (%)")->default_val(5.0)->check(CLI::NonNegativeNumber);
  app.add_option("--max-time", opt.timing.max_time_s, "seconds of sampling per case, after the warm-up")->default_val(2.0)->check(CLI::NonNegativeNumber);
  app.add_option("--baseline", opt.baselines, "also time this baseline and report the ratio");
  app.add_flag("--list", opt.list, "list operations, axes, presets and variants, then exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fputs(fmt::format("kbench: {} (see kbench --help)\n", e.what()).c_str(), stderr);
    return 2;
  }
  opt.timing.max_samples = std::max(opt.timing.max_samples, opt.timing.min_samples);
  try {
    return run(opt);
  } catch (const UsageError& e) {
    note(e.message);
    return 2;
  } catch (const std::exception& e) {
    note(e.what());
    return 1;
  }
}
