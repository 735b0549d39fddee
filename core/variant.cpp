#include "core/variant.h"

#include <fmt/format.h>

#include <algorithm>

namespace tessera::core {

std::string Conformance::describe() const {
  if (exact) return "exact";
  if (attention())
    return fmt::format("bounded (attention error bound of numerics.md, error/bound <= {:g}, {})", bound,
                       operand_u > 0 ? fmt::format("operands rounded to u = {:g}", operand_u) : "fp32 operands");
  if (deltanet())
    return fmt::format("bounded (DeltaNet error bound of numerics.md, {} order, error/bound <= {:g})",
                       mixed == MixedBound::DeltaNetChunked ? "chunked" : "recurrent", bound);
  return fmt::format("bounded (rel L2 <= {:g})", bound);
}

std::string_view list_item(std::string_view list, size_t i) {
  for (; i > 0; --i) {
    const size_t comma = list.find(',');
    if (comma == std::string_view::npos) return {};
    list.remove_prefix(comma + 1);
  }
  std::string_view item = list.substr(0, list.find(','));
  while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
  while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
  return item;
}

bool list_has(std::string_view list, std::string_view item) {
  const auto n = static_cast<size_t>(std::count(list.begin(), list.end(), ',')) + 1;
  for (size_t i = 0; i < n; ++i)
    if (list_item(list, i) == item) return true;
  return false;
}

bool Conformance::proven(std::string_view device_class) const {
  return list_has(proven_on, "*") || list_has(proven_on, device_class);
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

std::string check_shape_limits(const Variant& v, const Problem& p) {
  const Limits& l = v.manifest.limits;
  // A problem that does not name an extent (kbench's shape-free query) is not refused on it.
  auto has = [&](std::string_view k) { return p.dims.count(k) > 0; };
  const int64_t m = p.dim("M"), t = p.dim("T"), dd = p.dim("D"), dk = p.dim("Dk"), dv = p.dim("Dv");
  if (l.max_d && dd > l.max_d)
    return fmt::format("D = {} > {}: {} holds a head of at most {}", dd, l.max_d, v.name, l.max_d);
  if (l.max_dk && dk > l.max_dk)
    return fmt::format("Dk = {} > {}: {} holds at most {} state rows per column", dk, l.max_dk, v.name, l.max_dk);
  if (l.max_dv && dv > l.max_dv)
    return fmt::format("Dv = {} > {}: {} holds at most {} state columns", dv, l.max_dv, v.name, l.max_dv);
  if (l.max_m && m > l.max_m)
    return fmt::format("M = {} > {}: {} is for decode, at most {} rows of A", m, l.max_m, v.name, l.max_m);
  if (l.min_m && has("M") && m < l.min_m)
    return fmt::format("M = {} < {}: decode shapes are memory-bound and go to the gemv (exact, same bandwidth)", m,
                       l.min_m);
  if (l.max_t && t > l.max_t)
    return fmt::format("T = {} > {}: {} is for decode, 1 to {} new tokens", t, l.max_t, v.name, l.max_t);
  if (l.min_t && has("T") && t < l.min_t)
    return fmt::format("T = {} < {}: decode (at most {} new tokens) goes to the decode variant", t, l.min_t,
                       l.min_t - 1);
  if (l.d_multiple && dd % l.d_multiple != 0)
    return fmt::format("D = {} is not a multiple of {} ({}'s matrix steps)", dd, l.d_multiple, v.name);
  if (l.index32 && p.elements() >= (int64_t{1} << 31)) return "more than 2^31 elements (32-bit index math)";
  return "";
}

std::string check_device_limits(const Variant& v, const DeviceRef& d) {
  const Limits& l = v.manifest.limits;
  if (l.workgroup && d.facts.max_workgroup_size > 0 && d.facts.max_workgroup_size < l.workgroup)
    return fmt::format("work-groups of {} needed, device takes {}", l.workgroup, d.facts.max_workgroup_size);
  if (l.local_bytes && d.facts.local_memory_bytes > 0 && d.facts.local_memory_bytes < l.local_bytes)
    return fmt::format("device has {} bytes of shared memory; {} needs {}", d.facts.local_memory_bytes, v.name,
                       l.local_bytes);
  return "";
}

std::string check_limits(const Variant& v, const DeviceRef& d, const Problem& p) {
  std::string r = check_shape_limits(v, p);
  return r.empty() ? check_device_limits(v, d) : r;
}

std::string limits_only(const Variant& v, const DeviceRef& d, const Problem& p) { return check_limits(v, d, p); }

} // namespace tessera::core
