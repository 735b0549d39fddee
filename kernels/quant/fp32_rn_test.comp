#version 450
// Test kernel, not an operation: applies one of the correctly rounded fp32 operations of
// common/fp32_rn.glsl to pairs, so tests/test_vulkan_runtime.cpp can compare them with the
// host's IEEE arithmetic on millions of operands (denormal, huge and special ones included)
// independently of the quantizers that use them. Ops 4-6 are the device's own OpFDiv, OpFMul and
// OpFAdd, so the tests can check what fp32_rn.glsl assumes of the hardware (RN on the normal range
// in the .rte build, the division estimate's error) and report denormal flushing
// without depending on it. Reached only through vulkan::run_fp32_rn_test.
//
// Defines (see common/fp32_rn.glsl): FP32_RN_HW_RTE (default undefined), built a second time
// with it to test both paths; FP32_RN_DIV_ESTIMATE_ERROR (default 0), built a third time with 12
// ulps for the inexact-division check.
// Specialization constants: 0 = workgroup size (default 256).
// Push constants: n (pairs), op (0 div, 1 mul, 2 add, 3 sub; 4, 5, 6: hardware div, mul, add).
// Bindings: 0 a, 1 b, 2 result (fp32 as uint).
// Conformance: exact.
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv if testing: quant/fp32_rn_test
// spirv if testing: quant/fp32_rn_test.rte FP32_RN_HW_RTE
// spirv if testing: quant/fp32_rn_test.inexact_div FP32_RN_DIV_ESTIMATE_ERROR=12
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 256, local_size_x_id = 0) in; // the host specializes the size

#include "common/fp32_rn.glsl"

layout(std430, binding = 0) readonly buffer A { uint a[]; };
layout(std430, binding = 1) readonly buffer B { uint b[]; };
layout(std430, binding = 2) writeonly buffer R { uint r[]; };
layout(push_constant) uniform Push {
  uint n;
  uint op;
} pc;

void main() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) {
    uint x = a[i], y = b[i];
    switch (pc.op) {
    case 0u: r[i] = div_rn(x, y); break;
    case 1u: r[i] = mul_rn(x, y); break;
    case 2u: r[i] = add_rn(x, y); break;
    case 3u: r[i] = sub_rn(x, y); break;
    case 4u: {
      precise float q = uintBitsToFloat(x) / uintBitsToFloat(y);
      r[i] = floatBitsToUint(q);
      break;
    }
    case 5u: {
      precise float p = uintBitsToFloat(x) * uintBitsToFloat(y);
      r[i] = floatBitsToUint(p);
      break;
    }
    default: {
      precise float s = uintBitsToFloat(x) + uintBitsToFloat(y);
      r[i] = floatBitsToUint(s);
      break;
    }
    }
  }
}
