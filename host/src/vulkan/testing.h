// Hooks for tests (test_vulkan_runtime.cpp, test_cache_faults.cpp, ...), not part of any operation.
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

// Replaces kDeltaNetWindowTokens (deltanet.h: how many tokens one DeltaNet dispatch advances a
// sequence) while > 0, chunked taking it in whole chunks; 0 restores it. For tests that run a
// whole long sequence in one dispatch, to see a driver's cut loop reported (test_deltanet_long_sequences).
void set_deltanet_window_for_testing(int64_t tokens);

// Attention's flash_coopmat.comp built with its matrix operations emulated (FC_EMULATE, D <= 64),
// which is no variant record: for tests that check its tile logic on a device without
// cooperative matrices (test_attention_tensor_core). BackendFailure like a launch function.
void run_attention_coopmat_emulated(int device, const AttentionRunArgs& a);

// Replaces kAttentionWindowKeys (attention.cpp: how many keys of a work unit one attention
// dispatch sweeps) while > 0, rounded up to whole 16-key tiles; 0 restores it. For tests that cut
// short key ranges into many windows (test_attention_kernels, test_attention_tensor_core).
void set_attention_window_for_testing(int64_t keys);

// Caps the workgroups of one dispatch_windows() dispatch (batch.h) at `groups` in place of the
// device's maxComputeWorkGroupCount while > 0; 0 restores it. So that tests reach the slicing of
// work units over several dispatches without 65536 workgroups (minutes on lavapipe).
void set_dispatch_groups_for_testing(uint32_t groups);

} // namespace tessera::detail::vulkan
