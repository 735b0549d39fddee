#include "bench/plots.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

namespace tessera::bench {

namespace fs = std::filesystem;

std::string find_in_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path) return "";
  std::string p = path;
  for (size_t pos = 0; pos <= p.size();) {
    size_t colon = p.find(':', pos);
    std::string dir = p.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
    pos = colon == std::string::npos ? p.size() + 1 : colon + 1;
    if (dir.empty()) continue;
    std::string full = dir + "/" + program;
    if (access(full.c_str(), X_OK) == 0) return full;
  }
  return "";
}

std::string plot_axis(const std::vector<const Row*>& rows) {
  if (rows.empty()) return "";
  std::string best;
  size_t best_count = 0;
  for (const auto& [name, v0] : rows.front()->shape) {
    if (!std::holds_alternative<int64_t>(v0)) continue;
    std::set<int64_t> values;
    for (const Row* r : rows)
      for (const auto& [n, v] : r->shape)
        if (n == name && std::holds_alternative<int64_t>(v)) values.insert(std::get<int64_t>(v));
    if (best.empty() || values.size() > best_count) {
      best = name;
      best_count = values.size();
    }
  }
  return best;
}

namespace {

// gnuplot single-quoted strings: '' is a quote, nothing else is special.
std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s)
    q += c == '\'' ? std::string("''") : std::string(1, c);
  return q + "'";
}

// "opencl:0 (pthread-haswell)" -> "opencl:0": the short name in legends.
std::string short_device(const std::string& label) { return label.substr(0, label.find(' ')); }

std::string file_stem(const std::string& s) {
  std::string out;
  for (char c : s)
    out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

std::string terminal(const std::string& format, int width, int height) {
  // noenhanced: op and variant names have underscores, which enhanced text makes subscripts.
  return format == "png" ? fmt::format("set terminal pngcairo size {},{} noenhanced font 'sans,10' "
                                       "background rgb 'white'",
                                       width, height)
                         : fmt::format("set terminal svg size {},{} dynamic noenhanced font "
                                       "'sans,11' background rgb 'white'",
                                       width, height);
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) throw std::runtime_error(fmt::format("cannot write {}", p.string()));
}

struct Point {
  int64_t x;
  double ms, rate;
  bool noisy;
};

// One line of an op plot: a (device, variant) of the rows, or a baseline measured beside them.
struct Series {
  std::vector<Point> points;
  bool baseline = false;
  int colour = 0, shape = 0; // colour: device and variant (or baseline); shape: the other axes
};

// Distinguishable colours (Tableau 10, then a few more): gnuplot's default cycle has eight, and
// a sweep over three devices with two variants each already runs out.
constexpr const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                                    "#000080", "#808000", "#800000", "#008080"};
constexpr int kPointTypes[] = {7, 5, 9, 11, 13, 15, 3, 1};

int64_t x_of(const Row& r, const std::string& axis) {
  for (const auto& [n, v] : r.shape)
    if (n == axis && std::holds_alternative<int64_t>(v)) return std::get<int64_t>(v);
  return 1;
}

// One op: time (left) and throughput (right) against `axis`, a line per (device, variant) and
// per value of the other axes that vary, and dashed lines for the baselines other than the
// CPU reference (which is a line of its own when the cpu backend ran). Returns the script.
std::string op_plot(const fs::path& dir, const std::string& op, const std::vector<const Row*>& rows,
                    const std::string& format) {
  const std::string axis = plot_axis(rows);
  std::map<std::string, std::set<std::string>> values;
  for (const Row* r : rows)
    for (const auto& [n, v] : r->shape)
      values[n].insert(to_string(v));
  const bool flops =
      std::any_of(rows.begin(), rows.end(), [](const Row* r) { return r->gflops.has_value(); });

  std::map<std::string, Series> series; // by legend
  std::map<std::string, int> colours, shapes;
  auto index_of = [](std::map<std::string, int>& m, const std::string& key) {
    return m.emplace(key, static_cast<int>(m.size())).first->second;
  };
  std::set<std::string> baseline_points;
  for (const Row* r : rows) {
    // Text axes do not change the problem a BLAS baseline solves, so they do not split its line.
    std::string others, other_ints;
    for (const auto& [n, v] : r->shape)
      if (n != axis && values[n].size() > 1) {
        others += " " + n + "=" + to_string(v);
        if (std::holds_alternative<int64_t>(v)) other_ints += " " + n + "=" + to_string(v);
      }
    const int64_t x = x_of(*r, axis);
    double rate = flops ? r->gflops.value_or(NAN) : r->gbps.value_or(NAN);
    const std::string group = short_device(r->device) + " " + r->variant;
    Series& s = series[group + others];
    s.colour = index_of(colours, group);
    s.shape = index_of(shapes, others);
    s.points.push_back({x, r->median_ms, rate, r->noisy});
    for (const auto& [name, b] : r->baselines) {
      if (name == "reference" || !(b.median_ms > 0)) continue;
      const std::string bgroup = name + " (" + short_device(b.device) + ")";
      // Rates scale with the time: the baseline solves the same problem size.
      if (baseline_points.insert(bgroup + other_ints + " " + std::to_string(x)).second) {
        Series& bs = series[bgroup + other_ints];
        bs.baseline = true;
        bs.colour = index_of(colours, bgroup);
        bs.shape = index_of(shapes, other_ints);
        bs.points.push_back({x, b.median_ms, rate * r->median_ms / b.median_ms, false});
      }
    }
  }
  std::string dat, plot_t, plot_r, rings_t, rings_r;
  int index = 0;
  for (auto& [name, s] : series) {
    std::stable_sort(s.points.begin(), s.points.end(),
                     [](const Point& a, const Point& b) { return a.x < b.x; });
    dat += "# " + name + "\n";
    for (const Point& p : s.points)
      dat += fmt::format("{} {} {} {}\n", p.x, p.ms,
                         std::isfinite(p.rate) ? fmt::format("{}", p.rate) : "?", p.noisy ? 1 : 0);
    dat += "\n\n";
    const std::string sep = index ? ", \\\n     " : "";
    const std::string style =
        fmt::format("linespoints lw 2 dt {} pt {} lc rgb '{}'", s.baseline ? 2 : 1,
                    s.baseline ? 4 : kPointTypes[s.shape % std::size(kPointTypes)],
                    kColours[s.colour % std::size(kColours)]);
    plot_t +=
        fmt::format("{}data index {} using 1:2 with {} title {}", sep, index, style, quoted(name));
    plot_r +=
        fmt::format("{}data index {} using 1:3 with {} title {}", sep, index, style, quoted(name));
    // Rows that did not reach the noise target get a ring, so a reader does not trust them blindly.
    if (!s.baseline) {
      const std::string title = rings_t.empty() ? "title 'noise above target'" : "notitle";
      rings_t += fmt::format(", \\\n     data index {} using 1:($4 > 0 ? $2 : 1/0) with points pt "
                             "6 ps 2 lc rgb 'black' {}",
                             index, title);
      rings_r += fmt::format(", \\\n     data index {} using 1:($4 > 0 ? $3 : 1/0) with points pt "
                             "6 ps 2 lc rgb 'black' notitle",
                             index);
    }
    ++index;
  }
  // One x value gives gnuplot an empty range: pad it by a factor of two each way.
  std::string xrange;
  if (!axis.empty() && values[axis].size() == 1) {
    int64_t x = x_of(*rows.front(), axis);
    xrange =
        fmt::format("set xrange [{}:{}]\n", static_cast<double>(x) / 2, static_cast<double>(x) * 2);
  }
  const std::string stem = file_stem(op);
  write_file(dir / (stem + ".dat"), dat);
  std::string gp = fmt::format(
      R"(# kbench: {op}, median time and throughput against {axis}. Redraw: gnuplot {stem}.gp
reset
{term}
set output '{stem}.{fmt}'
data = '{stem}.dat'
set datafile missing '?'
set multiplot layout 1,2 title {title}
set logscale xy
set grid
set key below font ',9'
{xrange}set xlabel {xlabel}
set ylabel 'median time per call (ms)'
plot {pt}{rt}
set ylabel '{rate}'
plot {pr}{rr}
unset multiplot
)",
      fmt::arg("op", op), fmt::arg("axis", axis), fmt::arg("stem", stem),
      fmt::arg("term", terminal(format, 1200, 640)), fmt::arg("fmt", format),
      fmt::arg("title", quoted(op + ": time and throughput per device and variant")),
      fmt::arg("xrange", xrange),
      fmt::arg("xlabel", quoted(axis.empty() ? "(no integer axis)" : axis)), fmt::arg("pt", plot_t),
      fmt::arg("rt", rings_t),
      fmt::arg("rate", flops ? "GFLOP/s (counted flops)" : "GB/s (fewest bytes moved)"),
      fmt::arg("pr", plot_r), fmt::arg("rr", rings_r));
  write_file(dir / (stem + ".gp"), gp);
  return stem + ".gp";
}

// One device's roofline: every row that counts flops at (flops per byte, GFLOP/s), a series per
// op, under the ceilings of the peaks the registry knows.
std::string roofline(const fs::path& dir, const std::string& device,
                     const std::vector<const Row*>& rows, const DevicePeaks& peaks,
                     const std::string& format) {
  std::map<std::string, std::vector<const Row*>> by_op;
  for (const Row* r : rows)
    by_op[r->op].push_back(r);
  std::string dat, plot;
  int index = 0;
  for (const auto& [op, list] : by_op) {
    dat += "# " + op + "\n";
    for (const Row* r : list)
      dat += fmt::format("{} {}\n", *r->gflops / *r->gbps, *r->gflops);
    dat += "\n\n";
    plot += fmt::format("{}data index {} using 1:2 with points pt 7 ps 1.2 title {}",
                        index ? ", \\\n     " : "", index, quoted(op));
    ++index;
  }
  // Ranges that hold every point and the roof's knee, so the ceilings are drawn where they bend
  // and not only across the points' span.
  double xlo = INFINITY, xhi = 0, ylo = INFINITY, yhi = 0;
  for (const Row* r : rows) {
    xlo = std::min(xlo, *r->gflops / *r->gbps);
    xhi = std::max(xhi, *r->gflops / *r->gbps);
    ylo = std::min(ylo, *r->gflops);
    yhi = std::max(yhi, *r->gflops);
  }
  if (peaks.gbps && peaks.fp32_gflops) {
    xlo = std::min(xlo, *peaks.fp32_gflops / *peaks.gbps);
    xhi = std::max(xhi, *peaks.fp32_gflops / *peaks.gbps);
  }
  if (peaks.fp32_gflops) yhi = std::max(yhi, *peaks.fp32_gflops);
  if (peaks.gbps)
    yhi = std::max(yhi, std::min(xhi * 4 * *peaks.gbps, peaks.fp32_gflops.value_or(INFINITY)));
  const std::string ranges =
      fmt::format("set xrange [{}:{}]\nset yrange [{}:{}]\n", xlo / 4, xhi * 4, ylo / 4, yhi * 2);

  std::string ceiling, what;
  if (peaks.gbps && peaks.fp32_gflops) {
    ceiling = fmt::format("roof(x) = x * {} < {} ? x * {} : {}\n", *peaks.gbps, *peaks.fp32_gflops,
                          *peaks.gbps, *peaks.fp32_gflops);
    what = fmt::format("peaks: {} GB/s, {} GFLOP/s fp32", format_number(*peaks.gbps),
                       format_number(*peaks.fp32_gflops));
  } else if (peaks.gbps) {
    ceiling = fmt::format("roof(x) = x * {}\n", *peaks.gbps);
    what = fmt::format("peak {} GB/s; compute peak unknown", format_number(*peaks.gbps));
  } else if (peaks.fp32_gflops) {
    ceiling = fmt::format("roof(x) = {}\n", *peaks.fp32_gflops);
    what =
        fmt::format("peak {} GFLOP/s fp32; bandwidth unknown", format_number(*peaks.fp32_gflops));
  } else {
    what = "peaks unknown to the registry: points only";
  }
  if (!ceiling.empty())
    plot += ", \\\n     roof(x) with lines lw 2 dt 2 lc rgb 'black' title 'roofline'";
  const std::string stem = "roofline_" + file_stem(short_device(device));
  write_file(dir / (stem + ".dat"), dat);
  std::string gp =
      fmt::format(R"(# kbench: roofline of {device}. Redraw: gnuplot {stem}.gp
reset
{term}
set output '{stem}.{fmt}'
data = '{stem}.dat'
set title {title}
set logscale xy
set grid
set samples 400
set key top left font ',9'
set xlabel 'arithmetic intensity (counted flops per byte of the fewest bytes moved)'
set ylabel 'GFLOP/s'
{ranges}{ceiling}plot {plot}
)",
                  fmt::arg("device", device), fmt::arg("stem", stem),
                  fmt::arg("term", terminal(format, 1000, 600)), fmt::arg("fmt", format),
                  fmt::arg("title", quoted("roofline: " + device + " (" + what + ")")),
                  fmt::arg("ranges", ranges), fmt::arg("ceiling", ceiling), fmt::arg("plot", plot));
  write_file(dir / (stem + ".gp"), gp);
  return stem + ".gp";
}

// Runs gnuplot on the scripts in `dir`, its output in gnuplot.log. Returns "" or why it failed.
std::string run_gnuplot(const std::string& gnuplot, const fs::path& dir,
                        const std::vector<std::string>& scripts) {
  const std::string log = (dir / "gnuplot.log").string();
  // Everything the child needs is prepared before fork: between fork and exec a child of a
  // threaded process (the OpenCL and Vulkan drivers start threads) may not allocate.
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(gnuplot.c_str()));
  for (const std::string& s : scripts)
    argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  const std::string where = dir.string();
  pid_t pid = fork();
  if (pid < 0) return "cannot start gnuplot (fork failed)";
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    if (chdir(where.c_str()) != 0) _exit(127);
    execv(gnuplot.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return "lost track of gnuplot";
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  return fmt::format("gnuplot failed; see {}", log);
}

} // namespace

PlotFiles write_plots(const std::string& dir_name, const std::vector<Row>& rows,
                      const std::map<std::string, DevicePeaks>& peaks, const std::string& format,
                      const std::string& gnuplot) {
  const fs::path dir(dir_name);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot create {}: {}", dir_name, ec.message()));

  PlotFiles out;
  std::map<std::string, std::vector<const Row*>> by_op, by_device;
  std::vector<std::string> op_order;
  for (const Row& r : rows) {
    if (!by_op.count(r.op)) op_order.push_back(r.op);
    by_op[r.op].push_back(&r);
    by_device[r.device]; // every device is mentioned, with flop rows or not
    if (r.gflops && r.gbps && *r.gbps > 0) by_device[r.device].push_back(&r);
  }
  for (const std::string& op : op_order)
    out.scripts.push_back(op_plot(dir, op, by_op[op], format));
  for (const auto& [device, list] : by_device) {
    if (list.empty()) {
      out.notes.push_back(fmt::format(
          "no roofline for {}: none of its rows count flops (their GB/s are in the per-op plots)",
          short_device(device)));
      continue;
    }
    auto p = peaks.find(device);
    out.scripts.push_back(
        roofline(dir, device, list, p == peaks.end() ? DevicePeaks{} : p->second, format));
  }
  if (gnuplot.empty() || out.scripts.empty()) return out;
  auto image_of = [&](const std::string& script) {
    return dir / (script.substr(0, script.size() - 3) + "." + format);
  };
  for (const std::string& s : out.scripts)
    fs::remove(image_of(s), ec); // a stale image is no proof of success
  if (std::string err = run_gnuplot(gnuplot, dir, out.scripts); !err.empty())
    out.notes.push_back(err);
  for (const std::string& s : out.scripts)
    if (fs::exists(image_of(s), ec)) out.images.push_back(image_of(s).string());
  return out;
}

} // namespace tessera::bench
