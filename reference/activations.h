// Scalar functions shared by the sequence operations (numerics.md sections 5 and 6).
#pragma once

#include <cmath>
#include <cstdint>

namespace tessera::ref {

// Transcendentals are RN of the double-precision libm result. fp32 libm functions differ in
// their last bit between libraries (glibc, musl, MSVC, CUDA's expf); the double result rounded
// once is the correctly rounded fp32 value except when it lands within a double ulp of an fp32
// rounding boundary (about 2^-29 of inputs), so the reference means the same thing everywhere.
inline float exp_rn(float x) { return static_cast<float>(std::exp(static_cast<double>(x))); }
inline float log_rn(float x) { return static_cast<float>(std::log(static_cast<double>(x))); }
inline float log1p_rn(float x) { return static_cast<float>(std::log1p(static_cast<double>(x))); }

// 1 / (1 + exp(-x)): exp overflows to inf for x < -88.7 and the result is then exactly 0.
inline float sigmoid(float x) { return 1.0f / (1.0f + exp_rn(-x)); }
// z / (1 + exp(-z)), one division rather than z * sigmoid(z), as the spec writes it.
inline float silu(float z) { return z / (1.0f + exp_rn(-z)); }
// PyTorch's softplus with threshold 20: above it log1p(exp(x)) equals x in fp32 anyway, and
// exp would be needlessly large.
inline float softplus(float x) { return x > 20.0f ? x : log1p_rn(exp_rn(x)); }

// 1 / sqrt(d) rounded once to fp32: what an engine passes when Python computes d ** -0.5 in
// double and hands it to a kernel as a float.
inline float default_scale(int64_t d) {
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
}

} // namespace tessera::ref
