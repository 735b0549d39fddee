// kbench's results: one Row per (op, variant, device, shape), printed as an aligned table and
// written as JSON (interfaces.md's schema, which scripts read), CSV and Markdown.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::bench {

struct BaselineResult {
  double median_ms = 0;
  double speedup = 0; // baseline_ms / median_ms: above 1 means Tessera is faster
};

struct Row {
  std::string op, variant, backend, device;
  std::vector<std::pair<std::string, int64_t>> shape; // in the op's axis order
  double median_ms = 0;
  double noise_pct = 0; // NaN when unknown (one sample)
  int samples = 0;
  std::optional<double> gflops, gbps, peak_pct;
  std::map<std::string, BaselineResult> baselines;
};

// `device_peaks` is written as given (an object; {} while no device's peak is known).
nlohmann::ordered_json to_json(const std::vector<Row>& rows, const nlohmann::json& device_peaks);

void print_table(std::FILE* out, const std::vector<Row>& rows);

// Each creates the parent directories of `path`; throws std::runtime_error naming the file.
void write_json(const std::string& path, const std::vector<Row>& rows, const nlohmann::json& device_peaks);
void write_csv(const std::string& path, const std::vector<Row>& rows);
void write_markdown(const std::string& path, const std::vector<Row>& rows);

} // namespace tessera::bench
