// Runs one kernel variant through its record's launch function, bypassing selection: for tests
// that target a kernel whatever the registry would pick (a shape it refuses by a threshold only,
// the portable branch of a tensor-core kernel on PoCL, a backend's own error paths).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "dispatch/registry.h"

namespace tessera::test {

// The record of `backend` named `name` with a launch function for Args, or null. Names repeat
// across operations ("elementwise", "nv_mma_f16"); the argument struct tells them apart.
template <class Args>
const core::Variant* find_record(std::string_view backend, std::string_view name) {
  for (const core::Variant& v : dispatch::variants())
    if (v.backend == backend && v.name == name && v.template launcher<Args>()) return &v;
  return nullptr;
}

template <class Args>
void launch_variant(std::string_view backend, int device, std::string_view name, const Args& a) {
  const core::Variant* v = find_record<Args>(backend, name);
  if (!v) throw std::logic_error("no " + std::string(backend) + " record '" + std::string(name) + "' for these arguments");
  v->template launcher<Args>()(device, *v, a);
}

template <class Args>
void launch_opencl(int device, std::string_view name, const Args& a) {
  launch_variant("opencl", device, name, a);
}

template <class Args>
void launch_vulkan(int device, std::string_view name, const Args& a) {
  launch_variant("vulkan", device, name, a);
}

// What record op/backend/name's requirement says of device d for problem p ("" when it can run).
inline std::string requirement(std::string_view op, std::string_view backend, std::string_view name,
                               const dispatch::DeviceRef& d, const dispatch::Problem& p) {
  for (const auto& v : dispatch::variants())
    if (v.op == op && v.backend == backend && v.name == name) return v.requirements(v, d, p);
  return "no variant " + std::string(name);
}

// The tensor-core variants have not passed conformance on NVIDIA hardware, so by default the
// registry ranks them below the exact ones (test_numerics_policy.cpp); tests of their own
// selection rules opt in with these options.
inline RunOptions opt_in_unproven() {
  RunOptions o;
  o.policy.unproven = true;
  return o;
}

// What the registry says of problem p on the device `file` describes (tests/devices/), with the
// unproven variants opted in: the variant selection would take (the first accepted verdict of
// `backend`'s, any backend when empty) and its verdict on the variant `name` of `backend`.
struct Picked {
  std::string chosen;
  bool accepted = false;
  std::string reason;
};
inline Picked pick(const dispatch::DeviceRef& d, const dispatch::Problem& p, std::string_view name,
                   std::string_view backend = {}) {
  Picked out;
  for (const auto& v : dispatch::explain(p.op, d, p, opt_in_unproven())) {
    if (!backend.empty() && v.variant->backend != backend) continue;
    if (v.accepted && out.chosen.empty()) out.chosen = std::string(v.variant->name);
    if (v.variant->name == name) {
      out.accepted = v.accepted;
      out.reason = v.reason;
    }
  }
  return out;
}

} // namespace tessera::test
