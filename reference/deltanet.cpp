#include "deltanet.h"

#include <algorithm>
#include <vector>

#include "formats.h"

namespace tessera::ref {

void deltanet_gating(const float* a, const float* b, const float* A_log, const float* dt_bias,
                     int64_t tokens, int64_t HV, float* g, float* beta) {
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t h = 0; h < HV; ++h) {
      int64_t i = t * HV + h;
      // -exp(A_log) is the head's decay rate, softplus(a + dt_bias) the token's step (Mamba-2's
      // dt); the negation is exact, so this is RN(exp) then one RN product.
      g[i] = -exp_rn(A_log[h]) * softplus(a[i] + dt_bias[h]);
      beta[i] = sigmoid(b[i]);
    }
}

void l2norm_head(float* x, int64_t n) {
  float ss = 0.0f;
  for (int64_t i = 0; i < n; ++i) ss = ss + x[i] * x[i];
  // A division per element, as the spec writes it, not a multiply by a rounded reciprocal.
  float norm = std::sqrt(ss + 1e-6f);
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] / norm;
}

void deltanet_step(float* h, const float* q_scaled, const float* k, const float* v, float g,
                   float beta, int64_t Dk, int64_t Dv, float* o) {
  float decay = exp_rn(g);
  for (int64_t i = 0; i < Dk * Dv; ++i) h[i] = h[i] * decay;
  // Column j of the state depends only on u_j, and u_j only on column j, so one column at a
  // time is the spec's "all u first, then all updates" without a temporary.
  for (int64_t j = 0; j < Dv; ++j) {
    float kh = 0.0f; // the value the state predicts for key k
    for (int64_t i = 0; i < Dk; ++i) kh = kh + h[i * Dv + j] * k[i];
    float u = beta * (v[j] - kh);
    for (int64_t i = 0; i < Dk; ++i) h[i * Dv + j] = h[i * Dv + j] + k[i] * u;
  }
  // The output reads the state after this token's update (fla's order).
  for (int64_t j = 0; j < Dv; ++j) {
    float acc = 0.0f;
    for (int64_t i = 0; i < Dk; ++i) acc = acc + h[i * Dv + j] * q_scaled[i];
    o[j] = acc;
  }
}

void deltanet(const float* q, const float* k, const float* v, const float* g, const float* beta,
              const float* h0, const int64_t* cu_seqlens, int64_t n_seqs, const DeltaNetDims& d,
              float scale, bool l2norm, float* o, float* ht) {
  const int64_t group = d.HV / d.H; // value heads per key head
  const int64_t state_size = d.Dk * d.Dv;
  std::vector<float> h(static_cast<size_t>(state_size));
  std::vector<float> qs(static_cast<size_t>(d.Dk)), kn(static_cast<size_t>(d.Dk));
  std::vector<float> ot(static_cast<size_t>(d.Dv));
  for (int64_t n = 0; n < n_seqs; ++n) {
    // Tokens are numbered across the batch (b * T + t), so a batch entry is just a sequence of
    // T tokens and cu_seqlens indexes the same axis.
    int64_t begin = cu_seqlens ? cu_seqlens[n] : n * d.T;
    int64_t end = cu_seqlens ? cu_seqlens[n + 1] : (n + 1) * d.T;
    for (int64_t hv = 0; hv < d.HV; ++hv) {
      int64_t hk = hv / group;
      const float* init = h0 ? h0 + (n * d.HV + hv) * state_size : nullptr;
      for (int64_t i = 0; i < state_size; ++i) h[i] = init ? init[i] : 0.0f;
      for (int64_t tok = begin; tok < end; ++tok) {
        const float* qt = q + (tok * d.H + hk) * d.Dk;
        const float* kt = k + (tok * d.H + hk) * d.Dk;
        std::copy(qt, qt + d.Dk, qs.begin());
        std::copy(kt, kt + d.Dk, kn.begin());
        // Normalise first, then scale: the spec's order (and fla's), which differs in rounding
        // from scaling first.
        if (l2norm) {
          l2norm_head(qs.data(), d.Dk);
          l2norm_head(kn.data(), d.Dk);
        }
        for (float& x : qs) x = scale * x;
        int64_t gi = tok * d.HV + hv;
        deltanet_step(h.data(), qs.data(), kn.data(), v + gi * d.Dv, g[gi], beta[gi], d.Dk, d.Dv,
                      ot.data());
        for (int64_t j = 0; j < d.Dv; ++j) o[gi * d.Dv + j] = canonicalize_nan(ot[j]);
      }
      float* out = ht + (n * d.HV + hv) * state_size;
      for (int64_t i = 0; i < state_size; ++i) out[i] = canonicalize_nan(h[i]);
    }
  }
}

} // namespace tessera::ref
