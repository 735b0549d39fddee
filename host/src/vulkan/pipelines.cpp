#include "pipelines.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "host/src/disk_cache.h"
#include "host/src/embedded.h"
#include "testing.h"

std::span<const tessera::EmbeddedFile> tessera_embedded_vulkan_spirv();

namespace tessera::detail::vulkan {

namespace {

std::atomic<int64_t> g_loaded{0}, g_rejected{0}, g_writes{0};
std::atomic<bool> g_force_descriptor_pool{false};

std::mutex g_registered_mutex;
std::vector<std::span<const EmbeddedFile>>& registered_spirv_locked() {
  static std::vector<std::span<const EmbeddedFile>> files;
  return files;
}
// A copy, so that kernel() searches without holding the lock while it compiles.
std::vector<std::span<const EmbeddedFile>> registered_spirv() {
  std::lock_guard lock(g_registered_mutex);
  return registered_spirv_locked();
}

// The driver build whose data a cache file holds. The file is named by this key's hash, so each
// driver build keeps its own file, and it is compared in full on reading: drivers check their
// own header too, but not all of them carefully.
std::string cache_key(const Device& d) {
  const VkPhysicalDeviceProperties& p = d.properties;
  std::string uuid;
  for (uint8_t b : p.pipelineCacheUUID)
    uuid += fmt::format("{:02x}", b);
  return fmt::format("tessera vulkan pipeline cache 1\ndevice: {} ({:04x}:{:04x})\ndriver: "
                     "{}\napi: {}\nuuid: {}",
                     p.deviceName, p.vendorID, p.deviceID, p.driverVersion, p.apiVersion, uuid);
}

// Best effort, and silent: a cache that cannot be written costs compile time, not correctness.
void save_pipeline_cache(const Device& d) {
  if (d.pipeline_cache_path.empty()) return;
  size_t size = 0;
  VkDevice dev = d.device.get();
  if (vkGetPipelineCacheData(dev, d.pipeline_cache.get(), &size, nullptr) != VK_SUCCESS ||
      size == 0)
    return;
  std::string data(size, '\0');
  if (vkGetPipelineCacheData(dev, d.pipeline_cache.get(), &size, data.data()) != VK_SUCCESS) return;
  data.resize(size);
  if (disk_cache::store(d.pipeline_cache_path, cache_key(d), data)) ++g_writes;
}

VkResult create_pipeline_cache(VkDevice dev, const std::string* data, VkPipelineCache* cache) {
  auto ci = make<VkPipelineCacheCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO);
  if (data) {
    ci.initialDataSize = data->size();
    ci.pInitialData = data->data();
  }
  return vkCreatePipelineCache(dev, &ci, nullptr, cache);
}

} // namespace

// A bad file (unreadable, not a file, malformed, refused by the driver) is removed, or bypassed
// when it cannot be, and reported once; the device then starts with an empty cache.
void open_pipeline_cache(Device& d) {
  VkDevice dev = d.device.get();
  VkPipelineCache cache = VK_NULL_HANDLE;
  VkResult r = VK_INCOMPLETE; // not created yet
  d.pipeline_cache_path.clear();
  if (std::string dir = disk_cache::directory(); !dir.empty()) {
    std::string key = cache_key(d);
    std::string path =
        fmt::format("{}/vulkan-{:04x}-{:04x}-{:016x}.pipelines", dir, d.properties.vendorID,
                    d.properties.deviceID, disk_cache::fnv1a64(key));
    disk_cache::Entry entry(path, std::move(key), "pipeline cache", log_problem);
    if (std::optional<std::string> data = entry.load()) {
      r = create_pipeline_cache(dev, &*data, &cache);
      if (r == VK_SUCCESS) {
        entry.accept();
        ++g_loaded;
      } else {
        entry.reject(fmt::format("vkCreatePipelineCache: {}", result_name(r)));
      }
    }
    if (entry.rejected()) ++g_rejected;
    if (!entry.bypassed()) d.pipeline_cache_path = path;
  }
  if (r != VK_SUCCESS) r = create_pipeline_cache(dev, nullptr, &cache);
  check(r, "vkCreatePipelineCache");
  d.pipeline_cache = OwnedPipelineCache(dev, cache);
}

void set_force_descriptor_pool(bool on) { g_force_descriptor_pool = on; }

bool push_descriptors(const Device& d) { return d.push_descriptor_set && !g_force_descriptor_pool; }

const Kernel& kernel(Device& d, std::string_view spv, uint32_t bindings, uint32_t push_bytes,
                     uint32_t workgroup, std::initializer_list<uint32_t> constants) {
  // Specialization constant 0 is the workgroup size, 1.. the caller's constants.
  std::vector<uint32_t> values{workgroup};
  values.insert(values.end(), constants.begin(), constants.end());
  const bool pushed = push_descriptors(d);
  std::string key = fmt::format("{}@{}{}", spv, fmt::join(values, ","), pushed ? "" : " (descriptor sets)");
  if (auto it = d.kernels.find(key); it != d.kernels.end()) return *it->second;

  const EmbeddedFile* file = find_embedded(tessera_embedded_vulkan_spirv(), spv);
  if (!file) // a test-only shader (register_spirv)
    for (std::span<const EmbeddedFile> more : registered_spirv())
      if ((file = find_embedded(more, spv))) break;
  if (!file) backend_failure(fmt::format("shader {} is not in this build", spv));
  if (file->data.size() % 4 != 0)
    backend_failure(fmt::format("shader {} is not SPIR-V ({} bytes)", spv, file->data.size()));
  // Embedded bytes carry no alignment promise; pCode must be 4-byte aligned.
  std::vector<uint32_t> code(file->data.size() / 4);
  std::memcpy(code.data(), file->data.data(), file->data.size());

  VkDevice dev = d.device.get();
  auto k = std::make_unique<Kernel>();
  k->bindings = bindings;
  k->push_bytes = push_bytes;
  k->workgroup = workgroup;
  k->push_descriptors = pushed;

  auto sm = make<VkShaderModuleCreateInfo>(VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO);
  sm.codeSize = file->data.size();
  sm.pCode = code.data();
  VkShaderModule module;
  check(vkCreateShaderModule(dev, &sm, nullptr, &module),
        fmt::format("vkCreateShaderModule({})", spv));
  OwnedShaderModule owned_module(dev, module);

  std::vector<VkDescriptorSetLayoutBinding> b(bindings);
  for (uint32_t i = 0; i < bindings; ++i)
    b[i] = VkDescriptorSetLayoutBinding{i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1,
                                        VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  auto sl =
      make<VkDescriptorSetLayoutCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO);
  if (pushed) sl.flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR;
  sl.bindingCount = bindings;
  sl.pBindings = b.data();
  VkDescriptorSetLayout set_layout;
  check(vkCreateDescriptorSetLayout(dev, &sl, nullptr, &set_layout), "vkCreateDescriptorSetLayout");
  k->set_layout = OwnedSetLayout(dev, set_layout);

  VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes};
  auto pl = make<VkPipelineLayoutCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO);
  pl.setLayoutCount = 1;
  pl.pSetLayouts = &set_layout;
  pl.pushConstantRangeCount = push_bytes ? 1 : 0;
  pl.pPushConstantRanges = &push;
  VkPipelineLayout layout;
  check(vkCreatePipelineLayout(dev, &pl, nullptr, &layout), "vkCreatePipelineLayout");
  k->layout = OwnedPipelineLayout(dev, layout);

  std::vector<VkSpecializationMapEntry> entries(values.size());
  for (uint32_t i = 0; i < values.size(); ++i)
    entries[i] = VkSpecializationMapEntry{i, i * uint32_t{sizeof(uint32_t)}, sizeof(uint32_t)};
  VkSpecializationInfo spec{static_cast<uint32_t>(values.size()), entries.data(),
                            values.size() * sizeof(uint32_t), values.data()};
  auto cp = make<VkComputePipelineCreateInfo>(VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO);
  cp.stage =
      make<VkPipelineShaderStageCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO);
  cp.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  cp.stage.module = module;
  cp.stage.pName = "main";
  cp.stage.pSpecializationInfo = &spec;
  cp.layout = layout;
  VkPipeline pipeline;
  check(vkCreateComputePipelines(dev, d.pipeline_cache.get(), 1, &cp, nullptr, &pipeline),
        fmt::format("vkCreateComputePipelines({})", spv));
  k->pipeline = OwnedPipeline(dev, pipeline);
  save_pipeline_cache(d);

  return *d.kernels.emplace(std::move(key), std::move(k)).first->second;
}

PipelineCacheStats pipeline_cache_stats() {
  return {g_loaded.load(), g_rejected.load(), g_writes.load()};
}

void register_spirv(std::span<const EmbeddedFile> files) {
  std::lock_guard lock(g_registered_mutex);
  registered_spirv_locked().push_back(files);
}

} // namespace tessera::detail::vulkan
