#include "program_cache.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include "host/src/overrides.h"
#include "introspect.h"

namespace tessera::detail::opencl {

namespace fs = std::filesystem;

namespace {
constexpr char kMagic[8] = {'T', 'S', 'R', 'C', 'L', 'B', 'I', 'N'};
constexpr int kBuildLogLines = 20; // of the build log, in a BackendFailure message

std::atomic<int64_t> g_memory_hits{0}, g_disk_hits{0}, g_disk_rejected{0}, g_disk_writes{0},
    g_source_builds{0};

uint64_t fnv1a64(const void* data, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

fs::path cache_root() {
  Overrides o = current_overrides();
  if (!o.program_cache) return {};
  if (!o.cache_dir.empty()) return fs::path(o.cache_dir) / "opencl";
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x == '/')
    return fs::path(x) / "tessera" / "opencl";
  if (const char* h = std::getenv("HOME"); h && *h)
    return fs::path(h) / ".cache" / "tessera" / "opencl";
  return {};
}

std::string cache_key(const Device& d, const std::string& source, const std::string& options) {
  return fmt::format("tessera opencl program 1\nplatform: {} | {}\ndevice: {}\ndriver: "
                     "{}\noptions: {}\nsource:\n{}",
                     d.platform_name, d.platform_version, d.facts.name, d.facts.driver_version,
                     options, source);
}

void put_u64(std::string& out, uint64_t v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// The binary stored in the entry at `path` for `key`; nullopt when there is no file (why stays
// empty) or when the entry is unusable (why says how).
std::optional<std::vector<unsigned char>> read_entry(const fs::path& path, const std::string& key,
                                                     std::string& why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    why = "unreadable";
    return std::nullopt;
  }
  size_t pos = 0;
  auto take_u64 = [&](uint64_t& v) {
    if (data.size() - pos < sizeof v) return false;
    std::memcpy(&v, data.data() + pos, sizeof v);
    pos += sizeof v;
    return true;
  };
  if (data.size() < sizeof kMagic || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0) {
    why = "bad magic";
    return std::nullopt;
  }
  pos = sizeof kMagic;
  uint64_t key_size = 0, bin_size = 0, sum = 0;
  if (!take_u64(key_size) || key_size > data.size() - pos) {
    why = "truncated key";
    return std::nullopt;
  }
  if (std::string_view(data).substr(pos, key_size) != key) {
    why = "key mismatch";
    return std::nullopt;
  }
  pos += key_size;
  if (!take_u64(bin_size) || bin_size > data.size() - pos ||
      data.size() - pos - bin_size != sizeof sum) {
    why = "wrong size";
    return std::nullopt;
  }
  std::vector<unsigned char> bin(data.begin() + static_cast<std::ptrdiff_t>(pos),
                                 data.begin() + static_cast<std::ptrdiff_t>(pos + bin_size));
  pos += bin_size;
  take_u64(sum);
  if (bin.empty() || sum != fnv1a64(bin.data(), bin.size())) {
    why = "checksum mismatch";
    return std::nullopt;
  }
  return bin;
}

// Writes the entry through a temporary file renamed into place. A cache that cannot be written
// (read-only home, full disk) only costs the next process a compile, so failures are silent.
bool write_entry(const fs::path& path, const std::string& key,
                 const std::vector<unsigned char>& bin) {
  static std::atomic<uint64_t> counter{0};
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  fs::path tmp = path;
  tmp += fmt::format(".tmp.{}.{}", static_cast<long>(::getpid()), counter++);
  std::string out(kMagic, sizeof kMagic);
  put_u64(out, key.size());
  out += key;
  put_u64(out, bin.size());
  out.append(reinterpret_cast<const char*>(bin.data()), bin.size());
  put_u64(out, fnv1a64(bin.data(), bin.size()));
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(out.data(), static_cast<std::streamsize>(out.size()));
    f.close();
    if (!f) {
      fs::remove(tmp, ec);
      return false;
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) fs::remove(tmp, ec);
  return !ec;
}

std::string build_log(const Device& d, cl_program p) {
  size_t n = 0;
  if (clGetProgramBuildInfo(p, d.id, CL_PROGRAM_BUILD_LOG, 0, nullptr, &n) != CL_SUCCESS || n == 0)
    return "";
  std::string log(n, '\0');
  if (clGetProgramBuildInfo(p, d.id, CL_PROGRAM_BUILD_LOG, n, log.data(), nullptr) != CL_SUCCESS)
    return "";
  std::string head;
  size_t pos = 0;
  for (int line = 0; line < kBuildLogLines && pos < log.size(); ++line) {
    size_t end = log.find('\n', pos);
    if (end == std::string::npos) end = log.size();
    head.append(log, pos, end - pos).append("\n");
    pos = end + 1;
  }
  while (!head.empty() && (head.back() == '\n' || head.back() == '\0'))
    head.pop_back();
  return head;
}

// A program from a cached binary, or nothing (with why) when the driver refuses it.
Program from_binary(const Device& d, const std::vector<unsigned char>& bin,
                    const std::string& options, std::string& why) {
  const unsigned char* ptr = bin.data();
  size_t size = bin.size();
  cl_int status = CL_SUCCESS, err = CL_SUCCESS;
  Program p(clCreateProgramWithBinary(d.context.get(), 1, &d.id, &size, &ptr, &status, &err));
  if (err != CL_SUCCESS || status != CL_SUCCESS) {
    why =
        fmt::format("clCreateProgramWithBinary: {}", error_name(err != CL_SUCCESS ? err : status));
    return {};
  }
  err = clBuildProgram(p.get(), 1, &d.id, options.c_str(), nullptr, nullptr);
  if (err != CL_SUCCESS) {
    why = fmt::format("clBuildProgram: {}", error_name(err));
    return {};
  }
  return p;
}

Program from_source(const Device& d, const std::string& source, const std::string& options,
                    std::string_view label) {
  const char* text = source.c_str();
  size_t size = source.size();
  cl_int err = CL_SUCCESS;
  Program p(clCreateProgramWithSource(d.context.get(), 1, &text, &size, &err));
  check(err, fmt::format("clCreateProgramWithSource for {}", label));
  err = clBuildProgram(p.get(), 1, &d.id, options.c_str(), nullptr, nullptr);
  ++g_source_builds;
  if (err != CL_SUCCESS)
    throw BackendFailure(fmt::format("opencl: building {} for {} ({}) failed: {} ({})\n{}", label,
                                     d.facts.name, options, error_name(err), err,
                                     build_log(d, p.get())));
  return p;
}

std::optional<std::vector<unsigned char>> binary_of(cl_program p) {
  size_t size = 0;
  if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, nullptr) != CL_SUCCESS ||
      size == 0)
    return std::nullopt;
  std::vector<unsigned char> bin(size);
  unsigned char* ptr = bin.data();
  if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof ptr, &ptr, nullptr) != CL_SUCCESS)
    return std::nullopt;
  return bin;
}
} // namespace

ProgramEntry& program(Device& d, const std::string& source, const std::string& options,
                      std::string_view label) {
  std::string memo_key = options + '\n' + source;
  if (auto it = d.programs.find(memo_key); it != d.programs.end()) {
    ++g_memory_hits;
    return it->second;
  }
  fs::path root = cache_root();
  std::string key;
  fs::path path;
  Program p;
  if (!root.empty()) {
    key = cache_key(d, source, options);
    path = root / fmt::format("{:016x}.clbin", fnv1a64(key.data(), key.size()));
    std::string why;
    if (auto bin = read_entry(path, key, why)) p = from_binary(d, *bin, options, why);
    if (p) {
      ++g_disk_hits;
    } else if (!why.empty()) {
      ++g_disk_rejected;
      log_warning(fmt::format("ignoring OpenCL program cache entry {} ({}); rebuilding it",
                              path.string(), why));
    }
  }
  if (!p) {
    p = from_source(d, source, options, label);
    if (!root.empty())
      if (auto bin = binary_of(p.get()); bin && write_entry(path, key, *bin)) ++g_disk_writes;
  }
  ProgramEntry entry;
  entry.program = std::move(p);
  return d.programs.emplace(std::move(memo_key), std::move(entry)).first->second;
}

ProgramCacheStats program_cache_stats() {
  return {g_memory_hits.load(), g_disk_hits.load(), g_disk_rejected.load(), g_disk_writes.load(),
          g_source_builds.load()};
}

void forget_programs() {
  for (const auto& d : device_table()) {
    std::lock_guard lock(d->mutex);
    d->programs.clear();
  }
}

std::string program_cache_dir() { return cache_root().string(); }

} // namespace tessera::detail::opencl
