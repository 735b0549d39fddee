// attention, variant "splitkv_decode" (numerics.md section 6): flash-decoding for 1 to 16 new
// queries against a long cache. Two kernels, one program:
//   attention_splitkv_partial  work unit = (sequence, KV head, row tile, split c): the keys
//       [c * chunk, (c + 1) * chunk) of the sequence, staged tile by tile (attn_tile.cl) and
//       shared by all rows of the tile (every query head of the GQA group, every new position),
//       so the cache is read once per row tile; writes the unnormalised accumulator, the running
//       max m and sum l of each row for that split (m = -inf, l = 0 when it saw no key).
//   attention_splitkv_combine  one work-item per output element: merges the n_split partials
//       of its row in ascending c with their log-sum-exp (M = max m_c, w_c = exp(m_c - M),
//       o = sum w_c acc_c / sum w_c l_c), gates, writes o and lse. The order is fixed, so the
//       result does not depend on which work-group finished first: deterministic.
// Many lanes per row (ATT_LPR 32) and few rows per group suit the decode shape: T * G rows are
// few, the bytes of K/V are the cost, and each staged tile is a contiguous run of the cache.
//
// Conformance: bounded by the attention error bound (docs/numerics.md; the split adds one
// rescaling and one exp per split, which the bound counts).
// Measured (docs/perf.md "Attention on PoCL / lavapipe"): Qwen3.6-27B heads, T = 1, S = 16384
// bf16 cache in 687 ms: 0.1 GB/s, instruction-bound on PoCL (far from memory bandwidth).
// ATT_LPR 8 (as flash_prefill) was within the noise of 32 on PoCL (T = 1 and 4, S = 4096); 32 is
// kept for GPUs, where a decode tile's few rows then fill the work-group's lanes.
//
// Defines (defaults): WG_SIZE 256 (host build option), ATT_LPR 32 lanes per row (at most
// WG_SIZE), ATT_BC 16 keys per tile; ATT_DMAX from the host (attn_tile.cl).
#ifndef WG_SIZE
#define WG_SIZE 256 // work-items per group (host launch size)
#endif
#include "attention/geometry.h"
#ifndef ATT_LPR
#define ATT_LPR ATT_LANES_DECODE_CL // lanes per query row (the host refuses smaller work-groups)
#endif

#include "attention/attn_tile.cl"

// Partials: part_o [rows_total, n_split, D], part_ml [rows_total, n_split, 2] (m, l), where a
// row is (query index, head): (q0 + t) * Hq + hq.
__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
attention_splitkv_partial(__global const float* q, __global const uchar* k,
                          __global const uchar* v, __global const int* cu_q,
                          __global const int* cu_k, __global float* part_o,
                          __global float* part_ml, int n_seqs, int Hq, int Hkv, int D, int t_max,
                          int flags, int k_dtype, int v_dtype, float k_scale, float v_scale,
                          float scale, int n_split, int chunk) {
  __local float kv[ATT_BC * ATT_DMAX];
  __local float part[WG_SIZE * ATT_BC];
  __local float sc[ATT_ROWS * ATT_BC], pp[ATT_ROWS * ATT_BC];
  const int lid = (int)get_local_id(0);
  const int row = lid / ATT_LPR, lane = lid % ATT_LPR;
  const int G = Hq / Hkv;
  const int tiles = (t_max * G + ATT_ROWS - 1) / ATT_ROWS;
  const int units = n_seqs * Hkv * tiles * n_split;
  const int causal = flags & ATT_FLAG_CAUSAL;
  for (int u = (int)get_group_id(0); u < units; u += (int)get_num_groups(0)) {
    // Splits fastest: neighbouring groups read neighbouring stretches of one head's cache.
    const int c = u % n_split;
    const int tile = (u / n_split) % tiles;
    const int hkv = (u / (n_split * tiles)) % Hkv;
    const int n = u / (n_split * tiles * Hkv);
    const int q0 = cu_q[n], Tn = cu_q[n + 1] - q0;
    const int k0 = cu_k[n], Sn = cu_k[n + 1] - k0;
    const int r0 = tile * ATT_ROWS;
    if (r0 >= Tn * G) continue; // the whole group
    const int r = r0 + row, live = r < Tn * G;
    const int t = r / G, hq = hkv * G + r % G;
    const int visible = att_visible(t, Tn, Sn, causal);
    const int t_last = (min(r0 + ATT_ROWS, Tn * G) - 1) / G;
    const int k_lo = min(c * chunk, Sn);
    const int k_hi = max(k_lo, min(k_lo + chunk, att_visible(t_last, Tn, Sn, causal)));
    const uint qrow = (uint)(q0 + t) * (uint)Hq + (uint)hq;
    float qv[ATT_DPL], acc[ATT_DPL];
    for (int i = 0; i < ATT_DPL; ++i) {
      int d = lane + ATT_LPR * i;
      qv[i] = live && d < D ? q[qrow * (uint)D + (uint)d] : 0.0f;
      acc[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    att_rows_vs_keys(kv, part, sc, pp, k, v, k_dtype, v_dtype, k_scale, v_scale,
                     ((uint)k0 * (uint)Hkv + (uint)hkv) * (uint)D, (uint)(Hkv * D), D, scale,
                     k_lo, k_hi, live, visible, qv, acc, &m, &l);
    if (live) {
      const uint at = qrow * (uint)n_split + (uint)c;
      for (int i = 0; i < ATT_DPL; ++i) {
        int d = lane + ATT_LPR * i;
        if (d >= D) break;
        part_o[at * (uint)D + (uint)d] = acc[i];
      }
      if (lane == 0) {
        part_ml[at * 2u] = m;
        part_ml[at * 2u + 1u] = l;
      }
    }
  }
}

// rows = total query rows (cu_q[n_seqs] * Hq); grid-stride over rows * D elements.
__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
attention_splitkv_combine(__global const float* part_o, __global const float* part_ml,
                          __global const float* gate, __global float* o, __global float* lse,
                          int rows, int D, int flags, int n_split) {
  const uint total = (uint)rows * (uint)D;
  for (uint e = (uint)get_global_id(0); e < total; e += (uint)get_global_size(0)) {
    const uint qrow = e / (uint)D, d = e - qrow * (uint)D;
    __global const float* ml = part_ml + qrow * (uint)n_split * 2u;
    float M = -INFINITY;
    for (int c = 0; c < n_split; ++c) M = fmax(M, ml[2 * c]);
    float L = 0.0f, a = 0.0f;
    if (M != -INFINITY) {
      for (int c = 0; c < n_split; ++c) {
        if (ml[2 * c] == -INFINITY) continue; // a split that saw no key adds nothing
        float w = exp(ml[2 * c] - M);
        L = L + w * ml[2 * c + 1];
        a = a + w * part_o[(qrow * (uint)n_split + (uint)c) * (uint)D + d];
      }
    }
    const int seen = L > 0.0f;
    float od = seen ? a / L : 0.0f;
    if (flags & ATT_FLAG_GATE) od = od * (1.0f / (1.0f + exp(-gate[e])));
    o[e] = tsr_canonicalize_nan(od);
    if ((flags & ATT_FLAG_LSE) && d == 0u) lse[qrow] = tsr_canonicalize_nan(seen ? M + log(L) : -INFINITY);
  }
}
