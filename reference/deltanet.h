// Gated DeltaNet of numerics.md section 5 on fp32 arrays.
//
// Every arithmetic step is one RN fp32 operation in the order the spec writes it; sums start at
// 0 and add in ascending index order. Preconditions (checked by the API layer, not here): H, HV,
// Dk, Dv >= 1, HV % H == 0, and cu_seqlens starts at 0, never decreases and ends at B * T.
#pragma once

#include <cstdint>

#include "activations.h"

namespace tessera::ref {

// Fused gating (the Qwen3-Next block computes it this way): a, b, g, beta [tokens, HV];
// A_log, dt_bias [HV]. g = -exp(A_log) * softplus(a + dt_bias); beta = sigmoid(b).
void deltanet_gating(const float* a, const float* b, const float* A_log, const float* dt_bias,
                     int64_t tokens, int64_t HV, float* g, float* beta);

// x / sqrt(sum x^2 + 1e-6) over one head of n elements, in place (fla's use_qk_l2norm_in_kernel).
void l2norm_head(float* x, int64_t n);

// One token of one value head. h [Dk, Dv] (row i is key dimension i) is updated in place;
// q_scaled = scale * q (after the l2norm when there is one), k [Dk], v [Dv], o [Dv]:
//   h <- h * exp(g); u_j = beta * (v_j - sum_i h[i][j] * k_i); h[i][j] += k_i * u_j;
//   o_j = sum_i h[i][j] * q_scaled_i.
void deltanet_step(float* h, const float* q_scaled, const float* k, const float* v, float g,
                   float beta, int64_t Dk, int64_t Dv, float* o);

struct DeltaNetDims {
  int64_t B, T, H, HV, Dk, Dv;
};

// q, k [B, T, H, Dk]; v [B, T, HV, Dv]; g, beta [B, T, HV]; value head hv reads key head
// hv / (HV / H). Sequences: without cu_seqlens, n_seqs == B and sequence n is batch n; with
// cu_seqlens [n_seqs + 1] (B == 1), sequence n is tokens cu_seqlens[n] .. cu_seqlens[n + 1].
// h0 [n_seqs, HV, Dk, Dv] or null (zeros). o [B, T, HV, Dv]; ht [n_seqs, HV, Dk, Dv] (may be h0:
// each state is read whole before it is written). NaN results are written as the canonical NaN.
void deltanet(const float* q, const float* k, const float* v, const float* g, const float* beta,
              const float* h0, const int64_t* cu_seqlens, int64_t n_seqs, const DeltaNetDims& d,
              float scale, bool l2norm, float* o, float* ht);

} // namespace tessera::ref
