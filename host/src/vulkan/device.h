// A logical device per physical device, created on first use: one compute queue, one command
// buffer, a fence, a descriptor pool, a timestamp query pool, the memoized pipelines and the pool
// of buffers for runs (memory.h), all used under the device's mutex (a run holds it from upload
// to readback, so threads sharing a device are serialized and each sees only its own results).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common.h"
#include "testing.h"

namespace tessera::detail::vulkan {

struct Kernel; // pipelines.h
class Pool;    // memory.h

// Optional features, enabled only where present. No kernel of this layer needs one: they are
// here for later variants (fp16 GEMMs, cooperative matrices), which must check them.
struct OptionalFeatures {
  bool storage_8bit = false;
  bool storage_16bit = false;
  bool shader_float16 = false;
  bool shader_int8 = false;
  bool subgroup_size_control = false;
  bool nv_cooperative_matrix = false;
  // RoundingModeRTE for fp32 may be declared (float controls): the ".rte" shader builds may run.
  bool rounding_mode_rte_fp32 = false;
};

struct Device {
  // Declaration order is destruction order reversed: the VkDevice goes last.
  OwnedDevice device;
  int index = 0; // in devices(), whose facts (core/device.h) pick the tuning rows
  VkPhysicalDevice physical = VK_NULL_HANDLE;
  VkPhysicalDeviceProperties properties{};
  VkPhysicalDeviceMemoryProperties memory{};
  VkDeviceSize max_allocation = 0; // maxMemoryAllocationSize
  uint32_t family = 0;
  VkQueue queue = VK_NULL_HANDLE;
  uint32_t timestamp_bits = 0; // 0: the queue cannot time
  OptionalFeatures features;

  OwnedCommandPool command_pool;
  VkCommandBuffer cmd = VK_NULL_HANDLE; // freed with the pool
  OwnedFence fence;
  OwnedDescriptorPool descriptors;
  OwnedQueryPool timestamps;
  OwnedPipelineCache pipeline_cache;
  std::string pipeline_cache_path; // empty: not persisted
  std::map<std::string, std::unique_ptr<Kernel>> kernels;
  std::unique_ptr<Pool> pool; // the runs' idle buffers
  MemoryPaths paths;          // counted by memory.cpp and batch.cpp

  std::mutex mutex;

  ~Device();
};

// The device at `index` of devices(), created on first use. Throws BackendFailure when the index
// is out of range or the device cannot be created (the failure is remembered, not retried).
Device& device(int index);

// The build of a shader with fp32 arithmetic to run: "quant/x.rte.spv" where the device can
// declare RoundingModeRTE (and the overrides do not say disable=cap:rounding_mode_rte), else
// "quant/x.spv", which does every fp32 operation on integers.
std::string fp32_shader(const Device& d, std::string_view base);

// Workgroup size for a kernel that wants `preferred` invocations: the largest power of two not
// above it that the device accepts.
uint32_t workgroup_size(const Device& d, uint32_t preferred);

// Device time of the last batch on this thread (batch.cpp writes it).
void set_last_device_ms(double ms);

} // namespace tessera::detail::vulkan
