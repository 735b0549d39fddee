// Views into the backend for tests and tools; defined in program_cache.cpp, and in stub.cpp
// (all zero) when the backend is not built.
#pragma once

#include <cstdint>
#include <string>

namespace tessera::detail::opencl {

// Process-wide counters of the program cache.
struct ProgramCacheStats {
  int64_t memory_hits = 0;   // served from the in-memory memo
  int64_t disk_hits = 0;     // loaded from a disk entry
  int64_t disk_rejected = 0; // disk entries found unusable (corrupt, mismatched, refused)
  int64_t disk_writes = 0;   // entries written
  int64_t source_builds = 0; // programs compiled from source
};
ProgramCacheStats program_cache_stats();

// Drops every in-memory program of every device, so the next launch goes to the disk cache or
// the compiler again.
void forget_programs();

// The directory disk entries go to under the overrides in force; empty when the cache is off
// or there is no cache directory.
std::string program_cache_dir();

} // namespace tessera::detail::opencl
