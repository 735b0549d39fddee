// Strided views (TensorView::strides, host/src/strided_views.h): slices of a larger tensor as
// inputs and outputs of the operations, in host memory and in device buffers. Each call must give
// the bytes of the same call on packed copies of the slices, leave the memory between the rows of
// a strided output untouched, and move nothing between host and device for resident views; views
// the operations cannot take are refused with an error naming the argument, with nothing written.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tessera/context.h"
#include "tessera/error.h"
#include "tessera/tessera.h"
#include "tessera/weights.h"

namespace {
using namespace tessera;

uint32_t next(uint32_t& seed) {
  seed = seed * 1664525u + 1013904223u;
  return seed >> 8;
}

// n values in [-1, 1] in dtype F32 or BF16, as bytes.
std::vector<uint8_t> random_bytes(DType dtype, int64_t n, uint32_t seed) {
  std::vector<uint8_t> out(static_cast<size_t>(n) * dtype_size(dtype));
  for (int64_t i = 0; i < n; ++i) {
    const float f = static_cast<float>(next(seed) % 20001) / 10000.0f - 1.0f;
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if (dtype == DType::F32) std::memcpy(&out[static_cast<size_t>(i) * 4], &bits, 4);
    else { // BF16: the top half
      const uint16_t h = static_cast<uint16_t>(bits >> 16);
      std::memcpy(&out[static_cast<size_t>(i) * 2], &h, 2);
    }
  }
  return out;
}

// The elements of a strided view of `base` (element size es) packed row-major: what a packed copy
// of the slice holds.
std::vector<uint8_t> gather(const std::vector<uint8_t>& base, size_t es, const Shape& shape,
                            const std::vector<int64_t>& strides, int64_t offset = 0) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<uint8_t> out(static_cast<size_t>(n) * es);
  std::vector<int64_t> index(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t at = offset;
    for (size_t k = 0; k < shape.size(); ++k) at += index[k] * strides[k];
    std::memcpy(&out[static_cast<size_t>(i) * es], &base[static_cast<size_t>(at) * es], es);
    for (size_t k = shape.size(); k-- > 0;)
      if (++index[k] < shape[k]) break;
      else index[k] = 0;
  }
  return out;
}

// Memory of one argument, on the host and in a device buffer of the context, with the same bytes.
struct Memory {
  std::vector<uint8_t> host;
  DeviceBuffer device;
};

class StridedViewsTest : public ::testing::TestWithParam<const char*> {
protected:
  void SetUp() override {
    if (Context::device_count(GetParam()) == 0) GTEST_SKIP() << "no " << GetParam() << " device";
    ctx_ = Context::open(GetParam(), 0);
  }
  Memory memory(std::vector<uint8_t> bytes) {
    Memory m{std::move(bytes), {}};
    m.device = ctx_->device_alloc(m.host.size());
    ctx_->upload(m.device, 0, m.host.data(), m.host.size());
    return m;
  }
  std::vector<uint8_t> download(const Memory& m) {
    std::vector<uint8_t> out(m.host.size());
    ctx_->download(m.device, 0, out.data(), out.size());
    return out;
  }
  // A view of m (host memory, or its device buffer) from element `offset`, spanning to its end.
  static TensorView view(Memory& m, bool resident, DType dtype, Shape shape, std::vector<int64_t> strides,
                         int64_t offset = 0) {
    const size_t at = static_cast<size_t>(offset) * dtype_size(dtype);
    void* base = resident ? m.device.address() : static_cast<void*>(m.host.data());
    return TensorView{dtype, std::move(shape), static_cast<uint8_t*>(base) + at, m.host.size() - at, std::move(strides)};
  }
  std::optional<Context> ctx_;
};

// q, k and v as slices of one fused bf16 projection [B, T, 2 H Dk + HV Dv], o into a slice of a
// wider f32 buffer: DeltaNet's bytes equal those of packed copies, and the rest of the output
// buffer keeps its bytes.
TEST_P(StridedViewsTest, FusedQkvSlicesFeedDeltaNet) {
  const int64_t B = 2, T = 5, H = 2, HV = 4, Dk = 16, Dv = 8;
  const int64_t W = 2 * H * Dk + HV * Dv, Wo = HV * Dv + 3; // the fused row, a padded output row
  const Context& ctx = *ctx_;
  for (bool resident : {false, true}) {
    SCOPED_TRACE(resident ? "device buffers" : "host memory");
    Memory qkv = memory(random_bytes(DType::BF16, B * T * W, 1));
    Memory g = memory(random_bytes(DType::F32, B * T * HV, 2)), beta = memory(random_bytes(DType::F32, B * T * HV, 3));
    for (size_t i = 0; i < g.host.size(); i += 4) { // log-decays below zero, gates in (0, 1)
      float v;
      std::memcpy(&v, &g.host[i], 4);
      v = -std::fabs(v) - 0.01f;
      std::memcpy(&g.host[i], &v, 4);
      std::memcpy(&v, &beta.host[i], 4);
      v = 0.5f + 0.4f * v;
      std::memcpy(&beta.host[i], &v, 4);
    }
    ctx.upload(g.device, 0, g.host.data(), g.host.size());
    ctx.upload(beta.device, 0, beta.host.data(), beta.host.size());
    Memory o = memory(std::vector<uint8_t>(static_cast<size_t>(B * T * Wo) * 4, 0xA5)); // a sentinel
    Memory ht = memory(std::vector<uint8_t>(static_cast<size_t>(B * HV * Dk * Dv) * 4));

    DeltaNetArgs a;
    a.q = view(qkv, resident, DType::BF16, {B, T, H, Dk}, {T * W, W, Dk, 1});
    a.k = view(qkv, resident, DType::BF16, {B, T, H, Dk}, {T * W, W, Dk, 1}, H * Dk);
    a.v = view(qkv, resident, DType::BF16, {B, T, HV, Dv}, {T * W, W, Dv, 1}, 2 * H * Dk);
    a.g = view(g, resident, DType::F32, {B, T, HV}, {});
    a.beta = view(beta, resident, DType::F32, {B, T, HV}, {});
    a.l2norm = true;
    RunInfo info;
    deltanet(a, view(o, resident, DType::F32, {B, T, HV, Dv}, {T * Wo, Wo, Dv, 1}),
             view(ht, resident, DType::F32, {B, HV, Dk, Dv}, {}), ctx.options(), &info);
    // At most the status word a Vulkan kernel reports: no tensor comes back to the host.
    if (resident) {
      EXPECT_LE(info.traffic.bytes_from_device, 8) << "a resident slice came back to the host";
    }

    // The same call on packed host copies of the slices, on the same variant.
    std::vector<uint8_t> q = gather(qkv.host, 2, {B, T, H, Dk}, {T * W, W, Dk, 1});
    std::vector<uint8_t> k = gather(qkv.host, 2, {B, T, H, Dk}, {T * W, W, Dk, 1}, H * Dk);
    std::vector<uint8_t> v = gather(qkv.host, 2, {B, T, HV, Dv}, {T * W, W, Dv, 1}, 2 * H * Dk);
    std::vector<uint8_t> o_packed(static_cast<size_t>(B * T * HV * Dv) * 4), ht_packed(ht.host.size());
    DeltaNetArgs p = a;
    p.q = TensorView{DType::BF16, {B, T, H, Dk}, q.data(), q.size()};
    p.k = TensorView{DType::BF16, {B, T, H, Dk}, k.data(), k.size()};
    p.v = TensorView{DType::BF16, {B, T, HV, Dv}, v.data(), v.size()};
    p.g = TensorView{DType::F32, {B, T, HV}, g.host.data(), g.host.size()};
    p.beta = TensorView{DType::F32, {B, T, HV}, beta.host.data(), beta.host.size()};
    deltanet(p, TensorView{DType::F32, {B, T, HV, Dv}, o_packed.data(), o_packed.size()},
             TensorView{DType::F32, {B, HV, Dk, Dv}, ht_packed.data(), ht_packed.size()}, ctx.options(info.variant));

    const std::vector<uint8_t> o_after = resident ? download(o) : o.host;
    EXPECT_EQ(gather(o_after, 4, {B, T, HV, Dv}, {T * Wo, Wo, Dv, 1}), o_packed);
    for (int64_t r = 0; r < B * T; ++r) // the padding of every output row
      for (int64_t c = HV * Dv; c < Wo; ++c)
        ASSERT_EQ(o_after[static_cast<size_t>(r * Wo + c) * 4], 0xA5) << "row " << r << " column " << c;
    EXPECT_EQ(resident ? download(ht) : ht.host, ht_packed);
  }
}

// Views whose outer strides do and do not nest (one rectangular copy, or several), in and out of
// convert, against the packed call.
TEST_P(StridedViewsTest, ConvertGathersAndScattersAnyRowMajorSlice) {
  const Context& ctx = *ctx_;
  const Shape shape{2, 3, 2, 4};
  for (const std::vector<int64_t>& strides : {std::vector<int64_t>{100, 30, 10, 1}, std::vector<int64_t>{60, 16, 10, 1},
                                              std::vector<int64_t>{24, 8, 4, 1} /* packed */}) {
    for (bool resident : {false, true}) {
      SCOPED_TRACE("strides [" + std::to_string(strides[0]) + ", " + std::to_string(strides[1]) + ", ...], " +
                   (resident ? "device buffers" : "host memory"));
      Memory x = memory(random_bytes(DType::F32, 2 * strides[0], 7));
      Memory y = memory(std::vector<uint8_t>(static_cast<size_t>(2 * strides[0]) * 2, 0x5A));
      ctx.convert(view(x, resident, DType::F32, shape, strides), Format::BF16,
                  view(y, resident, DType::BF16, shape, strides));
      std::vector<uint8_t> xp = gather(x.host, 4, shape, strides), yp(48 * 2);
      ctx.convert(TensorView{DType::F32, shape, xp.data(), xp.size()}, Format::BF16,
                  TensorView{DType::BF16, shape, yp.data(), yp.size()});
      const std::vector<uint8_t> y_after = resident ? download(y) : y.host;
      EXPECT_EQ(gather(y_after, 2, shape, strides), yp);
      // Only the view's 48 elements changed: the rest is the sentinel still.
      int64_t written = 0;
      for (size_t i = 0; i < y_after.size(); i += 2)
        if (y_after[i] != 0x5A || y_after[i + 1] != 0x5A) ++written;
      EXPECT_LE(written, 48) << "convert wrote outside its strided output";
    }
  }
}

// A strided GEMM output: c [M, N] as columns [N0, N0 + N) of a [M, Ntotal] matrix, written on the
// device with its neighbours untouched.
TEST_P(StridedViewsTest, GemmWritesAColumnBlock) {
  const Context& ctx = *ctx_;
  const int64_t M = 3, N = 8, K = 32, Ntotal = 20, N0 = 5;
  for (bool resident : {false, true}) {
    SCOPED_TRACE(resident ? "device buffers" : "host memory");
    // Packed E2M1 pairs [M, K / 2] and [N, K / 2] (random bytes, 4 a float).
    Memory a = memory(random_bytes(DType::F32, M * K / 8, 11)), b = memory(random_bytes(DType::F32, N * K / 8, 12));
    for (auto& byte : a.host) byte &= 0x77; // any E2M1 pair but the largest codes: finite products
    for (auto& byte : b.host) byte &= 0x77;
    ctx.upload(a.device, 0, a.host.data(), a.host.size());
    ctx.upload(b.device, 0, b.host.data(), b.host.size());
    Memory sa = memory(std::vector<uint8_t>(static_cast<size_t>(M * K / 16), 0x38)); // E4M3 1.0
    Memory sb = memory(std::vector<uint8_t>(static_cast<size_t>(N * K / 16), 0x30)); // 0.5
    Memory c = memory(std::vector<uint8_t>(static_cast<size_t>(M * Ntotal) * 4, 0xC3));
    ctx.gemm_nvfp4(view(a, resident, DType::U8, {M, K / 2}, {}), view(sa, resident, DType::F8_E4M3, {M, K / 16}, {}),
                   view(b, resident, DType::U8, {N, K / 2}, {}), view(sb, resident, DType::F8_E4M3, {N, K / 16}, {}),
                   1.0f, std::nullopt, view(c, resident, DType::F32, {M, N}, {Ntotal, 1}, N0));
    std::vector<uint8_t> cp(static_cast<size_t>(M * N) * 4);
    ctx.gemm_nvfp4(TensorView{DType::U8, {M, K / 2}, a.host.data(), a.host.size()},
                   TensorView{DType::F8_E4M3, {M, K / 16}, sa.host.data(), sa.host.size()},
                   TensorView{DType::U8, {N, K / 2}, b.host.data(), b.host.size()},
                   TensorView{DType::F8_E4M3, {N, K / 16}, sb.host.data(), sb.host.size()}, 1.0f, std::nullopt,
                   TensorView{DType::F32, {M, N}, cp.data(), cp.size()});
    const std::vector<uint8_t> c_after = resident ? download(c) : c.host;
    EXPECT_EQ(gather(c_after, 4, {M, N}, {Ntotal, 1}, N0), cp);
    for (int64_t r = 0; r < M; ++r)
      for (int64_t col = 0; col < Ntotal; ++col)
        if (col < N0 || col >= N0 + N) {
          ASSERT_EQ(c_after[static_cast<size_t>(r * Ntotal + col) * 4], 0xC3) << r << ", " << col;
        }
  }
}

// Views the operations cannot take: an error naming the argument, and nothing written.
TEST_P(StridedViewsTest, RefusesWhatItCannotTake) {
  const Context& ctx = *ctx_;
  for (bool resident : {false, true}) {
    SCOPED_TRACE(resident ? "device buffers" : "host memory");
    Memory x = memory(random_bytes(DType::F32, 64, 21));
    Memory y = memory(std::vector<uint8_t>(64 * 2, 0x11));
    auto refuses = [&](ErrorCode code, const std::string& text, const TensorView& xv, const TensorView& yv) {
      try {
        ctx.convert(xv, Format::BF16, yv);
        ADD_FAILURE() << "accepted: " << text;
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), code) << e.what();
        EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
      }
      EXPECT_EQ(resident ? download(y) : y.host, std::vector<uint8_t>(64 * 2, 0x11)) << "written: " << text;
    };
    const TensorView packed_y = view(y, resident, DType::BF16, {4, 4}, {});
    refuses(ErrorCode::Unsupported, "innermost dimension", view(x, resident, DType::F32, {4, 4}, {8, 2}), packed_y);
    refuses(ErrorCode::Unsupported, "innermost dimension", view(x, resident, DType::F32, {4, 4}, {1, 4}), packed_y);
    refuses(ErrorCode::Unsupported, "transposed", view(x, resident, DType::F32, {4, 4}, {2, 1}), packed_y);
    refuses(ErrorCode::InvalidArgument, "strides", view(x, resident, DType::F32, {4, 4}, {8}), packed_y);
    refuses(ErrorCode::ShortBuffer, "x buffer holds", view(x, resident, DType::F32, {4, 4}, {21, 1}), packed_y);
    // An output whose rows overlap, and a strided output past its buffer.
    refuses(ErrorCode::Unsupported, "y has shape", view(x, resident, DType::F32, {4, 4}, {}),
            view(y, resident, DType::BF16, {4, 4}, {2, 1}));
    refuses(ErrorCode::ShortBuffer, "y buffer holds", view(x, resident, DType::F32, {4, 4}, {}),
            view(y, resident, DType::BF16, {4, 4}, {21, 1}));
  }
  // Two outputs whose spans interleave (scale between the rows of a strided q): refused, since
  // the check that keeps outputs apart would otherwise see only the packed copies.
  for (bool resident : {false, true}) {
    Memory x = memory(random_bytes(DType::F32, 2 * 32, 51));
    Memory out = memory(std::vector<uint8_t>(64, 0x33));
    try {
      ctx.quantize_nvfp4(view(x, resident, DType::F32, {2, 32}, {}), Nvfp4Recipe::Nvfp4, std::nullopt,
                         view(out, resident, DType::U8, {2, 16}, {32, 1}),
                         view(out, resident, DType::F8_E4M3, {2, 2}, {}, 16));
      ADD_FAILURE() << "interleaved outputs were accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find("outputs q and scale overlap"), std::string::npos) << e.what();
    }
    EXPECT_EQ(resident ? download(out) : out.host, std::vector<uint8_t>(64, 0x33));
  }
  // What is not an operation reads its views packed, and says so.
  std::vector<uint8_t> linear(128 * 4), swizzled(128 * 4);
  try {
    to_swizzled_scales(TensorView{DType::F8_E4M3, {128, 2}, linear.data(), linear.size(), {4, 1}},
                       TensorView{DType::F8_E4M3, {128, 4}, swizzled.data(), swizzled.size()});
    ADD_FAILURE() << "to_swizzled_scales took a strided view";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported) << e.what();
  }
}

// A failed call writes nothing into a strided output: the packed copy is scattered only after the
// kernels succeeded.
TEST_P(StridedViewsTest, FailedCallLeavesAStridedOutputAlone) {
  const Context& ctx = *ctx_;
  for (bool resident : {false, true}) {
    SCOPED_TRACE(resident ? "device buffers" : "host memory");
    std::vector<uint8_t> xb = random_bytes(DType::F32, 2 * 32, 31);
    const float nan = std::nanf("");
    std::memcpy(&xb[4 * 40], &nan, 4);
    Memory x = memory(xb);
    Memory q = memory(std::vector<uint8_t>(2 * 40, 0x22));
    Memory s = memory(std::vector<uint8_t>(2 * 4, 0x22));
    EXPECT_THROW(ctx.quantize_nvfp4(view(x, resident, DType::F32, {2, 32}, {}), Nvfp4Recipe::Nvfp4, std::nullopt,
                                    view(q, resident, DType::U8, {2, 16}, {40, 1}),
                                    view(s, resident, DType::F8_E4M3, {2, 2}, {4, 1})),
                 Error);
    EXPECT_EQ(resident ? download(q) : q.host, std::vector<uint8_t>(2 * 40, 0x22));
    EXPECT_EQ(resident ? download(s) : s.host, std::vector<uint8_t>(2 * 4, 0x22));
  }
}

// The C API's tessera_tensor carries strides too.
TEST_P(StridedViewsTest, CApiTakesStrides) {
  tessera_context* c = nullptr;
  ASSERT_EQ(tessera_context_create(GetParam(), 0, &c), TESSERA_OK) << tessera_last_error_message();
  std::vector<uint8_t> xb = random_bytes(DType::F32, 3 * 10, 41), yb(3 * 4 * 2, 0), want(3 * 4 * 2);
  const int64_t strides[2] = {10, 1};
  tessera_tensor x{TESSERA_F32, 2, {3, 4}, xb.data(), xb.size(), strides};
  tessera_tensor y{TESSERA_BF16, 2, {3, 4}, yb.data(), yb.size(), nullptr};
  ASSERT_EQ(tessera_convert(c, &x, TESSERA_FORMAT_BF16, &y), TESSERA_OK) << tessera_last_error_message();
  std::vector<uint8_t> xp = gather(xb, 4, {3, 4}, {10, 1});
  convert(TensorView{DType::F32, {3, 4}, xp.data(), xp.size()}, Format::BF16,
          TensorView{DType::BF16, {3, 4}, want.data(), want.size()});
  EXPECT_EQ(yb, want);
  tessera_context_destroy(c);
}

INSTANTIATE_TEST_SUITE_P(Backends, StridedViewsTest, ::testing::Values("cpu", "opencl", "vulkan"),
                         [](const auto& info) { return std::string(info.param); });

} // namespace
