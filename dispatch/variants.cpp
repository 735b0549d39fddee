// The table of kernel variants. Adding a variant is one kernel file plus one record here.
#include <cstdint>
#include <string>

#include "registry.h"
#include "tensor_core.h"

namespace tessera::dispatch {

namespace {

std::string always(const DeviceRef&, const Problem&) { return ""; }

// The kernels index elements with 32-bit integers in places; past that they are not offered.
std::string fits_32bit_index(const DeviceRef&, const Problem& p) {
  return p.elements() < (int64_t{1} << 31) ? "" : "more than 2^31 elements (32-bit index math)";
}

// OpenCL quantizers divide; the program is built with -cl-fp32-correctly-rounded-divide-sqrt,
// which a device may only honour when it reports CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT.
std::string cl_exact_divide(const DeviceRef& d, const Problem& p) {
  if (!d.caps.correctly_rounded_divide) return "device has no correctly rounded fp32 division";
  return fits_32bit_index(d, p);
}

// OpenCL GEMMs: gemv_splitk_exact keeps all M rows of a column in registers (GEMV_MAX_M = 16).
std::string cl_gemm_decode(const DeviceRef& d, const Problem& p) {
  int64_t m = p.dim("M");
  if (m > 16) return "M = " + std::to_string(m) + " > 16: decode variant";
  return fits_32bit_index(d, p);
}

// Vulkan GEMMs: gemv_splitk_exact keeps a partial sum per row of A in registers (MAX_M = 16).
std::string vk_gemm_decode(const DeviceRef& d, const Problem& p) {
  if (p.dim("M") > 16) return "M = " + std::to_string(p.dim("M")) + " > 16: gemv_splitk_exact keeps at most 16 rows of A";
  return fits_32bit_index(d, p);
}

constexpr Conformance kExact{true, 0.0};
// The fp32 attention kernels: the mixed bound of docs/numerics.md "Attention error bound".
constexpr Conformance kAttentionF32{false, 1.0, true, 0.0};

// DeltaNet recurrent: a state column's Dk rows live in registers, 16 per work-item (any Dv: the
// columns are split across work-groups).
std::string deltanet_recurrent(const DeviceRef& d, const Problem& p) {
  if (p.dim("Dk") > 128) return "Dk = " + std::to_string(p.dim("Dk")) + " > 128: recurrent keeps at most 128 state rows per column in registers";
  return fits_32bit_index(d, p);
}

// DeltaNet chunked: prefill only. min_t from kbench (docs/perf.md "DeltaNet chunked vs
// recurrent"): on CPU devices chunked is no slower from T = 2; GPUs are unmeasured, so a full
// chunk. A problem that names no T (kbench asks with a shape-free query) is not refused on T.
std::string deltanet_chunked(const DeviceRef& d, const Problem& p) {
  const int64_t dk = p.dim("Dk"), dv = p.dim("Dv"), min_t = d.facts.device_type == "cpu" ? 2 : 64;
  if (dk > 128 || dv > 128)
    return "Dk = " + std::to_string(dk) + ", Dv = " + std::to_string(dv) + ": chunked holds at most 128 of each in local memory";
  if (p.dim("T", min_t) < min_t)
    return "T = " + std::to_string(p.dim("T")) + " < " + std::to_string(min_t) + ": decode and short prefill run faster on the recurrent variant";
  if ((p.dim("tokens") + 64 * p.dim("n_seqs")) * p.dim("HV") * (dk + dv + 65) >= (int64_t{1} << 31))
    return "per-chunk scratch past 2^31 elements (32-bit index math)";
  return fits_32bit_index(d, p);
}

// Attention: the kernels hold a head in tiles sized for D <= 256.
std::string attention_prefill(const DeviceRef& d, const Problem& p) {
  if (p.dim("D") > 256) return "D = " + std::to_string(p.dim("D")) + " > 256: the attention kernels hold a head in tiles sized for D <= 256";
  return fits_32bit_index(d, p);
}

std::string attention_decode(const DeviceRef& d, const Problem& p) {
  if (p.dim("T") > 16) return "T = " + std::to_string(p.dim("T")) + " > 16: split-KV decode is for 1 to 16 new tokens";
  return attention_prefill(d, p);
}

} // namespace

const std::vector<Variant>& variants() {
  static const std::vector<Variant> table = {
      // OpenCL C (kernels/quant/*.cl)
      {"convert", "opencl", "elementwise", 10, kExact, fits_32bit_index, "one work-item per element"},
      {"quantize_nvfp4", "opencl", "block16", 10, kExact, cl_exact_divide, "amax reduction, then one work-item per 16-block"},
      {"dequantize_nvfp4", "opencl", "elementwise", 10, kExact, fits_32bit_index, "one work-item per element"},
      {"quantize_fp8", "opencl", "group_amax", 10, kExact, cl_exact_divide, "one work-group per scale group"},
      {"dequantize_fp8", "opencl", "elementwise", 10, kExact, fits_32bit_index, "one work-item per element"},
      // Vulkan GLSL (kernels/quant/*.comp): division is corrected to IEEE in the shader (div_rn)
      {"convert", "vulkan", "elementwise", 10, kExact, fits_32bit_index, "one invocation per element"},
      {"quantize_nvfp4", "vulkan", "block16", 10, kExact, fits_32bit_index, "amax reduction, then one invocation per 16-block"},
      {"dequantize_nvfp4", "vulkan", "elementwise", 10, kExact, fits_32bit_index, "one invocation per element"},
      {"quantize_fp8", "vulkan", "group_amax", 10, kExact, fits_32bit_index, "one workgroup per scale group"},
      {"dequantize_fp8", "vulkan", "elementwise", 10, kExact, fits_32bit_index, "one invocation per element"},
      // OpenCL GEMMs (kernels/gemm/*.cl)
      {"gemm_nvfp4", "opencl", "gemv_splitk_exact", 20, kExact, cl_gemm_decode, "decode M <= 16: K split over a column's work-items, exact long partials, local-memory tree"},
      {"gemm_nvfp4", "opencl", "tiled_exact", 10, kExact, fits_32bit_index, "local-memory tiles, register micro-tiles, exact long sums per 16-block"},
      {"gemm_fp8", "opencl", "gemv_splitk_exact", 20, kExact, cl_gemm_decode, "decode M <= 16: split-K exact long partials (block form: whole 128-blocks, fp32 steps in kb order)"},
      {"gemm_fp8", "opencl", "tiled_exact", 10, kExact, fits_32bit_index, "local-memory tiles, register micro-tiles, exact long sums (block form: fp32 steps per 128-block)"},
      // Vulkan GEMMs (kernels/gemm/*.comp)
      {"gemm_nvfp4", "vulkan", "gemv_splitk_exact", 20, kExact, vk_gemm_decode, "decode: 8 columns a workgroup, K split across 8 invocations each, exact 64-bit partial sums reduced in shared memory"},
      {"gemm_nvfp4", "vulkan", "tiled_exact", 10, kExact, fits_32bit_index, "64x64 shared-memory tiles, 8x4 register micro-tiles, exact 64-bit sums"},
      {"gemm_fp8", "vulkan", "gemv_splitk_exact", 20, kExact, vk_gemm_decode, "decode: 8 columns a workgroup, K split across 8 invocations each (at 128-blocks when block-scaled), exact sums"},
      {"gemm_fp8", "vulkan", "tiled_exact", 10, kExact, fits_32bit_index, "64x64 shared-memory tiles, 8x4 register micro-tiles, exact 64-bit sums"},
      // GEMM tensor-core variants (bounded): insert below this line.
      // GEMMs with the activation quantized in front (host/src/gemm_act.h): the backend's quantize kernels, then its exact GEMM (gemv M <= 16, tiled above), activations resident on the device.
      {"gemm_nvfp4_act", "opencl", "quantize_then_gemm", 10, kExact, cl_exact_divide, "amax + block16 quantize kernels, then the exact GEMM kernel on the device-resident activations"},
      {"gemm_fp8_act", "opencl", "quantize_then_gemm", 10, kExact, cl_exact_divide, "token-128 group quantize kernel, then the exact block-scaled GEMM kernel on the device-resident activations"},
      {"gemm_nvfp4_act", "vulkan", "quantize_then_gemm", 10, kExact, fits_32bit_index, "absmax + block16 quantize shaders, then the exact GEMM shader on the device-resident activations"},
      {"gemm_fp8_act", "vulkan", "quantize_then_gemm", 10, kExact, fits_32bit_index, "token-128 group quantize shaders, then the exact block-scaled GEMM shader on the device-resident activations"},
      // NVIDIA tensor cores (dispatch/tensor_core.h: requirements, bounds and why decode is left out).
      {"gemm_nvfp4", "opencl", "nv_mma_f16", 30, tensor_core::kBoundF16, tensor_core::cl_mma_f16, "inline PTX mma.sync m16n8k16: NVFP4 with its block scale folded into exact fp16, fp32 sums, 128x64 tiles"},
      {"gemm_fp8", "opencl", "nv_mma_e4m3", 31, tensor_core::kBoundE4m3, tensor_core::cl_mma_e4m3, "inline PTX mma.sync m16n8k32 .e4m3 (cc >= 8.9), fp32 sums per 32-K step, 128x64 tiles"},
      {"gemm_fp8", "opencl", "nv_mma_f16", 30, tensor_core::kBoundF16, tensor_core::cl_mma_f16, "inline PTX mma.sync m16n8k16: E4M3 as exact fp16, fp32 sums, 128x64 tiles"},
      {"gemm_nvfp4", "vulkan", "nv_coopmat_f16", 30, tensor_core::kBoundF16, tensor_core::vk_coopmat, "GL_NV_cooperative_matrix 16x16x16: NVFP4 with its block scale folded into exact fp16, fp32 sums, 64x64 tiles"},
      {"gemm_fp8", "vulkan", "nv_coopmat_f16", 30, tensor_core::kBoundF16, tensor_core::vk_coopmat, "GL_NV_cooperative_matrix 16x16x16: E4M3 as exact fp16, fp32 sums, 64x64 tiles"},
      // DeltaNet scan and conv1d variants: insert below this line.
      {"deltanet", "opencl", "chunked", 20, {false, 1e-4}, deltanet_chunked, "WY / UT transform per chunk of 64 for all chunks in parallel, then one work-group per (sequence, value head, 32 state columns) scans the chunks with the fp32 state in local memory"},
      {"deltanet", "vulkan", "chunked", 20, {false, 1e-4}, deltanet_chunked, "WY / UT transform per chunk of 64 for all chunks in parallel, then one workgroup per (sequence, value head, 32 state columns) scans the chunks with the fp32 state in local memory"},
      {"deltanet", "opencl", "recurrent", 10, {false, 1e-6}, deltanet_recurrent, "one work-group per (sequence, value head, 32 state columns): state in registers, read and written once; k, q per token in local memory"},
      {"deltanet", "vulkan", "recurrent", 10, {false, 1e-6}, deltanet_recurrent, "one workgroup per (sequence, value head, 32 state columns): state in registers, read and written once; k, q per token in shared memory"},
      {"conv1d", "opencl", "direct_silu", 10, {false, 1e-6}, fits_32bit_index, "one work-item per output reading its W taps, SiLU fused, new state in the same launch"},
      {"conv1d", "vulkan", "direct_silu", 10, {false, 1e-6}, fits_32bit_index, "one invocation per output reading its W taps, SiLU fused, new state in the same launch"},
      // Attention variants: insert below this line.
      {"attention", "vulkan", "nv_coopmat_f16", 30, tensor_core::kBoundAttnF16, tensor_core::vk_attn_coopmat,
       "NVIDIA tensor cores, GL_NV_cooperative_matrix 16x16x16: 64 query rows x 16-key tiles, q/k/v/p in fp16, fp32 accumulate and online softmax, causal offset, GQA, gate fused"},
      {"attention", "opencl", "nv_mma_f16", 30, tensor_core::kBoundAttnF16, tensor_core::cl_attn_mma_f16,
       "NVIDIA tensor cores, inline PTX mma.sync m16n8k16: 128 query rows x 32-key tiles, q/k/v/p in fp16, fp32 accumulate and online softmax, causal offset, GQA, gate fused"},
      {"attention", "opencl", "splitkv_decode", 20, kAttentionF32, attention_decode, "flash-decoding for T <= 16: keys split across work-groups, K/V tiles shared by a GQA group, partial (o, m, l) merged in fixed order by log-sum-exp"},
      {"attention", "opencl", "flash_prefill", 10, kAttentionF32, attention_prefill, "query-row tiles (position x GQA head) against staged K/V tiles, fp32 online softmax, causal S - T offset, gate fused"},
      {"attention", "vulkan", "splitkv_decode", 20, kAttentionF32, attention_decode, "flash-decoding for T <= 16: keys split across workgroups, K/V tiles shared by a GQA group, partial (o, m, l) merged in fixed order by log-sum-exp"},
      {"attention", "vulkan", "flash_prefill", 10, kAttentionF32, attention_prefill, "query-row tiles (position x GQA head) against staged K/V tiles, fp32 online softmax, causal S - T offset, gate fused"},
      // The CPU reference: the definition, exact by construction, always last.
      {"convert", "cpu", "reference", 0, kExact, always, "reference/formats.cpp"},
      {"quantize_nvfp4", "cpu", "reference", 0, kExact, always, "reference/quantize.cpp"},
      {"dequantize_nvfp4", "cpu", "reference", 0, kExact, always, "reference/quantize.cpp"},
      {"quantize_fp8", "cpu", "reference", 0, kExact, always, "reference/quantize.cpp"},
      {"dequantize_fp8", "cpu", "reference", 0, kExact, always, "reference/quantize.cpp"},
      {"gemm_nvfp4", "cpu", "reference", 0, kExact, always, "reference/gemm.cpp"},
      {"gemm_fp8", "cpu", "reference", 0, kExact, always, "reference/gemm.cpp"},
      {"deltanet", "cpu", "reference", 0, kExact, always, "reference/deltanet.cpp"},
      {"conv1d", "cpu", "reference", 0, kExact, always, "reference/conv1d.cpp"},
      {"attention", "cpu", "reference", 0, kExact, always, "reference/attention.cpp"},
      {"gemm_nvfp4_act", "cpu", "reference", 0, kExact, always, "reference/quantize.cpp then reference/gemm.cpp"},
      {"gemm_fp8_act", "cpu", "reference", 0, kExact, always, "reference/quantize.cpp then reference/gemm.cpp"},
  };
  return table;
}

} // namespace tessera::dispatch
