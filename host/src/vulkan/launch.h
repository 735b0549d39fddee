// The vulkan backend's launch functions, one per variant record of variants.cpp (and per
// argument struct the operation takes): each receives its record, whose manifest names the
// shader file and the limits the shader is specialized for, and the validated arguments. The
// registry has already checked the manifest's limits and the record's requirements for this
// device and problem, so a launcher checks neither again; where a shader is sized by a limit,
// the launcher passes the manifest's value as a specialization constant (pipelines.h).
//
// Each uploads the host inputs, records the passes, and only then copies into the caller's
// outputs (batch.h): a copy into host memory waits for the passes, so an error leaves it
// untouched; a copy into a device buffer is recorded after them, and a call with only such
// outputs returns queued. A bad input found on the device (a non-finite value reaching a
// quantizer) throws tessera::Error as the reference does, or, for a queued call, is reported by
// sync() (Batch::check_at_sync); a shader
// that fails to build or launch throws BackendFailure (core/backend.h), and the dispatcher falls
// back.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/variant.h"

namespace tessera::detail::vulkan {

// The embedded SPIR-V of file i of the record's manifest, without ".spv" (fp32_shader adds it,
// or ".rte.spv"): the list is comma-separated and may name builds in parentheses, and `build`
// picks one, so "gemm/fp8_tiled.comp" with build "block" is "gemm/fp8_tiled.block", and
// "gemm/nv_coopmat.comp (nvfp4)" with build "nvfp4" "gemm/nv_coopmat.nvfp4". A launcher shared
// by several records names its shaders this way, never by the record's name.
std::string shader_base(const core::Variant& v, size_t i, std::string_view build = "");

// ops.cpp: conversions and quantizers (kernels/quant/).
void convert_elementwise(int device, const core::Variant& v, const ConvertArgs& a);
void quantize_nvfp4_block16(int device, const core::Variant& v, const QuantizeNvfp4Args& a);
void dequantize_nvfp4_elementwise(int device, const core::Variant& v, const DequantizeNvfp4Args& a);
void quantize_fp8_group_amax(int device, const core::Variant& v, const QuantizeFp8Args& a);
void dequantize_fp8_elementwise(int device, const core::Variant& v, const DequantizeFp8Args& a);

// gemm.cpp: the exact GEMMs, "gemv_splitk_exact" (decode) and "tiled_exact", per-tensor and
// block-scaled; and the GEMMs with the activation quantized in front ("quantize_then_gemm").
void gemm_nvfp4_gemv(int device, const core::Variant& v, const GemmNvfp4Args& a);
void gemm_nvfp4_tiled(int device, const core::Variant& v, const GemmNvfp4Args& a);
void gemm_fp8_gemv(int device, const core::Variant& v, const GemmFp8Args& a);
void gemm_fp8_block_gemv(int device, const core::Variant& v, const GemmFp8BlockArgs& a);
void gemm_fp8_tiled(int device, const core::Variant& v, const GemmFp8Args& a);
void gemm_fp8_block_tiled(int device, const core::Variant& v, const GemmFp8BlockArgs& a);
void gemm_nvfp4_act(int device, const core::Variant& v, const GemmNvfp4ActArgs& a);
void gemm_fp8_act(int device, const core::Variant& v, const GemmFp8ActArgs& a);

// gemm_tensor_core.cpp: the NVIDIA tensor-core GEMM "nv_coopmat_f16" (kernels/gemm/
// nv_coopmat.comp, one build per argument form, named in the manifest).
void gemm_nvfp4_coopmat(int device, const core::Variant& v, const GemmNvfp4Args& a);
void gemm_fp8_coopmat(int device, const core::Variant& v, const GemmFp8Args& a);
void gemm_fp8_block_coopmat(int device, const core::Variant& v, const GemmFp8BlockArgs& a);

// deltanet_recurrent.cpp, deltanet_chunked.cpp: Gated DeltaNet.
void deltanet_recurrent(int device, const core::Variant& v, const DeltaNetRunArgs& a);
void deltanet_chunked(int device, const core::Variant& v, const DeltaNetRunArgs& a);

// conv1d.cpp: causal depthwise conv1d + SiLU.
void conv1d_direct_silu(int device, const core::Variant& v, const Conv1dRunArgs& a);

// attention.cpp: "flash_prefill", "splitkv_decode" and "nv_coopmat_f16" (flash_coopmat.comp).
void attention_flash_prefill(int device, const core::Variant& v, const AttentionRunArgs& a);
void attention_splitkv_decode(int device, const core::Variant& v, const AttentionRunArgs& a);
void attention_coopmat(int device, const core::Variant& v, const AttentionRunArgs& a);

} // namespace tessera::detail::vulkan
