// kbench: time Tessera's operations over shape sweeps (docs/interfaces.md, docs/kbench.md).
//   kbench [--op OP ...] [--backend B ...] [--device N|B:N ...] [--variant NAME ...]
//          [--preset NAME] [--axis NAME=V1,V2,...] [--json FILE] [--csv FILE] [--md FILE]
//          [--plots DIR] [--plot-format svg|png] [--min-samples N] [--max-noise PCT]
//          [--max-time SEC] [--baseline NAME ...] [--transfers] [--list]
//   kbench compare A.json B.json
//   kbench plot FILE.json DIR [svg|png]
//   kbench step [--backend B] [--device N] [--scale S] [--context N] [--warmup N] [--steps N] [--json FILE]
// Every case runs through run_named_op, the interface krun and the tests use, so what is timed
// is what an engine calling by name gets: on device buffers for OpenCL and Vulkan rows, and with
// --transfers also on host tensors, each call then uploading and downloading. Exit status: 0 when every case ran, 1 when a case
// failed or none could run, 2 for a bad command line.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "bench/baselines/baselines.h"
#include "bench/cases.h"
#include "bench/compare.h"
#include "bench/plots.h"
#include "bench/report.h"
#include "bench/runner.h"
#include "bench/step.h"

namespace tb = tessera::bench;

namespace {

// ---- notes and the progress bar on stderr -------------------------------------------------

const bool kStderrTty = isatty(STDERR_FILENO) != 0;

void clear_progress() {
  if (kStderrTty) std::fputs("\r\033[K", stderr);
}

void note(const std::string& msg) {
  clear_progress();
  std::fputs(("kbench: " + msg + "\n").c_str(), stderr);
}

std::string duration(double s) {
  if (!(s >= 0) || s > 1e6) return "?";
  int t = static_cast<int>(s + 0.5);
  return t >= 60 ? fmt::format("{}m{:02}s", t / 60, t % 60) : fmt::format("{}s", t);
}

// Only on a terminal: a log file gets the notes and the table, not a stream of \r. The time
// left assumes the remaining measurements take as long as the finished ones on average.
void show_progress(const tb::Progress& p) {
  if (!kStderrTty || p.total == 0) return;
  winsize ws{};
  int columns = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 100;
  const int width = 24;
  int filled = static_cast<int>(width * p.done / p.total);
  std::string left = p.done ? duration(p.elapsed_s / static_cast<double>(p.done) *
                                       static_cast<double>(p.total - p.done))
                            : "?";
  std::string line = fmt::format("[{}{}] {}/{} {} left  {}", std::string(filled, '#'),
                                 std::string(width - filled, '.'), p.done, p.total, left, p.what);
  // Longer than the terminal, the line would wrap and \r would no longer erase it.
  if (static_cast<int>(line.size()) >= columns)
    line.resize(static_cast<size_t>(std::max(columns - 1, 0)));
  std::fputs(("\r\033[K" + line).c_str(), stderr);
  std::fflush(stderr);
}

void list_everything() {
  // Every operation by name (core/op_table.h), with its sweep's axes where kbench has one.
  fmt::print("Operations (axes with their defaults):\n");
  for (const tessera::NamedOp& named : tessera::named_ops()) {
    fmt::print("  {}\n", named.name);
    const tb::BenchOp* found = tb::find_bench_op(named.name);
    if (!found) {
      fmt::print("    no sweep yet: time it with krun {}\n", named.name);
      continue;
    }
    const tb::BenchOp& op = *found;
    for (const tb::Axis& a : op.axes)
      fmt::print("    {:<7} = {:<13} {}{}\n", a.name, tb::to_string(a.def), a.help,
                 a.is_text() ? fmt::format(" ({})", fmt::join(a.choices, ", ")) : "");
    for (const char* b : {"cpu", "opencl", "vulkan"})
      for (const std::string& v : tb::variants_of(op.name, b))
        fmt::print("    variant {} on {}\n", v, b);
  }
  fmt::print("\nPresets:\n");
  for (const tb::Preset& p : tb::presets()) {
    fmt::print("  {}: {}\n", p.name, p.what);
    for (const tb::Sweep& s : p.sweeps) {
      std::string axes; // in the op's axis order, as the table prints shapes
      if (const tb::BenchOp* op = tb::find_bench_op(s.op))
        for (const tb::Axis& a : op->axes)
          if (auto it = s.axes.find(a.name); it != s.axes.end()) {
            std::vector<std::string> v;
            for (const tb::AxisValue& x : it->second)
              v.push_back(tb::to_string(x));
            axes += fmt::format(" {}={}", a.name, fmt::join(v, ","));
          }
      fmt::print("    {:<17}{}{}\n", s.op, axes, s.what.empty() ? "" : "  (" + s.what + ")");
    }
  }
  fmt::print("\nBaselines: {} (docs/kbench.md)\n", fmt::join(tb::baseline_families(), ", "));
}

struct Options {
  std::vector<std::string> ops, backends{"cpu", "opencl", "vulkan"}, devices, variants, axes,
      baselines;
  std::string preset = "default", json, csv, md, plots, plot_format = "svg";
  tb::TimingConfig timing;
  bool transfers = false;
  bool list = false;
};

int run(Options opt) {
  if (opt.list) {
    list_everything();
    return 0;
  }
  const tb::Preset* preset = tb::find_preset(opt.preset);
  if (!preset) {
    std::vector<std::string> known;
    for (const auto& p : tb::presets())
      known.push_back(p.name);
    throw tb::AxisError(
        fmt::format("unknown preset '{}' (known: {})", opt.preset, fmt::join(known, ", ")));
  }
  std::vector<const tb::BenchOp*> ops;
  for (const std::string& name : opt.ops) {
    const tb::BenchOp* op = tb::find_bench_op(name);
    if (!op) {
      std::vector<std::string> known;
      for (const auto& o : tb::bench_ops())
        known.push_back(o.name);
      throw tb::AxisError(
          fmt::format("unknown operation '{}' (kbench has: {})", name, fmt::join(known, ", ")));
    }
    if (std::find(ops.begin(), ops.end(), op) == ops.end()) ops.push_back(op);
  }
  if (ops.empty())
    for (const tb::BenchOp& op : tb::bench_ops())
      ops.push_back(&op);

  // --axis backend=, device= and variant= are the harness's own axes: the same as the filters.
  tb::AxisOverrides overrides;
  for (const std::string& a : opt.axes) {
    auto [name, values] = tb::split_axis_arg(a);
    std::vector<std::string>* filter = name == "backend"   ? &opt.backends
                                       : name == "device"  ? &opt.devices
                                       : name == "variant" ? &opt.variants
                                                           : nullptr;
    if (filter) {
      if (name == "backend") filter->clear();
      for (size_t p = 0; p <= values.size();) {
        size_t c = values.find(',', p);
        filter->push_back(values.substr(p, c == std::string::npos ? std::string::npos : c - p));
        p = c == std::string::npos ? values.size() + 1 : c + 1;
      }
    } else {
      overrides[name] = values;
    }
  }

  tb::RunnerConfig cfg;
  cfg.timing = opt.timing;
  cfg.transfers = opt.transfers;
  cfg.variants = opt.variants;
  cfg.backends.clear();
  for (const std::string& b : opt.backends) {
    if (b != "cpu" && b != "opencl" && b != "vulkan")
      throw tb::AxisError(fmt::format("unknown backend '{}' (known: cpu, opencl, vulkan)", b));
    if (std::find(cfg.backends.begin(), cfg.backends.end(), b) == cfg.backends.end())
      cfg.backends.push_back(b);
  }
  for (const std::string& d : opt.devices)
    cfg.devices.push_back(tb::parse_device_filter(d));
  if (!opt.baselines.empty()) {
    cfg.baselines.clear();
    for (const std::string& b : opt.baselines) {
      const auto& known = tb::baseline_families();
      if (b == "none") continue;
      if (std::find(known.begin(), known.end(), b) == known.end())
        throw tb::AxisError(
            fmt::format("unknown baseline '{}' (known: {}, or none)", b, fmt::join(known, ", ")));
      cfg.baselines.insert(b);
    }
  }
  if (!opt.plots.empty() && opt.plot_format != "svg" && opt.plot_format != "png")
    throw tb::AxisError(fmt::format("--plot-format {}: svg or png", opt.plot_format));

  tb::CasePlan plan = tb::plan_cases(ops, *preset, overrides);
  for (const tb::Skipped& s : plan.skipped)
    note(fmt::format("skipped {}{}{}: {}", s.op, s.shape.empty() ? "" : " ", s.shape, s.why));

  const auto started = std::chrono::steady_clock::now();
  tb::RunOutput res = tb::run_cases(plan.cases, cfg, {note, show_progress});
  clear_progress();
  const double total =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  if (!res.rows.empty()) tb::print_table(stdout, res.rows, opt.timing.max_noise_pct);
  fmt::print("\n{} rows in {:.1f} s\n", res.rows.size(), total);
  if (!opt.json.empty()) {
    tb::write_json(opt.json, tb::to_json(res.rows, res.peaks, {opt.timing, opt.preset, opt.transfers}));
    fmt::print("JSON written to {}\n", opt.json);
  }
  if (!opt.csv.empty()) {
    tb::write_csv(opt.csv, res.rows);
    fmt::print("CSV written to {}\n", opt.csv);
  }
  if (!opt.md.empty()) {
    tb::write_markdown(opt.md, res.rows, opt.timing.max_noise_pct);
    fmt::print("Markdown written to {}\n", opt.md);
  }
  if (!opt.plots.empty() && !res.rows.empty()) {
    std::string gnuplot = tb::find_in_path("gnuplot");
    if (gnuplot.empty())
      note("gnuplot is not installed (Debian: gnuplot-nox): writing plot data and scripts only");
    std::fflush(stdout);
    tb::PlotFiles pf = tb::write_plots(opt.plots, res.rows, res.peaks, opt.plot_format, gnuplot);
    for (const std::string& n : pf.notes)
      note(n);
    fmt::print("Plots written to {}: {} {} images ({} gnuplot scripts with their data)\n",
               opt.plots, pf.images.size(), opt.plot_format, pf.scripts.size());
  }
  std::fflush(stdout);
  if (res.rows.empty()) {
    note("no case could run");
    return 1;
  }
  return res.failures ? 1 : 0;
}

} // namespace

// kbench plot FILE.json DIR [svg|png]: redraws the plots of a saved run.
static int plot_saved(int argc, char** argv) {
  if (argc < 4 || argc > 5 ||
      (argc == 5 && std::string(argv[4]) != "svg" && std::string(argv[4]) != "png")) {
    std::fputs("usage: kbench plot FILE.json DIR [svg|png]\n", stderr);
    return 2;
  }
  std::map<std::string, tb::DevicePeaks> peaks;
  std::vector<tb::Row> rows;
  try {
    std::ifstream f(argv[2]);
    if (!f) throw std::runtime_error(fmt::format("cannot open {}", argv[2]));
    rows = tb::rows_from_json(nlohmann::ordered_json::parse(f), peaks);
  } catch (const std::exception& e) {
    note(fmt::format("{}: {}", argv[2], e.what()));
    return 2;
  }
  std::string gnuplot = tb::find_in_path("gnuplot");
  if (gnuplot.empty())
    note("gnuplot is not installed (Debian: gnuplot-nox): writing plot data and scripts only");
  const std::string format = argc == 5 ? argv[4] : "svg";
  tb::PlotFiles pf = tb::write_plots(argv[3], rows, peaks, format, gnuplot);
  for (const std::string& n : pf.notes)
    note(n);
  fmt::print("Plots written to {}: {} {} images ({} gnuplot scripts with their data)\n", argv[3],
             pf.images.size(), format, pf.scripts.size());
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "plot") {
    try {
      return plot_saved(argc, argv);
    } catch (const std::exception& e) {
      note(e.what());
      return 1;
    }
  }
  if (argc >= 2 && std::string(argv[1]) == "step") return tb::step_main(argc, argv);
  if (argc >= 2 && std::string(argv[1]) == "compare") {
    if (argc != 4) {
      std::fputs("usage: kbench compare A.json B.json\n", stderr);
      return 2;
    }
    return tb::compare_main(argv[2], argv[3]);
  }
  CLI::App app{"kbench: time Tessera's operations over shape sweeps (see docs/kbench.md).\n"
               "Also: kbench compare A.json B.json; kbench plot FILE.json DIR [svg|png];\n"
               "kbench step [--backend B] ... (a resident decode step; kbench step --help)"};
  Options opt;
  app.add_option("--op", opt.ops, "operations to run (default: all)");
  app.add_option("--backend", opt.backends, "cpu, opencl, vulkan (default: all that are built)");
  app.add_option("--device", opt.devices,
                 "N (device N of every backend) or BACKEND:N (default: every device)");
  app.add_option("--variant", opt.variants,
                 "run only these variants (default: every variant the registry lists)");
  app.add_option("--preset", opt.preset, "shape preset: default, qwen3.6-27b, qwen3-next-80b-a3b")
      ->default_val("default");
  app.add_option("--axis", opt.axes,
                 "NAME=V1,V2,... (also a:b:step, 2^a:2^b, all): replaces that axis's values");
  app.add_option("--json", opt.json, "write rows as JSON (docs/interfaces.md's schema)");
  app.add_option("--csv", opt.csv, "write rows as CSV");
  app.add_option("--md", opt.md, "write rows as a Markdown table");
  app.add_option("--plots", opt.plots,
                 "write plots (per op, and a roofline per device) into this directory");
  app.add_option("--plot-format", opt.plot_format, "svg or png")->default_val("svg");
  app.add_option("--min-samples", opt.timing.min_samples, "fewest samples per case")
      ->default_val(3)
      ->check(CLI::Range(1, 1000000));
  app.add_option("--max-noise", opt.timing.max_noise_pct,
                 "stop sampling at this relative std dev (%)")
      ->default_val(5.0)
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-time", opt.timing.max_time_s,
                 "seconds of sampling per case, after the warm-up")
      ->default_val(2.0)
      ->check(CLI::NonNegativeNumber);
  app.add_option("--baseline", opt.baselines,
                 "run only these baselines: reference, clblast, cublas, none (default: all)");
  app.add_flag("--transfers", opt.transfers,
               "also time OpenCL and Vulkan rows on host tensors, each call uploading its inputs "
               "and downloading its outputs (the transfers_* columns)");
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
  } catch (const tb::AxisError& e) {
    note(e.what());
    return 2;
  } catch (const std::exception& e) {
    note(e.what());
    return 1;
  }
}
