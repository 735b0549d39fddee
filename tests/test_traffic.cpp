// The device traffic counters (tessera::DeviceTraffic): what a call allocated on its device and
// moved between host and device, per call (RunInfo::traffic) and per context
// (Context::traffic(), tessera_context_traffic). Today every device call uploads its inputs and
// reads back its outputs; these tests pin that down, so that the resident path can be shown to
// move less.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "tessera/context.h"
#include "tessera/tessera.h"

namespace {
using namespace tessera;

constexpr int64_t M = 4, N = 8, K = 32;

// gemm_fp8 with a bias through `ctx`: inputs of 4 x 32 + 8 x 32 + 8 x 4 bytes, an F32 c of 128.
RunInfo gemm(const Context& ctx) {
  std::vector<uint8_t> a(M * K, 0x38), b(N * K, 0x30); // E4M3 1.0 and 0.5
  std::vector<float> bias(N, 0.25f), c(M * N, -1.0f);
  TensorView av{DType::F8_E4M3, {M, K}, a.data(), a.size()};
  TensorView bv{DType::F8_E4M3, {N, K}, b.data(), b.size()};
  TensorView biasv{DType::F32, {N}, bias.data(), bias.size() * 4};
  TensorView cv{DType::F32, {M, N}, c.data(), c.size() * 4};
  ctx.gemm_fp8(av, bv, 1.0f, biasv, cv);
  EXPECT_EQ(c[0], 16.25f); // 32 * 1 * 0.5 + 0.25
  return ctx.last_run();
}

class Traffic : public ::testing::TestWithParam<const char*> {};

TEST_P(Traffic, ADeviceCallCountsItsUploadsAndItsReadBack) {
  const std::string backend = GetParam();
  if (Context::device_count(backend) == 0) GTEST_SKIP() << "no " << backend << " device";
  Context ctx = Context::open(backend, 0);
  EXPECT_EQ(ctx.traffic().bytes_to_device, 0);
  RunInfo one = gemm(ctx);
  SCOPED_TRACE(one.backend + ":" + one.variant);
  RecordProperty("ran", one.backend + ":" + one.variant);
  RecordProperty("bytes_to_device", std::to_string(one.traffic.bytes_to_device));
  if (one.backend == "cpu") {
    EXPECT_EQ(one.traffic.allocations, 0);
    EXPECT_EQ(one.traffic.bytes_to_device, 0);
    EXPECT_EQ(one.traffic.bytes_from_device, 0);
  } else {
    const int64_t inputs = M * K + N * K + N * 4;
    EXPECT_GE(one.traffic.bytes_to_device, inputs);
    EXPECT_LE(one.traffic.bytes_to_device, inputs + 4096) << "more than the inputs and a few scalars";
    EXPECT_EQ(one.traffic.bytes_from_device, M * N * 4) << "c, and nothing else";
    EXPECT_GE(one.traffic.allocations, 4); // a, b, bias, c: nothing is resident yet
  }
  // The context sums its calls.
  RunInfo two = gemm(ctx);
  const DeviceTraffic t = ctx.traffic();
  EXPECT_EQ(t.allocations, one.traffic.allocations + two.traffic.allocations);
  EXPECT_EQ(t.bytes_to_device, one.traffic.bytes_to_device + two.traffic.bytes_to_device);
  EXPECT_EQ(t.bytes_from_device, one.traffic.bytes_from_device + two.traffic.bytes_from_device);
  // A refused call moves nothing and leaves the sums alone.
  std::vector<float> c(M * N);
  TensorView bad{DType::F32, {M, K}, c.data(), c.size() * 4}; // short and of the wrong dtype
  EXPECT_THROW(ctx.gemm_fp8(bad, bad, 1.0f, std::nullopt, bad), Error);
  EXPECT_EQ(ctx.traffic().bytes_to_device, t.bytes_to_device);
}

TEST_P(Traffic, TheCApiReportsTheContextsSums) {
  const std::string backend = GetParam();
  if (Context::device_count(backend) == 0) GTEST_SKIP() << "no " << backend << " device";
  tessera_context* ctx = nullptr;
  ASSERT_EQ(tessera_context_create(backend.c_str(), 0, &ctx), TESSERA_OK);
  std::vector<uint8_t> a(M * K, 0x38), b(N * K, 0x30);
  std::vector<float> c(M * N);
  tessera_tensor at{TESSERA_F8_E4M3, 2, {M, K}, a.data(), a.size(), nullptr};
  tessera_tensor bt{TESSERA_F8_E4M3, 2, {N, K}, b.data(), b.size(), nullptr};
  tessera_tensor ct{TESSERA_F32, 2, {M, N}, c.data(), c.size() * 4, nullptr};
  ASSERT_EQ(tessera_gemm_fp8(ctx, &at, &bt, 1.0f, nullptr, &ct), TESSERA_OK);
  int64_t allocations = -1, to = -1, from = -1;
  ASSERT_EQ(tessera_context_traffic(ctx, &allocations, &to, &from), TESSERA_OK);
  ASSERT_EQ(tessera_context_traffic(ctx, nullptr, nullptr, nullptr), TESSERA_OK);
  char ran[16] = {};
  ASSERT_EQ(tessera_last_run(ctx, ran, sizeof ran, nullptr, 0, nullptr, 0), TESSERA_OK);
  if (std::strcmp(ran, "cpu") == 0) {
    EXPECT_EQ(to, 0);
    EXPECT_EQ(from, 0);
  } else {
    EXPECT_GE(to, M * K + N * K);
    EXPECT_EQ(from, M * N * 4);
    EXPECT_GT(allocations, 0);
  }
  EXPECT_EQ(tessera_context_traffic(nullptr, &allocations, &to, &from), TESSERA_NULL_BUFFER);
  tessera_context_destroy(ctx);
}

INSTANTIATE_TEST_SUITE_P(Backends, Traffic, ::testing::Values("cpu", "opencl", "vulkan"),
                         [](const auto& info) { return std::string(info.param); });

} // namespace
