// What kbench measures: one descriptor per operation (axes, how to make inputs, counted flops,
// the fewest bytes it must move) and the presets that name real model shapes. Adding an
// operation to kbench is adding one BenchOp to cases.cpp (and, if it should be swept, a few
// lines in presets.cpp); nothing else in bench/ knows op names.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bench/axes.h"
#include "tessera/named_ops.h"

namespace tessera::bench {

// The named inputs and parameters of one run_named_op call.
struct BenchInputs {
  TensorMap tensors;
  ParamMap params;
  // Inputs the call reads on the host, kept in host memory when the row is resident (bench/
  // resident.h): gemm_nvfp4's B and its scales under a b_layout, which the by-name call packs.
  std::set<std::string, std::less<>> on_host;
};

// The problem a BLAS GEMM baseline solves for a GEMM case: C[M, N] = A[M, K] B[N, K]^T.
struct GemmDims {
  int64_t M = 0, N = 0, K = 0;
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
  // For GEMMs, the M, N, K that BLAS baselines (CLBlast, cuBLAS) run at; empty otherwise.
  std::function<std::optional<GemmDims>(const BenchShape&)> gemm;
};

const std::vector<BenchOp>& bench_ops();
const BenchOp* find_bench_op(std::string_view name);

// A preset is a list of sweeps; each sweep gives some axes of one op a list of values (the rest
// take the op's defaults) and runs their cartesian product. Several sweeps of one op are how
// shapes that only make sense together (GEMM N and K of one projection) stay together.
struct Sweep {
  std::string op;
  std::string what; // the projection or phase it models, for --list
  std::map<std::string, AxisValues, std::less<>> axes;
};

struct Preset {
  std::string name;
  std::string what;
  std::vector<Sweep> sweeps;
};

const std::vector<Preset>& presets();
const Preset* find_preset(std::string_view name);

// ---- planning: presets and --axis overrides into cases ------------------------------------

struct Case {
  const BenchOp* op = nullptr;
  BenchShape shape;
};

struct Skipped {
  std::string op, shape, why;
};

struct CasePlan {
  std::vector<Case> cases;
  std::vector<Skipped> skipped; // invalid combinations, each once
};

// --axis NAME=VALUES as given, parsed against each operation's own axis (a text axis such as
// `recipe` has different words for different operations).
using AxisOverrides = std::map<std::string, std::string, std::less<>>;

// The cases of `ops`: each of the preset's sweeps of an op (or the op's defaults when the preset
// has none), with an override replacing an axis's values, as a cartesian product; invalid and
// repeated shapes are left out, the invalid ones listed in `skipped`. Of an override's words,
// each op takes those that are choices of its axis (an op that can take none of them is
// skipped, and says so); a word no selected op knows, or an axis none of them has, throws
// AxisError.
CasePlan plan_cases(const std::vector<const BenchOp*>& ops, const Preset& preset,
                    const AxisOverrides& overrides);

} // namespace tessera::bench
