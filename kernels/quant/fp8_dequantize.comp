#version 450
// dequantize_fp8, variant "elementwise": y = RN(e4m3(q) * scale of its group) for the three
// groupings of numerics.md section 3 (tensor: one scale; token128: [rows, ceil(cols/128)];
// block128: [ceil(rows/128), ceil(cols/128)]). One invocation per word of q (4 elements, each
// with its own row and column: the shape is ragged and a word may straddle rows); the last word
// is guarded. Products go through mul_rn (denormal and overflowing results are the reference's
// bits); a NaN result (NaN code, NaN scale, 0 * inf) is written as the canonical NaN 0x7FC00000.
//
// Defines: FP32_RN_HW_RTE (default undefined), the ".rte" build for devices with
// shaderRoundingModeRTEFloat32: hardware add/multiply on the normal range (common/fp32_rn.glsl).
// Specialization constants: 0 = workgroup size (default 256).
// Push constants: rows, cols, grouping (0 tensor, 1 token128, 2 block128).
// Bindings: 0 q (E4M3 bytes as uint), 1 scales (fp32 as uint), 2 y (fp32 as uint).
// Conformance: exact.
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv: quant/fp8_dequantize
// spirv: quant/fp8_dequantize.rte FP32_RN_HW_RTE
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 256, local_size_x_id = 0) in; // the host specializes the size

#include "common/formats.glsl"
#include "common/fp32_rn.glsl"

layout(std430, binding = 0) readonly buffer Q { uint q[]; };
layout(std430, binding = 1) readonly buffer Scales { uint scales[]; };
layout(std430, binding = 2) writeonly buffer Y { uint y[]; };
layout(push_constant) uniform Push {
  uint rows;
  uint cols;
  uint grouping;
} pc;

uint scale_index(uint i) {
  if (pc.grouping == 0u) return 0u;
  uint r = i / pc.cols, c = i % pc.cols;
  uint cg = (pc.cols + 127u) / 128u;
  return (pc.grouping == 1u ? r : r / 128u) * cg + c / 128u;
}

void main() {
  uint n = pc.rows * pc.cols;
  uint nwords = (n + 3u) / 4u;
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint w = gl_GlobalInvocationID.x; w < nwords; w += stride) {
    uint codes = q[w];
    for (uint j = 0u; j < 4u; ++j) {
      uint i = 4u * w + j;
      if (i >= n) break;
      uint v = mul_rn(e4m3_to_f32(byte_of(codes, j)), scales[scale_index(i)]);
      y[i] = f32_canonicalize_nan(v);
    }
  }
}
