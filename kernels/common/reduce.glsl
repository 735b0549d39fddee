// Workgroup reductions through shared memory: the largest amax bit pattern and the smallest
// non-finite index of the workgroup's invocations. Max and min of integers are exact and
// order-independent, so the result does not depend on the schedule or the subgroup size.
//
// The includer declares its workgroup size (`local_size_x_id = 0`) first; the tree needs a
// power-of-two workgroup size (the host only passes powers of two). Call from uniform control
// flow.
//
// Defines: none. Conformance: exact.
#ifndef TESSERA_REDUCE_GLSL
#define TESSERA_REDUCE_GLSL

shared uint red_max[gl_WorkGroupSize.x];
shared uint red_min[gl_WorkGroupSize.x];

// Leaves the workgroup's max of `m` and min of `bad` in red_max[0] and red_min[0], visible to
// every invocation on return.
void workgroup_max_min(uint m, uint bad) {
  uint l = gl_LocalInvocationID.x;
  red_max[l] = m;
  red_min[l] = bad;
  barrier();
  for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1u) {
    if (l < s) {
      red_max[l] = max(red_max[l], red_max[l + s]);
      red_min[l] = min(red_min[l], red_min[l + s]);
    }
    barrier();
  }
}

#endif
