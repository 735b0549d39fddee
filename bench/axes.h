// Axes of a benchmark: integer axes (M, N, K, tokens, heads) and text axes (dtype, recipe,
// output type), the values a sweep gives them, and the shapes they make. Everything here is a
// pure function of its arguments, so the tests check parsing and products without timing.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tessera::bench {

// One value of one axis: an integer, or a word from the axis's list of choices.
using AxisValue = std::variant<int64_t, std::string>;
using AxisValues = std::vector<AxisValue>;
std::string to_string(const AxisValue& v);

// A malformed --axis value or an axis no selected operation has: a command-line error.
struct AxisError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct Axis {
  std::string name;
  AxisValue def; // the value when neither the preset nor --axis names it
  std::string help;
  std::vector<std::string> choices; // a text axis's allowed words; empty for integer axes
  bool is_text() const { return std::holds_alternative<std::string>(def); }
};

// One point of a sweep: axis name -> value, in the order the operation declares its axes (the
// order the table prints them in).
class BenchShape {
public:
  void set(std::string_view axis, AxisValue value);
  // An integer axis's value; throws std::out_of_range for an unknown or a text axis.
  int64_t operator[](std::string_view axis) const;
  // A text axis's value; throws std::out_of_range for an unknown or an integer axis.
  const std::string& text(std::string_view axis) const;
  bool has(std::string_view axis) const;
  const std::vector<std::pair<std::string, AxisValue>>& dims() const { return dims_; }
  std::string str() const; // "M=1 N=512 K=2048 out=bf16"
  bool operator==(const BenchShape&) const = default;

private:
  const AxisValue* find(std::string_view axis) const;
  std::vector<std::pair<std::string, AxisValue>> dims_;
};

// At most this many values per axis: a typo like 1:1000000 should fail, not run for a week.
constexpr size_t kMaxAxisValues = 4096;

// "1,4,16", inclusive ranges "a:b" and "a:b:step", powers of two "2^a:2^b" and "2^a", mixed in
// one comma list. Non-negative integers only. Throws AxisError naming `axis`.
std::vector<int64_t> parse_int_values(std::string_view axis, std::string_view list);
// "bf16,e4m3" checked against `choices`; "all" stands for every choice. Throws AxisError.
std::vector<std::string> parse_text_values(std::string_view axis, std::string_view list,
                                           const std::vector<std::string>& choices);
// Either of the above, by the kind of `axis`.
AxisValues parse_axis_values(const Axis& axis, std::string_view list);
// "NAME=VALUES" -> {NAME, VALUES}; throws AxisError when there is no name or no '='.
std::pair<std::string, std::string> split_axis_arg(std::string_view arg);

// Every combination of one value per axis, the last axis varying fastest (an odometer); empty
// when any axis has no values.
std::vector<std::vector<AxisValue>> cartesian(const std::vector<AxisValues>& values);

} // namespace tessera::bench
