#include "registry.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>

#include "core/backend.h"
#include "core/error.h"
#include "core/overrides.h"

namespace tessera::dispatch {

using detail::fail;

std::string Conformance::describe() const {
  if (exact) return "exact";
  if (attention)
    return fmt::format("bounded (attention error bound of numerics.md, error/bound <= {:g}, {})", bound,
                       operand_u > 0 ? fmt::format("operands rounded to u = {:g}", operand_u) : "fp32 operands");
  return fmt::format("bounded (rel L2 <= {:g})", bound);
}

int64_t Problem::dim(std::string_view name, int64_t fallback) const {
  auto it = dims.find(name);
  return it == dims.end() ? fallback : it->second;
}

int64_t Problem::elements() const {
  int64_t rows = dim("rows", 1), cols = dim("cols", 1), n = dim("elements", 0);
  return std::max(n, rows * cols);
}

std::string DeviceRef::label() const {
  return index < 0 ? fmt::format("{} (described: {})", backend, facts.name)
                   : fmt::format("{}:{} ({})", backend, index, facts.name);
}

bool backend_built(std::string_view backend) {
  if (backend == "cpu") return true;
  if (backend == "opencl") return detail::opencl::built();
  if (backend == "vulkan") return detail::vulkan::built();
  return false;
}

std::string no_device_reason(std::string_view backend) {
  if (backend == "opencl") return detail::opencl::no_device_reason();
  if (backend == "vulkan") return detail::vulkan::no_device_reason();
  return "";
}

DeviceRef describe(const DeviceFacts& facts) { return DeviceRef{facts.backend, -1, facts, classify(facts)}; }

const std::vector<DeviceRef>& devices() {
  static const std::vector<DeviceRef> list = [] {
    std::vector<DeviceRef> v;
    DeviceFacts cpu;
    cpu.backend = "cpu";
    cpu.name = "CPU reference";
    cpu.device_type = "cpu";
    v.push_back(DeviceRef{"cpu", 0, cpu, classify(cpu)});
    int i = 0;
    for (const DeviceFacts& f : detail::opencl::devices()) v.push_back(DeviceRef{"opencl", i++, f, classify(f)});
    i = 0;
    for (const DeviceFacts& f : detail::vulkan::devices()) v.push_back(DeviceRef{"vulkan", i++, f, classify(f)});
    return v;
  }();
  return list;
}

namespace {

std::mutex g_failed_mutex;
std::map<std::string, std::string> g_failed; // "backend:index:op:name" -> reason

std::string failure_key(const DeviceRef& d, const Variant& v) {
  return fmt::format("{}:{}:{}:{}", d.backend, d.index, v.op, v.name);
}

std::string failed_reason(const DeviceRef& d, const Variant& v) {
  std::lock_guard lock(g_failed_mutex);
  auto it = g_failed.find(failure_key(d, v));
  return it == g_failed.end() ? "" : it->second;
}

// A capability is used only when it was built, the device has it, and the user has not
// disabled it: the last condition is applied here, once, for every requirement function.
DeviceRef without_disabled_caps(DeviceRef d, const Overrides& ov) {
  auto off = [&](const char* cap) { return ov.disabled.count(std::string("cap:") + cap) > 0; };
  Capabilities& c = d.caps;
  if (off("fp16")) c.fp16 = false;
  if (off("fp64")) c.fp64 = false;
  if (off("subgroups")) c.subgroups = false;
  if (off("nv_cooperative_matrix")) c.nv_cooperative_matrix = false;
  if (off("nv_inline_ptx")) c.nv_inline_ptx = false;
  if (off("correctly_rounded_divide")) c.correctly_rounded_divide = false;
  return d;
}

// The variant name forced for `op` on `backend`: the call's, else an override's that exists there.
std::string forced_variant(std::string_view op, std::string_view backend, const RunOptions& options,
                           const Overrides& ov) {
  if (!options.variant.empty()) return options.variant;
  auto it = ov.variants.find(std::string(op));
  if (it == ov.variants.end()) return "";
  for (const Variant& v : variants())
    if (v.op == op && v.backend == backend && v.name == it->second) return it->second;
  return "";
}

std::vector<const Variant*> variants_on(std::string_view op, std::string_view backend) {
  std::vector<const Variant*> out;
  for (const Variant& v : variants())
    if (v.op == op && v.backend == backend) out.push_back(&v);
  std::stable_sort(out.begin(), out.end(), [](const Variant* a, const Variant* b) { return a->priority > b->priority; });
  return out;
}

} // namespace

std::vector<Verdict> explain(std::string_view op, const DeviceRef& device, const Problem& p,
                             const RunOptions& options) {
  Overrides ov = detail::current_overrides();
  DeviceRef d = without_disabled_caps(device, ov);
  std::string forced = forced_variant(op, d.backend, options, ov);
  std::vector<Verdict> out;
  bool chosen = false;
  for (const Variant* v : variants_on(op, d.backend)) {
    std::string why;
    if (!backend_built(v->backend))
      why = fmt::format("the {} backend is not built", v->backend);
    else if (ov.disabled.count(fmt::format("{}:{}:{}", v->backend, v->op, v->name)) || ov.disabled.count(fmt::format("{}:{}", v->op, v->name)))
      why = "disabled by override";
    else if (std::string f = failed_reason(device, *v); !f.empty())
      why = "failed on this device: " + f;
    else if (std::string r = v->requirements(d, p); !r.empty())
      why = r;
    else if (!forced.empty() && forced != v->name)
      why = fmt::format("not the forced variant '{}'", forced);
    if (!why.empty()) {
      out.push_back({v, false, why});
      continue;
    }
    std::string reason = !forced.empty() ? "forced by the caller or an override"
                         : chosen         ? "can run; a higher-priority variant comes first"
                         : v->backend == "cpu"
                             ? "the CPU reference"
                             : fmt::format("highest-priority variant whose requirements hold ({})", v->conformance.describe());
    out.push_back({v, true, reason});
    chosen = true;
  }
  return out;
}

RunInfo Choice::info() const { return RunInfo{device->backend, device->label(), std::string(variant->name), reason}; }

Choice select(std::string_view op, const Problem& p, const RunOptions& options) {
  Overrides ov = detail::current_overrides();
  std::string backend = !options.backend.empty() ? options.backend : !ov.backend.empty() ? ov.backend : "cpu";
  if (backend != "cpu" && backend != "opencl" && backend != "vulkan")
    fail(ErrorCode::InvalidArgument, "{}: unknown backend '{}' (known: cpu, opencl, vulkan)", op, backend);
  if (!backend_built(backend))
    fail(ErrorCode::Unsupported, "{}: backend '{}' is not available in this build", op, backend);
  const DeviceRef* device = nullptr;
  int count = 0;
  for (const DeviceRef& d : devices())
    if (d.backend == backend) {
      if (d.index == options.device) device = &d;
      ++count;
    }
  if (!device) {
    if (backend == "cpu") fail(ErrorCode::Unsupported, "{}: backend cpu has one device (0), not device {}", op, options.device);
    if (count == 0) fail(ErrorCode::Unsupported, "{}: no {} device {} (none found: {})", op, backend, options.device, no_device_reason(backend));
    fail(ErrorCode::Unsupported, "{}: no {} device {} ({} found)", op, backend, options.device, count);
  }

  std::vector<Verdict> verdicts = explain(op, *device, p, options);
  for (const Verdict& v : verdicts)
    if (v.accepted) return Choice{v.variant, device, v.reason};

  std::string forced = forced_variant(op, backend, options, ov);
  if (!forced.empty()) {
    for (const Verdict& v : verdicts)
      if (v.variant->name == forced)
        fail(ErrorCode::Unsupported, "{}: variant '{}' cannot run on {}: {}", op, forced, device->label(), v.reason);
    std::string known;
    for (const Verdict& v : verdicts) known += (known.empty() ? "" : ", ") + std::string(v.variant->name);
    fail(ErrorCode::Unsupported, "{}: no variant '{}' on backend {} (known: {})", op, forced, backend,
         known.empty() ? "none" : known);
  }
  std::string why;
  for (const Verdict& v : verdicts) why += fmt::format("{}{}: {}", why.empty() ? "" : "; ", v.variant->name, v.reason);
  const Variant* reference = variants_on(op, "cpu").front();
  return Choice{reference, &devices().front(),
                fmt::format("no {} variant of {} can run on {} ({}); fell back to the CPU reference", backend, op,
                            device->label(), why.empty() ? "none registered" : why)};
}

RunInfo select(std::string_view op, const RunOptions& options) { return select(op, Problem{op, {}}, options).info(); }

void disable(const DeviceRef& d, const Variant& v, const std::string& reason) {
  std::lock_guard lock(g_failed_mutex);
  if (g_failed.emplace(failure_key(d, v), reason).second)
    std::fprintf(stderr, "tessera: disabled %s %s on %s: %s\n", std::string(v.op).c_str(), std::string(v.name).c_str(),
                 d.label().c_str(), reason.c_str());
}

} // namespace tessera::dispatch
