// OpenCL status codes as BackendFailure exceptions, and the backend's one logging function.
#pragma once

#include <CL/cl.h>

#include <string_view>

#include "host/src/backends.h"

namespace tessera::detail::opencl {

// "CL_OUT_OF_RESOURCES", or "unknown OpenCL error" for a code outside the 1.2 list.
const char* error_name(cl_int code);

// Throws BackendFailure("opencl: <what>: CL_NAME (code)").
[[noreturn]] void fail(std::string_view what, cl_int code);
inline void check(cl_int code, std::string_view what) {
  if (code != CL_SUCCESS) fail(what, code);
}

// The only output the backend writes itself: one line on stderr prefixed "tessera: ", used
// for program-cache entries it had to ignore. Everything else reaches the caller as an error.
void log_warning(std::string_view message);

} // namespace tessera::detail::opencl
