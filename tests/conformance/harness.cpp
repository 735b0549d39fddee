// The bounded comparison of numerics.md section 7 and the lookup of each variant's declared class.
#include "conformance/common.h"

#include "reference/formats.h"

namespace tessera::conformance {

namespace {
// Element i of an fp32, bf16 or fp16 output as a double.
double value_at(const Guarded& g, size_t i) {
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
  default: ADD_FAILURE() << "rel_l2 compares float outputs, got " << dtype_name(g.view.dtype); return NAN;
  }
}
} // namespace

double rel_l2(const Guarded& got, const Guarded& want) {
  if (got.view.dtype != want.view.dtype || got.view.shape != want.view.shape) return INFINITY;
  size_t n = static_cast<size_t>(shape_numel(want.view.shape));
  double err = 0.0, norm = 0.0;
  for (size_t i = 0; i < n; ++i) {
    double a = value_at(got, i), b = value_at(want, i);
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
