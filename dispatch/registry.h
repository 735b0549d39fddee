// The variant registry: one ordered table of kernel variants, each with its requirements and
// conformance class, walked in order for each call; the CPU reference is always last, as
// highway's dispatch table always ends in its scalar target. One requirements function per
// variant answers both "can it run here, on this shape?" and "why not?", and serves selection,
// kinfo and the tests alike.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/device.h"
#include "tessera/ops.h"

namespace tessera::dispatch {

// exact: equal bytes to the reference. bounded: relative L2 error at most `bound`; or, with
// `attention`, every element of o and lse within the mixed error bound of docs/numerics.md
// "Attention error bound" (tests/conformance/attention_bound.h): the largest error / bound
// ratio at most `bound` (1: the derived bound itself). `operand_u` is that formula's only
// per-variant input, the unit roundoff of the format q, k, v and p are rounded to (0: fp32).
struct Conformance {
  bool exact = true;
  double bound = 0.0;
  bool attention = false;
  double operand_u = 0.0;
  std::string describe() const; // "exact", "bounded (rel L2 <= 1e-06)", "bounded (attention ...)"
};

// What selection knows of a call besides its device: the operation and its extents.
struct Problem {
  std::string_view op;
  std::map<std::string, int64_t, std::less<>> dims; // "rows", "cols", "M", "N", "K", ...
  int64_t dim(std::string_view name, int64_t fallback = 0) const;
  int64_t elements() const; // the largest tensor's element count, for index-width limits
};

// A device work can be placed on: the CPU reference, or one probed (or described) device.
struct DeviceRef {
  std::string backend; // "cpu", "opencl", "vulkan"
  int index = 0;       // within the backend; -1 for a device described by a file
  DeviceFacts facts;
  Capabilities caps;   // after the user's "disable=cap:NAME" overrides
  std::string label() const; // "opencl:0 (Portable Computing Language ...)"
};

// Returns "" when the variant can run on `d` for `p`, else the reason it cannot.
using Requirement = std::string (*)(const DeviceRef& d, const Problem& p);

struct Variant {
  std::string_view op, backend, name;
  int priority; // among variants that can run, the highest wins
  Conformance conformance;
  Requirement requirements;
  std::string_view summary;
};

// Every variant of every operation, highest priority first within an operation.
const std::vector<Variant>& variants();

// The CPU reference device, then every OpenCL and Vulkan device, probed once.
const std::vector<DeviceRef>& devices();
// A described device (kinfo --device-file, tests): classified by the same code as a probed one.
DeviceRef describe(const DeviceFacts& facts);

struct Verdict {
  const Variant* variant;
  bool accepted;
  std::string reason; // why accepted, or why rejected
};
// Every variant of `op` on `d`'s backend, in order, with the verdict of each; `options.variant`
// (or an override) forces one name.
std::vector<Verdict> explain(std::string_view op, const DeviceRef& d, const Problem& p,
                             const RunOptions& options = {});

struct Choice {
  const Variant* variant;
  const DeviceRef* device;
  std::string reason;
  RunInfo info() const;
};
// The device `options` name (after overrides) and the variant that runs `op` there. When no
// variant of that device can run, the CPU reference does, and the reason says why; a forced
// variant that cannot run, an unknown backend or an absent device is Error(Unsupported or
// InvalidArgument) instead.
Choice select(std::string_view op, const Problem& p, const RunOptions& options);
// For operations that take no problem-dependent decisions (the reference-only ones).
RunInfo select(std::string_view op, const RunOptions& options);

// A variant that failed to build or launch on a device is disabled there for the rest of the
// process; selection then moves on. Logged once on stderr with the reason.
void disable(const DeviceRef& d, const Variant& v, const std::string& reason);

// Whether a backend was compiled into this build.
bool backend_built(std::string_view backend);
// Why a built backend has no device, in one line ("clGetPlatformIDs: ...; ICD files: ..."); ""
// when it has one.
std::string no_device_reason(std::string_view backend);

} // namespace tessera::dispatch
