// deltanet, variant "recurrent" (numerics.md section 5): decode and short prefill, one token at a
// time. A work-group owns one task = (sequence n, value head hv, slice of DN_COLS state columns)
// (grid-stride over tasks), so decode of one sequence still gives n_seqs * HV * ceil(Dv / 32)
// groups. Its WG_SIZE work-items are DN_SPLIT row slices x DN_COLS columns: item (s, c) owns
// column j = slice * DN_COLS + c and the state rows i = s, s + DN_SPLIT, ... of it, kept in
// private registers (DN_ROWS of them) for the whole sequence: the state is read once from h0 and
// written once to ht, coalesced (neighbouring items, neighbouring j).
// Per token (three barriers): k_t and q_t of key head hv / (HV / H) go to local memory once per
// group, with DN_COLS strided partial sums of squares for the l2norm, which every item adds in
// order to normalise the DN_ROWS entries of k and q its rows use, into registers; it scales its
// rows by exp(g) and forms its partial of k . h[:, j]; the DN_SPLIT partials of a column are
// added in slice order (by every item of the column, identically), u_j = beta (v_j - kh); the
// rows are updated and the output's partials q . h[:, j] reduced the same way.
// Versions that lost or tied (PoCL, decode of 32 heads of 128): sums of squares by a WG_SIZE tree
// (13 barriers a token): the same time; k and q normalised once in local memory by the first Dk
// items (4 barriers, 1/32 of the divisions): no faster, and PoCL 3.1 miscompiled it (o wrong
// with l2norm, ht right; lavapipe ran the GLSL twin correctly). On these CPU devices the
// per-token arithmetic of the work-item loops, not barriers, sets the time (docs/perf.md).
//
// Conformance: bounded. The sums over i run in DN_SPLIT strided partial sums instead of the
// reference's one sequential sum, and the decay's exp is computed here to about 1 ulp
// (dn_exp), so results differ from the reference by fp32 rounding only; deterministic (fixed
// orders, no atomics).
// Measured: docs/perf.md "DeltaNet recurrent and conv1d on PoCL / lavapipe".
//
// Defines:
//   WG_SIZE  work-items per group (from the host's build options), a power of two >= DN_COLS
//   DN_COLS  state columns a group owns (power of two, <= WG_SIZE)
//   DK_MAX   largest Dk (key head size) the private row arrays hold, no default: the host's
//            build option, the record's manifest max_dk (the registry refuses larger Dk)
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG_SIZE
#define WG_SIZE 256 // work-items per group (host launch size)
#endif
#include "deltanet/geometry.h"
#ifndef DN_COLS
#define DN_COLS DN_STATE_COLS // columns of the state a group owns (the host refuses smaller groups)
#endif
#ifndef DK_MAX
#error "recurrent.cl: DK_MAX (the largest key head size) must be given as a build option"
#endif

#define DN_SPLIT (WG_SIZE / DN_COLS)                    // row slices of a column
#define DN_ROWS ((DK_MAX + DN_SPLIT - 1) / DN_SPLIT)     // state rows per work-item
#if DN_SPLIT * DN_COLS != WG_SIZE
#error "recurrent.cl: DN_COLS must divide WG_SIZE"
#endif

#define DN_CANONICAL_NAN 0x7FC00000u

inline float dn_canonical(float x) { return isnan(x) ? as_float(DN_CANONICAL_NAN) : x; }

// exp(x) within about 1 ulp, the same code on every device. OpenCL allows exp() 3 ulp, and an
// error in exp(g) near g = 0 (decays near 1) recurs every token and compounds in the state:
// lavapipe's exp gave 1.5e-6 relative L2 after 64 such tokens, past this variant's bound.
// Cody-Waite reduction x = n ln2 + r, |r| <= ln2 / 2 (n * 0.693145751953125 is exact: 16
// significant bits times |n| < 2^8), Taylor to degree 7 (truncation below 6e-9), times 2^n.
inline float dn_exp(float x) {
  if (isnan(x)) return x;
  if (x < -104.0f) return 0.0f;
  if (x > 88.75f) return INFINITY;
  const float n = rint(x * 1.44269504f);
  const float r = (x - n * 0.693145751953125f) - n * 1.428606765330187e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  return ldexp(p, (int)n);
}

// cu: [n_seqs + 1] token offsets (the host builds them also for fixed-length batches).
// h0: [n_seqs, HV, Dk, Dv] when has_h0, else a dummy. o: [tokens, HV, Dv]; ht: as h0.
__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
deltanet_recurrent(__global const float* q, __global const float* k, __global const float* v,
                   __global const float* g, __global const float* beta,
                   __global const float* h0, int has_h0, __global const int* cu, int n_seqs,
                   int H, int HV, int Dk, int Dv, float scale, int l2norm,
                   __global float* o, __global float* ht) {
  __local float kl[DK_MAX], ql[DK_MAX];
  __local float red_k[DN_COLS], red_q[DN_COLS];
  __local float part_u[WG_SIZE], part_o[WG_SIZE];

  const int lid = (int)get_local_id(0);
  const int c = lid % DN_COLS, s = lid / DN_COLS;
  const int slices = (Dv + DN_COLS - 1) / DN_COLS;
  const int tasks = n_seqs * HV * slices;
  const int group = HV / H;

  for (int task = (int)get_group_id(0); task < tasks; task += (int)get_num_groups(0)) {
    const int slice = task % slices;
    const int hv = (task / slices) % HV;
    const int n = task / (slices * HV);
    const int hk = hv / group;
    const int j = slice * DN_COLS + c;
    const bool col = j < Dv;
    const size_t state_base = ((size_t)n * HV + hv) * (size_t)Dk * Dv;

    float h[DN_ROWS];
    for (int r = 0; r < DN_ROWS; ++r) {
      const int i = s + r * DN_SPLIT;
      h[r] = (col && i < Dk && has_h0) ? h0[state_base + (size_t)i * Dv + j] : 0.0f;
    }

    const int begin = cu[n], end = cu[n + 1];
    for (int tok = begin; tok < end; ++tok) {
      // k_t and q_t to local memory; the first DN_COLS items also form strided partial sums of
      // squares for the l2norm (every item adds the DN_COLS partials below in the same order).
      const size_t qk_base = ((size_t)tok * H + hk) * Dk;
      if (lid < DN_COLS) {
        float sk = 0.0f, sq = 0.0f;
        for (int i = lid; i < Dk; i += DN_COLS) {
          const float kv = k[qk_base + i], qv = q[qk_base + i];
          kl[i] = kv;
          ql[i] = qv;
          sk = sk + kv * kv;
          sq = sq + qv * qv;
        }
        red_k[lid] = sk;
        red_q[lid] = sq;
      }
      barrier(CLK_LOCAL_MEM_FENCE);
      // Each item normalises just the DN_ROWS entries of k and q its rows use, into registers:
      // normalise first, then scale (the spec's order), a division per element as the reference.
      float kr[DN_ROWS], qr[DN_ROWS];
      float nk = 1.0f, nq = 1.0f;
      if (l2norm) {
        float sum_k = 0.0f, sum_q = 0.0f;
        for (int p = 0; p < DN_COLS; ++p) {
          sum_k = sum_k + red_k[p];
          sum_q = sum_q + red_q[p];
        }
        nk = sqrt(sum_k + 1e-6f);
        nq = sqrt(sum_q + 1e-6f);
      }
      for (int r = 0; r < DN_ROWS; ++r) {
        const int i = min(s + r * DN_SPLIT, Dk - 1); // rows past Dk are never used
        kr[r] = l2norm ? kl[i] / nk : kl[i];
        qr[r] = scale * (l2norm ? ql[i] / nq : ql[i]);
      }

      const size_t gi = (size_t)tok * HV + hv;
      const float decay = dn_exp(g[gi]);
      float kh = 0.0f;
      for (int r = 0; r < DN_ROWS; ++r) {
        if (s + r * DN_SPLIT < Dk) {
          h[r] = h[r] * decay;
          kh = kh + h[r] * kr[r];
        }
      }
      part_u[lid] = kh;
      barrier(CLK_LOCAL_MEM_FENCE);
      kh = 0.0f;
      for (int p = 0; p < DN_SPLIT; ++p) kh = kh + part_u[p * DN_COLS + c];
      const float u = col ? beta[gi] * (v[gi * Dv + j] - kh) : 0.0f;
      float acc = 0.0f;
      for (int r = 0; r < DN_ROWS; ++r) {
        if (s + r * DN_SPLIT < Dk) {
          h[r] = h[r] + kr[r] * u;
          acc = acc + h[r] * qr[r];
        }
      }
      part_o[lid] = acc;
      barrier(CLK_LOCAL_MEM_FENCE);
      if (s == 0 && col) {
        acc = 0.0f;
        for (int p = 0; p < DN_SPLIT; ++p) acc = acc + part_o[p * DN_COLS + c];
        o[gi * Dv + j] = dn_canonical(acc);
      }
      // kl, ql and red_* are last read before the part_u barrier and part_u before the part_o
      // one, so the next token may rewrite them before its first barrier; part_o is rewritten
      // only after the next token's second.
    }

    for (int r = 0; r < DN_ROWS; ++r) {
      const int i = s + r * DN_SPLIT;
      if (col && i < Dk) ht[state_base + (size_t)i * Dv + j] = dn_canonical(h[r]);
    }
    // The next task's first token overwrites kl / ql only after a barrier every item reaches.
    barrier(CLK_LOCAL_MEM_FENCE);
  }
}
