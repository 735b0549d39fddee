#version 450
// Tensor-wide pass shared by quantize_nvfp4 (block16) and quantize_fp8 (group_amax, fp8-tensor):
// amax = max |x| over the tensor and the flat index of its first non-finite element.
// x is read as bits: |x| of a finite fp32 orders like its bit pattern with the sign cleared, so
// the max is taken on integers (exact, order-independent, untouched by denormal flushing) and
// merged across workgroups with atomicMax; the first NaN/inf with atomicMin on the index.
// stats[0] (amax bits) must start at 0 and stats[1] (index) at 0xFFFFFFFF; the host fills them.
//
// Specialization constants: 0 = workgroup size (default 256, a power of two).
// Push constants: n, the element count (< 2^31). Bindings: 0 x (fp32 as uint), 1 stats.
// Conformance: exact.
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv: quant/absmax
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 256, local_size_x_id = 0) in; // the host specializes the size

#include "common/formats.glsl"
#include "common/reduce.glsl"

layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) buffer Stats { uint stats[]; };
layout(push_constant) uniform Push { uint n; } pc;

void main() {
  uint m = 0u, bad = 0xFFFFFFFFu;
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) {
    uint b = x[i];
    if (f32_is_finite(b))
      m = max(m, b & F32_ABS);
    else
      bad = min(bad, i);
  }
  workgroup_max_min(m, bad);
  if (gl_LocalInvocationID.x == 0u) {
    if (red_max[0] != 0u) atomicMax(stats[0], red_max[0]);
    if (red_min[0] != 0xFFFFFFFFu) atomicMin(stats[1], red_min[0]);
  }
}
