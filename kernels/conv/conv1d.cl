// conv1d, variant "direct_silu" (numerics.md section 5): causal depthwise conv1d with the SiLU
// fused into the same pass. One work-item per output (b, t, c), grid-stride, reading its W taps
// straight from the input history ext = [state (W - 1 values, zeros when absent), x]: any W >= 1
// and any T (T < W - 1 included) take the same path, and neighbouring items read neighbouring
// channels (coalesced). The items past the B * T * C outputs write the new state, the last W - 1
// entries of ext, in the same launch.
// y_t[c] = silu(bias[c] + sum_j w[c][j] * ext[t + j]), the taps summed in j order from 0 as the
// reference does, silu(z) = z / (1 + exp(-z)).
//
// Conformance: bounded: the arithmetic is the reference's operation for operation, but exp() is
// the device's (OpenCL allows 3 ulp), so y may differ in its last bits; the state is copied
// exactly. Deterministic. Measured: docs/perf.md "DeltaNet recurrent and conv1d on PoCL /
// lavapipe".
//
// Defines:
//   WG_SIZE  work-items per group (from the host's build options)
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG_SIZE
#define WG_SIZE 256 // work-items per group (host launch size)
#endif

// Entry e of channel c's history in batch b: the old state for e < keep, else x at t = e - keep.
inline float cv_ext(__global const float* x, __global const float* state, int has_state, uint b,
                    uint c, uint e, uint T, uint C, uint keep) {
  if (e >= keep) return x[(b * T + (e - keep)) * C + c];
  return has_state ? state[(b * C + c) * keep + e] : 0.0f;
}

// x: [B, T, C]; w: [C, W]; bias: [C] when has_bias; state: [B, C, W - 1] when has_state.
// y: [B, T, C]; state_out: [B, C, W - 1].
__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
conv1d_direct_silu(__global const float* x, __global const float* w, __global const float* bias,
                   int has_bias, __global const float* state, int has_state, int B, int T, int C,
                   int W, __global float* y, __global float* state_out) {
  // 32-bit indices: the host refuses tensors past 2^31 - 1 elements, and 64-bit division per
  // output cost PoCL more than the taps themselves.
  const uint keep = (uint)W - 1u, uC = (uint)C, uT = (uint)T;
  const uint outputs = (uint)B * uT * uC;
  const uint total = outputs + (uint)B * uC * keep;
  for (uint idx = (uint)get_global_id(0); idx < total; idx += (uint)get_global_size(0)) {
    if (idx < outputs) {
      const uint c = idx % uC, bt = idx / uC;
      const uint t = bt % uT, b = bt / uT;
      float acc = 0.0f;
      for (uint j = 0; j < (uint)W; ++j)
        acc = acc + w[c * (uint)W + j] * cv_ext(x, state, has_state, b, c, t + j, uT, uC, keep);
      const float z = has_bias ? bias[c] + acc : acc;
      const float r = z / (1.0f + exp(-z));
      y[idx] = isnan(r) ? as_float(0x7FC00000u) : r;
    } else {
      const uint s = idx - outputs; // [B, C, keep] flat
      const uint i = s % keep, bc = s / keep;
      const uint c = bc % uC, b = bc / uC;
      const float e = cv_ext(x, state, has_state, b, c, uT + i, uT, uC, keep);
      state_out[s] = isnan(e) ? as_float(0x7FC00000u) : e;
    }
  }
}
