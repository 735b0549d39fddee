// What the backend hands to the OpenCL compiler: the program source for one kernel file and the
// build options, both derived from the device's facts (and the user's overrides) alone.
#pragma once

#include <string>
#include <string_view>

#include "core/device.h"

namespace tessera::detail::opencl {

// Capability macros written in front of every kernel source, e.g. TESSERA_NV_INLINE_PTX 1 only
// on NVIDIA's OpenCL and only when the user has not disabled cap:nv_inline_ptx. Every kernel
// keeps a portable branch for the 0 case (PoCL's), so a macro only ever enables a fast path.
std::string capability_prelude(const DeviceFacts& facts);

// `prelude`, then kernels/<file> with each `#include "path"` line (paths relative to kernels/)
// replaced by that embedded file, once per file; #line directives keep build logs pointing at
// the original files. Throws BackendFailure for a file that is not embedded.
std::string program_source(std::string_view file, std::string prelude);
// The same with the device's capability prelude.
std::string program_source(std::string_view file, const DeviceFacts& facts);

// -cl-std=CL1.2, -DWG_SIZE=<wg>, and -cl-fp32-correctly-rounded-divide-sqrt where the device
// has it. Never -cl-fast-relaxed-math, -cl-mad-enable or -cl-denorms-are-zero: each would change
// bits the reference defines.
std::string build_options(const DeviceFacts& facts, size_t wg);

} // namespace tessera::detail::opencl
