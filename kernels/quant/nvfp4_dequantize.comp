#version 450
// dequantize_nvfp4, variant "elementwise": y = RN(RN(e2m1(q) * f32(scale)) * scale_2)
// (numerics.md section 2). One invocation per word of q, i.e. 8 consecutive elements; since
// cols % 16 == 0 the flat element index gives the scale (index / 16) and never straddles a row.
// Products go through mul_rn, so denormal and overflowing results are the reference's bits; a NaN
// result (a NaN scale code, a NaN scale_2, 0 * inf) is written as the canonical NaN 0x7FC00000.
//
// Defines: FP32_RN_HW_RTE (default undefined), the ".rte" build for devices with
// shaderRoundingModeRTEFloat32: hardware add/multiply on the normal range (common/fp32_rn.glsl).
// Specialization constants: 0 = workgroup size (default 256).
// Push constants: nwords (= elements / 8), scale_2 bits.
// Bindings: 0 q (packed E2M1 as uint), 1 scale (E4M3 bytes as uint), 2 y (fp32 as uint).
// Conformance: exact.
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv: quant/nvfp4_dequantize
// spirv: quant/nvfp4_dequantize.rte FP32_RN_HW_RTE
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 256, local_size_x_id = 0) in; // the host specializes the size

#include "common/formats.glsl"
#include "common/fp32_rn.glsl"

layout(std430, binding = 0) readonly buffer Q { uint q[]; };
layout(std430, binding = 1) readonly buffer Scale { uint scale[]; };
layout(std430, binding = 2) writeonly buffer Y { uint y[]; };
layout(push_constant) uniform Push {
  uint nwords;
  uint scale_2;
} pc;

void main() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint w = gl_GlobalInvocationID.x; w < pc.nwords; w += stride) {
    uint codes = q[w];
    uint blk = w >> 1; // 8 elements a word, 16 a block
    uint s = e4m3_to_f32(byte_of(scale[blk >> 2], blk & 3u));
    for (uint j = 0u; j < 8u; ++j) {
      uint v = mul_rn(e2m1_to_f32((codes >> (4u * j)) & 0xFu), s);
      y[8u * w + j] = f32_canonicalize_nan(mul_rn(v, pc.scale_2));
    }
  }
}
