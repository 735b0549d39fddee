// The run() functions of backends.h for the OpenCL backend: upload the host inputs, launch,
// check, and only then read back into the caller's outputs, so an error leaves them untouched.
// A BackendFailure raised while reading back (after every kernel has completed) can leave an
// output partly written; the dispatcher then runs the next variant, which writes all of it.
#include <fmt/format.h>

#include <cmath>

#include "host/src/validate.h"
#include "runtime.h"

namespace tessera::detail::opencl {

namespace {
constexpr cl_ulong kNoIndex = ~cl_ulong{0}; // amax_finalize's "every element finite"

void expect_variant(std::string_view op, std::string_view variant, std::string_view known) {
  if (variant != known)
    throw BackendFailure(
        fmt::format("opencl: {} has no variant '{}' (known: {})", op, variant, known));
}

// The quantizers divide: their kernels are exact only where division is IEEE's.
void expect_exact_divide(const Session& s, std::string_view op) {
  if (!s.facts().correctly_rounded_divide)
    throw BackendFailure(
        fmt::format("opencl: {}: {} has no correctly rounded fp32 division", op, s.facts().name));
}

// The same error, word for word, as the host's check_finite names for the same element.
[[noreturn]] void non_finite(std::string_view op, const float* x, int64_t rows, int64_t cols,
                             cl_ulong index) {
  auto i = static_cast<int64_t>(index);
  float v = x[i];
  detail::fail(ErrorCode::NonFinite,
               "{}: x{} is {} (flat index {}); the quantizers refuse NaN and inf", op,
               index_str({rows, cols}, i), std::isnan(v) ? "NaN" : (v > 0 ? "+inf" : "-inf"), i);
}

size_t bytes(int64_t n, size_t each) { return static_cast<size_t>(n) * each; }

// Launches amax_partial and amax_finalize of `file` over x: scale_out[0] gets fixed (when
// use_fixed), 1.0 for amax == 0, or RN(amax / divisor); bad_out[0] the first non-finite index.
void launch_amax(Session& s, std::string_view file, const Mem& x, int64_t n, float divisor,
                 bool use_fixed, float fixed, const Mem& scale_out, const Mem& bad_out) {
  size_t groups = s.groups_for(static_cast<uint64_t>(n));
  const Mem& part_max = s.scratch(groups * sizeof(cl_uint), "partial maxima");
  const Mem& part_bad = s.scratch(groups * sizeof(cl_ulong), "partial indices");
  s.launch(s.kernel(file, "amax_partial"), "amax_partial", groups, x, static_cast<cl_ulong>(n),
           part_max, part_bad);
  s.launch(s.kernel(file, "amax_finalize"), "amax_finalize", 1, part_max, part_bad,
           static_cast<cl_uint>(groups), static_cast<cl_float>(divisor),
           static_cast<cl_int>(use_fixed), static_cast<cl_float>(fixed), scale_out, bad_out);
}

cl_int grouping_number(ref::Fp8Grouping g) {
  switch (g) {
  case ref::Fp8Grouping::Tensor: return 0;
  case ref::Fp8Grouping::Token128: return 1;
  case ref::Fp8Grouping::Block128: return 2;
  }
  return 0;
}
} // namespace

void run(int device, std::string_view variant, const ConvertArgs& a) {
  constexpr std::string_view op = "convert";
  expect_variant(op, variant, "elementwise");
  // kernels/quant/convert.cl numbers the formats in tessera::Format's order.
  static_assert(static_cast<int>(Format::E4M3) == 0 && static_cast<int>(Format::E5M2) == 1 &&
                static_cast<int>(Format::E2M1) == 2 && static_cast<int>(Format::BF16) == 3 &&
                static_cast<int>(Format::F16) == 4);
  set_last_device_ms(0.0);
  if (a.n == 0) return;
  Session s(device, op);
  bool wide = a.to == Format::BF16 || a.to == Format::F16;
  size_t out_bytes = bytes(a.n, wide ? 2 : 1);
  Mem x = s.upload(a.x, bytes(a.n, 4), "x");
  Mem y = s.alloc(out_bytes, "y");
  const char* name = wide ? "convert_to_u16" : "convert_to_u8";
  s.launch(s.kernel("quant/convert.cl", name), name, s.groups_for(static_cast<uint64_t>(a.n)), x,
           static_cast<cl_ulong>(a.n), static_cast<cl_int>(a.to), y);
  s.finish();
  s.read(y, a.y, out_bytes, "y");
}

void run(int device, std::string_view variant, const QuantizeNvfp4Args& a) {
  constexpr std::string_view op = "quantize_nvfp4";
  constexpr std::string_view file = "quant/nvfp4_quantize.cl";
  expect_variant(op, variant, "block16");
  set_last_device_ms(0.0);
  int64_t n = a.rows * a.cols, nblocks = n / 16;
  if (n == 0) { // the reference's amax of nothing is 0
    *a.scale_2 = a.static_scale_2 ? *a.static_scale_2 : 1.0f;
    return;
  }
  Session s(device, op);
  expect_exact_divide(s, op);
  Mem x = s.upload(a.x, bytes(n, 4), "x");
  Mem scale_2 = s.alloc(sizeof(cl_float), "scale_2");
  Mem bad = s.alloc(sizeof(cl_ulong), "non-finite index");
  Mem q = s.alloc(bytes(n / 2, 1), "q");
  Mem scale = s.alloc(bytes(nblocks, 1), "scale");
  launch_amax(s, file, x, n, a.four_over_six ? 1536.0f : 2688.0f, a.static_scale_2.has_value(),
              a.static_scale_2.value_or(0.0f), scale_2, bad);
  s.launch(s.kernel(file, "nvfp4_quantize_blocks"), "nvfp4_quantize_blocks",
           s.groups_for(static_cast<uint64_t>(nblocks)), x, static_cast<cl_ulong>(nblocks), scale_2,
           static_cast<cl_int>(a.four_over_six), q, scale);
  s.finish();
  cl_ulong first_bad = 0;
  float s2 = 0.0f;
  s.read(bad, &first_bad, sizeof first_bad, "non-finite index");
  if (first_bad != kNoIndex) non_finite(op, a.x, a.rows, a.cols, first_bad);
  s.read(scale_2, &s2, sizeof s2, "scale_2");
  s.read(q, a.q, bytes(n / 2, 1), "q");
  s.read(scale, a.scale, bytes(nblocks, 1), "scale");
  *a.scale_2 = s2;
}

void run(int device, std::string_view variant, const DequantizeNvfp4Args& a) {
  constexpr std::string_view op = "dequantize_nvfp4";
  expect_variant(op, variant, "elementwise");
  set_last_device_ms(0.0);
  int64_t n = a.rows * a.cols;
  if (n == 0) return;
  Session s(device, op);
  Mem q = s.upload(a.q, bytes(n / 2, 1), "q");
  Mem scale = s.upload(a.scale, bytes(n / 16, 1), "scale");
  Mem y = s.alloc(bytes(n, 4), "y");
  s.launch(s.kernel("quant/nvfp4_dequantize.cl", "nvfp4_dequantize"), "nvfp4_dequantize",
           s.groups_for(static_cast<uint64_t>(n)), q, scale, static_cast<cl_float>(a.scale_2),
           static_cast<cl_ulong>(n), y);
  s.finish();
  s.read(y, a.y, bytes(n, 4), "y");
}

void run(int device, std::string_view variant, const QuantizeFp8Args& a) {
  constexpr std::string_view op = "quantize_fp8";
  constexpr std::string_view file = "quant/fp8_quantize.cl";
  expect_variant(op, variant, "group_amax");
  set_last_device_ms(0.0);
  int64_t n = a.rows * a.cols, ns = ref::fp8_scale_count(a.grouping, a.rows, a.cols);
  bool tensor = a.grouping == ref::Fp8Grouping::Tensor;
  if (n == 0) { // nothing to quantize; the per-tensor scale of an all-zero tensor is 1.0
    if (tensor) a.scales[0] = 1.0f;
    return;
  }
  Session s(device, op);
  expect_exact_divide(s, op);
  Mem x = s.upload(a.x, bytes(n, 4), "x");
  Mem scales = s.alloc(bytes(ns, 4), "scales");
  Mem bad = s.alloc(sizeof(cl_ulong), "non-finite index");
  Mem q = s.alloc(bytes(n, 1), "q");
  if (tensor) {
    launch_amax(s, file, x, n, 448.0f, false, 0.0f, scales, bad);
    s.launch(s.kernel(file, "fp8_quantize_tensor"), "fp8_quantize_tensor",
             s.groups_for(static_cast<uint64_t>(n)), x, static_cast<cl_ulong>(n), scales, q);
  } else {
    const Mem& unused = s.scratch(sizeof(cl_float), "tensor scale");
    launch_amax(s, file, x, n, 448.0f, false, 0.0f, unused, bad);
    // One work-group per group; the kernel strides over groups, so the launch can be capped.
    cl_ulong group_rows = a.grouping == ref::Fp8Grouping::Token128 ? 1 : 128;
    size_t groups = s.groups_for(static_cast<uint64_t>(ns) * s.work_group_size());
    s.launch(s.kernel(file, "fp8_quantize_groups"), "fp8_quantize_groups", groups, x,
             static_cast<cl_ulong>(a.rows), static_cast<cl_ulong>(a.cols), group_rows, scales, q);
  }
  s.finish();
  cl_ulong first_bad = 0;
  s.read(bad, &first_bad, sizeof first_bad, "non-finite index");
  if (first_bad != kNoIndex) non_finite(op, a.x, a.rows, a.cols, first_bad);
  s.read(q, a.q, bytes(n, 1), "q");
  s.read(scales, a.scales, bytes(ns, 4), "scales");
}

void run(int device, std::string_view variant, const DequantizeFp8Args& a) {
  constexpr std::string_view op = "dequantize_fp8";
  expect_variant(op, variant, "elementwise");
  set_last_device_ms(0.0);
  int64_t n = a.rows * a.cols, ns = ref::fp8_scale_count(a.grouping, a.rows, a.cols);
  if (n == 0) return;
  Session s(device, op);
  Mem q = s.upload(a.q, bytes(n, 1), "q");
  Mem scales = s.upload(a.scales, bytes(ns, 4), "scales");
  Mem y = s.alloc(bytes(n, 4), "y");
  s.launch(s.kernel("quant/fp8_dequantize.cl", "fp8_dequantize"), "fp8_dequantize",
           s.groups_for(static_cast<uint64_t>(n)), q, scales, static_cast<cl_ulong>(a.rows),
           static_cast<cl_ulong>(a.cols), grouping_number(a.grouping), y);
  s.finish();
  s.read(y, a.y, bytes(n, 4), "y");
}

} // namespace tessera::detail::opencl
