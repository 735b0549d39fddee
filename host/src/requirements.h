// Requirement functions shared by the OpenCL and Vulkan variant tables (host/src/opencl/
// variants.cpp, host/src/vulkan/variants.cpp): the NVIDIA tensor-core variants' device checks and
// bounds, and the chunked DeltaNet's. Shape limits are in each record's manifest (core/variant.h)
// and checked by core::check_limits; these add what a manifest cannot say.
//
// Tensor-core GEMMs: kernels/gemm/nvfp4_mma.cl, fp8_mma.cl (both FP8 variants; OpenCL, inline PTX
// mma.sync) and kernels/gemm/nv_coopmat.comp (Vulkan, GL_NV_cooperative_matrix); attention:
// kernels/attention/flash_mma.cl and flash_coopmat.comp.
//
// None has run on NVIDIA hardware yet, so their conformance records no proof (proven_on ""):
// the registry ranks them below the exact and portable variants until a GPU run records one.
//
// Their conformance is bounded (numerics.md section 7): operands are converted exactly (fp16 or
// E4M3) so every product is exact, and only the fp32 accumulation rounds. Each TILE_K = 32 step's
// products are summed by the matrix unit from zero and added to an fp32 running sum with one RN
// add, so the matrix unit's own accumulation (architecture-defined) spans 32 products only.
// tests/test_gemm_tensor_core.cpp emulates that order on random and max-magnitude inputs up to
// K = 65536, with IEEE fp32 chunks and with truncating chunks (products aligned to the largest
// exponent, 23 fraction bits for fp16 HMMA as measured by Fasi et al. 2021; 13 for Hopper's
// fp8 path, which DeepSeek-V3's report measured at about 14 significant bits), and checks the
// bounds below with margin; docs/numerics.md "Tensor-core GEMM variants" has the derivation.
//
// Decode shapes (M <= core::kDecodeRows) are left out on purpose (the manifests' min_m): they are
// memory-bound (every weight byte is read once whatever computes), a 128-row tile would be 7/8
// idle, and gemv_splitk_exact gives exact bits there at the same bandwidth. Attention likewise
// leaves T <= kDecodeRows to splitkv_decode (min_t).
#pragma once

#include <string>

#include "core/tuning.h"
#include "core/variant.h"

namespace tessera::detail {

namespace tensor_core {

inline constexpr core::Conformance kBoundF16{false, 2e-4, ""};  // fp16 products, fp32 sums, any output type
inline constexpr core::Conformance kBoundE4m3{false, 3e-3, ""}; // e4m3 mma: ~14-bit sums inside one mma
// Attention "nv_mma_f16" / "nv_coopmat_f16": bounded by the attention error bound of
// docs/numerics.md with operand_u = 2^-11: q, k, v and p are rounded to fp16 before fp32 sums;
// tests/test_attention_tensor_core.cpp emulates that rounding against ref::attention and checks
// it within the bound; docs/numerics.md "Tensor-core attention variants".
inline constexpr core::Conformance kBoundAttnF16{false, 1.0, "", core::MixedBound::Attention, 0x1p-11};

// OpenCL: the host writes TESSERA_NV_INLINE_PTX 1 only on NVIDIA's OpenCL (caps.nv_inline_ptx,
// which the user can disable as cap:nv_inline_ptx); mma.sync m16n8k16 f16 needs cc 8.0,
// m16n8k32 .e4m3 needs cc 8.9.
inline std::string cl_mma(const core::Variant& v, const core::DeviceRef& d, const core::Problem& p, int cc_major,
                          int cc_minor, const char* what) {
  // The shape first: a head or a decode call no matrix tile serves is refused on every device.
  if (std::string r = core::check_shape_limits(v, p); !r.empty()) return r;
  if (!d.caps.nv_inline_ptx) return "no inline PTX (only NVIDIA's OpenCL takes asm mma.sync)";
  if (d.caps.cc_major < cc_major || (d.caps.cc_major == cc_major && d.caps.cc_minor < cc_minor))
    return "compute capability " + std::to_string(d.caps.cc_major) + "." + std::to_string(d.caps.cc_minor) + " < " +
           std::to_string(cc_major) + "." + std::to_string(cc_minor) + " (" + what + ")";
  return core::check_device_limits(v, d);
}

inline std::string cl_mma_f16(const core::Variant& v, const core::DeviceRef& d, const core::Problem& p) {
  return cl_mma(v, d, p, 8, 0, "mma.sync m16n8k16 f16");
}

inline std::string cl_mma_e4m3(const core::Variant& v, const core::DeviceRef& d, const core::Problem& p) {
  return cl_mma(v, d, p, 8, 9, "mma.sync m16n8k32 e4m3");
}

// Vulkan: the shaders exist only when this glslangValidator has GL_NV_cooperative_matrix (the
// configure probe TESSERA_GLSL_NV_COOPMAT, a private definition of the library: `built` is the
// Vulkan table's view of it), the device must expose VK_NV_cooperative_matrix and fp16
// arithmetic, and the shaders' four subgroups of 32 (NVIDIA's width) tile 128 invocations.
inline std::string vk_coopmat(bool built, const core::Variant& v, const core::DeviceRef& d, const core::Problem& p) {
  if (std::string r = core::check_shape_limits(v, p); !r.empty()) return r;
  if (!built) return "not built: this glslangValidator has no GL_NV_cooperative_matrix";
  if (!d.caps.nv_cooperative_matrix) return "device has no VK_NV_cooperative_matrix";
  if (!d.caps.fp16) return "device has no fp16 arithmetic (VK_KHR_shader_float16_int8)";
  if (d.facts.subgroup_size != 32)
    return "subgroup size " + std::to_string(d.facts.subgroup_size) +
           " (the shader tiles 128 invocations as 4 subgroups of 32)";
  return core::check_device_limits(v, d);
}

} // namespace tensor_core

// The fp32 attention kernels: the mixed bound of docs/numerics.md "Attention error bound".
inline constexpr core::Conformance kAttentionF32{false, 1.0, "cpu", core::MixedBound::Attention, 0.0};

// The DeltaNet kernels: the mixed bound of docs/numerics.md "DeltaNet error bound", in the
// recurrent kernel's operation order (recurrent, recurrent_dk256) or the chunked (WY) one. Until
// 2026-12 they declared relative L2 <= 1e-6 and 1e-4, which no input with a cancelling output or
// state can be held to (issue 17).
inline constexpr core::Conformance kDeltaNetRecurrent{false, 1.0, "cpu", core::MixedBound::DeltaNetRecurrent, 0.0};
inline constexpr core::Conformance kDeltaNetChunked{false, 1.0, "cpu", core::MixedBound::DeltaNetChunked, 0.0};

// DeltaNet "chunked": prefill only, from the tuning row's min_t (core/tuning.cpp: measured on
// CPU devices, a full chunk on GPUs). A problem that names no T (kbench asks with a shape-free
// query) is not refused on T.
inline std::string deltanet_chunked(const core::Variant& v, const core::DeviceRef& d, const core::Problem& p) {
  if (std::string r = core::check_limits(v, d, p); !r.empty()) return r;
  const int64_t min_t = core::tuning(v, d.facts).get("min_t");
  if (p.dim("T", min_t) < min_t)
    return "T = " + std::to_string(p.dim("T")) + " < " + std::to_string(min_t) +
           ": decode and short prefill run faster on the recurrent variant";
  if ((p.dim("tokens") + 64 * p.dim("n_seqs")) * p.dim("HV") * (p.dim("Dk") + p.dim("Dv") + 65) >= (int64_t{1} << 31))
    return "per-chunk scratch past 2^31 elements (32-bit index math)";
  return "";
}

} // namespace tessera::detail
