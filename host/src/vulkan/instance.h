// The process's one VkInstance and the physical devices it exposes, probed once.
#pragma once

#include <vulkan/vulkan.h>

#include <vector>

#include "dispatch/device.h"

namespace tessera::detail::vulkan {

struct Instance {
  VkInstance handle = VK_NULL_HANDLE; // null when there is no loader, ICD or usable device
  uint32_t api_version = 0;           // what the instance was created for
  std::vector<VkPhysicalDevice> physical;
  std::vector<DeviceFacts> facts; // facts[i] describes physical[i]
};

// Created on first use (thread-safe), never throws, never destroyed (see instance.cpp).
const Instance& instance();

// The raw facts of one physical device (probe.cpp), for an instance of version instance_api.
DeviceFacts probe(VkPhysicalDevice pd, uint32_t instance_api);

// Whether the physical device lists a device extension.
bool has_device_extension(VkPhysicalDevice pd, const char* name);

} // namespace tessera::detail::vulkan
