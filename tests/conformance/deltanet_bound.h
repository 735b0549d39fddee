// The error bound of the DeltaNet device variants (docs/numerics.md "DeltaNet error bound"): per
// element of o and ht, how far a variant's result may be from the fp32 reference's, for every
// legal input. It is mixed, not relative: a reordered Dk-term dot product is off by about
// u |q| |h| whatever q . h is, so a cancelling output (T = 1, q . k small against |q| |k|) has no
// relative bound, and the chunked (WY) form builds the state from terms of the size of the
// chunk's starting state, which may cancel to something far smaller (Dk = 1 with h0 and tiny v).
//
// Both results are compared with the exact recurrence (computed here in double), and the two
// distances added. Per (sequence, value head) and state column j, a budget E_j bounds the 2-norm
// of the column's error; per token (exact quantities: decay d, normalised key k and scaled query
// q, beta, the state h before the token, h' = d h, w = v_j - k . h', u_j = beta w, h'' the state
// after it), with unit roundoff e (u = 2^-24 in the reference, 2u on a device: any rounding mode),
// gamma_n = n e / (1 - n e), rho = max(1, |1 - beta |k|^2|), the norm of the delta rule's map:
//   E_j <- rho (d E_j + (e_exp + e) d |h_j|) + |k| (|beta| (gamma_Dk sum_i |h'_ij k_i| + e |w|)
//          + 2 e |u_j|) + e |h''_j| + eps_k |k| (|u_j| + |beta| |k| |h'_j|) + tau
//   o_tj: |q| E_j + (gamma_Dk + eps_q) sum_i |q_i h''_ij| + tau
// where e_exp is the decay's relative error (u; the kernels' own exp, 8u), eps_k and eps_q the
// relative errors of the l2norm (and scale) of k and q, tau = 4 (Dk + 4) 2^-126 for subnormal
// results. The chunked variant replaces the rounding terms by its chunk's (the decays from
// anchored sums, A, P, the forward substitution through |(I + A)^-1|, U = Ut - W S, o and the
// state update), added at the chunk's end. ht's bound is its column's E_j; everything is first
// order in e, times 1.01.
#pragma once

#include "conformance/bound_ratio.h"

#include <cstddef>
#include <cstdint>
#include <vector>

#include "reference/deltanet.h"

namespace tessera::conformance {

// The operation order a variant follows: token by token with regrouped dot products (recurrent,
// recurrent_dk256), or the WY form in chunks of 64 tokens (chunked).
enum class DeltaNetForm { Recurrent, Chunked };

struct DeltaNetBound {
  std::vector<double> o, ht;             // |device - reference| bounds: o [B, T, HV, Dv], ht [N, HV, Dk, Dv]
  std::vector<double> o_dev, ht_dev;     // the device's part alone: |device - exact| bounds
  std::vector<double> o_exact, ht_exact; // the recurrence in double the bound is built around
};

// The arguments are those of ref::deltanet (fp32 inputs as the reference reads them: bf16 / fp16
// widened, fused gating already turned into g and beta, the scale resolved).
DeltaNetBound deltanet_bound(const float* q, const float* k, const float* v, const float* g,
                             const float* beta, const float* h0, const int64_t* cu_seqlens,
                             int64_t n_seqs, const ref::DeltaNetDims& d, float scale, bool l2norm,
                             DeltaNetForm form);

// Compare with bound_ratio (conformance/bound_ratio.h), against the reference's result or the
// exact recurrence (o_exact, ht_exact) with the kernel's share (o_dev, ht_dev).

} // namespace tessera::conformance
