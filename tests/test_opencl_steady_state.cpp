// The OpenCL backend's steady state (issue 13, item 5): a call of a shape seen before takes every
// buffer from the device's pool and finds its kernels without assembling or looking up a
// program's source, so it allocates nothing (RunInfo::traffic.allocations counts pool misses);
// its bytes are the first call's even when the pooled buffers hold garbage from earlier calls.
// Also: the pool never hands one buffer to two uses at once, keeps to its bound, and serves the
// calls after a failed one.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "core/backend.h"
#include "host/src/opencl/introspect.h"
#include "tessera/context.h"
#include "tests/variant_launch.h"

namespace tessera {
namespace {

namespace ocl = detail::opencl;

// What a call wrote, as bytes, and what it reported.
struct Outcome {
  std::vector<std::vector<uint8_t>> outputs;
  RunInfo info;
};

template <class T> std::vector<uint8_t> bytes_of(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

template <class T> TensorView view(DType t, Shape s, std::vector<T>& v) {
  return {t, std::move(s), v.data(), v.size() * sizeof(T)};
}

std::vector<float> floats(size_t n, unsigned seed, float lo = -2.0f, float hi = 2.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Codes in [lo, hi]: E4M3 0x20..0x48 are finite scales and values around 1 (no NaN).
std::vector<uint8_t> codes(size_t n, unsigned seed, int lo = 0, int hi = 255) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<uint8_t> v(n);
  for (uint8_t& x : v) x = static_cast<uint8_t>(d(rng));
  return v;
}

class SteadyState : public ::testing::Test {
protected:
  void SetUp() override {
    if (Context::device_count("opencl") == 0) GTEST_SKIP() << "no OpenCL device";
    ctx_ = Context::open("opencl", 0);
  }
  const Context& ctx() const { return *ctx_; }
  RunOptions on(const char* variant = "") const { return ctx_->options(variant); }

  // Runs `call` twice, every free buffer of the pool overwritten in between: the second call
  // allocates nothing, builds or looks up no program, sends no more than the first (less once
  // the launch's tables are kept on the device), and writes the first call's bytes.
  void expect_steady(const std::function<Outcome()>& call) const {
    const Outcome first = call();
    ASSERT_EQ(first.info.backend, "opencl") << first.info.reason;
    SCOPED_TRACE(first.info.variant);
    ocl::fill_pool(0, 0xA5);
    const ocl::ProgramCacheStats s0 = ocl::program_cache_stats();
    const Outcome second = call();
    const ocl::ProgramCacheStats s1 = ocl::program_cache_stats();
    EXPECT_EQ(second.info.variant, first.info.variant);
    EXPECT_EQ(second.info.traffic.allocations, 0);
    EXPECT_LE(second.info.traffic.bytes_to_device, first.info.traffic.bytes_to_device);
    EXPECT_EQ(s1.memory_hits, s0.memory_hits) << "a program looked up by its source";
    EXPECT_EQ(s1.source_builds + s1.disk_hits, s0.source_builds + s0.disk_hits);
    ASSERT_EQ(second.outputs.size(), first.outputs.size());
    for (size_t i = 0; i < first.outputs.size(); ++i)
      EXPECT_EQ(second.outputs[i], first.outputs[i]) << "output " << i;
  }

  // The quantizers divide: the registry runs them only where division is correctly rounded.
  bool divides() const { return ocl::devices()[0].correctly_rounded_divide; }

  std::optional<Context> ctx_;
};

TEST_F(SteadyState, ConversionsAndQuantizers) {
  const int64_t R = 5, C = 320;
  std::vector<float> x = floats(R * C, 1, -300.0f, 300.0f);
  for (Format to : {Format::E4M3, Format::BF16}) {
    expect_steady([&] {
      const bool wide = to == Format::BF16;
      std::vector<uint8_t> y(R * C * (wide ? 2 : 1), 0x5A);
      Outcome r;
      convert(view(DType::F32, {R, C}, x), to, view(wide ? DType::BF16 : DType::F8_E4M3, {R, C}, y), on(), &r.info);
      r.outputs = {y};
      return r;
    });
  }
  std::vector<uint8_t> q4 = codes(R * C / 2, 2), s4 = codes(R * C / 16, 3, 0x20, 0x48);
  expect_steady([&] {
    std::vector<float> y(R * C, -1.0f);
    Outcome r;
    dequantize_nvfp4(view(DType::U8, {R, C / 2}, q4), view(DType::F8_E4M3, {R, C / 16}, s4), 0.75f,
                     view(DType::F32, {R, C}, y), on(), &r.info);
    r.outputs = {bytes_of(y)};
    return r;
  });
  std::vector<uint8_t> q8 = codes(R * C, 4, 0x00, 0x7E);
  std::vector<float> token_scales = floats(R * 3, 5, 0.01f, 1.0f);
  expect_steady([&] {
    std::vector<float> y(R * C, -1.0f);
    Outcome r;
    dequantize_fp8(view(DType::F8_E4M3, {R, C}, q8), view(DType::F32, {R, 3}, token_scales), Fp8Recipe::Token128,
                   view(DType::F32, {R, C}, y), on(), &r.info);
    r.outputs = {bytes_of(y)};
    return r;
  });
  if (!divides()) GTEST_SKIP() << "no correctly rounded division: the quantizers do not run here";
  expect_steady([&] {
    std::vector<uint8_t> q(R * C / 2, 0x5A), s(R * C / 16, 0x5A);
    Outcome r;
    float s2 = quantize_nvfp4(view(DType::F32, {R, C}, x), Nvfp4Recipe::Nvfp4, std::nullopt,
                              view(DType::U8, {R, C / 2}, q), view(DType::F8_E4M3, {R, C / 16}, s), on(), &r.info);
    r.outputs = {q, s, bytes_of(std::vector<float>{s2})};
    return r;
  });
  for (Fp8Recipe recipe : {Fp8Recipe::Tensor, Fp8Recipe::Token128, Fp8Recipe::Block128}) {
    expect_steady([&] {
      const Shape scale_shape = recipe == Fp8Recipe::Tensor     ? Shape{}
                                : recipe == Fp8Recipe::Token128 ? Shape{R, 3}
                                                                : Shape{1, 3};
      std::vector<uint8_t> q(R * C, 0x5A);
      std::vector<float> scales(static_cast<size_t>(shape_numel(scale_shape)), -1.0f);
      Outcome r;
      quantize_fp8(view(DType::F32, {R, C}, x), recipe, view(DType::F8_E4M3, {R, C}, q),
                   view(DType::F32, scale_shape, scales), on(), &r.info);
      r.outputs = {q, bytes_of(scales)};
      return r;
    });
  }
}

// The exact GEMMs at a decode M (gemv_splitk_exact) and a prefill M (tiled_exact), the fused
// activation GEMMs, and the packed gemv.
TEST_F(SteadyState, Gemms) {
  const int64_t N = 24, K = 256, kb = K / 128;
  std::vector<float> bias = floats(N, 10);
  std::vector<uint8_t> b4 = codes(N * K / 2, 11), bs4 = codes(N * K / 16, 12, 0x20, 0x48);
  std::vector<uint8_t> b8 = codes(N * K, 13, 0x00, 0x7E);
  std::vector<float> bs8 = floats(kb, 14, 0.01f, 0.1f);
  for (int64_t M : {3, 40}) {
    SCOPED_TRACE("M = " + std::to_string(M));
    std::vector<uint8_t> a4 = codes(M * K / 2, 20), as4 = codes(M * K / 16, 21, 0x20, 0x48);
    std::vector<uint8_t> a8 = codes(M * K, 22, 0x00, 0x7E);
    std::vector<float> as8 = floats(M * kb, 23, 0.01f, 0.1f), x = floats(M * K, 24);
    auto gemm = [&](auto&& call) {
      expect_steady([&] {
        std::vector<uint16_t> c(M * N, 0x5A5A);
        Outcome r;
        call(view(DType::BF16, {M, N}, c), r.info);
        r.outputs = {bytes_of(c)};
        return r;
      });
    };
    gemm([&](const TensorView& c, RunInfo& info) {
      gemm_nvfp4(view(DType::U8, {M, K / 2}, a4), view(DType::F8_E4M3, {M, K / 16}, as4), view(DType::U8, {N, K / 2}, b4),
                 view(DType::F8_E4M3, {N, K / 16}, bs4), 1e-3f, view(DType::F32, {N}, bias), c, on(), &info);
    });
    gemm([&](const TensorView& c, RunInfo& info) {
      gemm_fp8(view(DType::F8_E4M3, {M, K}, a8), view(DType::F8_E4M3, {N, K}, b8), 1e-2f, view(DType::F32, {N}, bias), c,
               on(), &info);
    });
    gemm([&](const TensorView& c, RunInfo& info) {
      gemm_fp8_block(view(DType::F8_E4M3, {M, K}, a8), view(DType::F32, {M, kb}, as8), view(DType::F8_E4M3, {N, K}, b8),
                     view(DType::F32, {1, kb}, bs8), view(DType::F32, {N}, bias), c, on(), &info);
    });
    if (!divides()) continue; // the fused GEMMs quantize on the device
    gemm([&](const TensorView& c, RunInfo& info) {
      gemm_nvfp4_act(view(DType::F32, {M, K}, x), std::nullopt, view(DType::U8, {N, K / 2}, b4),
                     view(DType::F8_E4M3, {N, K / 16}, bs4), 0.5f, view(DType::F32, {N}, bias), c, on(), &info);
    });
    gemm([&](const TensorView& c, RunInfo& info) {
      gemm_fp8_act(view(DType::F32, {M, K}, x), view(DType::F8_E4M3, {N, K}, b8), view(DType::F32, {1, kb}, bs8),
                   view(DType::F32, {N}, bias), c, on(), &info);
    });
  }
  const PackedWeight w = ctx().pack_nvfp4_weight(view(DType::U8, {N, K / 2}, b4), view(DType::F8_E4M3, {N, K / 16}, bs4),
                                                 0.5f, ScaleLayout::Linear, 1);
  std::vector<uint8_t> a4 = codes(K / 2, 30), as4 = codes(K / 16, 31, 0x20, 0x48);
  expect_steady([&] {
    std::vector<float> c(N, -1.0f);
    ctx().gemm_nvfp4_packed(view(DType::U8, {1, K / 2}, a4), view(DType::F8_E4M3, {1, K / 16}, as4), w, 1e-3f,
                            std::nullopt, view(DType::F32, {1, N}, c));
    return Outcome{{bytes_of(c)}, ctx().last_run()};
  });
}

TEST_F(SteadyState, DeltaNetAndConv1d) {
  const int64_t T = 70, H = 2, HV = 4, Dk = 32, Dv = 48; // two chunks of the chunked variant
  std::vector<float> q = floats(T * H * Dk, 40), k = floats(T * H * Dk, 41), v = floats(T * HV * Dv, 42);
  std::vector<float> g = floats(T * HV, 43, -0.5f, 0.0f), beta = floats(T * HV, 44, 0.0f, 1.0f);
  std::vector<float> h0 = floats(2 * HV * Dk * Dv, 45);
  std::vector<int32_t> cu = {0, 30, 70};
  for (const char* variant : {"recurrent", "recurrent_dk256", "chunked"}) {
    expect_steady([&] {
      DeltaNetArgs a;
      a.q = view(DType::F32, {1, T, H, Dk}, q), a.k = view(DType::F32, {1, T, H, Dk}, k);
      a.v = view(DType::F32, {1, T, HV, Dv}, v);
      a.g = view(DType::F32, {1, T, HV}, g), a.beta = view(DType::F32, {1, T, HV}, beta);
      a.h0 = view(DType::F32, {2, HV, Dk, Dv}, h0), a.cu_seqlens = view(DType::I32, {3}, cu);
      a.l2norm = true;
      std::vector<float> o(T * HV * Dv, -1.0f), ht(2 * HV * Dk * Dv, -1.0f);
      Outcome r;
      deltanet(a, view(DType::F32, {1, T, HV, Dv}, o), view(DType::F32, {2, HV, Dk, Dv}, ht), on(variant), &r.info);
      r.outputs = {bytes_of(o), bytes_of(ht)};
      return r;
    });
  }
  const int64_t B = 2, L = 9, C = 40, W = 4;
  std::vector<float> x = floats(B * L * C, 50), w = floats(C * W, 51), bias = floats(C, 52),
                     state = floats(B * C * (W - 1), 53);
  expect_steady([&] {
    std::vector<float> y(B * L * C, -1.0f), so(B * C * (W - 1), -1.0f);
    Outcome r;
    conv1d(view(DType::F32, {B, L, C}, x), view(DType::F32, {C, W}, w), view(DType::F32, {C}, bias),
           view(DType::F32, {B, C, W - 1}, state), view(DType::F32, {B, L, C}, y),
           view(DType::F32, {B, C, W - 1}, so), on(), &r.info);
    r.outputs = {bytes_of(y), bytes_of(so)};
    return r;
  });
}

TEST_F(SteadyState, Attention) {
  const int64_t B = 2, S = 40, Hq = 4, Hkv = 2, D = 64;
  std::vector<float> k = floats(B * S * Hkv * D, 60), v = floats(B * S * Hkv * D, 61);
  for (auto [variant, T] : {std::pair{"flash_prefill", int64_t{20}}, std::pair{"splitkv_decode", int64_t{3}}}) {
    std::vector<float> q = floats(B * T * Hq * D, 62), gate = floats(B * T * Hq * D, 63);
    expect_steady([&] {
      AttentionArgs a;
      a.q = view(DType::F32, {B, T, Hq, D}, q);
      a.k = view(DType::F32, {B, S, Hkv, D}, k), a.v = view(DType::F32, {B, S, Hkv, D}, v);
      a.gate = view(DType::F32, {B, T, Hq, D}, gate);
      std::vector<float> o(B * T * Hq * D, -1.0f), lse(B * T * Hq, -1.0f);
      Outcome r;
      attention(a, view(DType::F32, {B, T, Hq, D}, o), view(DType::F32, {B, T, Hq}, lse), on(variant), &r.info);
      r.outputs = {bytes_of(o), bytes_of(lse)};
      return r;
    });
  }
}

// The tensor-core records, which the registry offers only on NVIDIA's OpenCL: on PoCL their
// launch functions run the kernels' portable branch, called here directly (no RunInfo: the
// thread's traffic counter itself).
TEST_F(SteadyState, TensorCoreLaunchers) {
  auto launched = [](const char* variant, auto&& launch) {
    detail::thread_traffic() = {};
    launch();
    Outcome r;
    r.info.backend = "opencl", r.info.variant = variant, r.info.traffic = detail::thread_traffic();
    return r;
  };
  const int64_t M = 20, N = 24, K = 128;
  std::vector<uint8_t> a4 = codes(M * K / 2, 70), as4 = codes(M * K / 16, 71, 0x20, 0x48);
  std::vector<uint8_t> b4 = codes(N * K / 2, 72), bs4 = codes(N * K / 16, 73, 0x20, 0x48);
  std::vector<uint8_t> a8 = codes(M * K, 74, 0x00, 0x7E), b8 = codes(N * K, 75, 0x00, 0x7E);
  std::vector<float> as8 = floats(M, 76, 0.01f, 0.1f), bs8 = floats(1, 77, 0.01f, 0.1f), bias = floats(N, 78);
  expect_steady([&] {
    std::vector<float> c(M * N, -1.0f);
    Outcome r = launched("nv_mma_f16", [&] {
      test::launch_opencl(0, "nv_mma_f16", detail::GemmNvfp4Args{a4.data(), as4.data(), b4.data(), bs4.data(), M, N, K,
                                                                 0.5f, bias.data(), ref::OutType::F32, c.data()});
    });
    r.outputs = {bytes_of(c)};
    return r;
  });
  for (const char* variant : {"nv_mma_f16", "nv_mma_e4m3"}) {
    expect_steady([&] {
      std::vector<float> c(M * N, -1.0f), cb(M * N, -1.0f);
      Outcome r = launched(variant, [&] {
        test::launch_opencl(0, variant, detail::GemmFp8Args{a8.data(), b8.data(), M, N, K, 1.25f, bias.data(),
                                                            ref::OutType::F32, c.data()});
        test::launch_opencl(0, variant, detail::GemmFp8BlockArgs{a8.data(), as8.data(), b8.data(), bs8.data(), M, N, K,
                                                                 nullptr, ref::OutType::F32, cb.data()});
      });
      r.outputs = {bytes_of(c), bytes_of(cb)};
      return r;
    });
  }
  const int64_t T = 20, S = 40, Hq = 4, Hkv = 2, D = 64;
  std::vector<float> q = floats(T * Hq * D, 80), k = floats(S * Hkv * D, 81), v = floats(S * Hkv * D, 82);
  expect_steady([&] {
    std::vector<float> o(T * Hq * D, -1.0f), lse(T * Hq, -1.0f);
    Outcome r = launched("nv_mma_f16", [&] {
      test::launch_opencl(0, "nv_mma_f16",
                          detail::AttentionRunArgs{q.data(), k.data(), v.data(), DType::F32, DType::F32, 1.0f, 1.0f,
                                                   nullptr, nullptr, nullptr, 1, {1, T, S, Hq, Hkv, D}, true, 0.125f,
                                                   o.data(), lse.data()});
    });
    r.outputs = {bytes_of(o), bytes_of(lse)};
    return r;
  });
}

// a, b and the F32 c of this gemm_fp8 have one size, so one size class serves all three: each
// must be a buffer of its own, the first time (created) and the second (all from the pool).
TEST_F(SteadyState, BuffersOfOneSizeAreNeverShared) {
  const int64_t M = 32, N = 32, K = 128; // 4096 bytes each
  std::vector<uint8_t> a = codes(M * K, 90, 0x00, 0x7E), b = codes(N * K, 91, 0x00, 0x7E);
  std::vector<float> want(M * N);
  gemm_fp8(view(DType::F8_E4M3, {M, K}, a), view(DType::F8_E4M3, {N, K}, b), 1e-2f, std::nullopt,
           view(DType::F32, {M, N}, want), Context::open("cpu").options());
  for (int call = 0; call < 2; ++call) {
    std::vector<float> c(M * N, -1.0f);
    RunInfo info;
    gemm_fp8(view(DType::F8_E4M3, {M, K}, a), view(DType::F8_E4M3, {N, K}, b), 1e-2f, std::nullopt,
             view(DType::F32, {M, N}, c), on(), &info);
    ASSERT_EQ(info.backend, "opencl") << info.reason;
    EXPECT_EQ(bytes_of(c), bytes_of(want)) << "call " << call;
    if (call == 1) {
      EXPECT_EQ(info.traffic.allocations, 0);
    }
  }
}

// Threads calling at once with their own inputs: each gets its own results.
TEST_F(SteadyState, ConcurrentCallsKeepTheirBuffers) {
  const int64_t n = 1000;
  constexpr int kThreads = 3, kCalls = 6;
  std::vector<std::vector<float>> x;
  std::vector<std::vector<uint16_t>> want;
  for (int t = 0; t < kThreads; ++t) {
    x.push_back(floats(n, 100 + t));
    want.emplace_back(n);
    convert(view(DType::F32, {n}, x[t]), Format::F16, view(DType::F16, {n}, want[t]), on());
  }
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        std::vector<uint16_t> y(n, 0x5A5A);
        convert(view(DType::F32, {n}, x[t]), Format::F16, view(DType::F16, {n}, y), on());
        wrong[t] += y != want[t];
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

// A launch that fails half-way (an input or an output that is a freed device buffer) leaves the
// device and its pool fit for the next call, which allocates nothing and gives the same bytes.
TEST_F(SteadyState, CallsAfterAFailedCallStillWork) {
  const int64_t B = 2, L = 9, C = 40, W = 4, n = B * L * C;
  std::vector<float> x = floats(n, 110), w = floats(C * W, 111);
  auto good = [&] {
    std::vector<float> y(n, -1.0f), so(B * C * (W - 1), -1.0f);
    Outcome r;
    conv1d(view(DType::F32, {B, L, C}, x), view(DType::F32, {C, W}, w), std::nullopt, std::nullopt,
           view(DType::F32, {B, L, C}, y), view(DType::F32, {B, C, W - 1}, so), on(), &r.info);
    r.outputs = {bytes_of(y), bytes_of(so)};
    return r;
  };
  const Outcome first = good();
  ASSERT_EQ(first.info.backend, "opencl") << first.info.reason;
  void* gone = nullptr;
  {
    DeviceBuffer d = ctx().device_alloc(static_cast<size_t>(n) * 4);
    gone = d.address();
  }
  std::vector<float> y(n), so(B * C * (W - 1));
  // x's upload is under way when w turns out to be freed.
  EXPECT_THROW(test::launch_opencl(0, "direct_silu",
                                   detail::Conv1dRunArgs{x.data(), static_cast<const float*>(gone), nullptr, nullptr,
                                                         B, L, C, W, y.data(), so.data()}),
               Error);
  Outcome again = good();
  EXPECT_EQ(again.info.traffic.allocations, 0);
  EXPECT_EQ(again.outputs, first.outputs);
  // The kernel has run when y turns out to be freed.
  EXPECT_THROW(test::launch_opencl(0, "direct_silu",
                                   detail::Conv1dRunArgs{x.data(), w.data(), nullptr, nullptr, B, L, C, W,
                                                         static_cast<float*>(gone), so.data()}),
               Error);
  again = good();
  EXPECT_EQ(again.info.traffic.allocations, 0);
  EXPECT_EQ(again.outputs, first.outputs);
}

// The pool keeps at most its bound in free buffers, dropping those given back longest ago; with
// no room at all every call allocates each buffer.
TEST_F(SteadyState, ThePoolKeepsToItsBound) {
  const ocl::PoolStats start = ocl::pool_stats(0);
  EXPECT_GT(start.max_bytes, 0);
  EXPECT_LT(start.max_bytes, ocl::devices()[0].global_memory_bytes);
  auto run = [&](int64_t n) {
    std::vector<float> x = floats(n, 120);
    std::vector<uint8_t> y(n);
    RunInfo info;
    convert(view(DType::F32, {n}, x), Format::E4M3, view(DType::F8_E4M3, {n}, y), on(), &info);
    EXPECT_LE(ocl::pool_stats(0).bytes, ocl::pool_stats(0).max_bytes);
    return info.traffic.allocations;
  };
  constexpr int64_t kBound = 64 * 1024;
  ocl::set_pool_max_bytes(0, kBound);
  EXPECT_LE(ocl::pool_stats(0).bytes, kBound);
  run(4096);                       // x 16 KiB and y 4 KiB fit
  EXPECT_EQ(run(4096), 0);
  EXPECT_EQ(run(32 * 1024), 2);    // x is 128 KiB, over the bound: not kept
  EXPECT_EQ(run(32 * 1024), 1);    // y (32 KiB) was
  ocl::set_pool_max_bytes(0, 0);
  EXPECT_EQ(ocl::pool_stats(0).buffers, 0);
  run(4096);
  EXPECT_EQ(run(4096), 2);
  EXPECT_EQ(ocl::pool_stats(0).buffers, 0);
  ocl::set_pool_max_bytes(0, start.max_bytes);
  run(4096);
  EXPECT_EQ(run(4096), 0);
}

} // namespace
} // namespace tessera
