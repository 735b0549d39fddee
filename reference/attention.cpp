#include "attention.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "activations.h"
#include "formats.h"

namespace tessera::ref {

namespace {

// One query row against `count` keys, rows of k and v `stride` floats apart. p [count] is
// scratch. Writes o [D] and *lse.
void attend_row(const float* q, const float* k, const float* v, const float* gate, int64_t count,
                int64_t stride, int64_t D, float scale, float* p, float* o, float* lse) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  float m = kNegInf;
  for (int64_t j = 0; j < count; ++j) {
    float dot = 0.0f;
    for (int64_t d = 0; d < D; ++d) dot = dot + q[d] * k[j * stride + d];
    // The scale multiplies the finished dot product (not q beforehand): the spec's order.
    p[j] = scale * dot;
    if (p[j] > m) m = p[j];
  }
  // Subtracting the max keeps every exp <= 1 (no overflow); the same m is used in the lse.
  float l = 0.0f;
  for (int64_t j = 0; j < count; ++j) {
    p[j] = exp_rn(p[j] - m);
    l = l + p[j];
  }
  for (int64_t d = 0; d < D; ++d) {
    float acc = 0.0f;
    for (int64_t j = 0; j < count; ++j) acc = acc + p[j] * v[j * stride + d];
    // Normalise once at the end, as flash attention does, rather than each p_j.
    float od = count > 0 ? acc / l : 0.0f;
    if (gate) od = od * sigmoid(gate[d]);
    o[d] = canonicalize_nan(od);
  }
  if (lse) *lse = canonicalize_nan(count > 0 ? m + log_rn(l) : kNegInf);
}

} // namespace

void attention(const float* q, const float* k, const float* v, const float* gate,
               const int64_t* cu_q, const int64_t* cu_k, int64_t n_seqs, const AttentionDims& d,
               bool causal, float scale, float* o, float* lse) {
  const int64_t group = d.Hq / d.Hkv;    // query heads per kv head
  const int64_t kv_stride = d.Hkv * d.D; // one key row to the next of the same head
  std::vector<float> p;
  for (int64_t n = 0; n < n_seqs; ++n) {
    // Queries and keys are numbered across the batch (b * T + t, b * S + j), the axis that
    // cu_seqlens_q and cu_seqlens_k index.
    int64_t q0 = cu_q ? cu_q[n] : n * d.T, q1 = cu_q ? cu_q[n + 1] : (n + 1) * d.T;
    int64_t k0 = cu_k ? cu_k[n] : n * d.S, k1 = cu_k ? cu_k[n + 1] : (n + 1) * d.S;
    int64_t Tn = q1 - q0, Sn = k1 - k0;
    p.resize(static_cast<size_t>(Sn));
    for (int64_t t = 0; t < Tn; ++t) {
      // Causal: the queries are the last Tn positions of the Sn keys.
      int64_t count = causal ? std::clamp<int64_t>(t + (Sn - Tn) + 1, 0, Sn) : Sn;
      for (int64_t hq = 0; hq < d.Hq; ++hq) {
        int64_t row = (q0 + t) * d.Hq + hq;
        int64_t hkv = hq / group;
        const float* kr = k + k0 * kv_stride + hkv * d.D;
        const float* vr = v + k0 * kv_stride + hkv * d.D;
        attend_row(q + row * d.D, kr, vr, gate ? gate + row * d.D : nullptr, count, kv_stride, d.D,
                   scale, p.data(), o + row * d.D, lse ? lse + row : nullptr);
      }
    }
  }
}

} // namespace tessera::ref
