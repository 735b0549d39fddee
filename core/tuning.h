// Tuning as data: the numbers a kernel is specialized with that change its speed but never its
// bits (tile and work-group sizes), and the thresholds in T or M that decide between two correct
// variants. One row per (backend, op, variant, device class), as CLBlast keeps its database: a
// device takes the row of its class (arch_class_name, core/device.h), else the variant's default
// row ("*"). Launchers pass a row's values to the kernel as OpenCL build options or Vulkan
// specialization constants and size their grids by the same values; requirement functions read
// thresholds from it; kinfo prints the row each device gets and where its numbers come from.
// The table is core/tuning.cpp; a variant without rows is not tuned.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/device.h"

namespace tessera::core {

struct Variant;

struct TuningParam {
  std::string_view name;
  int64_t value;
};

struct TuningRow {
  std::string_view backend, op, variant;
  std::string_view device_class; // arch_class_name(), or "*": every class without its own row
  std::vector<TuningParam> params;
  std::string_view basis; // where the numbers come from: what measured them, or why they are a default

  // The value of `name`; throws std::logic_error when the row has none (a bug in the table).
  int64_t get(std::string_view name) const;
  std::string values() const; // "BM=64 BN=64 TM=8 TN=8"
};

const std::vector<TuningRow>& tuning_table();

// The class a device is tuned as: its own, or the one TESSERA_OVERRIDE's tune_as= names (to try
// another class's tiling on this device).
std::string tuning_class(const DeviceFacts& f);

// The row of variant (backend, op, name) for a device of class `device_class`; nullptr when the
// variant is not tuned.
const TuningRow* find_tuning(std::string_view backend, std::string_view op, std::string_view variant,
                             std::string_view device_class);
// The same for record v on a device; throws std::logic_error when v has no row (a launcher that
// reads tuning for an untuned variant is a bug).
const TuningRow& tuning(const Variant& v, const DeviceFacts& f);

} // namespace tessera::core
