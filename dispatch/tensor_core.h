// Requirements of the NVIDIA tensor-core GEMM variants (records in dispatch/variants.cpp under
// "GEMM tensor-core variants (bounded)"): kernels/gemm/nvfp4_mma.cl, fp8_mma.cl, fp8_mma_e4m3.cl
// (OpenCL, inline PTX mma.sync) and kernels/gemm/nv_coopmat.comp (Vulkan,
// GL_NV_cooperative_matrix).
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
// Decode shapes (M <= 16) are rejected on purpose: they are memory-bound (every weight byte is
// read once whatever computes), a 128-row tile would be 7/8 idle, and gemv_splitk_exact gives
// exact bits there at the same bandwidth.
#pragma once

#include <string>

#include "registry.h"

namespace tessera::dispatch::tensor_core {

inline constexpr Conformance kBoundF16{false, 2e-4};  // fp16 products, fp32 sums, any output type
inline constexpr Conformance kBoundE4m3{false, 3e-3}; // e4m3 mma: ~14-bit sums inside one mma
inline constexpr int64_t kDecodeM = 16;

static inline std::string common(const DeviceRef& d, const Problem& p) {
  if (p.dim("M") <= kDecodeM)
    return "M = " + std::to_string(p.dim("M")) +
           " <= 16: decode shapes are memory-bound and go to gemv_splitk_exact (exact, same "
           "bandwidth)";
  if (p.elements() >= (int64_t{1} << 31)) return "more than 2^31 elements (32-bit index math)";
  if (d.facts.local_memory_bytes > 0 && d.facts.local_memory_bytes < 16384)
    return "device has " + std::to_string(d.facts.local_memory_bytes) +
           " bytes of shared memory; the tile needs 16 KB";
  return "";
}

// OpenCL: the host writes TESSERA_NV_INLINE_PTX 1 only on NVIDIA's OpenCL (caps.nv_inline_ptx,
// which the user can disable as cap:nv_inline_ptx); mma.sync m16n8k16 f16 needs cc 8.0,
// m16n8k32 .e4m3 needs cc 8.9. The kernels are written for 256 work-items (8 warps).
static inline std::string cl_mma(const DeviceRef& d, const Problem& p, int cc_major, int cc_minor,
                                 const char* what) {
  if (!d.caps.nv_inline_ptx) return "no inline PTX (only NVIDIA's OpenCL takes asm mma.sync)";
  if (d.caps.cc_major < cc_major || (d.caps.cc_major == cc_major && d.caps.cc_minor < cc_minor))
    return "compute capability " + std::to_string(d.caps.cc_major) + "." +
           std::to_string(d.caps.cc_minor) + " < " + std::to_string(cc_major) + "." +
           std::to_string(cc_minor) + " (" + what + ")";
  if (d.facts.max_workgroup_size > 0 && d.facts.max_workgroup_size < 256)
    return "work-groups of 256 needed, device takes " + std::to_string(d.facts.max_workgroup_size);
  return common(d, p);
}

static inline std::string cl_mma_f16(const DeviceRef& d, const Problem& p) {
  return cl_mma(d, p, 8, 0, "mma.sync m16n8k16 f16");
}

static inline std::string cl_mma_e4m3(const DeviceRef& d, const Problem& p) {
  return cl_mma(d, p, 8, 9, "mma.sync m16n8k32 e4m3");
}

// Attention "nv_mma_f16" (kernels/attention/flash_mma.cl): prefill only (T > 16: decode stays
// on splitkv_decode, whose work is memory-bound), D a multiple of 16 up to 256 (m16n8k16 steps,
// the kernel's private tiles), and the OpenCL device checks of the GEMMs. Bounded by the attention
// error bound of docs/numerics.md with operand_u = 2^-11: q, k, v and p are rounded to fp16
// before fp32 sums; tests/test_attention_tensor_core.cpp emulates that rounding against
// ref::attention and checks it within the bound; docs/numerics.md "Tensor-core attention variants".
inline constexpr Conformance kBoundAttnF16{false, 1.0, true, 0x1p-11};

static inline std::string attn_shape(const Problem& p) {
  if (p.dim("T") <= kDecodeM)
    return "T = " + std::to_string(p.dim("T")) + " <= 16: decode goes to splitkv_decode";
  if (p.dim("D") % 16 != 0)
    return "D = " + std::to_string(p.dim("D")) + " is not a multiple of 16 (m16n8k16 steps)";
  if (p.elements() >= (int64_t{1} << 31)) return "more than 2^31 elements (32-bit index math)";
  return "";
}

static inline std::string cl_attn_mma_f16(const DeviceRef& d, const Problem& p) {
  // The head-size limit first, worded as the other attention variants' (the same cause).
  if (p.dim("D") > 256)
    return "D = " + std::to_string(p.dim("D")) + " > 256: the mma tiles hold a head of at most 256";
  if (!d.caps.nv_inline_ptx) return "no inline PTX (only NVIDIA's OpenCL takes asm mma.sync)";
  if (d.caps.cc_major < 8)
    return "compute capability " + std::to_string(d.caps.cc_major) + "." +
           std::to_string(d.caps.cc_minor) + " < 8.0 (mma.sync m16n8k16 f16)";
  if (d.facts.max_workgroup_size > 0 && d.facts.max_workgroup_size < 256)
    return "work-groups of 256 needed, device takes " + std::to_string(d.facts.max_workgroup_size);
  if (d.facts.local_memory_bytes > 0 && d.facts.local_memory_bytes < 40960)
    return "device has " + std::to_string(d.facts.local_memory_bytes) +
           " bytes of shared memory; the attention tile needs 40 KB";
  return attn_shape(p);
}

// Vulkan: the shader exists only when this glslangValidator has GL_NV_cooperative_matrix (the
// configure probe TESSERA_GLSL_NV_COOPMAT), the device must expose VK_NV_cooperative_matrix and
// fp16 arithmetic, and the shader's four subgroups of 32 (NVIDIA's width) tile 128 invocations.
// Internal linkage (static): TESSERA_GLSL_NV_COOPMAT is a private definition of the library, so
// a test that includes this header sees another value; each translation unit keeps its own copy
// and the registry's records point at dispatch/variants.cpp's.
#ifdef TESSERA_GLSL_NV_COOPMAT
static constexpr bool kCoopmatBuilt = true;
#else
static constexpr bool kCoopmatBuilt = false;
#endif

static inline std::string vk_coopmat(const DeviceRef& d, const Problem& p) {
  if (!kCoopmatBuilt) return "not built: this glslangValidator has no GL_NV_cooperative_matrix";
  if (!d.caps.nv_cooperative_matrix) return "device has no VK_NV_cooperative_matrix";
  if (!d.caps.fp16) return "device has no fp16 arithmetic (VK_KHR_shader_float16_int8)";
  if (d.facts.subgroup_size != 32)
    return "subgroup size " + std::to_string(d.facts.subgroup_size) +
           " (the shader tiles 128 invocations as 4 subgroups of 32)";
  return common(d, p);
}

// Attention "nv_coopmat_f16" (kernels/attention/flash_coopmat.comp): the Vulkan device checks of
// vk_coopmat and the attention shapes of cl_attn_mma_f16 (same error model, same bound
// kBoundAttnF16). Shared memory: 41728 bytes (64 x 264 fp16 staged rows, four 16 x 16 fp32
// patches, four 16 x 24 fp16 P tiles, 3 x 64 row statistics); the launcher checks the driver too.
static inline std::string vk_attn_coopmat(const DeviceRef& d, const Problem& p) {
  if (p.dim("D") > 256)
    return "D = " + std::to_string(p.dim("D")) + " > 256: the mma tiles hold a head of at most 256";
  if (!kCoopmatBuilt) return "not built: this glslangValidator has no GL_NV_cooperative_matrix";
  if (!d.caps.nv_cooperative_matrix) return "device has no VK_NV_cooperative_matrix";
  if (!d.caps.fp16) return "device has no fp16 arithmetic (VK_KHR_shader_float16_int8)";
  if (d.facts.subgroup_size != 32)
    return "subgroup size " + std::to_string(d.facts.subgroup_size) +
           " (the shader tiles 128 invocations as 4 subgroups of 32)";
  if (d.facts.local_memory_bytes > 0 && d.facts.local_memory_bytes < 41728)
    return "device has " + std::to_string(d.facts.local_memory_bytes) +
           " bytes of shared memory; the attention tile needs 41 KB";
  return attn_shape(p);
}

} // namespace tessera::dispatch::tensor_core
