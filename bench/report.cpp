#include "bench/report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

namespace tessera::bench {

namespace {

std::string shape_text(const Row& r) {
  std::string s;
  for (const auto& [name, v] : r.shape) s += fmt::format("{}{}={}", s.empty() ? "" : " ", name, v);
  return s;
}

// Four significant digits without an exponent for the magnitudes a benchmark meets: times from
// microseconds to hours, rates from 0.001 to 10^5.
std::string num(double x) {
  if (std::isnan(x)) return "-";
  double a = std::fabs(x);
  int decimals = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? 2 : a >= 1 ? 3 : a >= 0.1 ? 4 : a >= 0.01 ? 5 : 6;
  return fmt::format("{:.{}f}", x, decimals);
}
std::string num(const std::optional<double>& x) { return x ? num(*x) : "-"; }

using ojson = nlohmann::ordered_json;
ojson json_num(double x) { return std::isfinite(x) ? ojson(x) : ojson(nullptr); }
ojson json_num(const std::optional<double>& x) { return x ? json_num(*x) : ojson(nullptr); }

// Baseline names over all rows, so every row has the same columns.
std::vector<std::string> baseline_names(const std::vector<Row>& rows) {
  std::set<std::string> names;
  for (const Row& r : rows)
    for (const auto& b : r.baselines) names.insert(b.first);
  return {names.begin(), names.end()};
}

// The cells of one row in column order, for the three tabular outputs.
std::vector<std::string> header(const std::vector<std::string>& baselines) {
  std::vector<std::string> h = {"op",       "variant", "backend", "device", "shape", "median_ms",
                                "noise_pct", "samples", "gflops",  "gbps",   "peak_pct"};
  for (const auto& b : baselines) {
    h.push_back(b + "_ms");
    h.push_back(b + "_speedup");
  }
  return h;
}

std::vector<std::string> cells(const Row& r, const std::vector<std::string>& baselines) {
  std::vector<std::string> c = {r.op, r.variant, r.backend, r.device, shape_text(r), num(r.median_ms),
                                num(r.noise_pct), std::to_string(r.samples), num(r.gflops), num(r.gbps),
                                num(r.peak_pct)};
  for (const auto& b : baselines) {
    auto it = r.baselines.find(b);
    c.push_back(it == r.baselines.end() ? "-" : num(it->second.median_ms));
    c.push_back(it == r.baselines.end() ? "-" : num(it->second.speedup));
  }
  return c;
}

bool numeric_column(size_t i) { return i >= 5; } // right-aligned in the text table

std::ofstream open_output(const std::string& path) {
  std::filesystem::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  if (ec) throw std::runtime_error(fmt::format("cannot create the directory of {}: {}", path, ec.message()));
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
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

} // namespace

nlohmann::ordered_json to_json(const std::vector<Row>& rows, const nlohmann::json& device_peaks) {
  nlohmann::ordered_json out; // keys in the schema's order, for people reading the file
  out["device_peaks"] = device_peaks.is_object() ? device_peaks : nlohmann::json::object();
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const Row& r : rows) {
    nlohmann::ordered_json shape = nlohmann::ordered_json::object();
    for (const auto& [name, v] : r.shape) shape[name] = v;
    nlohmann::ordered_json baselines = nlohmann::ordered_json::object();
    for (const auto& [name, b] : r.baselines)
      baselines[name] = ojson{{"median_ms", json_num(b.median_ms)}, {"speedup", json_num(b.speedup)}};
    list.push_back(nlohmann::ordered_json{{"op", r.op},
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
                    {"baselines", baselines}});
  }
  out["rows"] = list;
  return out;
}

void print_table(std::FILE* out, const std::vector<Row>& rows) {
  auto names = baseline_names(rows);
  std::vector<std::string> h = header(names);
  std::vector<std::vector<std::string>> body;
  for (const Row& r : rows) body.push_back(cells(r, names));
  std::vector<size_t> width(h.size());
  for (size_t i = 0; i < h.size(); ++i) {
    width[i] = h[i].size();
    for (const auto& c : body) width[i] = std::max(width[i], c[i].size());
  }
  auto line = [&](const std::vector<std::string>& c) {
    std::string s;
    for (size_t i = 0; i < c.size(); ++i) {
      if (i) s += "  ";
      s += numeric_column(i) ? fmt::format("{:>{}}", c[i], width[i]) : fmt::format("{:<{}}", c[i], width[i]);
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    std::fputs((s + "\n").c_str(), out);
  };
  line(h);
  for (const auto& c : body) line(c);
}

void write_json(const std::string& path, const std::vector<Row>& rows, const nlohmann::json& device_peaks) {
  std::ofstream f = open_output(path);
  f << to_json(rows, device_peaks).dump(2) << "\n";
  close_output(f, path);
}

void write_csv(const std::string& path, const std::vector<Row>& rows) {
  auto names = baseline_names(rows);
  std::ofstream f = open_output(path);
  auto line = [&](const std::vector<std::string>& c) {
    for (size_t i = 0; i < c.size(); ++i) f << (i ? "," : "") << csv_cell(c[i] == "-" ? "" : c[i]);
    f << "\n";
  };
  line(header(names));
  for (const Row& r : rows) line(cells(r, names));
  close_output(f, path);
}

void write_markdown(const std::string& path, const std::vector<Row>& rows) {
  auto names = baseline_names(rows);
  std::ofstream f = open_output(path);
  std::vector<std::string> h = header(names);
  std::string rule;
  for (size_t i = 0; i < h.size(); ++i) rule += numeric_column(i) ? "|---:" : "|---";
  auto line = [&](const std::vector<std::string>& c) {
    for (const auto& s : c) {
      std::string e; // a '|' inside a cell would end it
      for (char ch : s) e += ch == '|' ? std::string("\\|") : std::string(1, ch);
      f << "| " << e << " ";
    }
    f << "|\n";
  };
  line(h);
  f << rule << "|\n";
  for (const Row& r : rows) line(cells(r, names));
  close_output(f, path);
}

} // namespace tessera::bench
