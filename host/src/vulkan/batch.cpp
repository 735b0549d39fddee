#include "batch.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "core/error.h"
#include "core/overrides.h"
#include "host/src/device_memory.h"
#include "host/src/validate.h"
#include "testing.h"

namespace tessera::detail::vulkan {

namespace {
thread_local double t_last_ms = 0.0;
constexpr uint32_t kNoIndex = 0xFFFFFFFFu; // a scan's "no non-finite element" (Batch::check_at_sync)
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
  if (d.timestamps.get() != VK_NULL_HANDLE) vkCmdResetQueryPool(d.cmd, d.timestamps.get(), 0, 2 * kMaxSegments);
  device_barrier(d.cmd);
  d.submission.open = true;
  d.submission.number += 1;
}

// Ends the open segment (Submission::live), writing its closing timestamp where it was timed.
void end_segment(Device& d) {
  Submission& s = d.submission;
  if (s.live < 0) return;
  if (s.segments[static_cast<size_t>(s.live)].timed)
    vkCmdWriteTimestamp(d.cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, d.timestamps.get(),
                        2 * static_cast<uint32_t>(s.live) + 1);
  s.live = -1;
}

// Waiting on the fence does not make device writes visible to the host; the barrier does. The
// result of the first step that failed, VK_SUCCESS when all went well.
VkResult submit_and_wait(Device& d) {
  barrier(d.cmd, VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
  VkResult r = vkEndCommandBuffer(d.cmd);
  if (r != VK_SUCCESS) return r;
  VkDevice dev = d.device.get();
  VkFence fence = d.fence.get();
  if ((r = vkResetFences(dev, 1, &fence)) != VK_SUCCESS) return r;
  auto si = make<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
  si.commandBufferCount = 1;
  si.pCommandBuffers = &d.cmd;
  // A submission that failed signals nothing: waiting on its fence would never end.
  if ((r = vkQueueSubmit(d.queue, 1, &si, fence)) != VK_SUCCESS) return r;
  return vkWaitForFences(dev, 1, &fence, VK_TRUE, UINT64_MAX);
}

// The device time of segment i of a completed submission, in ms; 0 where the driver cannot say
// (complete() must clear the submission whatever happens).
double segment_ms(const Device& d, size_t i) {
  uint64_t t[2] = {0, 0};
  if (vkGetQueryPoolResults(d.device.get(), d.timestamps.get(), 2 * static_cast<uint32_t>(i), 2, sizeof t, t,
                            sizeof t[0], VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) != VK_SUCCESS)
    return 0.0;
  const uint64_t mask = d.timestamp_bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << d.timestamp_bits) - 1;
  return static_cast<double>((t[1] - t[0]) & mask) * static_cast<double>(d.properties.limits.timestampPeriod) / 1e6;
}

// The completed submission's checks (Batch::check_at_sync): the first non-finite element found
// becomes the report's failure, unless it has one already.
void read_checks(Device& d) {
  Submission& s = d.submission;
  if (s.checks.empty()) return;
  thread_traffic().bytes_from_device += static_cast<int64_t>(s.checks.size() * sizeof(uint32_t));
  for (size_t i = 0; i < s.checks.size() && s.failure.empty(); ++i) {
    uint32_t first = 0;
    std::memcpy(&first, d.flags->data() + i * sizeof first, sizeof first);
    const Submission::Check& c = s.checks[i];
    if (!c.cut.empty()) { // a status word: 0 when the shader's loops ran to their end
      if (first != 0) s.failure = c.cut;
      continue;
    }
    if (first == kNoIndex) continue;
    s.failure = queued_non_finite(c.op, c.name, {c.rows, c.cols}, first);
    s.non_finite = true;
  }
}
} // namespace

VkCommandBuffer recording(Device& d) {
  if (!d.submission.open) begin(d);
  else device_barrier(d.cmd);
  return d.cmd;
}

void complete(Device& d) {
  Submission& s = d.submission;
  if (!s.open) return;
  end_segment(d);
  VkResult r = submit_and_wait(d);
  if (r == VK_SUCCESS && std::exchange(d.fail_next_submission, false)) r = VK_ERROR_DEVICE_LOST;
  s.open = false;
  // Runs that returned before this one waited are the queued ones, which sync() reports; the
  // live Batch's own segments are its caller's (last_device_ms(), the BackendFailure below).
  const Submission::Segment* first_queued = nullptr;
  bool live = false;
  for (size_t i = 0; i < s.segments.size(); ++i) {
    const Submission::Segment& seg = s.segments[i];
    const bool mine = seg.call == d.live_call;
    live = live || mine;
    if (!mine && (!first_queued || (seg.counts && !first_queued->counts))) first_queued = &seg;
    s.done_calls += seg.counts;
    if (r != VK_SUCCESS || !seg.timed) continue;
    const double ms = segment_ms(d, i);
    if (mine) {
      d.live_ms += ms;
      set_last_device_ms(last_device_ms() + ms);
    } else {
      s.done_ms += ms;
    }
  }
  std::string failed;
  if (r != VK_SUCCESS) {
    failed = fmt::format("a submission failed: {}", result_name(r));
    if (first_queued && s.failure.empty()) {
      s.failure = fmt::format("{}: {} (the call had returned, its commands queued)", first_queued->op, failed);
      s.non_finite = false;
    }
  } else {
    read_checks(d);
  }
  s.segments.clear();
  s.checks.clear();
  s.resident.clear();
  // A failed submission's blocks are freed rather than pooled: nothing says what they hold.
  if (r == VK_SUCCESS)
    for (auto& b : s.blocks)
      d.pool->give(std::move(b));
  s.blocks.clear();
  if (std::exchange(s.sets, 0) > 0)
    check(vkResetDescriptorPool(d.device.get(), d.descriptors.get(), 0), "vkResetDescriptorPool");
  s.descriptors = 0;
  if (r != VK_SUCCESS) backend_failure(failed);
}

void transfer(Device& d, const std::function<void(VkCommandBuffer)>& record) {
  record(recording(d));
  complete(d);
}

void keep_until_complete(Device& d, std::unique_ptr<Block> b) {
  if (d.submission.open) d.submission.blocks.push_back(std::move(b));
  else d.pool->give(std::move(b));
}

void keep_until_complete(Device& d, std::shared_ptr<void> resident) {
  if (d.submission.open) d.submission.resident.push_back(std::move(resident));
}

QueueReport sync(int device_index) {
  Device* opened = nullptr;
  try {
    opened = &device(device_index);
  } catch (const BackendFailure&) { // a device that cannot open has queued nothing
    return {};
  }
  Device& d = *opened;
  std::lock_guard lock(d.mutex);
  Submission& s = d.submission;
  try {
    complete(d);
  } catch (const BackendFailure& f) { // kept in s.failure where it concerns a queued call
    if (s.failure.empty()) s.failure = f.what();
  }
  const QueueReport r{s.done_calls, s.done_ms};
  const std::string failure = std::exchange(s.failure, {});
  const bool non_finite = std::exchange(s.non_finite, false);
  s.done_calls = 0;
  s.done_ms = 0.0;
  // Everything is cleared first, so later calls and syncs on this device work.
  if (!failure.empty()) fail(non_finite ? ErrorCode::NonFinite : ErrorCode::Unsupported, "{} (found by sync)", failure);
  return r;
}

DescriptorCounts descriptor_counts(int device_index) {
  Device& d = device(device_index);
  std::lock_guard lock(d.mutex);
  DescriptorCounts c = d.bound;
  c.push = push_descriptors(d);
  return c;
}

void fail_next_submission(int device_index) {
  Device& d = device(device_index);
  std::lock_guard lock(d.mutex);
  d.fail_next_submission = true;
}

Batch::Batch(Device& d, std::string_view op, Role role)
    : d_(d), op_(op), role_(role), call_(++d.calls), exceptions_(std::uncaught_exceptions()) {
  if (d.live_call != 0) backend_failure(fmt::format("{}: a run inside another run", op));
  d.live_call = call_;
  d.live_ms = 0.0;
}

Batch::~Batch() {
  Submission& s = d_.submission;
  end_segment(d_);
  d_.live_call = 0;
  // A run that returns with commands queued is one of sync()'s calls, and its device time is
  // sync()'s, what of it completed already included; one that throws is its caller's failure.
  auto queued = std::find_if(s.segments.begin(), s.segments.end(),
                             [&](const Submission::Segment& seg) { return seg.call == call_; });
  if (queued == s.segments.end() || std::uncaught_exceptions() > exceptions_) return;
  queued->counts = role_ == Role::Call;
  s.done_ms += d_.live_ms;
  set_last_device_ms(-1.0);
}

VkCommandBuffer Batch::cmd() {
  Submission& s = d_.submission;
  if (s.live >= 0) return d_.cmd;
  if (s.segments.size() == kMaxSegments) complete(d_);
  recording(d_); // the full barrier on the commands before: the previous call's or this one's
  s.segments.push_back(Submission::Segment{op_, call_, false, false});
  s.live = static_cast<int>(s.segments.size() - 1);
  return d_.cmd;
}

void Batch::start_timing() {
  Submission::Segment& seg = d_.submission.segments[static_cast<size_t>(d_.submission.live)];
  if (seg.timed || d_.timestamps.get() == VK_NULL_HANDLE) return;
  vkCmdWriteTimestamp(d_.cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, d_.timestamps.get(),
                      2 * static_cast<uint32_t>(d_.submission.live));
  seg.timed = true;
}

Buffer::Place Batch::place(Buffer& b) {
  bool taken = false;
  const Buffer::Place p = b.place(&taken);
  // Under set_force_staging a block starts with bytes no kernel wrote, as new memory on a
  // discrete GPU and a pooled block do: a kernel that reads them differs from the default mode.
  if (taken && !p.host && force_staging()) {
    vkCmdFillBuffer(cmd(), p.buffer, p.offset, b.size(), 0xA5A5A5A5u);
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
    vkCmdCopyBuffer(cmd(), r.get(), p.buffer, 1, &region);
    device_barrier(d_.cmd);
    d_.submission.resident.push_back(std::move(keep)); // until the copy has run, even if the buffer is freed
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
    vkCmdCopyBuffer(cmd(), s->get(), p.buffer, 1, &region);
    device_barrier(d_.cmd);
    d_.submission.blocks.push_back(std::move(s));
  }
  thread_traffic().bytes_to_device += static_cast<int64_t>(bytes);
}

void Batch::fill(Buffer& b, VkDeviceSize offset, VkDeviceSize bytes, uint32_t value) {
  if (b.is_window()) backend_failure("a fill of an input read where it lives");
  const Buffer::Place p = place(b);
  VkCommandBuffer c = cmd();
  start_timing();
  vkCmdFillBuffer(c, p.buffer, p.offset + offset, bytes, value);
  device_barrier(c);
}

// A dispatch pushes its bindings into the command buffer (VK_KHR_push_descriptor) rather than
// reusing cached descriptor sets: pushing leaves no state to key, bound or evict (a cached set
// would be keyed by every binding's buffer, offset and range, and pinned while a submission uses
// it), and the devices we run on have it (lavapipe, NVIDIA). A device without it takes a set per
// dispatch from a pool reset per submission.
void Batch::dispatch(const Kernel& k, std::initializer_list<Buffer*> buffers,
                     const void* push, uint32_t groups) {
  if (buffers.size() != k.bindings || k.bindings > kMaxBindings)
    backend_failure(fmt::format("a dispatch binds {} buffers to a kernel with {} (at most {})", buffers.size(),
                                k.bindings, kMaxBindings));
  Submission& s = d_.submission;
  // A full descriptor pool: what is recorded runs first (this run's commands so far included),
  // and the pool is reset. A set is taken after cmd(), which may complete a full submission
  // and so free the sets taken before it.
  if (!k.push_descriptors && (s.sets == kDescriptorSets || s.descriptors + k.bindings > kDescriptors))
    complete(d_);
  VkCommandBuffer c = cmd();
  std::array<VkDescriptorBufferInfo, kMaxBindings> info{};
  std::array<VkWriteDescriptorSet, kMaxBindings> writes{};
  uint32_t i = 0;
  for (Buffer* b : buffers) {
    const Buffer::Place p = place(*b);
    info[i] = VkDescriptorBufferInfo{p.buffer, p.offset, b->size()};
    writes[i] = make<VkWriteDescriptorSet>(VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET);
    writes[i].dstBinding = i;
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &info[i];
    ++i;
  }

  start_timing();
  vkCmdBindPipeline(c, VK_PIPELINE_BIND_POINT_COMPUTE, k.pipeline.get());
  if (k.push_descriptors) {
    // The driver copies the descriptors into the command buffer: no set to allocate, write or free.
    d_.push_descriptor_set(c, VK_PIPELINE_BIND_POINT_COMPUTE, k.layout.get(), 0, k.bindings, writes.data());
    d_.bound.pushed += 1;
  } else {
    VkDescriptorSet set = take_set(k);
    for (uint32_t j = 0; j < k.bindings; ++j)
      writes[j].dstSet = set;
    vkUpdateDescriptorSets(d_.device.get(), k.bindings, writes.data(), 0, nullptr);
    d_.bound.set_writes += k.bindings;
    vkCmdBindDescriptorSets(c, VK_PIPELINE_BIND_POINT_COMPUTE, k.layout.get(), 0, 1, &set, 0, nullptr);
  }
  last_ = &k;
  bound_in_ = s.number;
  redispatch(push, groups);
}

VkDescriptorSet Batch::take_set(const Kernel& k) {
  VkDevice dev = d_.device.get();
  if (d_.descriptors.get() == VK_NULL_HANDLE) {
    const VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kDescriptors};
    auto dp = make<VkDescriptorPoolCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO);
    dp.maxSets = kDescriptorSets;
    dp.poolSizeCount = 1;
    dp.pPoolSizes = &size;
    VkDescriptorPool pool;
    check(vkCreateDescriptorPool(dev, &dp, nullptr, &pool), "vkCreateDescriptorPool");
    d_.descriptors = OwnedDescriptorPool(dev, pool);
  }
  VkDescriptorSetLayout layout = k.set_layout.get();
  auto ai = make<VkDescriptorSetAllocateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO);
  ai.descriptorPool = d_.descriptors.get();
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &layout;
  VkDescriptorSet set;
  check(vkAllocateDescriptorSets(dev, &ai, &set), "vkAllocateDescriptorSets");
  d_.submission.sets += 1;
  d_.submission.descriptors += k.bindings;
  d_.bound.sets += 1;
  return set;
}

void Batch::redispatch(const void* push, uint32_t groups) {
  VkCommandBuffer c = cmd();
  // Bindings live in one command buffer: a submission since the dispatch() took them.
  if (!last_ || bound_in_ != d_.submission.number) backend_failure("a redispatch without a dispatch before it");
  if (last_->push_bytes)
    vkCmdPushConstants(c, last_->layout.get(), VK_SHADER_STAGE_COMPUTE_BIT, 0, last_->push_bytes, push);
  vkCmdDispatch(c, groups, 1, 1);
  device_barrier(c);
}

void Batch::finish() { end_segment(d_); }

void Batch::check_at_sync(Buffer& found, VkDeviceSize offset, std::string_view name, int64_t rows, int64_t cols) {
  keep_word(found, offset, Submission::Check{op_, std::string(name), rows, cols, {}});
}

void Batch::status_at_sync(Buffer& word, VkDeviceSize offset, std::string failure) {
  keep_word(word, offset, Submission::Check{op_, {}, 0, 0, std::move(failure)});
}

void Batch::keep_word(Buffer& b, VkDeviceSize offset, Submission::Check check) {
  Submission& s = d_.submission;
  // kChecksPerSegment slots for each segment (a run makes at most that many checks); mapped, so
  // that complete() reads them where they are.
  constexpr uint32_t slots = kMaxSegments * kChecksPerSegment;
  if (!d_.flags) d_.flags = std::make_unique<Block>(d_, slots * sizeof(uint32_t), true);
  const Buffer::Place p = place(b);
  VkCommandBuffer c = cmd();
  if (s.checks.size() == slots) backend_failure(fmt::format("{}: more checks than the submission has slots", op_));
  const VkBufferCopy region{p.offset + offset, s.checks.size() * sizeof(uint32_t), sizeof(uint32_t)};
  vkCmdCopyBuffer(c, p.buffer, d_.flags->get(), 1, &region);
  device_barrier(c);
  s.checks.push_back(std::move(check));
}

} // namespace tessera::detail::vulkan
