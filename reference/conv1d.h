// Causal depthwise conv1d + SiLU of numerics.md section 5 (the Gated DeltaNet block's short
// convolution, W = 4 in the models) on fp32 arrays.
#pragma once

#include <cstdint>

namespace tessera::ref {

// x [B, T, C]; w [C, W] (tap j multiplies the input W - 1 - j steps back); bias [C] or null;
// state [B, C, W - 1] or null (zeros): the W - 1 inputs before x, oldest first.
// y_t[c] = silu(bias[c] + sum_j w[c][j] * x_{t-W+1+j}[c]), the sum in ascending j from 0;
// state_out [B, C, W - 1] = the last W - 1 inputs of (state, x), so with T < W - 1 part of the
// old state survives. W >= 1 (W == 1: the state is empty). state_out may be state and y may be
// x: each channel's inputs are copied before its outputs are written. NaN results are written
// as the canonical NaN.
void conv1d(const float* x, const float* w, const float* bias, const float* state, int64_t B,
            int64_t T, int64_t C, int64_t W, float* y, float* state_out);

} // namespace tessera::ref
