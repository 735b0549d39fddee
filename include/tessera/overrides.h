// Overrides of the registry's choices, for debugging a driver, benchmarking a variant, or
// working around a bad device. The same fields come from the TESSERA_OVERRIDE environment
// variable, a ';'-separated list of KEY=VALUE:
//   backend=opencl               run on this backend unless a call names one
//   variant=quantize_nvfp4:block16   force a variant of an operation
//   disable=opencl:convert:elementwise   never pick this variant (BACKEND:OP:NAME, or OP:NAME)
//   disable=cap:nv_cooperative_matrix    never use this capability
//   fail=opencl:convert:elementwise      make this variant fail as a broken driver would (to
//                                        test an engine's fallback; BACKEND:OP:NAME)
//   numerics=exact               exact variants only; numerics=bounded:1e-5 exact or bound <= 1e-5;
//                                numerics=any (the default); a call's RunOptions::numerics wins
//   strict=1                     an error instead of a silent fallback to the CPU reference
//   unproven=1                   rank variants by priority even where they have never passed
//                                the conformance suite on the device's class
//   program_cache=off            do not read or write compiled kernel binaries on disk
//   cache_dir=/path              where they go (default $XDG_CACHE_HOME/tessera or ~/.cache/tessera)
//   tune_as=cpu                  specialize kernels with the tuning rows of this device class
//                                (core/tuning.cpp) instead of the device's own: to measure another
//                                class's tile sizes here; never changes results, only speed
//   vulkan_attention_window=N    how much one Vulkan dispatch does (0: the built-in sizes): keys
//   vulkan_deltanet_window=N     of a unit's range an attention pass sweeps, tokens a DeltaNet
//   vulkan_dispatch_groups=N     pass advances, workgroups a windowed dispatch launches. For a
//                                driver whose loop or watchdog limits cut long dispatches short
//                                (llvmpipe stops an invocation's loops after 65535 iterations);
//                                results do not depend on them (numerics.md)
// A bad entry in TESSERA_OVERRIDE is left out with one "tessera: TESSERA_OVERRIDE: ignoring ..."
// line on stderr (kinfo lists it too) and the other entries still apply; set_overrides() and
// parse_overrides() refuse the whole text instead (docs/architecture.md, Overrides).
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "tessera/ops.h"

namespace tessera {

struct Overrides {
  std::string backend;                         // empty: the call's own choice
  std::map<std::string, std::string> variants; // op -> variant name
  std::set<std::string> disabled;              // "backend:op:name", "op:name" or "cap:NAME"
  std::set<std::string> fail;                  // "backend:op:name": launch fails with BackendFailure
  NumericsPolicy policy = {};                  // numerics=, strict=, unproven=
  bool program_cache = true;
  std::string cache_dir;                       // empty: the default
  std::string tune_as;                         // device class whose tuning rows apply; empty: the device's
  int64_t vulkan_attention_window = 0;         // vulkan_*=: dispatch windows; 0: the built-in sizes
  int64_t vulkan_deltanet_window = 0;
  int64_t vulkan_dispatch_groups = 0;
};

// Parses the TESSERA_OVERRIDE syntax; throws Error(InvalidArgument) naming the bad entry.
Overrides parse_overrides(std::string_view text);
// Replaces the overrides in force for every later call (thread-safe).
void set_overrides(const Overrides& o);
// The same from TESSERA_OVERRIDE syntax; a bad entry throws as parse_overrides() does and
// nothing changes.
void set_overrides(std::string_view text);

} // namespace tessera
