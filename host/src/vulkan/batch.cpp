#include "batch.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/backend.h"
#include "core/overrides.h"
#include "host/src/device_memory.h"

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

void dispatch_windows(Batch& batch, const Kernel& k, std::initializer_list<Buffer*> buffers,
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

namespace {
// A full memory barrier: every shader or transfer write before it is visible to dst_stage's
// dst_access after it. Also across submissions (a barrier's scope takes in all the commands
// submitted before it on the queue), which a run reading what an earlier submission wrote needs.
void barrier(VkCommandBuffer cmd, VkPipelineStageFlags dst_stage, VkAccessFlags dst_access) {
  auto mb = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = dst_access;
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, dst_stage, 0, 1,
                       &mb, 0, nullptr, 0, nullptr);
}

// Before a command that reads or writes what the commands before it wrote.
void device_barrier(VkCommandBuffer cmd) {
  barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
          VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
              VK_ACCESS_TRANSFER_WRITE_BIT);
}

void begin(Device& d) {
  check(vkResetCommandBuffer(d.cmd, 0), "vkResetCommandBuffer");
  auto bi = make<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  check(vkBeginCommandBuffer(d.cmd, &bi), "vkBeginCommandBuffer");
  device_barrier(d.cmd);
}

// Waiting on the fence does not make device writes visible to the host; the barrier does.
void end_and_wait(Device& d) {
  barrier(d.cmd, VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
  check(vkEndCommandBuffer(d.cmd), "vkEndCommandBuffer");
  VkDevice dev = d.device.get();
  VkFence fence = d.fence.get();
  check(vkResetFences(dev, 1, &fence), "vkResetFences");
  auto si = make<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
  si.commandBufferCount = 1;
  si.pCommandBuffers = &d.cmd;
  check(vkQueueSubmit(d.queue, 1, &si, fence), "vkQueueSubmit");
  check(vkWaitForFences(dev, 1, &fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
}
} // namespace

void transfer(Device& d, const std::function<void(VkCommandBuffer)>& record) {
  begin(d);
  record(d.cmd);
  end_and_wait(d);
}

Batch::Batch(Device& d) : d_(d) {
  set_last_device_ms(0.0);
  check(vkResetDescriptorPool(d.device.get(), d.descriptors.get(), 0), "vkResetDescriptorPool");
  begin(d);
}

Batch::~Batch() {
  for (auto& b : staging_)
    d_.pool->give(std::move(b));
}

void Batch::start_timing() {
  if (timing_ || d_.timestamps.get() == VK_NULL_HANDLE) return;
  vkCmdResetQueryPool(d_.cmd, d_.timestamps.get(), 0, 2);
  vkCmdWriteTimestamp(d_.cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, d_.timestamps.get(), 0);
  timing_ = true;
}

Buffer::Place Batch::place(Buffer& b) {
  bool taken = false;
  const Buffer::Place p = b.place(&taken);
  // Under set_force_staging a block starts with bytes no kernel wrote, as new memory on a
  // discrete GPU and a pooled block do: a kernel that reads them differs from the default mode.
  if (taken && !p.host && force_staging()) {
    vkCmdFillBuffer(d_.cmd, p.buffer, p.offset, b.size(), 0xA5A5A5A5u);
    device_barrier(d_.cmd);
  }
  return p;
}

void Batch::upload(Buffer& b, VkDeviceSize offset, const void* src, size_t bytes) {
  check_range(b.size(), offset, bytes);
  if (b.is_window()) backend_failure("an upload into an input read where it lives");
  if (bytes == 0) return;
  if (device_memory::resident(src)) {
    std::shared_ptr<void> keep;
    VkDeviceSize at = 0;
    const Block& r = resident_block(d_, src, bytes, "an input", keep, at);
    if (offset == 0 && (bytes + 3) / 4 * 4 == b.size() && b.window(keep, at)) {
      d_.paths.in_place += 1;
      return;
    }
    d_.paths.device_copies += 1;
    const Buffer::Place p = place(b);
    const VkBufferCopy region{at, p.offset + offset, bytes};
    vkCmdCopyBuffer(d_.cmd, r.get(), p.buffer, 1, &region);
    device_barrier(d_.cmd);
    resident_.push_back(std::move(keep)); // until the copy has run, even if the buffer is freed
    return;
  }
  const Buffer::Place p = place(b);
  if (p.host) {
    std::memcpy(p.host + offset, src, bytes);
  } else {
    d_.paths.staged_bytes += static_cast<int64_t>(bytes);
    std::unique_ptr<Block> s = d_.pool->take(d_, bytes, true);
    std::memcpy(s->data(), src, bytes);
    const VkBufferCopy region{0, p.offset + offset, bytes};
    vkCmdCopyBuffer(d_.cmd, s->get(), p.buffer, 1, &region);
    device_barrier(d_.cmd);
    staging_.push_back(std::move(s));
  }
  thread_traffic().bytes_to_device += static_cast<int64_t>(bytes);
}

void Batch::fill(Buffer& b, VkDeviceSize offset, VkDeviceSize bytes, uint32_t value) {
  if (b.is_window()) backend_failure("a fill of an input read where it lives");
  const Buffer::Place p = place(b);
  start_timing();
  vkCmdFillBuffer(d_.cmd, p.buffer, p.offset + offset, bytes, value);
  device_barrier(d_.cmd);
}

void Batch::dispatch(const Kernel& k, std::initializer_list<Buffer*> buffers,
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
  for (Buffer* b : buffers) {
    const Buffer::Place p = place(*b);
    info.push_back(VkDescriptorBufferInfo{p.buffer, p.offset, b->size()});
  }
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

  start_timing();
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
  device_barrier(d_.cmd);
}

void Batch::submit() {
  VkQueryPool ts = timing_ ? d_.timestamps.get() : VK_NULL_HANDLE;
  if (ts != VK_NULL_HANDLE)
    vkCmdWriteTimestamp(d_.cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, ts, 1);
  end_and_wait(d_);
  VkDevice dev = d_.device.get();

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
