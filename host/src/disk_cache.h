// The on-disk caches of the device backends (OpenCL program binaries, the Vulkan pipeline cache)
// share one entry format and one way of failing: a bad entry is never fatal, never handed to a
// driver when it can be told bad, and is removed and rebuilt.
//
// Entry layout (host byte order; a cache belongs to one machine):
//   "TSRCACHE" | u64 format version | u64 key size | u64 payload size | key | payload
//   | u64 FNV-1a 64 of every byte before it
// The key names what the payload was built for (driver, device, source...); a reader compares it
// in full, so a file-name hash collision cannot load the wrong payload. The checksum covers the
// key and sizes too, and the file must be exactly as long as its header says, so a truncated or
// half-written entry is refused before any driver sees it.
//
// Nothing here throws for I/O: errors come back as values, on POSIX calls, since a cache is an
// optimization and a broken one must cost a rebuild, not a failed call.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tessera::detail::disk_cache {

// The root of Tessera's disk caches under the overrides in force: cache_dir= when given, else
// $XDG_CACHE_HOME/tessera, else ~/.cache/tessera; empty when program_cache=off or there is no
// such place.
std::string directory();

uint64_t fnv1a64(std::string_view bytes);

struct Parsed {
  std::string_view key, payload;
};
// The key and payload of a whole entry, or nullopt with `why` set.
std::optional<Parsed> parse(std::string_view entry, std::string& why);
std::string frame(std::string_view key, std::string_view payload);

// Writes the entry for (key, payload) at `path` through a temporary file renamed into place, so a
// concurrent reader sees the old entry or the new one, never half of one. Best effort: false
// when it could not (read-only directory, full disk, a directory at `path`).
bool store(const std::string& path, std::string_view key, std::string_view payload);

// One entry as a backend uses it:
//   Entry e(path, key, "OpenCL program cache entry", log);
//   if (auto payload = e.load()) { if (driver accepts *payload) e.accept(); else e.reject(why); }
//   if (not loaded) { build from source; e.store(built); }
//
// Crash safety: a payload can pass every check and still crash a driver (a driver bug, or bytes
// the driver wrote wrongly itself), and then every later process would crash on the same entry.
// So while a payload is in the driver's hands, a marker file <path>.loading holds the pid of the
// loading process. A process that finds a marker whose owner is gone (no such pid), or that is
// older than a minute (no load takes that long; pids may be reused or live in another
// namespace), concludes that the loader died, removes the entry instead of loading it, and
// rebuilds. A marker whose owner is alive means another process or thread is loading right now:
// this one builds from source without touching the entry.
class Entry {
public:
  // `what` names the entry in reports; `report` is the backend's logging function, called at
  // most once per path per process however often the entry is found bad.
  Entry(std::string path, std::string key, std::string what, void (*report)(std::string_view));
  ~Entry();
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;

  // The payload stored for the key, with the loading marker set until accept() or reject().
  // nullopt when there is no usable entry; a bad one has then been removed (or, when it cannot
  // be, bypassed) and reported.
  std::optional<std::string> load();
  // The driver took the payload.
  void accept();
  // The entry is unusable: removes it when it is a regular file or an empty directory (never
  // anything more), else stops using the cache for it; reports once.
  void reject(std::string_view why);
  // store() above, unless the entry could not be removed.
  bool store(std::string_view payload);

  bool rejected() const { return rejected_; }
  // A bad entry could not be removed: nothing is written at its path.
  bool bypassed() const { return bypass_; }

private:
  void unmark();

  std::string path_, marker_, key_, what_;
  void (*report_)(std::string_view);
  bool marked_ = false, rejected_ = false, bypass_ = false;
};

} // namespace tessera::detail::disk_cache
