// The bounded comparison of numerics.md section 7 and the lookup of each variant's declared class.
#include "conformance/common.h"

#include "reference/formats.h"

namespace tessera::conformance {

Tensor typed(DType t, Shape s, const std::vector<float>& v) {
  Tensor x(t, std::move(s));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DType::F32) x.as<float>()[i] = v[i];
    if (t == DType::BF16) x.as<uint16_t>()[i] = ref::f32_to_bf16(v[i]);
    if (t == DType::F16) x.as<uint16_t>()[i] = ref::f32_to_f16(v[i]);
  }
  return x;
}

double element(const Guarded& g, size_t i) {
  const std::byte* p = g.bytes.data() + Guarded::kGuard;
  switch (g.view.dtype) {
  case DType::F32: {
    float f;
    std::memcpy(&f, p + i * 4, 4);
    return f;
  }
  case DType::BF16: {
    uint16_t h;
    std::memcpy(&h, p + i * 2, 2);
    return ref::bf16_to_f32(h);
  }
  case DType::F16: {
    uint16_t h;
    std::memcpy(&h, p + i * 2, 2);
    return ref::f16_to_f32(h);
  }
  case DType::F8_E4M3: return ref::e4m3_to_f32(static_cast<uint8_t>(p[i]));
  default: return static_cast<double>(static_cast<uint8_t>(p[i]));
  }
}

double rel_l2(const Guarded& got, const Guarded& want) {
  if (got.view.dtype != want.view.dtype || got.view.shape != want.view.shape) return INFINITY;
  if (want.view.dtype != DType::F32 && want.view.dtype != DType::BF16 && want.view.dtype != DType::F16) {
    ADD_FAILURE() << "rel_l2 compares float outputs, got " << dtype_name(want.view.dtype);
    return NAN;
  }
  size_t n = static_cast<size_t>(shape_numel(want.view.shape));
  double err = 0.0, norm = 0.0;
  for (size_t i = 0; i < n; ++i) {
    double a = element(got, i), b = element(want, i);
    if (std::isnan(a) || std::isnan(b)) return INFINITY;
    err += (a - b) * (a - b);
    norm += b * b;
  }
  if (err == 0.0) return 0.0;
  return norm == 0.0 ? INFINITY : std::sqrt(err / norm);
}

const dispatch::Conformance& declared(std::string_view op, const RunOptions& o) {
  for (const auto& v : dispatch::variants())
    if (v.op == op && v.backend == o.backend && v.name == o.variant) return v.conformance;
  static const dispatch::Conformance exact{};
  ADD_FAILURE() << "no variant " << o.backend << ":" << op << ":" << o.variant << " in the registry";
  return exact;
}

void expect_within_bound(std::string_view op, const RunOptions& device,
                         const std::function<void(const RunOptions&, std::vector<Guarded>&)>& run) {
  const dispatch::Conformance& c = declared(op, device);
  if (c.exact) {
    expect_same_bytes(device, run);
    return;
  }
  std::vector<Guarded> got, want;
  run(device, got);
  run(RunOptions{"cpu", 0, ""}, want);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(got[i].guards_intact()) << "output " << i << " written out of bounds";
    double e = rel_l2(got[i], want[i]);
    EXPECT_LE(e, c.bound) << "output " << i << ": relative L2 error " << e << " exceeds the declared bound "
                          << c.bound << " of " << device.backend << ":" << op << ":" << device.variant;
  }
}

} // namespace tessera::conformance
