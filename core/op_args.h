// Validated arguments of each operation as every backend receives them: host arrays, fp32 where
// the operation computes in fp32 (bf16/fp16 inputs are widened exactly before this point).
// The CPU reference, the OpenCL and the Vulkan backends each implement one `run` per struct.
#pragma once

#include <cstdint>
#include <optional>

#include "reference/attention.h"
#include "reference/deltanet.h"
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
  // b in the "gemv_kblock_interleaved" layout of tessera/weights.h (set only by the prepacked
  // call, for the one variant that reads it: gemv_splitk_exact on opencl and vulkan).
  bool b_kblock_interleaved = false;
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

// GEMMs with the activation quantized in front (tessera::gemm_nvfp4_act, gemm_fp8_act):
// x is quantized as quantize_nvfp4 / quantize_fp8 token128 would, then multiplied as gemm_nvfp4
// / gemm_fp8_block would (host/src/gemm_act.h).
struct GemmNvfp4ActArgs {
  const float* x;            // [M, K] fp32 (widened), finite; K % 16 == 0
  std::optional<float> static_a_scale_2; // the checkpoint's input_scale; empty: from amax
  const uint8_t* b;          // [N, K/2]
  const uint8_t* b_scale;    // [N, K/16] E4M3
  float b_scale_2;
  int64_t M, N, K;
  const float* bias;         // [N] or null
  ref::OutType out;
  void* c;
  float* a_scale_2;          // out: the activation scale_2 used
};

struct GemmFp8ActArgs {
  const float* x;        // [M, K] fp32, finite
  const uint8_t* b;      // [N, K] E4M3
  const float* b_scale;  // [ceil(N/128), ceil(K/128)]
  int64_t M, N, K;
  const float* bias;
  ref::OutType out;
  void* c;
};

// Gated DeltaNet (numerics.md section 5), validated: q, k, v widened to fp32; g and beta given or
// derived on the host by the fused gating (ref::deltanet_gating); scale resolved. o and ht are
// fp32 host buffers the caller stores afterwards (they never alias the inputs).
struct DeltaNetRunArgs {
  const float* q;          // [B, T, H, Dk]
  const float* k;          // [B, T, H, Dk]
  const float* v;          // [B, T, HV, Dv]
  const float* g;          // [B, T, HV]
  const float* beta;       // [B, T, HV]
  const float* h0;         // [n_seqs, HV, Dk, Dv] or null (zeros)
  const int64_t* cu_seqlens; // [n_seqs + 1] (B == 1) or null (n_seqs == B)
  int64_t n_seqs;
  ref::DeltaNetDims d;
  float scale;
  bool l2norm;
  float* o;  // [B, T, HV, Dv]
  float* ht; // [n_seqs, HV, Dk, Dv]
};

// Causal depthwise conv1d + SiLU (numerics.md section 5), validated, fp32 host buffers.
struct Conv1dRunArgs {
  const float* x;     // [B, T, C]
  const float* w;     // [C, W]
  const float* bias;  // [C] or null
  const float* state; // [B, C, W - 1] or null (zeros)
  int64_t B, T, C, W;
  float* y;           // [B, T, C]
  float* state_out;   // [B, C, W - 1]
};

// Gated attention (numerics.md section 6), validated. K and V arrive as stored (fp32, bf16, fp16
// or E4M3 bytes) so a device kernel can read the cache at its own width; value = RN(e4m3 * scale)
// for E4M3, exact widening otherwise (k_scale = v_scale = 1 then).
struct AttentionRunArgs {
  const float* q;    // [B, T, Hq, D]
  const void* k;     // [B, S, Hkv, D] in k_dtype
  const void* v;     // [B, S, Hkv, D] in v_dtype
  DType k_dtype, v_dtype; // each F32, BF16, F16 or F8_E4M3
  float k_scale, v_scale;
  const float* gate; // [B, T, Hq, D] or null
  const int64_t* cu_q; // [n_seqs + 1] or null (n_seqs == B); with cu_k
  const int64_t* cu_k;
  int64_t n_seqs;
  ref::AttentionDims d;
  bool causal;
  float scale;
  float* o;   // [B, T, Hq, D]
  float* lse; // [B, T, Hq] or null
};

} // namespace tessera::detail
