// dequantize_fp8, variant "elementwise": y = RN(e4m3(q) * scale of its group) for the three FP8
// recipes of numerics.md section 3, one element per work-item in a grid-stride loop. The
// grouping is a kernel argument (0 tensor, 1 token128, 2 block128) so one program serves all.
// NaN results are written as the canonical NaN.
//
// Conformance: exact. Defines: WG_SIZE (below).
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG_SIZE
#define WG_SIZE 256 // work-items per group (the host launches with this local size)
#endif

#include "common/formats.cl"

#define TSR_FP8_TENSOR 0
#define TSR_FP8_TOKEN128 1
#define TSR_FP8_BLOCK128 2

__kernel void fp8_dequantize(__global const uchar* q, __global const float* scales, ulong rows,
                             ulong cols, int grouping, __global float* y) {
  ulong n = rows * cols;
  ulong col_groups = (cols + 127UL) / 128UL;
  for (ulong i = get_global_id(0); i < n; i += get_global_size(0)) {
    ulong r = i / cols, c = i % cols;
    ulong s = grouping == TSR_FP8_TENSOR     ? 0UL
              : grouping == TSR_FP8_TOKEN128 ? r * col_groups + c / 128UL
                                             : (r / 128UL) * col_groups + c / 128UL;
    y[i] = tsr_canonicalize_nan(tsr_e4m3_to_f32(q[i]) * scales[s]);
  }
}
