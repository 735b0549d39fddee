/* The C ABI between kbench and an optional baseline plugin (libkbench_cublas.so). kbench
 * dlopens the plugin only if the file sits next to its own binary, so kbench builds and runs
 * without CUDA. Every function is safe to call when no GPU is present: it reports why. */
#ifndef TESSERA_KBENCH_PLUGIN_H
#define TESSERA_KBENCH_PLUGIN_H

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this ABI; kbench refuses a plugin that answers anything else. */
#define KBENCH_PLUGIN_ABI 1
int kbench_plugin_abi(void);

/* The device the plugin times on ("NVIDIA H100 80GB HBM3 (sm_90)"), or NULL when it has none;
 * kbench_plugin_error() then says why. */
const char* kbench_plugin_device(void);

/* Times C[M, N] = A[M, K] B[N, K]^T with dtype "bf16" (BF16 in, BF16 out) or "fp8" (E4M3 in,
 * BF16 out), FP32 accumulation, through cuBLASLt. On success returns 0 and stores the median
 * time of one GEMM in ms and the relative standard deviation of the samples in percent. */
int kbench_plugin_gemm(const char* dtype, int M, int N, int K, double* median_ms,
                       double* noise_pct);

/* Why the last call failed, in one line. */
const char* kbench_plugin_error(void);

#ifdef __cplusplus
}
#endif

#endif
