#include "quantize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "formats.h"

namespace tessera::ref {

namespace {
constexpr int64_t kBlock = 16;  // NVFP4 elements per E4M3 scale
constexpr int64_t kGroup = 128; // FP8 token / block group width

float absmax(const float* x, int64_t n) {
  float m = 0.0f;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}
} // namespace

float nvfp4_scale_2(const float* x, int64_t n, bool four_over_six) {
  float amax = absmax(x, n);
  if (amax == 0.0f) return 1.0f;
  return amax / (four_over_six ? 1536.0f : 2688.0f);
}

uint8_t quantize_nvfp4_block(const float* x16, float scale_2, float divisor, uint8_t* codes16) {
  float bamax = absmax(x16, kBlock);
  float v = bamax / (divisor * scale_2);
  // ModelOpt (NVFP4QTensor.get_weights_scaling_factor) sets a block scale that is exactly 0 in
  // fp32 to 1.0, before the E4M3 conversion: an all-zero block, and also a non-zero block whose
  // quotient underflows (subnormal values beside a large tensor amax). A quotient that is not 0
  // but below E4M3's smallest subnormal is clamped to 2^-9 instead. bamax == 0 is tested on its
  // own for scale_2 == 0 (numerics.md's literal edge), where v is 0/0 = NaN.
  uint8_t s = 0x38; // 1.0
  if (bamax != 0.0f && v != 0.0f) s = f32_to_e4m3(std::clamp(v, 0x1p-9f, 448.0f));
  float d = e4m3_to_f32(s) * scale_2;
  for (int64_t i = 0; i < kBlock; ++i) codes16[i] = f32_to_e2m1(x16[i] / d);
  return s;
}

float nvfp4_block_error(const float* x16, const uint8_t* codes16, uint8_t scale, float scale_2) {
  float e = 0.0f;
  for (int64_t i = 0; i < kBlock; ++i) {
    float deq = (e2m1_to_f32(codes16[i]) * e4m3_to_f32(scale)) * scale_2;
    float diff = x16[i] - deq;
    e += diff * diff;
  }
  return e;
}

namespace {
void pack_row_block(const uint8_t* codes16, uint8_t* q8) {
  for (int64_t i = 0; i < kBlock / 2; ++i) q8[i] = e2m1_pack(codes16[2 * i], codes16[2 * i + 1]);
}
} // namespace

void quantize_nvfp4(const float* x, int64_t rows, int64_t cols, float scale_2, uint8_t* q,
                    uint8_t* scale) {
  uint8_t codes[kBlock];
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t kb = 0; kb < cols / kBlock; ++kb) {
      const float* xb = x + r * cols + kb * kBlock;
      scale[r * (cols / kBlock) + kb] = quantize_nvfp4_block(xb, scale_2, 6.0f, codes);
      pack_row_block(codes, q + r * (cols / 2) + kb * (kBlock / 2));
    }
}

void quantize_nvfp4_4over6(const float* x, int64_t rows, int64_t cols, float scale_2, uint8_t* q,
                           uint8_t* scale) {
  uint8_t codes_a[kBlock], codes_b[kBlock];
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t kb = 0; kb < cols / kBlock; ++kb) {
      const float* xb = x + r * cols + kb * kBlock;
      uint8_t sa = quantize_nvfp4_block(xb, scale_2, 6.0f, codes_a);
      uint8_t sb = quantize_nvfp4_block(xb, scale_2, 4.0f, codes_b);
      // Four Over Six: scaling the block max to 4 instead of 6 trades range for a finer grid
      // near the max; keep whichever reconstructs the block better (ties keep the 6 candidate).
      bool take_b = nvfp4_block_error(xb, codes_b, sb, scale_2) < nvfp4_block_error(xb, codes_a, sa, scale_2);
      scale[r * (cols / kBlock) + kb] = take_b ? sb : sa;
      pack_row_block(take_b ? codes_b : codes_a, q + r * (cols / 2) + kb * (kBlock / 2));
    }
}

void dequantize_nvfp4(const uint8_t* q, const uint8_t* scale, float scale_2, int64_t rows,
                      int64_t cols, float* y) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      uint8_t code = e2m1_unpack(q[r * (cols / 2) + c / 2], c);
      float s = e4m3_to_f32(scale[r * (cols / kBlock) + c / kBlock]);
      // A NaN scale byte gives NaN; written canonical so every device writes the same bytes.
      y[r * cols + c] = canonicalize_nan((e2m1_to_f32(code) * s) * scale_2);
    }
}

int64_t fp8_scale_count(Fp8Grouping g, int64_t rows, int64_t cols) {
  int64_t cg = (cols + kGroup - 1) / kGroup;
  switch (g) {
  case Fp8Grouping::Tensor: return 1;
  case Fp8Grouping::Token128: return rows * cg;
  case Fp8Grouping::Block128: return ((rows + kGroup - 1) / kGroup) * cg;
  }
  return 0;
}

namespace {
// Index of the scale that element (r, c) uses.
int64_t fp8_scale_index(Fp8Grouping g, int64_t r, int64_t c, int64_t cols) {
  int64_t cg = (cols + kGroup - 1) / kGroup;
  switch (g) {
  case Fp8Grouping::Tensor: return 0;
  case Fp8Grouping::Token128: return r * cg + c / kGroup;
  case Fp8Grouping::Block128: return (r / kGroup) * cg + c / kGroup;
  }
  return 0;
}
} // namespace

void quantize_fp8(const float* x, int64_t rows, int64_t cols, Fp8Grouping g, uint8_t* q,
                  float* scales) {
  int64_t ns = fp8_scale_count(g, rows, cols);
  std::vector<float> amax(static_cast<size_t>(ns), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      float& m = amax[static_cast<size_t>(fp8_scale_index(g, r, c, cols))];
      m = std::max(m, std::fabs(x[r * cols + c]));
    }
  for (int64_t i = 0; i < ns; ++i) {
    float m = amax[static_cast<size_t>(i)];
    if (g == Fp8Grouping::Tensor)
      scales[i] = m == 0.0f ? 1.0f : m / 448.0f;
    else // DeepSeek-V3 floors the group max so an all-zero group still has a usable scale
      scales[i] = std::max(m, 1e-4f) / 448.0f;
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      // canonicalize: 0/0 (a scale that underflowed to 0) must give the same code everywhere.
      q[r * cols + c] = f32_to_e4m3(canonicalize_nan(x[r * cols + c] / scales[fp8_scale_index(g, r, c, cols)]));
}

void dequantize_fp8(const uint8_t* q, const float* scales, int64_t rows, int64_t cols,
                    Fp8Grouping g, float* y) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      y[r * cols + c] = canonicalize_nan(e4m3_to_f32(q[r * cols + c]) * scales[fp8_scale_index(g, r, c, cols)]);
}

} // namespace tessera::ref
