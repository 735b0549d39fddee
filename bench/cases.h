// What kbench measures: one descriptor per operation (axes, how to make inputs, counted flops,
// the fewest bytes it must move) and the presets that name real model shapes. Adding an
// operation to kbench is adding one BenchOp to cases.cpp; nothing else in bench/ knows op names.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/named_ops.h"

namespace tessera::bench {

// One point of a sweep: axis name -> value, in the order the operation declares its axes (the
// order the table prints them in).
class BenchShape {
public:
  void set(std::string_view axis, int64_t value);
  int64_t operator[](std::string_view axis) const; // throws std::out_of_range for unknown axes
  bool has(std::string_view axis) const;
  const std::vector<std::pair<std::string, int64_t>>& dims() const { return dims_; }
  std::string str() const; // "M=1 N=512 K=2048"
  bool operator==(const BenchShape&) const = default;

private:
  std::vector<std::pair<std::string, int64_t>> dims_;
};

struct Axis {
  std::string name;
  int64_t def; // the value when neither the preset nor --axis names this axis
  std::string help;
};

// The named inputs and parameters of one run_named_op call.
struct BenchInputs {
  TensorMap tensors;
  ParamMap params;
};

struct BenchOp {
  std::string name; // run_named_op's name for it
  std::vector<Axis> axes;
  // Fills axes that are defined by others (attention's S = 0 means S = T); may be empty.
  std::function<void(BenchShape&)> resolve;
  // Empty when the shape is valid, else why it is skipped ("HV must be a multiple of H").
  std::function<std::string(const BenchShape&)> check;
  // Fresh inputs for one shape: seeded, so a rerun measures the same data; never all zeros.
  std::function<BenchInputs(const BenchShape&, uint32_t seed)> make;
  // Floating-point operations the algorithm counts; nullopt for data movement (convert, ...).
  std::function<std::optional<double>(const BenchShape&)> flops;
  // The fewest bytes the operation must move: every input read once, every output written once.
  std::function<double(const BenchShape&)> min_bytes;
};

const std::vector<BenchOp>& bench_ops();
const BenchOp* find_bench_op(std::string_view name);

// A preset is a list of sweeps; each sweep gives some axes of one op a list of values (the rest
// take the op's defaults) and runs their cartesian product. Several sweeps of one op are how
// shapes that only make sense together (GEMM N and K of one projection) stay together.
struct Sweep {
  std::string op;
  std::string what; // the projection or phase it models, for --list
  std::map<std::string, std::vector<int64_t>, std::less<>> axes;
};

struct Preset {
  std::string name;
  std::string what;
  std::vector<Sweep> sweeps;
};

const std::vector<Preset>& presets();
const Preset* find_preset(std::string_view name);

} // namespace tessera::bench
