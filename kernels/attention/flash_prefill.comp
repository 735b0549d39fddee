#version 450
// attention, variant "flash_prefill" (numerics.md section 6): the Vulkan twin of
// kernels/attention/flash_prefill.cl. A workgroup owns one tile of ATT_ROWS query rows (query
// position x query head of one GQA group) of one sequence and KV head and sweeps the keys that
// tile can see, ATT_BC at a time, through shared memory with an fp32 online softmax
// (attention/attn_tile.glsl); causal rows see keys j <= t + (S_n - T_n); gate and normalisation
// in the epilogue. A workgroup takes one work unit (sequence, KV head, row tile) a dispatch.
//
// Long key ranges: a dispatch sweeps only the window [k_first, k_first + k_count) of the unit's
// keys (kAttentionWindowKeys, host/src/vulkan/attention.cpp: llvmpipe ends every loop of an
// invocation, silently, after 65535 iterations in all, and one sweep of ~1.05M keys ran past
// that). A window after the first starts from the state the one before left in part_o / part_ml
// (a unit whose keys ended before the window is skipped); the window that reaches the unit's
// last key writes o and lse, the others the state. Loop iterations one window costs an
// invocation, at most: the key-tile loop, k_count / ATT_BC + 1 (8193 at the default window of
// 131072 keys; everything inside a tile is unrolled), the unit loop 2, the canary 3: ~8.2 K of
// the 65535, whatever D (<= 256). The canary (att_canary) reports a cut anyway.
//
// Conformance: bounded by the attention error bound (docs/numerics.md; measured ~1e-7 relative L2
// on the fixed cases of tests/conformance/cases_attention.cpp).
// Measured on lavapipe (docs/perf.md "Attention on PoCL / lavapipe"): 0.04-0.06 GFLOP/s at
// Qwen3.6-27B heads. Inner loops are unrolled for llvmpipe's loop-iteration limit (attn_tile.glsl).
//
// Defines (defaults): WG 64, ATT_LPR 4, ATT_BC 16; specialization constant ATT_DMAX, the
// record's max_d (attention/attn_tile.glsl).
// Specialization constants: 0 = workgroup size (must equal WG).
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv: attention/flash_prefill
#extension GL_GOOGLE_include_directive : require

#include "attention/geometry.h"
#ifndef WG
#define WG ATT_WG_VK
#endif
#ifndef ATT_LPR
#define ATT_LPR ATT_LANES_PREFILL_VK // lanes per query row
#endif

#include "attention/attn_tile.glsl"

void main() {
  const int lid = int(gl_LocalInvocationID.x);
  const int row = lid / ATT_LPR, lane = lid % ATT_LPR;
  const int G = pc.Hq / pc.Hkv, D = pc.D;
  const int tiles = (pc.t_max * G + ATT_ROWS - 1) / ATT_ROWS;
  for (int u = pc.unit_base + int(gl_WorkGroupID.x); u < pc.unit_end; u += int(gl_NumWorkGroups.x)) {
    const int tile = u % tiles, hkv = (u / tiles) % pc.Hkv, n = u / (tiles * pc.Hkv);
    const int q0 = cu_buf[n], Tn = cu_buf[n + 1] - q0;
    const int k0 = cu_buf[pc.n_seqs + 1 + n], Sn = cu_buf[pc.n_seqs + 2 + n] - k0;
    const int r0 = tile * ATT_ROWS;
    if (r0 >= Tn * G) continue; // the whole group: this sequence has fewer rows
    const int r = r0 + row;
    const bool live = r < Tn * G;
    const int t = r / G, hq = hkv * G + r % G;
    const int visible = att_visible(t, Tn, Sn);
    const int t_last = (min(r0 + ATT_ROWS, Tn * G) - 1) / G; // rows are position-major
    const int k_hi = att_visible(t_last, Tn, Sn);
    // This window's keys [kb, ke) (group-uniform).
    const int kb = pc.k_first;
    if (kb > 0 && kb >= k_hi) continue; // finished in an earlier window
    const int ke = kb + min(k_hi - kb, pc.k_count);
    const uint qrow = uint(q0 + t) * uint(pc.Hq) + uint(hq);
    float qv[ATT_DPL], acc[ATT_DPL];
    [[unroll]] for (int i = 0; i < ATT_DPL; ++i) {
      int d = lane + ATT_LPR * i;
      qv[i] = live && d < D ? q_buf[qrow * uint(D) + uint(d)] : 0.0;
      acc[i] = 0.0;
    }
    float m = ATT_NEG_INF, l = 0.0;
    if (kb > 0 && live) att_state_load(qrow, lane, acc, m, l);
    att_rows_vs_keys((uint(k0) * uint(pc.Hkv) + uint(hkv)) * uint(D), uint(pc.Hkv * D), kb, ke,
                     live, visible, qv, acc, m, l);
    if (ke < k_hi) {
      if (live) att_state_store(qrow, lane, acc, m, l); // for the next window
    } else if (live) {
      const bool seen = l > 0.0;
      [[unroll]] for (int i = 0; i < ATT_DPL; ++i) {
        int d = lane + ATT_LPR * i;
        if (d < D) {
          uint at = qrow * uint(D) + uint(d);
          float od = seen ? acc[i] / l : 0.0;
          if ((pc.flags & ATT_FLAG_GATE) != 0) od = od * att_sigmoid(gate_buf[at]);
          o_buf[at] = att_canonical(od);
        }
      }
      if ((pc.flags & ATT_FLAG_LSE) != 0 && lane == 0)
        lse_buf[qrow] = att_canonical(seen ? m + log(l) : ATT_NEG_INF);
    }
    att_canary();
  }
}
