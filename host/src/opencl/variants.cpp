// The opencl backend's variant records (OpenCL C, kernels/**/*.cl): one per kernel variant, with
// its manifest and launch functions (core/variant.h, launch.h). Adding a variant is its kernel,
// its record here and its launch function. A kernel sized by a limit (GEMV_MAX_M, ATT_DMAX,
// DK_MAX / MAX_DK) gets the manifest's value from its launcher as a build option, so the number
// is written here only.
#include <fmt/format.h>

#include <string>

#include "core/backend.h"
#include "host/src/requirements.h"
#include "kernels/attention/geometry.h"
#include "kernels/deltanet/geometry.h"
#include "kernels/gemm/geometry.h"
#include "launch.h"

namespace tessera::detail::opencl {

namespace {

constexpr core::Conformance kExact{true, 0.0};

// The quantizers divide: the program is built with -cl-fp32-correctly-rounded-divide-sqrt, which
// a device may only honour when it reports CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT.
std::string exact_divide(const core::Variant& v, const core::DeviceRef& d, const core::Problem& p) {
  if (!d.caps.correctly_rounded_divide) return "device has no correctly rounded fp32 division";
  return core::check_limits(v, d, p);
}

} // namespace

std::string_view entry(const core::Variant& v, size_t i) {
  const std::string_view name = core::list_item(v.manifest.entry, i);
  if (name.empty())
    throw BackendFailure(fmt::format("opencl: {} {}: the manifest lists no entry point {}", v.op, v.name, i));
  return name;
}

std::vector<core::Variant> variants() {
  return {
      {"convert", "opencl", "elementwise", 10, kExact, core::limits_only,
       "one work-item per element",
       {"quant/convert.cl", "convert_to_u8, convert_to_u16", core::Limits{}, ""},
       {convert_elementwise}},
      {"quantize_nvfp4", "opencl", "block16", 10, kExact, exact_divide,
       "amax reduction, then one work-item per 16-block",
       {"quant/nvfp4_quantize.cl", "amax_partial, amax_finalize, nvfp4_quantize_blocks", core::Limits{}, ""},
       {quantize_nvfp4_block16}},
      {"dequantize_nvfp4", "opencl", "elementwise", 10, kExact, core::limits_only,
       "one work-item per element",
       {"quant/nvfp4_dequantize.cl", "nvfp4_dequantize", core::Limits{}, ""},
       {dequantize_nvfp4_elementwise}},
      {"quantize_fp8", "opencl", "group_amax", 10, kExact, exact_divide,
       "one work-group per scale group",
       {"quant/fp8_quantize.cl", "amax_partial, amax_finalize, fp8_quantize_tensor, fp8_quantize_groups", core::Limits{}, ""},
       {quantize_fp8_group_amax}},
      {"dequantize_fp8", "opencl", "elementwise", 10, kExact, core::limits_only,
       "one work-item per element",
       {"quant/fp8_dequantize.cl", "fp8_dequantize", core::Limits{}, ""},
       {dequantize_fp8_elementwise}},
      {"gemm_nvfp4", "opencl", "gemv_splitk_exact", 20, kExact, core::limits_only,
       "decode M <= 16: K split over a column's work-items, exact long partials, local-memory tree",
       {"gemm/nvfp4_gemv_splitk.cl", "nvfp4_gemv_splitk", core::Limits{.max_m = core::kDecodeRows}, "checkpoint, gemv_kblock_interleaved"},
       {gemm_nvfp4_gemv}},
      {"gemm_nvfp4", "opencl", "tiled_exact", 10, kExact, core::limits_only,
       "local-memory tiles, register micro-tiles, exact long sums per 16-block",
       {"gemm/nvfp4_tiled.cl", "nvfp4_gemm_tiled", core::Limits{}, "checkpoint"},
       {gemm_nvfp4_tiled}},
      {"gemm_fp8", "opencl", "gemv_splitk_exact", 20, kExact, core::limits_only,
       "decode M <= 16: split-K exact long partials (block form: whole 128-blocks, fp32 steps in kb order)",
       {"gemm/fp8_gemv_splitk.cl", "fp8_gemv_splitk, fp8_block_gemv_splitk", core::Limits{.max_m = core::kDecodeRows}, "checkpoint"},
       {gemm_fp8_gemv, gemm_fp8_block_gemv}},
      {"gemm_fp8", "opencl", "tiled_exact", 10, kExact, core::limits_only,
       "local-memory tiles, register micro-tiles, exact long sums (block form: fp32 steps per 128-block)",
       {"gemm/fp8_tiled.cl", "fp8_gemm_tiled, fp8_block_gemm_tiled", core::Limits{}, "checkpoint"},
       {gemm_fp8_tiled, gemm_fp8_block_tiled}},
      {"gemm_nvfp4_act", "opencl", "quantize_then_gemm", 10, kExact, exact_divide,
       "amax + block16 quantize kernels, then the exact gemm_nvfp4 record's kernel (as selected for M) on the device-resident activations",
       {"quant/nvfp4_quantize.cl", "amax_partial, amax_finalize, nvfp4_quantize_blocks", core::Limits{}, "checkpoint"},
       {gemm_nvfp4_act}},
      {"gemm_fp8_act", "opencl", "quantize_then_gemm", 10, kExact, exact_divide,
       "token-128 group quantize kernel, then the exact gemm_fp8 record's block-scaled kernel (as selected for M) on the device-resident activations",
       {"quant/fp8_quantize.cl", "fp8_quantize_groups", core::Limits{}, "checkpoint"},
       {gemm_fp8_act}},
      {"gemm_nvfp4", "opencl", "nv_mma_f16", 30, tensor_core::kBoundF16, tensor_core::cl_mma_f16,
       "inline PTX mma.sync m16n8k16: NVFP4 with its block scale folded into exact fp16, fp32 sums, 128x64 tiles",
       {"gemm/nvfp4_mma.cl", "nvfp4_gemm_mma", core::Limits{.min_m = core::kDecodeRows + 1, .workgroup = NVM_WG, .local_bytes = 16384}, "checkpoint"},
       {gemm_nvfp4_mma}},
      {"gemm_fp8", "opencl", "nv_mma_e4m3", 31, tensor_core::kBoundE4m3, tensor_core::cl_mma_e4m3,
       "inline PTX mma.sync m16n8k32 .e4m3 (cc >= 8.9), fp32 sums per 32-K step, 128x64 tiles",
       {"gemm/fp8_mma.cl", "fp8_gemm_mma, fp8_block_gemm_mma", core::Limits{.min_m = core::kDecodeRows + 1, .workgroup = NVM_WG, .local_bytes = 16384}, "checkpoint", "-DNV_MMA_OPERAND_E4M3=1"},
       {gemm_fp8_mma, gemm_fp8_block_mma}},
      {"gemm_fp8", "opencl", "nv_mma_f16", 30, tensor_core::kBoundF16, tensor_core::cl_mma_f16,
       "inline PTX mma.sync m16n8k16: E4M3 as exact fp16, fp32 sums, 128x64 tiles",
       {"gemm/fp8_mma.cl", "fp8_gemm_mma, fp8_block_gemm_mma", core::Limits{.min_m = core::kDecodeRows + 1, .workgroup = NVM_WG, .local_bytes = 16384}, "checkpoint"},
       {gemm_fp8_mma, gemm_fp8_block_mma}},
      {"deltanet", "opencl", "chunked", 20, kDeltaNetChunked, detail::deltanet_chunked,
       "WY / UT transform per chunk of 64 for all chunks in parallel, then one work-group per (sequence, value head, 32 state columns) scans the chunks with the fp32 state in local memory",
       {"deltanet/chunked.cl", "dn_chunk_normalize, dn_chunk_wy, dn_chunk_scan", core::Limits{.max_dk = 128, .max_dv = 128}, ""},
       {deltanet_chunked}},
      {"deltanet", "opencl", "recurrent", 10, kDeltaNetRecurrent, core::limits_only,
       "one work-group per (sequence, value head, 32 state columns): state in registers, read and written once; k, q per token in local memory",
       {"deltanet/recurrent.cl", "deltanet_recurrent", core::Limits{.max_dk = 128}, ""},
       {deltanet_recurrent}},
      {"deltanet", "opencl", "recurrent_dk256", 5, kDeltaNetRecurrent, core::limits_only,
       "the recurrent kernel built for key heads up to 256 (twice the state rows a work-item keeps, twice the local k, q): for heads the 128-row builds refuse, which would otherwise fall back to the CPU",
       {"deltanet/recurrent.cl", "deltanet_recurrent", core::Limits{.max_dk = 256}, ""},
       {deltanet_recurrent}},
      {"conv1d", "opencl", "direct_silu", 10, core::Conformance{false, 1e-6}, core::limits_only,
       "one work-item per output reading its W taps, SiLU fused, new state in the same launch",
       {"conv/conv1d.cl", "conv1d_direct_silu", core::Limits{}, ""},
       {conv1d_direct_silu}},
      {"attention", "opencl", "nv_mma_f16", 30, tensor_core::kBoundAttnF16, tensor_core::cl_mma_f16,
       "NVIDIA tensor cores, inline PTX mma.sync m16n8k16: 128 query rows x 32-key tiles, q/k/v/p in fp16, fp32 accumulate and online softmax, causal offset, GQA, gate fused",
       {"attention/flash_mma.cl", "attention_flash_mma", core::Limits{.min_t = core::kDecodeRows + 1, .max_d = 256, .d_multiple = 16, .workgroup = FM_WG, .local_bytes = 40960}, ""},
       {attention_flash_mma}},
      {"attention", "opencl", "splitkv_decode", 20, kAttentionF32, core::limits_only,
       "flash-decoding for T <= 16: keys split across work-groups, K/V tiles shared by a GQA group, partial (o, m, l) merged in fixed order by log-sum-exp",
       {"attention/splitkv_decode.cl", "attention_splitkv_partial, attention_splitkv_combine", core::Limits{.max_t = core::kDecodeRows, .max_d = 256}, ""},
       {attention_splitkv_decode}},
      {"attention", "opencl", "flash_prefill", 10, kAttentionF32, core::limits_only,
       "query-row tiles (position x GQA head) against staged K/V tiles, fp32 online softmax, causal S - T offset, gate fused",
       {"attention/flash_prefill.cl", "attention_flash_prefill", core::Limits{.max_d = 256}, ""},
       {attention_flash_prefill}},
  };
}

} // namespace tessera::detail::opencl
