// vulkan::cast (core/backend.h): fp32 <-> bf16/fp16 between two device buffers, with the
// shader of convert (kernels/quant/convert.comp, formats 3-4 narrow, 5-6 widen), so a resident
// 16-bit tensor is widened for an fp32 kernel, or an fp32 result narrowed into one, without
// crossing to the host.
#include <fmt/format.h>

#include <limits>
#include <mutex>

#include "batch.h"
#include "core/backend.h"

namespace tessera::detail::vulkan {

void cast(int device_index, const void* src, DType from, void* dst, DType to, int64_t n) {
  const bool widen = to == DType::F32;
  const DType half = widen ? from : to, wide = widen ? to : from;
  if (wide != DType::F32 || (half != DType::BF16 && half != DType::F16))
    backend_failure(fmt::format("cast from {} to {} is not one this backend does", dtype_name(from), dtype_name(to)));
  if (n > std::numeric_limits<int32_t>::max())
    backend_failure(fmt::format("cast: {} elements; the shader takes at most 2^31 - 1", n));
  if (n <= 0) return;
  const uint32_t count = static_cast<uint32_t>(n);
  // convert.comp's format numbers: 3 bf16, 4 fp16 (narrowing), 5 bf16, 6 fp16 (widening).
  const uint32_t format = (half == DType::BF16 ? 3u : 4u) + (widen ? 2u : 0u);
  struct {
    uint32_t n, format;
  } push{count, format};
  const size_t in_bytes = size_t{count} * dtype_size(from), out_bytes = size_t{count} * dtype_size(to);

  Device& d = device(device_index);
  std::lock_guard lock(d.mutex);
  const uint32_t wg = workgroup_size(d, 256);
  const Kernel& k = kernel(d, "quant/convert.spv", 2, sizeof push, wg);
  Buffer x(d, in_bytes), y(d, out_bytes);
  Batch b(d, "cast", Batch::Role::Part); // a step of the call that casts its operands
  b.upload(x, 0, src, in_bytes);
  // One invocation per output word: an fp32 when widening, two halves when narrowing.
  b.dispatch(k, {&x, &y}, &push, group_count(d, widen ? count : (count + 1) / 2, wg));
  b.finish();
  from_buffer(y, 0, dst, out_bytes);
}

} // namespace tessera::detail::vulkan
