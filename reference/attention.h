// Gated attention of numerics.md section 6 on fp32 arrays. E4M3 K/V are dequantized by the
// caller (RN(e4m3 * scale) in fp32) before they get here, so the reference has one input type.
//
// Preconditions (checked by the API layer, not here): Hq, Hkv, D >= 1, Hq % Hkv == 0, and every
// query sees at least one key (causal: S_n >= T_n; not causal: S_n >= 1 when T_n >= 1). A query
// that sees none anyway gets o = 0 and lse = -inf rather than 0 / 0.
#pragma once

#include <cstdint>

namespace tessera::ref {

struct AttentionDims {
  int64_t B, T, S, Hq, Hkv, D;
};

// q [B, T, Hq, D]; k, v [B, S, Hkv, D]; gate [B, T, Hq, D] or null; query head hq reads kv head
// hq / (Hq / Hkv). Sequences: without cu_q/cu_k, n_seqs == B and sequence n is batch n; with
// them ([n_seqs + 1] each, B == 1), sequence n is queries cu_q[n] .. cu_q[n + 1] against keys
// cu_k[n] .. cu_k[n + 1]. Causal: query t of a sequence of T_n queries and S_n keys sees keys
// j <= t + (S_n - T_n), so the last query sees every key (decode, chunked prefill).
// Per query: s_j = scale * (sum_d q[d] k_j[d]); m = max s_j; p_j = exp(s_j - m);
// o[d] = (sum_j p_j v_j[d]) / (sum_j p_j); o[d] *= sigmoid(gate[d]) when gated;
// lse = m + log(sum_j p_j). o [B, T, Hq, D]; lse [B, T, Hq] or null.
void attention(const float* q, const float* k, const float* v, const float* gate,
               const int64_t* cu_q, const int64_t* cu_k, int64_t n_seqs, const AttentionDims& d,
               bool causal, float scale, float* o, float* lse);

} // namespace tessera::ref
