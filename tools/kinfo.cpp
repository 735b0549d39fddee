// kinfo: the devices Tessera sees, how it classifies them, and the variant it would pick for
// each operation, with the reason (docs/interfaces.md).
//   kinfo [--json] [--device-file FILE.json ...]
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "dispatch/registry.h"
#include "core/overrides.h"
#include "core/tuning.h"
#include "tessera/error.h"
#include "tessera/named_ops.h"

using nlohmann::ordered_json;
using tessera::dispatch::DeviceRef;

namespace {

// kinfo answers for a representative problem, a mid-sized matrix, unless --shape names the
// extents the choice should be made for (decode vs prefill: --shape M=1).
std::map<std::string, int64_t, std::less<>> g_shape = {{"rows", 256}, {"cols", 4096}, {"M", 256}, {"N", 4096}, {"K", 4096}};

tessera::dispatch::Problem sample_problem(std::string_view op) { return tessera::dispatch::Problem{op, g_shape}; }

// "M=1,N=4096" -> g_shape entries; false on a malformed list.
bool parse_shape(const std::string& text) {
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find(',', at);
    std::string item = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return false;
    try {
      size_t used = 0;
      long long v = std::stoll(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1 || v < 0) return false;
      g_shape[item.substr(0, eq)] = v;
    } catch (const std::exception&) {
      return false;
    }
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return true;
}

ordered_json capabilities(const DeviceRef& d) {
  const auto& f = d.facts;
  const auto& c = d.caps;
  ordered_json j;
  j["compute_capability"] = c.cc_major >= 0 ? ordered_json(fmt::format("{}.{}", c.cc_major, c.cc_minor)) : ordered_json();
  j["compute_units"] = f.compute_units;
  j["max_workgroup_size"] = f.max_workgroup_size;
  j["local_memory_bytes"] = f.local_memory_bytes;
  j["global_memory_bytes"] = f.global_memory_bytes;
  j["subgroup_size"] = f.subgroup_size;
  j["max_clock_mhz"] = f.max_clock_mhz;
  j["fp16"] = c.fp16;
  j["fp64"] = c.fp64;
  j["subgroups"] = c.subgroups;
  j["nv_cooperative_matrix"] = c.nv_cooperative_matrix;
  j["nv_inline_ptx"] = c.nv_inline_ptx;
  j["correctly_rounded_divide"] = c.correctly_rounded_divide;
  j["rounding_mode_rte"] = c.rounding_mode_rte;
  j["peak_gbps"] = c.peak_gbps ? ordered_json(*c.peak_gbps) : ordered_json();
  j["peak_fp32_gflops"] = c.peak_fp32_gflops ? ordered_json(*c.peak_fp32_gflops) : ordered_json();
  return j;
}

// The variant that would run each operation on `d`: the first accepted, else the reference.
ordered_json selections(const DeviceRef& d) {
  ordered_json out = ordered_json::object();
  for (const auto& op : tessera::named_ops()) {
    auto verdicts = tessera::dispatch::explain(op.name, d, sample_problem(op.name));
    ordered_json pick;
    std::string rejected;
    for (const auto& v : verdicts) {
      if (v.accepted && pick.is_null())
        pick = {{"variant", v.variant->name},
                {"reason", v.reason},
                {"conformance", v.variant->conformance.describe()},
                {"proven_on", v.variant->conformance.proven_on}};
      if (!v.accepted) rejected += fmt::format("{}{}: {}", rejected.empty() ? "" : "; ", v.variant->name, v.reason);
    }
    if (!pick.is_null())
      if (const auto* t = tessera::core::find_tuning(d.backend, op.name, pick["variant"].get<std::string>(),
                                                     tessera::core::tuning_class(d.facts)))
        pick["tuning"] = {{"values", t->values()}, {"row", t->device_class}, {"basis", t->basis}};
    if (pick.is_null())
      pick = {{"variant", "reference"},
              {"reason", fmt::format("no {} variant can run ({}); the CPU reference runs it", d.backend,
                                     rejected.empty() ? "none registered" : rejected)},
              {"conformance", "exact"},
              {"proven_on", "*"}};
    out[std::string(op.name)] = pick;
  }
  return out;
}

ordered_json describe_json(const DeviceRef& probed) {
  // Capabilities as the kernels see them: without those TESSERA_OVERRIDE disables.
  DeviceRef d = probed;
  d.caps = tessera::without_disabled(d.caps, tessera::detail::current_overrides().disabled);
  ordered_json j;
  j["backend"] = d.backend;
  j["index"] = d.index;
  j["name"] = d.facts.name;
  j["vendor_id"] = d.facts.vendor_id;
  j["device_id"] = d.facts.device_id ? ordered_json(*d.facts.device_id) : ordered_json();
  j["device_type"] = d.facts.device_type;
  j["driver"] = d.facts.driver_version;
  j["class"] = tessera::arch_class_name(d.caps.arch);
  j["capabilities"] = capabilities(d);
  // The Vulkan shaders with fp32 arithmetic come in two builds (kernels/common/fp32_rn.glsl);
  // which one runs follows the capability, as host/src/vulkan/device.cpp's fp32_shader() reads it.
  if (d.backend == "vulkan")
    j["fp32_shader_build"] = d.caps.rounding_mode_rte ? ".rte: hardware fp32 add and multiply under RoundingModeRTE"
                                                      : "plain: every fp32 operation in integer arithmetic";
  j["selections"] = selections(d);
  return j;
}

// Per device backend: built or not, how many devices, and when none, why (the reason the error
// of a call asking for that backend carries too).
ordered_json backends_json() {
  ordered_json j;
  for (const char* b : {"opencl", "vulkan"}) {
    int count = 0;
    for (const DeviceRef& d : tessera::dispatch::devices()) count += d.backend == b;
    bool built = tessera::dispatch::backend_built(b);
    std::string why = built ? tessera::dispatch::no_device_reason(b) : "";
    j[b] = {{"built", built},
            {"devices", count},
            {"no_device_reason", why.empty() ? ordered_json() : ordered_json(why)}};
  }
  return j;
}

void print_problems(const ordered_json& out) {
  for (const auto& [b, s] : out["backends"].items()) {
    if (!s["built"].get<bool>())
      fmt::print("{}: not built\n", b);
    else if (!s["no_device_reason"].is_null())
      fmt::print("{}: no device: {}\n", b, s["no_device_reason"].get<std::string>());
  }
  for (const auto& e : out["override_errors"])
    fmt::print("TESSERA_OVERRIDE: ignored {}\n", e.get<std::string>());
}

void print_text(const ordered_json& dev) {
  fmt::print("{} {}: {}\n", dev["backend"].get<std::string>(),
             dev["index"].get<int>() < 0 ? std::string("(described)") : std::to_string(dev["index"].get<int>()),
             dev["name"].get<std::string>());
  fmt::print("  class {}, vendor 0x{:04x}, driver {}\n", dev["class"].get<std::string>(), dev["vendor_id"].get<uint32_t>(),
             dev["driver"].get<std::string>().empty() ? "-" : dev["driver"].get<std::string>());
  std::string caps;
  for (const auto& [k, v] : dev["capabilities"].items())
    if (!v.is_null() && v != false && v != 0) caps += fmt::format(" {}={}", k, v.is_string() ? v.get<std::string>() : v.dump());
  fmt::print("  capabilities:{}\n", caps.empty() ? " -" : caps);
  if (dev.contains("fp32_shader_build"))
    fmt::print("  fp32 shader build {}\n", dev["fp32_shader_build"].get<std::string>());
  for (const auto& [op, s] : dev["selections"].items()) {
    fmt::print("  {:<17} {:<18} {}\n", op, s["variant"].get<std::string>(), s["reason"].get<std::string>());
    if (s.contains("tuning"))
      fmt::print("  {:<17} {:<18} tuned {} (row {}: {})\n", "", "", s["tuning"]["values"].get<std::string>(),
                 s["tuning"]["row"].get<std::string>(), s["tuning"]["basis"].get<std::string>());
  }
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"kinfo: devices, their classes and capabilities, and the variant picked for each operation"};
  bool json = false;
  std::vector<std::string> files;
  app.add_flag("--json", json, "print one JSON object");
  app.add_option("--device-file", files, "describe a device instead of probing (repeatable)");
  std::string shape;
  app.add_option("--shape", shape, "extents to choose for, e.g. M=1,N=4096,K=4096 (default: a 256 x 4096 problem)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "kinfo: %s (see kinfo --help)\n", e.what());
    return 2;
  }

  if (!shape.empty() && !parse_shape(shape)) {
    std::fprintf(stderr, "kinfo: --shape '%s' is not NAME=N[,NAME=N...]\n", shape.c_str());
    return 2;
  }
  try {
    std::vector<DeviceRef> shown;
    shown.push_back(tessera::dispatch::devices().front()); // the CPU reference, always
    if (files.empty()) {
      for (size_t i = 1; i < tessera::dispatch::devices().size(); ++i) shown.push_back(tessera::dispatch::devices()[i]);
    } else {
      for (const std::string& f : files) shown.push_back(tessera::dispatch::describe(tessera::load_device_file(f)));
    }
    ordered_json out;
    out["devices"] = ordered_json::array();
    for (const DeviceRef& d : shown) out["devices"].push_back(describe_json(d));
    out["backends"] = backends_json();
    out["override_errors"] = tessera::detail::environment_override_errors();
    if (json) {
      fmt::print("{}\n", out.dump(2));
    } else {
      for (const auto& d : out["devices"]) print_text(d);
      print_problems(out);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kinfo: %s\n", e.what());
    return 1;
  }
}
