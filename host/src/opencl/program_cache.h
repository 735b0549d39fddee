// Compiled programs: memoized per device in memory, and on disk as program binaries so that a
// process does not pay the OpenCL compiler again for a program an earlier one built.
//
// Disk entries live in <cache_dir>/opencl/ (cache_dir from the overrides; default
// $XDG_CACHE_HOME/tessera or ~/.cache/tessera), one file per program named by the FNV-1a 64 hash
// of its key: platform name and version, device name, driver version, build options and the
// full source. A hash collision cannot load the wrong binary, because the entry stores the whole
// key and a reader compares it. Entry layout (host byte order; a cache is per machine):
//   "TSRCLBIN" | u64 key size | key | u64 binary size | binary | u64 FNV-1a 64 of the binary
// An entry that is short, long, mismatched, fails its checksum or that the driver refuses
// (clCreateProgramWithBinary, clBuildProgram) is reported once on stderr, ignored, and
// rewritten from a source build; it is never fatal. Entries are written to a temporary file and
// renamed into place, so concurrent processes never see half an entry.
#pragma once

#include <string>
#include <string_view>

#include "runtime.h"

namespace tessera::detail::opencl {

// The program built from (source, options) on `d`. The caller holds d.mutex and d's context
// exists. `label` (the kernel file) names the program in errors. A build failure throws
// BackendFailure with the first lines of the build log.
ProgramEntry& program(Device& d, const std::string& source, const std::string& options,
                      std::string_view label);

} // namespace tessera::detail::opencl
