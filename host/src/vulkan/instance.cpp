// Instance creation and device enumeration. Nothing here throws: a machine without a Vulkan
// driver simply has no vulkan devices, and the registry runs everything elsewhere. Why there is
// none is kept (Instance::why_none) for the errors of calls that ask for one and for kinfo,
// rather than printed: a process that never asks for Vulkan need not hear about it.
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

// `failure`, then the ICD manifests. The loader answers a manifest it cannot parse with
// VK_ERROR_OUT_OF_HOST_MEMORY and one whose library is missing with
// VK_ERROR_INCOMPATIBLE_DRIVER, so for those an invalid manifest is named as the likely cause.
std::string with_manifests(const std::string& failure, bool manifest_suspect) {
  ManifestCheck m = check_icd_manifests();
  if (manifest_suspect && m.any_invalid)
    return failure + ", likely caused by a broken ICD manifest: " + m.summary;
  return failure + "; " + m.summary;
}

Instance create() {
  Instance inst;
  uint32_t loader = VK_API_VERSION_1_0;
  if (vkEnumerateInstanceVersion(&loader) != VK_SUCCESS || loader < VK_API_VERSION_1_1) {
    inst.why_none =
        with_manifests(fmt::format("the Vulkan loader is {}.{}, 1.1 is needed",
                                   VK_API_VERSION_MAJOR(loader), VK_API_VERSION_MINOR(loader)),
                       false);
    return inst;
  }
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
    inst.handle = VK_NULL_HANDLE;
    std::string failure = "vkCreateInstance: " + result_name(r);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER) failure += " (the loader found no driver it could load)";
    inst.why_none = with_manifests(failure, r == VK_ERROR_OUT_OF_HOST_MEMORY ||
                                                r == VK_ERROR_INCOMPATIBLE_DRIVER);
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
    inst.why_none = with_manifests("vkEnumeratePhysicalDevices: " + result_name(r), false);
    return inst;
  }
  all.resize(n);
  std::string skipped; // why each physical device was left out
  for (VkPhysicalDevice pd : all) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(pd, &p);
    std::string why;
    if (p.apiVersion < VK_API_VERSION_1_1) { // the SPIR-V needs 1.1
      why = fmt::format("{} supports Vulkan 1.0 only, 1.1 is needed", p.deviceName);
    } else {
      try {
        DeviceFacts f = probe(pd, inst.api_version);
        inst.physical.push_back(pd);
        inst.facts.push_back(std::move(f));
      } catch (const std::exception& e) {
        why = fmt::format("skipping {}: {}", p.deviceName, e.what());
        log_problem(why);
      }
    }
    if (!why.empty()) skipped += (skipped.empty() ? "" : "; ") + why;
  }
  if (inst.facts.empty())
    inst.why_none =
        with_manifests(all.empty() ? "vkEnumeratePhysicalDevices found no device" : skipped, false);
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
      auto* none = new Instance();
      none->why_none = fmt::format("vulkan unavailable: {}", e.what());
      return none;
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

std::string no_device_reason() { return instance().why_none; }

} // namespace tessera::detail::vulkan
