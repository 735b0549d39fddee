// GEMMs of numerics.md section 4, "TN": A [M, K] and B [N, K] with K contiguous,
// C [M, N] = A * B^T row-major. The sums are exact integers, so the result does not depend on
// the order of accumulation; the reference adds in plain index order for readability.
#pragma once

#include <cstdint>

namespace tessera::ref {

enum class OutType { F32, BF16, F16 };

// Final step shared by every GEMM: c = RN(c + bias[n]) when there is a bias, canonical NaN,
// then RN to the output type. Writes element `index` of `out`.
void gemm_store(float c, const float* bias, int64_t n, OutType type, void* out, int64_t index);

// Exact W4A4 sum over one 16-element block: P = sum J_a * J_b (|P| <= 2304).
// a8, b8: 8 packed bytes each.
int32_t nvfp4_block_dot(const uint8_t* a8, const uint8_t* b8);

// S(m, n) = sum over kb of P * I(sa) * I(sb), over the blocks [kb_begin, kb_end). `nan` is set
// when a scale byte it touches is NaN. Exposed so tests can split K and permute blocks.
int64_t nvfp4_dot_exact(const uint8_t* a_row, const uint8_t* sa_row, const uint8_t* b_row,
                        const uint8_t* sb_row, int64_t kb_begin, int64_t kb_end, bool* nan);

// a [M, K/2] packed E2M1, sa [M, K/16] E4M3; b, sb likewise with N. K % 16 == 0, K <= 65536.
// c = RN(RN(f32(S) * 2^-20) * alpha), then gemm_store.
void gemm_nvfp4(const uint8_t* a, const uint8_t* sa, const uint8_t* b, const uint8_t* sb,
                int64_t M, int64_t N, int64_t K, float alpha, const float* bias, OutType type,
                void* c);

// Exact E4M3 dot product over k in [k_begin, k_end): sum I(a) * I(b). `nan` set on a NaN code.
int64_t fp8_dot_exact(const uint8_t* a_row, const uint8_t* b_row, int64_t k_begin, int64_t k_end,
                      bool* nan);

// Per-tensor scales: c = RN(RN(f32(S) * 2^-18) * alpha), then gemm_store.
void gemm_fp8(const uint8_t* a, const uint8_t* b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* bias, OutType type, void* c);

// Block-scaled: sa [M, ceil(K/128)], sb [ceil(N/128), ceil(K/128)] fp32. For kb ascending:
// p = RN(f32(S_kb) * 2^-18); acc = RN(acc + RN(RN(p * sa) * sb)); then gemm_store.
void gemm_fp8_block(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb,
                    int64_t M, int64_t N, int64_t K, const float* bias, OutType type, void* c);

} // namespace tessera::ref
