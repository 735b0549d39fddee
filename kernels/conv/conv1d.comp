#version 450
// conv1d, variant "direct_silu" (numerics.md section 5), the GLSL twin of conv1d.cl: causal
// depthwise conv1d with SiLU fused. One invocation per output (b, t, c), grid-stride, reading its
// W taps straight from the input history ext = [state (W - 1 values, zeros when absent), x], so
// any W >= 1 and any T take the same path; the invocations past the B * T * C outputs write the
// new state (the last W - 1 entries of ext) in the same dispatch.
// y_t[c] = silu(bias[c] + sum_j w[c][j] * ext[t + j]), taps summed in j order from 0 as the
// reference does, silu(z) = z / (1 + exp(-z)).
//
// Conformance: bounded: the reference's operations in its order; exp is exp_accurate (about 1
// ulp: Vulkan's exp() may be 3 + 2|x| ulp off, which put single SiLU-tail outputs past 1e-6 on
// lavapipe, randomized seed 17), division the device's (2.5 ulp); the state is copied exactly.
// Deterministic. Measured: docs/perf.md "DeltaNet recurrent and conv1d on PoCL / lavapipe".
//
// Defines: none. Specialization constants: 0 = workgroup size (default 256).
// Bindings: 0 x [B, T, C], 1 w [C, W], 2 bias [C] (placeholder without flag 1), 3 state
// [B, C, W - 1] (placeholder without flag 2), 4 y [B, T, C], 5 state_out [B, C, W - 1].
// Push constants: B, T, C, W, flags (bit 0 bias given, bit 1 state given).
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv: conv/conv1d
#extension GL_GOOGLE_include_directive : require

#include "common/exp_accurate.glsl"

layout(local_size_x = 256, local_size_x_id = 0) in; // the host specializes the size

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) readonly buffer State { float state[]; };
layout(std430, binding = 4) writeonly buffer Y { float y[]; };
layout(std430, binding = 5) writeonly buffer StateOut { float state_out[]; };
layout(push_constant) uniform Push {
  uint B, T, C, W, flags;
} pc;

// On the bits: a compiler may assume isnan() false under relaxed float rules.
float canonical(float v) {
  return (floatBitsToUint(v) & 0x7FFFFFFFu) > 0x7F800000u ? uintBitsToFloat(0x7FC00000u) : v;
}

// Entry e of channel c's history in batch b: the old state for e < keep, else x at t = e - keep.
float ext(uint b, uint c, uint e, uint keep) {
  if (e >= keep) return x[(b * pc.T + (e - keep)) * pc.C + c];
  return (pc.flags & 2u) != 0u ? state[(b * pc.C + c) * keep + e] : 0.0;
}

void main() {
  const uint keep = pc.W - 1u;
  const uint outputs = pc.B * pc.T * pc.C;
  const uint total = outputs + pc.B * pc.C * keep;
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint idx = gl_GlobalInvocationID.x; idx < total; idx += stride) {
    if (idx < outputs) {
      const uint c = idx % pc.C, bt = idx / pc.C;
      const uint t = bt % pc.T, b = bt / pc.T;
      float acc = 0.0;
      for (uint j = 0u; j < pc.W; ++j) acc = acc + w[c * pc.W + j] * ext(b, c, t + j, keep);
      const float z = (pc.flags & 1u) != 0u ? bias[c] + acc : acc;
      y[idx] = canonical(z / (1.0 + exp_accurate(-z)));
    } else {
      const uint s = idx - outputs; // [B, C, keep] flat
      const uint i = s % keep, bc = s / keep;
      const uint c = bc % pc.C, b = bc / pc.C;
      state_out[s] = canonical(ext(b, c, pc.T + i, keep));
    }
  }
}
