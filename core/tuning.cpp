#include "core/tuning.h"

#include <fmt/format.h>

#include <stdexcept>

#include "core/overrides.h"
#include "core/variant.h"

namespace tessera::core {

namespace {

// Where rows that no device of the class has measured come from.
constexpr std::string_view kReasoned =
    "reasoned default, not measured on this class: what the kernel was written and tested for";

// Vulkan tiled GEMMs (kernels/gemm/{nvfp4,fp8}_tiled.comp, specialization constants 1-4): a
// workgroup owns a BM x BN tile of C, each invocation a TM x TN micro-tile, so the workgroup is
// (BM/TM) * (BN/TN) invocations. OpenCL tiled GEMMs (kernels/gemm/{nvfp4,fp8}_tiled.cl, build
// options): TILE_M rows a group, WPT_M x WPT_N a work-item; TILE_N follows from the session's
// work-group size (host/src/opencl/runtime.cpp). DeltaNet chunked: min_t, the fewest new tokens
// for which it beats the recurrent variant.
std::vector<TuningRow> make_table() {
  const std::vector<TuningParam> vk_tile_default = {{"BM", 64}, {"BN", 64}, {"TM", 8}, {"TN", 4}};
  const std::vector<TuningParam> vk_tile_lavapipe = {{"BM", 64}, {"BN", 64}, {"TM", 8}, {"TN", 8}};
  const std::vector<TuningParam> cl_tile = {{"TILE_M", 64}, {"WPT_M", 4}, {"WPT_N", 4}};
  constexpr std::string_view lavapipe_tile =
      "measured on lavapipe: docs/perf.md \"GEMM on lavapipe\" (8 x 8 micro-tiles in 64 "
      "invocations beat 8 x 4 in 128: shared-memory reads are gathers there)";
  constexpr std::string_view pocl_tile =
      "measured on PoCL: docs/perf.md \"GEMM on PoCL\" (64 x 64 tiles of 4 x 4 at 256 work-items)";
  constexpr std::string_view chunked_cpu =
      "measured on PoCL and lavapipe: docs/perf.md \"DeltaNet chunked vs recurrent\" (no slower "
      "from T = 2)";
  constexpr std::string_view chunked_gpu =
      "reasoned default, not measured on GPUs: one full chunk of 64 tokens";
  std::vector<TuningRow> t;
  for (std::string_view op : {"gemm_nvfp4", "gemm_fp8"}) {
    t.push_back({"vulkan", op, "tiled_exact", "*", vk_tile_default, kReasoned});
    t.push_back({"vulkan", op, "tiled_exact", "cpu", vk_tile_lavapipe, lavapipe_tile});
    t.push_back({"opencl", op, "tiled_exact", "*", cl_tile, kReasoned});
    t.push_back({"opencl", op, "tiled_exact", "cpu", cl_tile, pocl_tile});
  }
  for (std::string_view backend : {"opencl", "vulkan"}) {
    t.push_back({backend, "deltanet", "chunked", "*", {{"min_t", 64}}, chunked_gpu});
    t.push_back({backend, "deltanet", "chunked", "cpu", {{"min_t", 2}}, chunked_cpu});
  }
  return t;
}

} // namespace

int64_t TuningRow::get(std::string_view name) const {
  for (const TuningParam& p : params)
    if (p.name == name) return p.value;
  throw std::logic_error(
      fmt::format("tuning row {} {} {} ({}) has no '{}'", backend, op, variant, device_class, name));
}

std::string TuningRow::values() const {
  std::string r;
  for (const TuningParam& p : params)
    r += fmt::format("{}{}={}", r.empty() ? "" : " ", p.name, p.value);
  return r;
}

const std::vector<TuningRow>& tuning_table() {
  static const std::vector<TuningRow> table = make_table();
  return table;
}

std::string tuning_class(const DeviceFacts& f) {
  std::string forced = detail::current_overrides().tune_as;
  return forced.empty() ? std::string(arch_class_name(classify(f).arch)) : forced;
}

const TuningRow* find_tuning(std::string_view backend, std::string_view op, std::string_view variant,
                             std::string_view device_class) {
  const TuningRow* fallback = nullptr;
  for (const TuningRow& r : tuning_table()) {
    if (r.backend != backend || r.op != op || r.variant != variant) continue;
    if (r.device_class == device_class) return &r;
    if (r.device_class == "*") fallback = &r;
  }
  return fallback;
}

const TuningRow& tuning(const Variant& v, const DeviceFacts& f) {
  const TuningRow* r = find_tuning(v.backend, v.op, v.name, tuning_class(f));
  if (!r) throw std::logic_error(fmt::format("{} {} {} has no tuning row", v.backend, v.op, v.name));
  return *r;
}

} // namespace tessera::core
