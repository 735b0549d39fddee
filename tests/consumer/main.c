/* An engine in C: open the CPU device, quantize a small matrix to NVFP4 and back, and check
 * that a bad call is refused with a status and a message instead of crashing. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <tessera/tessera.h>

#define ROWS 4
#define COLS 32

static int failures = 0;

static void expect(int ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "consumer_c: FAILED: %s (last error: %s)\n", what,
            tessera_last_error_message());
    ++failures;
  }
}

static tessera_tensor tensor2(tessera_dtype dtype, int64_t rows, int64_t cols, void* data,
                              size_t bytes) {
  tessera_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = dtype;
  t.ndim = 2;
  t.shape[0] = rows;
  t.shape[1] = cols;
  t.data = data;
  t.bytes = bytes;
  return t;
}

int main(void) {
  static float x[ROWS * COLS], y[ROWS * COLS];
  static uint8_t q[ROWS * COLS / 2], scale[ROWS * COLS / 16];
  tessera_tensor tx = tensor2(TESSERA_F32, ROWS, COLS, x, sizeof x);
  tessera_tensor tq = tensor2(TESSERA_U8, ROWS, COLS / 2, q, sizeof q);
  tessera_tensor ts = tensor2(TESSERA_F8_E4M3, ROWS, COLS / 16, scale, sizeof scale);
  tessera_tensor ty = tensor2(TESSERA_F32, ROWS, COLS, y, sizeof y);
  tessera_context* ctx = NULL;
  char device[128], variant[64];
  float scale_2 = 0.0f, err = 0.0f, norm = 0.0f;
  int i;

  for (i = 0; i < ROWS * COLS; ++i)
    x[i] = (float)sin(0.37 * i) * 4.0f;

  printf("tessera %s\n", tessera_version());
  expect(tessera_context_create("cpu", 0, &ctx) == TESSERA_OK && ctx != NULL,
         "create a cpu context");
  if (!ctx) return 1;
  expect(tessera_context_device(ctx, NULL, 0, NULL, device, sizeof device) == TESSERA_OK,
         "name the device");

  expect(tessera_quantize_nvfp4(ctx, &tx, TESSERA_NVFP4, NULL, &tq, &ts, &scale_2) == TESSERA_OK,
         "quantize_nvfp4");
  expect(scale_2 > 0.0f, "scale_2 is positive");
  expect(tessera_last_run(ctx, NULL, 0, variant, sizeof variant, NULL, 0) == TESSERA_OK &&
             variant[0] != '\0',
         "last_run names a variant");
  expect(tessera_dequantize_nvfp4(ctx, &tq, &ts, scale_2, &ty) == TESSERA_OK, "dequantize_nvfp4");
  for (i = 0; i < ROWS * COLS; ++i) {
    err += (y[i] - x[i]) * (y[i] - x[i]);
    norm += x[i] * x[i];
  }
  expect(sqrtf(err / norm) < 0.2f, "NVFP4 round trip is close");
  printf("quantize_nvfp4 on %s (%s): scale_2 = %g, relative error %.4f\n", device, variant, scale_2,
         sqrtf(err / norm));

  /* Deliberately bad: 20 columns are not a multiple of the 16-element NVFP4 block. */
  tx.shape[1] = 20;
  {
    tessera_status s = tessera_quantize_nvfp4(ctx, &tx, TESSERA_NVFP4, NULL, &tq, &ts, &scale_2);
    expect(s == TESSERA_SHAPE_MISMATCH,
           "a 20-column matrix is refused with TESSERA_SHAPE_MISMATCH");
    expect(strstr(tessera_last_error_message(), "multiple of 16") != NULL, "the message says why");
    printf("bad call refused as expected: %s: %s\n", tessera_status_name(s),
           tessera_last_error_message());
  }
  expect(tessera_quantize_nvfp4(NULL, &tx, TESSERA_NVFP4, NULL, &tq, &ts, &scale_2) ==
             TESSERA_NULL_BUFFER,
         "a NULL context is refused");

  tessera_context_destroy(ctx);
  if (failures) return 1;
  printf("consumer_c: ok\n");
  return 0;
}
