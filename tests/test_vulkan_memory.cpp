// Vulkan memory (host/src/vulkan/memory.h): device-local buffers reached through staging buffers
// on a discrete GPU, host-visible ones elsewhere, inputs in device buffers read where they live,
// and a pool of buffers so that a repeated call allocates nothing. lavapipe has host-visible
// memory only, so set_force_staging (host/src/vulkan/testing.h) makes every buffer as on a
// discrete GPU. Every operation that runs on Vulkan gives the same bytes both ways, on host views
// and, where the operation takes them, on device buffers; a repeated call allocates nothing; an
// output over an input is right; uploads and downloads round-trip and count exactly their bytes;
// a call binds its buffers without making a descriptor set where the device pushes descriptors,
// and through sets (set_force_descriptor_pool) with the same bytes. Skipped only when there is no
// Vulkan device.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "host/src/vulkan/testing.h"
#include "tessera/context.h"
#include "tessera/overrides.h"
#include "tessera/tessera.h"
#include "test_util.h"

namespace {
using namespace tessera;
using detail::vulkan::descriptor_counts;
using detail::vulkan::DescriptorCounts;
using detail::vulkan::memory_paths;
using detail::vulkan::MemoryPaths;
using detail::vulkan::set_force_descriptor_pool;
using detail::vulkan::set_force_staging;
using Bytes = std::vector<uint8_t>;

// Bytes from a fixed LCG, with the NaN codes of E4M3 (0x7F, 0xFF) moved off.
Bytes codes(size_t n, uint32_t seed) {
  Bytes v(n);
  for (auto& c : v) {
    seed = seed * 1664525u + 1013904223u;
    c = static_cast<uint8_t>(seed >> 24);
    if ((c & 0x7F) == 0x7F) c ^= 0x01;
  }
  return v;
}

Bytes floats(size_t n, float lo, float hi, uint32_t seed) {
  std::vector<float> f = test::random_floats(n, lo, hi, seed);
  Bytes out(n * 4);
  std::memcpy(out.data(), f.data(), out.size());
  return out;
}

// BF16 values: the high halves of floats(n, lo, hi, seed).
Bytes bf16(size_t n, float lo, float hi, uint32_t seed) {
  const Bytes f = floats(n, lo, hi, seed);
  Bytes out(n * 2);
  for (size_t i = 0; i < n; ++i)
    std::memcpy(&out[i * 2], &f[i * 4 + 2], 2); // little-endian
  return out;
}

// An F32 host view of all of f.
TensorView f32(std::vector<float>& f, Shape s) {
  return TensorView{DType::F32, std::move(s), f.data(), f.size() * 4};
}

// a == b, else where they first differ (a whole tensor's bytes would bury the message).
::testing::AssertionResult same(const Bytes& a, const Bytes& b) {
  if (a == b) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i])
    ++i;
  return ::testing::AssertionFailure()
         << "sizes " << a.size() << " and " << b.size() << ", first difference at byte " << i;
}

// One call's tensors: host memory, or (resident) each in a device buffer of its own. Outputs start
// as 0x5A bytes, so that one the call did not write shows.
class Io {
public:
  Io(const Context& ctx, bool resident) : ctx_(ctx), resident_(resident) {}

  TensorView in(DType t, Shape s, Bytes bytes) {
    if (!resident_) {
      Bytes& h = host_.emplace_back(std::move(bytes));
      return TensorView{t, std::move(s), h.data(), h.size()};
    }
    DeviceBuffer& b = dev_.emplace_back(ctx_.device_alloc(bytes.size()));
    ctx_.upload(b, 0, bytes.data(), bytes.size());
    return Context::view(b, t, std::move(s));
  }
  TensorView out(DType t, Shape s, size_t bytes) {
    outs_.push_back(resident_ ? dev_.size() : host_.size());
    return in(t, std::move(s), Bytes(bytes, 0x5A));
  }
  void scalar(float f) { scalars_.push_back(f); } // a result the call returns
  // Every output's bytes, in order, then the scalars.
  Bytes results() const {
    Bytes all;
    for (size_t i : outs_) {
      Bytes b = resident_ ? Bytes(dev_[i].size()) : host_[i];
      if (resident_) ctx_.download(dev_[i], 0, b.data(), b.size());
      all.insert(all.end(), b.begin(), b.end());
    }
    const auto* s = reinterpret_cast<const uint8_t*>(scalars_.data());
    all.insert(all.end(), s, s + scalars_.size() * 4);
    return all;
  }

private:
  const Context& ctx_;
  bool resident_;
  std::deque<Bytes> host_; // deques: views point into their elements
  std::deque<DeviceBuffer> dev_;
  std::vector<size_t> outs_;
  std::vector<float> scalars_;
};

// TESSERA_OVERRIDE's vulkan_attention_window= and vulkan_deltanet_window= for one call (0: the
// built-in size, no override): the state carried from one dispatch window to the next is then
// read as well as written.
class Windows {
public:
  Windows(int64_t attention_keys, int64_t deltanet_tokens)
      : set_(attention_keys > 0 || deltanet_tokens > 0) {
    Overrides o;
    o.vulkan_attention_window = attention_keys;
    o.vulkan_deltanet_window = deltanet_tokens;
    if (set_) set_overrides(o);
  }
  ~Windows() {
    if (set_) set_overrides(Overrides{});
  }
  Windows(const Windows&) = delete;
  Windows& operator=(const Windows&) = delete;

private:
  bool set_;
};

// An operation on one forced Vulkan variant (strict: an Error instead of a fallback to the CPU).
struct Op {
  std::string name;
  bool resident; // takes views of device buffers (validate.h, ResidentScope)
  std::function<void(Io&, RunInfo*)> call;
};

RunOptions on(const char* variant) {
  RunOptions o{"vulkan", 0, variant};
  o.policy.strict = true;
  return o;
}

std::vector<Op> ops() {
  std::vector<Op> all;
  const int64_t R = 4, C = 256;
  all.push_back(
      {"convert bf16", true, [=](Io& io, RunInfo* info) {
         TensorView x = io.in(DType::F32, {R, C}, floats(R * C, -300, 300, 1));
         convert(x, Format::BF16, io.out(DType::BF16, {R, C}, R * C * 2), on("elementwise"), info);
       }});
  all.push_back({"convert e4m3", true, [=](Io& io, RunInfo* info) {
                   // 3 x 255 bytes out: the last word of the buffer is not all output.
                   TensorView x = io.in(DType::F32, {3, C - 1}, floats(3 * (C - 1), -300, 300, 2));
                   convert(x, Format::E4M3, io.out(DType::F8_E4M3, {3, C - 1}, 3 * (C - 1)),
                           on("elementwise"), info);
                 }});
  all.push_back(
      {"quantize_nvfp4", false, [=](Io& io, RunInfo* info) {
         TensorView x = io.in(DType::F32, {R, C}, floats(R * C, -5, 5, 3));
         TensorView q = io.out(DType::U8, {R, C / 2}, R * C / 2);
         TensorView s = io.out(DType::F8_E4M3, {R, C / 16}, R * C / 16);
         io.scalar(quantize_nvfp4(x, Nvfp4Recipe::Nvfp4, std::nullopt, q, s, on("block16"), info));
       }});
  all.push_back({"dequantize_nvfp4", true, [=](Io& io, RunInfo* info) {
                   TensorView q = io.in(DType::U8, {R, C / 2}, codes(R * C / 2, 4));
                   TensorView s = io.in(DType::F8_E4M3, {R, C / 16}, codes(R * C / 16, 5));
                   dequantize_nvfp4(q, s, 0.5f, io.out(DType::F32, {R, C}, R * C * 4),
                                    on("elementwise"), info);
                 }});
  for (Fp8Recipe recipe : {Fp8Recipe::Tensor, Fp8Recipe::Token128, Fp8Recipe::Block128}) {
    const int64_t ns = recipe == Fp8Recipe::Tensor ? 1 : recipe == Fp8Recipe::Token128 ? R * 2 : 2;
    const Shape s_shape = recipe == Fp8Recipe::Tensor     ? Shape{}
                          : recipe == Fp8Recipe::Token128 ? Shape{R, 2}
                                                          : Shape{1, 2};
    const std::string tag = std::to_string(static_cast<int>(recipe));
    all.push_back({"quantize_fp8 " + tag, false, [=](Io& io, RunInfo* info) {
                     TensorView x = io.in(DType::F32, {R, C}, floats(R * C, -5, 5, 6));
                     quantize_fp8(x, recipe, io.out(DType::F8_E4M3, {R, C}, R * C),
                                  io.out(DType::F32, s_shape, ns * 4), on("group_amax"), info);
                   }});
    all.push_back({"dequantize_fp8 " + tag, true, [=](Io& io, RunInfo* info) {
                     TensorView q = io.in(DType::F8_E4M3, {R, C}, codes(R * C, 7));
                     TensorView s = io.in(DType::F32, s_shape, floats(ns, 0.01f, 2, 8));
                     dequantize_fp8(q, s, recipe, io.out(DType::F32, {R, C}, R * C * 4),
                                    on("elementwise"), info);
                   }});
  }
  // The GEMMs: the decode gemv (M = 3) and the tiled shader (M = 40), a 16-bit output (zero-filled
  // on the device, OR-ed into) and an fp32 one.
  const int64_t N = 24, K = 256;
  for (int64_t M : {3, 40}) {
    const char* variant = M == 3 ? "gemv_splitk_exact" : "tiled_exact";
    const std::string tag = " M=" + std::to_string(M);
    all.push_back({"gemm_nvfp4" + tag, true, [=](Io& io, RunInfo* info) {
                     TensorView a = io.in(DType::U8, {M, K / 2}, codes(M * K / 2, 11));
                     TensorView as = io.in(DType::F8_E4M3, {M, K / 16}, codes(M * K / 16, 12));
                     TensorView b = io.in(DType::U8, {N, K / 2}, codes(N * K / 2, 13));
                     TensorView bs = io.in(DType::F8_E4M3, {N, K / 16}, codes(N * K / 16, 14));
                     TensorView bias = io.in(DType::F32, {N}, floats(N, -1, 1, 15));
                     gemm_nvfp4(a, as, b, bs, 1e-3f, bias, io.out(DType::BF16, {M, N}, M * N * 2),
                                on(variant), info);
                   }});
    all.push_back({"gemm_fp8" + tag, true, [=](Io& io, RunInfo* info) {
                     TensorView a = io.in(DType::F8_E4M3, {M, K}, codes(M * K, 16));
                     TensorView b = io.in(DType::F8_E4M3, {N, K}, codes(N * K, 17));
                     gemm_fp8(a, b, 1e-2f, std::nullopt, io.out(DType::F32, {M, N}, M * N * 4),
                              on(variant), info);
                   }});
    all.push_back(
        {"gemm_fp8_block" + tag, true, [=](Io& io, RunInfo* info) {
           TensorView a = io.in(DType::F8_E4M3, {M, K}, codes(M * K, 18));
           TensorView as = io.in(DType::F32, {M, K / 128}, floats(M * K / 128, 0.001f, 0.1f, 19));
           TensorView b = io.in(DType::F8_E4M3, {N, K}, codes(N * K, 20));
           TensorView bs = io.in(DType::F32, {1, K / 128}, floats(K / 128, 0.01f, 1, 21));
           TensorView c = io.out(DType::F16, {M, N}, M * N * 2);
           gemm_fp8_block(a, as, b, bs, std::nullopt, c, on(variant), info);
         }});
    all.push_back({"gemm_nvfp4_act" + tag, false, [=](Io& io, RunInfo* info) {
                     TensorView x = io.in(DType::F32, {M, K}, floats(M * K, -3, 3, 22));
                     TensorView b = io.in(DType::U8, {N, K / 2}, codes(N * K / 2, 23));
                     TensorView bs = io.in(DType::F8_E4M3, {N, K / 16}, codes(N * K / 16, 24));
                     io.scalar(gemm_nvfp4_act(x, std::nullopt, b, bs, 1e-3f, std::nullopt,
                                              io.out(DType::F32, {M, N}, M * N * 4),
                                              on("quantize_then_gemm"), info));
                   }});
    all.push_back({"gemm_fp8_act" + tag, false, [=](Io& io, RunInfo* info) {
                     TensorView x = io.in(DType::F32, {M, K}, floats(M * K, -3, 3, 25));
                     TensorView b = io.in(DType::F8_E4M3, {N, K}, codes(N * K, 26));
                     TensorView bs = io.in(DType::F32, {1, K / 128}, floats(K / 128, 0.01f, 1, 27));
                     gemm_fp8_act(x, b, bs, io.in(DType::F32, {N}, floats(N, -1, 1, 28)),
                                  io.out(DType::BF16, {M, N}, M * N * 2), on("quantize_then_gemm"),
                                  info);
                   }});
  }
  // DeltaNet: T = 70 is two chunks (the chunked variant's least T on GPUs is one chunk); in one
  // dispatch, and in windows of 32 tokens (of one chunk for the chunked scan).
  for (const char* variant : {"recurrent", "chunked"})
    for (int64_t window : {0, 32}) {
      all.push_back({std::string("deltanet ") + variant + " window " + std::to_string(window),
                     false, [=](Io& io, RunInfo* info) {
                       Windows windows(0, window);
                       const int64_t T = 70, H = 2, HV = 4, Dk = 32, Dv = 32;
                       DeltaNetArgs a;
                       a.q = io.in(DType::F32, {1, T, H, Dk}, floats(T * H * Dk, -1, 1, 31));
                       a.k = io.in(DType::F32, {1, T, H, Dk}, floats(T * H * Dk, -1, 1, 32));
                       a.v = io.in(DType::F32, {1, T, HV, Dv}, floats(T * HV * Dv, -1, 1, 33));
                       a.g = io.in(DType::F32, {1, T, HV}, floats(T * HV, -2, 0, 34));
                       a.beta = io.in(DType::F32, {1, T, HV}, floats(T * HV, 0.01f, 0.99f, 35));
                       a.h0 = io.in(DType::F32, {1, HV, Dk, Dv}, floats(HV * Dk * Dv, -1, 1, 36));
                       a.l2norm = true;
                       deltanet(a, io.out(DType::F32, {1, T, HV, Dv}, T * HV * Dv * 4),
                                io.out(DType::F32, {1, HV, Dk, Dv}, HV * Dk * Dv * 4), on(variant),
                                info);
                     }});
    }
  all.push_back(
      {"conv1d", false, [=](Io& io, RunInfo* info) {
         const int64_t B = 2, T = 9, Ch = 48, W = 4;
         TensorView x = io.in(DType::F32, {B, T, Ch}, floats(B * T * Ch, -2, 2, 41));
         TensorView w = io.in(DType::F32, {Ch, W}, floats(Ch * W, -1, 1, 42));
         TensorView bias = io.in(DType::F32, {Ch}, floats(Ch, -1, 1, 43));
         TensorView state = io.in(DType::F32, {B, Ch, W - 1}, floats(B * Ch * (W - 1), -2, 2, 44));
         conv1d(x, w, bias, state, io.out(DType::F32, {B, T, Ch}, B * T * Ch * 4),
                io.out(DType::F32, {B, Ch, W - 1}, B * Ch * (W - 1) * 4), on("direct_silu"), info);
       }});
  // Attention: prefill (T = 20) and split-KV decode (T = 2), with a gate and lse; in one sweep,
  // and in windows of 16 keys.
  for (int64_t T : {20, 2})
    for (int64_t window : {0, 16}) {
      const char* variant = T == 2 ? "splitkv_decode" : "flash_prefill";
      all.push_back({std::string("attention ") + variant + " window " + std::to_string(window),
                     false, [=](Io& io, RunInfo* info) {
                       Windows windows(window, 0);
                       const int64_t S = 40, Hq = 4, Hkv = 2, D = 32;
                       AttentionArgs a;
                       a.q = io.in(DType::F32, {1, T, Hq, D}, floats(T * Hq * D, -1, 1, 51));
                       a.k = io.in(DType::BF16, {1, S, Hkv, D}, bf16(S * Hkv * D, -1, 1, 52));
                       a.v = io.in(DType::F32, {1, S, Hkv, D}, floats(S * Hkv * D, -1, 1, 53));
                       a.gate = io.in(DType::F32, {1, T, Hq, D}, floats(T * Hq * D, -1, 1, 54));
                       attention(a, io.out(DType::F32, {1, T, Hq, D}, T * Hq * D * 4),
                                 io.out(DType::F32, {1, T, Hq}, T * Hq * 4), on(variant), info);
                     }});
    }
  return all;
}

class VulkanMemory : public ::testing::Test {
protected:
  void SetUp() override {
    if (Context::device_count("vulkan") == 0) GTEST_SKIP() << "no vulkan device";
    ctx_ = Context::open("vulkan", 0);
  }
  void TearDown() override {
    set_force_staging(false);
    set_force_descriptor_pool(false);
  }

  // Runs op once on fresh tensors (host views, or device buffers), checks it ran where asked.
  Bytes run(const Op& op, bool resident, RunInfo* info = nullptr) {
    Io io(*ctx_, resident);
    RunInfo ran;
    op.call(io, &ran);
    EXPECT_EQ(ran.backend, "vulkan") << op.name;
    if (info) *info = ran;
    return io.results();
  }
  std::optional<Context> ctx_;
};

// (a) The discrete GPU's path (device-local buffers, staging, a run's buffers starting as garbage)
// gives the bytes of lavapipe's own (host-visible buffers copied in place), for every operation,
// on host views and on device buffers.
TEST_F(VulkanMemory, TheStagingPathGivesTheBytesOfTheDefaultPath) {
  for (const Op& op : ops()) {
    SCOPED_TRACE(op.name);
    const Bytes want = run(op, false);
    set_force_staging(true);
    const MemoryPaths before = memory_paths(0);
    ASSERT_TRUE(before.device_local);
    EXPECT_TRUE(same(run(op, false), want));
    EXPECT_GT(memory_paths(0).staged_bytes, before.staged_bytes)
        << "the host views went through staging";
    if (op.resident) {
      EXPECT_TRUE(same(run(op, true), want));
    }
    set_force_staging(false);
    const MemoryPaths host_visible = memory_paths(0);
    if (op.resident) {
      EXPECT_TRUE(same(run(op, true), want));
    }
    if (!host_visible.device_local) { // lavapipe, an integrated GPU: the host copies in place
      EXPECT_EQ(memory_paths(0).staged_bytes, host_visible.staged_bytes);
    }
  }
}

// (b) A second call of the same shapes takes every buffer from the pool: no allocation.
TEST_F(VulkanMemory, ARepeatedCallAllocatesNothing) {
  for (bool staging : {false, true}) {
    set_force_staging(staging);
    for (const Op& op : ops())
      for (bool resident : {false, true}) {
        if (resident && !op.resident) continue;
        SCOPED_TRACE(op.name + (staging ? " staging" : "") + (resident ? " resident" : ""));
        RunInfo first, second;
        run(op, resident, &first);
        run(op, resident, &second);
        EXPECT_EQ(second.traffic.allocations, 0);
        EXPECT_EQ(second.traffic.bytes_to_device, first.traffic.bytes_to_device);
        EXPECT_EQ(second.traffic.bytes_from_device, first.traffic.bytes_from_device);
      }
  }
}

// (e) Where the device pushes descriptors (lavapipe does), no call makes or writes a descriptor
// set, the first of a shape included, and repeated calls give the first call's bytes: every
// operation, on host views and on device buffers.
TEST_F(VulkanMemory, NoCallMakesADescriptorSet) {
  const DescriptorCounts start = descriptor_counts(0);
  if (!start.push) GTEST_SKIP() << "the device does not push descriptors";
  for (const Op& op : ops())
    for (bool resident : {false, true}) {
      if (resident && !op.resident) continue;
      SCOPED_TRACE(op.name + (resident ? " resident" : ""));
      const Bytes want = run(op, resident); // the first call of the shape
      const DescriptorCounts before = descriptor_counts(0);
      for (int i = 0; i < 2; ++i)
        EXPECT_TRUE(same(run(op, resident), want));
      const DescriptorCounts after = descriptor_counts(0);
      EXPECT_GE(after.pushed - before.pushed, 2) << "each call pushed its bindings";
      EXPECT_EQ(after.sets, start.sets);
      EXPECT_EQ(after.set_writes, start.set_writes);
    }
}

// (f) A device without pushed descriptors (forced) binds through descriptor sets from its pool,
// with the bytes of pushed ones.
TEST_F(VulkanMemory, DescriptorSetsGiveTheBytesOfPushedDescriptors) {
  for (const Op& op : ops())
    for (bool resident : {false, true}) {
      if (resident && !op.resident) continue;
      SCOPED_TRACE(op.name + (resident ? " resident" : ""));
      const Bytes want = run(op, resident);
      set_force_descriptor_pool(true);
      const DescriptorCounts before = descriptor_counts(0);
      ASSERT_FALSE(before.push);
      EXPECT_TRUE(same(run(op, resident), want));
      const DescriptorCounts after = descriptor_counts(0);
      EXPECT_GT(after.sets, before.sets);
      EXPECT_GE(after.set_writes - before.set_writes, after.sets - before.sets);
      EXPECT_EQ(after.pushed, before.pushed);
      set_force_descriptor_pool(false);
    }
}

// Inputs in device buffers are read where they live when their offset is a storage-buffer offset
// the device takes, else copied on the device; outputs are copied into their device buffer after
// the kernels. Nothing crosses to the host either way. Every device takes 256 (Vulkan's largest
// minStorageBufferOffsetAlignment); none known takes 2 (lavapipe asks for 16).
TEST_F(VulkanMemory, DeviceInputsAreBoundInPlaceWhereAlignedAndCopiedElse) {
  const Context& ctx = *ctx_;
  const int64_t M = 5, N = 8, K = 64;
  const Bytes stacked = codes(256 + M * K, 7), b = codes(N * K, 8);
  DeviceBuffer sdev = ctx.device_alloc(stacked.size()), bdev = ctx.device_alloc(b.size());
  ctx.upload(sdev, 0, stacked.data(), stacked.size());
  ctx.upload(bdev, 0, b.data(), b.size());
  for (bool staging : {false, true}) {
    set_force_staging(staging);
    for (size_t offset : {size_t{2}, size_t{256}}) {
      SCOPED_TRACE("offset " + std::to_string(offset) + (staging ? " staging" : ""));
      std::vector<float> want(M * N), got(M * N);
      gemm_fp8(
          TensorView{DType::F8_E4M3, {M, K}, const_cast<uint8_t*>(stacked.data()) + offset, M * K},
          TensorView{DType::F8_E4M3, {N, K}, const_cast<uint8_t*>(b.data()), b.size()}, 1.0f,
          std::nullopt, TensorView{DType::F32, {M, N}, want.data(), want.size() * 4},
          on("tiled_exact"));
      DeviceBuffer cdev = ctx.device_alloc(M * N * 4 + 12);
      const MemoryPaths before = memory_paths(0);
      RunInfo info;
      gemm_fp8(Context::view(sdev, DType::F8_E4M3, {M, K}, offset),
               Context::view(bdev, DType::F8_E4M3, {N, K}), 1.0f, std::nullopt,
               Context::view(cdev, DType::F32, {M, N}, 12), on("tiled_exact"), &info);
      const MemoryPaths after = memory_paths(0);
      EXPECT_EQ(info.traffic.bytes_to_device, 0);
      EXPECT_EQ(info.traffic.bytes_from_device, 0);
      EXPECT_EQ(after.staged_bytes, before.staged_bytes);
      // b in place; a in place at 256 and copied at 2; c copied out.
      const bool aligned = offset == 256;
      EXPECT_EQ(after.in_place - before.in_place, aligned ? 2 : 1);
      EXPECT_EQ(after.device_copies - before.device_copies, aligned ? 1 : 2);
      ctx.download(cdev, 12, got.data(), got.size() * 4);
      EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * 4));
    }
  }
}

// (c) An output over an input still gets the right bytes, in both modes: the kernels read the
// input before anything is written there (the output is copied in after them).
TEST_F(VulkanMemory, AnOutputOverAnInputIsRight) {
  const Context& ctx = *ctx_;
  for (bool staging : {false, true}) {
    set_force_staging(staging);
    SCOPED_TRACE(staging ? "staging" : "host-visible");
    // Device buffers: dequantize_fp8's y over its q, and a GEMM's c over its a.
    const int64_t R = 4, C = 256;
    const Bytes q = codes(R * C, 61), s = floats(R * 2, 0.01f, 2, 62);
    std::vector<float> want(R * C), got(R * C);
    dequantize_fp8(TensorView{DType::F8_E4M3, {R, C}, const_cast<uint8_t*>(q.data()), q.size()},
                   TensorView{DType::F32, {R, 2}, const_cast<uint8_t*>(s.data()), s.size()},
                   Fp8Recipe::Token128,
                   TensorView{DType::F32, {R, C}, want.data(), want.size() * 4}, on("elementwise"));
    DeviceBuffer buf = ctx.device_alloc(R * C * 4), sdev = ctx.device_alloc(s.size());
    ctx.upload(buf, 0, q.data(), q.size());
    ctx.upload(sdev, 0, s.data(), s.size());
    dequantize_fp8(Context::view(buf, DType::F8_E4M3, {R, C}),
                   Context::view(sdev, DType::F32, {R, 2}), Fp8Recipe::Token128,
                   Context::view(buf, DType::F32, {R, C}), on("elementwise"));
    ctx.download(buf, 0, got.data(), got.size() * 4);
    EXPECT_EQ(got, want) << "dequantize_fp8, y over q";

    const int64_t M = 8, N = 64, K = 128; // c's 2048 bytes over a's 1024
    const Bytes a = codes(M * K, 63), b = codes(N * K, 64);
    std::vector<float> cw(M * N), cg(M * N);
    gemm_fp8(TensorView{DType::F8_E4M3, {M, K}, const_cast<uint8_t*>(a.data()), a.size()},
             TensorView{DType::F8_E4M3, {N, K}, const_cast<uint8_t*>(b.data()), b.size()}, 0.5f,
             std::nullopt, TensorView{DType::F32, {M, N}, cw.data(), cw.size() * 4},
             on("tiled_exact"));
    DeviceBuffer adev = ctx.device_alloc(M * N * 4), bdev = ctx.device_alloc(b.size());
    ctx.upload(adev, 0, a.data(), a.size());
    ctx.upload(bdev, 0, b.data(), b.size());
    gemm_fp8(Context::view(adev, DType::F8_E4M3, {M, K}),
             Context::view(bdev, DType::F8_E4M3, {N, K}), 0.5f, std::nullopt,
             Context::view(adev, DType::F32, {M, N}), on("tiled_exact"));
    ctx.download(adev, 0, cg.data(), cg.size() * 4);
    EXPECT_EQ(cg, cw) << "gemm_fp8, c over a";

    // Host views: DeltaNet's ht over its h0 (an engine's cache updated in place), conv1d's
    // state_out over its state.
    for (const char* variant : {"recurrent", "chunked"}) {
      const int64_t T = 70, H = 1, HV = 2, Dk = 16, Dv = 16;
      std::vector<float> qk = test::random_floats(T * H * Dk, -1, 1, 65);
      std::vector<float> v = test::random_floats(T * HV * Dv, -1, 1, 66);
      std::vector<float> g = test::random_floats(T * HV, -1, 0, 67),
                         beta = test::random_floats(T * HV, 0.1f, 0.9f, 68);
      std::vector<float> h = test::random_floats(HV * Dk * Dv, -1, 1, 69), h0 = h,
                         o_want(T * HV * Dv), o(T * HV * Dv);
      std::vector<float> ht_want(h.size());
      DeltaNetArgs args;
      args.q = args.k = f32(qk, {1, T, H, Dk});
      args.v = f32(v, {1, T, HV, Dv});
      args.g = f32(g, {1, T, HV});
      args.beta = f32(beta, {1, T, HV});
      args.h0 = f32(h0, {1, HV, Dk, Dv});
      deltanet(args, f32(o_want, {1, T, HV, Dv}), f32(ht_want, {1, HV, Dk, Dv}), on(variant));
      args.h0 = f32(h, {1, HV, Dk, Dv});
      deltanet(args, f32(o, {1, T, HV, Dv}), f32(h, {1, HV, Dk, Dv}), on(variant));
      EXPECT_EQ(o, o_want) << variant;
      EXPECT_EQ(h, ht_want) << variant << ": ht over h0";
    }
    const int64_t T = 5, Ch = 8, W = 4;
    std::vector<float> x = test::random_floats(T * Ch, -1, 1, 71),
                       w = test::random_floats(Ch * W, -1, 1, 72);
    std::vector<float> state = test::random_floats(Ch * (W - 1), -1, 1, 73), s0 = state;
    std::vector<float> y_want(T * Ch), y(T * Ch), so_want(state.size());
    conv1d(f32(x, {1, T, Ch}), f32(w, {Ch, W}), std::nullopt, f32(s0, {1, Ch, W - 1}),
           f32(y_want, {1, T, Ch}), f32(so_want, {1, Ch, W - 1}), on("direct_silu"));
    conv1d(f32(x, {1, T, Ch}), f32(w, {Ch, W}), std::nullopt, f32(state, {1, Ch, W - 1}),
           f32(y, {1, T, Ch}), f32(state, {1, Ch, W - 1}), on("direct_silu"));
    EXPECT_EQ(y, y_want);
    EXPECT_EQ(state, so_want) << "conv1d, state_out over state";
  }
}

// (d) Uploads and downloads of device buffers round-trip in both modes, also across them (a
// buffer keeps the kind it was made with), and count exactly the bytes that crossed.
TEST_F(VulkanMemory, UploadAndDownloadRoundTripAndCountTheirBytes) {
  const Context& ctx = *ctx_;
  const Bytes data = codes(1000, 81);
  std::vector<DeviceBuffer> made;
  for (bool staging : {false, true}) {
    set_force_staging(staging);
    made.push_back(ctx.device_alloc(1003));
  }
  for (bool staging : {false, true}) {
    set_force_staging(staging);
    for (const DeviceBuffer& buf : made) {
      SCOPED_TRACE(std::string(staging ? "staging" : "host-visible") +
                   (&buf == &made[0] ? ", made host-visible" : ", made device-local"));
      Bytes zeros(1003, 0xEE);
      const DeviceTraffic t0 = ctx.traffic();
      ctx.download(buf, 0, zeros.data(), zeros.size());
      if (!staging) { // the first pass: never written
        EXPECT_EQ(zeros, Bytes(1003, 0)) << "device_alloc zero-fills";
      }
      ctx.upload(buf, 3, data.data(), data.size());
      Bytes back(data.size() - 10);
      ctx.download(buf, 8, back.data(), back.size());
      EXPECT_EQ(back, Bytes(data.begin() + 5, data.end() - 5));
      const DeviceTraffic t1 = ctx.traffic();
      EXPECT_EQ(t1.bytes_to_device - t0.bytes_to_device, 1000);
      EXPECT_EQ(t1.bytes_from_device - t0.bytes_from_device, 1003 + 990);
    }
  }
}

} // namespace
