// The error bound of deltanet_bound.h (docs/numerics.md "DeltaNet error bound").
#include "conformance/deltanet_bound.h"

#include <algorithm>
#include <cmath>

namespace tessera::conformance {

namespace {

constexpr double kU = 0x1p-24;      // fp32 unit roundoff
constexpr double kTiny = 0x1p-126;  // a subnormal result or a flushed one is off by less
constexpr int64_t kChunk = 64;      // the chunked variant's chunk (kernels/deltanet/chunked.*)

// One side's arithmetic: `unit` per add and multiply (the reference rounds to nearest; a device
// may round in any mode, within one ulp, 2u), the decay's exp (recurrent form) and the l2norm's
// square root and division together, as relative errors.
struct Side {
  double unit, exp_rel, norm_rel;
  double gamma(double n) const { return n * unit / (1.0 - n * unit); }
};
// The reference: RN operations, exp and sqrt correctly rounded (u each), division u.
constexpr Side kRef{kU, kU, 2 * kU};
// A kernel: 2u per operation; dn_exp / exp_accurate (about 1 ulp) allowed 4 ulp; sqrt and
// division as Vulkan allows them (2.5 ulp the division, ~4.5 ulp sqrt via inversesqrt): 16u.
constexpr Side kDev{2 * kU, 8 * kU, 16 * kU};

double norm(const double* x, int64_t n, int64_t stride = 1) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += x[i * stride] * x[i * stride];
  return std::sqrt(s);
}

// What one chunk's WY computation adds to the device's error (docs/numerics.md, the chunked
// part): alg_o [L][Dv] for each token's o, alg_s [Dv] the 2-norm of each state column's error at
// the chunk's end. S [Dk][Dv] is the exact state at the chunk's start; kn, qs [L][Dk] the exact
// normalised keys and scaled queries, g, b [L] the gates and betas, v [L] pointers to v rows.
void chunk_errors(const std::vector<double>& S, const std::vector<double>& kn, const std::vector<double>& qs,
                  const std::vector<double>& g, const std::vector<double>& b, const std::vector<const float*>& v,
                  int64_t L, int64_t Dk, int64_t Dv, std::vector<double>& alg_o, std::vector<double>& alg_s) {
  const Side& s = kDev;
  const double ud = s.unit;
  const size_t LL = static_cast<size_t>(L * L);
  // Decays d[i][a + 1] = exp(g_{a+1} + ... + g_i) for anchors a = -1 .. i - 1, each exponent summed
  // from its own anchor (m terms): |s' - s| <= gamma_m |s|, then exp within (3 + 2|s'|) ulp (Vulkan;
  // OpenCL's 3 ulp is inside), plus a subnormal or flushed result.
  std::vector<double> dec(LL, 0.0), ddec(LL, 0.0);
  for (int64_t a = -1; a < L - 1; ++a) {
    double sum = 0.0;
    for (int64_t i = a + 1; i < L; ++i) {
      sum += g[static_cast<size_t>(i)];
      const double m = static_cast<double>(i - a), gm = s.gamma(m), as = std::fabs(sum);
      const size_t at = static_cast<size_t>(i * L + a + 1);
      dec[at] = std::exp(sum);
      ddec[at] = (gm * as + (3.0 + 2.0 * as * (1.0 + gm)) * ud) * std::exp(sum + gm * as) + kTiny;
    }
  }
  auto D = [&](int64_t i, int64_t j) { return j == i ? 1.0 : dec[static_cast<size_t>(i * L + j + 1)]; };
  auto dD = [&](int64_t i, int64_t j) { return j == i ? 0.0 : ddec[static_cast<size_t>(i * L + j + 1)]; };
  // A (strictly lower) and P (lower with the diagonal), their errors: the Dk-term dot products in
  // any order (gamma_Dk of the magnitudes), the decays', and one or two products' roundings.
  std::vector<double> A(LL, 0.0), dA(LL, 0.0), P(LL, 0.0), dP(LL, 0.0);
  const double gk = s.gamma(static_cast<double>(Dk));
  for (int64_t i = 0; i < L; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      double kk = 0, KK = 0, qk = 0, QK = 0;
      for (int64_t d = 0; d < Dk; ++d) {
        const double kj = kn[static_cast<size_t>(j * Dk + d)];
        const double x = kn[static_cast<size_t>(i * Dk + d)] * kj, y = qs[static_cast<size_t>(i * Dk + d)] * kj;
        kk += x, KK += std::fabs(x), qk += y, QK += std::fabs(y);
      }
      const size_t at = static_cast<size_t>(i * L + j);
      const double bi = b[static_cast<size_t>(i)];
      P[at] = D(i, j) * qk;
      dP[at] = dD(i, j) * std::fabs(qk) + D(i, j) * gk * QK + (j < i ? ud * std::fabs(P[at]) : 0.0);
      if (j < i) {
        A[at] = bi * D(i, j) * kk;
        dA[at] = std::fabs(bi) * (dD(i, j) * std::fabs(kk) + D(i, j) * gk * KK) + 2.0 * ud * std::fabs(A[at]);
      }
    }
  // |(I + A)^-1|, by forward substitution on the identity's columns.
  std::vector<double> inv(LL, 0.0);
  for (int64_t c = 0; c < L; ++c)
    for (int64_t i = c; i < L; ++i) {
      double x = i == c ? 1.0 : 0.0;
      for (int64_t l = c; l < i; ++l) x -= A[static_cast<size_t>(i * L + l)] * inv[static_cast<size_t>(l * L + c)];
      inv[static_cast<size_t>(i * L + c)] = x;
    }
  std::vector<double> absinv(LL);
  for (size_t i = 0; i < LL; ++i) absinv[i] = std::fabs(inv[i]);
  // Forward substitution x_i = r_i - sum_{l<i} A_il x_l of one right-hand side (r given with its
  // error dr): the computed x solves a system perturbed row by row by gamma_{i+1} of (|r_i| +
  // sum_l |A_il x_l|), plus |dA| |x| and dr, each carried to x through |(I + A)^-1|.
  std::vector<double> y(static_cast<size_t>(L));
  auto solve = [&](std::vector<double>& x, std::vector<double>& dx) {
    for (int64_t i = 0; i < L; ++i) {
      double r = x[static_cast<size_t>(i)], mag = std::fabs(r), err = dx[static_cast<size_t>(i)];
      for (int64_t l = 0; l < i; ++l) {
        const size_t at = static_cast<size_t>(i * L + l);
        r -= A[at] * x[static_cast<size_t>(l)];
        mag += std::fabs(A[at] * x[static_cast<size_t>(l)]);
        err += dA[at] * std::fabs(x[static_cast<size_t>(l)]);
      }
      x[static_cast<size_t>(i)] = r;
      y[static_cast<size_t>(i)] = err + s.gamma(static_cast<double>(i + 1)) * mag;
    }
    for (int64_t i = 0; i < L; ++i) {
      double e = 0.0;
      for (int64_t l = 0; l <= i; ++l) e += absinv[static_cast<size_t>(i * L + l)] * y[static_cast<size_t>(l)];
      dx[static_cast<size_t>(i)] = e;
    }
  };
  // Ut = (I + A)^-1 beta V (rhs beta v, one rounding) and W = (I + A)^-1 beta exp(G) K (rhs
  // RN(RN(beta exp(G_i)) k): two roundings and the decay's error).
  std::vector<double> Ut(static_cast<size_t>(L * Dv)), dUt(Ut.size()), W(static_cast<size_t>(L * Dk)), dW(W.size());
  std::vector<double> x(static_cast<size_t>(L)), dx(x.size());
  for (int64_t j = 0; j < Dv; ++j) {
    for (int64_t i = 0; i < L; ++i) {
      const double r = b[static_cast<size_t>(i)] * v[static_cast<size_t>(i)][j];
      x[static_cast<size_t>(i)] = r, dx[static_cast<size_t>(i)] = ud * std::fabs(r);
    }
    solve(x, dx);
    for (int64_t i = 0; i < L; ++i)
      Ut[static_cast<size_t>(i * Dv + j)] = x[static_cast<size_t>(i)], dUt[static_cast<size_t>(i * Dv + j)] = dx[static_cast<size_t>(i)];
  }
  for (int64_t d = 0; d < Dk; ++d) {
    for (int64_t i = 0; i < L; ++i) {
      const double bi = b[static_cast<size_t>(i)], kd = kn[static_cast<size_t>(i * Dk + d)];
      const double r = bi * D(i, -1) * kd;
      x[static_cast<size_t>(i)] = r;
      dx[static_cast<size_t>(i)] = std::fabs(bi) * dD(i, -1) * std::fabs(kd) + 2.0 * ud * std::fabs(r);
    }
    solve(x, dx);
    for (int64_t i = 0; i < L; ++i)
      W[static_cast<size_t>(i * Dk + d)] = x[static_cast<size_t>(i)], dW[static_cast<size_t>(i * Dk + d)] = dx[static_cast<size_t>(i)];
  }
  // Per state column: U = Ut - W S, o and the next state, with their errors.
  const double gk2 = s.gamma(static_cast<double>(Dk + 2)), gl2 = s.gamma(static_cast<double>(L + 2));
  std::vector<double> U(static_cast<size_t>(L)), dU(U.size()), dS(static_cast<size_t>(Dk));
  for (int64_t j = 0; j < Dv; ++j) {
    for (int64_t i = 0; i < L; ++i) {
      double ws = 0, mag = 0, err = 0, inter = 0, INTER = 0;
      for (int64_t d = 0; d < Dk; ++d) {
        const double sd = S[static_cast<size_t>(d * Dv + j)], w = W[static_cast<size_t>(i * Dk + d)];
        ws += w * sd, mag += std::fabs(w * sd), err += dW[static_cast<size_t>(i * Dk + d)] * std::fabs(sd);
        const double qv = qs[static_cast<size_t>(i * Dk + d)] * sd;
        inter += qv, INTER += std::fabs(qv);
      }
      const double u = Ut[static_cast<size_t>(i * Dv + j)] - ws;
      U[static_cast<size_t>(i)] = u;
      dU[static_cast<size_t>(i)] = dUt[static_cast<size_t>(i * Dv + j)] + gk * mag + err + ud * std::fabs(u);
      // o_i = RN(RN(exp(G_i) inter) + intra), intra = sum_{s<=i} P_is U_s.
      double intra_mag = 0, intra_err = 0;
      for (int64_t t = 0; t <= i; ++t) {
        const size_t at = static_cast<size_t>(i * L + t);
        intra_mag += std::fabs(P[at] * U[static_cast<size_t>(t)]);
        intra_err += dP[at] * std::fabs(U[static_cast<size_t>(t)]) + std::fabs(P[at]) * dU[static_cast<size_t>(t)];
      }
      alg_o[static_cast<size_t>(i * Dv + j)] = dD(i, -1) * std::fabs(inter) + gk2 * D(i, -1) * INTER +
                                               s.gamma(static_cast<double>(i + 2)) * intra_mag + intra_err;
    }
    // S' = RN(RN(exp(G_last) S) + sum_s RN(RN(exp(G_last - G_s) k_s) U_s)).
    for (int64_t d = 0; d < Dk; ++d) {
      const double sd = std::fabs(S[static_cast<size_t>(d * Dv + j)]);
      double mag = D(L - 1, -1) * sd, err = dD(L - 1, -1) * sd;
      for (int64_t t = 0; t < L; ++t) {
        const double kd = std::fabs(kn[static_cast<size_t>(t * Dk + d)]);
        mag += D(L - 1, t) * kd * std::fabs(U[static_cast<size_t>(t)]);
        err += dD(L - 1, t) * kd * std::fabs(U[static_cast<size_t>(t)]) + D(L - 1, t) * kd * dU[static_cast<size_t>(t)];
      }
      dS[static_cast<size_t>(d)] = err + gl2 * mag;
    }
    alg_s[static_cast<size_t>(j)] = norm(dS.data(), Dk);
  }
}

// The exact l2norm of one head (the operation's 1e-6, as the fp32 constant both sides use), times mul.
void unit_head(const float* x, int64_t n, bool l2norm, double mul, double* out) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const double den = l2norm ? std::sqrt(ss + static_cast<double>(1e-6f)) : 1.0;
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<double>(x[i]) / den * mul;
}

} // namespace

DeltaNetBound deltanet_bound(const float* q, const float* k, const float* v, const float* g,
                             const float* beta, const float* h0, const int64_t* cu_seqlens,
                             int64_t n_seqs, const ref::DeltaNetDims& d, float scale, bool l2norm,
                             DeltaNetForm form) {
  const int64_t Dk = d.Dk, Dv = d.Dv, group = d.HV / d.H, S = Dk * Dv;
  const bool chunked = form == DeltaNetForm::Chunked;
  DeltaNetBound b;
  const size_t n_o = static_cast<size_t>(d.B * d.T * d.HV * Dv), n_h = static_cast<size_t>(n_seqs * d.HV * S);
  b.o.assign(n_o, 0.0), b.o_dev.assign(n_o, 0.0), b.o_exact.assign(n_o, 0.0);
  b.ht.assign(n_h, 0.0), b.ht_dev.assign(n_h, 0.0), b.ht_exact.assign(n_h, 0.0);
  // The l2norm's relative error on each element of k (sum of squares gamma_{Dk+1}, halved by the
  // square root; then the root and the division) and of q (one more rounding: the scale).
  auto eps_k = [&](const Side& s) { return l2norm ? s.gamma(static_cast<double>(Dk + 1)) / 2.0 + s.norm_rel : 0.0; };
  const double ek[2] = {eps_k(kRef), eps_k(kDev)}, eq[2] = {ek[0] + kRef.unit, ek[1] + kDev.unit};
  const double gk[2] = {kRef.gamma(static_cast<double>(Dk)), kDev.gamma(static_cast<double>(Dk))};
  const Side* sides[2] = {&kRef, &kDev};
  const double tau = 4.0 * static_cast<double>(Dk + 4) * kTiny;

  std::vector<double> h(static_cast<size_t>(S)), kn(static_cast<size_t>(Dk)), qn(static_cast<size_t>(Dk));
  std::vector<double> E[2] = {std::vector<double>(static_cast<size_t>(Dv)), std::vector<double>(static_cast<size_t>(Dv))};
  // The current chunk (chunked form): its tokens' exact inputs and the WY errors.
  std::vector<double> ck, cq, cg, cb, alg_o, alg_s(static_cast<size_t>(Dv));
  std::vector<const float*> cv;
  for (int64_t n = 0; n < n_seqs; ++n) {
    const int64_t begin = cu_seqlens ? cu_seqlens[n] : n * d.T, end = cu_seqlens ? cu_seqlens[n + 1] : (n + 1) * d.T;
    for (int64_t hv = 0; hv < d.HV; ++hv) {
      const int64_t hk = hv / group;
      const float* init = h0 ? h0 + (n * d.HV + hv) * S : nullptr;
      for (int64_t i = 0; i < S; ++i) h[static_cast<size_t>(i)] = init ? static_cast<double>(init[i]) : 0.0;
      std::fill(E[0].begin(), E[0].end(), 0.0);
      std::fill(E[1].begin(), E[1].end(), 0.0);
      for (int64_t tok = begin; tok < end; ++tok) {
        const int64_t gi = tok * d.HV + hv;
        const float* vt = v + gi * Dv;
        // A chunk starts: its WY errors from the exact state here.
        const int64_t in_chunk = (tok - begin) % kChunk;
        if (chunked && in_chunk == 0) {
          const int64_t L = std::min(kChunk, end - tok);
          ck.assign(static_cast<size_t>(L * Dk), 0.0), cq.assign(ck.size(), 0.0);
          cg.assign(static_cast<size_t>(L), 0.0), cb.assign(cg.size(), 0.0), cv.assign(cg.size(), nullptr);
          for (int64_t i = 0; i < L; ++i) {
            const int64_t t = tok + i, at = (t * d.H + hk) * Dk;
            unit_head(k + at, Dk, l2norm, 1.0, &ck[static_cast<size_t>(i * Dk)]);
            unit_head(q + at, Dk, l2norm, static_cast<double>(scale), &cq[static_cast<size_t>(i * Dk)]);
            cg[static_cast<size_t>(i)] = g[t * d.HV + hv], cb[static_cast<size_t>(i)] = beta[t * d.HV + hv];
            cv[static_cast<size_t>(i)] = v + (t * d.HV + hv) * Dv;
          }
          alg_o.assign(static_cast<size_t>(L * Dv), 0.0);
          chunk_errors(h, ck, cq, cg, cb, cv, L, Dk, Dv, alg_o, alg_s);
        }
        const int64_t at = (tok * d.H + hk) * Dk;
        unit_head(k + at, Dk, l2norm, 1.0, kn.data());
        unit_head(q + at, Dk, l2norm, static_cast<double>(scale), qn.data());
        const double dec = std::exp(static_cast<double>(g[gi])), bt = beta[gi], ab = std::fabs(bt);
        const double k2 = [&] { double s = 0; for (double x : kn) s += x * x; return s; }();
        const double knorm = std::sqrt(k2), qnorm = norm(qn.data(), Dk);
        const double rho = std::max(1.0, std::fabs(1.0 - bt * k2));
        for (int64_t j = 0; j < Dv; ++j) {
          double* col = h.data() + j;
          const double hnorm = norm(col, Dk, Dv);
          double kh = 0, KH = 0;
          for (int64_t i = 0; i < Dk; ++i) {
            col[i * Dv] *= dec;
            kh += col[i * Dv] * kn[static_cast<size_t>(i)];
            KH += std::fabs(col[i * Dv] * kn[static_cast<size_t>(i)]);
          }
          const double w = static_cast<double>(vt[j]) - kh, u = bt * w;
          double o = 0, QH = 0, hn2 = 0;
          for (int64_t i = 0; i < Dk; ++i) {
            col[i * Dv] += kn[static_cast<size_t>(i)] * u;
            o += qn[static_cast<size_t>(i)] * col[i * Dv];
            QH += std::fabs(qn[static_cast<size_t>(i)] * col[i * Dv]);
            hn2 += col[i * Dv] * col[i * Dv];
          }
          const double hnn = std::sqrt(hn2);
          const size_t oi = static_cast<size_t>(gi * Dv + j);
          b.o_exact[oi] = o;
          double ob[2];
          for (int side = 0; side < 2; ++side) {
            const Side& s = *sides[side];
            const bool wy = chunked && side == 1; // the chunk's own errors replace the rounding terms
            const double dec_local = wy ? 0.0 : (s.exp_rel + s.unit) * dec * hnorm;
            const double round_local =
                wy ? 0.0 : knorm * (ab * (gk[side] * KH + s.unit * std::fabs(w)) + 2.0 * s.unit * std::fabs(u)) + s.unit * hnn;
            const double input_local = ek[side] * knorm * (std::fabs(u) + ab * knorm * dec * hnorm);
            double& e = E[side][static_cast<size_t>(j)];
            e = rho * (dec * e + dec_local) + round_local + input_local + tau;
            ob[side] = qnorm * e + ((wy ? 0.0 : gk[side]) + eq[side]) * QH + tau;
            if (wy) ob[side] += alg_o[static_cast<size_t>(in_chunk * Dv + j)];
          }
          b.o_dev[oi] = 1.01 * ob[1];
          b.o[oi] = 1.01 * (ob[0] + ob[1]);
        }
        // The chunk ends: its state update's errors join the device's budget.
        if (chunked && (in_chunk == kChunk - 1 || tok == end - 1))
          for (int64_t j = 0; j < Dv; ++j) E[1][static_cast<size_t>(j)] += alg_s[static_cast<size_t>(j)];
      }
      const size_t base = static_cast<size_t>((n * d.HV + hv) * S);
      for (int64_t i = 0; i < S; ++i) {
        const size_t j = static_cast<size_t>(i % Dv);
        b.ht_exact[base + static_cast<size_t>(i)] = h[static_cast<size_t>(i)];
        b.ht_dev[base + static_cast<size_t>(i)] = 1.01 * E[1][j];
        b.ht[base + static_cast<size_t>(i)] = 1.01 * (E[0][j] + E[1][j]);
      }
    }
  }
  return b;
}

} // namespace tessera::conformance
