#include "bench/report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

namespace tessera::bench {

std::string shape_text(const std::vector<std::pair<std::string, AxisValue>>& shape) {
  std::string s;
  for (const auto& [name, v] : shape)
    s += fmt::format("{}{}={}", s.empty() ? "" : " ", name, to_string(v));
  return s;
}

// Four significant digits without an exponent for the magnitudes a benchmark meets: times from
// microseconds to hours, rates from 0.001 to 10^5.
std::string format_number(double x) {
  if (std::isnan(x)) return "-";
  double a = std::fabs(x);
  int decimals = a >= 1000   ? 0
                 : a >= 100  ? 1
                 : a >= 10   ? 2
                 : a >= 1    ? 3
                 : a >= 0.1  ? 4
                 : a >= 0.01 ? 5
                             : 6;
  return fmt::format("{:.{}f}", x, decimals);
}

std::optional<double> peak_percent(const std::optional<double>& gflops,
                                   const std::optional<double>& gbps, const DevicePeaks& peaks) {
  if (gflops && gbps && *gbps > 0) {
    // The roofline's attainable rate at this arithmetic intensity: a memory-bound kernel is
    // judged against bandwidth, a compute-bound one against the fp32 peak.
    double intensity = *gflops / *gbps; // flops per byte
    std::optional<double> attainable;
    if (peaks.fp32_gflops) attainable = *peaks.fp32_gflops;
    if (peaks.gbps) attainable = std::min(attainable.value_or(INFINITY), intensity * *peaks.gbps);
    if (attainable && *attainable > 0) return 100.0 * *gflops / *attainable;
    return std::nullopt;
  }
  if (gbps && peaks.gbps && *peaks.gbps > 0) return 100.0 * *gbps / *peaks.gbps;
  return std::nullopt;
}

namespace {

std::string num(const std::optional<double>& x) { return x ? format_number(*x) : "-"; }

using ojson = nlohmann::ordered_json;
ojson json_num(double x) { return std::isfinite(x) ? ojson(x) : ojson(nullptr); }
ojson json_num(const std::optional<double>& x) { return x ? json_num(*x) : ojson(nullptr); }

// Baseline names over all rows, so every row has the same columns.
std::vector<std::string> baseline_names(const std::vector<Row>& rows) {
  std::set<std::string> names;
  for (const Row& r : rows)
    for (const auto& b : r.baselines)
      names.insert(b.first);
  return {names.begin(), names.end()};
}

bool any_transfers(const std::vector<Row>& rows) {
  return std::any_of(rows.begin(), rows.end(), [](const Row& r) { return r.transfers.has_value(); });
}

// The columns of the three tabular outputs. `marked`: noise carries the '*' of a noisy row
// (table, Markdown); otherwise separate `noisy` and `resident` columns (CSV, for scripts).
// `transfers`: the --transfers columns, when a row has them.
std::vector<std::string> header(const std::vector<std::string>& baselines, bool marked,
                                bool transfers) {
  std::vector<std::string> h = {"op",    "variant",   "backend",   "device", "shape",
                                "clock", "median_ms", "noise_pct", "samples"};
  if (!marked) {
    h.push_back("noisy");
    h.push_back("resident");
  }
  for (const char* c : {"wall_ms", "h2d_bytes", "d2h_bytes", "allocs"})
    h.push_back(c);
  if (transfers)
    for (const char* c : {"transfers_device_ms", "transfers_wall_ms", "transfers_h2d_bytes",
                          "transfers_d2h_bytes", "transfers_allocs"})
      h.push_back(c);
  for (const char* c : {"gflops", "gbps", "peak_pct"})
    h.push_back(c);
  for (const auto& b : baselines) {
    h.push_back(b + "_ms");
    h.push_back(b + "_speedup");
  }
  return h;
}

std::vector<std::string> traffic_cells(const DeviceTraffic& t) {
  return {std::to_string(t.bytes_to_device), std::to_string(t.bytes_from_device),
          std::to_string(t.allocations)};
}

std::vector<std::string> cells(const Row& r, const std::vector<std::string>& baselines,
                               bool marked, bool transfers) {
  std::string noise = format_number(r.noise_pct);
  if (marked && r.noisy) noise += "*";
  std::vector<std::string> c = {r.op,
                                r.variant,
                                r.backend,
                                r.device,
                                shape_text(r.shape),
                                clock_name(r.clock),
                                format_number(r.median_ms),
                                noise,
                                std::to_string(r.samples)};
  if (!marked) {
    c.push_back(r.noisy ? "true" : "false");
    c.push_back(r.resident ? "true" : "false");
  }
  c.push_back(format_number(r.wall_ms));
  for (std::string& t : traffic_cells(r.traffic))
    c.push_back(std::move(t));
  if (transfers) {
    if (r.transfers) {
      c.push_back(num(r.transfers->device_ms));
      c.push_back(format_number(r.transfers->wall_ms));
      for (std::string& t : traffic_cells(r.transfers->traffic))
        c.push_back(std::move(t));
    } else {
      c.insert(c.end(), 5, "-");
    }
  }
  for (const auto& x : {r.gflops, r.gbps, r.peak_pct})
    c.push_back(num(x));
  for (const auto& b : baselines) {
    auto it = r.baselines.find(b);
    c.push_back(it == r.baselines.end() ? "-" : format_number(it->second.median_ms));
    c.push_back(it == r.baselines.end() ? "-" : format_number(it->second.speedup));
  }
  return c;
}

bool numeric_column(size_t i) { return i >= 6; } // right-aligned: median_ms onwards

std::string footnote(const std::vector<Row>& rows, double max_noise_pct) {
  size_t noisy = std::count_if(rows.begin(), rows.end(), [](const Row& r) { return r.noisy; });
  if (!noisy) return "";
  return fmt::format(
      "* {} of {} rows did not reach the noise target ({:g}%) before the time or sample limit: "
      "compare them with care",
      noisy, rows.size(), max_noise_pct);
}

std::ofstream open_output(const std::string& path) {
  std::filesystem::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  if (ec)
    throw std::runtime_error(
        fmt::format("cannot create the directory of {}: {}", path, ec.message()));
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error(fmt::format("cannot open {} for writing", path));
  return f;
}

void close_output(std::ofstream& f, const std::string& path) {
  f.close();
  if (!f) throw std::runtime_error(fmt::format("writing {} failed", path));
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s)
    q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

} // namespace

nlohmann::ordered_json to_json(const std::vector<Row>& rows,
                               const std::map<std::string, DevicePeaks>& peaks,
                               const RunSettings& settings) {
  ojson out; // keys in the schema's order, for people reading the file
  ojson dp = ojson::object();
  for (const auto& [label, p] : peaks)
    dp[label] =
        ojson{{"peak_gbps", json_num(p.gbps)}, {"peak_fp32_gflops", json_num(p.fp32_gflops)}};
  out["device_peaks"] = dp;
  ojson list = ojson::array();
  for (const Row& r : rows) {
    ojson shape = ojson::object();
    for (const auto& [name, v] : r.shape)
      shape[name] = std::holds_alternative<int64_t>(v) ? ojson(std::get<int64_t>(v))
                                                       : ojson(std::get<std::string>(v));
    ojson baselines = ojson::object();
    for (const auto& [name, b] : r.baselines)
      baselines[name] = ojson{{"median_ms", json_num(b.median_ms)},
                              {"speedup", json_num(b.speedup)},
                              {"noise_pct", json_num(b.noise_pct)},
                              {"device", b.device},
                              {"noisy", b.noisy}};
    list.push_back(ojson{{"op", r.op},
                         {"variant", r.variant},
                         {"backend", r.backend},
                         {"device", r.device},
                         {"shape", shape},
                         {"median_ms", json_num(r.median_ms)},
                         {"noise_pct", json_num(r.noise_pct)},
                         {"samples", r.samples},
                         {"gflops", json_num(r.gflops)},
                         {"gbps", json_num(r.gbps)},
                         {"peak_pct", json_num(r.peak_pct)},
                         {"baselines", baselines},
                         {"noisy", r.noisy},
                         {"clock", clock_name(r.clock)},
                         {"resident", r.resident},
                         {"wall_ms", json_num(r.wall_ms)},
                         {"h2d_bytes", r.traffic.bytes_to_device},
                         {"d2h_bytes", r.traffic.bytes_from_device},
                         {"allocs", r.traffic.allocations}});
    if (r.transfers) {
      ojson& row = list.back();
      row["transfers_device_ms"] = json_num(r.transfers->device_ms);
      row["transfers_wall_ms"] = json_num(r.transfers->wall_ms);
      row["transfers_h2d_bytes"] = r.transfers->traffic.bytes_to_device;
      row["transfers_d2h_bytes"] = r.transfers->traffic.bytes_from_device;
      row["transfers_allocs"] = r.transfers->traffic.allocations;
    }
  }
  out["rows"] = list;
  out["settings"] = ojson{{"preset", settings.preset},
                          {"min_samples", settings.timing.min_samples},
                          {"max_noise_pct", settings.timing.max_noise_pct},
                          {"max_time_s", settings.timing.max_time_s},
                          {"transfers", settings.transfers}};
  return out;
}

std::vector<Row> rows_from_json(const nlohmann::ordered_json& doc,
                                std::map<std::string, DevicePeaks>& peaks) {
  if (!doc.is_object() || !doc.contains("rows") || !doc["rows"].is_array())
    throw std::runtime_error("not kbench JSON (no \"rows\" array)");
  auto opt = [](const nlohmann::ordered_json& j, const char* key) {
    return j.contains(key) && j[key].is_number() ? std::optional<double>(j[key].get<double>())
                                                 : std::nullopt;
  };
  auto num = [&](const nlohmann::ordered_json& j, const char* key) {
    return opt(j, key).value_or(NAN);
  };
  if (doc.contains("device_peaks") && doc["device_peaks"].is_object())
    for (const auto& [label, p] : doc["device_peaks"].items())
      peaks[label] = {opt(p, "peak_gbps"), opt(p, "peak_fp32_gflops")};
  std::vector<Row> rows;
  for (const nlohmann::ordered_json& j : doc["rows"]) {
    Row r;
    r.op = j.value("op", "");
    r.variant = j.value("variant", "");
    r.backend = j.value("backend", "");
    r.device = j.value("device", "");
    if (j.contains("shape") && j["shape"].is_object())
      for (const auto& [name, v] : j["shape"].items()) {
        if (v.is_number_integer())
          r.shape.emplace_back(name, v.get<int64_t>());
        else if (v.is_string())
          r.shape.emplace_back(name, v.get<std::string>());
      }
    r.median_ms = num(j, "median_ms");
    r.noise_pct = num(j, "noise_pct");
    r.samples = j.value("samples", 0);
    r.noisy = j.value("noisy", false);
    r.clock = j.value("clock", "wall") == std::string("device") ? Clock::Device : Clock::Wall;
    r.resident = j.value("resident", false); // absent: a file from before resident timing
    r.wall_ms = num(j, "wall_ms");
    auto count = [&](const char* key) {
      return j.contains(key) && j[key].is_number_integer() ? j[key].get<int64_t>() : int64_t{0};
    };
    r.traffic = {count("allocs"), count("h2d_bytes"), count("d2h_bytes")};
    if (j.contains("transfers_wall_ms"))
      r.transfers = Transfers{opt(j, "transfers_device_ms"), num(j, "transfers_wall_ms"),
                              {count("transfers_allocs"), count("transfers_h2d_bytes"),
                               count("transfers_d2h_bytes")}};
    r.gflops = opt(j, "gflops");
    r.gbps = opt(j, "gbps");
    r.peak_pct = opt(j, "peak_pct");
    if (j.contains("baselines") && j["baselines"].is_object())
      for (const auto& [name, b] : j["baselines"].items())
        r.baselines[name] = {num(b, "median_ms"), num(b, "speedup"), num(b, "noise_pct"),
                             b.value("device", ""), b.value("noisy", false)};
    rows.push_back(std::move(r));
  }
  return rows;
}

void print_table(std::FILE* out, const std::vector<Row>& rows, double max_noise_pct) {
  auto names = baseline_names(rows);
  const bool transfers = any_transfers(rows);
  std::vector<std::string> h = header(names, true, transfers);
  std::vector<std::vector<std::string>> body;
  for (const Row& r : rows)
    body.push_back(cells(r, names, true, transfers));
  std::vector<size_t> width(h.size());
  for (size_t i = 0; i < h.size(); ++i) {
    width[i] = h[i].size();
    for (const auto& c : body)
      width[i] = std::max(width[i], c[i].size());
  }
  auto line = [&](const std::vector<std::string>& c) {
    std::string s;
    for (size_t i = 0; i < c.size(); ++i) {
      if (i) s += "  ";
      s += numeric_column(i) ? fmt::format("{:>{}}", c[i], width[i])
                             : fmt::format("{:<{}}", c[i], width[i]);
    }
    while (!s.empty() && s.back() == ' ')
      s.pop_back();
    std::fputs((s + "\n").c_str(), out);
  };
  line(h);
  for (const auto& c : body)
    line(c);
  if (std::string f = footnote(rows, max_noise_pct); !f.empty())
    std::fputs((f + "\n").c_str(), out);
}

void write_json(const std::string& path, const nlohmann::ordered_json& doc) {
  std::ofstream f = open_output(path);
  f << doc.dump(2) << "\n";
  close_output(f, path);
}

void write_csv(const std::string& path, const std::vector<Row>& rows) {
  auto names = baseline_names(rows);
  std::ofstream f = open_output(path);
  auto line = [&](const std::vector<std::string>& c) {
    for (size_t i = 0; i < c.size(); ++i)
      f << (i ? "," : "") << csv_cell(c[i] == "-" ? "" : c[i]);
    f << "\n";
  };
  const bool transfers = any_transfers(rows);
  line(header(names, false, transfers));
  for (const Row& r : rows)
    line(cells(r, names, false, transfers));
  close_output(f, path);
}

void write_markdown(const std::string& path, const std::vector<Row>& rows, double max_noise_pct) {
  auto names = baseline_names(rows);
  std::ofstream f = open_output(path);
  const bool transfers = any_transfers(rows);
  std::vector<std::string> h = header(names, true, transfers);
  std::string rule;
  for (size_t i = 0; i < h.size(); ++i)
    rule += numeric_column(i) ? "|---:" : "|---";
  auto line = [&](const std::vector<std::string>& c) {
    for (const auto& s : c) {
      std::string e; // a '|' inside a cell would end it; '*' would start emphasis
      for (char ch : s)
        e += ch == '|' ? std::string("\\|") : ch == '*' ? std::string("\\*") : std::string(1, ch);
      f << "| " << e << " ";
    }
    f << "|\n";
  };
  line(h);
  f << rule << "|\n";
  for (const Row& r : rows)
    line(cells(r, names, true, transfers));
  if (std::string note = footnote(rows, max_noise_pct); !note.empty()) f << "\n\\" << note << "\n";
  close_output(f, path);
}

} // namespace tessera::bench
