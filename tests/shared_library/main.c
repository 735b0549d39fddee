/* A C program linked against libtessera.so alone (tests/CMakeLists.txt): on every device found,
 * a GEMM and an attention call whose operands and outputs are device buffers give the bytes of
 * the same calls on host memory, and a bad call is refused with a status. */
#include <stdio.h>
#include <string.h>

#include <tessera/tessera.h>

#define M 3
#define N 5
#define K 64

static int failures = 0;

static void expect(int ok, const char* backend, const char* what) {
  if (!ok) {
    fprintf(stderr, "shared_library_c: %s: FAILED: %s (last error: %s)\n", backend, what, tessera_last_error_message());
    ++failures;
  }
}

/* A rank-2 view (the other shape entries are zero). */
#define TENSOR2(dt, rows, cols, ptr, n) \
  ((tessera_tensor){.dtype = (dt), .ndim = 2, .shape = {(rows), (cols)}, .data = (ptr), .bytes = (n)})

static void run(const char* backend) {
  static uint8_t a[M * K], b[N * K];
  static float want[M * N], got[M * N];
  tessera_context* ctx = NULL;
  tessera_device_buffer *ad = NULL, *bd = NULL, *cd = NULL;
  unsigned seed = 1;
  for (int i = 0; i < M * K; ++i) a[i] = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 24) & 0x6F;
  for (int i = 0; i < N * K; ++i) b[i] = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 24) & 0x6F;
  tessera_tensor ta = TENSOR2(TESSERA_F8_E4M3, M, K, a, sizeof a);
  tessera_tensor tb = TENSOR2(TESSERA_F8_E4M3, N, K, b, sizeof b);
  tessera_tensor tc = TENSOR2(TESSERA_F32, M, N, want, sizeof want);
  expect(tessera_context_create(backend, 0, &ctx) == TESSERA_OK, backend, "context");
  expect(tessera_gemm_fp8(ctx, &ta, &tb, 0.25f, NULL, &tc) == TESSERA_OK, backend, "gemm_fp8 on host memory");
  expect(tessera_device_alloc(ctx, sizeof a, &ad) == TESSERA_OK && tessera_device_alloc(ctx, sizeof b, &bd) == TESSERA_OK &&
             tessera_device_alloc(ctx, sizeof got, &cd) == TESSERA_OK,
         backend, "device_alloc");
  expect(tessera_upload(ctx, ad, 0, a, sizeof a) == TESSERA_OK && tessera_upload(ctx, bd, 0, b, sizeof b) == TESSERA_OK,
         backend, "upload");
  tessera_tensor da = TENSOR2(TESSERA_F8_E4M3, M, K, tessera_device_buffer_address(ad), sizeof a);
  tessera_tensor db = TENSOR2(TESSERA_F8_E4M3, N, K, tessera_device_buffer_address(bd), sizeof b);
  tessera_tensor dc = TENSOR2(TESSERA_F32, M, N, tessera_device_buffer_address(cd), sizeof got);
  expect(tessera_gemm_fp8(ctx, &da, &db, 0.25f, NULL, &dc) == TESSERA_OK, backend, "gemm_fp8 on device buffers");
  expect(tessera_download(ctx, cd, 0, got, sizeof got) == TESSERA_OK, backend, "download");
  expect(memcmp(got, want, sizeof want) == 0, backend, "the same bytes");
  int64_t queued = -1;
  double queued_ms = -1;
  expect(tessera_context_sync(ctx, &queued, &queued_ms) == TESSERA_OK && queued >= 0 && queued_ms >= 0, backend,
         "sync");
  /* A view that runs past its buffer's end (8 bytes in, the same shape) is refused. */
  dc.data = (char*)tessera_device_buffer_address(cd) + 8;
  expect(tessera_gemm_fp8(ctx, &da, &db, 0.25f, NULL, &dc) == TESSERA_SHORT_BUFFER || strcmp(backend, "cpu") == 0,
         backend, "a view past the end is refused");
  tessera_device_buffer_destroy(ad);
  tessera_device_buffer_destroy(bd);
  tessera_device_buffer_destroy(cd);
  tessera_context_destroy(ctx);
}

/* A decode step of attention: one bf16 query token of 2 heads over 9 keys of an E4M3 cache. */
static void attention(const char* backend) {
  enum { S = 9, HQ = 2, D = 16 };
  static uint16_t q[HQ * D], want[HQ * D], got[HQ * D];
  static uint8_t k[S * D], v[S * D];
  for (int i = 0; i < HQ * D; ++i) q[i] = (uint16_t)(0x3C00 + (i * 29) % 97);
  for (int i = 0; i < S * D; ++i) k[i] = (uint8_t)((i * 41 + 3) & 0x6F), v[i] = (uint8_t)((i * 23 + 7) & 0x6F);
  tessera_context* ctx = NULL;
  tessera_device_buffer *qd = NULL, *kd = NULL, *vd = NULL, *od = NULL;
  expect(tessera_context_create(backend, 0, &ctx) == TESSERA_OK, backend, "context");
#define TENSOR4(dt, s1, s2, ptr, n) \
  ((tessera_tensor){.dtype = (dt), .ndim = 4, .shape = {1, (s1), (s2), D}, .data = (ptr), .bytes = (n)})
  tessera_tensor tq = TENSOR4(TESSERA_BF16, 1, HQ, q, sizeof q), tk = TENSOR4(TESSERA_F8_E4M3, S, 1, k, sizeof k);
  tessera_tensor tv = TENSOR4(TESSERA_F8_E4M3, S, 1, v, sizeof v), to = TENSOR4(TESSERA_BF16, 1, HQ, want, sizeof want);
  tessera_attention_args args;
  tessera_attention_args_init(&args);
  args.q = &tq, args.k = &tk, args.v = &tv, args.k_scale = 0.5f, args.v_scale = 0.25f;
  expect(tessera_attention(ctx, &args, &to, NULL) == TESSERA_OK, backend, "attention on host memory");
  expect(tessera_device_alloc(ctx, sizeof q, &qd) == TESSERA_OK && tessera_device_alloc(ctx, sizeof k, &kd) == TESSERA_OK &&
             tessera_device_alloc(ctx, sizeof v, &vd) == TESSERA_OK && tessera_device_alloc(ctx, sizeof got, &od) == TESSERA_OK,
         backend, "device_alloc");
  expect(tessera_upload(ctx, qd, 0, q, sizeof q) == TESSERA_OK && tessera_upload(ctx, kd, 0, k, sizeof k) == TESSERA_OK &&
             tessera_upload(ctx, vd, 0, v, sizeof v) == TESSERA_OK,
         backend, "upload");
  tessera_tensor dq = TENSOR4(TESSERA_BF16, 1, HQ, tessera_device_buffer_address(qd), sizeof q);
  tessera_tensor dk = TENSOR4(TESSERA_F8_E4M3, S, 1, tessera_device_buffer_address(kd), sizeof k);
  tessera_tensor dv = TENSOR4(TESSERA_F8_E4M3, S, 1, tessera_device_buffer_address(vd), sizeof v);
  tessera_tensor dout = TENSOR4(TESSERA_BF16, 1, HQ, tessera_device_buffer_address(od), sizeof got);
#undef TENSOR4
  args.q = &dq, args.k = &dk, args.v = &dv;
  expect(tessera_attention(ctx, &args, &dout, NULL) == TESSERA_OK, backend, "attention on device buffers");
  expect(tessera_download(ctx, od, 0, got, sizeof got) == TESSERA_OK, backend, "download");
  expect(memcmp(got, want, sizeof want) == 0, backend, "the same bytes from attention");
  int nonzero = 0;
  for (int i = 0; i < HQ * D; ++i) nonzero |= want[i] != 0;
  expect(nonzero, backend, "attention gave some non-zero output (else the comparison is vacuous)");
  tessera_device_buffer_destroy(qd);
  tessera_device_buffer_destroy(kd);
  tessera_device_buffer_destroy(vd);
  tessera_device_buffer_destroy(od);
  tessera_context_destroy(ctx);
}

int main(void) {
  const char* backends[] = {"cpu", "opencl", "vulkan"};
  int ran = 0;
  for (int i = 0; i < 3; ++i) {
    int32_t n = 0;
    if (tessera_device_count(backends[i], &n) != TESSERA_OK || n == 0) continue;
    run(backends[i]);
    attention(backends[i]);
    ++ran;
  }
  printf("shared_library_c: %s, %d backends, %d failures\n", tessera_version(), ran, failures);
  return failures == 0 && ran > 0 ? 0 : 1;
}
