#version 450
// quantize_nvfp4, variant "block16": the block pass of numerics.md section 3 after absmax.comp
// has reduced the tensor. One invocation per block of 16 consecutive elements (cols % 16 == 0,
// so blocks never straddle rows and block b's scale is scale[b], its codes q bytes 8b..8b+7).
//   scale_2 = static, else RN(amax / 2688) (nvfp4) or RN(amax / 1536) (4over6), 1.0 if amax == 0;
//   per block: s = E4M3(clamp(RN(bamax / RN(k * scale_2)), 2^-9, 448)) (0x38 if that RN is 0),
//   d = RN(f32(s) * scale_2), q_i = E2M1(RN(x_i / d)), k = 6; for 4over6 also k = 4, keeping
//   that candidate when its index-order error sum of RN((x_i - deq_i)^2) is strictly smaller.
// Every fp32 operation goes through common/fp32_rn.glsl (correctly rounded division, no
// contraction, denormals handled on integers), so the result is the reference's bit for bit.
// Nothing runs when absmax.comp found a non-finite element: the host then reports it.
//
// Defines: FP32_RN_HW_RTE (default undefined), the ".rte" build for devices with
// shaderRoundingModeRTEFloat32: hardware add/multiply on the normal range (common/fp32_rn.glsl).
// Specialization constants: 0 = workgroup size (default 64).
// Push constants: nblocks; flags (bit 0: 4over6, bit 1: static scale_2); static scale_2 bits.
// Bindings: 0 x (fp32 as uint), 1 stats ([0] amax, [1] first non-finite index, [2] out:
// scale_2 used), 2 q (packed E2M1, two words a block), 3 scale (E4M3 bytes, zero-filled by the
// host, merged with atomicOr since four blocks share a word).
// Conformance: exact.
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv: quant/nvfp4_quantize
// spirv: quant/nvfp4_quantize.rte FP32_RN_HW_RTE
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x = 64, local_size_x_id = 0) in; // the host specializes the size

#include "common/formats.glsl"
#include "common/fp32_rn.glsl"

layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) buffer Stats { uint stats[]; };
layout(std430, binding = 2) writeonly buffer Q { uint q[]; };
layout(std430, binding = 3) buffer Scale { uint scale[]; };
layout(push_constant) uniform Push {
  uint nblocks;
  uint flags;
  uint static_scale_2;
} pc;

const uint E4M3_ONE = 0x38u;
const uint F32_2POW_M9 = 0x3B000000u; // 2^-9, the smallest E4M3 subnormal
const uint F32_448 = 0x43E00000u;

// One pass over a block for one candidate divisor k (bits of 6.0 or 4.0): the scale code, the
// 16 codes packed as q stores them, and, when `with_error`, the index-order error sum of
// RN((x_i - deq_i)^2), deq_i = RN(RN(e2m1 * s) * scale_2), accumulated with RN adds.
// Quantizing and measuring in the same loop, not unrolled, keeps one copy of each soft operation
// in the shader: drivers inline everything, and the first version (separate functions per
// candidate, unrolled loops) took lavapipe 15 s to compile; this one takes under 1 s and runs
// no slower there. A GPU variant may want the unrolled loop (xb[] in registers) back.
struct Candidate {
  uint s;
  uint lo, hi;
  uint err;
};

Candidate quantize_block(uint xb[16], uint scale_2, uint k, bool with_error) {
  uint bamax = 0u;
  for (int i = 0; i < 16; ++i) bamax = max(bamax, xb[i] & F32_ABS);
  Candidate c;
  // 1.0 when the fp32 quotient is exactly 0, as ModelOpt does: an all-zero block, or one whose
  // quotient underflows (reference/quantize.cpp).
  c.s = E4M3_ONE;
  if (bamax != 0u) {
    // v >= 0 and never NaN (bamax > 0 finite, the divisor >= 0), so compare and clamp on bit
    // patterns (+0 is 0u).
    uint v = div_rn(bamax, mul_rn(k, scale_2));
    if (v != 0u) c.s = f32_to_e4m3(clamp(v, F32_2POW_M9, F32_448));
  }
  uint sf = e4m3_to_f32(c.s);
  uint d = mul_rn(sf, scale_2);
  c.lo = 0u;
  c.hi = 0u;
  c.err = 0u;
  [[dont_unroll]] for (int i = 0; i < 16; ++i) {
    uint code = f32_to_e2m1(div_rn(xb[i], d));
    if (i < 8)
      c.lo |= code << (4 * i);
    else
      c.hi |= code << (4 * (i - 8));
    if (with_error) {
      uint diff = sub_rn(xb[i], mul_rn(mul_rn(e2m1_to_f32(code), sf), scale_2));
      c.err = add_rn(c.err, mul_rn(diff, diff));
    }
  }
  return c;
}

void main() {
  if (stats[1] != 0xFFFFFFFFu) return;
  bool four_over_six = (pc.flags & 1u) != 0u;
  uint scale_2;
  if ((pc.flags & 2u) != 0u)
    scale_2 = pc.static_scale_2;
  else if (stats[0] == 0u)
    scale_2 = F32_ONE;
  else
    scale_2 = div_rn(stats[0], four_over_six ? floatBitsToUint(1536.0) : floatBitsToUint(2688.0));
  if (gl_GlobalInvocationID.x == 0u) stats[2] = scale_2;

  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint b = gl_GlobalInvocationID.x; b < pc.nblocks; b += stride) {
    uint xb[16];
    for (uint i = 0u; i < 16u; ++i) xb[i] = x[16u * b + i];
    // Candidate A (k = 6), then for 4over6 candidate B (k = 4), kept only when its error is
    // strictly smaller. Errors are >= 0 or +inf, never NaN: their bit patterns order like values.
    Candidate best;
    for (uint cand = 0u; cand < (four_over_six ? 2u : 1u); ++cand) {
      uint k = cand == 0u ? floatBitsToUint(6.0) : floatBitsToUint(4.0);
      Candidate c = quantize_block(xb, scale_2, k, four_over_six);
      if (cand == 0u || c.err < best.err) best = c;
    }
    q[2u * b] = best.lo;
    q[2u * b + 1u] = best.hi;
    atomicOr(scale[b >> 2], best.s << (8u * (b & 3u)));
  }
}
