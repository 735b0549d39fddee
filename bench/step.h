// kbench step: one decode step of a reduced hybrid stack, every tensor resident on one device,
// written the way an engine would write it on tessera::Context (docs/kbench.md, "step").
// It reports wall time and device time per token, and what crossed between host and device.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace tessera::bench {

struct StepConfig {
  std::string backend = "opencl";
  int device = 0;
  // Widths of the qwen3.6-27b preset (hidden, MLP, head counts) divided by this; head dims kept.
  int scale = 16;
  int64_t context = 256; // tokens already in the attention cache when the timed steps start
  // Steps run before timing: the first calls of each shape build kernels and fill the pools, and
  // the KV length's table takes a few steps to find its recycled buffers (Session::table).
  int warmup = 4;
  int steps = 8;         // timed steps
};

struct StepResult {
  std::string device;      // its label, as RunInfo gives it
  std::string shapes;      // the reduced model, in words
  int calls_per_token = 0; // operations one step runs
  double wall_ms = 0;      // per token: from the input's upload to the output's download
  double device_ms = 0;    // per token: the sum of the calls' device times
  int64_t input_bytes = 0, output_bytes = 0;    // the token's activations in, the step's result out
  int64_t h2d_bytes = 0, d2h_bytes = 0;         // per token, all of it
  int64_t allocations = 0;                      // in all the timed steps together
};

// Error (tessera::Error) when the backend has no such device or a call fails.
StepResult run_step(const StepConfig& cfg);
nlohmann::ordered_json to_json(const StepConfig& cfg, const StepResult& r);

// kbench step [--backend B] [--device N] [--scale S] [--context N] [--warmup N] [--steps N]
// [--json FILE]; argv[1] is "step".
int step_main(int argc, char** argv);

} // namespace tessera::bench
