// The attention error bound of attention_bound.h (docs/numerics.md "Attention error bound").
#include "conformance/attention_bound.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tessera::conformance {

namespace {

constexpr double kU = 0x1p-24; // fp32 unit roundoff

double phi(double eta) { return std::exp(eta) * std::expm1(eta); }

} // namespace

AttentionBound attention_bound(const float* q, const float* k, const float* v, const float* gate,
                               const int64_t* cu_q, const int64_t* cu_k, int64_t n_seqs,
                               const ref::AttentionDims& d, bool causal, float scale,
                               double operand_u) {
  const int64_t D = d.D, group = d.Hq / d.Hkv, kv_stride = d.Hkv * D;
  const double f = 0x1p-124 + (operand_u > 0 ? 0x1p-23 : 0.0);
  const double abs_scale = std::fabs(static_cast<double>(scale));
  AttentionBound b;
  const size_t n_o = static_cast<size_t>(d.B * d.T * d.Hq * D);
  b.o.assign(n_o, 0.0), b.o_exact.assign(n_o, 0.0);
  b.lse.assign(n_o / static_cast<size_t>(D), 0.0);
  b.lse_exact.assign(b.lse.size(), -std::numeric_limits<double>::infinity());
  std::vector<double> s, w;
  for (int64_t sq = 0; sq < n_seqs; ++sq) {
    const int64_t q0 = cu_q ? cu_q[sq] : sq * d.T, q1 = cu_q ? cu_q[sq + 1] : (sq + 1) * d.T;
    const int64_t k0 = cu_k ? cu_k[sq] : sq * d.S, k1 = cu_k ? cu_k[sq + 1] : (sq + 1) * d.S;
    const int64_t Tn = q1 - q0, Sn = k1 - k0;
    for (int64_t t = 0; t < Tn; ++t) {
      const int64_t n = causal ? std::clamp<int64_t>(t + (Sn - Tn) + 1, 0, Sn) : Sn;
      if (n == 0) continue; // o = 0 and lse = -inf on both sides: bound 0
      const double dn = static_cast<double>(n);
      for (int64_t hq = 0; hq < d.Hq; ++hq) {
        const int64_t row = (q0 + t) * d.Hq + hq;
        const float* qr = q + row * D;
        const float* kr = k + k0 * kv_stride + (hq / group) * D;
        const float* vr = v + k0 * kv_stride + (hq / group) * D;
        // Scores, their conditioning C and the largest |q|, |k|, in double.
        s.assign(static_cast<size_t>(n), 0.0);
        double C = 0.0, qmax = 0.0, kmax = 0.0, m = -std::numeric_limits<double>::infinity();
        for (int64_t dd = 0; dd < D; ++dd) qmax = std::max(qmax, std::fabs(static_cast<double>(qr[dd])));
        for (int64_t j = 0; j < n; ++j) {
          double dot = 0.0, mag = 0.0;
          for (int64_t dd = 0; dd < D; ++dd) {
            const double x = static_cast<double>(qr[dd]) * kr[j * kv_stride + dd];
            dot += x, mag += std::fabs(x);
            kmax = std::max(kmax, std::fabs(static_cast<double>(kr[j * kv_stride + dd])));
          }
          s[static_cast<size_t>(j)] = static_cast<double>(scale) * dot;
          C = std::max(C, abs_scale * mag);
          m = std::max(m, s[static_cast<size_t>(j)]);
        }
        w.assign(static_cast<size_t>(n), 0.0);
        double l = 0.0;
        for (int64_t j = 0; j < n; ++j) l += (w[static_cast<size_t>(j)] = std::exp(s[static_cast<size_t>(j)] - m));
        for (double& x : w) x /= l;
        const double lse = m + std::log(l);
        // The weight perturbations of numerics.md, reference and kernel.
        const double tau = abs_scale * static_cast<double>(D) * (1.0 + qmax + kmax) * f;
        const double eta_ref = ((static_cast<double>(D) + 4.0) * C + 2.0) * kU + tau;
        const double eta_dev = ((2.0 * static_cast<double>(D) + 40.0) * C + 0.375 * dn + 400.0) * kU +
                               2.01 * operand_u * C + operand_u + tau;
        const double weights = 2.0 * phi(eta_ref) + 2.0 * phi(eta_dev);
        const double sums_ref = std::exp(2.0 * eta_ref) * (2.0 * dn + 8.0) * kU;
        for (int64_t dd = 0; dd < D; ++dd) {
          double A = 0.0, V = 0.0, o = 0.0;
          for (int64_t j = 0; j < n; ++j) {
            const double x = vr[j * kv_stride + dd];
            A += w[static_cast<size_t>(j)] * std::fabs(x);
            V = std::max(V, std::fabs(x));
            o += w[static_cast<size_t>(j)] * x;
          }
          double g = 1.0, sums_dev = (0.5 * dn + 1050.0) * kU;
          if (gate) {
            const double x = gate[row * D + dd];
            g = 1.0 / (1.0 + std::exp(-x));
            sums_dev += 4.0 * std::max(0.0, -x) * kU;
          }
          sums_dev = std::exp(2.0 * eta_dev) * (sums_dev + operand_u);
          const size_t at = static_cast<size_t>(row * D + dd);
          b.o_exact[at] = g * o;
          b.o[at] = g * A * (weights + sums_ref + sums_dev) * 1.01 + dn * f * (1.0 + V);
        }
        b.lse_exact[static_cast<size_t>(row)] = lse;
        b.lse[static_cast<size_t>(row)] =
            (eta_ref + eta_dev + (1.25 * dn + 520.0 + 8.0 * std::log(dn + 1.0)) * kU + 0x1p-21 +
             3.0 * kU * (std::fabs(lse) + 1.0) + dn * f) *
            1.01;
      }
    }
  }
  return b;
}

} // namespace tessera::conformance
