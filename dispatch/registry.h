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

#include "core/variant.h"
#include "tessera/ops.h"

namespace tessera::dispatch {

// The record types live in core/variant.h, below this layer and the backends that list them.
using core::Conformance;
using core::DeviceRef;
using core::Problem;
using core::Requirement;
using core::Variant;

// Every variant of every built backend (OpenCL, Vulkan, then the CPU reference last), in the
// order their tables list them.
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
