// The error bound of the bounded attention variants (docs/numerics.md "Attention error bound"):
// per element of o and per row of lse, how far a variant's result may be from the fp32
// reference's, for every legal input. It is mixed, not relative: the score errors of an fp32 dot
// product grow with scale * sum_d |q_d k_d| and are amplified by exp, and o = sum_j w_j v_j may
// cancel (|o| << sum_j w_j |v_j|), so no relative bound on o holds for all inputs.
//
// Per query row (n keys seen, head dim D), from the inputs as the reference reads them (fp32, K/V
// dequantized) in double precision: C = |scale| max_j sum_d |q_d k_jd|, the softmax weights w_j,
// A_d = sum_j w_j |v_jd|, V_d = max_j |v_jd|, g_d = sigmoid(gate_d). With u = 2^-24 and u_op the
// unit roundoff of the operands the variant rounds q, k, v and p to (0 when it keeps fp32):
//   eta_ref = ((D + 4) C + 2) u + tau                    score and weight error of the reference
//   eta_dev = ((2D + 40) C + 0.375 n + 400) u            score and weight error of a kernel
//             + 2.01 u_op C + u_op + tau
//   phi(e)  = e^e (e^e - 1)                              weights perturbed by at most e
//   o:   g_d A_d [2 phi(eta_ref) + 2 phi(eta_dev) + e^(2 eta_ref) (2n + 8) u
//                 + e^(2 eta_dev) ((0.5 n + 1050 + 4 max(0, -gate_d)) u + u_op)] * 1.01
//        + n f (1 + V_d)
//   lse: [eta_ref + eta_dev + (1.25 n + 520 + 8 log(n + 1)) u + 2^-21 + 3 u (|lse| + 1)
//         + n f] * 1.01
// where tau = |scale| D (1 + max|q| + max|k|) f covers subnormal results and flushed operands,
// and f = 2^-124, plus 2^-23 with fp16 operands (half the fp16 subnormal spacing, relative to
// l >= 1). numerics.md derives each term.
#pragma once

#include "conformance/bound_ratio.h"

#include <cstddef>
#include <cstdint>
#include <vector>

#include "reference/attention.h"

namespace tessera::conformance {

struct AttentionBound {
  std::vector<double> o, lse;             // the bounds, shaped as o [B, T, Hq, D] and lse [B, T, Hq]
  std::vector<double> o_exact, lse_exact; // the double-precision model the bound is built around
};

// The arguments are those of ref::attention (fp32 inputs, K/V dequantized, the scale resolved);
// operand_u is the variant's Conformance::operand_u.
AttentionBound attention_bound(const float* q, const float* k, const float* v, const float* gate,
                               const int64_t* cu_q, const int64_t* cu_k, int64_t n_seqs,
                               const ref::AttentionDims& d, bool causal, float scale,
                               double operand_u);

// Compare with bound_ratio (conformance/bound_ratio.h).

} // namespace tessera::conformance
