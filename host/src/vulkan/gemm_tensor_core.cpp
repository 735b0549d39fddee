// The vulkan launch functions of "nv_coopmat_f16" (kernels/gemm/nv_coopmat.comp, numerics.md
// section 4, conformance bounded): NVIDIA tensor cores through GL_NV_cooperative_matrix, one
// shader built three ways (NVFP4, FP8 per-tensor, FP8 block-scaled; the builds the manifest
// names) with common/gemm.glsl's interface, so the launch mirrors gemm.cpp's: six storage
// buffers, the same push constants, 16-bit outputs OR-ed into a zero-filled buffer. The registry
// has checked the record's limits (min_m, the 128-invocation workgroup, 32-bit indexing) and its
// requirement (tensor_core::vk_coopmat: the extension, fp16, subgroups of 32). Before anything
// is uploaded the device is checked for what the registry does not know and the shader declares:
// the cooperative-matrix and fp16 features enabled at device creation, and a 16x16x16 fp16 x
// fp16 -> fp32 subgroup-scope shape among the driver's cooperative matrix properties. Outputs
// are copied out only after the batch succeeded, and every failure is a BackendFailure (the
// dispatcher disables the variant and falls back).
#include "gemm_tensor_core.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <vector>

#include "batch.h"
#include "instance.h"
#include "kernels/gemm/geometry.h"
#include "launch.h"

namespace tessera::detail::vulkan {

namespace {

struct GemmPush {
  uint32_t M, N, K, alpha, flags;
};

struct Input {
  const void* data;
  size_t bytes;
};

// Whether the driver lists the shape the shader uses: 16x16x16, fp16 A/B, fp32 C/D, subgroup scope.
bool has_coopmat_shape(VkPhysicalDevice pd) {
  auto get = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV>(
      vkGetInstanceProcAddr(instance().handle, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV"));
  if (!get) return false;
  uint32_t n = 0;
  if (get(pd, &n, nullptr) != VK_SUCCESS || n == 0) return false;
  std::vector<VkCooperativeMatrixPropertiesNV> props(
      n, make<VkCooperativeMatrixPropertiesNV>(VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV));
  if (get(pd, &n, props.data()) != VK_SUCCESS) return false;
  for (uint32_t i = 0; i < n; ++i) {
    const auto& p = props[i];
    if (p.MSize == 16 && p.NSize == 16 && p.KSize == 16 &&
        p.AType == VK_COMPONENT_TYPE_FLOAT16_NV && p.BType == VK_COMPONENT_TYPE_FLOAT16_NV &&
        p.CType == VK_COMPONENT_TYPE_FLOAT32_NV && p.DType == VK_COMPONENT_TYPE_FLOAT32_NV &&
        p.scope == VK_SCOPE_SUBGROUP_NV)
      return true;
  }
  return false;
}

} // namespace

// Shared with the attention launcher (attention.cpp), which runs the same kind of shader.
void check_coopmat_device(Device& d, std::string_view op) {
  const char* name = d.properties.deviceName;
  if (!d.features.nv_cooperative_matrix)
    backend_failure(fmt::format("{} nv_coopmat_f16: {} has no VK_NV_cooperative_matrix", op, name));
  if (!d.features.shader_float16)
    backend_failure(fmt::format("{} nv_coopmat_f16: {} has no shaderFloat16", op, name));
  if (!has_coopmat_shape(d.physical))
    backend_failure(fmt::format("{} nv_coopmat_f16: {} lists no 16x16x16 fp16 x fp16 -> fp32 "
                                "subgroup cooperative matrix",
                                op, name));
}

namespace {

// Record v's shader in build `build` (the manifest's "gemm/nv_coopmat.comp (nvfp4)": "nvfp4"),
// with the manifest's workgroup (WG of nv_coopmat.comp: 4 subgroups of 32).
void launch(int device_index, const core::Variant& v, std::string_view build, const Input (&in)[4], int64_t M,
            int64_t N, int64_t K, float alpha, const float* bias, ref::OutType out, void* c) {
  set_last_device_ms(0.0); // also when this run fails
  Device& d = device(device_index);
  std::lock_guard lock(d.mutex);
  check_coopmat_device(d, v.op);
  if (M == 0 || N == 0) return;
  size_t out_bytes = static_cast<size_t>(M * N) * (out == ref::OutType::F32 ? 4 : 2);
  uint32_t type = out == ref::OutType::F32 ? 0u : out == ref::OutType::BF16 ? 1u : 2u;
  GemmPush push{static_cast<uint32_t>(M), static_cast<uint32_t>(N), static_cast<uint32_t>(K),
                std::bit_cast<uint32_t>(alpha), type | (bias ? 4u : 0u)};
  const auto wg = static_cast<uint32_t>(v.manifest.limits.workgroup);
  const Kernel& k = kernel(d, shader_base(v, 0, build) + ".spv", 6, sizeof push, wg);
  Buffer a(d, in[0].bytes), sa(d, in[1].bytes), b(d, in[2].bytes), sb(d, in[3].bytes);
  Buffer bias_buf(d, bias ? static_cast<size_t>(N) * 4 : 4), cbuf(d, out_bytes);
  Buffer* bufs[4] = {&a, &sa, &b, &sb};
  Batch batch(d, v.op);
  for (int i = 0; i < 4; ++i)
    if (in[i].data) batch.upload(*bufs[i], 0, in[i].data, in[i].bytes);
  if (bias) batch.upload(bias_buf, 0, bias, static_cast<size_t>(N) * 4);

  uint64_t tiles = uint64_t((M + NVC_TILE - 1) / NVC_TILE) * uint64_t((N + NVC_TILE - 1) / NVC_TILE);
  if (out != ref::OutType::F32) batch.fill(cbuf, 0, cbuf.size(), 0); // halves are OR-ed in
  batch.dispatch(k, {&a, &sa, &b, &sb, &bias_buf, &cbuf}, &push,
                 group_count(d, tiles * wg, wg));
  batch.finish();
  from_buffer(cbuf, 0, c, out_bytes);
}

// Empty operands (K = 0) still need a binding: a 4-byte placeholder the shader never reads.
size_t bytes(int64_t rows, int64_t cols, size_t size) {
  size_t n = static_cast<size_t>(rows) * static_cast<size_t>(cols) * size;
  return n == 0 ? 4 : n;
}

} // namespace

void gemm_nvfp4_coopmat(int device_index, const core::Variant& v, const GemmNvfp4Args& a) {
  Input in[4] = {{a.a, bytes(a.M, a.K / 2, 1)},
                 {a.a_scale, bytes(a.M, a.K / 16, 1)},
                 {a.b, bytes(a.N, a.K / 2, 1)},
                 {a.b_scale, bytes(a.N, a.K / 16, 1)}};
  launch(device_index, v, "nvfp4", in, a.M, a.N, a.K, a.alpha, a.bias, a.out, a.c);
}

void gemm_fp8_coopmat(int device_index, const core::Variant& v, const GemmFp8Args& a) {
  Input in[4] = {{a.a, bytes(a.M, a.K, 1)}, {nullptr, 4}, {a.b, bytes(a.N, a.K, 1)}, {nullptr, 4}};
  launch(device_index, v, "fp8_tensor", in, a.M, a.N, a.K, a.alpha, a.bias, a.out, a.c);
}

void gemm_fp8_block_coopmat(int device_index, const core::Variant& v, const GemmFp8BlockArgs& a) {
  int64_t kbs = (a.K + 127) / 128;
  Input in[4] = {{a.a, bytes(a.M, a.K, 1)},
                 {a.a_scale, bytes(a.M, kbs, 4)},
                 {a.b, bytes(a.N, a.K, 1)},
                 {a.b_scale, bytes((a.N + 127) / 128, kbs, 4)}};
  launch(device_index, v, "fp8_block", in, a.M, a.N, a.K, 1.0f, a.bias, a.out, a.c);
}

} // namespace tessera::detail::vulkan
