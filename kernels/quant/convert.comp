#version 450
// convert, variant "elementwise": fp32 -> E4M3, E5M2, E2M1 (one code a byte), bf16 or fp16
// (numerics.md section 1). One invocation per output word: 4 byte codes or 2 halves, the last
// word guarded. The input is read as bits and encoded with integer operations only
// (common/formats.glsl), so denormals, signed zeros, infinities and NaN payloads give the
// reference's codes on any device.
//
// Specialization constants: 0 = workgroup size (default 256).
// Push constants: n (elements), format (0 E4M3, 1 E5M2, 2 E2M1, 3 bf16, 4 fp16).
// Bindings: 0 x (fp32 as uint), 1 y (codes packed little-endian into uint).
// Conformance: exact.
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv: quant/convert
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 256, local_size_x_id = 0) in; // the host specializes the size

#include "common/formats.glsl"

layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) writeonly buffer Y { uint y[]; };
layout(push_constant) uniform Push {
  uint n;
  uint format;
} pc;

uint encode(uint b) {
  switch (pc.format) {
  case 0u: return f32_to_e4m3(b);
  case 1u: return f32_to_e5m2(b);
  case 2u: return f32_to_e2m1(b);
  case 3u: return f32_to_bf16(b);
  default: return f32_to_f16(b);
  }
}

void main() {
  bool halves = pc.format >= 3u;
  uint per_word = halves ? 2u : 4u;
  uint width = halves ? 16u : 8u;
  uint nwords = (pc.n + per_word - 1u) / per_word;
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint w = gl_GlobalInvocationID.x; w < nwords; w += stride) {
    uint word = 0u;
    for (uint j = 0u; j < per_word; ++j) {
      uint i = per_word * w + j;
      if (i < pc.n) word |= encode(x[i]) << (width * j);
    }
    y[w] = word;
  }
}
