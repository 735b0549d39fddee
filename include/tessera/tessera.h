/* Tessera's C API: the operations of tessera/ops.h and tessera/weights.h for C and for other
 * languages through their FFI. Plain C99: no C++ types, every enum value spelled out (they are
 * ABI), two opaque handles (a context, a packed weight).
 *
 * Conventions
 * - Every function that can fail returns a tessera_status; TESSERA_OK is 0. Nothing throws or
 *   aborts across this boundary. On failure tessera_last_error_message() says what was wrong
 *   and where ("quantize_nvfp4: x has 20 columns, not a multiple of 16 (the NVFP4 block)").
 * - A failed call writes nothing: no tensor data, no output parameter.
 * - Tensors are described by tessera_tensor, a non-owning view of caller memory: the caller keeps
 *   the memory alive for the duration of the call and owns it afterwards. Tessera keeps no
 *   pointer to it after the call returns.
 * - An optional tensor is a NULL pointer. An optional scalar is a pointer (NULL: absent) in a
 *   parameter list, and a value with a has_ flag in an argument struct, so that a zeroed struct
 *   means "absent". A required pointer that is NULL is refused with TESSERA_NULL_BUFFER.
 * - Strings are copied into caller buffers (char*, size) truncated to fit and always
 *   NUL-terminated, as snprintf does; a NULL buffer with size 0 skips that string.
 * - Memory: a tensor's data is host memory (device kernels upload and download within the
 *   call) or the address of a tessera_device_buffer of the context's device (every operation
 *   reads and writes those on the device; see "device memory" below).
 * - Threads: a context may be used from several threads at once; tessera_last_error_message and
 *   tessera_last_run are per thread.
 */
#ifndef TESSERA_TESSERA_H
#define TESSERA_TESSERA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One per tessera::ErrorCode (tessera/error.h), plus the two the C boundary adds. */
typedef enum tessera_status {
  TESSERA_OK = 0,
  TESSERA_INVALID_ARGUMENT = 1, /* a parameter or an option out of range, an unknown name */
  TESSERA_SHAPE_MISMATCH = 2,   /* a tensor of the wrong rank or extent */
  TESSERA_DTYPE_MISMATCH = 3,   /* a tensor of the wrong element type */
  TESSERA_NON_FINITE = 4,       /* NaN or inf where the operation refuses them */
  TESSERA_NULL_BUFFER = 5,      /* a NULL pointer where one is required, or a tensor without data */
  TESSERA_SHORT_BUFFER = 6,     /* a tensor whose bytes are fewer than its shape needs */
  TESSERA_MISSING_TENSOR = 7,
  TESSERA_MALFORMED_FILE = 8,
  TESSERA_IO = 9,
  TESSERA_UNSUPPORTED = 10, /* a backend, device or variant that cannot run this */
  TESSERA_OUT_OF_MEMORY = 11,
  TESSERA_INTERNAL = 12, /* an unexpected failure inside the library: a bug, please report */
  TESSERA_STATUS_MAX_ENUM = 0x7fffffff /* keeps every enum of this header 32 bits wide */
} tessera_status;

/* The same order as tessera::DType; sizes 4, 2, 2, 1, 4, 8, 1, 1 bytes. */
typedef enum tessera_dtype {
  TESSERA_F32 = 0,
  TESSERA_F16 = 1,
  TESSERA_BF16 = 2,
  TESSERA_U8 = 3,
  TESSERA_I32 = 4,
  TESSERA_I64 = 5,
  TESSERA_F8_E4M3 = 6,
  TESSERA_F8_E5M2 = 7,
  TESSERA_DTYPE_MAX_ENUM = 0x7fffffff
} tessera_dtype;

/* tessera_convert's target format. E2M1 is one code per byte (U8). */
typedef enum tessera_format {
  TESSERA_FORMAT_E4M3 = 0,
  TESSERA_FORMAT_E5M2 = 1,
  TESSERA_FORMAT_E2M1 = 2,
  TESSERA_FORMAT_BF16 = 3,
  TESSERA_FORMAT_F16 = 4,
  TESSERA_FORMAT_MAX_ENUM = 0x7fffffff
} tessera_format;

typedef enum tessera_nvfp4_recipe {
  TESSERA_NVFP4 = 0,
  TESSERA_NVFP4_4OVER6 = 1,
  TESSERA_NVFP4_RECIPE_MAX_ENUM = 0x7fffffff
} tessera_nvfp4_recipe;

typedef enum tessera_fp8_recipe {
  TESSERA_FP8_TENSOR = 0,
  TESSERA_FP8_TOKEN128 = 1,
  TESSERA_FP8_BLOCK128 = 2,
  TESSERA_FP8_RECIPE_MAX_ENUM = 0x7fffffff
} tessera_fp8_recipe;

#define TESSERA_MAX_DIMS 8

/* A view of caller memory: row-major, innermost dimension last. `bytes` is the size of the
 * buffer behind `data`, so a buffer shorter than the shape claims is refused instead of overrun.
 * ndim is 0 (a scalar) to TESSERA_MAX_DIMS; shape entries past ndim are ignored. `strides` is
 * NULL for packed row-major elements, or ndim strides in elements (DLPack's convention) for a
 * slice of a larger tensor, such as q inside a fused qkv projection: the innermost dimension
 * of stride 1 and each other stride at least the span of the dimensions inside it
 * (tessera::TensorView::strides); `bytes` then covers the view's span. */
typedef struct tessera_tensor {
  tessera_dtype dtype;
  int32_t ndim;
  int64_t shape[TESSERA_MAX_DIMS];
  void* data;
  size_t bytes;
  const int64_t* strides;
} tessera_tensor;

typedef struct tessera_context tessera_context;

/* ---- library, errors, devices -------------------------------------------------------------- */
const char* tessera_version(void);                 /* "0.1.0" */
const char* tessera_status_name(tessera_status s); /* "TESSERA_SHAPE_MISMATCH" */
/* The message of the last failed call on this thread ("" if none); valid until the next failed
 * call on this thread. A successful call does not clear it, as with errno. */
const char* tessera_last_error_message(void);

/* The number of devices of `backend` ("cpu", "opencl", "vulkan"; NULL: the default backend,
 * TESSERA_OVERRIDE's or cpu). 0 for a backend not built in; an unknown name is refused. */
tessera_status tessera_device_count(const char* backend, int32_t* count);

/* Opens device `device` of `backend` (NULL as above). TESSERA_UNSUPPORTED when it is not there. */
tessera_status tessera_context_create(const char* backend, int32_t device, tessera_context** out);
/* As tessera_context_create, with the numeric contract of every call through the context, in
 * TESSERA_OVERRIDE's syntax limited to its policy keys (NULL or "": the default):
 * "numerics=exact", "numerics=bounded:1e-5", "strict=1" (an error instead of a fallback to the
 * CPU reference), "unproven=1" (rank variants by priority even where they have not passed the
 * conformance suite on the device's class); entries separated by ';'. */
tessera_status tessera_context_create_with_policy(const char* backend, int32_t device, const char* policy,
                                                 tessera_context** out);
/* NULL is a no-op, as for free(). The context must not be in use by another thread. */
void tessera_context_destroy(tessera_context* ctx);
/* What the context runs on. Each output may be NULL (size 0) when not wanted. */
tessera_status tessera_context_device(const tessera_context* ctx, char* backend,
                                      size_t backend_size, int32_t* device, char* name,
                                      size_t name_size);
/* What the last operation this thread ran through `ctx` ran on, and why ("" before the first
 * and after a failed one). backend is "cpu" when a device could not run the call and the CPU
 * reference did. */
tessera_status tessera_last_run(const tessera_context* ctx, char* backend, size_t backend_size,
                                char* variant, size_t variant_size, char* reason,
                                size_t reason_size);
/* ---- device memory: tessera::DeviceBuffer ---------------------------------------------------- */
/* Memory on the context's device. A tessera_tensor whose data is tessera_device_buffer_address()
 * (plus a byte offset) is a view of it, which every operation reads and writes on the device
 * (tessera/context.h); the host must not dereference the address. A view of a freed buffer, past its end or of another device is
 * refused. */
typedef struct tessera_device_buffer tessera_device_buffer;
/* `bytes` of zero-filled device memory; *out is set only on success. */
tessera_status tessera_device_alloc(tessera_context* ctx, size_t bytes, tessera_device_buffer** out);
/* NULL is a no-op. Views of the buffer must not be used afterwards (they are refused). */
void tessera_device_buffer_destroy(tessera_device_buffer* b);
/* Engine-owned OpenCL memory (tessera::Context::open_opencl, wrap_opencl, opencl_handles; the
 * void* are cl_context, cl_device_id, cl_command_queue and cl_mem). A context on the engine's
 * cl_context and, optionally (NULL: Tessera makes one), its in-order profiling queue; the device
 * must not have been used by this process before. */
tessera_status tessera_context_create_opencl(void* cl_context, void* cl_device_id, void* cl_command_queue,
                                            tessera_context** out);
/* `bytes` of the engine's cl_mem from `offset` as a device buffer of ctx, without a copy (retained;
 * the engine frees the cl_mem after destroying this and syncing). */
tessera_status tessera_wrap_opencl(tessera_context* ctx, void* cl_mem, size_t offset, size_t bytes,
                                   tessera_device_buffer** out);
/* The cl_context, cl_device_id and cl_command_queue an OpenCL context runs on (each may be NULL),
 * for an engine that allocates its buffers there. */
tessera_status tessera_context_opencl_handles(const tessera_context* ctx, void** cl_context, void** cl_device_id,
                                              void** cl_command_queue);
/* Engine-owned Vulkan memory (tessera::Context::vulkan_handles, wrap_vulkan): the VkInstance,
 * VkPhysicalDevice, VkDevice, compute queue family and VkQueue a Vulkan context runs on (each
 * output may be NULL), and `bytes` of a VkBuffer the engine made on that VkDevice (storage and
 * transfer usage) from `offset` (a multiple of 4) as a device buffer, without a copy. */
tessera_status tessera_context_vulkan_handles(const tessera_context* ctx, void** instance, void** physical_device,
                                              void** device, uint32_t* queue_family, void** queue);
tessera_status tessera_wrap_vulkan(tessera_context* ctx, void* vk_buffer, size_t offset, size_t bytes,
                                   tessera_device_buffer** out);
/* The address views point at (NULL for a NULL buffer), and the bytes allocated. */
void* tessera_device_buffer_address(const tessera_device_buffer* b);
size_t tessera_device_buffer_size(const tessera_device_buffer* b);
/* Blocking copies between host memory and [offset, offset + bytes) of a buffer of ctx's device. */
tessera_status tessera_upload(tessera_context* ctx, tessera_device_buffer* dst, size_t offset, const void* src,
                              size_t bytes);
tessera_status tessera_download(tessera_context* ctx, const tessera_device_buffer* src, size_t offset, void* dst,
                                size_t bytes);
/* Device allocations and bytes moved between host and device by every call through `ctx` that
 * succeeded, from all threads (tessera::Context::traffic). Each output may be NULL. */
tessera_status tessera_context_traffic(const tessera_context* ctx, int64_t* allocations,
                                       int64_t* bytes_to_device, int64_t* bytes_from_device);
/* Waits for the calls queued on ctx's device (on OpenCL and Vulkan, calls whose outputs all stay
 * in device buffers return without waiting for their kernels) and checks them
 * (tessera::Context::sync): their count and device time come back in *calls and *device_ms (each
 * may be NULL). A kernel that failed in one of them is TESSERA_UNSUPPORTED naming its operation;
 * the queue is empty afterwards. */
tessera_status tessera_context_sync(tessera_context* ctx, int64_t* calls, double* device_ms);
/* A point in ctx's device queue after every call enqueued so far (tessera::Context::event): made
 * right after a call, that call's event. tessera_event_done sets *done to 1 once the calls before
 * it finished (0 before; on Vulkan only once something submitted them: a wait, a sync, a host
 * read); tessera_event_wait blocks until then. Neither reports a failed call: the sync does.
 * Every event of a cpu context is done. */
typedef struct tessera_event tessera_event;
tessera_status tessera_context_event(tessera_context* ctx, tessera_event** out);
tessera_status tessera_event_done(const tessera_event* e, int32_t* done);
tessera_status tessera_event_wait(const tessera_event* e);
void tessera_event_destroy(tessera_event* e); /* NULL is a no-op */

/* ---- packed weights: tessera/weights.h ------------------------------------------------------ */
typedef enum tessera_weight_format {
  TESSERA_WEIGHT_NVFP4 = 0,
  TESSERA_WEIGHT_FP8_TENSOR = 1,
  TESSERA_WEIGHT_FP8_BLOCK128 = 2,
  TESSERA_WEIGHT_FORMAT_MAX_ENUM = 0x7fffffff
} tessera_weight_format;

/* How NVFP4 block scales are laid out: row-major [N, K/16], or the 128x4 swizzled tiles of
 * cuBLASLt, CUTLASS, vLLM and FlashInfer. */
typedef enum tessera_scale_layout {
  TESSERA_SCALE_LINEAR = 0,
  TESSERA_SCALE_SWIZZLED_128X4 = 1,
  TESSERA_SCALE_LAYOUT_MAX_ENUM = 0x7fffffff
} tessera_scale_layout;

/* A GEMM weight repacked once for the context's device (tessera::PackedWeight). It owns a copy
 * of the weight's bytes: the tensors it was packed from may be freed. */
typedef struct tessera_packed_weight tessera_packed_weight;

/* b: U8 [N, K/2]; b_scale: F8_E4M3 [N, K/16] (linear) or its swizzled form; scale_2 finite,
 * > 0. M: the rows the GEMMs will be called with (1 = decode), which picks the variant the weight
 * is packed for. layout: NULL or "" for the registry's choice, else a layout name of
 * tessera/weights.h that variant reads ("checkpoint" always). *out is set only on success. */
tessera_status tessera_pack_nvfp4_weight(tessera_context* ctx, const tessera_tensor* b,
                                         const tessera_tensor* b_scale, float scale_2,
                                         tessera_scale_layout scale_layout, int64_t M,
                                         const char* layout, tessera_packed_weight** out);
/* b: F8_E4M3 [N, K]; scales: F32 [] or [1] (per tensor, finite, > 0) or [ceil(N/128),
 * ceil(K/128)] (block128, finite). M and layout as above. */
tessera_status tessera_pack_fp8_weight(tessera_context* ctx, const tessera_tensor* b,
                                       const tessera_tensor* scales, int64_t M, const char* layout,
                                       tessera_packed_weight** out);
/* NULL is a no-op, as for free(). The weight must not be in use by another thread. */
void tessera_packed_weight_destroy(tessera_packed_weight* w);
/* What a packed weight holds: each output may be NULL (size 0) when not wanted. scale: NVFP4
 * scale_2, the FP8 per-tensor scale, 1 for block128. */
tessera_status tessera_packed_weight_describe(const tessera_packed_weight* w,
                                              tessera_weight_format* format, int64_t* N,
                                              int64_t* K, float* scale, char* layout,
                                              size_t layout_size, char* variant,
                                              size_t variant_size);
/* Back to checkpoint layout: b U8 [N, K/2] or F8_E4M3 [N, K]; scales F8_E4M3 [N, K/16] (NVFP4),
 * F32 [] or [1] (FP8 per tensor), F32 [ceil(N/128), ceil(K/128)] (block128). */
tessera_status tessera_unpack_weight(const tessera_packed_weight* w, const tessera_tensor* b,
                                     const tessera_tensor* scales);

/* The 128x4 swizzled block-scale layout, both ways, on the host (no context). linear: U8 or
 * F8_E4M3 [rows, cols]; swizzled: the same dtype, [rows rounded up to 128, cols rounded up to 4]
 * or flat [that many bytes]; padding is written as zero and ignored when read. */
tessera_status tessera_to_swizzled_scales(const tessera_tensor* linear,
                                          const tessera_tensor* swizzled);
tessera_status tessera_from_swizzled_scales(const tessera_tensor* swizzled,
                                            const tessera_tensor* linear);

/* ---- argument structs of the operations ---------------------------------------------------- */
/* Gated DeltaNet (tessera::DeltaNetArgs). Start from tessera_deltanet_args_init. */
typedef struct tessera_deltanet_args {
  const tessera_tensor *q, *k, *v; /* required */
  const tessera_tensor *g, *beta;  /* both, or the fused gating inputs below */
  const tessera_tensor *a, *b, *A_log, *dt_bias;
  const tessera_tensor* h0;         /* NULL: zero initial state */
  const tessera_tensor* cu_seqlens; /* NULL: B independent sequences */
  float scale;                      /* used when has_scale; default 1 / sqrt(Dk) */
  int32_t has_scale;
  int32_t l2norm; /* non-zero: use_qk_l2norm */
} tessera_deltanet_args;
/* Every tensor NULL, default scale, no l2norm. */
tessera_status tessera_deltanet_args_init(tessera_deltanet_args* args);

/* Gated attention (tessera::AttentionArgs). Start from tessera_attention_args_init: its
 * defaults (k_scale = v_scale = 1, causal) are not all zero. */
typedef struct tessera_attention_args {
  const tessera_tensor *q, *k, *v;                   /* required */
  const tessera_tensor* gate;                        /* NULL: no output gate */
  float k_scale, v_scale;                            /* for F8_E4M3 K / V */
  const tessera_tensor *cu_seqlens_q, *cu_seqlens_k; /* both or neither */
  int32_t causal;
  float scale; /* used when has_scale; default 1 / sqrt(D) */
  int32_t has_scale;
} tessera_attention_args;
tessera_status tessera_attention_args_init(tessera_attention_args* args);

/* ---- operations: one per row of core/op_table.h, with the shapes and rules of tessera/ops.h --
 * "Absent" is a NULL pointer. */
/* ---- generated from core/op_table.h by tools/gen_api.cpp (make api): do not edit ---- */
/* x: F32 [...]. y: the same shape; dtype F8_E4M3, F8_E5M2, U8 (one E2M1 code per byte),
 * BF16 or F16, as `to` says. */
tessera_status tessera_convert(tessera_context* ctx, const tessera_tensor* x, tessera_format to,
                               const tessera_tensor* y);

/* x: F32/BF16/F16 [R, C], C % 16 == 0, all finite. q: U8 [R, C/2]. scale: F8_E4M3
 * [R, C/16]. static_scale_2: the checkpoint's input_scale (finite, > 0); absent, scale_2
 * is computed. Returns scale_2.
 * The result comes back in *scale_2, written on success only. */
tessera_status tessera_quantize_nvfp4(tessera_context* ctx, const tessera_tensor* x,
                                      tessera_nvfp4_recipe recipe, const float* static_scale_2,
                                      const tessera_tensor* q, const tessera_tensor* scale,
                                      float* scale_2);

/* q: U8 [R, C/2], scale: F8_E4M3 [R, C/16], y: F32 [R, C]. */
tessera_status tessera_dequantize_nvfp4(tessera_context* ctx, const tessera_tensor* q,
                                        const tessera_tensor* scale, float scale_2,
                                        const tessera_tensor* y);

/* x: F32/BF16/F16 [R, C], all finite. q: F8_E4M3 [R, C]. scales: F32 [] (tensor; [1]
 * also accepted), [R, ceil(C/128)] (token128), [ceil(R/128), ceil(C/128)] (block128). */
tessera_status tessera_quantize_fp8(tessera_context* ctx, const tessera_tensor* x,
                                    tessera_fp8_recipe recipe, const tessera_tensor* q,
                                    const tessera_tensor* scales);

/* y: F32 [R, C] = RN(e4m3(q) * the scale of its group); q and scales as quantize_fp8. */
tessera_status tessera_dequantize_fp8(tessera_context* ctx, const tessera_tensor* q,
                                      const tessera_tensor* scales, tessera_fp8_recipe recipe,
                                      const tessera_tensor* y);

/* C[M, N] = alpha * A[M, K] B[N, K]^T (+ bias). a: U8 [M, K/2], a_scale: F8_E4M3
 * [M, K/16]; b, b_scale likewise with N. K % 16 == 0, K <= 65536. alpha carries
 * a_scale_2 * b_scale_2. bias: F32 [N]. c: F32/BF16/F16 [M, N]. */
tessera_status tessera_gemm_nvfp4(tessera_context* ctx, const tessera_tensor* a,
                                  const tessera_tensor* a_scale, const tessera_tensor* b,
                                  const tessera_tensor* b_scale, float alpha,
                                  const tessera_tensor* bias, const tessera_tensor* c);

/* a: F8_E4M3 [M, K], b: F8_E4M3 [N, K]; the per-tensor scales folded into alpha. bias:
 * F32 [N]. c: F32/BF16/F16 [M, N]. */
tessera_status tessera_gemm_fp8(tessera_context* ctx, const tessera_tensor* a,
                                const tessera_tensor* b, float alpha, const tessera_tensor* bias,
                                const tessera_tensor* c);

/* Block-scaled FP8 (by name: gemm_fp8 with block scales). a_scale: F32
 * [M, ceil(K/128)], b_scale: F32 [ceil(N/128), ceil(K/128)]; the rest as gemm_fp8. */
tessera_status tessera_gemm_fp8_block(tessera_context* ctx, const tessera_tensor* a,
                                      const tessera_tensor* a_scale, const tessera_tensor* b,
                                      const tessera_tensor* b_scale, const tessera_tensor* bias,
                                      const tessera_tensor* c);

/* gemm_nvfp4 with the activation quantized in front: bit-exact with quantize_nvfp4
 * (recipe nvfp4) followed by gemm_nvfp4 with alpha = RN(a_scale_2 * b_scale_2). x:
 * F32/BF16/F16 [M, K], finite, K % 16 == 0, K <= 65536. a_scale_2: the static activation
 * scale_2 (the checkpoint's input_scale; finite, > 0), or absent for the dynamic one,
 * RN(amax(x) / 2688). b, b_scale as gemm_nvfp4; b_scale_2: finite, > 0. Returns the
 * activation scale_2 used. On a device the quantized activations never leave it.
 * The result comes back in *a_scale_2_used, written on success only. */
tessera_status tessera_gemm_nvfp4_act(tessera_context* ctx, const tessera_tensor* x,
                                      const float* a_scale_2, const tessera_tensor* b,
                                      const tessera_tensor* b_scale, float b_scale_2,
                                      const tessera_tensor* bias, const tessera_tensor* c,
                                      float* a_scale_2_used);

/* Bit-exact with quantize_fp8 (recipe fp8-token128: a_scale [M, ceil(K/128)]) followed
 * by gemm_fp8_block. x: F32/BF16/F16 [M, K], finite; b: F8_E4M3 [N, K]; b_scale: F32
 * [ceil(N/128), ceil(K/128)], finite. */
tessera_status tessera_gemm_fp8_act(tessera_context* ctx, const tessera_tensor* x,
                                    const tessera_tensor* b, const tessera_tensor* b_scale,
                                    const tessera_tensor* bias, const tessera_tensor* c);

/* gemm_nvfp4 on a packed NVFP4 weight: alpha = a_scale_2 * the weight's scale. */
tessera_status tessera_gemm_nvfp4_packed(tessera_context* ctx, const tessera_tensor* a,
                                         const tessera_tensor* a_scale,
                                         const tessera_packed_weight* b, float alpha,
                                         const tessera_tensor* bias, const tessera_tensor* c);

/* gemm_fp8 on a packed per-tensor FP8 weight: alpha = a's scale * the weight's scale. */
tessera_status tessera_gemm_fp8_packed(tessera_context* ctx, const tessera_tensor* a,
                                       const tessera_packed_weight* b, float alpha,
                                       const tessera_tensor* bias, const tessera_tensor* c);

/* gemm_fp8_block on a packed block128 FP8 weight; a_scale: F32 [M, ceil(K/128)]. */
tessera_status tessera_gemm_fp8_block_packed(tessera_context* ctx, const tessera_tensor* a,
                                             const tessera_tensor* a_scale,
                                             const tessera_packed_weight* b,
                                             const tessera_tensor* bias, const tessera_tensor* c);

/* Gated DeltaNet (DeltaNetArgs). o: F32/BF16/F16 [B, T, HV, Dv]; ht: F32 [N, HV, Dk, Dv],
 * the final state of each sequence. */
tessera_status tessera_deltanet(tessera_context* ctx, const tessera_deltanet_args* args,
                                const tessera_tensor* o, const tessera_tensor* ht);

/* Causal depthwise convolution with SiLU. x: F32/BF16/F16 [B, T, C], w: F32 [C, W],
 * bias: F32 [C], state: F32 [B, C, W - 1] (the previous W - 1 inputs, oldest first;
 * zeros when absent). y: F32/BF16/F16 [B, T, C]; state_out: F32 [B, C, W - 1], the last
 * W - 1 inputs. state_out may alias state. */
tessera_status tessera_conv1d(tessera_context* ctx, const tessera_tensor* x,
                              const tessera_tensor* w, const tessera_tensor* bias,
                              const tessera_tensor* state, const tessera_tensor* y,
                              const tessera_tensor* state_out);

/* Gated attention (AttentionArgs). o: F32/BF16/F16 [B, T, Hq, D]. lse (optional): F32
 * [B, T, Hq], the natural log of sum_j exp(s_j). */
tessera_status tessera_attention(tessera_context* ctx, const tessera_attention_args* args,
                                 const tessera_tensor* o, const tessera_tensor* lse);
/* ---- end of generated code ---- */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TESSERA_TESSERA_H */