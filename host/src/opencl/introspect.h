// Views into the backend for tests and tools; defined in program_cache.cpp, and in stub.cpp
// (all zero) when the backend is not built.
#pragma once

#include <cstdint>
#include <string>

namespace tessera::detail::opencl {

// Process-wide counters of the program cache.
struct ProgramCacheStats {
  int64_t memory_hits = 0;   // served from the in-memory memo (a kernel made before is found
                             // by Session::kernel without looking for its program: not counted)
  int64_t disk_hits = 0;     // loaded from a disk entry
  int64_t disk_rejected = 0; // disk entries found unusable (corrupt, mismatched, refused)
  int64_t disk_writes = 0;   // entries written
  int64_t source_builds = 0; // programs compiled from source
};
ProgramCacheStats program_cache_stats();

// Drops every in-memory program and kernel of every device, so the next launch goes to the disk cache or
// the compiler again.
void forget_programs();

// The directory disk entries go to under the overrides in force; empty when the cache is off
// or there is no cache directory.
std::string program_cache_dir();

// The buffer pool of OpenCL device `device` (runtime.h, BufferPool); all zero for a device that
// is not there.
struct PoolStats {
  int64_t buffers = 0;   // free buffers kept
  int64_t bytes = 0;     // their sizes, summed
  int64_t max_bytes = 0; // the bound on `bytes`
};
PoolStats pool_stats(int device);
// For tests. Sets the bound on device's free bytes (releasing what is over it) and returns the
// old one; fills every free buffer with `byte`, so that a kernel reading memory it did not write
// shows.
int64_t set_pool_max_bytes(int device, int64_t max_bytes);
void fill_pool(int device, unsigned char byte);

} // namespace tessera::detail::opencl
