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
// Long key ranges: a partial dispatch sweeps only the window [k_first, k_first + k_count) of
// each split (kAttentionWindowKeys, host/src/vulkan/attention.cpp: llvmpipe ends every loop of
// an invocation, silently, after 65535 iterations in all; with 64 or more work units a split is
// the whole cache, and ~1.05M keys ran past that). A window after the first starts from the
// partial the one before left in part_o / part_ml (a split whose keys ended before the window
// is skipped), so the partials, and the result, are those of one sweep. A workgroup takes one
// work unit (partial) or WG elements (combine) a dispatch. Loop iterations one window costs an
// invocation, at most: partial: the key-tile loop k_count / ATT_BC + 1 (8193 at the default
// 131072 keys; a tile's loops are unrolled), the unit loop 2, the canary 3: ~8.2 K of the
// 65535, whatever D (<= 256); combine: 2 (n_split + 1) + 5 <= 135 (n_split <= 64). Each unit
// ends with the canary (att_canary), which reports a cut anyway.
//
// Conformance: bounded by the attention error bound (docs/numerics.md). Measured: docs/perf.md "Attention on PoCL / lavapipe".
// Defines (defaults): WG 64, ATT_LPR 16, ATT_BC 16; specialization constant ATT_DMAX, the
// record's max_d (attention/attn_tile.glsl);
// SPLITKV_COMBINE (undefined) selects the combine shader.
// Specialization constants: 0 = workgroup size (must equal WG).
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv: attention/splitkv_decode.partial
// spirv: attention/splitkv_decode.combine SPLITKV_COMBINE
#extension GL_GOOGLE_include_directive : require

#include "attention/geometry.h"
#ifndef WG
#define WG ATT_WG_VK
#endif
#ifndef ATT_LPR
#define ATT_LPR ATT_LANES_DECODE_VK // lanes per query row
#endif

#include "attention/attn_tile.glsl"

#ifdef SPLITKV_COMBINE
void main() {
  const uint D = uint(pc.D), n_split = uint(pc.n_split);
  const uint total = uint(pc.rows) * D;
  for (int u = pc.unit_base + int(gl_WorkGroupID.x); u < pc.unit_end; u += int(gl_NumWorkGroups.x)) {
    const uint e = uint(u) * uint(WG) + gl_LocalInvocationID.x;
    if (e >= total) continue; // past the last element: computes nothing
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
    att_canary();
  }
}
#else
void main() {
  const int lid = int(gl_LocalInvocationID.x);
  const int row = lid / ATT_LPR, lane = lid % ATT_LPR;
  const int G = pc.Hq / pc.Hkv, D = pc.D, n_split = pc.n_split;
  const int tiles = (pc.t_max * G + ATT_ROWS - 1) / ATT_ROWS;
  for (int u = pc.unit_base + int(gl_WorkGroupID.x); u < pc.unit_end; u += int(gl_NumWorkGroups.x)) {
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
    // This window's keys of the split, [kb, ke) (group-uniform).
    const int kb = k_lo + pc.k_first;
    if (pc.k_first > 0 && kb >= k_hi) continue; // finished in an earlier window
    const int ke = kb + min(k_hi - kb, pc.k_count);
    const uint qrow = uint(q0 + t) * uint(pc.Hq) + uint(hq);
    const uint slot = qrow * uint(n_split) + uint(c);
    float qv[ATT_DPL], acc[ATT_DPL];
    [[unroll]] for (int i = 0; i < ATT_DPL; ++i) {
      int d = lane + ATT_LPR * i;
      qv[i] = live && d < D ? q_buf[qrow * uint(D) + uint(d)] : 0.0;
      acc[i] = 0.0;
    }
    float m = ATT_NEG_INF, l = 0.0;
    if (pc.k_first > 0 && live) att_state_load(slot, lane, acc, m, l);
    att_rows_vs_keys((uint(k0) * uint(pc.Hkv) + uint(hkv)) * uint(D), uint(pc.Hkv * D), kb, ke,
                     live, visible, qv, acc, m, l);
    if (live) att_state_store(slot, lane, acc, m, l);
    att_canary();
  }
}
#endif
