// Runs one validated operation on the variant the registry picks, falling back through the
// registry when a device variant fails to build or launch (it is disabled on that device, with
// the reason logged, and selection moves on), so one bad driver never takes the caller down.
#pragma once

#include "core/backend.h"
#include "dispatch/registry.h"
#include "core/overrides.h"
#include "validate.h"

namespace tessera::detail {

namespace cpu {
void run(const ConvertArgs& a);
void run(const QuantizeNvfp4Args& a);
void run(const DequantizeNvfp4Args& a);
void run(const QuantizeFp8Args& a);
void run(const DequantizeFp8Args& a);
void run(const GemmNvfp4Args& a);
void run(const GemmFp8Args& a);
void run(const GemmFp8BlockArgs& a);
void run(const DeltaNetRunArgs& a);
void run(const Conv1dRunArgs& a);
void run(const AttentionRunArgs& a);
void run(const GemmNvfp4ActArgs& a);
void run(const GemmFp8ActArgs& a);
} // namespace cpu

// An operation whose outputs are all empty computes nothing, yet its loops and launch grids may
// still span the other extents of an empty input (x [2^61, 0] is a legal tensor), so it stops
// here: true when it should. RunInfo names the variant the registry would have picked.
inline bool nothing_to_compute(const dispatch::Problem& problem, const RunOptions& options, RunInfo* info,
                               std::initializer_list<int64_t> output_elements) {
  for (int64_t n : output_elements)
    if (n != 0) return false;
  dispatch::Choice c = dispatch::select(problem.op, problem, options);
  if (info) {
    *info = c.info();
    info->reason += " (every output is empty: nothing ran)";
  }
  return true;
}

template <class Args>
void execute(const dispatch::Problem& problem, const RunOptions& options, RunInfo* info, const Args& args) {
  // Counts every attempt's traffic: a failed attempt's copies happened too.
  if (!in_resident_scope()) thread_traffic() = {};
  // Each failure disables one variant, so this ends; the bound guards against a variant that
  // keeps being chosen after it was disabled.
  for (size_t attempt = 0; attempt <= dispatch::variants().size(); ++attempt) {
    dispatch::Choice c = dispatch::select(problem.op, problem, options);
    try {
      double device_ms = -1.0;
      if (c.device->backend != "cpu" &&
          current_overrides().fail.count(fmt::format("{}:{}:{}", c.device->backend, problem.op, c.variant->name)))
        throw BackendFailure("failure injected by the override fail=");
      if (c.device->backend == "cpu" && call_has_resident_views())
        fail(ErrorCode::Unsupported, "{}: the call has views of device memory, and no variant of {} can run it ({}); "
                                     "the CPU reference cannot read device memory",
             problem.op, options.backend.empty() ? "its device" : options.backend, c.reason);
      core::LaunchFn<Args> launch = c.variant->template launcher<Args>();
      if (!launch) // a record without a launch function for these arguments: a bug in its table
        fail(ErrorCode::Unsupported, "{}: variant '{}' on {} has no launch function for these arguments", problem.op,
             c.variant->name, c.device->label());
      launch(c.device->index, *c.variant, args);
      if (c.device->backend == "opencl") device_ms = opencl::last_device_ms();
      if (c.device->backend == "vulkan") device_ms = vulkan::last_device_ms();
      if (info) {
        *info = c.info();
        info->device_ms = device_ms;
        info->traffic = thread_traffic();
      }
      return;
    } catch (const BackendFailure& f) {
      dispatch::disable(*c.device, *c.variant, f.what());
      // A forced variant has nowhere to fall back to: say so instead of looping.
      if (!options.variant.empty())
        fail(ErrorCode::Unsupported, "{}: variant '{}' failed on {}: {}", problem.op, c.variant->name, c.device->label(), f.what());
    }
  }
  fail(ErrorCode::Unsupported, "{}: every variant failed", problem.op);
}

} // namespace tessera::detail
