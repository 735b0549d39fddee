#include "registry.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <tuple>

#include "core/backend.h"
#include "core/error.h"
#include "core/overrides.h"

namespace tessera::dispatch {

using detail::fail;

const std::vector<Variant>& variants() {
  static const std::vector<Variant> all = [] {
    std::vector<Variant> v;
    for (auto* table : {detail::opencl::variants, detail::vulkan::variants, detail::cpu::variants})
      for (Variant& x : table()) v.push_back(std::move(x));
    return v;
  }();
  return all;
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
  d.caps = without_disabled(d.caps, ov.disabled);
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

// The call's numeric contract: its own, else TESSERA_OVERRIDE's; the flags of either.
struct Policy {
  Numerics numerics;
  double max_bound;
  bool strict, unproven;
};

Policy policy_of(std::string_view op, const RunOptions& options, const Overrides& ov) {
  const NumericsPolicy &call = options.policy, &env = ov.policy;
  if (call.numerics == Numerics::Bounded && !(call.max_bound > 0.0 && std::isfinite(call.max_bound)))
    fail(ErrorCode::InvalidArgument, "{}: numerics Bounded needs a max_bound > 0, not {}", op, call.max_bound);
  bool own = call.numerics != Numerics::Any;
  return {own ? call.numerics : env.numerics, own ? call.max_bound : env.max_bound, call.strict || env.strict,
          call.unproven || env.unproven};
}

// Why the policy refuses v's conformance class, or "".
std::string refused_by(const Policy& pol, const Variant& v) {
  const Conformance& c = v.conformance;
  if (c.exact || pol.numerics == Numerics::Any) return "";
  if (pol.numerics == Numerics::Exact) return fmt::format("{}: the call accepts exact variants only (numerics=exact)", c.describe());
  if (c.nominal_bound() > pol.max_bound)
    return fmt::format("{}: looser than the call's numerics=bounded:{:g}", c.describe(), pol.max_bound);
  return "";
}

// The walking order on a device of class `cls`: by priority, except that unless the policy says
// `unproven`, variants that have passed conformance on that class come first, and the unproven
// ones follow strictest contract first (exact, then the smallest bound), then by priority. Why:
// a default must not trade the numbers a user has seen verified for a kernel never checked on
// their hardware; a caller who wants the untried fast path asks for it.
std::vector<const Variant*> ranked(std::vector<const Variant*> vs, std::string_view cls, const Policy& pol) {
  if (pol.unproven) return vs;
  auto key = [&](const Variant* v) {
    bool proven = v->conformance.proven(cls);
    return std::tuple(!proven, proven ? 0 : !v->conformance.exact, proven ? 0.0 : v->conformance.nominal_bound());
  };
  std::stable_sort(vs.begin(), vs.end(), [&](const Variant* a, const Variant* b) { return key(a) < key(b); });
  return vs;
}

} // namespace

std::vector<Verdict> explain(std::string_view op, const DeviceRef& device, const Problem& p,
                             const RunOptions& options) {
  Overrides ov = detail::current_overrides();
  DeviceRef d = without_disabled_caps(device, ov);
  const Policy pol = policy_of(op, options, ov);
  const std::string_view cls = arch_class_name(d.caps.arch);
  std::string forced = forced_variant(op, d.backend, options, ov);
  std::vector<Verdict> out;
  const Variant* chosen = nullptr;
  for (const Variant* v : ranked(variants_on(op, d.backend), cls, pol)) {
    std::string why;
    if (!backend_built(v->backend))
      why = fmt::format("the {} backend is not built", v->backend);
    else if (ov.disabled.count(fmt::format("{}:{}:{}", v->backend, v->op, v->name)) || ov.disabled.count(fmt::format("{}:{}", v->op, v->name)))
      why = "disabled by override";
    else if (std::string f = failed_reason(device, *v); !f.empty())
      why = "failed on this device: " + f;
    else if (std::string r = v->requirements(*v, d, p); !r.empty())
      why = r;
    else if (std::string r = refused_by(pol, *v); !r.empty())
      why = r;
    else if (!forced.empty() && forced != v->name)
      why = fmt::format("not the forced variant '{}'", forced);
    if (!why.empty()) {
      out.push_back({v, false, why});
      continue;
    }
    const bool proven = v->conformance.proven(cls);
    std::string reason;
    if (!forced.empty())
      reason = "forced by the caller or an override";
    else if (v->backend == "cpu")
      reason = "the CPU reference";
    else if (chosen && !proven && chosen->conformance.proven(cls))
      reason = fmt::format("can run, but has not passed conformance on {} ({}); proven variants come first "
                           "(unproven=1 ranks by priority)", cls, v->conformance.describe());
    else if (chosen)
      reason = "can run; a higher-ranked variant comes first";
    else if (!proven && !pol.unproven)
      reason = fmt::format("no variant proven on {} can run; the strictest unproven one ({}, not yet "
                           "conformance-checked on {})", cls, v->conformance.describe(), cls);
    else
      reason = fmt::format("highest-priority variant whose requirements hold ({}{})", v->conformance.describe(),
                           proven ? "" : fmt::format("; not yet conformance-checked on {}", cls));
    out.push_back({v, true, reason});
    if (!chosen) chosen = v;
  }
  return out;
}

RunInfo Choice::info() const {
  RunInfo i;
  i.backend = device->backend;
  i.device = device->label();
  i.variant = std::string(variant->name);
  i.reason = reason;
  return i;
}

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
  if (policy_of(op, options, ov).strict)
    fail(ErrorCode::Unsupported, "{}: no {} variant can run on {} ({}); strict: not falling back to the CPU reference",
         op, backend, device->label(), why.empty() ? "none registered" : why);
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
