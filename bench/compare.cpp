#include "bench/compare.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <stdexcept>

#include <fmt/format.h>

#include "bench/report.h"

namespace tessera::bench {

const char* change_name(Change c) {
  return c == Change::Faster ? "faster" : c == Change::Slower ? "slower" : "same";
}

Change classify_change(double a_ms, double a_noise, double b_ms, double b_noise, double fallback) {
  if (!(a_ms > 0) || !(b_ms > 0)) return Change::Same;
  if (!std::isfinite(a_noise)) a_noise = fallback;
  if (!std::isfinite(b_noise)) b_noise = fallback;
  const double combined = std::sqrt(a_noise * a_noise + b_noise * b_noise);
  const double change = 100.0 * (b_ms - a_ms) / a_ms;
  if (std::fabs(change) <= combined) return Change::Same;
  return change < 0 ? Change::Faster : Change::Slower;
}

namespace {

double number(const nlohmann::ordered_json& j) { return j.is_number() ? j.get<double>() : NAN; }

using ojson = nlohmann::ordered_json;

struct Indexed {
  std::string display; // the shape in the file's (the op's) axis order
  const ojson* row;
};

// Rows by their identity. The match key lists the shape's axes sorted, so that a file whose
// shapes list axes in another order still matches; the display keeps the op's order.
std::map<std::string, Indexed> index_rows(const ojson& doc, const char* which) {
  if (!doc.is_object() || !doc.contains("rows") || !doc["rows"].is_array())
    throw std::runtime_error(fmt::format("{} is not kbench JSON (no \"rows\" array)", which));
  std::map<std::string, Indexed> out;
  for (const ojson& r : doc["rows"]) {
    if (!r.is_object() || !r.contains("median_ms"))
      throw std::runtime_error(fmt::format("{}: a row without median_ms", which));
    std::map<std::string, std::string> sorted;
    std::string shape;
    if (r.contains("shape") && r["shape"].is_object())
      for (const auto& [k, v] : r["shape"].items()) {
        std::string value = v.is_string() ? v.get<std::string>() : v.dump();
        sorted[k] = value;
        shape += fmt::format("{}{}={}", shape.empty() ? "" : " ", k, value);
      }
    std::string id = fmt::format("{} {} {} {}", r.value("op", "?"), r.value("variant", "?"),
                                 r.value("backend", "?"), r.value("device", "?"));
    std::string key = id;
    for (const auto& [k, v] : sorted)
      key += " " + k + "=" + v;
    out.emplace(key, Indexed{id + " " + shape, &r});
  }
  return out;
}

double noise_target(const ojson& doc) {
  if (doc.contains("settings") && doc["settings"].is_object()) {
    double t = number(doc["settings"].value("max_noise_pct", ojson()));
    if (std::isfinite(t)) return t;
  }
  return 5.0; // kbench's default --max-noise, for files written without settings
}

} // namespace

Comparison compare_runs(const nlohmann::ordered_json& a, const nlohmann::ordered_json& b) {
  auto ra = index_rows(a, "A"), rb = index_rows(b, "B");
  const double fallback = std::max(noise_target(a), noise_target(b));
  Comparison c;
  for (const auto& [key, ia] : ra) {
    auto it = rb.find(key);
    if (it == rb.end()) {
      c.only_a.push_back(ia.display);
      continue;
    }
    const ojson &row_a = *ia.row, &row_b = *it->second.row;
    CompareRow r;
    r.key = ia.display;
    r.a_ms = number(row_a["median_ms"]);
    r.b_ms = number(row_b["median_ms"]);
    r.a_noise = number(row_a.value("noise_pct", ojson()));
    r.b_noise = number(row_b.value("noise_pct", ojson()));
    r.change_pct = 100.0 * (r.b_ms - r.a_ms) / r.a_ms;
    r.change = classify_change(r.a_ms, r.a_noise, r.b_ms, r.b_noise, fallback);
    if (row_a.value("resident", false) != row_b.value("resident", false))
      c.mixed_memory.push_back(r.key);
    c.rows.push_back(r);
  }
  for (const auto& [key, ib] : rb)
    if (!ra.count(key)) c.only_b.push_back(ib.display);
  return c;
}

void print_comparison(std::FILE* out, const Comparison& c, const std::string& a_name,
                      const std::string& b_name) {
  fmt::print(out,
             "B = {} against A = {}: a change counts when it exceeds both runs' noise combined\n\n",
             b_name, a_name);
  size_t w = 3;
  for (const CompareRow& r : c.rows)
    w = std::max(w, r.key.size());
  fmt::print(out, "{:<{}}  {:>10}  {:>10}  {:>8}  {:>7}  {}\n", "row", w, "A_ms", "B_ms", "change",
             "noise", "verdict");
  int counts[3] = {0, 0, 0};
  for (const CompareRow& r : c.rows) {
    double noise = std::hypot(std::isfinite(r.a_noise) ? r.a_noise : 0,
                              std::isfinite(r.b_noise) ? r.b_noise : 0);
    fmt::print(out, "{:<{}}  {:>10}  {:>10}  {:>+7.1f}%  {:>6.1f}%  {}\n", r.key, w,
               format_number(r.a_ms), format_number(r.b_ms), r.change_pct, noise,
               change_name(r.change));
    ++counts[static_cast<int>(r.change)];
  }
  fmt::print(out, "\n{} rows: {} faster, {} slower, {} same\n", c.rows.size(), counts[0], counts[1],
             counts[2]);
  for (const std::string& k : c.only_a)
    fmt::print(out, "only in A: {}\n", k);
  for (const std::string& k : c.only_b)
    fmt::print(out, "only in B: {}\n", k);
  for (const std::string& k : c.mixed_memory)
    fmt::print(out, "timed on device buffers in one file and on host tensors in the other: {}\n", k);
}

int compare_main(const std::string& a_path, const std::string& b_path) {
  auto load = [](const std::string& path) {
    std::ifstream f(path);
    if (!f) throw std::runtime_error(fmt::format("cannot open {}", path));
    try {
      return nlohmann::ordered_json::parse(f);
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(fmt::format("{} is not valid JSON: {}", path, e.what()));
    }
  };
  try {
    Comparison c = compare_runs(load(a_path), load(b_path));
    print_comparison(stdout, c, a_path, b_path);
    return 0;
  } catch (const std::exception& e) {
    std::fputs(fmt::format("kbench compare: {}\n", e.what()).c_str(), stderr);
    return 2;
  }
}

} // namespace tessera::bench
