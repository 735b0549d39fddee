// kbench's results: one Row per (op, variant, device, shape), printed as an aligned table and
// written as JSON (docs/interfaces.md's schema, which scripts read, plus a few keys of its own), CSV
// and Markdown.
#pragma once

#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/axes.h"
#include "bench/timing.h"
#include "tessera/ops.h"

namespace tessera::bench {

struct BaselineResult {
  double median_ms = 0;
  double speedup = 0;   // baseline_ms / median_ms: above 1 means Tessera is faster
  double noise_pct = 0; // the baseline's own noise (NaN: one sample or not reported)
  std::string device;   // where the baseline ran, e.g. "opencl:0 (pthread-...)"
  bool noisy = false;   // its own sampling stopped before the noise target
};

// --transfers: the same case called on host tensors through the by-name API, as an engine
// without device buffers calls it: each call uploads its inputs and downloads its outputs.
struct Transfers {
  std::optional<double> device_ms; // median device time per call; none when the device did not time it
  double wall_ms = 0;              // median wall time per call, the round trip included
  tessera::DeviceTraffic traffic;  // per call, after the warm-up
};

struct Row {
  std::string op, variant, backend, device;
  std::vector<std::pair<std::string, AxisValue>> shape; // in the op's axis order
  double median_ms = 0;
  double noise_pct = 0; // NaN when unknown (one sample)
  int samples = 0;
  bool noisy = false; // sampling stopped before the noise target was met
  Clock clock = Clock::Wall;
  // Inputs and outputs in device buffers (OpenCL, Vulkan); false: host tensors (the CPU
  // reference, whose memory they are, and rows read from a file older than resident timing).
  bool resident = false;
  double wall_ms = 0; // median wall time per call, waiting for queued calls included
  // Per call after the warm-up: device allocations and host <-> device bytes (rounded up, so
  // that 0 means none).
  tessera::DeviceTraffic traffic;
  std::optional<Transfers> transfers; // --transfers, on OpenCL and Vulkan rows
  std::optional<double> gflops, gbps, peak_pct;
  std::map<std::string, BaselineResult> baselines;
};

// What a run was asked for, recorded in the JSON so that `kbench compare` knows the noise
// target when a row's own noise is unknown.
struct RunSettings {
  TimingConfig timing;
  std::string preset;
  bool transfers = false; // --transfers
};

// Known peaks of a device, from the registry's capabilities.
struct DevicePeaks {
  std::optional<double> gbps, fp32_gflops;
};

// Percent of the device's attainable peak for a row (docs/kbench.md, "peak_pct"); nullopt when
// the registry knows no peak that applies.
std::optional<double> peak_percent(const std::optional<double>& gflops,
                                   const std::optional<double>& gbps, const DevicePeaks& peaks);

// The JSON of docs/interfaces.md: {"device_peaks": {LABEL: {"peak_gbps", "peak_fp32_gflops"}},
// "rows": [...]}, each row with the schema's keys in its order, then kbench's own: "noisy",
// "clock", "resident", "wall_ms", "h2d_bytes", "d2h_bytes", "allocs", the transfers_* keys of a
// row measured with --transfers, and "settings" at the top level.
nlohmann::ordered_json to_json(const std::vector<Row>& rows,
                               const std::map<std::string, DevicePeaks>& peaks,
                               const RunSettings& settings);

// The rows and device peaks of a document to_json wrote (kbench plot redraws a saved run).
// Ordered, so that shapes keep their axis order.
// Throws std::runtime_error when it is not one.
std::vector<Row> rows_from_json(const nlohmann::ordered_json& doc,
                                std::map<std::string, DevicePeaks>& peaks);

// The table on stdout. A noise value marked '*' did not reach the target; a footnote says so.
void print_table(std::FILE* out, const std::vector<Row>& rows, double max_noise_pct);

// Each creates the parent directories of `path`; throws std::runtime_error naming the file.
void write_json(const std::string& path, const nlohmann::ordered_json& doc);
void write_csv(const std::string& path, const std::vector<Row>& rows);
void write_markdown(const std::string& path, const std::vector<Row>& rows, double max_noise_pct);

// Shared by the report writers and compare: "M=1 N=512 out=bf16", and "12.34" style numbers.
std::string shape_text(const std::vector<std::pair<std::string, AxisValue>>& shape);
std::string format_number(double x);

} // namespace tessera::bench
