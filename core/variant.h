// The variant record: everything the registry, the launchers, kinfo and the tests know of one
// kernel variant, in one place. Each device backend lists its records beside its launchers
// (host/src/opencl/variants.cpp, host/src/vulkan/variants.cpp; the CPU reference in
// host/src/cpu_backend.cpp); dispatch/registry.* walks them.
//
// The manifest holds the numbers a kernel is written for (how many rows a decode kernel keeps in
// registers, the largest head it tiles, the work-group and shared memory it needs). The record's
// requirement function reads its limits from there, and its launch function receives the record,
// so the launcher builds the kernel with the same numbers: each is written once.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/device.h"
#include "core/op_args.h"

namespace tessera::core {

// exact: equal bytes to the reference. bounded: relative L2 error at most `bound`; or, with a
// mixed bound (`mixed`), every element of the outputs within the elementwise error bound of
// docs/numerics.md that it names: the largest error / bound ratio at most `bound` (1: the derived
// bound itself). Attention: "Attention error bound" (tests/conformance/attention_bound.h), whose
// only per-variant input is `operand_u`, the unit roundoff of the format q, k, v and p are
// rounded to (0: fp32). DeltaNet: "DeltaNet error bound" (tests/conformance/deltanet_bound.h), in
// the operation order of the recurrent kernel or of the chunked (WY) one.
enum class MixedBound : uint8_t { None, Attention, DeltaNetRecurrent, DeltaNetChunked };

struct Conformance {
  bool exact = true;
  double bound = 0.0;
  // The device classes (arch_class_name, core/device.h) on which the variant has passed the
  // whole conformance suite, comma-separated; "*" for the CPU reference, the definition. "cpu"
  // means PoCL and lavapipe, where `make test` runs every variant's cases on every build. A
  // variant that has not run anywhere yet (the NVIDIA tensor-core ones) has "". The registry
  // ranks a variant unproven on the device's class below the proven ones (RunOptions).
  std::string_view proven_on = "cpu";
  MixedBound mixed = MixedBound::None;
  double operand_u = 0.0;
  bool proven(std::string_view device_class) const;
  bool attention() const { return mixed == MixedBound::Attention; }
  bool deltanet() const { return mixed == MixedBound::DeltaNetRecurrent || mixed == MixedBound::DeltaNetChunked; }
  // The number a numerics policy (bounded:B) and the ranking of unproven variants compare: the
  // relative L2 bound, or for a mixed bound the operands' unit roundoff (0 for fp32 operands: as
  // accurate as fp32 arithmetic allows in the variant's order, so any bounded:B accepts it).
  double nominal_bound() const { return mixed != MixedBound::None ? operand_u : bound; }
  std::string describe() const; // "exact", "bounded (rel L2 <= 1e-06)", "bounded (attention ...)"
};

// What selection knows of a call besides its device: the operation and its extents.
struct Problem {
  std::string_view op;
  std::map<std::string, int64_t, std::less<>> dims; // "rows", "cols", "M", "N", "K", ...
  int64_t dim(std::string_view name, int64_t fallback = 0) const;
  int64_t elements() const; // the largest tensor's element count, for index-width limits
};

// A device work can be placed on: the CPU reference, or one probed (or described) device.
struct DeviceRef {
  std::string backend; // "cpu", "opencl", "vulkan"
  int index = 0;       // within the backend; -1 for a device described by a file
  DeviceFacts facts;
  Capabilities caps;   // after the user's "disable=cap:NAME" overrides
  std::string label() const; // "opencl:0 (Portable Computing Language ...)"
};

// A decode call: at most this many rows of A (GEMM) or new tokens (attention). Decode kernels
// keep that many rows in registers; the tensor-core variants leave such calls to them.
inline constexpr int64_t kDecodeRows = 16;

// The shapes a kernel is written for; 0 means no limit. Checked by check_limits() with one
// wording for every variant.
struct Limits {
  int64_t max_m = 0, min_m = 0; // GEMM rows M
  int64_t max_t = 0, min_t = 0; // new tokens T (attention)
  int64_t max_d = 0;            // attention head size D
  int64_t d_multiple = 0;       // D a multiple of this (matrix-unit steps)
  int64_t max_dk = 0, max_dv = 0; // DeltaNet key and value head sizes
  int64_t workgroup = 0;        // work-items one work-group needs
  int64_t local_bytes = 0;      // shared (local) memory one work-group needs
  bool index32 = true;          // the kernel indexes with 32-bit integers: < 2^31 elements
};

// How a variant's kernel is built and launched.
struct Manifest {
  std::string_view source; // kernel file(s) under kernels/
  std::string_view entry;  // entry point(s), in launch order
  Limits limits;
  // Layouts of the weight operand B it reads (tessera/weights.h): "checkpoint", and for the
  // gemv variants also "gemv_kblock_interleaved". Empty for operations without weights.
  std::string_view weight_layouts;
  // OpenCL build options that make this variant's kernel out of a file shared with others
  // ("-DNV_MMA_OPERAND_E4M3=1"), beside those the launcher derives from the limits and the
  // tuning row. They key the program cache, so each variant builds only its own form.
  std::string_view defines = {};
};

struct Variant;
template <class Args>
using LaunchFn = void (*)(int device, const Variant& v, const Args& a);
// One launch function per argument struct the operation takes (gemm_fp8 takes two: per-tensor
// and block scales).
using Launch = std::variant<LaunchFn<detail::ConvertArgs>, LaunchFn<detail::QuantizeNvfp4Args>,
                            LaunchFn<detail::DequantizeNvfp4Args>, LaunchFn<detail::QuantizeFp8Args>,
                            LaunchFn<detail::DequantizeFp8Args>, LaunchFn<detail::GemmNvfp4Args>,
                            LaunchFn<detail::GemmFp8Args>, LaunchFn<detail::GemmFp8BlockArgs>,
                            LaunchFn<detail::GemmNvfp4ActArgs>, LaunchFn<detail::GemmFp8ActArgs>,
                            LaunchFn<detail::DeltaNetRunArgs>, LaunchFn<detail::Conv1dRunArgs>,
                            LaunchFn<detail::AttentionRunArgs>>;

// Returns "" when variant v can run on d for p, else the reason it cannot.
using Requirement = std::string (*)(const Variant& v, const DeviceRef& d, const Problem& p);

struct Variant {
  std::string_view op, backend, name;
  int priority; // among variants that can run, the highest wins
  Conformance conformance;
  Requirement requirements; // reads manifest.limits (check_limits) and the device's capabilities
  std::string_view summary;
  Manifest manifest;
  std::vector<Launch> launch;

  // The launch function for Args; null when the variant has none (a bug in its record).
  template <class Args>
  LaunchFn<Args> launcher() const {
    for (const Launch& l : launch)
      if (auto* f = std::get_if<LaunchFn<Args>>(&l)) return *f;
    return nullptr;
  }
};

// The manifest's lists ("a, b, c": entry points, kernel files, weight layouts, device classes):
// item i, trimmed, or "" past the end; and whether `item` is one of them.
std::string_view list_item(std::string_view list, size_t i);
bool list_has(std::string_view list, std::string_view item);

// The manifest's limits, with one wording for all variants ("M = 40 > 16: ..."); "" when they
// hold. Shape limits concern the problem alone, device limits (work-group size, shared memory)
// the device; check_limits is both, shape first.
std::string check_shape_limits(const Variant& v, const Problem& p);
std::string check_device_limits(const Variant& v, const DeviceRef& d);
std::string check_limits(const Variant& v, const DeviceRef& d, const Problem& p);
// Requirement of a variant that has only its limits.
std::string limits_only(const Variant& v, const DeviceRef& d, const Problem& p);

} // namespace tessera::core
