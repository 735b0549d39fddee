// plan_cases: presets and --axis overrides into the list of cases (cases.h).
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "bench/cases.h"

namespace tessera::bench {

namespace {

std::vector<std::string> items(const std::string& list) {
  std::vector<std::string> out;
  for (size_t pos = 0;;) {
    size_t comma = list.find(',', pos);
    out.push_back(list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (comma == std::string::npos) return out;
    pos = comma + 1;
  }
}

// An override's values as one op's axis reads them. For a text axis only the words that are
// its choices; `known` collects every word some op accepted, to catch typos afterwards.
AxisValues override_for(const Axis& axis, const std::string& list, std::set<std::string>& known) {
  if (!axis.is_text()) return parse_axis_values(axis, list);
  AxisValues out;
  for (const std::string& item : items(list)) {
    if (item != "all" &&
        std::find(axis.choices.begin(), axis.choices.end(), item) == axis.choices.end())
      continue;
    known.insert(item);
    for (const std::string& w : parse_text_values(axis.name, item, axis.choices))
      if (std::find(out.begin(), out.end(), AxisValue(w)) == out.end()) out.emplace_back(w);
  }
  return out;
}

} // namespace

CasePlan plan_cases(const std::vector<const BenchOp*>& ops, const Preset& preset,
                    const AxisOverrides& overrides) {
  CasePlan plan;
  std::set<std::string> used_axes, text_axes, known_words;

  for (const BenchOp* op : ops) {
    // The override values of each of this op's axes, or nothing when it has no override.
    std::map<std::string, AxisValues, std::less<>> ov;
    std::string unusable;
    for (const Axis& a : op->axes) {
      auto it = overrides.find(a.name);
      if (it == overrides.end()) continue;
      used_axes.insert(a.name);
      if (a.is_text()) text_axes.insert(a.name);
      ov[a.name] = override_for(a, it->second, known_words);
      if (ov[a.name].empty())
        unusable = fmt::format("no value of --axis {}={} is one of its choices ({})", a.name,
                               it->second, fmt::join(a.choices, ", "));
    }
    if (!unusable.empty()) {
      plan.skipped.push_back({op->name, "", unusable});
      continue;
    }

    std::vector<Sweep> sweeps;
    for (const Sweep& s : preset.sweeps)
      if (s.op == op->name) sweeps.push_back(s);
    if (sweeps.empty()) sweeps.push_back({op->name, "defaults", {}});

    std::set<std::string> seen, skipped;
    for (const Sweep& sweep : sweeps) {
      std::vector<AxisValues> values;
      for (const Axis& a : op->axes) {
        auto o = ov.find(a.name);
        auto s = sweep.axes.find(a.name);
        values.push_back(o != ov.end()           ? o->second
                         : s != sweep.axes.end() ? s->second
                                                 : AxisValues{a.def});
      }
      for (const std::vector<AxisValue>& point : cartesian(values)) {
        BenchShape shape;
        for (size_t i = 0; i < point.size(); ++i)
          shape.set(op->axes[i].name, point[i]);
        if (op->resolve) op->resolve(shape);
        std::string why;
        for (const auto& [name, v] : shape.dims())
          if (why.empty() && std::holds_alternative<int64_t>(v) && std::get<int64_t>(v) < 1)
            why = name + " must be at least 1";
        if (why.empty()) why = op->check(shape);
        std::string key = shape.str();
        if (!why.empty()) {
          if (skipped.insert(key).second) plan.skipped.push_back({op->name, key, why});
        } else if (seen.insert(key).second) {
          plan.cases.push_back({op, std::move(shape)});
        }
      }
    }
  }

  for (const auto& [name, list] : overrides) {
    if (!used_axes.count(name))
      throw AxisError(fmt::format("--axis {}: no selected operation has an axis '{}'", name, name));
    // Every word must mean something to at least one op: a typo should not silently skip ops.
    if (text_axes.count(name))
      for (const std::string& item : items(list))
        if (item != "all" && !known_words.count(item))
          throw AxisError(
              fmt::format("--axis {}: '{}' is a choice of no selected operation", name, item));
  }
  return plan;
}

} // namespace tessera::bench
