// An engine in C++: a Context on the CPU device, buffers from the context, an FP8 round trip,
// and a bad call caught as tessera::Error.
#include <cmath>
#include <cstdio>
#include <optional>

#include <tessera/context.h>

int main() {
  constexpr int64_t rows = 8, cols = 256;
  try {
    std::printf("cpu devices: %d\n", tessera::Context::device_count("cpu"));
    tessera::Context ctx = tessera::Context::open("cpu");
    tessera::Buffer xb = ctx.alloc(rows * cols * sizeof(float)),
                    yb = ctx.alloc(rows * cols * sizeof(float));
    tessera::Buffer qb = ctx.alloc(rows * cols), sb = ctx.alloc(rows * 2 * sizeof(float));
    tessera::TensorView x = ctx.view(xb, tessera::DType::F32, {rows, cols});
    tessera::TensorView y = ctx.view(yb, tessera::DType::F32, {rows, cols});
    tessera::TensorView q = ctx.view(qb, tessera::DType::F8_E4M3, {rows, cols});
    tessera::TensorView s = ctx.view(sb, tessera::DType::F32, {rows, 2});
    for (int64_t i = 0; i < rows * cols; ++i)
      x.as<float>()[i] = static_cast<float>(std::sin(0.11 * i) * 100.0);

    ctx.quantize_fp8(x, tessera::Fp8Recipe::Token128, q, s);
    ctx.dequantize_fp8(q, s, tessera::Fp8Recipe::Token128, y);
    double err = 0, norm = 0;
    for (int64_t i = 0; i < rows * cols; ++i) {
      double d = y.as<float>()[i] - x.as<float>()[i];
      err += d * d;
      norm += double(x.as<float>()[i]) * x.as<float>()[i];
    }
    tessera::RunInfo info = ctx.last_run();
    std::printf("fp8 token128 round trip on %s (%s): relative error %.4f\n",
                ctx.device_name().c_str(), info.variant.c_str(), std::sqrt(err / norm));
    if (!(std::sqrt(err / norm) < 0.1)) return 1;

    try {
      ctx.quantize_fp8(x, tessera::Fp8Recipe::Block128, q, s); // block128 wants [1, 2] scales
      std::fprintf(stderr, "consumer_cpp: a bad call was not refused\n");
      return 1;
    } catch (const tessera::Error& e) {
      std::printf("bad call refused as expected (%s): %s\n", tessera::error_code_name(e.code()),
                  e.what());
      if (e.code() != tessera::ErrorCode::ShapeMismatch) return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer_cpp: %s\n", e.what());
    return 1;
  }
  std::printf("consumer_cpp: ok\n");
  return 0;
}
