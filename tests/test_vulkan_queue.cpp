// The Vulkan queue (host/src/vulkan/batch.h): a call whose outputs all stay in device buffers is
// recorded into the device's open command buffer and returns without waiting (RunInfo::device_ms
// -1); Context::sync() submits, counts and times the queued calls and reports their failures;
// host reads (a download, a call with a host output) wait for what is before them. Checked on
// chains of dependent conv1d calls (each reads the previous call's output and state), whose
// bytes must equal the same chain with a sync after every call. Skipped only when there is no
// Vulkan device.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "host/src/vulkan/testing.h"
#include "tessera/context.h"
#include "tessera/tessera.h"
#include "test_util.h"

namespace {
using namespace tessera;
using Bytes = std::vector<uint8_t>;

constexpr int64_t B = 2, T = 3, C = 32, W = 4;
constexpr size_t kActBytes = B * T * C * 4, kStateBytes = B * C * (W - 1) * 4;

Bytes floats(size_t n, float lo, float hi, uint32_t seed) {
  std::vector<float> f = test::random_floats(n, lo, hi, seed);
  Bytes out(n * 4);
  std::memcpy(out.data(), f.data(), out.size());
  return out;
}

// The device buffers of one conv1d chain: two activations that take turns as x and y, the state
// (updated in place) and the weights. Small weights keep 300 steps finite.
struct Chain {
  Chain(const Context& ctx, uint32_t seed)
      : ctx(ctx), act{ctx.device_alloc(kActBytes), ctx.device_alloc(kActBytes)}, state(ctx.device_alloc(kStateBytes)),
        w(ctx.device_alloc(C * W * 4)) {
    const Bytes x0 = floats(kActBytes / 4, -1.0f, 1.0f, seed), s0 = floats(kStateBytes / 4, -1.0f, 1.0f, seed + 1),
                w0 = floats(C * W, -0.3f, 0.3f, seed + 2);
    ctx.upload(act[0], 0, x0.data(), x0.size());
    ctx.upload(state, 0, s0.data(), s0.size());
    ctx.upload(w, 0, w0.data(), w0.size());
  }
  // Call i: x = act[i % 2], y = act[(i + 1) % 2], the state read and written in place.
  void step(int i) const {
    const TensorView sv = Context::view(state, DType::F32, {B, C, W - 1});
    ctx.conv1d(Context::view(act[i % 2], DType::F32, {B, T, C}), Context::view(w, DType::F32, {C, W}), std::nullopt,
               sv, Context::view(act[(i + 1) % 2], DType::F32, {B, T, C}), sv);
  }
  Bytes download(const DeviceBuffer& b) const {
    Bytes out(b.size());
    ctx.download(b, 0, out.data(), out.size());
    return out;
  }
  // The last output and the state.
  Bytes result(int calls) const {
    Bytes out = download(act[calls % 2]), s = download(state);
    out.insert(out.end(), s.begin(), s.end());
    return out;
  }
  const Context& ctx;
  DeviceBuffer act[2], state, w;
};

class VulkanQueue : public ::testing::Test {
protected:
  void SetUp() override {
    if (Context::device_count("vulkan") == 0) GTEST_SKIP() << "no vulkan device";
    ctx_ = Context::open("vulkan", 0);
    ctx_->sync(); // nothing of an earlier test's is left queued
  }
  // The chain of `calls` steps from `seed`, with a sync after each call, as the reference.
  Bytes one_by_one(int calls, uint32_t seed) {
    Chain c(*ctx_, seed);
    for (int i = 0; i < calls; ++i) {
      c.step(i);
      EXPECT_EQ(ctx_->sync().calls, 1) << "call " << i;
    }
    return c.result(calls);
  }
  std::optional<Context> ctx_;
};

// (a) 64 dependent calls, none waited for, give the bytes of the calls one by one; sync() counts
// them and their device time, and a second sync has nothing left.
TEST_F(VulkanQueue, SixtyFourQueuedCallsEqualTheCallsOneByOne) {
  const Bytes want = one_by_one(64, 11);
  Chain c(*ctx_, 11);
  ctx_->sync();
  for (int i = 0; i < 64; ++i) {
    c.step(i);
    ASSERT_EQ(ctx_->last_run().backend, "vulkan");
    EXPECT_EQ(ctx_->last_run().device_ms, -1.0) << "call " << i << " waited";
  }
  const QueueInfo q = ctx_->sync();
  EXPECT_EQ(q.calls, 64);
  EXPECT_GT(q.device_ms, 0.0);
  EXPECT_EQ(c.result(64), want);
  EXPECT_EQ(ctx_->sync().calls, 0) << "a second sync has nothing left";
}

// More calls than one submission holds (kMaxSegments, 256): the full command buffer is submitted
// on the way, and sync() still counts every call.
TEST_F(VulkanQueue, MoreCallsThanASubmissionHoldsAreAllCounted) {
  const Bytes want = one_by_one(300, 12);
  Chain c(*ctx_, 12);
  ctx_->sync();
  for (int i = 0; i < 300; ++i)
    c.step(i);
  const QueueInfo q = ctx_->sync();
  EXPECT_EQ(q.calls, 300);
  EXPECT_GT(q.device_ms, 0.0);
  EXPECT_EQ(c.result(300), want);
}

// The same through descriptor sets, as on a device without pushed descriptors (forced): the
// pool's sets are freed when each full submission completes, and no result changes.
TEST_F(VulkanQueue, QueuedCallsThroughDescriptorSetsEqualPushedOnes) {
  const Bytes want = one_by_one(300, 13);
  detail::vulkan::set_force_descriptor_pool(true);
  const int64_t sets = detail::vulkan::descriptor_counts(0).sets;
  Chain c(*ctx_, 13);
  ctx_->sync();
  for (int i = 0; i < 300; ++i)
    c.step(i);
  EXPECT_EQ(ctx_->sync().calls, 300);
  EXPECT_GE(detail::vulkan::descriptor_counts(0).sets - sets, 300);
  EXPECT_EQ(c.result(300), want);
  detail::vulkan::set_force_descriptor_pool(false);
}

// (b) A download of a queued call's output waits for it: the right bytes without a sync, and the
// call is still counted by the next sync.
TEST_F(VulkanQueue, ADownloadWaitsForTheQueuedCallBeforeIt) {
  const Bytes want = one_by_one(3, 13);
  Chain c(*ctx_, 13);
  ctx_->sync();
  for (int i = 0; i < 3; ++i)
    c.step(i);
  EXPECT_EQ(ctx_->last_run().device_ms, -1.0);
  EXPECT_EQ(c.result(3), want);
  EXPECT_EQ(ctx_->sync().calls, 3);
}

// An upload into a device buffer that queued calls read waits for them first: they see the bytes
// from before it.
TEST_F(VulkanQueue, AnUploadWaitsForTheQueuedCallsThatReadTheBuffer) {
  const Bytes want = one_by_one(2, 14);
  Chain c(*ctx_, 14);
  ctx_->sync();
  c.step(0);
  c.step(1); // reads act[1], writes act[0]
  const Bytes junk(kActBytes, 0x3F);
  ctx_->upload(c.act[1], 0, junk.data(), junk.size());
  EXPECT_EQ(c.result(2), want);
  EXPECT_EQ(c.download(c.act[1]), junk);
}

// (c) A call with a host output after queued calls reads what they wrote: it waits for them, so
// its own device time is known, and they are still sync()'s.
TEST_F(VulkanQueue, AHostOutputCallAfterQueuedCallsIsRight) {
  const Bytes want = one_by_one(5, 15);
  Chain c(*ctx_, 15);
  ctx_->sync();
  for (int i = 0; i < 4; ++i)
    c.step(i);
  // Step 4 again with host outputs: x and the state from the queued calls, on the device.
  std::vector<float> y(kActBytes / 4), s(kStateBytes / 4);
  ctx_->conv1d(Context::view(c.act[0], DType::F32, {B, T, C}), Context::view(c.w, DType::F32, {C, W}), std::nullopt,
               Context::view(c.state, DType::F32, {B, C, W - 1}), TensorView{DType::F32, {B, T, C}, y.data(), kActBytes},
               TensorView{DType::F32, {B, C, W - 1}, s.data(), kStateBytes});
  EXPECT_GE(ctx_->last_run().device_ms, 0.0) << "a host output waits";
  Bytes got(kActBytes + kStateBytes);
  std::memcpy(got.data(), y.data(), kActBytes);
  std::memcpy(got.data() + kActBytes, s.data(), kStateBytes);
  EXPECT_EQ(got, want);
  EXPECT_EQ(ctx_->sync().calls, 4) << "the queued calls, not the one that waited";
}

// (d) gemm_*_act with a resident x (and a static scale for NVFP4) does not wait to read its
// quantizer's non-finite flag: the call returns, sync() names the operation and the element, and
// then the queue is empty and calls work again.
TEST_F(VulkanQueue, ANonFiniteResidentInputIsReportedBySync) {
  const Context& ctx = *ctx_;
  const int64_t M = 3, N = 24, K = 256;
  std::vector<float> x = test::random_floats(M * K, -1.0f, 1.0f, 16);
  x[1 * K + 3] = std::numeric_limits<float>::quiet_NaN();
  const Bytes b4 = floats(N * K / 8, -1.0f, 1.0f, 17), bs4(N * K / 16, 0x38); // scales of 1.0 in E4M3
  const Bytes b8(N * K, 0x38);
  const std::vector<float> bs8((N + 127) / 128 * (K / 128), 0.5f);
  DeviceBuffer xd = ctx.device_alloc(x.size() * 4), cd = ctx.device_alloc(M * N * 4);
  ctx.upload(xd, 0, x.data(), x.size() * 4);
  const TensorView xv = Context::view(xd, DType::F32, {M, K}), cv = Context::view(cd, DType::F32, {M, N});
  auto nvfp4 = [&] {
    (void)ctx.gemm_nvfp4_act(xv, 0.01f, TensorView{DType::U8, {N, K / 2}, const_cast<uint8_t*>(b4.data()), b4.size()},
                       TensorView{DType::F8_E4M3, {N, K / 16}, const_cast<uint8_t*>(bs4.data()), bs4.size()}, 0.5f,
                       std::nullopt, cv);
  };
  auto fp8 = [&] {
    ctx.gemm_fp8_act(xv, TensorView{DType::F8_E4M3, {N, K}, const_cast<uint8_t*>(b8.data()), b8.size()},
                     TensorView{DType::F32, {(N + 127) / 128, K / 128}, const_cast<float*>(bs8.data()), bs8.size() * 4},
                     std::nullopt, cv);
  };
  for (const auto& [op, call] : {std::pair<std::string, std::function<void()>>{"gemm_nvfp4_act", nvfp4},
                                 std::pair<std::string, std::function<void()>>{"gemm_fp8_act", fp8}}) {
    SCOPED_TRACE(op);
    ASSERT_NO_THROW(call()) << "the call waited for its check";
    EXPECT_EQ(ctx.last_run().device_ms, -1.0);
    try {
      ctx.sync();
      ADD_FAILURE() << "sync found nothing";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::NonFinite);
      EXPECT_NE(std::string(e.what()).find(op + ": x[1, 3] is NaN or inf"), std::string::npos) << e.what();
    }
    EXPECT_EQ(ctx.sync().calls, 0) << "the failed sync cleared the queue";
  }
  // A finite x afterwards runs and syncs cleanly.
  const float one = 1.0f;
  ctx.upload(xd, (1 * K + 3) * 4, &one, 4);
  ASSERT_NO_THROW(nvfp4());
  ASSERT_NO_THROW(fp8());
  EXPECT_EQ(ctx.sync().calls, 2);
}

// A submission that fails (the device reports VK_ERROR_DEVICE_LOST) is an Error(Unsupported) of
// sync() naming the first queued call's operation; afterwards the queue is empty and calls work.
TEST_F(VulkanQueue, AFailedSubmissionIsReportedBySyncAndLaterCallsWork) {
  const Bytes want = one_by_one(3, 18);
  {
    Chain c(*ctx_, 19);
    ctx_->sync();
    detail::vulkan::fail_next_submission(0);
    c.step(0);
    c.step(1);
    try {
      ctx_->sync();
      ADD_FAILURE() << "sync found nothing";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Unsupported);
      EXPECT_NE(std::string(e.what()).find("conv1d: a submission failed: VK_ERROR_DEVICE_LOST"), std::string::npos)
          << e.what();
    }
    EXPECT_EQ(ctx_->sync().calls, 0) << "the failed sync cleared the queue";
  }
  Chain c(*ctx_, 18);
  ctx_->sync();
  for (int i = 0; i < 3; ++i)
    c.step(i);
  EXPECT_EQ(ctx_->sync().calls, 3);
  EXPECT_EQ(c.result(3), want);
}

// (e) Rounds of queued calls and a sync: once the pool holds a round's buffers, a round allocates
// nothing and sends nothing (its inputs are all on the device).
TEST_F(VulkanQueue, TheSteadyStateAllocatesNothing) {
  Chain c(*ctx_, 20);
  ctx_->sync();
  for (int round = 0; round < 3; ++round) {
    const DeviceTraffic before = ctx_->traffic();
    int64_t allocations = 0, to_device = 0;
    for (int i = 0; i < 16; ++i) {
      c.step(i);
      allocations += ctx_->last_run().traffic.allocations;
      to_device += ctx_->last_run().traffic.bytes_to_device;
    }
    EXPECT_EQ(ctx_->sync().calls, 16);
    if (round == 0) continue;
    SCOPED_TRACE(round);
    EXPECT_EQ(allocations, 0);
    EXPECT_EQ(to_device, 0);
    EXPECT_EQ(ctx_->traffic().allocations, before.allocations);
    EXPECT_EQ(ctx_->traffic().bytes_to_device, before.bytes_to_device);
  }
}

// Threads queueing on one device each get their own chain's bytes; one sync counts all calls.
TEST_F(VulkanQueue, ThreadsQueueingOnOneDeviceKeepTheirResults) {
  const Bytes want_a = one_by_one(20, 21), want_b = one_by_one(20, 22);
  Chain a(*ctx_, 21), b(*ctx_, 22);
  ctx_->sync();
  std::thread ta([&] {
    for (int i = 0; i < 20; ++i)
      a.step(i);
  });
  std::thread tb([&] {
    for (int i = 0; i < 20; ++i)
      b.step(i);
  });
  ta.join();
  tb.join();
  EXPECT_EQ(ctx_->sync().calls, 40);
  EXPECT_EQ(a.result(20), want_a);
  EXPECT_EQ(b.result(20), want_b);
}

} // namespace
