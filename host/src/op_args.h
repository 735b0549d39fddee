// Validated arguments of each operation as every backend receives them: host arrays, fp32 where
// the operation computes in fp32 (bf16/fp16 inputs are widened exactly before this point).
// The CPU reference, the OpenCL and the Vulkan backends each implement one `run` per struct.
#pragma once

#include <cstdint>
#include <optional>

#include "reference/gemm.h"
#include "reference/quantize.h"
#include "tessera/ops.h"

namespace tessera::detail {

struct ConvertArgs {
  const float* x;
  int64_t n;
  Format to;
  void* y; // uint8_t codes (E4M3, E5M2, E2M1 one per byte) or uint16_t (bf16, fp16)
};

struct QuantizeNvfp4Args {
  const float* x; // [rows, cols], cols % 16 == 0
  int64_t rows, cols;
  bool four_over_six;
  std::optional<float> static_scale_2;
  uint8_t* q;       // [rows, cols / 2]
  uint8_t* scale;   // [rows, cols / 16]
  float* scale_2;   // out: the scale_2 used
};

struct DequantizeNvfp4Args {
  const uint8_t* q;
  const uint8_t* scale;
  float scale_2;
  int64_t rows, cols;
  float* y;
};

struct QuantizeFp8Args {
  const float* x;
  int64_t rows, cols;
  ref::Fp8Grouping grouping;
  uint8_t* q;
  float* scales; // ref::fp8_scale_count(grouping, rows, cols) of them
};

struct DequantizeFp8Args {
  const uint8_t* q;
  const float* scales;
  int64_t rows, cols;
  ref::Fp8Grouping grouping;
  float* y;
};

// GEMMs, "TN": A [M, K] and B [N, K] K-contiguous, C [M, N] row-major (numerics.md section 4).
// bias is null or [N]; c is written in `out` (fp32, bf16 or fp16). Validated: K % 16 == 0 and
// K <= 65536 for NVFP4, matching shapes everywhere, alpha finite, block scales finite.
struct GemmNvfp4Args {
  const uint8_t* a;       // [M, K/2] packed E2M1
  const uint8_t* a_scale; // [M, K/16] E4M3
  const uint8_t* b;       // [N, K/2]
  const uint8_t* b_scale; // [N, K/16]
  int64_t M, N, K;
  float alpha;
  const float* bias;
  ref::OutType out;
  void* c;
};

struct GemmFp8Args { // per-tensor scales, folded into alpha
  const uint8_t* a;    // [M, K] E4M3
  const uint8_t* b;    // [N, K] E4M3
  int64_t M, N, K;
  float alpha;
  const float* bias;
  ref::OutType out;
  void* c;
};

struct GemmFp8BlockArgs { // DeepSeek-V3 block scales
  const uint8_t* a;       // [M, K] E4M3
  const float* a_scale;   // [M, ceil(K/128)]
  const uint8_t* b;       // [N, K] E4M3
  const float* b_scale;   // [ceil(N/128), ceil(K/128)]
  int64_t M, N, K;
  const float* bias;
  ref::OutType out;
  void* c;
};

} // namespace tessera::detail
