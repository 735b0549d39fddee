// The device model: raw facts a probe reads (or a device file states), and the capabilities
// derived from them by one pure function, so a probed device and a described one are classified
// by the same code (docs/interfaces.md, kinfo).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

// Raw facts; the keys of docs/interfaces.md's device files.
struct DeviceFacts {
  std::string backend;     // "cpu", "opencl", "vulkan"
  std::string name;
  uint32_t vendor_id = 0;  // PCI vendor: 0x10DE NVIDIA, 0x1002 AMD, 0x8086 Intel
  std::optional<uint32_t> device_id;
  std::string device_type; // "gpu" or "cpu"
  std::string driver_version;
  std::string compute_capability; // "9.0": OpenCL cl_nv_device_attribute_query; empty otherwise
  std::vector<std::string> extensions;
  int64_t compute_units = 0;
  int64_t max_workgroup_size = 0;
  int64_t local_memory_bytes = 0;
  int64_t global_memory_bytes = 0;
  int64_t subgroup_size = 0;
  int64_t max_clock_mhz = 0;      // not a device-file key of the spec; used for peak rates
  bool correctly_rounded_divide = false; // OpenCL CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT
  bool rounding_mode_rte_fp32 = false;   // Vulkan float controls: shaderRoundingModeRTEFloat32
  bool fp64 = false;
};

enum class ArchClass {
  Cpu,
  Generic,
  NvidiaAmpere,
  NvidiaAda,
  NvidiaHopper,
  NvidiaBlackwell,
  NvidiaBlackwellConsumer,
  NvidiaOther,
  Amd,
  Intel,
};
std::string_view arch_class_name(ArchClass c); // "nvidia-hopper", ...
const std::vector<std::string_view>& arch_class_names(); // every class, in enum order

// What the registry's requirement functions read. Derived only from DeviceFacts.
struct Capabilities {
  ArchClass arch = ArchClass::Generic;
  int cc_major = -1, cc_minor = -1; // NVIDIA compute capability where known
  bool fp16 = false;                // fp16 arithmetic in kernels
  bool fp64 = false;
  bool subgroups = false;
  bool nv_cooperative_matrix = false; // Vulkan VK_NV_cooperative_matrix
  bool nv_inline_ptx = false;         // NVIDIA's OpenCL: asm() with PTX
  bool storage_8bit = false, storage_16bit = false;
  bool correctly_rounded_divide = false;
  // Vulkan shaders may declare RoundingModeRTE for fp32: the launchers then load the ".rte"
  // builds (hardware add/multiply on the normal range), else the integer-only ones.
  bool rounding_mode_rte = false;
  std::optional<double> peak_gbps;         // memory bandwidth, where the class table knows it
  std::optional<double> peak_fp32_gflops;  // from compute units x clock x per-class rate
};

Capabilities classify(const DeviceFacts& f);

// The capabilities the user has not disabled (TESSERA_OVERRIDE disable=cap:NAME, NAME being a
// field above: fp16, fp64, subgroups, nv_cooperative_matrix, nv_inline_ptx,
// correctly_rounded_divide, rounding_mode_rte). The one place that masking happens: the
// registry's requirement functions, the OpenCL capability prelude and the Vulkan build choice
// all read capabilities through it.
Capabilities without_disabled(Capabilities c, const std::set<std::string>& disabled);
// classify(f) without the capabilities the overrides in force disable.
Capabilities enabled_capabilities(const DeviceFacts& f);

// Parses a device file (JSON object with docs/interfaces.md's keys). Unknown keys are ignored; a
// missing required key, a wrong type or malformed JSON throws Error(InvalidArgument) naming
// `where` and the key.
DeviceFacts parse_device_facts(std::string_view json_text, std::string_view where);
DeviceFacts load_device_file(const std::string& path);

} // namespace tessera
