// The process's one VkInstance and the physical devices it exposes, probed once.
#pragma once

#include <vulkan/vulkan.h>

#include <string>
#include <vector>

#include "core/device.h"

namespace tessera::detail::vulkan {

struct Instance {
  VkInstance handle = VK_NULL_HANDLE; // null when there is no loader, ICD or usable device
  uint32_t api_version = 0;           // what the instance was created for
  std::vector<VkPhysicalDevice> physical;
  std::vector<DeviceFacts> facts; // facts[i] describes physical[i]
  std::string why_none;           // when `facts` is empty: why, in one line; else ""
};

// Created on first use (thread-safe), never throws, never destroyed (see instance.cpp).
const Instance& instance();

// The raw facts of one physical device (probe.cpp), for an instance of version instance_api.
DeviceFacts probe(VkPhysicalDevice pd, uint32_t instance_api);

// The ICD manifests the loader reads (VK_DRIVER_FILES or VK_ICD_FILENAMES, plus
// VK_ADD_DRIVER_FILES, else the XDG search), each checked for valid JSON and a library that
// exists (probe.cpp).
struct ManifestCheck {
  std::string summary; // "ICD manifests (VK_ICD_FILENAMES): /tmp/bad.json is not valid JSON ..."
  bool any_invalid = false;
};
ManifestCheck check_icd_manifests();

// Whether the physical device lists a device extension.
bool has_device_extension(VkPhysicalDevice pd, const char* name);

} // namespace tessera::detail::vulkan
