// deltanet, variant "chunked" (numerics.md section 5): Gated DeltaNet prefill in chunks of CHUNK
// tokens, the WY / UT-transform form of flash-linear-attention's chunk_gated_delta_rule, so that
// the work inside a chunk is matrix products and only the chunk-to-chunk state update is
// sequential. Three kernels, launched in order by host/src/opencl/deltanet_chunked.cpp:
//
//   dn_chunk_normalize  per (token, key head): the optional l2norm of q and k, then q * scale
//                       (the reference's order), into Kn, Qs [tokens, H, Dk].
//   dn_chunk_wy         per (chunk, value head), all chunks of all sequences in parallel. With
//                       G_i the inclusive cumulative sum of g inside the chunk,
//                         A[i][j] = beta_i exp(G_i - G_j) (k_i . k_j)   (j < i, strictly lower)
//                       and (I + A) solved by forward substitution for two right-hand sides:
//                         Ut = (I + A)^-1 diag(beta) V,  W = (I + A)^-1 diag(beta exp(G)) K,
//                       plus the masked intra-chunk scores P[i][j] = exp(G_i - G_j) (q_i . k_j)
//                       for j <= i. The decays are written for the scan: exp(G_i) and
//                       exp(G_last - G_j).
//   dn_chunk_scan       per (sequence, value head, DV_SLICE columns of the state), chunk after
//                       chunk with the fp32 state S [Dk, slice] in local memory:
//                         U = Ut - W S                       (the chunk's true delta-rule updates)
//                         o_i = exp(G_i) q_i S + sum_{j<=i} P[i][j] U_j
//                         S <- exp(G_last) S + sum_j exp(G_last - G_j) k_j U_j^T
//
// Decays (numerics.md "DeltaNet chunked", the error argument): G_i - G_j is never formed as a
// difference of prefix sums. Each anchor j (and the chunk start, j = -1) sums its own gates,
// s = g_{j+1} + ... + g_i in ascending order from +0, and the decay is exp(s). A difference of
// fp32 prefix sums carries the rounding of the whole prefix (u |G|, unbounded: one g = -1e6
// leaves no bits to the -1e-2 gates after it, and exp turned that into 0.2 relative L2), while
// the anchored sum's error is at most 63 u |s| whatever the gates, so exp(s) is off by at most
// 63 u |s| e^s <= 23 u in absolute terms. As many exps as before (L(L+1)/2), and one chain of at
// most L adds per anchor; kbench saw no change in speed. The argument is clamped at DN_EXP_FLOOR
// before exp: a sum of finite gates can reach -inf (and -inf - -inf was NaN in the old form).
//
// Why it equals the recurrence: after token i of a chunk starting from S, the state is
// exp(G_i) S + sum_{j<=i} exp(G_i - G_j) k_j u_j^T, so u_i = beta_i (v_i - k_i^T that state
// before token i's update, decayed) gives u_i + sum_{j<i} A[i][j] u_j = beta_i v_i -
// beta_i exp(G_i) S^T k_i, i.e. (I + A) U = diag(beta) V - diag(beta exp(G)) K S.
// Sums run in a fixed order (ascending index), so results are deterministic; they differ from
// the reference's token-by-token order by rounding only.
//
// Conformance: bounded, rel L2 <= 1e-4 for any finite gates (numerics.md "DeltaNet chunked" has
// the error argument). Measured (./build/bin/test_deltanet_kernels, PoCL 3.1): at most 4.5e-7
// against a double-precision model over every case (T 1 to 16384, GQA, varlen, h0, gates from
// -FLT_MAX to -0.0); against the fp32 reference at most 7.5e-7 except where the reference's own
// drift is larger (1.7e-5 after 16384 tokens of one worst-rounded gate). With differences of
// prefix sums it was 2.4e-6 for g in [-20, 0], 0.17 for [-1e6] + [-1e-2] x 63, NaN at -FLT_MAX.
// Measured (PoCL 3.1 on a shared 2-core EPYC, Qwen3-Next shapes H 16, HV 32, D 128; docs/perf.md
// "DeltaNet chunked vs recurrent on PoCL / lavapipe"): T = 1024 in 2.5 s against the recurrent
// variant's 10.2 s, linear in T. What lost: one output column per work-item (CPT 1) left each
// work-item a single dependent chain of adds (no contraction, strict order), and the scan took
// ~600 ms at T = 64 against ~110 ms with CPT 4 and ~70 ms with CPT 8. The per-chunk pass is
// now about half the time; its forward substitution is one dependent chain per column.
//
// Defines:
//   WG_SIZE   work-items per group (from the host's build options); any value >= 1 works
//   CHUNK     tokens per chunk (64; the host's chunk table must use the same)
//   MAX_DK    largest Dk the local state holds, no default: the host's build option, the
//             record's manifest max_dk (the registry refuses more)
//   DV_SLICE  state columns one scan work-group owns (32; the host's group count assumes it)
//   CPT       adjacent columns (scan) or keys (A, P) one work-item computes together (8)
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG_SIZE
#define WG_SIZE 256 // work-items per group (host launch size)
#endif
#include "deltanet/geometry.h"

#ifndef CHUNK
#define CHUNK DN_CHUNK // tokens per chunk
#endif
#ifndef MAX_DK
#error "chunked.cl: MAX_DK (the largest key head dimension) must be given as a build option"
#endif
#ifndef DV_SLICE
#define DV_SLICE DN_DV_SLICE // value columns of the state per scan work-group
#endif
#ifndef CPT
#define CPT 8 // columns (scan) or keys (A, P) one work-item computes together; divides DV_SLICE
#endif
#if DV_SLICE % CPT != 0
#error "chunked.cl: CPT must divide DV_SLICE"
#endif

// exp(x) is below half the smallest fp32 subnormal for x < -103.98: any argument under the floor
// gives 0 exactly as -inf would, and keeps exp's argument finite and its error bound meaningful.
#define DN_EXP_FLOOR -128.0f
inline float dn_decay(float s) { return exp(fmax(s, DN_EXP_FLOOR)); }

inline float dn_canonical(float x) { return isnan(x) ? as_float(0x7FC00000u) : x; }

// rows = tokens * H rows of Dk; one work-item per row (grid-stride).
__kernel void dn_chunk_normalize(__global const float* q, __global const float* k, int rows,
                                 int Dk, float scale, int l2norm, __global float* qs,
                                 __global float* kn) {
  for (int r = (int)get_global_id(0); r < rows; r += (int)get_global_size(0)) {
    __global const float* qr = q + r * Dk;
    __global const float* kr = k + r * Dk;
    float qnorm = 1.0f, knorm = 1.0f;
    if (l2norm) {
      float sq = 0.0f, sk = 0.0f;
      for (int i = 0; i < Dk; ++i) {
        sq = sq + qr[i] * qr[i];
        sk = sk + kr[i] * kr[i];
      }
      qnorm = sqrt(sq + 1e-6f);
      knorm = sqrt(sk + 1e-6f);
    }
    for (int i = 0; i < Dk; ++i) {
      float x = qr[i], y = kr[i];
      if (l2norm) x = x / qnorm, y = y / knorm;
      qs[r * Dk + i] = scale * x;
      kn[r * Dk + i] = y;
    }
  }
}

// chunks [n_chunks][2]: first token, length (1..CHUNK). Outputs per unit p = chunk * HV + hv:
// E [p][2][CHUNK] (row 0: exp(G_i); row 1: exp(G_last - G_i)), W [p][CHUNK][Dk],
// Ut [p][CHUNK][Dv], P [p][CHUNK][CHUNK] (rows beyond the chunk's length and P above the
// diagonal are not written and never read).
__kernel void dn_chunk_wy(__global const float* qs, __global const float* kn,
                          __global const float* v, __global const float* g,
                          __global const float* beta, __global const int* chunks, int n_chunks,
                          int H, int HV, int Dk, int Dv, __global float* E,
                          __global float* W, __global float* Ut, __global float* P) {
  __local float Gl[CHUNK], Bl[CHUNK], Eg[CHUNK]; // g_i, beta_i, exp(G_i)
  __local float A[CHUNK][CHUNK]; // the decays exp(G_i - G_j) first, then A itself
  const int lid = (int)get_local_id(0);
  const int group = HV / H;
  for (int p = (int)get_group_id(0); p < n_chunks * HV; p += (int)get_num_groups(0)) {
    const int c = p / HV, hv = p % HV, hk = hv / group;
    const int t0 = chunks[2 * c], L = chunks[2 * c + 1];
    for (int i = lid; i < L; i += WG_SIZE) {
      Gl[i] = g[(t0 + i) * HV + hv];
      Bl[i] = beta[(t0 + i) * HV + hv];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    // Decays, one anchor per work-item (see the file comment): anchor a = -1 (the chunk start)
    // gives exp(G_i), anchor a >= 0 column a of the decay matrix; the last row is also
    // exp(G_last - G_a), which the scan's state update needs.
    __global float* Eg_out = E + p * 2 * CHUNK;
    __global float* El_out = Eg_out + CHUNK;
    for (int a = lid - 1; a < L - 1; a += WG_SIZE) {
      float s = 0.0f;
      for (int i = a + 1; i < L; ++i) {
        s = s + Gl[i];
        const float d = dn_decay(s);
        if (a < 0) {
          Eg[i] = d;
          Eg_out[i] = d;
        } else {
          A[i][a] = d;
        }
        if (i == L - 1 && a >= 0) El_out[a] = d;
      }
    }
    if (lid == 0) El_out[L - 1] = 1.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    // A (strictly lower) in local memory, over its decays; P (lower with diagonal) straight to
    // global. A work-item takes CPT adjacent j of one row i: 2 * CPT independent dot products in
    // flight, and reads then overwrites only its own entries of A.
    const int jg = (L + CPT - 1) / CPT;
    for (int e = lid; e < L * jg; e += WG_SIZE) {
      const int i = e / jg, j0 = (e % jg) * CPT;
      if (j0 > i) continue;
      __global const float* ki = kn + ((t0 + i) * H + hk) * Dk;
      __global const float* qi = qs + ((t0 + i) * H + hk) * Dk;
      __global const float* kj = kn + ((t0 + j0) * H + hk) * Dk;
      const int row = H * Dk; // from token j to token j + 1
      const int nj = min(CPT, i - j0 + 1); // j0 .. j0 + nj - 1 <= i
      float kk[CPT], qk[CPT];
      for (int x = 0; x < CPT; ++x) kk[x] = 0.0f, qk[x] = 0.0f;
      for (int d = 0; d < Dk; ++d) {
        const float kid = ki[d], qid = qi[d];
        for (int x = 0; x < CPT; ++x) {
          const float kjd = x < nj ? kj[x * row + d] : 0.0f;
          kk[x] = kk[x] + kid * kjd;
          qk[x] = qk[x] + qid * kjd;
        }
      }
      for (int x = 0; x < nj; ++x) {
        const int j = j0 + x;
        const float decay = j < i ? A[i][j] : 1.0f; // exp(G_i - G_j), exp(0) on the diagonal
        P[(p * CHUNK + i) * CHUNK + j] = decay * qk[x];
        if (j < i) A[i][j] = Bl[i] * decay * kk[x];
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    // Forward substitution, one right-hand-side column per work-item: columns 0..Dv-1 are
    // beta V (giving Ut), columns Dv..Dv+Dk-1 are beta exp(G) K (giving W).
    for (int col = lid; col < Dv + Dk; col += WG_SIZE) {
      float x[CHUNK];
      const bool is_v = col < Dv;
      for (int i = 0; i < L; ++i) {
        const int tok = t0 + i;
        float rhs = is_v ? Bl[i] * v[(tok * HV + hv) * Dv + col]
                         : (Bl[i] * Eg[i]) * kn[(tok * H + hk) * Dk + (col - Dv)];
        for (int j = 0; j < i; ++j) rhs = rhs - A[i][j] * x[j];
        x[i] = rhs;
        if (is_v)
          Ut[(p * CHUNK + i) * Dv + col] = rhs;
        else
          W[(p * CHUNK + i) * Dk + (col - Dv)] = rhs;
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE); // Gl, Bl, Eg and A are reused by the next unit
  }
}

// seq_chunks [n_seqs + 1]: the sequences' ranges in the chunk table (consecutive chunks).
// h0 [n_seqs][HV][Dk][Dv] when has_h0; o [tokens][HV][Dv]; ht [n_seqs][HV][Dk][Dv].
// Each work-item computes CPT adjacent columns of a row at once: CPT independent sums in
// flight instead of one dependent chain (each still adds in ascending index order, so the bits
// do not depend on CPT). Columns of the slice past Dv are kept at zero and never stored.
__kernel void dn_chunk_scan(__global const float* qs, __global const float* kn,
                            __global const float* E, __global const float* W,
                            __global const float* Ut, __global const float* P,
                            __global const int* chunks, __global const int* seq_chunks,
                            int n_seqs, int H, int HV, int Dk, int Dv, __global const float* h0,
                            int has_h0, __global float* o, __global float* ht) {
  __local float S[MAX_DK][DV_SLICE];
  __local float U[CHUNK][DV_SLICE];
  __local float Eg[CHUNK], Dl[CHUNK]; // exp(G_i), and exp(G_last - G_i) for the state update
  const int lid = (int)get_local_id(0);
  const int group = HV / H;
  const int slices = (Dv + DV_SLICE - 1) / DV_SLICE;
  for (int unit = (int)get_group_id(0); unit < n_seqs * HV * slices;
       unit += (int)get_num_groups(0)) {
    const int n = unit / (HV * slices), hv = (unit / slices) % HV, sl = unit % slices;
    const int hk = hv / group, c0 = sl * DV_SLICE;
    const int w = min(DV_SLICE, Dv - c0); // columns of this slice
    const int wg = (w + CPT - 1) / CPT;   // column groups of CPT
    const int state = (n * HV + hv) * Dk * Dv;
    for (int e = lid; e < Dk * DV_SLICE; e += WG_SIZE) {
      const int i = e / DV_SLICE, j = e % DV_SLICE;
      S[i][j] = has_h0 && j < w ? h0[state + i * Dv + c0 + j] : 0.0f;
    }
    for (int e = lid; e < CHUNK * DV_SLICE; e += WG_SIZE) U[e / DV_SLICE][e % DV_SLICE] = 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int c = seq_chunks[n]; c < seq_chunks[n + 1]; ++c) {
      const int t0 = chunks[2 * c], L = chunks[2 * c + 1];
      const int p = c * HV + hv;
      for (int i = lid; i < L; i += WG_SIZE) {
        Eg[i] = E[p * 2 * CHUNK + i];
        Dl[i] = E[p * 2 * CHUNK + CHUNK + i];
      }
      // U = Ut - W S
      for (int e = lid; e < L * wg; e += WG_SIZE) {
        const int i = e / wg, j0 = (e % wg) * CPT;
        __global const float* wi = W + (p * CHUNK + i) * Dk;
        float acc[CPT];
        for (int x = 0; x < CPT; ++x) acc[x] = 0.0f;
        for (int d = 0; d < Dk; ++d) {
          const float wv = wi[d];
          for (int x = 0; x < CPT; ++x) acc[x] = acc[x] + wv * S[d][j0 + x];
        }
        for (int x = 0; x < CPT; ++x)
          if (j0 + x < w) U[i][j0 + x] = Ut[(p * CHUNK + i) * Dv + c0 + j0 + x] - acc[x];
      }
      barrier(CLK_LOCAL_MEM_FENCE);
      // o_i = exp(G_i) (q_i S) + sum_{j <= i} P[i][j] U_j
      for (int e = lid; e < L * wg; e += WG_SIZE) {
        const int i = e / wg, j0 = (e % wg) * CPT;
        __global const float* qi = qs + ((t0 + i) * H + hk) * Dk;
        __global const float* pi = P + (p * CHUNK + i) * CHUNK;
        float inter[CPT], intra[CPT];
        for (int x = 0; x < CPT; ++x) inter[x] = 0.0f, intra[x] = 0.0f;
        for (int d = 0; d < Dk; ++d) {
          const float qv = qi[d];
          for (int x = 0; x < CPT; ++x) inter[x] = inter[x] + qv * S[d][j0 + x];
        }
        for (int s = 0; s <= i; ++s) {
          const float pv = pi[s];
          for (int x = 0; x < CPT; ++x) intra[x] = intra[x] + pv * U[s][j0 + x];
        }
        const float eg = Eg[i];
        for (int x = 0; x < CPT; ++x)
          if (j0 + x < w)
            o[((t0 + i) * HV + hv) * Dv + c0 + j0 + x] = dn_canonical(eg * inter[x] + intra[x]);
      }
      barrier(CLK_LOCAL_MEM_FENCE);
      // S <- exp(G_last) S + sum_j exp(G_last - G_j) k_j U_j^T
      const float dlast = Eg[L - 1];
      for (int e = lid; e < Dk * wg; e += WG_SIZE) {
        const int d = e / wg, j0 = (e % wg) * CPT;
        float acc[CPT];
        for (int x = 0; x < CPT; ++x) acc[x] = 0.0f;
        for (int s = 0; s < L; ++s) {
          const float kd = Dl[s] * kn[((t0 + s) * H + hk) * Dk + d];
          for (int x = 0; x < CPT; ++x) acc[x] = acc[x] + kd * U[s][j0 + x];
        }
        for (int x = 0; x < CPT; ++x) S[d][j0 + x] = dlast * S[d][j0 + x] + acc[x];
      }
      barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int e = lid; e < Dk * w; e += WG_SIZE) {
      const int i = e / w, j = e % w;
      ht[state + i * Dv + c0 + j] = dn_canonical(S[i][j]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
}
