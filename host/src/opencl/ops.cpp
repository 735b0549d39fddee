// The opencl launch functions of the conversions and quantizers (launch.h), kernels/quant/:
// one record each, whose manifest names the kernel file. Upload the host inputs, launch, check,
// and only then read back into the caller's outputs, so an error leaves them untouched.
// A BackendFailure raised while reading back (after every kernel has completed) can leave an
// output partly written; the dispatcher then runs the next variant, which writes all of it.
// The quantizers divide: the registry runs them only where division is correctly rounded
// (exact_divide in variants.cpp), and the build options ask for it there.
#include <fmt/format.h>

#include <cmath>

#include "host/src/validate.h"
#include "launch.h"
#include "quantize.h"
#include "runtime.h"

namespace tessera::detail::opencl {

namespace {

size_t bytes(int64_t n, size_t each) { return static_cast<size_t>(n) * each; }

cl_int grouping_number(ref::Fp8Grouping g) {
  switch (g) {
  case ref::Fp8Grouping::Tensor: return 0;
  case ref::Fp8Grouping::Token128: return 1;
  case ref::Fp8Grouping::Block128: return 2;
  }
  return 0;
}
} // namespace

void non_finite(Session& s, std::string_view op, const Mem& x, int64_t rows, int64_t cols, cl_ulong index) {
  float v = 0.0f;
  if (index < static_cast<cl_ulong>(rows * cols)) s.read_at(x, index * sizeof v, &v, sizeof v, "x");
  device_found_non_finite(op, "x", v, {rows, cols}, static_cast<int64_t>(index));
}

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
void launch_nvfp4_quantize(Session& s, std::string_view file, const Mem& x, int64_t n, bool four_over_six,
                           std::optional<float> static_scale_2, const Mem& scale_2, const Mem& bad, const Mem& q,
                           const Mem& scale) {
  launch_amax(s, file, x, n, four_over_six ? 1536.0f : 2688.0f, static_scale_2.has_value(),
              static_scale_2.value_or(0.0f), scale_2, bad);
  const int64_t nblocks = n / 16;
  s.launch(s.kernel(file, "nvfp4_quantize_blocks"), "nvfp4_quantize_blocks",
           s.groups_for(static_cast<uint64_t>(nblocks)), x, static_cast<cl_ulong>(nblocks), scale_2,
           static_cast<cl_int>(four_over_six), q, scale);
}

void launch_fp8_groups(Session& s, std::string_view file, const Mem& x, int64_t rows, int64_t cols,
                       int64_t group_rows, const Mem& scales, const Mem& q) {
  const uint64_t n_groups = static_cast<uint64_t>((rows + group_rows - 1) / group_rows * ((cols + 127) / 128));
  s.launch(s.kernel(file, "fp8_quantize_groups"), "fp8_quantize_groups", s.groups_for(n_groups * s.work_group_size()),
           x, static_cast<cl_ulong>(rows), static_cast<cl_ulong>(cols), static_cast<cl_ulong>(group_rows), scales, q);
}

void convert_elementwise(int device, const core::Variant& v, const ConvertArgs& a) {
  constexpr std::string_view op = "convert";
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
  s.launch(s.kernel(v.manifest.source, name), name, s.groups_for(static_cast<uint64_t>(a.n)), x,
           static_cast<cl_ulong>(a.n), static_cast<cl_int>(a.to), y);
  s.finish();
  s.read(y, a.y, out_bytes, "y");
}

void quantize_nvfp4_block16(int device, const core::Variant& v, const QuantizeNvfp4Args& a) {
  constexpr std::string_view op = "quantize_nvfp4";
  const std::string_view file = v.manifest.source;
  set_last_device_ms(0.0);
  int64_t n = a.rows * a.cols, nblocks = n / 16;
  if (n == 0) { // the reference's amax of nothing is 0
    *a.scale_2 = a.static_scale_2 ? *a.static_scale_2 : 1.0f;
    return;
  }
  Session s(device, op);
  Mem x = s.upload(a.x, bytes(n, 4), "x");
  Mem scale_2 = s.alloc(sizeof(cl_float), "scale_2");
  Mem bad = s.alloc(sizeof(cl_ulong), "non-finite index");
  Mem q = s.alloc(bytes(n / 2, 1), "q");
  Mem scale = s.alloc(bytes(nblocks, 1), "scale");
  launch_nvfp4_quantize(s, file, x, n, a.four_over_six, a.static_scale_2, scale_2, bad, q, scale);
  s.finish();
  cl_ulong first_bad = 0;
  float s2 = 0.0f;
  s.read(bad, &first_bad, sizeof first_bad, "non-finite index");
  if (first_bad != kNoIndex) non_finite(s, op, x, a.rows, a.cols, first_bad);
  s.read(scale_2, &s2, sizeof s2, "scale_2");
  s.read(q, a.q, bytes(n / 2, 1), "q");
  s.read(scale, a.scale, bytes(nblocks, 1), "scale");
  *a.scale_2 = s2;
}

void dequantize_nvfp4_elementwise(int device, const core::Variant& v, const DequantizeNvfp4Args& a) {
  constexpr std::string_view op = "dequantize_nvfp4";
  set_last_device_ms(0.0);
  int64_t n = a.rows * a.cols;
  if (n == 0) return;
  Session s(device, op);
  Mem q = s.upload(a.q, bytes(n / 2, 1), "q");
  Mem scale = s.upload(a.scale, bytes(n / 16, 1), "scale");
  Mem y = s.alloc(bytes(n, 4), "y");
  s.launch(s.kernel(v.manifest.source, "nvfp4_dequantize"), "nvfp4_dequantize",
           s.groups_for(static_cast<uint64_t>(n)), q, scale, static_cast<cl_float>(a.scale_2),
           static_cast<cl_ulong>(n), y);
  s.finish();
  s.read(y, a.y, bytes(n, 4), "y");
}

void quantize_fp8_group_amax(int device, const core::Variant& v, const QuantizeFp8Args& a) {
  constexpr std::string_view op = "quantize_fp8";
  const std::string_view file = v.manifest.source;
  set_last_device_ms(0.0);
  int64_t n = a.rows * a.cols, ns = ref::fp8_scale_count(a.grouping, a.rows, a.cols);
  bool tensor = a.grouping == ref::Fp8Grouping::Tensor;
  if (n == 0) { // nothing to quantize; the per-tensor scale of an all-zero tensor is 1.0
    if (tensor) a.scales[0] = 1.0f;
    return;
  }
  Session s(device, op);
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
    launch_fp8_groups(s, file, x, a.rows, a.cols, a.grouping == ref::Fp8Grouping::Token128 ? 1 : 128, scales, q);
  }
  s.finish();
  cl_ulong first_bad = 0;
  s.read(bad, &first_bad, sizeof first_bad, "non-finite index");
  if (first_bad != kNoIndex) non_finite(s, op, x, a.rows, a.cols, first_bad);
  s.read(q, a.q, bytes(n, 1), "q");
  s.read(scales, a.scales, bytes(ns, 4), "scales");
}

void dequantize_fp8_elementwise(int device, const core::Variant& v, const DequantizeFp8Args& a) {
  constexpr std::string_view op = "dequantize_fp8";
  set_last_device_ms(0.0);
  int64_t n = a.rows * a.cols, ns = ref::fp8_scale_count(a.grouping, a.rows, a.cols);
  if (n == 0) return;
  Session s(device, op);
  Mem q = s.upload(a.q, bytes(n, 1), "q");
  Mem scales = s.upload(a.scales, bytes(ns, 4), "scales");
  Mem y = s.alloc(bytes(n, 4), "y");
  s.launch(s.kernel(v.manifest.source, "fp8_dequantize"), "fp8_dequantize",
           s.groups_for(static_cast<uint64_t>(n)), q, scales, static_cast<cl_ulong>(a.rows),
           static_cast<cl_ulong>(a.cols), grouping_number(a.grouping), y);
  s.finish();
  s.read(y, a.y, bytes(n, 4), "y");
}

} // namespace tessera::detail::opencl
