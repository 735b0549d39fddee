#include "pipelines.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <vector>

#include <unistd.h>

#include "host/src/embedded.h"
#include "host/src/overrides.h"

std::span<const tessera::EmbeddedFile> tessera_embedded_vulkan_spirv();

namespace tessera::detail::vulkan {

namespace {

// $XDG_CACHE_HOME/tessera, else ~/.cache/tessera, unless the overrides name a directory or turn
// the cache off; empty when there is nowhere to put it.
std::string cache_dir() {
  Overrides o = current_overrides();
  if (!o.program_cache) return "";
  if (!o.cache_dir.empty()) return o.cache_dir;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/tessera";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/tessera";
  return "";
}

std::vector<char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A cache file is used only when its header names this very driver build; anything else (a
// driver update, a truncated file) starts an empty cache. Drivers check too, but not all of
// them carefully.
bool compatible(const std::vector<char>& data, const VkPhysicalDeviceProperties& p) {
  VkPipelineCacheHeaderVersionOne h;
  if (data.size() < sizeof h) return false;
  std::memcpy(&h, data.data(), sizeof h);
  return h.headerSize >= sizeof h && h.headerVersion == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
         h.vendorID == p.vendorID && h.deviceID == p.deviceID &&
         std::memcmp(h.pipelineCacheUUID, p.pipelineCacheUUID, VK_UUID_SIZE) == 0;
}

// Best effort: a cache that cannot be written costs compile time, not correctness, so failures
// are silent. Written to a temporary name and renamed, so a reader never sees half a file.
void save_pipeline_cache(const Device& d) {
  if (d.pipeline_cache_path.empty()) return;
  size_t size = 0;
  VkDevice dev = d.device.get();
  if (vkGetPipelineCacheData(dev, d.pipeline_cache.get(), &size, nullptr) != VK_SUCCESS ||
      size == 0)
    return;
  std::vector<char> data(size);
  if (vkGetPipelineCacheData(dev, d.pipeline_cache.get(), &size, data.data()) != VK_SUCCESS) return;
  std::error_code ec;
  std::filesystem::path path(d.pipeline_cache_path);
  std::filesystem::create_directories(path.parent_path(), ec);
  std::string tmp = fmt::format("{}.{}.tmp", d.pipeline_cache_path, static_cast<long>(getpid()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return;
    out.write(data.data(), static_cast<std::streamsize>(size));
    if (!out) {
      out.close();
      std::filesystem::remove(tmp, ec);
      return;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

} // namespace

void open_pipeline_cache(Device& d) {
  VkDevice dev = d.device.get();
  std::string dir = cache_dir();
  std::vector<char> data;
  if (!dir.empty()) {
    std::string uuid;
    for (uint8_t b : d.properties.pipelineCacheUUID)
      uuid += fmt::format("{:02x}", b);
    d.pipeline_cache_path = fmt::format("{}/vulkan-{:04x}-{:04x}-{}.pipelines", dir,
                                        d.properties.vendorID, d.properties.deviceID, uuid);
    data = read_file(d.pipeline_cache_path);
    if (!compatible(data, d.properties)) data.clear();
  }
  auto ci = make<VkPipelineCacheCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO);
  ci.initialDataSize = data.size();
  ci.pInitialData = data.empty() ? nullptr : data.data();
  VkPipelineCache cache;
  VkResult r = vkCreatePipelineCache(dev, &ci, nullptr, &cache);
  if (r != VK_SUCCESS && !data.empty()) { // a driver that chokes on its own old data: start empty
    ci.initialDataSize = 0;
    ci.pInitialData = nullptr;
    r = vkCreatePipelineCache(dev, &ci, nullptr, &cache);
  }
  check(r, "vkCreatePipelineCache");
  d.pipeline_cache = OwnedPipelineCache(dev, cache);
}

const Kernel& kernel(Device& d, std::string_view spv, uint32_t bindings, uint32_t push_bytes,
                     uint32_t workgroup) {
  std::string key = fmt::format("{}@{}", spv, workgroup);
  if (auto it = d.kernels.find(key); it != d.kernels.end()) return *it->second;

  const EmbeddedFile* file = find_embedded(tessera_embedded_vulkan_spirv(), spv);
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

  VkSpecializationMapEntry entry{0, 0, sizeof(uint32_t)};
  VkSpecializationInfo spec{1, &entry, sizeof(uint32_t), &workgroup};
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

} // namespace tessera::detail::vulkan
