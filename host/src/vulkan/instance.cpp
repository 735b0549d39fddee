// Instance creation and device enumeration. Nothing here throws: a machine without a Vulkan
// driver simply has no vulkan devices, and the registry runs everything elsewhere.
#include "instance.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <exception>

#include "common.h"

namespace tessera::detail::vulkan {

namespace {

bool has_instance_extension(const char* name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceExtensionProperties(nullptr, &n, nullptr) != VK_SUCCESS) return false;
  std::vector<VkExtensionProperties> ext(n);
  if (vkEnumerateInstanceExtensionProperties(nullptr, &n, ext.data()) != VK_SUCCESS) return false;
  return std::any_of(ext.begin(), ext.begin() + n, [&](const VkExtensionProperties& e) {
    return std::strcmp(e.extensionName, name) == 0;
  });
}

Instance create() {
  Instance inst;
  uint32_t loader = VK_API_VERSION_1_0;
  if (vkEnumerateInstanceVersion(&loader) != VK_SUCCESS || loader < VK_API_VERSION_1_1) return inst;
  // The shaders are SPIR-V 1.3 (Vulkan 1.1); asking for up to 1.3 lets 1.2/1.3 device
  // properties (driver name, subgroup size control) be queried where the device has them.
  inst.api_version = std::min<uint32_t>(loader, VK_API_VERSION_1_3);

  auto app = make<VkApplicationInfo>(VK_STRUCTURE_TYPE_APPLICATION_INFO);
  app.pApplicationName = "tessera";
  app.pEngineName = "tessera";
  app.apiVersion = inst.api_version;
  auto ci = make<VkInstanceCreateInfo>(VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO);
  ci.pApplicationInfo = &app;
  // Portability (non-conformant) implementations are listed only on request.
  const char* portability = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
  if (has_instance_extension(portability)) {
    ci.enabledExtensionCount = 1;
    ci.ppEnabledExtensionNames = &portability;
    ci.flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
  }
  VkResult r = vkCreateInstance(&ci, nullptr, &inst.handle);
  if (r != VK_SUCCESS) {
    // No ICD is the normal case on a machine without a GPU driver: say nothing.
    if (r != VK_ERROR_INCOMPATIBLE_DRIVER)
      log_problem(fmt::format("vkCreateInstance failed: {}", result_name(r)));
    inst.handle = VK_NULL_HANDLE;
    return inst;
  }

  uint32_t n = 0;
  std::vector<VkPhysicalDevice> all;
  do {
    r = vkEnumeratePhysicalDevices(inst.handle, &n, nullptr);
    if (r != VK_SUCCESS) break;
    all.resize(n);
    r = vkEnumeratePhysicalDevices(inst.handle, &n, all.data());
  } while (r == VK_INCOMPLETE);
  if (r != VK_SUCCESS) {
    log_problem(fmt::format("vkEnumeratePhysicalDevices failed: {}", result_name(r)));
    return inst;
  }
  all.resize(n);
  for (VkPhysicalDevice pd : all) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(pd, &p);
    if (p.apiVersion < VK_API_VERSION_1_1) continue; // the SPIR-V needs 1.1
    try {
      DeviceFacts f = probe(pd, inst.api_version);
      inst.physical.push_back(pd);
      inst.facts.push_back(std::move(f));
    } catch (const std::exception& e) {
      log_problem(fmt::format("skipping {}: {}", p.deviceName, e.what()));
    }
  }
  return inst;
}

} // namespace

const Instance& instance() {
  // Deliberately never destroyed: at process exit the loader and the drivers run their own
  // static destructors and atexit handlers (Mesa stops its queue threads there), in an order we
  // do not control, and vkDestroyInstance/vkDestroyDevice after them can hang or crash. The
  // operating system reclaims everything; per-run objects are freed when each run ends.
  static const Instance* inst = [] {
    try {
      return new Instance(create());
    } catch (const std::exception& e) {
      log_problem(fmt::format("vulkan unavailable: {}", e.what()));
      return new Instance();
    }
  }();
  return *inst;
}

bool has_device_extension(VkPhysicalDevice pd, const char* name) {
  uint32_t n = 0;
  if (vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr) != VK_SUCCESS) return false;
  std::vector<VkExtensionProperties> ext(n);
  if (vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, ext.data()) != VK_SUCCESS) return false;
  return std::any_of(ext.begin(), ext.begin() + n, [&](const VkExtensionProperties& e) {
    return std::strcmp(e.extensionName, name) == 0;
  });
}

bool built() { return true; }

const std::vector<DeviceFacts>& devices() { return instance().facts; }

} // namespace tessera::detail::vulkan
