#include "program_cache.h"

#include <fmt/format.h>

#include <atomic>
#include <optional>

#include "host/src/disk_cache.h"
#include "introspect.h"

namespace tessera::detail::opencl {

namespace {
constexpr int kBuildLogLines = 20; // of the build log, in a BackendFailure message

std::atomic<int64_t> g_memory_hits{0}, g_disk_hits{0}, g_disk_rejected{0}, g_disk_writes{0},
    g_source_builds{0};

std::string cache_root() {
  std::string dir = disk_cache::directory();
  return dir.empty() ? dir : dir + "/opencl";
}

std::string cache_key(const Device& d, const std::string& source, const std::string& options) {
  return fmt::format("tessera opencl program 2\nplatform: {} | {}\ndevice: {}\ndriver: "
                     "{}\noptions: {}\nsource:\n{}",
                     d.platform_name, d.platform_version, d.facts.name, d.facts.driver_version,
                     options, source);
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
Program from_binary(const Device& d, const std::string& bin, const std::string& options,
                    std::string& why) {
  const auto* ptr = reinterpret_cast<const unsigned char*>(bin.data());
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

std::optional<std::string> binary_of(cl_program p) {
  size_t size = 0;
  if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, nullptr) != CL_SUCCESS ||
      size == 0)
    return std::nullopt;
  std::string bin(size, '\0');
  auto* ptr = reinterpret_cast<unsigned char*>(bin.data());
  if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof ptr, &ptr, nullptr) != CL_SUCCESS)
    return std::nullopt;
  return bin;
}
} // namespace

cl_program program(Device& d, const std::string& source, const std::string& options,
                   std::string_view label) {
  std::string memo_key = options + '\n' + source;
  if (auto it = d.programs.find(memo_key); it != d.programs.end()) {
    ++g_memory_hits;
    return it->second.get();
  }
  std::string root = cache_root();
  std::optional<disk_cache::Entry> cached;
  Program p;
  if (!root.empty()) {
    std::string key = cache_key(d, source, options);
    std::string path = fmt::format("{}/{:016x}.clbin", root, disk_cache::fnv1a64(key));
    cached.emplace(std::move(path), std::move(key), "OpenCL program cache entry", log_warning);
    if (std::optional<std::string> bin = cached->load()) {
      std::string why;
      p = from_binary(d, *bin, options, why);
      if (p)
        cached->accept();
      else
        cached->reject(why);
    }
    if (p) ++g_disk_hits;
    if (cached->rejected()) ++g_disk_rejected;
  }
  if (!p) {
    p = from_source(d, source, options, label);
    if (cached)
      if (auto bin = binary_of(p.get()); bin && cached->store(*bin)) ++g_disk_writes;
  }
  return d.programs.emplace(std::move(memo_key), std::move(p)).first->second.get();
}

ProgramCacheStats program_cache_stats() {
  return {g_memory_hits.load(), g_disk_hits.load(), g_disk_rejected.load(), g_disk_writes.load(),
          g_source_builds.load()};
}

void forget_programs() {
  for (const auto& d : device_table()) {
    std::lock_guard lock(d->mutex);
    d->kernels.clear();
    d->programs.clear();
  }
}

std::string program_cache_dir() { return cache_root(); }

} // namespace tessera::detail::opencl
