// Device buffers (Context::device_alloc, tessera::DeviceBuffer): views of device memory go to the
// kernels without a trip through the host and give the bytes of the host path; their misuse is
// an Error naming the argument, never a fault (docs/architecture.md, "Memory").
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "dispatch/registry.h"
#include "tessera/context.h"
#include "tessera/named_ops.h"
#include "tessera/overrides.h"
#include "tessera/tessera.h"

namespace {
using namespace tessera;

// Bytes from a fixed LCG, with the NaN codes of E4M3 (0x7F, 0xFF) moved off.
std::vector<uint8_t> codes(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  for (auto& c : v) {
    seed = seed * 1664525u + 1013904223u;
    c = static_cast<uint8_t>(seed >> 24);
    if ((c & 0x7F) == 0x7F) c ^= 0x01;
  }
  return v;
}

// A host tensor and its copy in a device buffer of ctx.
struct Both {
  std::vector<uint8_t> host;
  DeviceBuffer dev;
  TensorView h, d;
};

Both both(const Context& ctx, DType dtype, Shape shape, std::vector<uint8_t> bytes) {
  Both b;
  b.host = std::move(bytes);
  b.dev = ctx.device_alloc(b.host.size());
  ctx.upload(b.dev, 0, b.host.data(), b.host.size());
  b.h = TensorView{dtype, shape, b.host.data(), b.host.size()};
  b.d = Context::view(b.dev, dtype, shape);
  return b;
}

std::vector<uint8_t> floats(std::vector<float> f) {
  std::vector<uint8_t> out(f.size() * 4);
  std::memcpy(out.data(), f.data(), out.size());
  return out;
}

class DeviceBuffers : public ::testing::TestWithParam<const char*> {
protected:
  void SetUp() override {
    if (Context::device_count(GetParam()) == 0) GTEST_SKIP() << "no " << GetParam() << " device";
    ctx_ = Context::open(GetParam(), 0);
  }
  std::optional<Context> ctx_;
};

// Each GEMM with every operand and the output in device memory, for a decode M and a prefill
// M: the bytes of the host call, on the same variant; then, called again, nothing crosses
// between host and device (the block-scaled form reads its scales back for the finite check).
TEST_P(DeviceBuffers, GemmsOnDeviceViewsGiveTheHostBytesAndMoveNothing) {
  const Context& ctx = *ctx_;
  for (int64_t M : {3, 40}) {
    const int64_t N = 24, K = 256;
    SCOPED_TRACE("M = " + std::to_string(M));
    Both bias = both(ctx, DType::F32, {N}, floats(std::vector<float>(N, 0.125f)));
    DeviceBuffer cdev = ctx.device_alloc(M * N * 2);
    TensorView cd = Context::view(cdev, DType::BF16, {M, N});
    std::vector<uint8_t> c_host(M * N * 2), c_dev(M * N * 2);
    TensorView ch{DType::BF16, {M, N}, c_host.data(), c_host.size()};

    auto check = [&](const char* what, auto&& call, int64_t readback) {
      SCOPED_TRACE(what);
      call(true);
      const RunInfo host = ctx.last_run();
      call(false);
      const RunInfo dev = ctx.last_run();
      EXPECT_EQ(dev.variant, host.variant);
      ctx.download(cdev, 0, c_dev.data(), c_dev.size());
      EXPECT_EQ(0, std::memcmp(c_dev.data(), c_host.data(), c_host.size())) << dev.backend << ":" << dev.variant;
      call(false);
      const RunInfo again = ctx.last_run();
      EXPECT_EQ(again.traffic.bytes_to_device, 0) << again.variant;
      // A shape OpenCL has seen: every buffer comes from its pool (test_opencl_steady_state.cpp).
      if (dev.backend == "opencl") {
        EXPECT_EQ(again.traffic.allocations, 0) << again.variant;
      }
      EXPECT_EQ(again.traffic.bytes_from_device, dev.backend == "cpu" ? 0 : readback) << again.variant;
    };

    Both a = both(ctx, DType::U8, {M, K / 2}, codes(M * K / 2, 1));
    Both as = both(ctx, DType::F8_E4M3, {M, K / 16}, codes(M * K / 16, 2));
    Both b = both(ctx, DType::U8, {N, K / 2}, codes(N * K / 2, 3));
    Both bs = both(ctx, DType::F8_E4M3, {N, K / 16}, codes(N * K / 16, 4));
    check("gemm_nvfp4", [&](bool h) {
      ctx.gemm_nvfp4(h ? a.h : a.d, h ? as.h : as.d, h ? b.h : b.d, h ? bs.h : bs.d, 1e-3f, h ? bias.h : bias.d,
                     h ? ch : cd);
    }, 0);

    Both a8 = both(ctx, DType::F8_E4M3, {M, K}, codes(M * K, 5));
    Both b8 = both(ctx, DType::F8_E4M3, {N, K}, codes(N * K, 6));
    check("gemm_fp8", [&](bool h) {
      ctx.gemm_fp8(h ? a8.h : a8.d, h ? b8.h : b8.d, 1e-2f, h ? bias.h : bias.d, h ? ch : cd);
    }, 0);

    const int64_t kb = K / 128;
    Both sa = both(ctx, DType::F32, {M, kb}, floats(std::vector<float>(M * kb, 0.01f)));
    Both sb = both(ctx, DType::F32, {(N + 127) / 128, kb}, floats(std::vector<float>(kb, 0.5f)));
    check("gemm_fp8_block", [&](bool h) {
      ctx.gemm_fp8_block(h ? a8.h : a8.d, h ? sa.h : sa.d, h ? b8.h : b8.d, h ? sb.h : sb.d, h ? bias.h : bias.d,
                         h ? ch : cd);
    }, (M * kb + kb) * 4);
  }
}

// The conversions whose host layer reads nothing: convert and the two dequantizers.
TEST_P(DeviceBuffers, ConversionsOnDeviceViewsGiveTheHostBytes) {
  const Context& ctx = *ctx_;
  const int64_t R = 3, C = 256;
  auto same = [&](const char* what, const DeviceBuffer& out, const std::vector<uint8_t>& want) {
    std::vector<uint8_t> got(want.size());
    ctx.download(out, 0, got.data(), got.size());
    EXPECT_EQ(got, want) << what;
    EXPECT_EQ(ctx.last_run().traffic.bytes_to_device, 0) << what;
  };
  std::vector<float> xs(R * C);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<float>(i % 97) * 0.37f - 17.0f;
  Both x = both(ctx, DType::F32, {R, C}, floats(xs));
  std::vector<uint8_t> yh(R * C * 2);
  DeviceBuffer yd = ctx.device_alloc(yh.size());
  ctx.convert(x.h, Format::BF16, TensorView{DType::BF16, {R, C}, yh.data(), yh.size()});
  ctx.convert(x.d, Format::BF16, Context::view(yd, DType::BF16, {R, C}));
  same("convert", yd, yh);

  Both q = both(ctx, DType::U8, {R, C / 2}, codes(R * C / 2, 21));
  Both s = both(ctx, DType::F8_E4M3, {R, C / 16}, codes(R * C / 16, 22));
  std::vector<uint8_t> fh(R * C * 4);
  DeviceBuffer fd = ctx.device_alloc(fh.size());
  ctx.dequantize_nvfp4(q.h, s.h, 0.5f, TensorView{DType::F32, {R, C}, fh.data(), fh.size()});
  ctx.dequantize_nvfp4(q.d, s.d, 0.5f, Context::view(fd, DType::F32, {R, C}));
  same("dequantize_nvfp4", fd, fh);

  Both q8 = both(ctx, DType::F8_E4M3, {R, C}, codes(R * C, 23));
  Both s8 = both(ctx, DType::F32, {R, C / 128}, floats(std::vector<float>(R * C / 128, 0.75f)));
  ctx.dequantize_fp8(q8.h, s8.h, Fp8Recipe::Token128, TensorView{DType::F32, {R, C}, fh.data(), fh.size()});
  ctx.dequantize_fp8(q8.d, s8.d, Fp8Recipe::Token128, Context::view(fd, DType::F32, {R, C}));
  same("dequantize_fp8", fd, fh);
}

// A view at an offset into a larger buffer (rows r.. of a stacked operand) is a view like any:
// offsets of 4, 64 and 128 bytes, on and off a device's base-address alignment (OpenCL reads an
// aligned one as a sub-buffer and copies the others).
TEST_P(DeviceBuffers, AViewAtAnOffsetReadsFromThere) {
  const Context& ctx = *ctx_;
  const int64_t M = 5, N = 8, K = 64;
  std::vector<uint8_t> stacked = codes((M + 2) * K + 4, 7), b = codes(N * K, 8);
  DeviceBuffer sdev = ctx.device_alloc(stacked.size());
  ctx.upload(sdev, 0, stacked.data(), stacked.size());
  Both bb = both(ctx, DType::F8_E4M3, {N, K}, b);
  for (size_t offset : {size_t{4}, size_t{64}, size_t{128}}) {
    SCOPED_TRACE("offset " + std::to_string(offset));
    std::vector<float> want(M * N), got(M * N);
    ctx.gemm_fp8(TensorView{DType::F8_E4M3, {M, K}, stacked.data() + offset, M * K}, bb.h, 1.0f, std::nullopt,
                 TensorView{DType::F32, {M, N}, want.data(), want.size() * 4});
    DeviceBuffer cdev = ctx.device_alloc(M * N * 4 + 12);
    ctx.gemm_fp8(Context::view(sdev, DType::F8_E4M3, {M, K}, offset), bb.d, 1.0f, std::nullopt,
                 Context::view(cdev, DType::F32, {M, N}, 12));
    ctx.download(cdev, 12, got.data(), got.size() * 4);
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * 4));
  }
}

TEST_P(DeviceBuffers, MisuseIsAnErrorNamingTheArgument) {
  const Context& ctx = *ctx_;
  DeviceBuffer buf = ctx.device_alloc(64);
  auto code_of = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::Io; // "did not throw": no call here does I/O
  };
  EXPECT_EQ(code_of([&] { (void)Context::view(buf, DType::F32, {17}); }), ErrorCode::ShortBuffer);
  EXPECT_EQ(code_of([&] { (void)Context::view(buf, DType::F32, {1}, 65); }), ErrorCode::ShortBuffer);
  std::vector<uint8_t> host(64, 1);
  EXPECT_EQ(code_of([&] { ctx.upload(buf, 60, host.data(), 8); }), ErrorCode::ShortBuffer);
  EXPECT_EQ(code_of([&] { ctx.download(buf, 0, host.data(), 65); }), ErrorCode::ShortBuffer);
  if (ctx.backend() == "cpu") return; // the rest is about memory the host cannot read

  // A function that reads its input on the host (the scale swizzle of weights.h) refuses a device
  // view, and writes nothing.
  std::vector<uint8_t> swizzled(128 * 4, 0xAB);
  try {
    to_swizzled_scales(Context::view(buf, DType::U8, {4, 4}), TensorView{DType::U8, {128, 4}, swizzled.data(), swizzled.size()});
    ADD_FAILURE() << "to_swizzled_scales took a device view";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
    EXPECT_NE(std::string(e.what()).find("linear is a view of device memory"), std::string::npos) << e.what();
  }
  EXPECT_EQ(swizzled, std::vector<uint8_t>(128 * 4, 0xAB));

  // A view of a freed buffer, and an address no buffer had.
  TensorView stale = Context::view(buf, DType::F8_E4M3, {2, 32});
  buf = DeviceBuffer();
  std::vector<float> c(4);
  TensorView cv{DType::F32, {2, 2}, c.data(), 16};
  try {
    ctx.gemm_fp8(stale, TensorView{DType::F8_E4M3, {2, 32}, host.data(), 64}, 1.0f, std::nullopt, cv);
    ADD_FAILURE() << "a freed buffer was read";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NullBuffer);
    EXPECT_NE(std::string(e.what()).find("freed"), std::string::npos) << e.what();
  }

  // A buffer of another device.
  const std::string other = ctx.backend() == "opencl" ? "vulkan" : "opencl";
  if (Context::device_count(other) > 0) {
    Context them = Context::open(other, 0);
    DeviceBuffer theirs = them.device_alloc(64);
    EXPECT_EQ(code_of([&] { ctx.upload(theirs, 0, host.data(), 8); }), ErrorCode::InvalidArgument);
    EXPECT_EQ(code_of([&] {
                ctx.gemm_fp8(Context::view(theirs, DType::F8_E4M3, {2, 32}),
                             TensorView{DType::F8_E4M3, {2, 32}, host.data(), 64}, 1.0f, std::nullopt, cv);
              }),
              ErrorCode::InvalidArgument);
  }
}

// When no device variant can run a call that has device views, the CPU reference may not take
// it over (it cannot read device memory): an Error, where a host call falls back.
TEST_P(DeviceBuffers, NoFallbackToTheCpuWithDeviceViews) {
  const Context& ctx = *ctx_;
  if (ctx.backend() == "cpu") GTEST_SKIP();
  Overrides o;
  for (const auto& v : dispatch::variants())
    if (v.op == "gemm_fp8" && v.backend == ctx.backend()) o.disabled.insert(std::string(v.backend) + ":gemm_fp8:" + std::string(v.name));
  set_overrides(o);
  Both a = both(ctx, DType::F8_E4M3, {2, 32}, codes(64, 9));
  std::vector<float> c(4);
  TensorView cv{DType::F32, {2, 2}, c.data(), 16};
  ctx.gemm_fp8(a.h, a.h, 1.0f, std::nullopt, cv);
  EXPECT_EQ(ctx.last_run().backend, "cpu");
  try {
    ctx.gemm_fp8(a.d, a.h, 1.0f, std::nullopt, cv);
    ADD_FAILURE() << "the CPU reference ran on device memory";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
  }
  set_overrides(Overrides{});
}

// run_named_op on views (named_ops.h): device inputs and a device output give the bytes of the
// by-name call on host tensors and move nothing; an output not given comes back in host memory;
// a wrong output, and a number the host must read kept in device memory, are errors.
TEST_P(DeviceBuffers, ByNameOnDeviceViewsGivesTheHostBytes) {
  const Context& ctx = *ctx_;
  const int64_t R = 2, C = 64;
  std::vector<float> xs(R * C);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<float>(i % 13) * 0.5f - 3.0f;
  TensorMap host;
  host.emplace("x", Tensor(DType::F32, {R, C}));
  std::memcpy(host.at("x").data(), xs.data(), xs.size() * 4);
  const TensorMap want = run_named_op("quantize_nvfp4", host, {}, ctx.options());

  Both x = both(ctx, DType::F32, {R, C}, floats(xs));
  DeviceBuffer q = ctx.device_alloc(R * C / 2), s = ctx.device_alloc(R * C / 16);
  const ViewMap outputs = {{"x", Context::view(q, DType::U8, {R, C / 2})},
                           {"x_scale", Context::view(s, DType::F8_E4M3, {R, C / 16})}};
  RunInfo info;
  const TensorMap got = run_named_op("quantize_nvfp4", {{"x", x.d}}, {}, outputs, ctx.options(), &info);
  ctx.sync();
  // Only the output not given comes back: the scale_2 the host returns.
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(got.count("x_scale_2"));
  EXPECT_EQ(got.at("x_scale_2").as<float>()[0], want.at("x_scale_2").as<float>()[0]);
  EXPECT_EQ(info.traffic.bytes_to_device, 0);
  for (const auto& [name, buffer] : {std::pair<const char*, const DeviceBuffer*>{"x", &q}, {"x_scale", &s}}) {
    std::vector<uint8_t> bytes(want.at(name).nbytes());
    ctx.download(*buffer, 0, bytes.data(), bytes.size());
    EXPECT_EQ(0, std::memcmp(bytes.data(), want.at(name).data(), bytes.size())) << name;
  }

  // The error's code, or -1 when the call ran.
  auto code = [&](const ViewMap& in, const ViewMap& out) {
    try {
      run_named_op("quantize_nvfp4", in, {}, out, ctx.options());
      ctx.sync();
    } catch (const Error& e) {
      return static_cast<int>(e.code());
    }
    return -1;
  };
  EXPECT_EQ(code({{"x", x.d}}, {{"y", outputs.at("x")}}), static_cast<int>(ErrorCode::InvalidArgument)); // no such output
  EXPECT_EQ(code({{"x", x.d}}, {{"x", Context::view(q, DType::U8, {R, C / 4})}}),
            static_cast<int>(ErrorCode::ShapeMismatch));
  EXPECT_EQ(code({{"x", x.d}}, {{"x", Context::view(q, DType::F8_E4M3, {R, C / 2})}}),
            static_cast<int>(ErrorCode::DTypeMismatch));
  EXPECT_EQ(code({{"x", x.d}}, outputs), -1);
  // dequantize_nvfp4 reads x_scale_2 on the host: in device memory it is refused, not read.
  if (ctx.backend() != "cpu") {
    Both s2 = both(ctx, DType::F32, {}, floats({0.5f}));
    try {
      run_named_op("dequantize_nvfp4", {{"x", outputs.at("x")}, {"x_scale", outputs.at("x_scale")}, {"x_scale_2", s2.d}},
                   {}, {}, ctx.options());
      ADD_FAILURE() << "a device x_scale_2 was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find("x_scale_2"), std::string::npos) << e.what();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, DeviceBuffers, ::testing::Values("cpu", "opencl", "vulkan"),
                         [](const auto& info) { return std::string(info.param); });

} // namespace

namespace {
// The same through the C API: a tessera_tensor whose data is a device buffer's address.
TEST(DeviceBuffersC, AGemmOnDeviceBuffersThroughTheCApi) {
  for (const char* backend : {"cpu", "opencl", "vulkan"}) {
    int32_t n = 0;
    ASSERT_EQ(tessera_device_count(backend, &n), TESSERA_OK);
    if (n == 0) continue;
    SCOPED_TRACE(backend);
    tessera_context* ctx = nullptr;
    ASSERT_EQ(tessera_context_create(backend, 0, &ctx), TESSERA_OK);
    const int64_t M = 2, N = 4, K = 32;
    std::vector<uint8_t> a = codes(M * K, 11), b = codes(N * K, 12);
    std::vector<float> want(M * N), got(M * N);
    tessera_tensor ah{TESSERA_F8_E4M3, 2, {M, K}, a.data(), a.size(), nullptr};
    tessera_tensor bh{TESSERA_F8_E4M3, 2, {N, K}, b.data(), b.size(), nullptr};
    tessera_tensor ch{TESSERA_F32, 2, {M, N}, want.data(), want.size() * 4, nullptr};
    ASSERT_EQ(tessera_gemm_fp8(ctx, &ah, &bh, 0.5f, nullptr, &ch), TESSERA_OK);
    tessera_device_buffer *ad = nullptr, *cd = nullptr;
    ASSERT_EQ(tessera_device_alloc(ctx, a.size(), &ad), TESSERA_OK);
    ASSERT_EQ(tessera_device_alloc(ctx, got.size() * 4, &cd), TESSERA_OK);
    ASSERT_EQ(tessera_upload(ctx, ad, 0, a.data(), a.size()), TESSERA_OK);
    tessera_tensor adv{TESSERA_F8_E4M3, 2, {M, K}, tessera_device_buffer_address(ad), tessera_device_buffer_size(ad), nullptr};
    tessera_tensor cdv{TESSERA_F32, 2, {M, N}, tessera_device_buffer_address(cd), tessera_device_buffer_size(cd), nullptr};
    ASSERT_EQ(tessera_gemm_fp8(ctx, &adv, &bh, 0.5f, nullptr, &cdv), TESSERA_OK) << tessera_last_error_message();
    ASSERT_EQ(tessera_download(ctx, cd, 0, got.data(), got.size() * 4), TESSERA_OK);
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * 4));
    EXPECT_EQ(tessera_upload(ctx, ad, 1, a.data(), a.size()), TESSERA_SHORT_BUFFER);
    EXPECT_EQ(tessera_upload(ctx, nullptr, 0, a.data(), 1), TESSERA_NULL_BUFFER);
    tessera_device_buffer_destroy(ad);
    tessera_device_buffer_destroy(cd);
    tessera_context_destroy(ctx);
  }
}
} // namespace
