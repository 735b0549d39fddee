// quantize_fp8, variant "group_amax": the fp8-tensor, fp8-token128 and fp8-block128 recipes of
// numerics.md section 3, q = E4M3(RN(x / s)).
//   amax_partial + amax_finalize (common/amax_reduce.cl) run for every recipe: they find the
//   first non-finite index, and for fp8-tensor they also write s = RN(amax / 448) (1.0 when
//   amax == 0) straight into scales[0]; fp8_quantize_tensor then quantizes elementwise.
//   fp8_quantize_groups: one work-group per group of group_rows x 128 (group_rows 1 for token128,
//   128 for block128; the last row and column groups may be narrower), grid-stride over groups.
//   The group max is a tree reduction on the fp32 bits of |x| (exact, order-independent), then
//   s = RN(max(gamax, 1e-4) / 448), written once, and the group is quantized by the same
//   work-group.
// The tensor pass is an extra read of x for the token and block recipes, which only need it for
// the non-finite check; folding that check into the group kernel (per-group first index, then a
// min over groups) would save it.
//
// Conformance: exact. Defines: WG_SIZE (common/amax_reduce.cl).
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG_SIZE
#define WG_SIZE 256 // work-items per group; a power of two for the tree reductions
#endif

#include "common/amax_reduce.cl"
#include "common/formats.cl"

#define TSR_FP8_GROUP 128

__kernel void fp8_quantize_tensor(__global const float* x, ulong n, __global const float* scales,
                                  __global uchar* q) {
  float s = scales[0];
  for (ulong i = get_global_id(0); i < n; i += get_global_size(0))
    q[i] = tsr_f32_to_e4m3(tsr_canonical_nan(x[i] / s));
}

__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
fp8_quantize_groups(__global const float* x, ulong rows, ulong cols, ulong group_rows,
                    __global float* scales, __global uchar* q) {
  __local uint lmax[WG_SIZE];
  ulong col_groups = (cols + TSR_FP8_GROUP - 1) / TSR_FP8_GROUP;
  ulong ngroups = ((rows + group_rows - 1) / group_rows) * col_groups;
  uint lid = (uint)get_local_id(0);
  // The loop bound is the same for every work-item of a group, so the barriers inside are
  // reached uniformly.
  for (ulong g = get_group_id(0); g < ngroups; g += get_num_groups(0)) {
    ulong r0 = (g / col_groups) * group_rows, c0 = (g % col_groups) * TSR_FP8_GROUP;
    uint h = (uint)(min(r0 + group_rows, rows) - r0);
    uint w = (uint)(min(c0 + (ulong)TSR_FP8_GROUP, cols) - c0);
    uint m = 0u;
    for (uint k = lid; k < h * w; k += WG_SIZE)
      m = max(m, as_uint(x[(r0 + k / w) * cols + c0 + k % w]) & 0x7FFFFFFFu);
    m = tsr_group_max_u32(m, lmax);
    float gamax = as_float(m);
    // DeepSeek-V3 floors the group max so an all-zero group still has a usable scale.
    float s = (gamax < 1e-4f ? 1e-4f : gamax) / 448.0f;
    if (lid == 0u) scales[g] = s;
    for (uint k = lid; k < h * w; k += WG_SIZE) {
      ulong i = (r0 + k / w) * cols + c0 + k % w;
      q[i] = tsr_f32_to_e4m3(tsr_canonical_nan(x[i] / s));
    }
  }
}
