#version 450
// quantize_fp8, variant "group_amax" (numerics.md section 3): q = E4M3(RN(x / s)) with
//   fp8-tensor:   s = RN(amax / 448), 1.0 when amax == 0 (amax from absmax.comp);
//   fp8-token128: s = RN(max(gamax, 1e-4) / 448) per row and group of 128 columns;
//   fp8-block128: the same per 128x128 tile.
// Three entry points, chosen by a define:
//   FP8_PASS_TOKEN (token128): one invocation per row group of up to 128 columns, reading it in
//     order, with no shared memory or barriers. On lavapipe this is 15x faster than a workgroup
//     per group (714 -> 46 ms for 512x4096), whose seven barriers per 128 elements dominate; a GPU
//     variant may prefer a subgroup per group for coalesced loads.
//   FP8_PASS_GROUP (block128): one workgroup per 128x128 tile (looping when there are more tiles
//     than workgroups), reduced through shared memory (common/reduce.glsl).
//   Both write the group scale and send the group's first non-finite index to stats[1] by
//   atomicMin; the group max is an integer max of bit patterns (exact, order-independent).
//   default, the apply pass: one invocation per word of q (4 elements, each with its own row and
//     column: the shape is ragged), the last word guarded; nothing runs when a non-finite
//     element was found, since the host then reports it.
// Divisions are div_rn (common/fp32_rn.glsl): correctly rounded, denormals included.
//
// Specialization constants: 0 = workgroup size (default 256, a power of two).
// Push constants: rows, cols, grouping (0 tensor, 1 token128, 2 block128); rows * cols < 2^31.
// Bindings: 0 x (fp32 as uint), 1 stats ([0] amax bits, [1] first non-finite index),
// 2 q (E4M3 bytes as uint; apply pass only), 3 scales (fp32 as uint).
// Conformance: exact.
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv: quant/fp8_quantize.group FP8_PASS_GROUP
// spirv: quant/fp8_quantize.token FP8_PASS_TOKEN
// spirv: quant/fp8_quantize.apply
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 256, local_size_x_id = 0) in; // the host specializes the size

#include "common/formats.glsl"
#include "common/fp32_rn.glsl"

layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) buffer Stats { uint stats[]; };
layout(std430, binding = 2) writeonly buffer Q { uint q[]; };
layout(std430, binding = 3) buffer Scales { uint scales[]; };
layout(push_constant) uniform Push {
  uint rows;
  uint cols;
  uint grouping;
} pc;

const uint F32_448 = 0x43E00000u;
const uint F32_1EM4 = 0x38D1B717u; // 1e-4f, by its bits: no decimal literal to round

#if defined(FP8_PASS_TOKEN)

void main() {
  uint cg = (pc.cols + 127u) / 128u;
  uint ngroups = pc.rows * cg;
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint g = gl_GlobalInvocationID.x; g < ngroups; g += stride) {
    uint c0 = (g % cg) * 128u;
    uint base = (g / cg) * pc.cols + c0;
    uint w = min(128u, pc.cols - c0);
    uint m = 0u, bad = 0xFFFFFFFFu;
    for (uint k = 0u; k < w; ++k) {
      uint b = x[base + k];
      if (f32_is_finite(b))
        m = max(m, b & F32_ABS);
      else
        bad = min(bad, base + k);
    }
    scales[g] = div_rn(max(m, F32_1EM4), F32_448);
    if (bad != 0xFFFFFFFFu) atomicMin(stats[1], bad);
  }
}

#elif defined(FP8_PASS_GROUP)

#include "common/reduce.glsl"

void main() {
  uint cg = (pc.cols + 127u) / 128u;
  bool token = pc.grouping == 1u;
  uint ngroups = (token ? pc.rows : (pc.rows + 127u) / 128u) * cg;
  for (uint g = gl_WorkGroupID.x; g < ngroups; g += gl_NumWorkGroups.x) {
    uint r0 = token ? g / cg : (g / cg) * 128u;
    uint h = token ? 1u : min(128u, pc.rows - r0);
    uint c0 = (g % cg) * 128u;
    uint w = min(128u, pc.cols - c0);
    uint m = 0u, bad = 0xFFFFFFFFu;
    for (uint k = gl_LocalInvocationID.x; k < h * w; k += gl_WorkGroupSize.x) {
      uint i = (r0 + k / w) * pc.cols + c0 + k % w;
      uint b = x[i];
      if (f32_is_finite(b))
        m = max(m, b & F32_ABS);
      else
        bad = min(bad, i);
    }
    workgroup_max_min(m, bad);
    if (gl_LocalInvocationID.x == 0u) {
      scales[g] = div_rn(max(red_max[0], F32_1EM4), F32_448);
      if (red_min[0] != 0xFFFFFFFFu) atomicMin(stats[1], red_min[0]);
    }
  }
}

#else

uint scale_index(uint i) {
  uint r = i / pc.cols, c = i % pc.cols;
  uint cg = (pc.cols + 127u) / 128u;
  return (pc.grouping == 1u ? r : r / 128u) * cg + c / 128u;
}

void main() {
  if (stats[1] != 0xFFFFFFFFu) return;
  uint n = pc.rows * pc.cols;
  uint tensor_scale = 0u;
  if (pc.grouping == 0u) {
    tensor_scale = stats[0] == 0u ? F32_ONE : div_rn(stats[0], F32_448);
    if (gl_GlobalInvocationID.x == 0u) scales[0] = tensor_scale;
  }
  uint nwords = (n + 3u) / 4u;
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint wd = gl_GlobalInvocationID.x; wd < nwords; wd += stride) {
    uint word = 0u;
    for (uint j = 0u; j < 4u; ++j) {
      uint i = 4u * wd + j;
      if (i < n) {
        uint s = pc.grouping == 0u ? tensor_scale : scales[scale_index(i)];
        word |= f32_to_e4m3(f32_canonicalize_nan(div_rn(x[i], s))) << (8u * j);
      }
    }
    q[wd] = word;
  }
}

#endif
