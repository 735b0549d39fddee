// Raw DeviceFacts of a physical device: only what the driver reports, nothing invented (the
// NVIDIA Vulkan driver reports no compute capability, so that field stays empty; the registry
// classifies NVIDIA parts by device id instead). And, for when there is no device, the ICD
// manifests the loader had to work with.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common.h"
#include "instance.h"

namespace tessera::detail::vulkan {

namespace fs = std::filesystem;

namespace {

constexpr uint32_t kNvidia = 0x10DE;

std::string driver_version(const VkPhysicalDeviceProperties& p) {
  uint32_t v = p.driverVersion;
  if (p.vendorID == kNvidia) { // 10.8.8.6 bits, printed as nvidia-smi does ("535.104.05")
    std::string s =
        fmt::format("{}.{}.{:02}", (v >> 22) & 0x3FF, (v >> 14) & 0xFF, (v >> 6) & 0xFF);
    if ((v & 0x3F) != 0) s += fmt::format(".{}", v & 0x3F);
    return s;
  }
  return fmt::format("{}.{}.{}", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v),
                     VK_API_VERSION_PATCH(v));
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::vector<fs::path> split_paths(const std::string& list) {
  std::vector<fs::path> out;
  for (size_t at = 0; at <= list.size();) {
    size_t end = std::min(list.find(':', at), list.size());
    if (end > at) out.emplace_back(list.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

// The directories the Linux loader searches when no variable names the manifests.
std::vector<fs::path> default_manifest_dirs() {
  std::string home = env("HOME");
  auto or_default = [](std::string v, std::string fallback) { return v.empty() ? fallback : v; };
  std::vector<fs::path> roots;
  roots.emplace_back(or_default(env("XDG_CONFIG_HOME"), home + "/.config"));
  for (auto& d : split_paths(or_default(env("XDG_CONFIG_DIRS"), "/etc/xdg")))
    roots.push_back(d);
  roots.emplace_back("/etc");
  roots.emplace_back(or_default(env("XDG_DATA_HOME"), home + "/.local/share"));
  for (auto& d : split_paths(or_default(env("XDG_DATA_DIRS"), "/usr/local/share:/usr/share")))
    roots.push_back(d);
  for (auto& r : roots)
    r /= "vulkan/icd.d";
  return roots;
}

// A search entry's manifests: the file itself, or a directory's *.json files, sorted.
void add_manifests(const fs::path& entry, std::vector<fs::path>& out) {
  std::error_code ec;
  if (!fs::is_directory(entry, ec)) {
    if (fs::exists(entry, ec)) out.push_back(entry);
    return;
  }
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(entry, ec))
    if (e.path().extension() == ".json") found.push_back(e.path());
  std::sort(found.begin(), found.end());
  out.insert(out.end(), found.begin(), found.end());
}

// "" when the manifest looks usable without loading its driver; else what is wrong with it. The
// loader reports a manifest it cannot parse as VK_ERROR_OUT_OF_HOST_MEMORY, hence this check.
std::string manifest_problem(const fs::path& file) {
  std::ifstream f(file);
  if (!f) return "cannot be read";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const nlohmann::json::parse_error& e) {
    return fmt::format("is not valid JSON (parse error at byte {})", e.byte);
  }
  auto icd = j.is_object() ? j.find("ICD") : j.end();
  if (icd == j.end() || !icd->is_object() || !icd->contains("library_path") ||
      !(*icd)["library_path"].is_string())
    return "has no ICD.library_path";
  // A bare name is the dynamic linker's to find; a path is absolute or relative to the manifest.
  fs::path lib = (*icd)["library_path"].get<std::string>();
  if (!lib.has_parent_path()) return "";
  fs::path full = lib.is_absolute() ? lib : file.parent_path() / lib;
  std::error_code ec;
  return fs::exists(full, ec) ? "" : "names a missing library " + full.string();
}

} // namespace

ManifestCheck check_icd_manifests() {
  // VK_DRIVER_FILES replaced VK_ICD_FILENAMES (loader 1.3.207) and wins when both are set.
  std::string var = !env("VK_DRIVER_FILES").empty() ? "VK_DRIVER_FILES" : "VK_ICD_FILENAMES";
  std::string named = env(var.c_str());
  std::vector<fs::path> entries = split_paths(env("VK_ADD_DRIVER_FILES"));
  std::vector<fs::path> search = named.empty() ? default_manifest_dirs() : split_paths(named);
  entries.insert(entries.end(), search.begin(), search.end());
  std::vector<fs::path> files;
  for (const fs::path& e : entries)
    add_manifests(e, files);

  std::string where = named.empty() ? "default search" : var;
  ManifestCheck out;
  if (files.empty()) {
    std::string dirs;
    for (const fs::path& e : entries)
      dirs += (dirs.empty() ? "" : ", ") + e.string();
    out.summary = fmt::format("no ICD manifest found ({}: {})", where, dirs);
    return out;
  }
  out.summary = fmt::format("ICD manifests ({}):", where);
  for (size_t i = 0; i < files.size(); ++i) {
    std::string problem = manifest_problem(files[i]);
    out.any_invalid |= !problem.empty();
    out.summary +=
        fmt::format("{} {} {}", i ? "," : "", files[i].string(), problem.empty() ? "ok" : problem);
  }
  return out;
}

DeviceFacts probe(VkPhysicalDevice pd, uint32_t instance_api) {
  DeviceFacts f;
  f.backend = "vulkan";

  uint32_t n = 0;
  std::vector<VkExtensionProperties> ext;
  if (vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr) == VK_SUCCESS) {
    ext.resize(n);
    if (vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, ext.data()) != VK_SUCCESS) n = 0;
    ext.resize(n);
  }
  for (const auto& e : ext)
    f.extensions.emplace_back(e.extensionName);
  std::sort(f.extensions.begin(), f.extensions.end());
  auto has = [&](std::string_view name) {
    return std::binary_search(f.extensions.begin(), f.extensions.end(), name);
  };

  VkPhysicalDeviceProperties base;
  vkGetPhysicalDeviceProperties(pd, &base);

  // Extension structs are chained only where the device can fill them.
  auto p2 = make<VkPhysicalDeviceProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2);
  auto subgroup = make<VkPhysicalDeviceSubgroupProperties>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES);
  auto driver =
      make<VkPhysicalDeviceDriverProperties>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES);
  auto sm = make<VkPhysicalDeviceShaderSMBuiltinsPropertiesNV>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV);
  auto amd = make<VkPhysicalDeviceShaderCorePropertiesAMD>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD);
  void** next = &p2.pNext;
  auto chain = [&](auto& s) {
    *next = &s;
    next = &s.pNext;
  };
  chain(subgroup);
  bool have_driver = std::min(base.apiVersion, instance_api) >= VK_API_VERSION_1_2 ||
                     has(VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
  if (have_driver) chain(driver);
  bool have_sm = has(VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME);
  if (have_sm) chain(sm);
  bool have_amd = has(VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME);
  if (have_amd) chain(amd);
  auto float_controls = make<VkPhysicalDeviceFloatControlsProperties>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FLOAT_CONTROLS_PROPERTIES);
  // As device.cpp enables float controls: core in 1.2, else the extension.
  bool have_float_controls = std::min(base.apiVersion, instance_api) >= VK_API_VERSION_1_2 ||
                             has(VK_KHR_SHADER_FLOAT_CONTROLS_EXTENSION_NAME);
  if (have_float_controls) chain(float_controls);
  vkGetPhysicalDeviceProperties2(pd, &p2);
  const VkPhysicalDeviceProperties& p = p2.properties;

  f.name = p.deviceName;
  f.vendor_id = p.vendorID;
  f.device_id = p.deviceID;
  f.device_type = p.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? "cpu" : "gpu";
  f.driver_version = driver_version(p);
  if (have_driver && driver.driverName[0] != '\0')
    f.driver_version += fmt::format(" ({}{}{})", driver.driverName,
                                    driver.driverInfo[0] ? ", " : "", driver.driverInfo);
  if (have_sm)
    f.compute_units = sm.shaderSMCount;
  else if (have_amd)
    f.compute_units = static_cast<int64_t>(amd.shaderEngineCount) * amd.shaderArraysPerEngineCount *
                      amd.computeUnitsPerShaderArray;
  f.max_workgroup_size = p.limits.maxComputeWorkGroupInvocations;
  f.local_memory_bytes = p.limits.maxComputeSharedMemorySize;
  f.subgroup_size = subgroup.subgroupSize;

  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(pd, &mem);
  for (uint32_t i = 0; i < mem.memoryHeapCount; ++i)
    if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      f.global_memory_bytes =
          std::max<int64_t>(f.global_memory_bytes, static_cast<int64_t>(mem.memoryHeaps[i].size));

  VkPhysicalDeviceFeatures features;
  vkGetPhysicalDeviceFeatures(pd, &features);
  f.fp64 = features.shaderFloat64 == VK_TRUE;
  f.rounding_mode_rte_fp32 =
      have_float_controls && float_controls.shaderRoundingModeRTEFloat32 == VK_TRUE;
  // Vulkan promises 2.5 ulp for OpFDiv; the kernels divide with div_rn instead.
  f.correctly_rounded_divide = false;
  return f;
}

} // namespace tessera::detail::vulkan
