// The opencl backend's launch functions, one per variant record of variants.cpp (and per
// argument struct the operation takes): each receives its record, whose manifest names the
// kernel file and entry points and the limits the kernel is built for, and the validated
// arguments. The registry has already checked the manifest's limits and the record's
// requirements for this device and problem, so a launcher checks neither again; where a kernel
// is sized by a limit, the launcher passes the manifest's value as a build option.
//
// Each uploads the host inputs, launches, checks, and only then reads back into the caller's
// outputs, so an error leaves them untouched. A bad input found on the device (a non-finite
// value reaching a quantizer) throws tessera::Error as the reference does; a kernel that fails
// to build or launch throws BackendFailure (core/backend.h), and the dispatcher falls back.
#pragma once

#include <cstddef>
#include <string_view>

#include "core/variant.h"

namespace tessera::detail::opencl {

// Entry point i of the record's manifest, whose list is in launch order or, for the GEMMs, per
// argument form ("fp8_gemm_tiled, fp8_block_gemm_tiled": 0 per-tensor, 1 block-scaled). A
// launcher shared by several records names its kernels this way.
std::string_view entry(const core::Variant& v, size_t i);

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

// gemm_tensor_core.cpp: the NVIDIA tensor-core GEMMs ("nv_mma_f16", "nv_mma_e4m3"), which
// differ only in their kernel file and entry points, read from the manifest.
void gemm_nvfp4_mma(int device, const core::Variant& v, const GemmNvfp4Args& a);
void gemm_fp8_mma(int device, const core::Variant& v, const GemmFp8Args& a);
void gemm_fp8_block_mma(int device, const core::Variant& v, const GemmFp8BlockArgs& a);

// deltanet_recurrent.cpp, deltanet_chunked.cpp: Gated DeltaNet.
void deltanet_recurrent(int device, const core::Variant& v, const DeltaNetRunArgs& a);
void deltanet_chunked(int device, const core::Variant& v, const DeltaNetRunArgs& a);

// conv1d.cpp: causal depthwise conv1d + SiLU.
void conv1d_direct_silu(int device, const core::Variant& v, const Conv1dRunArgs& a);

// attention.cpp: "flash_prefill", "nv_mma_f16" (flash_mma.cl) and "splitkv_decode".
void attention_flash_prefill(int device, const core::Variant& v, const AttentionRunArgs& a);
void attention_flash_mma(int device, const core::Variant& v, const AttentionRunArgs& a);
void attention_splitkv_decode(int device, const core::Variant& v, const AttentionRunArgs& a);

} // namespace tessera::detail::opencl
