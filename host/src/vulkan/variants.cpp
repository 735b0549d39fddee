// The vulkan backend's variant records (Vulkan GLSL, kernels/**/*.comp, SPIR-V at build time):
// one per kernel variant, with its manifest and launch functions (core/variant.h, launch.h).
// Adding a variant is its shader, its record here and its launch function. A shader sized by a
// limit (the gemv's MAX_M, DeltaNet's DK_MAX / MAX_DK) gets the manifest's value from its
// launcher as a specialization constant (pipelines.h), so the number is written here only.
#include <fmt/format.h>

#include <string>

#include "core/backend.h"
#include "host/src/requirements.h"
#include "kernels/attention/geometry.h"
#include "kernels/deltanet/geometry.h"
#include "kernels/gemm/geometry.h"
#include "launch.h"

namespace tessera::detail::vulkan {

namespace {

constexpr core::Conformance kExact{true, 0.0};

// TESSERA_GLSL_NV_COOPMAT: this build's glslangValidator has GL_NV_cooperative_matrix, so the
// nv_coopmat shaders exist (cmake/vulkan.cmake).
#ifdef TESSERA_GLSL_NV_COOPMAT
constexpr bool kCoopmatBuilt = true;
#else
constexpr bool kCoopmatBuilt = false;
#endif

std::string coopmat(const core::Variant& v, const core::DeviceRef& d, const core::Problem& p) {
  return tensor_core::vk_coopmat(kCoopmatBuilt, v, d, p);
}

} // namespace

std::string shader_base(const core::Variant& v, size_t i, std::string_view build) {
  std::string_view file = core::list_item(v.manifest.source, i);
  if (file.empty()) throw BackendFailure(fmt::format("vulkan: {} {}: the manifest lists no file {}", v.op, v.name, i));
  file = file.substr(0, file.find_first_of(" ("));
  if (file.ends_with(".comp")) file.remove_suffix(5);
  return build.empty() ? std::string(file) : fmt::format("{}.{}", file, build);
}

std::vector<core::Variant> variants() {
  return {
      {"convert", "vulkan", "elementwise", 10, kExact, core::limits_only,
       "one invocation per element",
       {"quant/convert.comp", "main", core::Limits{}, ""},
       {convert_elementwise}},
      {"quantize_nvfp4", "vulkan", "block16", 10, kExact, core::limits_only,
       "amax reduction, then one invocation per 16-block",
       {"quant/absmax.comp, quant/nvfp4_quantize.comp", "main", core::Limits{}, ""},
       {quantize_nvfp4_block16}},
      {"dequantize_nvfp4", "vulkan", "elementwise", 10, kExact, core::limits_only,
       "one invocation per element",
       {"quant/nvfp4_dequantize.comp", "main", core::Limits{}, ""},
       {dequantize_nvfp4_elementwise}},
      {"quantize_fp8", "vulkan", "group_amax", 10, kExact, core::limits_only,
       "one workgroup per scale group",
       {"quant/absmax.comp, quant/fp8_quantize.comp (token, group, apply)", "main", core::Limits{}, ""},
       {quantize_fp8_group_amax}},
      {"dequantize_fp8", "vulkan", "elementwise", 10, kExact, core::limits_only,
       "one invocation per element",
       {"quant/fp8_dequantize.comp", "main", core::Limits{}, ""},
       {dequantize_fp8_elementwise}},
      {"gemm_nvfp4", "vulkan", "gemv_splitk_exact", 20, kExact, core::limits_only,
       "decode: 8 columns a workgroup, K split across 8 invocations each, exact 64-bit partial sums reduced in shared memory",
       {"gemm/nvfp4_gemv_splitk.comp", "main", core::Limits{.max_m = core::kDecodeRows, .workgroup = GEMV_WG}, "checkpoint, gemv_kblock_interleaved"},
       {gemm_nvfp4_gemv}},
      {"gemm_nvfp4", "vulkan", "tiled_exact", 10, kExact, core::limits_only,
       "64x64 shared-memory tiles, 8x4 register micro-tiles, exact 64-bit sums",
       {"gemm/nvfp4_tiled.comp", "main", core::Limits{}, "checkpoint"},
       {gemm_nvfp4_tiled}},
      {"gemm_fp8", "vulkan", "gemv_splitk_exact", 20, kExact, core::limits_only,
       "decode: 8 columns a workgroup, K split across 8 invocations each (at 128-blocks when block-scaled), exact sums",
       {"gemm/fp8_gemv_splitk.comp (tensor, block)", "main", core::Limits{.max_m = core::kDecodeRows, .workgroup = GEMV_WG}, "checkpoint"},
       {gemm_fp8_gemv, gemm_fp8_block_gemv}},
      {"gemm_fp8", "vulkan", "tiled_exact", 10, kExact, core::limits_only,
       "64x64 shared-memory tiles, 8x4 register micro-tiles, exact 64-bit sums",
       {"gemm/fp8_tiled.comp (tensor, block)", "main", core::Limits{}, "checkpoint"},
       {gemm_fp8_tiled, gemm_fp8_block_tiled}},
      {"gemm_nvfp4_act", "vulkan", "quantize_then_gemm", 10, kExact, core::limits_only,
       "absmax + block16 quantize shaders, then the exact gemm_nvfp4 record's shader (as selected for M) on the device-resident activations",
       {"quant/absmax.comp, quant/nvfp4_quantize.comp", "main", core::Limits{}, "checkpoint"},
       {gemm_nvfp4_act}},
      {"gemm_fp8_act", "vulkan", "quantize_then_gemm", 10, kExact, core::limits_only,
       "token-128 group quantize shaders, then the exact gemm_fp8 record's block-scaled shader (as selected for M) on the device-resident activations",
       {"quant/fp8_quantize.comp (token, apply)", "main", core::Limits{}, "checkpoint"},
       {gemm_fp8_act}},
      {"gemm_nvfp4", "vulkan", "nv_coopmat_f16", 30, tensor_core::kBoundF16, coopmat,
       "GL_NV_cooperative_matrix 16x16x16: NVFP4 with its block scale folded into exact fp16, fp32 sums, 64x64 tiles",
       {"gemm/nv_coopmat.comp (nvfp4)", "main", core::Limits{.min_m = core::kDecodeRows + 1, .workgroup = NVC_WG}, "checkpoint"},
       {gemm_nvfp4_coopmat}},
      {"gemm_fp8", "vulkan", "nv_coopmat_f16", 30, tensor_core::kBoundF16, coopmat,
       "GL_NV_cooperative_matrix 16x16x16: E4M3 as exact fp16, fp32 sums, 64x64 tiles",
       {"gemm/nv_coopmat.comp (fp8_tensor, fp8_block)", "main", core::Limits{.min_m = core::kDecodeRows + 1, .workgroup = NVC_WG}, "checkpoint"},
       {gemm_fp8_coopmat, gemm_fp8_block_coopmat}},
      {"deltanet", "vulkan", "chunked", 20, kDeltaNetChunked, detail::deltanet_chunked,
       "WY / UT transform per chunk of 64 for all chunks in parallel, then one workgroup per (sequence, value head, 32 state columns) scans the chunks with the fp32 state in local memory",
       {"deltanet/chunked.comp (normalize, wy, scan)", "main", core::Limits{.max_dk = 128, .max_dv = 128}, ""},
       {deltanet_chunked}},
      {"deltanet", "vulkan", "recurrent", 10, kDeltaNetRecurrent, core::limits_only,
       "one workgroup per (sequence, value head, 32 state columns): state in registers, read and written once; k, q per token in shared memory",
       {"deltanet/recurrent.comp", "main", core::Limits{.max_dk = 128, .workgroup = DN_WG_VK}, ""},
       {deltanet_recurrent}},
      {"deltanet", "vulkan", "recurrent_dk256", 5, kDeltaNetRecurrent, core::limits_only,
       "the recurrent shader specialized for key heads up to 256 (twice the state rows an invocation keeps, twice the shared k, q): for heads the 128-row builds refuse, which would otherwise fall back to the CPU",
       {"deltanet/recurrent.comp", "main", core::Limits{.max_dk = 256, .workgroup = DN_WG_VK}, ""},
       {deltanet_recurrent}},
      {"conv1d", "vulkan", "direct_silu", 10, core::Conformance{false, 1e-6}, core::limits_only,
       "one invocation per output reading its W taps, SiLU fused, new state in the same launch",
       {"conv/conv1d.comp", "main", core::Limits{}, ""},
       {conv1d_direct_silu}},
      {"attention", "vulkan", "nv_coopmat_f16", 30, tensor_core::kBoundAttnF16, coopmat,
       "NVIDIA tensor cores, GL_NV_cooperative_matrix 16x16x16: 64 query rows x 16-key tiles, q/k/v/p in fp16, fp32 accumulate and online softmax, causal offset, GQA, gate fused",
       {"attention/flash_coopmat.comp", "main", core::Limits{.min_t = core::kDecodeRows + 1, .max_d = FC_DMAX, .d_multiple = 16, .workgroup = FC_WG, .local_bytes = 41728}, ""},
       {attention_coopmat}},
      // local_bytes: (ATT_BC * ATT_DMAX + WG * ATT_BC + 2 * (WG / ATT_LPR) * ATT_BC) * 4 of
      // attention/attn_tile.glsl, with ATT_LPR 16 here and 4 for flash_prefill.
      {"attention", "vulkan", "splitkv_decode", 20, kAttentionF32, core::limits_only,
       "flash-decoding for T <= 16: keys split across workgroups, K/V tiles shared by a GQA group, partial (o, m, l) merged in fixed order by log-sum-exp",
       {"attention/splitkv_decode.comp (partial, combine)", "main", core::Limits{.max_t = core::kDecodeRows, .max_d = 256, .workgroup = ATT_WG_VK, .local_bytes = 20992}, ""},
       {attention_splitkv_decode}},
      {"attention", "vulkan", "flash_prefill", 10, kAttentionF32, core::limits_only,
       "query-row tiles (position x GQA head) against staged K/V tiles, fp32 online softmax, causal S - T offset, gate fused",
       {"attention/flash_prefill.comp", "main", core::Limits{.max_d = 256, .workgroup = ATT_WG_VK, .local_bytes = 22528}, ""},
       {attention_flash_prefill}},
  };
}

} // namespace tessera::detail::vulkan
