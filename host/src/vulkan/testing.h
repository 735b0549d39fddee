// What tests reach of the vulkan backend beyond the operations: pipeline_cache_stats(),
// set_force_staging(), memory_paths(), set_force_descriptor_pool(), descriptor_counts() and
// fail_next_submission() are in the library (pipelines.cpp, memory.cpp, batch.cpp; stub.cpp
// when the backend is not built); the rest is tessera_testing (testing.cpp, or testing_stub.cpp
// when the backend is not built), a static library only the tests link, with the test-only
// shaders.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/op_args.h"

namespace tessera::detail::vulkan {

// Div..Sub are the correctly rounded operations of kernels/common/fp32_rn.glsl; Hw* are the
// device's own instructions, on which tests assert what fp32_rn.glsl assumes of the hardware
// (RN products and sums on the normal range in the .rte build, the division estimate's error).
enum class Fp32Op : uint32_t {
  Div = 0,
  Mul = 1,
  Add = 2,
  Sub = 3,
  HwDiv = 4,
  HwMul = 5,
  HwAdd = 6
};

// Which build of kernels/quant/fp32_rn_test.comp: integers only (what devices without
// RoundingModeRTE run), with RoundingModeRTE and the hardware on the normal range, or integers
// only with div_rn's hardware estimate deliberately off by up to 12 ulps.
enum class Fp32Build { Soft, Rte, InexactDiv };

// Whether the device can run Fp32Build::Rte (and the quantizers' ".rte" builds).
bool has_rounding_mode_rte(int device);

// r[i] = a[i] OP b[i] (fp32 bit patterns) on device `device`.
void run_fp32_rn_test(int device, Fp32Build build, Fp32Op op, const uint32_t* a, const uint32_t* b,
                      uint32_t* r, size_t n);

// Process-wide counters of the on-disk pipeline cache (pipelines.cpp).
struct PipelineCacheStats {
  int64_t loaded = 0;   // cache files a device started from
  int64_t rejected = 0; // cache files found unusable (malformed, refused, not a file)
  int64_t writes = 0;   // cache files written
};
PipelineCacheStats pipeline_cache_stats();

// What a new process would do: drops the device's pipelines and its VkPipelineCache and opens the
// cache again from disk under the overrides in force. Returns the cache file's path, empty when
// it is not persisted.
std::string reopen_pipeline_cache(int device);

// From now on, every buffer made on a Vulkan device (a run's, Context::device_alloc's) is as on a
// discrete GPU, whatever the device: device-local, never mapped, each host copy through a staging
// buffer and vkCmdCopyBuffer; and a run's buffer starts with 0xA5 bytes when the run takes it, as
// new memory there and a pooled buffer may hold anything. Buffers made before keep their kind.
// For tests of the discrete path on lavapipe (memory.h).
void set_force_staging(bool on);

// What device `device`'s memory did since it opened (memory.cpp, batch.cpp), for tests that must
// see which path a call took, and which kind of memory it gives buffers made now.
struct MemoryPaths {
  bool device_local = false; // a discrete GPU, or set_force_staging: the host's copies are staged
  int64_t staged_bytes = 0;  // host <-> device-local bytes, copied through staging buffers
  int64_t in_place = 0;      // inputs a kernel read where they live, in a device buffer
  int64_t device_copies = 0; // copies between a device buffer and a run's buffer, on the device
};
MemoryPaths memory_paths(int device);

// From now on, kernels looked up on a Vulkan device bind their buffers through descriptor sets
// from the device's pool, as on a device without VK_KHR_push_descriptor (batch.cpp). For tests
// of that path on devices that push descriptors (lavapipe).
void set_force_descriptor_pool(bool on);

// How device `device`'s dispatches bound their buffers since it opened (batch.cpp), for tests
// that a steady state creates and writes no descriptor set.
struct DescriptorCounts {
  bool push = false;      // kernels looked up now push their descriptors
  int64_t pushed = 0;     // dispatches that pushed their bindings into the command buffer
  int64_t sets = 0;       // descriptor sets allocated from the device's pool
  int64_t set_writes = 0; // descriptors written into such sets (vkUpdateDescriptorSets)
};
DescriptorCounts descriptor_counts(int device);

// The next submission on device `device` (batch.h: complete()) runs and is then reported failed
// with VK_ERROR_DEVICE_LOST, as a device that failed it would: for tests of how a failure of
// queued calls surfaces (at sync(), naming the first of them). In the library (batch.cpp).
void fail_next_submission(int device);

// Attention's flash_coopmat.comp built with its matrix operations emulated (FC_EMULATE, D <= 64),
// which is no variant record: for tests that check its tile logic on a device without
// cooperative matrices (test_attention_tensor_core). BackendFailure like a launch function.
void run_attention_coopmat_emulated(int device, const AttentionRunArgs& a);

} // namespace tessera::detail::vulkan
