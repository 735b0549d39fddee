// Quantization recipes of numerics.md section 3 and their dequantizers, on fp32 rows.
// Preconditions (checked by the API layer, not here): x finite, cols % 16 == 0 for NVFP4,
// scale_2 finite and > 0 when given statically.
#pragma once

#include <cstdint>

namespace tessera::ref {

// scale_2 of the dynamic recipes: RN(amax / 2688) for nvfp4, RN(amax / 1536) for 4over6;
// 1.0 when amax == 0.
float nvfp4_scale_2(const float* x, int64_t n, bool four_over_six);

// x [rows, cols] -> q [rows, cols/2] (packed E2M1), scale [rows, cols/16] (E4M3 codes).
void quantize_nvfp4(const float* x, int64_t rows, int64_t cols, float scale_2, uint8_t* q,
                    uint8_t* scale);
void quantize_nvfp4_4over6(const float* x, int64_t rows, int64_t cols, float scale_2, uint8_t* q,
                           uint8_t* scale);

// One block of 16 with a given divisor (6 for nvfp4, 6 or 4 for the 4over6 candidates):
// writes 16 E2M1 codes (one per byte) and returns the E4M3 scale code.
uint8_t quantize_nvfp4_block(const float* x16, float scale_2, float divisor, uint8_t* codes16);
// Sum over the block, in index order, of RN((x_i - deq_i)^2) with RN adds.
float nvfp4_block_error(const float* x16, const uint8_t* codes16, uint8_t scale, float scale_2);

// y [rows, cols] = RN(RN(e2m1(q) * f32(scale)) * scale_2).
void dequantize_nvfp4(const uint8_t* q, const uint8_t* scale, float scale_2, int64_t rows,
                      int64_t cols, float* y);

enum class Fp8Grouping { Tensor, Token128, Block128 };

// Number of scales for a grouping: 1, rows * ceil(cols/128), ceil(rows/128) * ceil(cols/128).
int64_t fp8_scale_count(Fp8Grouping g, int64_t rows, int64_t cols);
// x [rows, cols] -> q [rows, cols] E4M3 codes, scales as above (fp32).
void quantize_fp8(const float* x, int64_t rows, int64_t cols, Fp8Grouping g, uint8_t* q,
                  float* scales);
// y = RN(e4m3(q) * scale of its group).
void dequantize_fp8(const uint8_t* q, const float* scales, int64_t rows, int64_t cols,
                    Fp8Grouping g, float* y);

} // namespace tessera::ref
