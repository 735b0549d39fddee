#include "batch.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "core/overrides.h"

namespace tessera::detail::vulkan {

namespace {
thread_local double t_last_ms = 0.0;
} // namespace

double last_device_ms() { return t_last_ms; }
void set_last_device_ms(double ms) { t_last_ms = ms; }

uint32_t group_count(const Device& d, uint64_t items, uint32_t workgroup) {
  uint64_t g = (items + workgroup - 1) / workgroup;
  uint64_t cap = d.properties.limits.maxComputeWorkGroupCount[0];
  return static_cast<uint32_t>(std::clamp<uint64_t>(g, 1, cap));
}

void dispatch_windows(Batch& batch, const Kernel& k, std::initializer_list<const Buffer*> buffers,
                      const void* push, int64_t windows, int64_t units,
                      const std::function<void(int64_t w, uint32_t base, uint32_t end)>& set) {
  // The device's most, or fewer where TESSERA_OVERRIDE says vulkan_dispatch_groups=.
  const int64_t forced = current_overrides().vulkan_dispatch_groups;
  const int64_t cap = forced > 0 ? forced : batch.device().properties.limits.maxComputeWorkGroupCount[0];
  bool first = true;
  for (int64_t w = 0; w < windows; ++w)
    for (int64_t base = 0; base < units; base += cap) {
      const int64_t end = std::min(units, base + cap);
      set(w, static_cast<uint32_t>(base), static_cast<uint32_t>(end));
      const auto groups = static_cast<uint32_t>(end - base);
      if (first) batch.dispatch(k, buffers, push, groups);
      else batch.redispatch(push, groups);
      first = false;
    }
}

Batch::Batch(Device& d) : d_(d) {
  set_last_device_ms(0.0);
  check(vkResetDescriptorPool(d.device.get(), d.descriptors.get(), 0), "vkResetDescriptorPool");
  check(vkResetCommandBuffer(d.cmd, 0), "vkResetCommandBuffer");
  auto bi = make<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  check(vkBeginCommandBuffer(d.cmd, &bi), "vkBeginCommandBuffer");
  if (d.timestamps.get() != VK_NULL_HANDLE) {
    vkCmdResetQueryPool(d.cmd, d.timestamps.get(), 0, 2);
    vkCmdWriteTimestamp(d.cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, d.timestamps.get(), 0);
  }
}

void Batch::barrier(VkPipelineStageFlags dst_stage, VkAccessFlags dst_access) {
  auto mb = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = dst_access;
  vkCmdPipelineBarrier(d_.cmd,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       dst_stage, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

void Batch::fill(const Buffer& b, VkDeviceSize offset, VkDeviceSize bytes, uint32_t value) {
  vkCmdFillBuffer(d_.cmd, b.get(), offset, bytes, value);
  barrier(VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
          VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
}

void Batch::dispatch(const Kernel& k, std::initializer_list<const Buffer*> buffers,
                     const void* push, uint32_t groups) {
  if (buffers.size() != k.bindings)
    backend_failure(
        fmt::format("a dispatch binds {} buffers to a kernel with {}", buffers.size(), k.bindings));
  VkDevice dev = d_.device.get();
  VkDescriptorSetLayout layout = k.set_layout.get();
  auto ai = make<VkDescriptorSetAllocateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO);
  ai.descriptorPool = d_.descriptors.get();
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &layout;
  VkDescriptorSet set;
  check(vkAllocateDescriptorSets(dev, &ai, &set), "vkAllocateDescriptorSets");

  std::vector<VkDescriptorBufferInfo> info;
  std::vector<VkWriteDescriptorSet> writes;
  info.reserve(buffers.size());
  for (const Buffer* b : buffers)
    info.push_back(VkDescriptorBufferInfo{b->get(), 0, VK_WHOLE_SIZE});
  for (uint32_t i = 0; i < info.size(); ++i) {
    auto w = make<VkWriteDescriptorSet>(VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET);
    w.dstSet = set;
    w.dstBinding = i;
    w.descriptorCount = 1;
    w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    w.pBufferInfo = &info[i];
    writes.push_back(w);
  }
  vkUpdateDescriptorSets(dev, static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);

  vkCmdBindPipeline(d_.cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k.pipeline.get());
  vkCmdBindDescriptorSets(d_.cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k.layout.get(), 0, 1, &set, 0,
                          nullptr);
  last_ = &k;
  redispatch(push, groups);
}

void Batch::redispatch(const void* push, uint32_t groups) {
  if (!last_) backend_failure("a redispatch without a dispatch before it");
  if (last_->push_bytes)
    vkCmdPushConstants(d_.cmd, last_->layout.get(), VK_SHADER_STAGE_COMPUTE_BIT, 0,
                       last_->push_bytes, push);
  vkCmdDispatch(d_.cmd, groups, 1, 1);
  barrier(VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
          VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
}

void Batch::submit() {
  VkQueryPool ts = d_.timestamps.get();
  if (ts != VK_NULL_HANDLE)
    vkCmdWriteTimestamp(d_.cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, ts, 1);
  // Waiting on the fence does not make device writes visible to the host; this barrier does.
  barrier(VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
  check(vkEndCommandBuffer(d_.cmd), "vkEndCommandBuffer");

  VkDevice dev = d_.device.get();
  VkFence fence = d_.fence.get();
  check(vkResetFences(dev, 1, &fence), "vkResetFences");
  auto si = make<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
  si.commandBufferCount = 1;
  si.pCommandBuffers = &d_.cmd;
  check(vkQueueSubmit(d_.queue, 1, &si, fence), "vkQueueSubmit");
  check(vkWaitForFences(dev, 1, &fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");

  if (ts != VK_NULL_HANDLE) {
    uint64_t t[2] = {0, 0};
    check(vkGetQueryPoolResults(dev, ts, 0, 2, sizeof t, t, sizeof t[0],
                                VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
          "vkGetQueryPoolResults");
    uint64_t mask = d_.timestamp_bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << d_.timestamp_bits) - 1;
    uint64_t ticks = (t[1] - t[0]) & mask;
    set_last_device_ms(static_cast<double>(ticks) *
                       static_cast<double>(d_.properties.limits.timestampPeriod) / 1e6);
  }
}

} // namespace tessera::detail::vulkan
