#include "disk_cache.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <set>
#include <system_error>

#include "core/overrides.h"

namespace tessera::detail::disk_cache {

namespace {

constexpr char kMagic[8] = {'T', 'S', 'R', 'C', 'A', 'C', 'H', 'E'};
constexpr uint64_t kFormatVersion = 1;
constexpr size_t kHeaderSize = sizeof kMagic + 3 * sizeof(uint64_t);
constexpr size_t kChecksumSize = sizeof(uint64_t);
// Loading a payload takes milliseconds to seconds; a marker this old was left by a dead process.
constexpr std::time_t kMarkerSeconds = 60;

std::string errno_text() { return std::error_code(errno, std::generic_category()).message(); }

void put_u64(std::string& out, uint64_t v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

uint64_t u64_at(std::string_view s, size_t at) {
  uint64_t v = 0;
  std::memcpy(&v, s.data() + at, sizeof v);
  return v;
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// The bytes of the regular file at `path`; nullopt with `why` set on anything else (a directory,
// a fifo, an I/O error), with `why` empty when nothing is there. O_NONBLOCK because opening a
// fifo for reading would otherwise wait for a writer.
std::optional<std::string> read_regular(const std::string& path, std::string& why) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) why = errno_text();
    return std::nullopt;
  }
  std::optional<std::string> out;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    why = errno_text();
  } else if (!S_ISREG(st.st_mode)) {
    why = "not a regular file";
  } else {
    out.emplace();
    out->reserve(static_cast<size_t>(st.st_size));
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        out->append(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        break;
      } else if (errno != EINTR) {
        why = errno_text();
        out.reset();
        break;
      }
    }
  }
  ::close(fd);
  return out;
}

// Removes a regular file or an empty directory at `path`, never more: a directory with files in
// it may be the user's. True when nothing is left there.
bool remove_entry(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT;
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return false;
  int r = S_ISREG(st.st_mode) ? ::unlink(path.c_str()) : ::rmdir(path.c_str());
  return r == 0 || errno == ENOENT;
}

// See Entry: a marker is stale when it is over a minute old or names a process that does not
// exist. A marker with no readable pid (being written right now, say) counts as live until it
// is old, which errs towards not loading.
bool marker_is_stale(const std::string& marker, const struct stat& st) {
  if (std::time(nullptr) - st.st_mtime > kMarkerSeconds) return true;
  std::string why;
  std::optional<std::string> text = read_regular(marker, why);
  long pid = text ? std::strtol(text->c_str(), nullptr, 10) : 0;
  return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

// Whether this is the first report about `path` in this process.
bool first_report(const std::string& path) {
  static std::mutex mutex;
  static std::set<std::string> reported;
  std::lock_guard lock(mutex);
  return reported.insert(path).second;
}

} // namespace

std::string directory() {
  Overrides o = current_overrides();
  if (!o.program_cache) return "";
  if (!o.cache_dir.empty()) return o.cache_dir;
  // The XDG base directory specification says to ignore a relative path.
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x == '/')
    return std::string(x) + "/tessera";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/tessera";
  return "";
}

uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::optional<Parsed> parse(std::string_view e, std::string& why) {
  if (e.size() < kHeaderSize + kChecksumSize) {
    why = e.empty() ? "empty" : fmt::format("{} bytes, shorter than a header", e.size());
    return std::nullopt;
  }
  if (std::memcmp(e.data(), kMagic, sizeof kMagic) != 0) {
    why = "not a Tessera cache entry";
    return std::nullopt;
  }
  if (uint64_t v = u64_at(e, 8); v != kFormatVersion) {
    why = fmt::format("format version {}, not {}", v, kFormatVersion);
    return std::nullopt;
  }
  const uint64_t key_size = u64_at(e, 16), payload_size = u64_at(e, 24);
  const uint64_t room = e.size() - kHeaderSize - kChecksumSize;
  if (key_size > room || payload_size != room - key_size) {
    why = fmt::format("{} bytes, but its header says {} of key and {} of payload", e.size(),
                      key_size, payload_size);
    return std::nullopt;
  }
  if (payload_size == 0) {
    why = "no payload";
    return std::nullopt;
  }
  const size_t body = e.size() - kChecksumSize;
  if (u64_at(e, body) != fnv1a64(e.substr(0, body))) {
    why = "checksum mismatch";
    return std::nullopt;
  }
  return Parsed{e.substr(kHeaderSize, key_size), e.substr(kHeaderSize + key_size, payload_size)};
}

std::string frame(std::string_view key, std::string_view payload) {
  std::string out(kMagic, sizeof kMagic);
  put_u64(out, kFormatVersion);
  put_u64(out, key.size());
  put_u64(out, payload.size());
  out.append(key).append(payload);
  put_u64(out, fnv1a64(out));
  return out;
}

bool store(const std::string& path, std::string_view key, std::string_view payload) {
  static std::atomic<uint64_t> counter{0};
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  std::string tmp = fmt::format("{}.tmp.{}.{}", path, static_cast<long>(::getpid()), counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = write_all(fd, frame(key, payload));
  ok = ::close(fd) == 0 && ok;
  if (ok && ::rename(tmp.c_str(), path.c_str()) == 0) return true;
  ::unlink(tmp.c_str());
  return false;
}

Entry::Entry(std::string path, std::string key, std::string what, void (*report)(std::string_view))
    : path_(std::move(path)), marker_(path_ + ".loading"), key_(std::move(key)),
      what_(std::move(what)), report_(report) {}

Entry::~Entry() { unmark(); }

std::optional<std::string> Entry::load() {
  struct stat st {};
  if (::lstat(marker_.c_str(), &st) == 0) {
    if (!marker_is_stale(marker_, st)) return std::nullopt; // being loaded elsewhere right now
    marked_ = true; // the dead loader's marker goes with the entry
    reject("a process died while its driver was loading it");
    return std::nullopt;
  }
  if (::lstat(path_.c_str(), &st) != 0 && errno == ENOENT) return std::nullopt;

  int fd = ::open(marker_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 && errno == EEXIST) return std::nullopt; // another loader came first
  // Without a marker (a read-only cache directory) the entry is still used: such a cache cannot
  // be healed by this process anyway.
  if (fd >= 0) {
    marked_ = true;
    write_all(fd, std::to_string(::getpid()));
    ::close(fd);
  }

  std::string why;
  std::optional<std::string> bytes = read_regular(path_, why);
  if (!bytes && why.empty()) { // removed since the lstat: a miss
    unmark();
    return std::nullopt;
  }
  std::optional<Parsed> entry;
  if (bytes) entry = parse(*bytes, why);
  if (entry && entry->key != key_) {
    entry.reset();
    why = "written for another key";
  }
  if (!entry) {
    reject(why);
    return std::nullopt;
  }
  return std::string(entry->payload);
}

void Entry::accept() { unmark(); }

void Entry::reject(std::string_view why) {
  rejected_ = true;
  const bool removed = remove_entry(path_);
  unmark();
  bypass_ = bypass_ || !removed;
  if (first_report(path_))
    report_(fmt::format("{} {} is unusable ({}); {}", what_, path_, why,
                        removed ? "removed it, rebuilding"
                                : "cannot remove it, so not caching this entry"));
}

bool Entry::store(std::string_view payload) {
  return !bypass_ && disk_cache::store(path_, key_, payload);
}

void Entry::unmark() {
  if (marked_ && !remove_entry(marker_)) bypass_ = true; // else it would condemn the next entry
  marked_ = false;
}

} // namespace tessera::detail::disk_cache
