// Runs planned cases on every selected device and variant and turns the timings into rows:
// what kbench's main does after parsing, and what the smoke test calls in-process.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bench/cases.h"
#include "bench/report.h"
#include "bench/timing.h"

namespace tessera::bench {

// --device: an index within every backend ("0"), or one backend's device ("opencl:0").
struct DeviceFilter {
  std::string backend; // empty: any backend
  int index = 0;
};
// Throws AxisError for anything but N or BACKEND:N.
DeviceFilter parse_device_filter(const std::string& text);

struct RunnerConfig {
  std::vector<std::string> backends = {"cpu", "opencl", "vulkan"};
  std::vector<DeviceFilter> devices; // empty: every device of the backends
  std::vector<std::string> variants; // empty: every variant the registry lists
  std::set<std::string> baselines = {"reference", "clblast", "cublas"};
  TimingConfig timing;
  // Also time each OpenCL and Vulkan row on host tensors, the host round trip in every call
  // (Row::transfers); the row itself is always timed on device buffers.
  bool transfers = false;
};

struct Progress {
  size_t done = 0, total = 0; // measurements (rows and baseline-only reference runs)
  double elapsed_s = 0;
  std::string what; // the one starting now
};

struct RunnerHooks {
  std::function<void(const std::string&)> note;  // each distinct message once
  std::function<void(const Progress&)> progress; // may be empty
};

struct RunOutput {
  std::vector<Row> rows;
  std::map<std::string, DevicePeaks> peaks; // per device label of the rows
  int failures = 0; // cases that failed for a reason other than "unsupported"
};

RunOutput run_cases(const std::vector<Case>& cases, const RunnerConfig& cfg,
                    const RunnerHooks& hooks);

// Variants the registry lists for (op, backend), in its order.
std::vector<std::string> variants_of(std::string_view op, std::string_view backend);

} // namespace tessera::bench
