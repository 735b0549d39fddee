// The operations of numerics.md, typed, on caller-owned views. Every function validates all of
// its arguments (dtype, shape, buffer size, values where the spec refuses some) before it writes
// anything, and throws tessera::Error naming the operation, the argument and what was wrong.
//
// Floating inputs marked "f32/bf16/f16" may be any of the three; they are widened to fp32
// exactly before the operation runs. Outputs marked "f32/bf16/f16" take the type of the view
// the caller passes and are rounded to it with RN at the very end.
#pragma once

#include <optional>

#include "tessera/error.h"
#include "tessera/tensor.h"

namespace tessera {

// The numeric contract a call accepts (docs/numerics.md, "Conformance classes"): any variant
// (the default), exact variants only (equal bytes to the CPU reference), or exact and bounded
// variants whose declared bound is at most RunOptions::max_bound.
enum class Numerics { Any, Exact, Bounded };

// Where to run. The registry picks the variant on that device (or the one `variant` forces);
// when no variant of the device can run the call, the CPU reference does and RunInfo says why.
// An unknown backend, an absent device or a forced variant that cannot run is an Error.
//
// Among the variants that can run, those that have passed the conformance suite on the device's
// class come first; a variant never checked on that class ranks below them, and among such the
// strictest contract first (exact, then the smallest bound), unless `policy.unproven` lets priority
// alone decide. kinfo shows each variant's class and where it has passed.
struct NumericsPolicy {
  // Numerics::Any here defers to TESSERA_OVERRIDE numerics= (exact, bounded:B), else any.
  Numerics numerics = Numerics::Any;
  double max_bound = 0.0; // with Numerics::Bounded
  bool strict = false;    // an Error naming why instead of a fallback to the CPU reference
  bool unproven = false;  // rank by priority alone, proven on this device class or not
};

struct RunOptions {
  std::string backend;         // "cpu", "opencl", "vulkan"; empty: TESSERA_OVERRIDE backend=, else cpu
  int device = 0;
  std::string variant;         // empty: let the registry choose
  NumericsPolicy policy = {};  // strict and unproven also come from TESSERA_OVERRIDE
};

// Device memory a call allocated and the bytes it moved between host and device (RunInfo: one
// call's share; Context::traffic(): every call through a context). All 0 on the CPU reference.
// A host view's bytes cross within the call; a view of a device buffer's do not. OpenCL keeps
// the buffers of finished calls for the next ones: its `allocations` are the buffers that pool
// could not give, 0 for a shape seen before.
struct DeviceTraffic {
  int64_t allocations = 0;
  int64_t bytes_to_device = 0;
  int64_t bytes_from_device = 0;
};

// What ran, and why: filled by every operation when the caller passes one.
struct RunInfo {
  std::string backend;
  std::string device;
  std::string variant;
  std::string reason;
  // Time the device spent in the operation's kernels (OpenCL events, Vulkan timestamps), or
  // -1 where nothing measures it (the CPU reference: time it with a wall clock) or not yet (an
  // OpenCL or Vulkan call left queued, its outputs all in device buffers: Context::sync() gives
  // its time).
  double device_ms = -1.0;
  DeviceTraffic traffic; // this call's allocations and host <-> device bytes
};

// ---- the types of the operations' arguments ------------------------------------------------
enum class Format { E4M3, E5M2, E2M1, BF16, F16 };
enum class Nvfp4Recipe { Nvfp4, FourOverSix };
enum class Fp8Recipe { Tensor, Token128, Block128 };

// Gated DeltaNet (numerics.md section 5).
struct DeltaNetArgs {
  TensorView q, k;                      // f32/bf16/f16 [B, T, H, Dk]
  TensorView v;                         // f32/bf16/f16 [B, T, HV, Dv], HV % H == 0
  std::optional<TensorView> g, beta;    // f32 [B, T, HV]; both, or the gating inputs below
  std::optional<TensorView> a, b;       // f32 [B, T, HV]: raw gate inputs (fused gating)
  std::optional<TensorView> A_log, dt_bias; // f32 [HV]
  std::optional<TensorView> h0;         // f32 [N, HV, Dk, Dv]; N = B, or sequences with cu_seqlens
  std::optional<TensorView> cu_seqlens; // I32/I64 [N + 1], requires B == 1
  std::optional<float> scale;           // default 1 / sqrt(Dk)
  bool l2norm = false;                  // use_qk_l2norm
};

// Gated attention (numerics.md section 6).
struct AttentionArgs {
  TensorView q;                        // f32/bf16/f16 [B, T, Hq, D]
  TensorView k, v;                     // f32/bf16/f16/F8_E4M3 [B, S, Hkv, D], Hq % Hkv == 0
  std::optional<TensorView> gate;      // f32/bf16/f16 [B, T, Hq, D]
  float k_scale = 1.0f, v_scale = 1.0f; // for F8_E4M3 K / V: value = e4m3 * scale
  std::optional<TensorView> cu_seqlens_q, cu_seqlens_k; // I32/I64 [N + 1], both or neither, B == 1
  bool causal = true;
  std::optional<float> scale;          // default 1 / sqrt(D)
};

// ---- the operations: numerics.md sections 1-6, one row each in core/op_table.h -----------------
// Each takes `const RunOptions&` (where to run) and `RunInfo*` (what ran, and why) last.
// ---- generated from core/op_table.h by tools/gen_api.cpp (make api): do not edit ----
// x: F32 [...]. y: the same shape; dtype F8_E4M3, F8_E5M2, U8 (one E2M1 code per byte),
// BF16 or F16, as `to` says.
void convert(const TensorView& x, Format to, const TensorView& y, const RunOptions& = {},
             RunInfo* = nullptr);

// x: F32/BF16/F16 [R, C], C % 16 == 0, all finite. q: U8 [R, C/2]. scale: F8_E4M3
// [R, C/16]. static_scale_2: the checkpoint's input_scale (finite, > 0); absent, scale_2
// is computed. Returns scale_2.
float quantize_nvfp4(const TensorView& x, Nvfp4Recipe recipe, std::optional<float> static_scale_2,
                     const TensorView& q, const TensorView& scale, const RunOptions& = {},
                     RunInfo* = nullptr);

// q: U8 [R, C/2], scale: F8_E4M3 [R, C/16], y: F32 [R, C].
void dequantize_nvfp4(const TensorView& q, const TensorView& scale, float scale_2,
                      const TensorView& y, const RunOptions& = {}, RunInfo* = nullptr);

// x: F32/BF16/F16 [R, C], all finite. q: F8_E4M3 [R, C]. scales: F32 [] (tensor; [1]
// also accepted), [R, ceil(C/128)] (token128), [ceil(R/128), ceil(C/128)] (block128).
void quantize_fp8(const TensorView& x, Fp8Recipe recipe, const TensorView& q,
                  const TensorView& scales, const RunOptions& = {}, RunInfo* = nullptr);

// y: F32 [R, C] = RN(e4m3(q) * the scale of its group); q and scales as quantize_fp8.
void dequantize_fp8(const TensorView& q, const TensorView& scales, Fp8Recipe recipe,
                    const TensorView& y, const RunOptions& = {}, RunInfo* = nullptr);

// C[M, N] = alpha * A[M, K] B[N, K]^T (+ bias). a: U8 [M, K/2], a_scale: F8_E4M3
// [M, K/16]; b, b_scale likewise with N. K % 16 == 0, K <= 65536. alpha carries
// a_scale_2 * b_scale_2. bias: F32 [N]. c: F32/BF16/F16 [M, N].
void gemm_nvfp4(const TensorView& a, const TensorView& a_scale, const TensorView& b,
                const TensorView& b_scale, float alpha, const std::optional<TensorView>& bias,
                const TensorView& c, const RunOptions& = {}, RunInfo* = nullptr);

// a: F8_E4M3 [M, K], b: F8_E4M3 [N, K]; the per-tensor scales folded into alpha. bias:
// F32 [N]. c: F32/BF16/F16 [M, N].
void gemm_fp8(const TensorView& a, const TensorView& b, float alpha,
              const std::optional<TensorView>& bias, const TensorView& c, const RunOptions& = {},
              RunInfo* = nullptr);

// Block-scaled FP8 (by name: gemm_fp8 with block scales). a_scale: F32
// [M, ceil(K/128)], b_scale: F32 [ceil(N/128), ceil(K/128)]; the rest as gemm_fp8.
void gemm_fp8_block(const TensorView& a, const TensorView& a_scale, const TensorView& b,
                    const TensorView& b_scale, const std::optional<TensorView>& bias,
                    const TensorView& c, const RunOptions& = {}, RunInfo* = nullptr);

// gemm_nvfp4 with the activation quantized in front: bit-exact with quantize_nvfp4
// (recipe nvfp4) followed by gemm_nvfp4 with alpha = RN(a_scale_2 * b_scale_2). x:
// F32/BF16/F16 [M, K], finite, K % 16 == 0, K <= 65536. a_scale_2: the static activation
// scale_2 (the checkpoint's input_scale; finite, > 0), or absent for the dynamic one,
// RN(amax(x) / 2688). b, b_scale as gemm_nvfp4; b_scale_2: finite, > 0. Returns the
// activation scale_2 used. On a device the quantized activations never leave it.
float gemm_nvfp4_act(const TensorView& x, std::optional<float> a_scale_2, const TensorView& b,
                     const TensorView& b_scale, float b_scale_2,
                     const std::optional<TensorView>& bias, const TensorView& c,
                     const RunOptions& = {}, RunInfo* = nullptr);

// Bit-exact with quantize_fp8 (recipe fp8-token128: a_scale [M, ceil(K/128)]) followed
// by gemm_fp8_block. x: F32/BF16/F16 [M, K], finite; b: F8_E4M3 [N, K]; b_scale: F32
// [ceil(N/128), ceil(K/128)], finite.
void gemm_fp8_act(const TensorView& x, const TensorView& b, const TensorView& b_scale,
                  const std::optional<TensorView>& bias, const TensorView& c,
                  const RunOptions& = {}, RunInfo* = nullptr);

// Gated DeltaNet (DeltaNetArgs). o: F32/BF16/F16 [B, T, HV, Dv]; ht: F32 [N, HV, Dk, Dv],
// the final state of each sequence.
void deltanet(const DeltaNetArgs& args, const TensorView& o, const TensorView& ht,
              const RunOptions& = {}, RunInfo* = nullptr);

// Causal depthwise convolution with SiLU. x: F32/BF16/F16 [B, T, C], w: F32 [C, W],
// bias: F32 [C], state: F32 [B, C, W - 1] (the previous W - 1 inputs, oldest first;
// zeros when absent). y: F32/BF16/F16 [B, T, C]; state_out: F32 [B, C, W - 1], the last
// W - 1 inputs. state_out may alias state.
void conv1d(const TensorView& x, const TensorView& w, const std::optional<TensorView>& bias,
            const std::optional<TensorView>& state, const TensorView& y,
            const TensorView& state_out, const RunOptions& = {}, RunInfo* = nullptr);

// Gated attention (AttentionArgs). o: F32/BF16/F16 [B, T, Hq, D]. lse (optional): F32
// [B, T, Hq], the natural log of sum_j exp(s_j).
void attention(const AttentionArgs& args, const TensorView& o,
               const std::optional<TensorView>& lse = std::nullopt, const RunOptions& = {},
               RunInfo* = nullptr);
// ---- end of generated code ----

} // namespace tessera
