// Compute pipelines from the embedded SPIR-V, memoized per device by (shader, workgroup size,
// specialization constants), and the device's VkPipelineCache, persisted on disk unless the overrides say
// program_cache=off.
#pragma once

#include <initializer_list>
#include <span>
#include <string_view>

#include "device.h"
#include "host/src/embedded.h"

namespace tessera::detail::vulkan {

// One shader specialized for one workgroup size (and its other specialization constants):
// `bindings` storage buffers at set 0, bindings
// 0..bindings-1, and `push_bytes` of push constants.
struct Kernel {
  OwnedSetLayout set_layout;
  OwnedPipelineLayout layout;
  OwnedPipeline pipeline;
  uint32_t bindings = 0;
  uint32_t push_bytes = 0;
  uint32_t workgroup = 0;
  bool push_descriptors = false; // set_layout is for vkCmdPushDescriptorSetKHR, not for sets
};

// Whether kernels looked up on d now push their descriptors: d has the extension
// (Device::push_descriptor_set) and the tests do not force the pool (set_force_descriptor_pool).
bool push_descriptors(const Device& d);

// The kernel of embedded SPIR-V `spv` ("quant/convert.spv") with its workgroup size in
// specialization constant 0 and `constants` in specialization constants 1, 2, ...: the numbers
// a shader is sized by that are also its record's limits (the gemv's MAX_M, DeltaNet's DK_MAX),
// which the launcher reads from the record's manifest, so that each is written once. The cache
// key holds all of them and push_descriptors(d). The caller holds d.mutex. Throws
// BackendFailure when the shader is not embedded or the driver refuses it.
const Kernel& kernel(Device& d, std::string_view spv, uint32_t bindings, uint32_t push_bytes,
                     uint32_t workgroup, std::initializer_list<uint32_t> constants = {});

// Adds SPIR-V that kernel() finds after the library's own: the test-only shaders, which
// tessera_testing (host/src/vulkan/testing.cpp) embeds and registers, so that the installed
// library does not carry them. Thread-safe; `files` must outlive every later kernel() call.
void register_spirv(std::span<const EmbeddedFile> files);

// Creates d.pipeline_cache, seeded from disk when a valid file for this driver build is there
// (device.cpp calls this once per device). A bad file never makes the device unusable: it starts
// an empty cache. Throws BackendFailure only when the driver cannot create even an empty one.
void open_pipeline_cache(Device& d);

} // namespace tessera::detail::vulkan
