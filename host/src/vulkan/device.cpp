#include "device.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/overrides.h"
#include "instance.h"
#include "memory.h"
#include "pipelines.h"

namespace tessera::detail::vulkan {

Device::~Device() = default;

namespace {

uint32_t compute_family(VkPhysicalDevice pd) {
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, nullptr);
  std::vector<VkQueueFamilyProperties> fam(n);
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, fam.data());
  // A compute-only family is the asynchronous compute engine on discrete GPUs: prefer it.
  for (uint32_t i = 0; i < n; ++i)
    if ((fam[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(fam[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
      return i;
  for (uint32_t i = 0; i < n; ++i)
    if (fam[i].queueFlags & VK_QUEUE_COMPUTE_BIT) return i;
  backend_failure("the device has no compute queue");
}

uint32_t timestamp_bits(VkPhysicalDevice pd, uint32_t family) {
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, nullptr);
  std::vector<VkQueueFamilyProperties> fam(n);
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, fam.data());
  return fam[family].timestampValidBits;
}

// Builds the VkDevice with every optional feature of OptionalFeatures that the device has.
void create_device(Device& d) {
  std::vector<const char*> ext;
  auto want = [&](const char* name) {
    bool ok = has_device_extension(d.physical, name);
    if (ok) ext.push_back(name);
    return ok;
  };
  // Core 1.2/1.3 structures need both the device and the instance at that version.
  uint32_t api = std::min(d.properties.apiVersion, instance().api_version);

  auto f2 = make<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2);
  auto s16 = make<VkPhysicalDevice16BitStorageFeatures>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES);
  auto s8 = make<VkPhysicalDevice8BitStorageFeatures>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES);
  auto f16i8 = make<VkPhysicalDeviceShaderFloat16Int8Features>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES);
  auto ssc = make<VkPhysicalDeviceSubgroupSizeControlFeatures>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES);
  auto coop = make<VkPhysicalDeviceCooperativeMatrixFeaturesNV>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV);
  void** next = &f2.pNext;
  auto chain = [&](auto& s) {
    *next = &s;
    next = &s.pNext;
  };
  chain(s16); // core in 1.1
  bool have_s8 = (api >= VK_API_VERSION_1_2 || want(VK_KHR_8BIT_STORAGE_EXTENSION_NAME));
  if (have_s8) chain(s8);
  bool have_f16i8 = (api >= VK_API_VERSION_1_2 || want(VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME));
  if (have_f16i8) chain(f16i8);
  bool have_ssc = (api >= VK_API_VERSION_1_3 || want(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME));
  if (have_ssc) chain(ssc);
  bool have_coop = want(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
  if (have_coop) chain(coop);
  // Pushed descriptors where every kernel's bindings fit: then a dispatch allocates and writes no
  // descriptor set (batch.cpp).
  bool have_push = false;
  if (has_device_extension(d.physical, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME)) {
    auto pd = make<VkPhysicalDevicePushDescriptorPropertiesKHR>(
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PUSH_DESCRIPTOR_PROPERTIES_KHR);
    auto p2 = make<VkPhysicalDeviceProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2);
    p2.pNext = &pd;
    vkGetPhysicalDeviceProperties2(d.physical, &p2);
    have_push = pd.maxPushDescriptors >= kMaxBindings && want(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  }
  // A portability implementation (MoltenVK) must have its subset extension enabled to be used.
  want("VK_KHR_portability_subset");
  bool have_float_controls =
      api >= VK_API_VERSION_1_2 || want(VK_KHR_SHADER_FLOAT_CONTROLS_EXTENSION_NAME);
  if (have_float_controls) {
    auto fc = make<VkPhysicalDeviceFloatControlsProperties>(
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FLOAT_CONTROLS_PROPERTIES);
    auto p2 = make<VkPhysicalDeviceProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2);
    p2.pNext = &fc;
    vkGetPhysicalDeviceProperties2(d.physical, &p2);
    d.features.rounding_mode_rte_fp32 = fc.shaderRoundingModeRTEFloat32 == VK_TRUE;
  }
  vkGetPhysicalDeviceFeatures2(d.physical, &f2);
  // Robust cooperative-matrix access would also need robustBufferAccess, which stays off.
  coop.cooperativeMatrixRobustBufferAccess = VK_FALSE;

  // Enable exactly what the device reported; the structs now hold those answers. Core features
  // stay off: no kernel uses fp64 or int64.
  f2.features = VkPhysicalDeviceFeatures{};
  d.features.storage_16bit = s16.storageBuffer16BitAccess;
  d.features.storage_8bit = have_s8 && s8.storageBuffer8BitAccess;
  d.features.shader_float16 = have_f16i8 && f16i8.shaderFloat16;
  d.features.shader_int8 = have_f16i8 && f16i8.shaderInt8;
  d.features.subgroup_size_control = have_ssc && ssc.subgroupSizeControl;
  d.features.nv_cooperative_matrix = have_coop && coop.cooperativeMatrix;

  float priority = 1.0f;
  auto q = make<VkDeviceQueueCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO);
  q.queueFamilyIndex = d.family;
  q.queueCount = 1;
  q.pQueuePriorities = &priority;
  auto ci = make<VkDeviceCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO);
  ci.pNext = &f2;
  ci.queueCreateInfoCount = 1;
  ci.pQueueCreateInfos = &q;
  ci.enabledExtensionCount = static_cast<uint32_t>(ext.size());
  ci.ppEnabledExtensionNames = ext.data();
  VkDevice dev = VK_NULL_HANDLE;
  check(vkCreateDevice(d.physical, &ci, nullptr, &dev), "vkCreateDevice");
  d.device = OwnedDevice(dev);
  if (have_push)
    d.push_descriptor_set =
        reinterpret_cast<PFN_vkCmdPushDescriptorSetKHR>(vkGetDeviceProcAddr(dev, "vkCmdPushDescriptorSetKHR"));
}

std::unique_ptr<Device> open(int index) {
  const Instance& inst = instance();
  auto d = std::make_unique<Device>();
  d->index = index;
  d->physical = inst.physical[static_cast<size_t>(index)];
  vkGetPhysicalDeviceProperties(d->physical, &d->properties);
  vkGetPhysicalDeviceMemoryProperties(d->physical, &d->memory);
  auto m3 = make<VkPhysicalDeviceMaintenance3Properties>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES);
  auto p2 = make<VkPhysicalDeviceProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2);
  p2.pNext = &m3;
  vkGetPhysicalDeviceProperties2(d->physical, &p2);
  d->max_allocation = m3.maxMemoryAllocationSize;
  d->family = compute_family(d->physical);
  d->timestamp_bits = timestamp_bits(d->physical, d->family);
  create_device(*d);
  VkDevice dev = d->device.get();
  vkGetDeviceQueue(dev, d->family, 0, &d->queue);

  auto pool = make<VkCommandPoolCreateInfo>(VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO);
  pool.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pool.queueFamilyIndex = d->family;
  VkCommandPool cp;
  check(vkCreateCommandPool(dev, &pool, nullptr, &cp), "vkCreateCommandPool");
  d->command_pool = OwnedCommandPool(dev, cp);
  auto cb = make<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
  cb.commandPool = cp;
  cb.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  cb.commandBufferCount = 1;
  check(vkAllocateCommandBuffers(dev, &cb, &d->cmd), "vkAllocateCommandBuffers");

  auto fi = make<VkFenceCreateInfo>(VK_STRUCTURE_TYPE_FENCE_CREATE_INFO);
  VkFence fence;
  check(vkCreateFence(dev, &fi, nullptr, &fence), "vkCreateFence");
  d->fence = OwnedFence(dev, fence);

  if (d->timestamp_bits > 0) {
    auto qp = make<VkQueryPoolCreateInfo>(VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO);
    qp.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qp.queryCount = 2 * kMaxSegments; // a pair a segment of the open submission
    VkQueryPool qh;
    check(vkCreateQueryPool(dev, &qp, nullptr, &qh), "vkCreateQueryPool");
    d->timestamps = OwnedQueryPool(dev, qh);
  }
  open_pipeline_cache(*d);
  d->pool = std::make_unique<Pool>(*d);
  return d;
}

struct Slot {
  std::once_flag once;
  std::unique_ptr<Device> device;
  std::string error;
};

} // namespace

Device& device(int index) {
  const Instance& inst = instance();
  if (index < 0 || static_cast<size_t>(index) >= inst.physical.size())
    backend_failure(fmt::format("no device {} (there are {})", index, inst.physical.size()));
  // Leaked with the instance, for the reason given in instance.cpp.
  static auto* slots = new std::vector<Slot>(inst.physical.size());
  Slot& s = (*slots)[static_cast<size_t>(index)];
  std::call_once(s.once, [&] {
    try {
      s.device = open(index);
    } catch (const BackendFailure& e) {
      s.error = e.what();
      log_problem(fmt::format("cannot open device {} ({}): {}", index,
                              inst.facts[static_cast<size_t>(index)].name, e.what()));
    }
  });
  if (!s.device) throw BackendFailure(s.error);
  return *s.device;
}

std::string fp32_shader(const Device& d, std::string_view base) {
  // The capability (probed into the facts, masked by disable=cap:rounding_mode_rte) is what
  // kinfo shows; the feature is what this device was created with. They agree unless the
  // driver contradicts itself, and then the integer-only build is the safe one.
  bool rte = d.features.rounding_mode_rte_fp32 &&
             enabled_capabilities(devices()[static_cast<size_t>(d.index)]).rounding_mode_rte;
  return fmt::format("{}{}.spv", base, rte ? ".rte" : "");
}

uint32_t workgroup_size(const Device& d, uint32_t preferred) {
  const VkPhysicalDeviceLimits& l = d.properties.limits;
  uint32_t cap =
      std::min({preferred, l.maxComputeWorkGroupInvocations, l.maxComputeWorkGroupSize[0]});
  uint32_t wg = 1;
  while (wg * 2 <= cap)
    wg *= 2;
  return wg;
}

} // namespace tessera::detail::vulkan
