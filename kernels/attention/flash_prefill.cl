// attention, variant "flash_prefill" (numerics.md section 6): FlashAttention-style prefill.
// A work-group owns one tile of ATT_ROWS query rows of one sequence and one KV head (a row is a
// (query position, query head of the group) pair, rows ordered position-major, so the heads of a
// GQA group share every K/V tile) and sweeps the keys that tile can see in tiles of ATT_BC
// (kernels/attention/attn_tile.cl): online softmax in fp32, the T x S scores never leave the
// work-group. Causal rows see keys j <= t + (S_n - T_n); the sweep stops at the last row's limit
// and masks the rest per row. The gate and the normalisation are fused into the epilogue.
// Sequences come as cu_q / cu_k (int32 [n_seqs + 1]; the host builds them for fixed lengths).
// Work units (sequence, KV head, row tile) are taken grid-stride; units past a shorter
// sequence's rows are skipped by the whole group.
//
// Conformance: bounded by the attention error bound (docs/numerics.md "Attention error bound":
// fp32 online softmax and a lane-split dot product instead of the reference's two passes; on
// well-conditioned inputs 2e-7 to 6e-7 relative L2 from a double-precision model).
// Measured (PoCL 3.1, 2 shared cores, docs/perf.md "Attention on PoCL / lavapipe"): Qwen3.6-27B
// heads (24/4, D 256), T = S = 512 in 3.3 s, about 1 GFLOP/s. A first version where every lane
// of a row summed all partials and took every exp itself lost 4x at 32 lanes per row.
//
// Defines (defaults): WG_SIZE 256 (host build option), ATT_LPR 8 lanes per row, ATT_BC 16 keys
// per tile; ATT_DMAX from the host (attn_tile.cl). Local memory: ATT_BC * ATT_DMAX + WG_SIZE *
// ATT_BC floats (32 KiB at ATT_DMAX 256).
#ifndef WG_SIZE
#define WG_SIZE 256 // work-items per group (host launch size)
#endif
#include "attention/geometry.h"
#ifndef ATT_LPR
#define ATT_LPR ATT_LANES_PREFILL_CL // lanes per query row (the host refuses smaller work-groups)
#endif

#include "attention/attn_tile.cl"

__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
attention_flash_prefill(__global const float* q, __global const uchar* k, __global const uchar* v,
                        __global const float* gate, __global const int* cu_q,
                        __global const int* cu_k, __global float* o, __global float* lse,
                        int n_seqs, int Hq, int Hkv, int D, int t_max, int flags, int k_dtype,
                        int v_dtype, float k_scale, float v_scale, float scale) {
  __local float kv[ATT_BC * ATT_DMAX];
  __local float part[WG_SIZE * ATT_BC];
  __local float sc[ATT_ROWS * ATT_BC], pp[ATT_ROWS * ATT_BC];
  const int lid = (int)get_local_id(0);
  const int row = lid / ATT_LPR, lane = lid % ATT_LPR;
  const int G = Hq / Hkv;
  const int tiles = (t_max * G + ATT_ROWS - 1) / ATT_ROWS;
  const int units = n_seqs * Hkv * tiles;
  const int causal = flags & ATT_FLAG_CAUSAL;
  for (int u = (int)get_group_id(0); u < units; u += (int)get_num_groups(0)) {
    const int tile = u % tiles, hkv = (u / tiles) % Hkv, n = u / (tiles * Hkv);
    const int q0 = cu_q[n], Tn = cu_q[n + 1] - q0;
    const int k0 = cu_k[n], Sn = cu_k[n + 1] - k0;
    const int r0 = tile * ATT_ROWS;
    if (r0 >= Tn * G) continue; // the whole group: this sequence has fewer rows
    const int r = r0 + row, live = r < Tn * G;
    const int t = r / G, hq = hkv * G + r % G;
    const int visible = att_visible(t, Tn, Sn, causal);
    // Rows are position-major, so the tile's last live row sees the most keys.
    const int t_last = (min(r0 + ATT_ROWS, Tn * G) - 1) / G;
    const int k_hi = att_visible(t_last, Tn, Sn, causal);
    const uint row_off = ((uint)(q0 + t) * (uint)Hq + (uint)hq) * (uint)D;
    float qv[ATT_DPL], acc[ATT_DPL];
    for (int i = 0; i < ATT_DPL; ++i) {
      int d = lane + ATT_LPR * i;
      qv[i] = live && d < D ? q[row_off + (uint)d] : 0.0f;
      acc[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    att_rows_vs_keys(kv, part, sc, pp, k, v, k_dtype, v_dtype, k_scale, v_scale,
                     ((uint)k0 * (uint)Hkv + (uint)hkv) * (uint)D, (uint)(Hkv * D), D, scale, 0,
                     k_hi, live, visible, qv, acc, &m, &l);
    if (live)
      att_store_row(o, lse, gate, row_off, (uint)(q0 + t) * (uint)Hq + (uint)hq, D, flags, acc, m, l);
  }
}
