// The vulkan launch functions of the conversions and quantizers (launch.h, kernels/quant/):
// validate what only this backend limits, upload, record the passes of the operation, and copy
// results out after them (batch.h: a copy into host memory waits for the run first, and a failed
// run writes nothing there).
#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "batch.h"
#include "launch.h"
#include "host/src/validate.h"
#include "reference/quantize.h"

namespace tessera::detail::vulkan {

namespace {

constexpr uint32_t kNoIndex = 0xFFFFFFFFu; // "no non-finite element" in stats[1]

// The kernels index with 32-bit integers; larger tensors are refused (and run elsewhere).
uint32_t element_count(std::string_view op, int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0 || (cols > 0 && rows > std::numeric_limits<int32_t>::max() / cols))
    backend_failure(
        fmt::format("{}: {} x {} elements; the kernels take at most 2^31 - 1", op, rows, cols));
  return static_cast<uint32_t>(rows * cols);
}


uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }

uint32_t format_code(Format f) {
  switch (f) {
  case Format::E4M3: return 0;
  case Format::E5M2: return 1;
  case Format::E2M1: return 2;
  case Format::BF16: return 3;
  case Format::F16: return 4;
  }
  backend_failure("convert: unknown format");
}

uint32_t grouping_code(ref::Fp8Grouping g) {
  switch (g) {
  case ref::Fp8Grouping::Tensor: return 0;
  case ref::Fp8Grouping::Token128: return 1;
  case ref::Fp8Grouping::Block128: return 2;
  }
  backend_failure("fp8: unknown grouping");
}

struct Fp8Push { // push constants of the fp8 kernels
  uint32_t rows, cols, grouping;
};

} // namespace

void convert_elementwise(int device_index, const core::Variant&, const ConvertArgs& a) {
  set_last_device_ms(0.0); // also when this run fails
  Device& d = device(device_index);
  uint32_t n = element_count("convert", 1, a.n);
  if (n == 0) return;
  bool halves = a.to == Format::BF16 || a.to == Format::F16;
  size_t out_bytes = size_t{n} * (halves ? 2 : 1);
  struct {
    uint32_t n, format;
  } push{n, format_code(a.to)};

  std::lock_guard lock(d.mutex);
  uint32_t wg = workgroup_size(d, 256);
  const Kernel& k = kernel(d, "quant/convert.spv", 2, sizeof push, wg);
  Buffer x(d, size_t{n} * 4), y(d, out_bytes);
  Batch b(d, "convert");
  b.upload(x, 0, a.x, size_t{n} * 4);
  b.dispatch(k, {&x, &y}, &push, group_count(d, halves ? (n + 1) / 2 : (n + 3) / 4, wg));
  b.finish();
  from_buffer(y, 0, a.y, out_bytes);
}

void quantize_nvfp4_block16(int device_index, const core::Variant&, const QuantizeNvfp4Args& a) {
  set_last_device_ms(0.0); // also when this run fails
  constexpr std::string_view op = "quantize_nvfp4";
  Device& d = device(device_index);
  uint32_t n = element_count(op, a.rows, a.cols);
  if (a.cols % 16 != 0)
    backend_failure(fmt::format("{}: {} columns is not a multiple of 16", op, a.cols));
  if (n == 0) { // nothing to launch; amax of nothing is 0, so scale_2 is 1.0 as in the reference
    *a.scale_2 = a.static_scale_2 ? *a.static_scale_2 : 1.0f;
    return;
  }
  uint32_t nblocks = n / 16;
  struct {
    uint32_t nblocks, flags, static_scale_2;
  } push{nblocks, (a.four_over_six ? 1u : 0u) | (a.static_scale_2 ? 2u : 0u),
         a.static_scale_2 ? bits(*a.static_scale_2) : 0u};

  std::lock_guard lock(d.mutex);
  uint32_t wg_reduce = workgroup_size(d, 256), wg_block = workgroup_size(d, 64);
  const Kernel& reduce = kernel(d, "quant/absmax.spv", 2, sizeof(uint32_t), wg_reduce);
  const Kernel& block = kernel(d, fp32_shader(d, "quant/nvfp4_quantize"), 4, sizeof push, wg_block);
  Buffer x(d, size_t{n} * 4), stats(d, 16), q(d, size_t{nblocks} * 8), scale(d, nblocks);
  Batch b(d, op);
  b.upload(x, 0, a.x, size_t{n} * 4);
  b.fill(stats, 0, 4, 0);
  b.fill(stats, 4, 4, kNoIndex);
  b.fill(scale, 0, scale.size(), 0);
  // Each reducing invocation takes about 8 elements: fewer atomics, and lavapipe runs few threads.
  b.dispatch(reduce, {&x, &stats}, &n, group_count(d, (n + 7) / 8, wg_reduce));
  b.dispatch(block, {&x, &stats, &q, &scale}, &push, group_count(d, nblocks, wg_block));
  b.finish();

  uint32_t st[3]; // amax, the first non-finite index (absmax.comp), scale_2 (nvfp4_quantize.comp)
  from_buffer(stats, 0, st, sizeof st);
  if (st[1] != kNoIndex) refuse_non_finite(op, x, a.rows, a.cols, st[1]);
  from_buffer(q, 0, a.q, size_t{nblocks} * 8);
  from_buffer(scale, 0, a.scale, nblocks);
  *a.scale_2 = std::bit_cast<float>(st[2]);
}

void dequantize_nvfp4_elementwise(int device_index, const core::Variant&, const DequantizeNvfp4Args& a) {
  set_last_device_ms(0.0); // also when this run fails
  constexpr std::string_view op = "dequantize_nvfp4";
  Device& d = device(device_index);
  uint32_t n = element_count(op, a.rows, a.cols);
  if (a.cols % 16 != 0)
    backend_failure(fmt::format("{}: {} columns is not a multiple of 16", op, a.cols));
  if (n == 0) return;
  struct {
    uint32_t nwords, scale_2;
  } push{n / 8, bits(a.scale_2)};

  std::lock_guard lock(d.mutex);
  uint32_t wg = workgroup_size(d, 256);
  const Kernel& k = kernel(d, fp32_shader(d, "quant/nvfp4_dequantize"), 3, sizeof push, wg);
  Buffer q(d, n / 2), scale(d, n / 16), y(d, size_t{n} * 4);
  Batch b(d, op);
  b.upload(q, 0, a.q, n / 2);
  b.upload(scale, 0, a.scale, n / 16);
  b.dispatch(k, {&q, &scale, &y}, &push, group_count(d, n / 8, wg));
  b.finish();
  from_buffer(y, 0, a.y, size_t{n} * 4);
}

void quantize_fp8_group_amax(int device_index, const core::Variant&, const QuantizeFp8Args& a) {
  set_last_device_ms(0.0); // also when this run fails
  constexpr std::string_view op = "quantize_fp8";
  Device& d = device(device_index);
  uint32_t n = element_count(op, a.rows, a.cols);
  size_t ns = static_cast<size_t>(ref::fp8_scale_count(a.grouping, a.rows, a.cols));
  if (n == 0) { // as the reference: an empty tensor's amax is 0, so a per-tensor scale is 1.0
    if (a.grouping == ref::Fp8Grouping::Tensor) a.scales[0] = 1.0f;
    return;
  }
  Fp8Push push{static_cast<uint32_t>(a.rows), static_cast<uint32_t>(a.cols),
               grouping_code(a.grouping)};
  bool tensor = a.grouping == ref::Fp8Grouping::Tensor;

  std::lock_guard lock(d.mutex);
  uint32_t wg = workgroup_size(d, 256);
  bool token = a.grouping == ref::Fp8Grouping::Token128;
  const Kernel& reduce = kernel(d,
                                tensor  ? "quant/absmax.spv"
                                : token ? "quant/fp8_quantize.token.spv"
                                        : "quant/fp8_quantize.group.spv",
                                tensor ? 2 : 4, tensor ? sizeof(uint32_t) : sizeof push, wg);
  const Kernel& apply = kernel(d, "quant/fp8_quantize.apply.spv", 4, sizeof push, wg);
  Buffer x(d, size_t{n} * 4), stats(d, 16), q(d, n), scales(d, ns * 4);
  Batch b(d, op);
  b.upload(x, 0, a.x, size_t{n} * 4);
  b.fill(stats, 0, 4, 0);
  b.fill(stats, 4, 4, kNoIndex);
  if (tensor)
    b.dispatch(reduce, {&x, &stats}, &n, group_count(d, (n + 7) / 8, wg));
  else if (token) // an invocation per row group
    b.dispatch(reduce, {&x, &stats, &q, &scales}, &push, group_count(d, ns, wg));
  else // a workgroup per tile
    b.dispatch(reduce, {&x, &stats, &q, &scales}, &push, group_count(d, uint64_t{ns} * wg, wg));
  b.dispatch(apply, {&x, &stats, &q, &scales}, &push, group_count(d, (n + 3) / 4, wg));
  b.finish();

  uint32_t st[2]; // amax, the first non-finite index
  from_buffer(stats, 0, st, sizeof st);
  if (st[1] != kNoIndex) refuse_non_finite(op, x, a.rows, a.cols, st[1]);
  from_buffer(q, 0, a.q, n);
  from_buffer(scales, 0, a.scales, ns * 4);
}

void dequantize_fp8_elementwise(int device_index, const core::Variant&, const DequantizeFp8Args& a) {
  set_last_device_ms(0.0); // also when this run fails
  constexpr std::string_view op = "dequantize_fp8";
  Device& d = device(device_index);
  uint32_t n = element_count(op, a.rows, a.cols);
  size_t ns = static_cast<size_t>(ref::fp8_scale_count(a.grouping, a.rows, a.cols));
  if (n == 0) return;
  Fp8Push push{static_cast<uint32_t>(a.rows), static_cast<uint32_t>(a.cols),
               grouping_code(a.grouping)};

  std::lock_guard lock(d.mutex);
  uint32_t wg = workgroup_size(d, 256);
  const Kernel& k = kernel(d, fp32_shader(d, "quant/fp8_dequantize"), 3, sizeof push, wg);
  Buffer q(d, n), scales(d, ns * 4), y(d, size_t{n} * 4);
  Batch b(d, op);
  b.upload(q, 0, a.q, n);
  b.upload(scales, 0, a.scales, ns * 4);
  b.dispatch(k, {&q, &scales, &y}, &push, group_count(d, (n + 3) / 4, wg));
  b.finish();
  from_buffer(y, 0, a.y, size_t{n} * 4);
}

} // namespace tessera::detail::vulkan
