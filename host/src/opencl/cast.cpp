// opencl::cast (core/backend.h): fp32 <-> bf16/fp16 between two device buffers, with the
// kernels of convert (kernels/quant/convert.cl), so a resident 16-bit tensor is widened for an
// fp32 kernel, or an fp32 result narrowed into one, without crossing to the host.
#include <fmt/format.h>

#include "runtime.h"

namespace tessera::detail::opencl {

void cast(int device, const void* src, DType from, void* dst, DType to, int64_t n) {
  // kernels/quant/convert.cl's format numbers (tessera::Format's order).
  constexpr cl_int kBF16 = 3, kF16 = 4;
  const bool widen = to == DType::F32;
  const DType half = widen ? from : to, wide = widen ? to : from;
  if (wide != DType::F32 || (half != DType::BF16 && half != DType::F16))
    throw BackendFailure(fmt::format("opencl: cast from {} to {} is not one this backend does", dtype_name(from),
                                     dtype_name(to)));
  if (n == 0) return;
  const size_t in_bytes = static_cast<size_t>(n) * dtype_size(from);
  const size_t out_bytes = static_cast<size_t>(n) * dtype_size(to);
  Session s(device, "cast");
  s.part_of_a_call();
  Mem x = s.upload(src, in_bytes, "the cast's input");
  Mem y = s.alloc(out_bytes, "the cast's output");
  const char* name = widen ? "widen_u16" : "convert_to_u16";
  s.launch(s.kernel("quant/convert.cl", name), name, s.groups_for(static_cast<uint64_t>(n)), x,
           static_cast<cl_ulong>(n), half == DType::BF16 ? kBF16 : kF16, y);
  s.finish();
  s.read(y, dst, out_bytes, "the cast's output");
}

} // namespace tessera::detail::opencl
