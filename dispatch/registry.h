// The variant registry: for each operation an ordered list of implementations, walked in order,
// the CPU reference always last (highway's dispatch table ends in its scalar target the same way).
// This build has only the CPU reference; the device backends add their records in front of it.
#pragma once

#include <string_view>
#include <vector>

#include "tessera/ops.h"

namespace tessera::dispatch {

struct Variant {
  std::string_view op;
  std::string_view backend;     // "cpu", "opencl", "vulkan"
  std::string_view name;        // names the technique: "reference", "tiled_exact", ...
  std::string_view conformance; // "exact" or "bounded (rel L2 <= ...)"
};

// Every variant of every operation, in selection order.
const std::vector<Variant>& variants();

// Picks the variant of `op` that `options` allows, with the reason; throws
// Error(Unsupported) naming why nothing can run (unknown backend, device or variant).
RunInfo select(std::string_view op, const RunOptions& options);

} // namespace tessera::dispatch
