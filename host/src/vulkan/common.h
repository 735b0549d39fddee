// Shared pieces of the vulkan backend: VkResult checking, the logging helper, and an owning
// handle so that every Vulkan object a run creates is destroyed on every path, exceptions
// included.
#pragma once

#include <vulkan/vulkan.h>

#include <string_view>
#include <utility>

#include "host/src/backends.h"

namespace tessera::detail::vulkan {

// "VK_ERROR_DEVICE_LOST", or "VkResult(-13)" for a code this header does not know.
std::string result_name(VkResult r);

// Throws BackendFailure("vulkan: WHAT failed: VK_...") unless r is VK_SUCCESS: the dispatcher then
// disables the variant on this device and falls back.
void check(VkResult r, std::string_view what);

// A zeroed Vulkan struct with its sType set (brace-initializing only sType trips -Wextra).
template <class T> T make(VkStructureType type) {
  T t{};
  t.sType = type;
  return t;
}

[[noreturn]] void backend_failure(std::string_view message);

// The backend's one voice for real problems (a driver that will not start, not a cache miss):
// one line on stderr, prefixed "tessera: ".
void log_problem(std::string_view message);

// Owns one object of a VkDevice, destroyed by `Destroy(device, handle, nullptr)`.
template <class T, auto Destroy> class Owned {
public:
  Owned() = default;
  Owned(VkDevice device, T handle) : device_(device), handle_(handle) {}
  Owned(Owned&& o) noexcept
      : device_(o.device_), handle_(std::exchange(o.handle_, VK_NULL_HANDLE)) {}
  Owned& operator=(Owned&& o) noexcept {
    if (this != &o) {
      reset();
      device_ = o.device_;
      handle_ = std::exchange(o.handle_, VK_NULL_HANDLE);
    }
    return *this;
  }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() { reset(); }

  T get() const { return handle_; }
  void reset() {
    if (handle_ != VK_NULL_HANDLE) Destroy(device_, handle_, nullptr);
    handle_ = VK_NULL_HANDLE;
  }

private:
  VkDevice device_ = VK_NULL_HANDLE;
  T handle_ = VK_NULL_HANDLE;
};

using OwnedBuffer = Owned<VkBuffer, vkDestroyBuffer>;
using OwnedMemory = Owned<VkDeviceMemory, vkFreeMemory>;
using OwnedShaderModule = Owned<VkShaderModule, vkDestroyShaderModule>;
using OwnedSetLayout = Owned<VkDescriptorSetLayout, vkDestroyDescriptorSetLayout>;
using OwnedPipelineLayout = Owned<VkPipelineLayout, vkDestroyPipelineLayout>;
using OwnedPipeline = Owned<VkPipeline, vkDestroyPipeline>;
using OwnedPipelineCache = Owned<VkPipelineCache, vkDestroyPipelineCache>;
using OwnedCommandPool = Owned<VkCommandPool, vkDestroyCommandPool>;
using OwnedDescriptorPool = Owned<VkDescriptorPool, vkDestroyDescriptorPool>;
using OwnedFence = Owned<VkFence, vkDestroyFence>;
using OwnedQueryPool = Owned<VkQueryPool, vkDestroyQueryPool>;

// The VkDevice itself, destroyed last (declare it first in an owner).
class OwnedDevice {
public:
  OwnedDevice() = default;
  explicit OwnedDevice(VkDevice d) : device_(d) {}
  OwnedDevice(const OwnedDevice&) = delete;
  OwnedDevice& operator=(const OwnedDevice&) = delete;
  OwnedDevice& operator=(OwnedDevice&& o) noexcept {
    if (this != &o) {
      reset();
      device_ = std::exchange(o.device_, VK_NULL_HANDLE);
    }
    return *this;
  }
  ~OwnedDevice() { reset(); }
  void reset() {
    if (device_ != VK_NULL_HANDLE) vkDestroyDevice(device_, nullptr);
    device_ = VK_NULL_HANDLE;
  }
  VkDevice get() const { return device_; }

private:
  VkDevice device_ = VK_NULL_HANDLE;
};

} // namespace tessera::detail::vulkan
