// GEMM weights as an engine loads them once: the 128x4 swizzled block-scale layout that
// Blackwell tensor cores, cuBLASLt, CUTLASS, vLLM and FlashInfer use (converted both ways), and
// the prepack API: a checkpoint weight repacked into the layout the variant that will run reads
// best (the registry decides), with a way back to checkpoint layout.
//
// Layout names:
//   "checkpoint"  the checkpoint's bytes: NVFP4 b [N, K/2] + b_scale [N, K/16] E4M3 row-major
//                 ("linear"), FP8 b [N, K] + fp32 scales; every variant reads it.
//   "gemv_kblock_interleaved"  NVFP4 only, read by gemv_splitk_exact (opencl, vulkan): each
//                 row's 16-blocks (8 bytes: a low and a high 4-byte word) in groups of 8 (the last
//                 group may be shorter, gs blocks), a group storing the gs low words, then the gs
//                 high words; scales linear. Offered on request (PackTarget::layout); the registry
//                 does not choose it (docs/perf.md "Weight prepack": it did not win).
// docs/numerics.md "Weight layouts" defines the swizzled layout with its sources.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/ops.h"

namespace tessera {

// ---- the 128x4 swizzled block-scale layout --------------------------------------------------
// A scale matrix [rows, cols] (one byte each: E4M3 for NVFP4, E8M0 for MXFP8) padded to rows a
// multiple of 128 and cols a multiple of 4, stored as 512-byte tiles of 128 rows x 4 columns,
// tiles ordered row-tile major, then column-tile; within a tile, scale (r, c) sits at byte
// (r % 32) * 16 + (r / 32) * 4 + c. Padding bytes are zero.
int64_t swizzled_rows(int64_t rows); // rows rounded up to 128
int64_t swizzled_cols(int64_t cols); // cols rounded up to 4
// Byte offset of scale (r, c) of a matrix with `cols` columns in the swizzled layout.
int64_t swizzled_offset(int64_t r, int64_t c, int64_t cols);

// linear: U8 or F8_E4M3 [rows, cols]. swizzled: the same dtype, [swizzled_rows(rows),
// swizzled_cols(cols)] (the shape vLLM and FlashInfer return) or flat [that many bytes].
// Any other size is refused (ShapeMismatch) before anything is written.
void to_swizzled_scales(const TensorView& linear, const TensorView& swizzled);
// The inverse: the padding is dropped (not checked: producers fill it with anything).
void from_swizzled_scales(const TensorView& swizzled, const TensorView& linear);

// ---- prepack -------------------------------------------------------------------------------
enum class WeightFormat { Nvfp4, Fp8Tensor, Fp8Block128 };
enum class ScaleLayout { Linear, Swizzled128x4 };

// Which calls a weight is packed for: the device (RunOptions backend/device, a forced variant if
// any) and the M the engine will call with (1 = decode; the registry picks decode and prefill
// variants by M). Pack once per (weight, device, regime).
struct PackTarget {
  RunOptions run;
  int64_t M = 1;
  // Empty: the layout the registry names for the chosen variant (weight_layout). Otherwise a
  // layout that variant can read ("checkpoint" always), else InvalidArgument.
  std::string layout = {};
};

// A weight in the layout of the variant it was packed for. Owns its bytes; movable, copyable.
struct PackedWeight {
  WeightFormat format = WeightFormat::Nvfp4;
  int64_t N = 0, K = 0;
  std::string layout = "checkpoint";
  // What it was packed for: the registry's choice for PackTarget (backend "cpu" for the reference).
  std::string backend, variant;
  int device = 0;
  std::vector<uint8_t> data;   // the codes, in `layout`
  std::vector<uint8_t> scales; // NVFP4: E4M3 block scales; Fp8Block128: fp32 [ceil(N/128), ceil(K/128)]
                               // as bytes; Fp8Tensor: empty
  float scale = 1.0f;          // NVFP4: weight_scale_2; Fp8Tensor: the weight's scale; Block128: 1
  // `data` and `scales` uploaded once, by pack_*_weight, to the device the weight was packed for
  // when that is a GPU (opencl, vulkan): the GEMMs on this weight read them there, with no upload
  // per call, when they run on that device (RunOptions naming its backend and index, as a
  // Context's do). Shared by copies of the weight, freed with the last; empty on the CPU.
  struct DeviceCopy;
  std::shared_ptr<const DeviceCopy> device_copy;
};

// The layout variant `name` of `op` on `backend` reads its weight in ("checkpoint" unless the
// variant's kernel has a packed form).
std::string weight_layout(std::string_view op, std::string_view backend, std::string_view variant);

// b: U8 [N, K/2]; b_scale: F8_E4M3 [N, K/16] (Linear) or its swizzled form (Swizzled128x4, shaped
// as to_swizzled_scales writes it); scale_2: finite, > 0. K % 16 == 0, K <= 65536.
PackedWeight pack_nvfp4_weight(const TensorView& b, const TensorView& b_scale, float scale_2,
                               ScaleLayout scale_layout = ScaleLayout::Linear,
                               const PackTarget& target = {});
// b: F8_E4M3 [N, K]; scales: F32 [] or [1] (per-tensor: finite, > 0) or
// [ceil(N/128), ceil(K/128)] (DeepSeek-V3 block128: finite).
PackedWeight pack_fp8_weight(const TensorView& b, const TensorView& scales,
                             const PackTarget& target = {});
// Back to checkpoint layout: b as packed (U8 [N, K/2] or F8_E4M3 [N, K]); scales F8_E4M3
// [N, K/16] (NVFP4), F32 [] or [1] (Fp8Tensor), F32 [ceil(N/128), ceil(K/128)] (Fp8Block128).
void unpack_weight(const PackedWeight& w, const TensorView& b, const TensorView& scales);

// GEMMs on a packed weight, bit-exact with the same call on the checkpoint bytes. When the
// variant that runs (the registry's choice for this call, after any fallback) reads another
// layout than the weight's, the weight is repacked on the fly for this call (a host copy; the
// RunInfo reason says so) rather than refused: a variant disabled after a driver failure must not
// take the engine down. A weight of another format is refused (DTypeMismatch).
// ---- generated from core/op_table.h by tools/gen_api.cpp (make api): do not edit ----
// gemm_nvfp4 on a packed NVFP4 weight: alpha = a_scale_2 * the weight's scale.
void gemm_nvfp4(const TensorView& a, const TensorView& a_scale, const PackedWeight& b, float alpha,
                const std::optional<TensorView>& bias, const TensorView& c, const RunOptions& = {},
                RunInfo* = nullptr);

// gemm_fp8 on a packed per-tensor FP8 weight: alpha = a's scale * the weight's scale.
void gemm_fp8(const TensorView& a, const PackedWeight& b, float alpha,
              const std::optional<TensorView>& bias, const TensorView& c, const RunOptions& = {},
              RunInfo* = nullptr);

// gemm_fp8_block on a packed block128 FP8 weight; a_scale: F32 [M, ceil(K/128)].
void gemm_fp8_block(const TensorView& a, const TensorView& a_scale, const PackedWeight& b,
                    const std::optional<TensorView>& bias, const TensorView& c,
                    const RunOptions& = {}, RunInfo* = nullptr);
// ---- end of generated code ----

} // namespace tessera
