#include "gemm.h"

#include <algorithm>
#include <cmath>

#include "formats.h"

namespace tessera::ref {

void gemm_store(float c, const float* bias, int64_t n, OutType type, void* out, int64_t index) {
  if (bias) c = c + bias[n];
  c = canonicalize_nan(c);
  switch (type) {
  case OutType::F32: static_cast<float*>(out)[index] = c; break;
  case OutType::BF16: static_cast<uint16_t*>(out)[index] = f32_to_bf16(c); break;
  case OutType::F16: static_cast<uint16_t*>(out)[index] = f32_to_f16(c); break;
  }
}

int32_t nvfp4_block_dot(const uint8_t* a8, const uint8_t* b8) {
  int32_t p = 0;
  for (int i = 0; i < 16; ++i)
    p += e2m1_to_int(e2m1_unpack(a8[i / 2], i)) * e2m1_to_int(e2m1_unpack(b8[i / 2], i));
  return p;
}

int64_t nvfp4_dot_exact(const uint8_t* a_row, const uint8_t* sa_row, const uint8_t* b_row,
                        const uint8_t* sb_row, int64_t kb_begin, int64_t kb_end, bool* nan) {
  int64_t s = 0;
  for (int64_t kb = kb_begin; kb < kb_end; ++kb) {
    if (e4m3_is_nan(sa_row[kb]) || e4m3_is_nan(sb_row[kb])) {
      *nan = true;
      continue;
    }
    int64_t p = nvfp4_block_dot(a_row + kb * 8, b_row + kb * 8);
    s += p * e4m3_to_int(sa_row[kb]) * e4m3_to_int(sb_row[kb]);
  }
  return s;
}

void gemm_nvfp4(const uint8_t* a, const uint8_t* sa, const uint8_t* b, const uint8_t* sb,
                int64_t M, int64_t N, int64_t K, float alpha, const float* bias, OutType type,
                void* c) {
  int64_t kbs = K / 16;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      bool nan = false;
      int64_t s = nvfp4_dot_exact(a + m * (K / 2), sa + m * kbs, b + n * (K / 2), sb + n * kbs, 0, kbs, &nan);
      // 2^-20 = 2^-2 (two E2M1 halves) * 2^-18 (two E4M3 2^-9 units)
      float v = nan ? canonical_nan() : (static_cast<float>(s) * 0x1p-20f) * alpha;
      gemm_store(v, bias, n, type, c, m * N + n);
    }
}

int64_t fp8_dot_exact(const uint8_t* a_row, const uint8_t* b_row, int64_t k_begin, int64_t k_end,
                      bool* nan) {
  int64_t s = 0;
  for (int64_t k = k_begin; k < k_end; ++k) {
    if (e4m3_is_nan(a_row[k]) || e4m3_is_nan(b_row[k])) {
      *nan = true;
      continue;
    }
    s += static_cast<int64_t>(e4m3_to_int(a_row[k])) * e4m3_to_int(b_row[k]);
  }
  return s;
}

void gemm_fp8(const uint8_t* a, const uint8_t* b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* bias, OutType type, void* c) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      bool nan = false;
      int64_t s = fp8_dot_exact(a + m * K, b + n * K, 0, K, &nan);
      float v = nan ? canonical_nan() : (static_cast<float>(s) * 0x1p-18f) * alpha;
      gemm_store(v, bias, n, type, c, m * N + n);
    }
}

void gemm_fp8_block(const uint8_t* a, const float* sa, const uint8_t* b, const float* sb,
                    int64_t M, int64_t N, int64_t K, const float* bias, OutType type, void* c) {
  int64_t kbs = (K + 127) / 128;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      bool nan = false;
      float acc = 0.0f;
      for (int64_t kb = 0; kb < kbs; ++kb) {
        int64_t k_end = std::min<int64_t>(K, (kb + 1) * 128);
        float p = static_cast<float>(fp8_dot_exact(a + m * K, b + n * K, kb * 128, k_end, &nan)) * 0x1p-18f;
        acc = acc + (p * sa[m * kbs + kb]) * sb[(n / 128) * kbs + kb];
      }
      gemm_store(nan ? canonical_nan() : acc, bias, n, type, c, m * N + n);
    }
}

} // namespace tessera::ref
