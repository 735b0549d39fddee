#include "device.h"

#include <nlohmann/json.hpp>

#include <array>
#include <fstream>
#include <regex>
#include <sstream>

#include "core/error.h"
#include "core/overrides.h"

namespace tessera {

std::string_view arch_class_name(ArchClass c) {
  switch (c) {
  case ArchClass::Cpu: return "cpu";
  case ArchClass::Generic: return "generic";
  case ArchClass::NvidiaAmpere: return "nvidia-ampere";
  case ArchClass::NvidiaAda: return "nvidia-ada";
  case ArchClass::NvidiaHopper: return "nvidia-hopper";
  case ArchClass::NvidiaBlackwell: return "nvidia-blackwell";
  case ArchClass::NvidiaBlackwellConsumer: return "nvidia-blackwell-consumer";
  case ArchClass::NvidiaOther: return "nvidia-other";
  case ArchClass::Amd: return "amd";
  case ArchClass::Intel: return "intel";
  }
  return "generic";
}

const std::vector<std::string_view>& arch_class_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (ArchClass c : {ArchClass::Cpu, ArchClass::Generic, ArchClass::NvidiaAmpere, ArchClass::NvidiaAda,
                        ArchClass::NvidiaHopper, ArchClass::NvidiaBlackwell, ArchClass::NvidiaBlackwellConsumer,
                        ArchClass::NvidiaOther, ArchClass::Amd, ArchClass::Intel})
      v.push_back(arch_class_name(c));
    return v;
  }();
  return names;
}

namespace {

constexpr uint32_t kNvidia = 0x10DE, kAmd = 0x1002, kIntel = 0x8086;

ArchClass from_compute_capability(int major, int minor) {
  if (major == 8 && (minor == 0 || minor == 6 || minor == 7)) return ArchClass::NvidiaAmpere;
  if (major == 8 && minor == 9) return ArchClass::NvidiaAda;
  if (major == 9) return ArchClass::NvidiaHopper;
  if (major == 10) return ArchClass::NvidiaBlackwell;
  if (major == 12) return ArchClass::NvidiaBlackwellConsumer;
  return ArchClass::NvidiaOther;
}

// NVIDIA assigns PCI device ids per chip in contiguous ranges; Vulkan reports no compute
// capability, so the chip's range is the most reliable fact it gives.
struct IdRange {
  uint32_t first, last;
  ArchClass arch;
  int cc_major, cc_minor;
};
constexpr std::array<IdRange, 10> kNvidiaIds{{
    {0x2080, 0x20FF, ArchClass::NvidiaAmpere, 8, 0},            // GA100: A100, A30
    {0x2200, 0x22FF, ArchClass::NvidiaAmpere, 8, 6},            // GA102: RTX 3090, A40, A10
    {0x2300, 0x23FF, ArchClass::NvidiaHopper, 9, 0},            // GH100: H100, H200, H800, GH200
    {0x2400, 0x25FF, ArchClass::NvidiaAmpere, 8, 6},            // GA103..GA107: RTX 3080..3050
    {0x2680, 0x28FF, ArchClass::NvidiaAda, 8, 9},               // AD102..AD107: RTX 40, L40, L4
    {0x2900, 0x29FF, ArchClass::NvidiaBlackwell, 10, 0},        // GB100/GB102: B200, GB200
    {0x3180, 0x31FF, ArchClass::NvidiaBlackwell, 10, 3},        // GB110: B300, GB300
    {0x2B80, 0x2BFF, ArchClass::NvidiaBlackwellConsumer, 12, 0}, // GB202: RTX 5090, RTX PRO 6000
    {0x2C00, 0x2DFF, ArchClass::NvidiaBlackwellConsumer, 12, 0}, // GB203..GB207: RTX 5080..5050
    {0x2E00, 0x2FFF, ArchClass::NvidiaBlackwellConsumer, 12, 0}, // GB205, GB10 (DGX Spark)
}};

// Product names, for a device that reports neither a compute capability nor a known id. Ordered:
// the consumer Blackwell names come before the data-centre ones so "RTX PRO 6000 Blackwell" is
// not read as a B200-class part.
struct NamePattern {
  const char* regex;
  ArchClass arch;
};
constexpr std::array<NamePattern, 5> kNvidiaNames{{
    {R"(\bG?H(100|200|800|20)\b)", ArchClass::NvidiaHopper},
    {R"(RTX 50[0-9]0|RTX PRO [0-9]+ Blackwell|\bGB10\b|\bGB20[2-7]\b)", ArchClass::NvidiaBlackwellConsumer},
    {R"(\bG?B(100|200|300)\b|Blackwell)", ArchClass::NvidiaBlackwell},
    {R"(RTX 40[0-9]0|\bL40S?\b|\bL4\b|\bL20\b|RTX [0-9]+ Ada|Ada Generation)", ArchClass::NvidiaAda},
    {R"(\bA(100|800|40|30|16|10|2)\b|RTX 30[0-9]0|RTX A[0-9]+)", ArchClass::NvidiaAmpere},
}};

// Published memory bandwidth (vendor data sheets), GB/s: not queryable through OpenCL or Vulkan.
struct Bandwidth {
  uint32_t device_id;
  double gbps;
};
constexpr std::array<Bandwidth, 10> kBandwidth{{
    {0x20B0, 1555}, {0x20B2, 2039}, {0x20B5, 1935}, {0x20F1, 1555}, // A100 40/80 GB SXM, PCIe
    {0x2330, 3350}, {0x2331, 2000}, {0x2335, 4800},                 // H100 SXM, H100 PCIe, H200
    {0x2684, 1008},                                                 // RTX 4090
    {0x2901, 8000},                                                 // B200
    {0x2B85, 1792},                                                 // RTX 5090
}};

// FP32 flops per compute unit (SM) per clock: 2 x FP32 lanes.
double fp32_flops_per_sm_clock(ArchClass a, int cc_major, int cc_minor) {
  switch (a) {
  case ArchClass::NvidiaAmpere: return (cc_major == 8 && cc_minor == 0) ? 128 : 256;
  case ArchClass::NvidiaAda:
  case ArchClass::NvidiaHopper:
  case ArchClass::NvidiaBlackwell:
  case ArchClass::NvidiaBlackwellConsumer: return 256;
  default: return 0;
  }
}

bool has_extension(const DeviceFacts& f, std::string_view name) {
  for (const auto& e : f.extensions)
    if (e == name) return true;
  return false;
}

} // namespace

Capabilities classify(const DeviceFacts& f) {
  Capabilities c;
  int major = -1, minor = -1;
  if (!f.compute_capability.empty() && std::sscanf(f.compute_capability.c_str(), "%d.%d", &major, &minor) != 2)
    major = minor = -1;

  if (f.device_type == "cpu") {
    c.arch = ArchClass::Cpu;
  } else if (f.vendor_id == kNvidia) {
    c.arch = ArchClass::NvidiaOther;
    bool known = false;
    if (major >= 0) {
      c.arch = from_compute_capability(major, minor);
      known = true;
    }
    for (const IdRange& r : kNvidiaIds)
      if (!known && f.device_id && *f.device_id >= r.first && *f.device_id <= r.last) {
        c.arch = r.arch;
        major = r.cc_major;
        minor = r.cc_minor;
        known = true;
      }
    for (const NamePattern& p : kNvidiaNames)
      if (!known && std::regex_search(f.name, std::regex(p.regex, std::regex::icase))) {
        c.arch = p.arch;
        known = true;
      }
  } else if (f.vendor_id == kAmd) {
    c.arch = ArchClass::Amd;
  } else if (f.vendor_id == kIntel) {
    c.arch = ArchClass::Intel;
  } else {
    c.arch = ArchClass::Generic;
  }
  if (f.vendor_id == kNvidia && f.device_type != "cpu") {
    c.cc_major = major;
    c.cc_minor = minor;
  }

  c.fp16 = has_extension(f, "cl_khr_fp16") || has_extension(f, "VK_KHR_shader_float16_int8");
  c.fp64 = f.fp64 || has_extension(f, "cl_khr_fp64");
  c.subgroups = f.subgroup_size > 0 || has_extension(f, "cl_khr_subgroups") || has_extension(f, "cl_intel_subgroups");
  c.nv_cooperative_matrix = f.backend == "vulkan" && has_extension(f, "VK_NV_cooperative_matrix");
  // Inline PTX is a property of NVIDIA's OpenCL compiler, which is the one that reports
  // cl_nv_device_attribute_query.
  c.nv_inline_ptx = f.backend == "opencl" && f.vendor_id == kNvidia && has_extension(f, "cl_nv_device_attribute_query");
  c.storage_8bit = f.backend == "opencl" || has_extension(f, "VK_KHR_8bit_storage");
  c.storage_16bit = f.backend == "opencl" || has_extension(f, "VK_KHR_16bit_storage");
  c.correctly_rounded_divide = f.correctly_rounded_divide;
  c.rounding_mode_rte = f.backend == "vulkan" && f.rounding_mode_rte_fp32;

  if (f.device_id && f.vendor_id == kNvidia)
    for (const Bandwidth& b : kBandwidth)
      if (b.device_id == *f.device_id) c.peak_gbps = b.gbps;
  double per_clock = fp32_flops_per_sm_clock(c.arch, c.cc_major, c.cc_minor);
  if (per_clock > 0 && f.compute_units > 0 && f.max_clock_mhz > 0)
    c.peak_fp32_gflops = per_clock * static_cast<double>(f.compute_units) * static_cast<double>(f.max_clock_mhz) / 1000.0;
  return c;
}

namespace {

using nlohmann::json;

[[noreturn]] void bad_file(std::string_view where, const std::string& what) {
  detail::fail(ErrorCode::InvalidArgument, "{}: {}", where, what);
}

// Integers may be written as numbers or as hex strings ("0x10DE").
uint32_t read_u32(const json& j, std::string_view key, std::string_view where) {
  if (j.is_number_unsigned()) return j.get<uint32_t>();
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    try {
      size_t used = 0;
      unsigned long v = std::stoul(s, &used, 0);
      if (used == s.size() && v <= 0xFFFFFFFFul) return static_cast<uint32_t>(v);
    } catch (const std::exception&) {
    }
  }
  bad_file(where, fmt::format("key '{}' must be a non-negative integer, got {}", key, j.dump()));
}

int64_t read_i64(const json& j, std::string_view key, std::string_view where) {
  if (j.is_number_integer() && j.get<int64_t>() >= 0) return j.get<int64_t>();
  bad_file(where, fmt::format("key '{}' must be a non-negative integer, got {}", key, j.dump()));
}

std::string read_string(const json& j, std::string_view key, std::string_view where) {
  if (j.is_string()) return j.get<std::string>();
  bad_file(where, fmt::format("key '{}' must be a string, got {}", key, j.dump()));
}

} // namespace

DeviceFacts parse_device_facts(std::string_view text, std::string_view where) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) bad_file(where, "not valid JSON");
  if (!j.is_object()) bad_file(where, "a device file must hold one JSON object");
  for (const char* key : {"backend", "name", "vendor_id", "device_type"})
    if (!j.contains(key)) bad_file(where, fmt::format("missing required key '{}'", key));

  DeviceFacts f;
  f.backend = read_string(j["backend"], "backend", where);
  if (f.backend != "opencl" && f.backend != "vulkan")
    bad_file(where, fmt::format("backend '{}' is not \"opencl\" or \"vulkan\"", f.backend));
  f.name = read_string(j["name"], "name", where);
  f.vendor_id = read_u32(j["vendor_id"], "vendor_id", where);
  f.device_type = read_string(j["device_type"], "device_type", where);
  if (f.device_type != "gpu" && f.device_type != "cpu")
    bad_file(where, fmt::format("device_type '{}' is not \"gpu\" or \"cpu\"", f.device_type));

  if (j.contains("device_id")) f.device_id = read_u32(j["device_id"], "device_id", where);
  if (j.contains("driver_version")) f.driver_version = read_string(j["driver_version"], "driver_version", where);
  if (j.contains("compute_capability")) {
    f.compute_capability = read_string(j["compute_capability"], "compute_capability", where);
    int a, b;
    char extra;
    if (std::sscanf(f.compute_capability.c_str(), "%d.%d%c", &a, &b, &extra) != 2)
      bad_file(where, fmt::format("compute_capability '{}' is not MAJOR.MINOR", f.compute_capability));
  }
  if (j.contains("extensions")) {
    if (!j["extensions"].is_array()) bad_file(where, "key 'extensions' must be a list of strings");
    for (const auto& e : j["extensions"]) f.extensions.push_back(read_string(e, "extensions", where));
  }
  // Not keys of the spec's device files but facts a probe reads; a file may state them too.
  if (j.contains("correctly_rounded_divide")) {
    if (!j["correctly_rounded_divide"].is_boolean()) bad_file(where, "key 'correctly_rounded_divide' must be true or false");
    f.correctly_rounded_divide = j["correctly_rounded_divide"].get<bool>();
  }
  if (j.contains("rounding_mode_rte_fp32")) {
    if (!j["rounding_mode_rte_fp32"].is_boolean()) bad_file(where, "key 'rounding_mode_rte_fp32' must be true or false");
    f.rounding_mode_rte_fp32 = j["rounding_mode_rte_fp32"].get<bool>();
  }
  if (j.contains("fp64")) {
    if (!j["fp64"].is_boolean()) bad_file(where, "key 'fp64' must be true or false");
    f.fp64 = j["fp64"].get<bool>();
  }
  struct IntKey {
    const char* key;
    int64_t* out;
  };
  for (IntKey k : {IntKey{"compute_units", &f.compute_units}, {"max_workgroup_size", &f.max_workgroup_size},
                   {"local_memory_bytes", &f.local_memory_bytes}, {"global_memory_bytes", &f.global_memory_bytes},
                   {"subgroup_size", &f.subgroup_size}, {"max_clock_mhz", &f.max_clock_mhz}})
    if (j.contains(k.key)) *k.out = read_i64(j[k.key], k.key, where);
  return f;
}

DeviceFacts load_device_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) detail::fail(ErrorCode::Io, "{}: cannot open device file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_device_facts(ss.str(), path);
}

Capabilities without_disabled(Capabilities c, const std::set<std::string>& disabled) {
  auto off = [&](const char* cap) { return disabled.count(std::string("cap:") + cap) > 0; };
  if (off("fp16")) c.fp16 = false;
  if (off("fp64")) c.fp64 = false;
  if (off("subgroups")) c.subgroups = false;
  if (off("nv_cooperative_matrix")) c.nv_cooperative_matrix = false;
  if (off("nv_inline_ptx")) c.nv_inline_ptx = false;
  if (off("correctly_rounded_divide")) c.correctly_rounded_divide = false;
  if (off("rounding_mode_rte")) c.rounding_mode_rte = false;
  return c;
}

Capabilities enabled_capabilities(const DeviceFacts& f) {
  return without_disabled(classify(f), detail::current_overrides().disabled);
}

} // namespace tessera
