// The comparison every elementwise (mixed) bound uses: attention's and DeltaNet's
// (attention_bound.h, deltanet_bound.h).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace tessera::conformance {

// The largest |got_i - want_i| / bound_i: 0 when every element is equal (infinities included),
// infinity when either side has a NaN or a difference meets a zero bound. <= 1 passes. want is
// a float result (the reference's) or a double one (the exact model a bound is built around).
template <class Want>
double bound_ratio(const float* got, const Want* want, const double* bound, size_t n) {
  double worst = 0.0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(got[i]) || std::isnan(want[i])) return INFINITY;
    if (static_cast<double>(got[i]) == static_cast<double>(want[i])) continue;
    const double diff = std::fabs(static_cast<double>(got[i]) - static_cast<double>(want[i]));
    worst = std::max(worst, bound[i] > 0.0 ? diff / bound[i] : INFINITY);
  }
  return worst;
}

} // namespace tessera::conformance
