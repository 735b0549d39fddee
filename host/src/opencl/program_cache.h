// Compiled programs: memoized per device in memory, and on disk as program binaries so that a
// process does not pay the OpenCL compiler again for a program an earlier one built.
//
// Disk entries live in <cache_dir>/opencl/ (the directory of host/src/disk_cache.h), one file
// per program named by the FNV-1a 64 hash of its key: platform name and version, device name,
// driver version, build options and the full source. The file is a disk_cache entry (magic,
// format version, sizes, key, binary, checksum over all of it), so a truncated or mismatched
// entry never reaches clCreateProgramWithBinary. An entry that is unreadable, malformed, or that
// the driver refuses is removed, reported once, and rewritten from a source build; one that
// crashed a process while the driver loaded it is caught by its loading marker. It is never
// fatal.
#pragma once

#include <string>
#include <string_view>

#include "runtime.h"

namespace tessera::detail::opencl {

// The program built from (source, options) on `d`. The caller holds d.mutex and d's context
// exists. `label` (the kernel file) names the program in errors. A build failure throws
// BackendFailure with the first lines of the build log.
cl_program program(Device& d, const std::string& source, const std::string& options,
                   std::string_view label);

} // namespace tessera::detail::opencl
