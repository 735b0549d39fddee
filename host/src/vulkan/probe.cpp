// Raw DeviceFacts of a physical device: only what the driver reports, nothing invented (the
// NVIDIA Vulkan driver reports no compute capability, so that field stays empty; the registry
// classifies NVIDIA parts by device id instead).
#include <fmt/format.h>

#include <algorithm>

#include "common.h"
#include "instance.h"

namespace tessera::detail::vulkan {

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

} // namespace

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
  // Vulkan promises 2.5 ulp for OpFDiv; the kernels divide with div_rn instead.
  f.correctly_rounded_divide = false;
  return f;
}

} // namespace tessera::detail::vulkan
