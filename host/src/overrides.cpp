#include "overrides.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>

#include "validate.h"

namespace tessera {

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
} // namespace

Overrides parse_overrides(std::string_view text) {
  Overrides o;
  while (!text.empty()) {
    size_t end = text.find(';');
    std::string_view entry = trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (entry.empty()) continue;
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos)
      detail::fail(ErrorCode::InvalidArgument, "override '{}' is not KEY=VALUE", entry);
    std::string_view key = trim(entry.substr(0, eq)), value = trim(entry.substr(eq + 1));
    if (key == "backend") {
      if (value != "cpu" && value != "opencl" && value != "vulkan")
        detail::fail(ErrorCode::InvalidArgument, "override backend='{}' is not cpu, opencl or vulkan", value);
      o.backend = value;
    } else if (key == "variant") {
      size_t colon = value.find(':');
      if (colon == std::string_view::npos || colon == 0 || colon + 1 == value.size())
        detail::fail(ErrorCode::InvalidArgument, "override variant='{}' is not OP:NAME", value);
      o.variants[std::string(value.substr(0, colon))] = std::string(value.substr(colon + 1));
    } else if (key == "disable") {
      if (value.empty()) detail::fail(ErrorCode::InvalidArgument, "override disable= names nothing");
      o.disabled.insert(std::string(value));
    } else if (key == "fail") {
      if (std::count(value.begin(), value.end(), ':') != 2)
        detail::fail(ErrorCode::InvalidArgument, "override fail='{}' is not BACKEND:OP:NAME", value);
      o.fail.insert(std::string(value));
    } else if (key == "program_cache") {
      if (value != "on" && value != "off")
        detail::fail(ErrorCode::InvalidArgument, "override program_cache='{}' is not on or off", value);
      o.program_cache = value == "on";
    } else if (key == "cache_dir") {
      o.cache_dir = value;
    } else {
      detail::fail(ErrorCode::InvalidArgument,
                   "unknown override key '{}' (known: backend, variant, disable, fail, program_cache, cache_dir)", key);
    }
  }
  return o;
}

namespace {
std::mutex g_mutex;
std::optional<Overrides> g_overrides;

Overrides from_environment() {
  const char* env = std::getenv("TESSERA_OVERRIDE");
  if (!env) return {};
  try {
    return parse_overrides(env);
  } catch (const Error& e) {
    // A library must not exit on a bad environment; say it once and run without overrides.
    std::fprintf(stderr, "tessera: ignoring TESSERA_OVERRIDE: %s\n", e.what());
    return {};
  }
}
} // namespace

void set_overrides(const Overrides& o) {
  std::lock_guard lock(g_mutex);
  g_overrides = o;
}

namespace detail {
Overrides current_overrides() {
  std::lock_guard lock(g_mutex);
  if (!g_overrides) g_overrides = from_environment();
  return *g_overrides;
}
} // namespace detail

} // namespace tessera
