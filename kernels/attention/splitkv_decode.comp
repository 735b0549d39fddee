#version 450
// attention, variant "splitkv_decode" (numerics.md section 6): the Vulkan twin of
// kernels/attention/splitkv_decode.cl, flash-decoding for 1 to 16 new queries against a long
// cache. Two shaders from this file:
//   (default)        partial: work unit = (sequence, KV head, row tile, split c); the keys
//                    [c * chunk, (c + 1) * chunk) staged tile by tile and shared by every row of
//                    the tile (all query heads of the GQA group, all new positions); writes the
//                    unnormalised accumulator and (m, l) of each row for that split.
//   SPLITKV_COMBINE  one invocation per output element: merges the n_split partials of its
//                    row in ascending c by log-sum-exp, gates, writes o and lse. Fixed order:
//                    deterministic whatever the scheduling.
// Many lanes per row (ATT_LPR 16) and few rows per workgroup fit the decode shape, where the
// bytes of K/V are the cost.
//
// Conformance: bounded by the attention error bound (docs/numerics.md). Measured: docs/perf.md "Attention on PoCL / lavapipe".
// Defines (defaults): WG 64, ATT_LPR 16, ATT_BC 16, ATT_DMAX 256 (attention/attn_tile.glsl);
// SPLITKV_COMBINE (undefined) selects the combine shader.
// Specialization constants: 0 = workgroup size (must equal WG).
#extension GL_GOOGLE_include_directive : require

#ifndef WG
#define WG 64
#endif
#ifndef ATT_LPR
#define ATT_LPR 16 // lanes per query row
#endif

#include "attention/attn_tile.glsl"

#ifdef SPLITKV_COMBINE
void main() {
  const uint D = uint(pc.D), n_split = uint(pc.n_split);
  const uint total = uint(pc.rows) * D;
  for (uint e = gl_GlobalInvocationID.x; e < total; e += gl_NumWorkGroups.x * uint(WG)) {
    const uint qrow = e / D, d = e - qrow * D;
    const uint ml = qrow * n_split * 2u;
    float M = ATT_NEG_INF;
    for (uint c = 0u; c < n_split; ++c) M = max(M, part_ml[ml + 2u * c]);
    float L = 0.0, a = 0.0;
    if (M != ATT_NEG_INF) {
      for (uint c = 0u; c < n_split; ++c) {
        float mc = part_ml[ml + 2u * c];
        if (mc == ATT_NEG_INF) continue; // a split that saw no key adds nothing
        float w = exp(mc - M);
        L = L + w * part_ml[ml + 2u * c + 1u];
        a = a + w * part_o[(qrow * n_split + c) * D + d];
      }
    }
    const bool seen = L > 0.0;
    float od = seen ? a / L : 0.0;
    if ((pc.flags & ATT_FLAG_GATE) != 0) od = od * att_sigmoid(gate_buf[e]);
    o_buf[e] = att_canonical(od);
    if ((pc.flags & ATT_FLAG_LSE) != 0 && d == 0u) lse_buf[qrow] = att_canonical(seen ? M + log(L) : ATT_NEG_INF);
  }
}
#else
void main() {
  const int lid = int(gl_LocalInvocationID.x);
  const int row = lid / ATT_LPR, lane = lid % ATT_LPR;
  const int G = pc.Hq / pc.Hkv, D = pc.D, n_split = pc.n_split;
  const int tiles = (pc.t_max * G + ATT_ROWS - 1) / ATT_ROWS;
  const int units = pc.n_seqs * pc.Hkv * tiles * n_split;
  for (int u = int(gl_WorkGroupID.x); u < units; u += int(gl_NumWorkGroups.x)) {
    // Splits fastest: neighbouring workgroups read neighbouring stretches of one head's cache.
    const int c = u % n_split, tile = (u / n_split) % tiles;
    const int hkv = (u / (n_split * tiles)) % pc.Hkv, n = u / (n_split * tiles * pc.Hkv);
    const int q0 = cu_buf[n], Tn = cu_buf[n + 1] - q0;
    const int k0 = cu_buf[pc.n_seqs + 1 + n], Sn = cu_buf[pc.n_seqs + 2 + n] - k0;
    const int r0 = tile * ATT_ROWS;
    if (r0 >= Tn * G) continue; // the whole group
    const int r = r0 + row;
    const bool live = r < Tn * G;
    const int t = r / G, hq = hkv * G + r % G;
    const int visible = att_visible(t, Tn, Sn);
    const int t_last = (min(r0 + ATT_ROWS, Tn * G) - 1) / G;
    const int k_lo = min(c * pc.chunk, Sn);
    const int k_hi = max(k_lo, min(k_lo + pc.chunk, att_visible(t_last, Tn, Sn)));
    const uint qrow = uint(q0 + t) * uint(pc.Hq) + uint(hq);
    float qv[ATT_DPL], acc[ATT_DPL];
    [[unroll]] for (int i = 0; i < ATT_DPL; ++i) {
      int d = lane + ATT_LPR * i;
      qv[i] = live && d < D ? q_buf[qrow * uint(D) + uint(d)] : 0.0;
      acc[i] = 0.0;
    }
    float m = ATT_NEG_INF, l = 0.0;
    att_rows_vs_keys((uint(k0) * uint(pc.Hkv) + uint(hkv)) * uint(D), uint(pc.Hkv * D), k_lo, k_hi,
                     live, visible, qv, acc, m, l);
    if (live) {
      const uint at = qrow * uint(n_split) + uint(c);
      [[unroll]] for (int i = 0; i < ATT_DPL; ++i) {
        int d = lane + ATT_LPR * i;
        if (d < D) part_o[at * uint(D) + uint(d)] = acc[i];
      }
      if (lane == 0) {
        part_ml[at * 2u] = m;
        part_ml[at * 2u + 1u] = l;
      }
    }
  }
}
#endif
