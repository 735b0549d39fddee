#include "bench/resident.h"

#include <algorithm>

namespace tessera::bench {

namespace {

// Views inside one buffer start at this alignment, the one device_alloc and Context::alloc give,
// so that no kernel sees an operand less aligned than a buffer of its own would be.
constexpr size_t kAlign = 256;
size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// Device views of `tensors` packed into one buffer, the host numbers viewed in place; the
// buffer joins `out.buffers`. `fill`: upload the tensors' bytes (inputs), or leave the zeros
// device_alloc gives (outputs).
// `on_host`: names kept in host memory besides the host numbers.
template <class Tensors, class Sink>
void place(const Context& ctx, Tensors& tensors, const std::set<std::string, std::less<>>& on_host,
           bool fill, ResidentSets& out, Sink&& sink) {
  auto host = [&](const std::string& name, const Tensor& t) {
    return host_number(t.dtype(), t.shape()) || on_host.count(name);
  };
  size_t bytes = 0;
  for (const auto& [name, t] : tensors)
    if (!host(name, t)) bytes += aligned(t.nbytes());
  DeviceBuffer buffer = ctx.device_alloc(std::max<size_t>(bytes, kAlign));
  size_t offset = 0;
  for (auto& [name, t] : tensors) {
    if (host(name, t)) {
      sink(name, t.view());
      continue;
    }
    if (fill) ctx.upload(buffer, offset, t.data(), t.nbytes());
    sink(name, Context::view(buffer, t.dtype(), t.shape(), offset));
    offset += aligned(t.nbytes());
  }
  out.device_bytes += buffer.size();
  out.buffers.push_back(std::move(buffer));
}

} // namespace

bool host_number(DType dtype, const Shape& shape) {
  return dtype == DType::F32 && shape.size() <= 1 && shape_numel(shape) == 1;
}

ResidentSets make_resident(const Context& ctx, const std::vector<BenchInputs>& sets,
                           const TensorMap& outputs) {
  ResidentSets r;
  for (const BenchInputs& set : sets) {
    ViewMap views;
    place(ctx, set.tensors, set.on_host, true, r,
          [&](const std::string& name, const TensorView& v) { views.emplace(name, v); });
    r.inputs.push_back(std::move(views));
  }
  // The host numbers among the outputs are written by every call: kbench's own copies.
  for (const auto& [name, t] : outputs)
    if (host_number(t.dtype(), t.shape())) r.host_outputs.emplace(name, Tensor(t.dtype(), t.shape()));
  place(ctx, outputs, {}, false, r, [&](const std::string& name, const TensorView& v) {
    auto own = r.host_outputs.find(name);
    r.outputs.emplace(name, own == r.host_outputs.end() ? v : own->second.view());
  });
  return r;
}

} // namespace tessera::bench
