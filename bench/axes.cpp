#include "bench/axes.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>

namespace tessera::bench {

std::string to_string(const AxisValue& v) {
  return std::holds_alternative<int64_t>(v) ? std::to_string(std::get<int64_t>(v))
                                            : std::get<std::string>(v);
}

// ---- BenchShape ---------------------------------------------------------------------------

void BenchShape::set(std::string_view axis, AxisValue value) {
  for (auto& [name, v] : dims_)
    if (name == axis) {
      v = std::move(value);
      return;
    }
  dims_.emplace_back(std::string(axis), std::move(value));
}

const AxisValue* BenchShape::find(std::string_view axis) const {
  for (const auto& [name, v] : dims_)
    if (name == axis) return &v;
  return nullptr;
}

int64_t BenchShape::operator[](std::string_view axis) const {
  const AxisValue* v = find(axis);
  if (!v || !std::holds_alternative<int64_t>(*v))
    throw std::out_of_range(fmt::format("shape has no integer axis '{}'", axis));
  return std::get<int64_t>(*v);
}

const std::string& BenchShape::text(std::string_view axis) const {
  const AxisValue* v = find(axis);
  if (!v || !std::holds_alternative<std::string>(*v))
    throw std::out_of_range(fmt::format("shape has no text axis '{}'", axis));
  return std::get<std::string>(*v);
}

bool BenchShape::has(std::string_view axis) const { return find(axis) != nullptr; }

std::string BenchShape::str() const {
  std::string s;
  for (const auto& [name, v] : dims_)
    s += fmt::format("{}{}={}", s.empty() ? "" : " ", name, to_string(v));
  return s;
}

// ---- parsing ------------------------------------------------------------------------------

namespace {

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  for (size_t pos = 0;;) {
    size_t at = s.find(sep, pos);
    out.emplace_back(
        s.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos));
    if (at == std::string_view::npos) return out;
    pos = at + 1;
  }
}

int64_t parse_int(const std::string& s, std::string_view axis) {
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  // strtoll accepts leading blanks and signs; an axis value is plain digits.
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0])) || end != s.c_str() + s.size() ||
      errno == ERANGE)
    throw AxisError(fmt::format("--axis {}: '{}' is not a non-negative integer", axis, s));
  return v;
}

std::optional<int64_t> power_of_two(const std::string& s, std::string_view axis) {
  if (s.rfind("2^", 0) != 0) return std::nullopt;
  int64_t e = parse_int(s.substr(2), axis);
  if (e > 40) throw AxisError(fmt::format("--axis {}: {} is too large", axis, s));
  return int64_t{1} << e;
}

void check_count(size_t n, std::string_view axis) {
  if (n > kMaxAxisValues)
    throw AxisError(fmt::format("--axis {}: more than {} values", axis, kMaxAxisValues));
}

} // namespace

std::vector<int64_t> parse_int_values(std::string_view axis, std::string_view list) {
  std::vector<int64_t> out;
  for (const std::string& item : split(list, ',')) {
    std::vector<std::string> parts = split(item, ':');
    auto p0 = power_of_two(parts[0], axis);
    if (parts.size() == 1) {
      out.push_back(p0 ? *p0 : parse_int(parts[0], axis));
    } else if (parts.size() == 2 && p0) {
      auto p1 = power_of_two(parts[1], axis);
      if (!p1)
        throw AxisError(fmt::format("--axis {}: '{}' mixes 2^a with a plain bound (write 2^a:2^b)",
                                    axis, item));
      for (int64_t v = *p0; v <= *p1; v *= 2) {
        out.push_back(v);
        check_count(out.size(), axis);
      }
    } else if (parts.size() == 2 || parts.size() == 3) {
      int64_t a = parse_int(parts[0], axis), b = parse_int(parts[1], axis);
      int64_t step = parts.size() == 3 ? parse_int(parts[2], axis) : 1;
      if (step == 0) throw AxisError(fmt::format("--axis {}: step 0 in '{}'", axis, item));
      if (a > b) throw AxisError(fmt::format("--axis {}: empty range '{}'", axis, item));
      for (int64_t v = a; v <= b; v += step) {
        out.push_back(v);
        check_count(out.size(), axis);
      }
    } else {
      throw AxisError(fmt::format("--axis {}: cannot read '{}' (use 1,2,4 or a:b:step or 2^a:2^b)",
                                  axis, item));
    }
    check_count(out.size(), axis);
  }
  return out;
}

std::vector<std::string> parse_text_values(std::string_view axis, std::string_view list,
                                           const std::vector<std::string>& choices) {
  std::vector<std::string> out;
  for (const std::string& item : split(list, ',')) {
    if (item == "all") {
      for (const std::string& c : choices)
        if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
      continue;
    }
    if (std::find(choices.begin(), choices.end(), item) == choices.end())
      throw AxisError(fmt::format("--axis {}: '{}' is not one of {} (or all)", axis, item,
                                  fmt::join(choices, ", ")));
    if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
  }
  return out;
}

AxisValues parse_axis_values(const Axis& axis, std::string_view list) {
  AxisValues out;
  if (axis.is_text())
    for (std::string& s : parse_text_values(axis.name, list, axis.choices))
      out.emplace_back(std::move(s));
  else
    for (int64_t v : parse_int_values(axis.name, list))
      out.emplace_back(v);
  return out;
}

std::pair<std::string, std::string> split_axis_arg(std::string_view arg) {
  size_t eq = arg.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == arg.size())
    throw AxisError(fmt::format("--axis '{}' is not NAME=V1,V2,...", arg));
  return {std::string(arg.substr(0, eq)), std::string(arg.substr(eq + 1))};
}

std::vector<std::vector<AxisValue>> cartesian(const std::vector<AxisValues>& values) {
  std::vector<std::vector<AxisValue>> out;
  for (const AxisValues& v : values)
    if (v.empty()) return out;
  std::vector<size_t> idx(values.size(), 0);
  for (;;) {
    std::vector<AxisValue> point;
    for (size_t i = 0; i < values.size(); ++i)
      point.push_back(values[i][idx[i]]);
    out.push_back(std::move(point));
    size_t i = values.size();
    while (i-- > 0) {
      if (++idx[i] < values[i].size()) break;
      idx[i] = 0;
    }
    if (i == static_cast<size_t>(-1)) return out; // every axis wrapped: done
  }
}

} // namespace tessera::bench
