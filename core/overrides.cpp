#include "overrides.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <vector>

#include <fmt/ranges.h>

#include "core/device.h"
#include "core/error.h"

namespace tessera {

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(entry) for each non-empty ';'-separated entry of `text`, trimmed.
template <class F> void for_each_entry(std::string_view text, F&& f) {
  while (!text.empty()) {
    size_t end = text.find(';');
    std::string_view entry = trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (!entry.empty()) f(entry);
  }
}

// Adds one KEY=VALUE entry to `o`; throws Error(InvalidArgument) naming the entry.
void apply_entry(Overrides& o, std::string_view entry) {
  auto bad = [&](std::string_view problem) {
    detail::fail(ErrorCode::InvalidArgument, "override '{}': {}", entry, problem);
  };
  size_t eq = entry.find('=');
  if (eq == std::string_view::npos) bad("not KEY=VALUE");
  std::string_view key = trim(entry.substr(0, eq)), value = trim(entry.substr(eq + 1));
  if (key == "backend") {
    if (value != "cpu" && value != "opencl" && value != "vulkan")
      bad("the backend is not cpu, opencl or vulkan");
    o.backend = value;
  } else if (key == "variant") {
    size_t colon = value.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == value.size())
      bad("the value is not OP:NAME");
    o.variants[std::string(value.substr(0, colon))] = std::string(value.substr(colon + 1));
  } else if (key == "disable") {
    if (value.empty()) bad("disable= names nothing");
    o.disabled.insert(std::string(value));
  } else if (key == "fail") {
    if (std::count(value.begin(), value.end(), ':') != 2) bad("the value is not BACKEND:OP:NAME");
    o.fail.insert(std::string(value));
  } else if (key == "numerics") {
    if (value == "any") {
      o.policy.numerics = Numerics::Any;
    } else if (value == "exact") {
      o.policy.numerics = Numerics::Exact;
    } else if (value.starts_with("bounded:")) {
      std::string b(value.substr(8));
      char* end = nullptr;
      double bound = std::strtod(b.c_str(), &end);
      if (b.empty() || *end != '\0' || !(bound > 0.0) || !std::isfinite(bound))
        bad("the bound is not a positive number (numerics=bounded:1e-5)");
      o.policy.numerics = Numerics::Bounded;
      o.policy.max_bound = bound;
    } else {
      bad("the value is not any, exact or bounded:BOUND");
    }
  } else if (key == "strict" || key == "unproven") {
    if (value != "0" && value != "1") bad("the value is not 0 or 1");
    (key == "strict" ? o.policy.strict : o.policy.unproven) = value == "1";
  } else if (key == "program_cache") {
    if (value != "on" && value != "off") bad("the value is not on or off");
    o.program_cache = value == "on";
  } else if (key == "cache_dir") {
    o.cache_dir = value;
  } else if (key == "vulkan_attention_window" || key == "vulkan_deltanet_window" ||
             key == "vulkan_dispatch_groups") {
    std::string v(value);
    char* end = nullptr;
    long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < 0 || n > 2147483647)
      bad("the value is not a whole number from 0 (the built-in size) to 2147483647");
    (key == "vulkan_attention_window" ? o.vulkan_attention_window
     : key == "vulkan_deltanet_window" ? o.vulkan_deltanet_window
                                       : o.vulkan_dispatch_groups) = n;
  } else if (key == "tune_as") {
    const auto& classes = arch_class_names();
    if (std::find(classes.begin(), classes.end(), value) == classes.end())
      bad(fmt::format("unknown device class (known: {})", fmt::join(classes, ", ")));
    o.tune_as = std::string(value);
  } else {
    bad(fmt::format(
        "unknown key '{}' (known: backend, variant, disable, fail, numerics, strict, unproven, "
        "program_cache, cache_dir, tune_as, vulkan_attention_window, vulkan_deltanet_window, "
        "vulkan_dispatch_groups)",
        key));
  }
}
} // namespace

Overrides parse_overrides(std::string_view text) {
  Overrides o;
  for_each_entry(text, [&](std::string_view entry) { apply_entry(o, entry); });
  return o;
}

namespace {
std::mutex g_mutex;
std::optional<Overrides> g_overrides;
std::vector<std::string> g_environment_errors; // entries of TESSERA_OVERRIDE left out, with why

// TESSERA_OVERRIDE is applied entry by entry: a bad entry is left out and reported once on
// stderr (and by kinfo), the others still apply. The variable is set by an operator, often to
// keep a broken driver's variant out (disable=...): refusing every call over one typo would take
// the engine down, and dropping the whole variable would silently lose that workaround. A
// program calling set_overrides() can be told, so there a bad entry throws instead.
Overrides from_environment() {
  const char* env = std::getenv("TESSERA_OVERRIDE");
  Overrides o;
  if (!env) return o;
  for_each_entry(env, [&](std::string_view entry) {
    try {
      apply_entry(o, entry);
    } catch (const Error& e) {
      g_environment_errors.push_back(e.what());
      std::fprintf(stderr, "tessera: TESSERA_OVERRIDE: ignoring %s; the other entries apply\n",
                   e.what());
    }
  });
  return o;
}
} // namespace

void set_overrides(const Overrides& o) {
  std::lock_guard lock(g_mutex);
  g_overrides = o;
}

void set_overrides(std::string_view text) { set_overrides(parse_overrides(text)); }

namespace detail {
Overrides current_overrides() {
  std::lock_guard lock(g_mutex);
  if (!g_overrides) g_overrides = from_environment();
  return *g_overrides;
}

std::vector<std::string> environment_override_errors() {
  current_overrides();
  std::lock_guard lock(g_mutex);
  return g_environment_errors;
}
} // namespace detail

} // namespace tessera
