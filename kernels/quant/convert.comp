#version 450
// convert, variant "elementwise": fp32 -> E4M3, E5M2, E2M1 (one code a byte), bf16 or fp16
// (numerics.md section 1). One invocation per output word: 4 byte codes or 2 halves, the last
// word guarded. The input is read as bits and encoded with integer operations only
// (common/formats.glsl), so denormals, signed zeros, infinities and NaN payloads give the
// reference's codes on any device.
//
// Specialization constants: 0 = workgroup size (default 256).
// Push constants: n (elements), format (0 E4M3, 1 E5M2, 2 E2M1, 3 bf16, 4 fp16; 5 and 6: the
// inverse, bf16 or fp16 codes -> fp32, exact).
// Bindings: 0 x (fp32 as uint; for 5 and 6, codes packed two a word), 1 y (codes packed
// little-endian into uint; for 5 and 6, fp32 as uint).
// Formats 5 and 6 are not a variant of an operation: the launchers of fp32 operations widen
// resident bf16/fp16 inputs with them on the device (host/src/vulkan/cast.cpp).
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

void widen() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) {
    uint code = (x[i / 2u] >> (16u * (i % 2u))) & 0xFFFFu;
    y[i] = pc.format == 5u ? bf16_to_f32(code) : f16_to_f32(code);
  }
}

void main() {
  if (pc.format >= 5u) {
    widen();
    return;
  }
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
