// A logical device per physical device, created on first use: one compute queue, one command
// buffer, a fence, a timestamp query pool, a descriptor pool where pushed descriptors are not
// used, the memoized pipelines, the pool
// of buffers for runs (memory.h) and the open submission (Submission), all used under the
// device's mutex (a run holds it from upload to readback, so threads sharing a device are
// serialized and each sees only its own results).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common.h"
#include "testing.h"

namespace tessera::detail::vulkan {

struct Kernel; // pipelines.h
class Pool;    // memory.h
class Block;   // memory.h

// Segments (a call's commands between two timestamps, batch.h) one submission holds before the
// next call submits them and waits: the bound of the open command buffer, far above a decode
// step's calls. It sizes the timestamp queries (two a segment) and the descriptor pool
// (kSetsPerSegment sets a segment on average) of a device that does not push descriptors.
constexpr uint32_t kMaxSegments = 256;
constexpr uint32_t kSetsPerSegment = 4;
// Storage buffers one kernel binds at most (attention's 9): the least maxPushDescriptors a device
// must have for its kernels to push their descriptors, and what sizes the descriptor pool else.
constexpr uint32_t kMaxBindings = 9;
// The descriptor pool: its sets, and their storage-buffer descriptors at most.
constexpr uint32_t kDescriptorSets = kMaxSegments * kSetsPerSegment;
constexpr uint32_t kDescriptors = kDescriptorSets * kMaxBindings;
// Words a run may leave for the submission's completion to check (Batch::check_at_sync,
// status_at_sync): chunked DeltaNet's two status words at most.
constexpr uint32_t kChecksPerSegment = 2;

// The commands recorded into the device's command buffer and not yet submitted (batch.h), with
// everything they use, kept until the submission that runs them completes: the blocks of the
// runs' buffers and staging copies (given back to the pool then, not before: a later run would
// write a mapped block from the host at once), the device buffers they read or write, and the
// descriptor sets of a device that does not push descriptors (the pool is reset then). Also what completed submissions found, for sync().
struct Submission {
  bool open = false;   // the command buffer is recording
  uint64_t number = 0; // submissions begun on the device
  int live = -1;       // the segment of the Batch now recording, if one is open
  struct Segment {
    std::string op;
    uint64_t call = 0;   // the Batch it belongs to (Device::calls)
    bool counts = false; // the first queued segment of a call that returned (sync()'s count)
    bool timed = false;  // its timestamps 2i, 2i + 1 were written
  };
  std::vector<Segment> segments;
  std::vector<std::unique_ptr<Block>> blocks;
  std::vector<std::shared_ptr<void>> resident;
  uint32_t sets = 0, descriptors = 0; // taken from the descriptor pool
  // Non-finite scans of resident inputs checked at completion (Batch::check_at_sync): slot i of
  // `flags` holds check i's first non-finite index.
  struct Check {
    std::string op, name;
    int64_t rows, cols;
    std::string cut; // a status word (status_at_sync): the failure when it is not 0
  };
  std::vector<Check> checks;
  // Completed since the last sync(): calls, their device time, the first failure.
  int64_t done_calls = 0;
  double done_ms = 0.0;
  std::string failure;
  bool non_finite = false; // the failure is a non-finite input (else a failed submission)
};

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
  // Where the device has VK_KHR_push_descriptor with room for kMaxBindings, dispatches push their
  // bindings into the command buffer (batch.cpp); else they take sets from `descriptors`, made
  // on first use.
  PFN_vkCmdPushDescriptorSetKHR push_descriptor_set = nullptr;
  OwnedDescriptorPool descriptors;
  OwnedQueryPool timestamps;
  OwnedPipelineCache pipeline_cache;
  std::string pipeline_cache_path; // empty: not persisted
  std::map<std::string, std::unique_ptr<Kernel>> kernels;
  std::unique_ptr<Pool> pool; // the runs' idle buffers
  MemoryPaths paths;          // counted by memory.cpp and batch.cpp
  DescriptorCounts bound;     // counted by batch.cpp
  Submission submission;
  std::unique_ptr<Block> flags; // Submission::checks' slots, mapped; made on first use
  uint64_t calls = 0;           // Batches begun (Submission::Segment::call)
  uint64_t live_call = 0;       // the call of the Batch now recording, 0 for none
  double live_ms = 0.0;         // the device time of its segments that completed
  bool fail_next_submission = false; // testing.h

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
