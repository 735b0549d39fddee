// The tensor-wide pass the quantizers share: max |x| over the tensor and the flat index of its
// first non-finite element (the quantizers refuse NaN and inf, naming that index), then the
// per-tensor scale derived from the max.
//
// Two kernels and no atomics, so the result is the same on every device and every run:
//   amax_partial:  each work-group folds a grid-stride share of x into one (max, first bad) pair;
//   amax_finalize: one work-group folds the pairs and writes scale = fixed, or 1.0 when the max
//                  is 0, or RN(max / divisor) (2688 nvfp4, 1536 nvfp4-4over6, 448 fp8-tensor).
// A max is exact and order-independent; |x| is compared as its fp32 bits, which order
// non-negative finite floats like the floats themselves and are immune to denormal flushing.
//
// Conformance: exact. Defines: WG_SIZE (below). Included by the quantizer sources.
#ifndef TESSERA_COMMON_AMAX_REDUCE_CL
#define TESSERA_COMMON_AMAX_REDUCE_CL

#pragma OPENCL FP_CONTRACT OFF

#ifndef WG_SIZE
#define WG_SIZE 256 // work-items per group; a power of two for the tree reductions
#endif
#if (WG_SIZE & (WG_SIZE - 1)) != 0
#error WG_SIZE must be a power of two
#endif

#define TSR_NO_INDEX ((ulong)0xFFFFFFFFFFFFFFFFUL) // "no non-finite element"

// Max of v over the work-group, returned to every work-item. `buf` holds WG_SIZE entries and may
// be reused as soon as this returns.
uint tsr_group_max_u32(uint v, __local uint* buf) {
  uint lid = (uint)get_local_id(0);
  buf[lid] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = WG_SIZE / 2; s > 0u; s >>= 1) {
    if (lid < s) buf[lid] = max(buf[lid], buf[lid + s]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  uint r = buf[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

ulong tsr_group_min_u64(ulong v, __local ulong* buf) {
  uint lid = (uint)get_local_id(0);
  buf[lid] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = WG_SIZE / 2; s > 0u; s >>= 1) {
    if (lid < s) buf[lid] = min(buf[lid], buf[lid + s]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  ulong r = buf[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
amax_partial(__global const float* x, ulong n, __global uint* part_max, __global ulong* part_bad) {
  __local uint lmax[WG_SIZE];
  __local ulong lbad[WG_SIZE];
  uint m = 0u;
  ulong bad = TSR_NO_INDEX;
  for (ulong i = get_global_id(0); i < n; i += get_global_size(0)) {
    uint a = as_uint(x[i]) & 0x7FFFFFFFu;
    if (a >= 0x7F800000u)
      bad = min(bad, i);
    else
      m = max(m, a);
  }
  m = tsr_group_max_u32(m, lmax);
  bad = tsr_group_min_u64(bad, lbad);
  if (get_local_id(0) == 0) {
    part_max[get_group_id(0)] = m;
    part_bad[get_group_id(0)] = bad;
  }
}

// Launched as exactly one work-group. use_fixed: the caller's scale (nvfp4's static scale_2)
// replaces the computed one.
__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
amax_finalize(__global const uint* part_max, __global const ulong* part_bad, uint nparts,
              float divisor, int use_fixed, float fixed, __global float* scale_out,
              __global ulong* bad_out) {
  __local uint lmax[WG_SIZE];
  __local ulong lbad[WG_SIZE];
  uint m = 0u;
  ulong bad = TSR_NO_INDEX;
  for (uint i = (uint)get_local_id(0); i < nparts; i += WG_SIZE) {
    m = max(m, part_max[i]);
    bad = min(bad, part_bad[i]);
  }
  m = tsr_group_max_u32(m, lmax);
  bad = tsr_group_min_u64(bad, lbad);
  if (get_local_id(0) == 0) {
    // The division must be IEEE's: the host builds with -cl-fp32-correctly-rounded-divide-sqrt.
    scale_out[0] = use_fixed ? fixed : (m == 0u ? 1.0f : as_float(m) / divisor);
    bad_out[0] = bad;
  }
}

#endif // TESSERA_COMMON_AMAX_REDUCE_CL
