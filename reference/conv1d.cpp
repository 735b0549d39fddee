#include "conv1d.h"

#include <vector>

#include "activations.h"
#include "formats.h"

namespace tessera::ref {

void conv1d(const float* x, const float* w, const float* bias, const float* state, int64_t B,
            int64_t T, int64_t C, int64_t W, float* y, float* state_out) {
  // No channel or no batch: y and state_out are empty and there is nothing to read. Returning here
  // also keeps the buffer below from sizing itself by extents of an empty tensor (W - 1 + T can
  // be 2^62 when C is 0).
  if (B == 0 || C == 0) return;
  const int64_t keep = W - 1;
  // One channel's whole input history, state then x: output t reads ext[t .. t + W - 1] and the
  // new state is its tail, with no special case for T < W - 1.
  std::vector<float> ext(static_cast<size_t>(keep + T));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t i = 0; i < keep; ++i) ext[i] = state ? state[(b * C + c) * keep + i] : 0.0f;
      for (int64_t t = 0; t < T; ++t) ext[keep + t] = x[(b * T + t) * C + c];
      for (int64_t t = 0; t < T; ++t) {
        float acc = 0.0f;
        for (int64_t j = 0; j < W; ++j) acc = acc + w[c * W + j] * ext[t + j];
        // bias + sum, as the spec writes it: the bias is added once, after the taps.
        float z = bias ? bias[c] + acc : acc;
        y[(b * T + t) * C + c] = canonicalize_nan(silu(z));
      }
      for (int64_t i = 0; i < keep; ++i)
        state_out[(b * C + c) * keep + i] = canonicalize_nan(ext[T + i]);
    }
}

} // namespace tessera::ref
