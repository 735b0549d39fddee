#version 450
// deltanet, variant "chunked" (numerics.md section 5): Gated DeltaNet prefill in chunks of CHUNK
// tokens, the WY / UT-transform form of flash-linear-attention's chunk_gated_delta_rule. The
// same algorithm as kernels/deltanet/chunked.cl, which derives the math; one pass per build:
//   DN_PASS_NORMALIZE  per (token, key head): optional l2norm of q and k, then q * scale.
//   DN_PASS_WY         per (chunk, value head), all chunks in parallel: the decays exp(G_i) and
//                      exp(G_i - G_j), each exponent summed from its own anchor (chunked.cl says
//                      why), A[i][j] = beta_i exp(G_i - G_j) k_i.k_j (j < i), forward substitution of
//                      (I + A) for Ut = (I+A)^-1 beta V and W = (I+A)^-1 beta exp(G) K, and the
//                      masked scores P[i][j] = exp(G_i - G_j) q_i.k_j (j <= i).
//   DN_PASS_SCAN       per (sequence, value head, DV_SLICE state columns), chunk after chunk:
//                      U = Ut - W S; o_i = exp(G_i) q_i S + sum_{j<=i} P[i][j] U_j;
//                      S <- exp(G_last) S + sum_j exp(G_last - G_j) k_j U_j^T (fp32 state in
//                      shared memory), with the decays the WY pass wrote.
// Long sequences: the scan's chunk loop is cut into windows of at most c_count chunks a dispatch
// (kDeltaNetWindowTokens, host/src/vulkan/deltanet.h: llvmpipe ends every loop of an invocation,
// silently, once it has run 65535 loop iterations in all; a whole sequence in one dispatch went
// wrong from ~256 chunks at Dk = Dv = 64). The first window reads S from h0, later ones from ht,
// where the previous dispatch left it; a sequence that ended before the window's first chunk is
// skipped. A workgroup takes at most one unit a dispatch in the WY and scan passes (units from
// unit_base), and every unit ends with a canary loop of pc.two (= 2) iterations: an invocation
// whose loops a driver cut short runs it once and sets the pass's status word (status_off in
// scratch for WY, in out for the scan), which the host turns into an error.
// G_i - G_j is never a difference of prefix sums (whose rounding grows with |G| and lost the
// small gates after a large one); exp's argument is clamped at DN_EXP_FLOOR. Sums run in
// ascending index order: deterministic.
//
// Buffers are packed so that no pass binds more than five (host/src/vulkan/deltanet_chunked.cpp
// writes the offsets, in 32-bit words, into the push constants):
//   qk      q, k (normalize input) or Qs, Kn (its output)       [tokens, H, Dk] each
//   v       [tokens, HV, Dv]
//   gates   g, beta [tokens, HV]; chunk table [n_chunks][2] (first token, length) and the
//           sequences' first chunks [n_seqs + 1], both as int bits
//   scratch E [units][2][CHUNK] (exp(G_i), then exp(G_last - G_i)), W [units][CHUNK][Dk],
//           Ut [units][CHUNK][Dv], P [units][CHUNK][CHUNK] with unit = chunk * HV + hv
//   out     o [tokens, HV, Dv], ht [n_seqs, HV, Dk, Dv], the scan's status word
//   (scratch ends with the WY pass's status word)
//
// Conformance: bounded, rel L2 <= 1e-4 for any finite gates; measured on lavapipe at most 4.7e-7
// against a double-precision model (./build/bin/test_deltanet_kernels; chunked.cl has the rest).
// Measured (lavapipe, Qwen3-Next shapes; docs/perf.md "DeltaNet chunked vs recurrent on PoCL /
// lavapipe"): faster than the recurrent variant from T = 4 (1.8x), 1.5x at T = 256; both run at
// ~0.05 GFLOP/s there, far below PoCL: what is left to find on lavapipe.
//
// Defines (defaults): WG 256 (invocations; any size the host specializes works), CHUNK 64 (the
// host's chunk table uses it), // DV_SLICE 32 (state columns a scan workgroup owns; the host's group count assumes it), CPT 8
// (adjacent columns one invocation computes together: independent sums in flight, each still
// in ascending order; divides DV_SLICE), and one
// of DN_PASS_NORMALIZE, DN_PASS_WY, DN_PASS_SCAN (default: DN_PASS_SCAN).
// Specialization constants: 0 = workgroup size, 1 = MAX_DK (shared state rows of the scan), the
// record's manifest max_dk, which the registry checks Dk against: the host sets it at pipeline
// creation, so the number is written once.
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv: deltanet/chunked.normalize DN_PASS_NORMALIZE
// spirv: deltanet/chunked.wy DN_PASS_WY
// spirv: deltanet/chunked.scan DN_PASS_SCAN

#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

#ifndef WG
#define WG 256
#endif
#include "deltanet/geometry.h"
#ifndef CHUNK
#define CHUNK DN_CHUNK
#endif
// The default only lets the shader compile; every pipeline gets the manifest's max_dk.
layout(constant_id = 1) const int MAX_DK = 1;
#ifndef DV_SLICE
#define DV_SLICE DN_DV_SLICE
#endif
#ifndef CPT
#define CPT 8
#endif
#if !defined(DN_PASS_NORMALIZE) && !defined(DN_PASS_WY) && !defined(DN_PASS_SCAN)
#define DN_PASS_SCAN
#endif

layout(local_size_x = WG, local_size_x_id = 0) in;

layout(push_constant) uniform Push {
  uint rows;      // tokens * H
  uint H, HV, Dk, Dv;
  uint n_chunks, n_seqs;
  uint flags;     // 1: l2norm, 2: h0 given
  float scale;
  uint k_off;     // second half of qk
  uint beta_off;  // in gates
  uint chunk_off; // in gates
  uint seq_off;   // in gates
  uint w_off, ut_off, p_off; // in scratch (E at 0)
  uint ht_off;    // in out
  uint c_first, c_count;     // scan window: chunks [c_first, c_first + c_count) of each sequence
  uint unit_base, unit_end;  // this dispatch's units (WY, scan)
  uint status_off, two;      // this pass's status word; the canary's trip count (2)
} pc;

#define LSIZE gl_WorkGroupSize.x
#define LID gl_LocalInvocationID.x

float canonical(float x) { return isnan(x) ? uintBitsToFloat(0x7FC00000u) : x; }

// exp(x) is below half the smallest fp32 subnormal for x < -103.98: any argument under the floor
// gives 0 exactly as -inf would, and keeps exp's argument finite and its error (3 + 2|x| ulp
// in Vulkan) meaningful.
const float DN_EXP_FLOOR = -128.0;
float decay_of(float s) { return exp(max(s, DN_EXP_FLOOR)); }

#ifdef DN_PASS_NORMALIZE
layout(std430, binding = 0) readonly buffer QkIn { float qk_in[]; };
layout(std430, binding = 1) writeonly buffer QkOut { float qk_out[]; };

void main() {
  uint Dk = pc.Dk;
  for (uint r = gl_GlobalInvocationID.x; r < pc.rows; r += gl_NumWorkGroups.x * LSIZE) {
    uint qb = r * Dk, kb = pc.k_off + r * Dk;
    float qnorm = 1.0, knorm = 1.0;
    bool l2 = (pc.flags & 1u) != 0u;
    if (l2) {
      float sq = 0.0, sk = 0.0;
      for (uint i = 0u; i < Dk; ++i) {
        sq += qk_in[qb + i] * qk_in[qb + i];
        sk += qk_in[kb + i] * qk_in[kb + i];
      }
      qnorm = sqrt(sq + 1e-6);
      knorm = sqrt(sk + 1e-6);
    }
    for (uint i = 0u; i < Dk; ++i) {
      float x = qk_in[qb + i], y = qk_in[kb + i];
      if (l2) {
        x = x / qnorm;
        y = y / knorm;
      }
      qk_out[qb + i] = pc.scale * x;
      qk_out[kb + i] = y;
    }
  }
}
#endif

#ifdef DN_PASS_WY
layout(std430, binding = 0) readonly buffer Qk { float qk[]; };
layout(std430, binding = 1) readonly buffer V { float v[]; };
layout(std430, binding = 2) readonly buffer Gates { float gates[]; };
layout(std430, binding = 3) writeonly buffer Scratch { float scratch[]; };
layout(std430, binding = 3) buffer ScratchStatus { uint scratch_words[]; }; // the same buffer

shared float Gl[CHUNK], Bl[CHUNK], Eg[CHUNK]; // g_i, beta_i, exp(G_i)
shared float A[CHUNK][CHUNK]; // the decays exp(G_i - G_j) first, then A itself

void main() {
  uint H = pc.H, HV = pc.HV, Dk = pc.Dk, Dv = pc.Dv;
  uint group = HV / H;
  for (uint p = pc.unit_base + gl_WorkGroupID.x; p < pc.unit_end; p += gl_NumWorkGroups.x) {
    uint c = p / HV, hv = p % HV, hk = hv / group;
    uint t0 = uint(floatBitsToInt(gates[pc.chunk_off + 2u * c]));
    uint L = uint(floatBitsToInt(gates[pc.chunk_off + 2u * c + 1u]));
    for (uint i = LID; i < L; i += LSIZE) {
      Gl[i] = gates[(t0 + i) * HV + hv];
      Bl[i] = gates[pc.beta_off + (t0 + i) * HV + hv];
    }
    barrier();
    // Decays, one anchor per invocation: anchor a = -1 (the chunk start; a + 1 = 0 here, the
    // index is unsigned) gives exp(G_i), anchor a >= 0 column a of the decay matrix, whose last
    // row is also exp(G_last - G_a) for the scan.
    uint eg_out = p * 2u * CHUNK, el_out = eg_out + CHUNK;
    for (uint a1 = LID; a1 < L; a1 += LSIZE) { // a1 = a + 1
      float s = 0.0;
      for (uint i = a1; i < L; ++i) {
        s += Gl[i];
        float d = decay_of(s);
        if (a1 == 0u) {
          Eg[i] = d;
          scratch[eg_out + i] = d;
        } else {
          A[i][a1 - 1u] = d;
        }
        if (i == L - 1u && a1 > 0u) scratch[el_out + a1 - 1u] = d;
      }
    }
    if (LID == 0u) scratch[el_out + L - 1u] = 1.0;
    barrier();
    // A over its decays (an invocation reads, then overwrites, only its own entries); a work-item
    // takes CPT adjacent j of one row i: 2 * CPT independent dot products.
    uint jg = (L + CPT - 1u) / CPT;
    for (uint e = LID; e < L * jg; e += LSIZE) {
      uint i = e / jg, j0 = (e % jg) * CPT;
      if (j0 > i) continue;
      uint ki = pc.k_off + ((t0 + i) * H + hk) * Dk, qi = ((t0 + i) * H + hk) * Dk;
      uint kj = pc.k_off + ((t0 + j0) * H + hk) * Dk;
      uint row = H * Dk; // from token j to token j + 1
      uint nj = min(uint(CPT), i - j0 + 1u);
      float kk[CPT], qkd[CPT];
      [[unroll]] for (uint x = 0u; x < CPT; ++x) {
        kk[x] = 0.0;
        qkd[x] = 0.0;
      }
      for (uint d = 0u; d < Dk; ++d) {
        float kid = qk[ki + d], qid = qk[qi + d];
        [[unroll]] for (uint x = 0u; x < CPT; ++x) {
          float kjd = x < nj ? qk[kj + x * row + d] : 0.0;
          kk[x] += kid * kjd;
          qkd[x] += qid * kjd;
        }
      }
      [[unroll]] for (uint x = 0u; x < CPT; ++x) {
        uint j = j0 + x;
        if (x >= nj) continue;
        float decay = j < i ? A[i][j] : 1.0; // exp(G_i - G_j), exp(0) on the diagonal
        scratch[pc.p_off + (p * CHUNK + i) * CHUNK + j] = decay * qkd[x];
        if (j < i) A[i][j] = Bl[i] * decay * kk[x];
      }
    }
    barrier();
    // Forward substitution, one right-hand-side column per invocation: beta V, then beta exp(G) K.
    for (uint col = LID; col < Dv + Dk; col += LSIZE) {
      float x[CHUNK];
      bool is_v = col < Dv;
      for (uint i = 0u; i < L; ++i) {
        uint tok = t0 + i;
        float rhs = is_v ? Bl[i] * v[(tok * HV + hv) * Dv + col]
                         : (Bl[i] * Eg[i]) * qk[pc.k_off + (tok * H + hk) * Dk + (col - Dv)];
        for (uint j = 0u; j < i; ++j) rhs -= A[i][j] * x[j];
        x[i] = rhs;
        if (is_v)
          scratch[pc.ut_off + (p * CHUNK + i) * Dv + col] = rhs;
        else
          scratch[pc.w_off + (p * CHUNK + i) * Dk + (col - Dv)] = rhs;
      }
    }
    uint runs = 0u; // the canary (see the header)
    for (uint x = 0u; x < pc.two; ++x) ++runs;
    if (runs != pc.two) atomicOr(scratch_words[pc.status_off], 1u);
    barrier(); // Gl, Bl, Eg and A are reused by the next unit
  }
}
#endif

#ifdef DN_PASS_SCAN
layout(std430, binding = 0) readonly buffer Qk { float qk[]; };
layout(std430, binding = 1) readonly buffer Gates { float gates[]; };
layout(std430, binding = 2) readonly buffer Scratch { float scratch[]; };
layout(std430, binding = 3) readonly buffer H0 { float h0[]; };
layout(std430, binding = 4) buffer Out { float outv[]; };
layout(std430, binding = 4) buffer OutStatus { uint out_words[]; }; // the same buffer

shared float S[MAX_DK][DV_SLICE];
shared float U[CHUNK][DV_SLICE];
shared float Eg[CHUNK], Dl[CHUNK]; // exp(G_i), and exp(G_last - G_i) for the state update

int table(uint i) { return floatBitsToInt(gates[i]); }

void main() {
  uint H = pc.H, HV = pc.HV, Dk = pc.Dk, Dv = pc.Dv;
  uint group = HV / H;
  uint slices = (Dv + DV_SLICE - 1u) / DV_SLICE;
  bool has_h0 = (pc.flags & 2u) != 0u, carried = (pc.flags & 4u) != 0u;
  for (uint unit = pc.unit_base + gl_WorkGroupID.x; unit < pc.unit_end;
       unit += gl_NumWorkGroups.x) {
    uint n = unit / (HV * slices), hv = (unit / slices) % HV, sl = unit % slices;
    uint hk = hv / group, c0 = sl * DV_SLICE;
    uint w = min(uint(DV_SLICE), Dv - c0);
    uint state = (n * HV + hv) * Dk * Dv;
    uint wg = (w + CPT - 1u) / CPT; // column groups of CPT
    // This window's chunks of sequence n.
    uint seq_cend = uint(table(pc.seq_off + n + 1u));
    uint cbegin = uint(table(pc.seq_off + n)) + pc.c_first;
    if (carried && cbegin >= seq_cend) continue; // done in an earlier window (uniform: one unit)
    uint cend = min(seq_cend, cbegin + pc.c_count);
    for (uint e = LID; e < Dk * DV_SLICE; e += LSIZE) {
      uint i = e / DV_SLICE, j = e % DV_SLICE, at = state + i * Dv + c0 + j;
      S[i][j] = j >= w ? 0.0 : carried ? outv[pc.ht_off + at] : has_h0 ? h0[at] : 0.0;
    }
    for (uint e = LID; e < CHUNK * DV_SLICE; e += LSIZE) U[e / DV_SLICE][e % DV_SLICE] = 0.0;
    barrier();
    for (uint c = cbegin; c < cend; ++c) {
      uint t0 = uint(table(pc.chunk_off + 2u * c)), L = uint(table(pc.chunk_off + 2u * c + 1u));
      uint p = c * HV + hv;
      for (uint i = LID; i < L; i += LSIZE) {
        Eg[i] = scratch[p * 2u * CHUNK + i];
        Dl[i] = scratch[p * 2u * CHUNK + CHUNK + i];
      }
      // U = Ut - W S
      for (uint e = LID; e < L * wg; e += LSIZE) {
        uint i = e / wg, j0 = (e % wg) * CPT;
        uint wi = pc.w_off + (p * CHUNK + i) * Dk;
        float acc[CPT];
        [[unroll]] for (uint x = 0u; x < CPT; ++x) acc[x] = 0.0;
        for (uint d = 0u; d < Dk; ++d) {
          float wv = scratch[wi + d];
          [[unroll]] for (uint x = 0u; x < CPT; ++x) acc[x] += wv * S[d][j0 + x];
        }
        [[unroll]] for (uint x = 0u; x < CPT; ++x)
          if (j0 + x < w) U[i][j0 + x] = scratch[pc.ut_off + (p * CHUNK + i) * Dv + c0 + j0 + x] - acc[x];
      }
      barrier();
      // o_i = exp(G_i) (q_i S) + sum_{j <= i} P[i][j] U_j
      for (uint e = LID; e < L * wg; e += LSIZE) {
        uint i = e / wg, j0 = (e % wg) * CPT;
        uint qi = ((t0 + i) * H + hk) * Dk, pi = pc.p_off + (p * CHUNK + i) * CHUNK;
        float inter[CPT], intra[CPT];
        [[unroll]] for (uint x = 0u; x < CPT; ++x) {
          inter[x] = 0.0;
          intra[x] = 0.0;
        }
        for (uint d = 0u; d < Dk; ++d) {
          float qv = qk[qi + d];
          [[unroll]] for (uint x = 0u; x < CPT; ++x) inter[x] += qv * S[d][j0 + x];
        }
        for (uint s = 0u; s <= i; ++s) {
          float pv = scratch[pi + s];
          [[unroll]] for (uint x = 0u; x < CPT; ++x) intra[x] += pv * U[s][j0 + x];
        }
        float eg = Eg[i];
        [[unroll]] for (uint x = 0u; x < CPT; ++x)
          if (j0 + x < w)
            outv[((t0 + i) * HV + hv) * Dv + c0 + j0 + x] = canonical(eg * inter[x] + intra[x]);
      }
      barrier();
      // S <- exp(G_last) S + sum_j exp(G_last - G_j) k_j U_j^T
      float dlast = Eg[L - 1u];
      for (uint e = LID; e < Dk * wg; e += LSIZE) {
        uint d = e / wg, j0 = (e % wg) * CPT;
        float acc[CPT];
        [[unroll]] for (uint x = 0u; x < CPT; ++x) acc[x] = 0.0;
        for (uint s = 0u; s < L; ++s) {
          float kd = Dl[s] * qk[pc.k_off + ((t0 + s) * H + hk) * Dk + d];
          [[unroll]] for (uint x = 0u; x < CPT; ++x) acc[x] += kd * U[s][j0 + x];
        }
        [[unroll]] for (uint x = 0u; x < CPT; ++x) S[d][j0 + x] = dlast * S[d][j0 + x] + acc[x];
      }
      barrier();
    }
    for (uint e = LID; e < Dk * w; e += LSIZE) {
      uint i = e / w, j = e % w;
      outv[pc.ht_off + state + i * Dv + c0 + j] = canonical(S[i][j]);
    }
    uint runs = 0u; // the canary (see the header)
    for (uint x = 0u; x < pc.two; ++x) ++runs;
    if (runs != pc.two) atomicOr(out_words[pc.status_off], 1u);
    barrier();
  }
}
#endif
