#version 450
// deltanet, variant "recurrent" (numerics.md section 5), the GLSL twin of recurrent.cl: decode
// and short prefill, one token at a time. A workgroup owns one task = (sequence n, value head hv,
// slice of COLS state columns), at most one a dispatch, so decode of one sequence still gives
// n_seqs * HV * ceil(Dv / COLS) workgroups. Invocation (s, c) of the WG = SPLIT x COLS owns column
// j = slice * COLS + c and the state rows i = s, s + SPLIT, ... of it, in registers (ROWS of them)
// for a window of tokens: the state is read once from h0 (or ht), written once to ht, coalesced.
// Per token (three barriers): k_t and q_t of key head hv / (HV / H) go to shared memory once per
// workgroup, with COLS strided partial sums of squares for the l2norm, which every invocation
// adds in order to normalise the ROWS entries of k and q its rows use, into registers; it scales
// its rows by exp(g) and forms its partial of k . h[:, j]; the SPLIT partials of a column are
// added in slice order (identically by every invocation of the column), u_j = beta (v_j - kh);
// the rows are updated and the output's partials q . h[:, j] reduced the same way.
//
// Long sequences: the host cuts the time loop into windows of at most t_count tokens a dispatch
// (kDeltaNetWindowTokens, host/src/vulkan/deltanet.h: llvmpipe ends every loop of an invocation,
// silently, once it has run 65535 loop iterations in all, and with the whole sequence in one
// dispatch the tokens from 21845 on were lost). The first window reads the state from h0, later
// ones from ht, where the previous dispatch left it; a sequence that ended before this window's
// start is skipped. A workgroup takes at most one task a dispatch (tasks from task_base). The
// loops of constant trip count are unrolled ([[unroll]]); a window counts the token loop and the
// k/q staging loop, at most Dk / COLS + 2 = 6 iterations a token. (Unrolling the staging loop
// too, 4 guarded steps, made every invocation that skips it run them masked: no faster.) Each
// task ends with a canary loop of pc.two (= 2) iterations: an invocation whose loops a driver
// cut short runs it once and sets the status word, which the host turns into an error instead
// of returning what was computed.
//
// Conformance: bounded: strided partial sums instead of the reference's one sequential sum, and
// the decay's exp computed here to about 1 ulp (exp_accurate); deterministic (fixed orders, no
// atomics but the canary's). Design choices measured: see recurrent.cl.
// Measured: docs/perf.md "DeltaNet recurrent and conv1d on PoCL / lavapipe".
//
// Defines (defaults): WG 256 (invocations; the host specializes exactly this size), COLS 32
// (state columns a workgroup owns; the host's task count assumes it).
// Specialization constants: 0 = workgroup size, 1 = DK_MAX (largest Dk the register arrays and
// the k / q staging hold), the record's manifest max_dk, which the registry checks Dk against:
// the host sets it at pipeline creation, so the number is written once.
// Bindings: 0 qk (q [tokens, H, Dk], then k at k_off), 1 v [tokens, HV, Dv], 2 gates (g
// [tokens, HV], beta at beta_off, the n_seqs + 1 token offsets as uint at cu_off), 3 h0
// [n_seqs, HV, Dk, Dv] (a placeholder without flag 1), 4 out (o [tokens, HV, Dv], ht at ht_off,
// the status word at status_off, also seen as uint).
// Push constants: below; flags bit 0 = h0 given, bit 1 = use_qk_l2norm, bit 2 = the state is in
// ht (a window after the first).
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv: deltanet/recurrent
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

#include "deltanet/geometry.h"
#define WG DN_WG_VK // the layout is written for it; its record reads the same number
#ifndef COLS
#define COLS DN_STATE_COLS
#endif
// The default only lets the shader compile; every pipeline gets the manifest's max_dk.
layout(constant_id = 1) const int DK_MAX = 1;
#define SPLIT (WG / COLS)                      // row slices of a column
#define ROWS ((DK_MAX + SPLIT - 1) / SPLIT)    // state rows per invocation

layout(local_size_x = WG, local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer QK { float qk[]; };
layout(std430, binding = 1) readonly buffer V { float v[]; };
layout(std430, binding = 2) readonly buffer Gates { float gates[]; };
layout(std430, binding = 3) readonly buffer H0 { float h0[]; };
layout(std430, binding = 4) buffer Out { float outb[]; };
layout(std430, binding = 4) buffer OutStatus { uint out_words[]; }; // the same buffer
layout(push_constant) uniform Push {
  uint n_seqs, H, HV, Dk, Dv;
  float scale;
  uint flags;
  uint k_off, beta_off, cu_off, ht_off;
  uint t_first, t_count;     // this window: tokens [t_first, t_first + t_count) of each sequence
  uint task_base, task_end;  // this dispatch's tasks
  uint status_off, two;      // the status word; the canary's trip count (2)
} pc;

shared float kl[DK_MAX];
shared float ql[DK_MAX];
shared float red_k[COLS];
shared float red_q[COLS];
shared float part_u[WG];
shared float part_o[WG];

// On the bits: a compiler may assume isnan() false under relaxed float rules.
float canonical(float x) {
  return (floatBitsToUint(x) & 0x7FFFFFFFu) > 0x7F800000u ? uintBitsToFloat(0x7FC00000u) : x;
}

#include "common/exp_accurate.glsl"

void main() {
  const uint lid = gl_LocalInvocationID.x;
  const uint c = lid % COLS, s = lid / COLS;
  const uint slices = (pc.Dv + COLS - 1u) / COLS;
  const uint group = pc.HV / pc.H;
  const bool l2norm = (pc.flags & 2u) != 0u;
  const bool carried = (pc.flags & 4u) != 0u;

  for (uint task = pc.task_base + gl_WorkGroupID.x; task < pc.task_end;
       task += gl_NumWorkGroups.x) {
    const uint slice = task % slices;
    const uint hv = (task / slices) % pc.HV;
    const uint n = task / (slices * pc.HV);
    const uint hk = hv / group;
    const uint j = slice * COLS + c;
    const bool col = j < pc.Dv;
    const uint state_base = (n * pc.HV + hv) * pc.Dk * pc.Dv;

    // This window's tokens of sequence n (offsets below 2^31, so no sum wraps).
    const uint seq_end = floatBitsToUint(gates[pc.cu_off + n + 1u]);
    const uint begin = floatBitsToUint(gates[pc.cu_off + n]) + pc.t_first;
    if (carried && begin >= seq_end) continue; // done in an earlier window (uniform: one task)
    const uint end = min(seq_end, begin + pc.t_count);

    float h[ROWS];
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
      const uint i = s + r * SPLIT;
      const uint at = state_base + i * pc.Dv + j;
      h[r] = !(col && i < pc.Dk) ? 0.0
             : carried            ? outb[pc.ht_off + at]
             : (pc.flags & 1u) != 0u ? h0[at] : 0.0;
    }

    for (uint tok = begin; tok < end; ++tok) {
      // k_t and q_t to shared memory; the first COLS invocations also form strided partial sums
      // of squares for the l2norm (every invocation adds the COLS partials in the same order).
      const uint qk_base = (tok * pc.H + hk) * pc.Dk;
      if (lid < COLS) {
        float sk = 0.0, sq = 0.0;
        for (uint i = lid; i < pc.Dk; i += COLS) {
          const float kv = qk[pc.k_off + qk_base + i], qv = qk[qk_base + i];
          kl[i] = kv;
          ql[i] = qv;
          sk = sk + kv * kv;
          sq = sq + qv * qv;
        }
        red_k[lid] = sk;
        red_q[lid] = sq;
      }
      barrier();
      // Each invocation normalises just the ROWS entries of k and q its rows use, into registers:
      // normalise first, then scale (the spec's order), a division per element as the reference.
      float kr[ROWS], qr[ROWS];
      float nk = 1.0, nq = 1.0;
      if (l2norm) {
        float sum_k = 0.0, sum_q = 0.0;
        [[unroll]] for (uint p = 0u; p < COLS; ++p) {
          sum_k = sum_k + red_k[p];
          sum_q = sum_q + red_q[p];
        }
        nk = sqrt(sum_k + 1e-6);
        nq = sqrt(sum_q + 1e-6);
      }
      [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
        const uint i = min(s + r * SPLIT, pc.Dk - 1u); // rows past Dk are never used
        kr[r] = l2norm ? kl[i] / nk : kl[i];
        qr[r] = pc.scale * (l2norm ? ql[i] / nq : ql[i]);
      }

      const uint gi = tok * pc.HV + hv;
      const float decay = exp_accurate(gates[gi]);
      float kh = 0.0;
      [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
        if (s + r * SPLIT < pc.Dk) {
          h[r] = h[r] * decay;
          kh = kh + h[r] * kr[r];
        }
      }
      part_u[lid] = kh;
      barrier();
      kh = 0.0;
      [[unroll]] for (uint p = 0u; p < SPLIT; ++p) kh = kh + part_u[p * COLS + c];
      const float u = col ? gates[pc.beta_off + gi] * (v[gi * pc.Dv + j] - kh) : 0.0;
      float acc = 0.0;
      [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
        if (s + r * SPLIT < pc.Dk) {
          h[r] = h[r] + kr[r] * u;
          acc = acc + h[r] * qr[r];
        }
      }
      part_o[lid] = acc;
      barrier();
      if (s == 0u && col) {
        acc = 0.0;
        [[unroll]] for (uint p = 0u; p < SPLIT; ++p) acc = acc + part_o[p * COLS + c];
        outb[gi * pc.Dv + j] = canonical(acc);
      }
      // kl, ql and red_* are last read before the part_u barrier and part_u before the part_o
      // one, so the next token may rewrite them before its first barrier; part_o is rewritten
      // only after the next token's second.
    }

    [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
      const uint i = s + r * SPLIT;
      if (col && i < pc.Dk) outb[pc.ht_off + state_base + i * pc.Dv + j] = canonical(h[r]);
    }
    // The canary (see the header): pc.two iterations unless this invocation's loops were cut.
    uint runs = 0u;
    for (uint x = 0u; x < pc.two; ++x) ++runs;
    if (runs != pc.two) atomicOr(out_words[pc.status_off], 1u);
    barrier(); // the next task's first token overwrites kl / ql
  }
}
