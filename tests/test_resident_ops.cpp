// The fp32 operations (conv1d, deltanet, attention) on views of device buffers: each call gives
// the bytes of the same call on host views, on the same variant, with bf16/fp16 tensors widened
// and narrowed on the device (host/src/fp32_operands.h), outputs written over inputs in place,
// and nothing crossing between host and device except what the host plans the launch with
// (cu_seqlens) or computes on (the fused DeltaNet gating).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/backend.h"
#include "tessera/context.h"
#include "tessera/tessera.h"
#include "tessera/weights.h"

namespace {
using namespace tessera;

// One tensor of a call: its bytes before the call, as a host buffer and as a device buffer.
struct Arg {
  DType dtype;
  Shape shape;
  std::vector<uint8_t> bytes;
};

uint32_t next(uint32_t& seed) {
  seed = seed * 1664525u + 1013904223u;
  return seed >> 8;
}

// Values of moderate size in any float dtype (no NaN, no inf); zeros for dtype U8 etc. not used.
Arg random(DType dtype, Shape shape, uint32_t seed, float scale = 1.0f) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  Arg a{dtype, shape, std::vector<uint8_t>(static_cast<size_t>(n) * dtype_size(dtype))};
  for (int64_t i = 0; i < n; ++i) {
    const float f = (static_cast<float>(next(seed) % 20001) / 10000.0f - 1.0f) * scale;
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    uint8_t* at = a.bytes.data() + i * dtype_size(dtype);
    if (dtype == DType::F32) {
      std::memcpy(at, &bits, 4);
    } else if (dtype == DType::BF16) {
      const uint16_t h = static_cast<uint16_t>(bits >> 16);
      std::memcpy(at, &h, 2);
    } else if (dtype == DType::F16) { // sign, exponent 10..16 (2^-5 .. 2^1), random fraction
      const uint32_t r = next(seed);
      const uint16_t h = static_cast<uint16_t>(((r & 1u) << 15) | ((10u + (r >> 1) % 7u) << 10) | ((r >> 4) & 0x3FFu));
      std::memcpy(at, &h, 2);
    } else if (dtype == DType::U8) { // packed E2M1: any byte
      *at = static_cast<uint8_t>(next(seed));
    } else if (dtype == DType::F8_E4M3) { // any code but NaN
      uint8_t c = static_cast<uint8_t>(next(seed));
      if ((c & 0x7F) == 0x7F) c ^= 1;
      *at = c;
    }
  }
  return a;
}

Arg zeros(DType dtype, Shape shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return {dtype, shape, std::vector<uint8_t>(static_cast<size_t>(n) * dtype_size(dtype))};
}

Arg ints(std::vector<int32_t> v) {
  Arg a{DType::I32, {static_cast<int64_t>(v.size())}, std::vector<uint8_t>(v.size() * 4)};
  std::memcpy(a.bytes.data(), v.data(), a.bytes.size());
  return a;
}

using Call = std::function<void(const std::vector<TensorView>&, const RunOptions&, RunInfo*)>;

class ResidentOps : public ::testing::TestWithParam<const char*> {
protected:
  void SetUp() override {
    if (Context::device_count(GetParam()) == 0) GTEST_SKIP() << "no " << GetParam() << " device";
    ctx_ = Context::open(GetParam(), 0);
  }

  // Runs `call` on host views of `args`, then on device views of the same bytes, with `variant`
  // forced; every argument's bytes after the two calls must be equal (outputs, and inputs the
  // call wrote over). Returns the device call's RunInfo.
  RunInfo same_bytes(std::vector<Arg> args, const std::string& variant, const Call& call) {
    const Context& ctx = *ctx_;
    std::vector<std::vector<uint8_t>> host;
    std::vector<DeviceBuffer> dev;
    std::vector<TensorView> hv, dv;
    for (Arg& a : args) {
      host.push_back(a.bytes);
      dev.push_back(ctx.device_alloc(a.bytes.size()));
      ctx.upload(dev.back(), 0, a.bytes.data(), a.bytes.size());
    }
    for (size_t i = 0; i < args.size(); ++i) {
      hv.push_back(TensorView{args[i].dtype, args[i].shape, host[i].data(), host[i].size()});
      dv.push_back(Context::view(dev[i], args[i].dtype, args[i].shape));
    }
    RunInfo on_host, on_device;
    call(hv, ctx.options(variant), &on_host);
    call(dv, ctx.options(variant), &on_device);
    EXPECT_EQ(on_host.variant, on_device.variant);
    if (!variant.empty()) {
      EXPECT_EQ(on_device.variant, variant);
    }
    for (size_t i = 0; i < args.size(); ++i) {
      // An output (all zero before) that stayed zero would make the comparison vacuous.
      const auto nonzero = [](const std::vector<uint8_t>& b) {
        return std::any_of(b.begin(), b.end(), [](uint8_t c) { return c != 0; });
      };
      if (!nonzero(args[i].bytes)) {
        EXPECT_TRUE(nonzero(host[i])) << "argument " << i << " is still all zero after the call";
      }
      std::vector<uint8_t> back(host[i].size());
      ctx.download(dev[i], 0, back.data(), back.size());
      EXPECT_EQ(back, host[i]) << "argument " << i << " differs after the device-view call";
    }
    return on_device;
  }

  std::optional<Context> ctx_;
};

// No tensor comes back to the host: at most the status words a launcher checks (Vulkan's
// kernels report one or two, 4 bytes each). (What goes to the device is the launchers' own
// tables, built on the host per call.)
constexpr int64_t kStatusBytes = 8;
void expect_no_transfers(const RunInfo& info) { EXPECT_LE(info.traffic.bytes_from_device, kStatusBytes); }

// y in bf16 or fp16 from x in each float type; the state written over itself.
TEST_P(ResidentOps, Conv1dGivesTheHostBytesInPlace) {
  const int64_t B = 2, T = 7, C = 24, W = 4;
  for (DType x_type : {DType::F32, DType::BF16, DType::F16}) {
    for (DType y_type : {DType::F32, DType::BF16, DType::F16}) {
      SCOPED_TRACE(std::string(dtype_name(x_type)) + " -> " + std::string(dtype_name(y_type)));
      const RunInfo info = same_bytes(
          {random(x_type, {B, T, C}, 1), random(DType::F32, {C, W}, 2), random(DType::F32, {C}, 3),
           random(DType::F32, {B, C, W - 1}, 4), zeros(y_type, {B, T, C})},
          "", [](const std::vector<TensorView>& v, const RunOptions& o, RunInfo* info) {
            conv1d(v[0], v[1], v[2], v[3], v[4], v[3], o, info); // state_out over state
          });
      expect_no_transfers(info);
    }
  }
}

// Both DeltaNet variants, 16-bit q/k/v and o, the state updated in place (ht over h0).
TEST_P(ResidentOps, DeltaNetGivesTheHostBytesInPlace) {
  struct Shape4 {
    const char* variant;
    int64_t B, T;
    DType in, out;
  };
  for (const Shape4& s : {Shape4{"recurrent", 3, 1, DType::BF16, DType::BF16},
                          Shape4{"recurrent", 2, 5, DType::F16, DType::F32},
                          Shape4{"chunked", 1, 40, DType::BF16, DType::F16},
                          Shape4{"chunked", 2, 19, DType::F32, DType::BF16}}) {
    SCOPED_TRACE(std::string(s.variant) + " T = " + std::to_string(s.T));
    const int64_t H = 2, HV = 4, Dk = 16, Dv = 8;
    const RunInfo info = same_bytes(
        {random(s.in, {s.B, s.T, H, Dk}, 11), random(s.in, {s.B, s.T, H, Dk}, 12),
         random(s.in, {s.B, s.T, HV, Dv}, 13), random(DType::F32, {s.B, s.T, HV}, 14, 0.5f),
         random(DType::F32, {s.B, s.T, HV}, 15, 0.5f), random(DType::F32, {s.B, HV, Dk, Dv}, 16),
         zeros(s.out, {s.B, s.T, HV, Dv})},
        s.variant, [](const std::vector<TensorView>& v, const RunOptions& o, RunInfo* info) {
          DeltaNetArgs a;
          a.q = v[0], a.k = v[1], a.v = v[2];
          // g and beta in [-0.5, 0.5]: any finite gate is legal, and both paths see the same.
          a.g = v[3], a.beta = v[4], a.h0 = v[5];
          a.l2norm = true;
          deltanet(a, v[6], v[5], o, info);
        });
    expect_no_transfers(info);
  }
}

// The fused gating and cu_seqlens are read on the host: exactly their bytes come back, nothing
// goes to the device but the gates computed from them.
TEST_P(ResidentOps, DeltaNetReadsOnlyGatingInputsAndSeqlensBack) {
  const int64_t T = 30, H = 1, HV = 2, Dk = 16, Dv = 16;
  const RunInfo info = same_bytes(
      {random(DType::BF16, {1, T, H, Dk}, 21), random(DType::BF16, {1, T, H, Dk}, 22),
       random(DType::BF16, {1, T, HV, Dv}, 23), random(DType::F32, {1, T, HV}, 24),
       random(DType::F32, {1, T, HV}, 25), random(DType::F32, {HV}, 26), random(DType::F32, {HV}, 27),
       ints({0, 10, 30}), random(DType::F32, {2, HV, Dk, Dv}, 28), zeros(DType::BF16, {1, T, HV, Dv})},
      "chunked", [](const std::vector<TensorView>& v, const RunOptions& o, RunInfo* info) {
        DeltaNetArgs a;
        a.q = v[0], a.k = v[1], a.v = v[2];
        a.a = v[3], a.b = v[4], a.A_log = v[5], a.dt_bias = v[6];
        a.cu_seqlens = v[7];
        a.h0 = v[8];
        deltanet(a, v[9], v[8], o, info);
      });
  const int64_t read_back = (2 * T * HV + 2 * HV) * 4 + 3 * 4;
  EXPECT_GE(info.traffic.bytes_from_device, read_back);
  EXPECT_LE(info.traffic.bytes_from_device, read_back + kStatusBytes);
  EXPECT_GE(info.traffic.bytes_to_device, 2 * T * HV * 4); // g and beta, and the launch's tables
}

// Prefill and decode, an E4M3 cache with its scales, a bf16 gate and output, lse in fp32.
TEST_P(ResidentOps, AttentionGivesTheHostBytes) {
  struct Case {
    const char* variant;
    int64_t B, T, S;
  };
  for (const Case& c : {Case{"flash_prefill", 2, 19, 19}, Case{"splitkv_decode", 2, 1, 50},
                        Case{"splitkv_decode", 1, 3, 70}}) {
    SCOPED_TRACE(std::string(c.variant) + " T = " + std::to_string(c.T));
    const int64_t Hq = 4, Hkv = 2, D = 32;
    const RunInfo info = same_bytes(
        {random(DType::BF16, {c.B, c.T, Hq, D}, 31), random(DType::F8_E4M3, {c.B, c.S, Hkv, D}, 32),
         random(DType::F8_E4M3, {c.B, c.S, Hkv, D}, 33), random(DType::BF16, {c.B, c.T, Hq, D}, 34),
         zeros(DType::BF16, {c.B, c.T, Hq, D}), zeros(DType::F32, {c.B, c.T, Hq})},
        c.variant, [](const std::vector<TensorView>& v, const RunOptions& o, RunInfo* info) {
          AttentionArgs a;
          a.q = v[0], a.k = v[1], a.v = v[2], a.gate = v[3];
          a.k_scale = 0.0625f, a.v_scale = 0.125f;
          attention(a, v[4], v[5], o, info);
        });
    expect_no_transfers(info);
  }
}

// Varlen attention with f16 q written over by its own output: cu_seqlens come back, nothing else.
TEST_P(ResidentOps, VarlenAttentionReadsOnlySeqlensBack) {
  const int64_t T = 12, S = 20, Hq = 2, Hkv = 1, D = 16;
  const RunInfo info = same_bytes(
      {random(DType::F16, {1, T, Hq, D}, 41), random(DType::BF16, {1, S, Hkv, D}, 42),
       random(DType::BF16, {1, S, Hkv, D}, 43), ints({0, 5, 12}), ints({0, 8, 20})},
      "flash_prefill", [](const std::vector<TensorView>& v, const RunOptions& o, RunInfo* info) {
        AttentionArgs a;
        a.q = v[0], a.k = v[1], a.v = v[2];
        a.cu_seqlens_q = v[3], a.cu_seqlens_k = v[4];
        attention(a, v[0], std::nullopt, o, info); // o over q
      });
  EXPECT_GE(info.traffic.bytes_from_device, 2 * 3 * 4);
  EXPECT_LE(info.traffic.bytes_from_device, 2 * 3 * 4 + kStatusBytes);
}

// The quantizers and the GEMMs that quantize their activation: a bf16 x on the device is widened
// and scanned there; the codes, scales and products are the host call's.
TEST_P(ResidentOps, QuantizersGiveTheHostBytes) {
  const int64_t R = 5, C = 256;
  float host_s2 = 0, dev_s2 = 0;
  for (std::optional<float> s2 : {std::optional<float>{}, std::optional<float>{0.01f}}) {
    SCOPED_TRACE(s2 ? "static scale_2" : "computed scale_2");
    bool first = true;
    same_bytes({random(DType::BF16, {R, C}, 51, 3.0f), zeros(DType::U8, {R, C / 2}), zeros(DType::F8_E4M3, {R, C / 16})},
               "", [&](const std::vector<TensorView>& v, const RunOptions& o, RunInfo* info) {
                 (first ? host_s2 : dev_s2) = quantize_nvfp4(v[0], Nvfp4Recipe::Nvfp4, s2, v[1], v[2], o, info);
                 first = false;
               });
    EXPECT_EQ(host_s2, dev_s2);
  }
  for (Fp8Recipe r : {Fp8Recipe::Tensor, Fp8Recipe::Token128, Fp8Recipe::Block128}) {
    SCOPED_TRACE("fp8 recipe " + std::to_string(static_cast<int>(r)));
    const Shape scales = r == Fp8Recipe::Tensor ? Shape{1} : r == Fp8Recipe::Token128 ? Shape{R, 2} : Shape{1, 2};
    same_bytes({random(DType::F16, {R, C}, 52), zeros(DType::F8_E4M3, {R, C}), zeros(DType::F32, scales)}, "",
               [&](const std::vector<TensorView>& v, const RunOptions& o, RunInfo* info) {
                 quantize_fp8(v[0], r, v[1], v[2], o, info);
               });
  }
}

TEST_P(ResidentOps, ActivationGemmsGiveTheHostBytes) {
  const int64_t N = 24, K = 256;
  for (int64_t M : {1, 20}) {
    SCOPED_TRACE("M = " + std::to_string(M));
    float host_s2 = 0, dev_s2 = 0;
    bool first = true;
    same_bytes({random(DType::BF16, {M, K}, 61, 2.0f), random(DType::U8, {N, K / 2}, 62),
                random(DType::F8_E4M3, {N, K / 16}, 63), random(DType::F32, {N}, 64), zeros(DType::BF16, {M, N})},
               "", [&](const std::vector<TensorView>& v, const RunOptions& o, RunInfo* info) {
                 (first ? host_s2 : dev_s2) = gemm_nvfp4_act(v[0], std::nullopt, v[1], v[2], 0.5f, v[3], v[4], o, info);
                 first = false;
               });
    EXPECT_EQ(host_s2, dev_s2);
    Arg b_scale = zeros(DType::F32, {1, 2});
    const float scales[2] = {0.003f, 0.0021f};
    std::memcpy(b_scale.bytes.data(), scales, sizeof scales);
    same_bytes({random(DType::F32, {M, K}, 65), random(DType::F8_E4M3, {N, K}, 66), b_scale, zeros(DType::F32, {M, N})},
               "", [&](const std::vector<TensorView>& v, const RunOptions& o, RunInfo* info) {
                 gemm_fp8_act(v[0], v[1], v[2], std::nullopt, v[3], o, info);
               });
  }
}

// A NaN in a resident x is found by the device's scan: the host call's error, word for word, and
// nothing written.
TEST_P(ResidentOps, ANonFiniteResidentInputIsTheHostError) {
  const Context& ctx = *ctx_;
  const int64_t M = 3, N = 24, K = 256;
  Arg x = random(DType::BF16, {M, K}, 71);
  const uint16_t nan = 0x7FC1;
  std::memcpy(x.bytes.data() + (1 * K + 37) * 2, &nan, 2);
  const Arg b = random(DType::U8, {N, K / 2}, 72), bs = random(DType::F8_E4M3, {N, K / 16}, 73);
  DeviceBuffer xd = ctx.device_alloc(x.bytes.size()), bd = ctx.device_alloc(b.bytes.size()),
               bsd = ctx.device_alloc(bs.bytes.size()), cd = ctx.device_alloc(M * N * 4), qd = ctx.device_alloc(M * K),
               sd = ctx.device_alloc(M * K / 16);
  ctx.upload(xd, 0, x.bytes.data(), x.bytes.size());
  ctx.upload(bd, 0, b.bytes.data(), b.bytes.size());
  ctx.upload(bsd, 0, bs.bytes.data(), bs.bytes.size());
  const TensorView xh{DType::BF16, {M, K}, x.bytes.data(), x.bytes.size()};
  const TensorView xv = Context::view(xd, DType::BF16, {M, K});
  std::vector<uint8_t> q(M * K / 2), s(M * K / 16);
  std::vector<float> c(M * N);
  auto message = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::NonFinite);
      return e.what();
    }
    ADD_FAILURE() << "no error";
    return "";
  };
  const TensorView bv = Context::view(bd, DType::U8, {N, K / 2}), bsv = Context::view(bsd, DType::F8_E4M3, {N, K / 16});
  const TensorView cv = Context::view(cd, DType::F32, {M, N});
  const std::string want = message([&] {
    gemm_nvfp4_act(xh, std::nullopt, bv, bsv, 1.0f, std::nullopt, TensorView{DType::F32, {M, N}, c.data(), c.size() * 4},
                   ctx.options());
  });
  EXPECT_NE(want.find("x[1, 37] is NaN"), std::string::npos) << want;
  EXPECT_EQ(message([&] { gemm_nvfp4_act(xv, std::nullopt, bv, bsv, 1.0f, std::nullopt, cv, ctx.options()); }), want);
  EXPECT_EQ(message([&] {
              quantize_nvfp4(xv, Nvfp4Recipe::Nvfp4, std::nullopt, Context::view(qd, DType::U8, {M, K / 2}),
                             Context::view(sd, DType::F8_E4M3, {M, K / 16}), ctx.options());
            }),
            std::string(want).replace(0, std::string("gemm_nvfp4_act").size(), "quantize_nvfp4"));
  std::vector<float> back(M * N, 1.0f);
  ctx.download(cd, 0, back.data(), back.size() * 4);
  EXPECT_EQ(back, std::vector<float>(M * N, 0.0f)) << "c was written";
}

// With a static input scale nothing of a gemm_nvfp4_act call need come back to the host, so a
// resident x is checked for NaN by sync(), not by the call: the call returns, and the sync names
// the operation and the element (then the queue is clear and calls work again).
TEST_P(ResidentOps, ANonFiniteQueuedInputIsReportedBySync) {
  const Context& ctx = *ctx_;
  const int64_t M = 3, N = 24, K = 256;
  Arg x = random(DType::BF16, {M, K}, 101);
  const uint16_t inf = 0xFF80; // -inf
  std::memcpy(x.bytes.data() + (2 * K + 5) * 2, &inf, 2);
  const Arg b = random(DType::U8, {N, K / 2}, 102), bs = random(DType::F8_E4M3, {N, K / 16}, 103);
  DeviceBuffer xd = ctx.device_alloc(x.bytes.size()), bd = ctx.device_alloc(b.bytes.size()),
               bsd = ctx.device_alloc(bs.bytes.size()), cd = ctx.device_alloc(M * N * 4);
  ctx.upload(xd, 0, x.bytes.data(), x.bytes.size());
  ctx.upload(bd, 0, b.bytes.data(), b.bytes.size());
  ctx.upload(bsd, 0, bs.bytes.data(), bs.bytes.size());
  ctx.sync();
  auto call = [&] {
    ctx.gemm_nvfp4_act(Context::view(xd, DType::BF16, {M, K}), 0.01f, Context::view(bd, DType::U8, {N, K / 2}),
                       Context::view(bsd, DType::F8_E4M3, {N, K / 16}), 0.5f, std::nullopt,
                       Context::view(cd, DType::F32, {M, N}));
  };
  auto code_and_message = [](auto&& f) -> std::pair<std::optional<ErrorCode>, std::string> {
    try {
      f();
    } catch (const Error& e) {
      return {e.code(), e.what()};
    }
    return {std::nullopt, ""};
  };
  EXPECT_FALSE(code_and_message(call).first) << "the call waited for its check";
  const auto [code, message] = code_and_message([&] { ctx.sync(); });
  ASSERT_TRUE(code) << "sync found nothing";
  EXPECT_EQ(*code, ErrorCode::NonFinite);
  EXPECT_NE(message.find("gemm_nvfp4_act: x[2, 5] is NaN or inf"), std::string::npos) << message;
  EXPECT_EQ(ctx.sync().calls, 0) << "the failed sync cleared the queue";
  // A finite x afterwards runs and syncs cleanly.
  const uint16_t one = 0x3F80;
  ctx.upload(xd, (2 * K + 5) * 2, &one, 2);
  EXPECT_FALSE(code_and_message(call).first);
  EXPECT_FALSE(code_and_message([&] { ctx.sync(); }).first);
}

// A device buffer is zero-filled on the device: a megabyte of zeros, and not a byte of them
// crossed from the host.
TEST_P(ResidentOps, DeviceBuffersAreZeroedOnTheDevice) {
  detail::thread_traffic() = {};
  DeviceBuffer b = ctx_->device_alloc(1 << 20);
  EXPECT_EQ(detail::thread_traffic().bytes_to_device, 0);
  EXPECT_EQ(detail::thread_traffic().allocations, 1);
  std::vector<uint8_t> back(1 << 20, 0xEE);
  ctx_->download(b, 0, back.data(), back.size());
  EXPECT_EQ(back, std::vector<uint8_t>(1 << 20, 0));
}

// A weight packed for a GPU is uploaded once with the packing: a GEMM on it with device-resident
// activations sends nothing, and gives the bytes of the same GEMM on the checkpoint's host bytes.
TEST_P(ResidentOps, PackedWeightsStayOnTheDevice) {
  const Context& ctx = *ctx_;
  const int64_t M = 2, N = 24, K = 256;
  const Arg a = random(DType::U8, {M, K / 2}, 81), as = random(DType::F8_E4M3, {M, K / 16}, 82);
  const Arg b = random(DType::U8, {N, K / 2}, 83), bs = random(DType::F8_E4M3, {N, K / 16}, 84);
  const Arg a8 = random(DType::F8_E4M3, {M, K}, 85), b8 = random(DType::F8_E4M3, {N, K}, 86);
  auto host = [](const Arg& x) { return TensorView{x.dtype, x.shape, const_cast<uint8_t*>(x.bytes.data()), x.bytes.size()}; };
  PackTarget target;
  target.run = ctx.options();
  const PackedWeight w4 = pack_nvfp4_weight(host(b), host(bs), 0.5f, ScaleLayout::Linear, target);
  float one = 0.03f;
  const PackedWeight w8 = pack_fp8_weight(host(b8), TensorView{DType::F32, {1}, &one, 4}, target);
  ASSERT_NE(w4.device_copy, nullptr);
  ASSERT_NE(w8.device_copy, nullptr);
  const PackedWeight copy = w4;
  EXPECT_EQ(copy.device_copy, w4.device_copy) << "copies share the device bytes";

  RunInfo info;
  same_bytes({a, as, zeros(DType::F32, {M, N})}, "", [&](const std::vector<TensorView>& v, const RunOptions& o, RunInfo* i) {
    gemm_nvfp4(v[0], v[1], w4, 0.25f, std::nullopt, v[2], o, i);
    info = *i;
  });
  EXPECT_EQ(info.traffic.bytes_to_device, 0) << "the weight went up again";
  std::vector<float> want(M * N), got(M * N);
  gemm_nvfp4(host(a), host(as), host(b), host(bs), 0.25f, std::nullopt, TensorView{DType::F32, {M, N}, want.data(), want.size() * 4},
             ctx.options());
  gemm_nvfp4(host(a), host(as), w4, 0.25f, std::nullopt, TensorView{DType::F32, {M, N}, got.data(), got.size() * 4},
             ctx.options());
  EXPECT_EQ(got, want) << "packed and checkpoint weights differ";

  same_bytes({a8, zeros(DType::BF16, {M, N})}, "", [&](const std::vector<TensorView>& v, const RunOptions& o, RunInfo* i) {
    gemm_fp8(v[0], w8, 0.5f, std::nullopt, v[1], o, i);
    info = *i;
  });
  EXPECT_EQ(info.traffic.bytes_to_device, 0) << "the weight went up again";
  // On another device the weight's host bytes serve.
  std::vector<float> on_cpu(M * N);
  gemm_nvfp4(host(a), host(as), w4, 0.25f, std::nullopt, TensorView{DType::F32, {M, N}, on_cpu.data(), on_cpu.size() * 4},
             Context::open("cpu", 0).options());
  EXPECT_EQ(on_cpu, want);
}

// 64 dependent calls on device buffers, none waited for (they queue: RunInfo says -1 for their
// device time), equal the same 64 calls on host memory one by one; sync() then counts them and
// their device time.
TEST_P(ResidentOps, SixtyFourQueuedCallsEqualTheCallsOneByOne) {
  const Context& ctx = *ctx_;
  const int64_t B = 2, T = 3, C = 32, W = 4;
  const Arg x = random(DType::BF16, {B, T, C}, 91), w = random(DType::F32, {C, W}, 92);
  Arg state = random(DType::F32, {B, C, W - 1}, 93);
  std::vector<uint8_t> y_host(B * T * C * 2);
  DeviceBuffer xd = ctx.device_alloc(x.bytes.size()), wd = ctx.device_alloc(w.bytes.size()),
               sd = ctx.device_alloc(state.bytes.size()), yd = ctx.device_alloc(y_host.size());
  ctx.upload(xd, 0, x.bytes.data(), x.bytes.size());
  ctx.upload(wd, 0, w.bytes.data(), w.bytes.size());
  ctx.upload(sd, 0, state.bytes.data(), state.bytes.size());
  ctx.sync(); // nothing of this test's is queued before it starts
  const TensorView xh{DType::BF16, {B, T, C}, const_cast<uint8_t*>(x.bytes.data()), x.bytes.size()};
  const TensorView wh{DType::F32, {C, W}, const_cast<uint8_t*>(w.bytes.data()), w.bytes.size()};
  const TensorView sh{DType::F32, {B, C, W - 1}, state.bytes.data(), state.bytes.size()};
  const TensorView yh{DType::BF16, {B, T, C}, y_host.data(), y_host.size()};
  const TensorView xv = Context::view(xd, DType::BF16, {B, T, C}), wv = Context::view(wd, DType::F32, {C, W});
  const TensorView sv = Context::view(sd, DType::F32, {B, C, W - 1}), yv = Context::view(yd, DType::BF16, {B, T, C});
  for (int i = 0; i < 64; ++i) {
    ctx.conv1d(xh, wh, std::nullopt, sh, yh, sh); // each state feeds the next call
    ctx.conv1d(xv, wv, std::nullopt, sv, yv, sv);
    EXPECT_EQ(ctx.last_run().device_ms, -1.0) << "call " << i << " waited";
  }
  const QueueInfo q = ctx.sync();
  EXPECT_EQ(q.calls, 64);
  EXPECT_GT(q.device_ms, 0.0);
  std::vector<uint8_t> s_back(state.bytes.size()), y_back(y_host.size());
  ctx.download(sd, 0, s_back.data(), s_back.size());
  ctx.download(yd, 0, y_back.data(), y_back.size());
  EXPECT_EQ(s_back, state.bytes);
  EXPECT_EQ(y_back, y_host);
  EXPECT_EQ(ctx.sync().calls, 0) << "a second sync has nothing left";
}

// An event after a queued call: wait() returns once the call has run (its output is there),
// done() is then true, and sync() still counts and times the call. On Vulkan the call sits in the
// open submission until something submits it, so its event is not done before the wait.
TEST_P(ResidentOps, AnEventWaitsForTheCallsBeforeIt) {
  const Context& ctx = *ctx_;
  const int64_t n = 4096;
  const Arg x = random(DType::F32, {n}, 95);
  DeviceBuffer xd = ctx.device_alloc(x.bytes.size()), yd = ctx.device_alloc(n * 2);
  ctx.upload(xd, 0, x.bytes.data(), x.bytes.size());
  ctx.sync();
  ctx.convert(Context::view(xd, DType::F32, {n}), Format::BF16, Context::view(yd, DType::BF16, {n}));
  const Event e = ctx.event();
  if (std::string(GetParam()) == "vulkan") {
    EXPECT_FALSE(e.done()) << "the call was submitted without a wait, sync or host read";
  }
  e.wait();
  EXPECT_TRUE(e.done());
  EXPECT_TRUE(Event().done());
  std::vector<uint8_t> want(n * 2), got(n * 2);
  convert(TensorView{DType::F32, {n}, const_cast<uint8_t*>(x.bytes.data()), x.bytes.size()}, Format::BF16,
          TensorView{DType::BF16, {n}, want.data(), want.size()});
  ctx.download(yd, 0, got.data(), got.size());
  EXPECT_EQ(got, want);
  const QueueInfo q = ctx.sync();
  EXPECT_EQ(q.calls, 1);
  EXPECT_GT(q.device_ms, 0.0);
  // The C API's form, on a context of the same device.
  tessera_context* c = nullptr;
  ASSERT_EQ(tessera_context_create(GetParam(), 0, &c), TESSERA_OK);
  tessera_event* ce = nullptr;
  ASSERT_EQ(tessera_context_event(c, &ce), TESSERA_OK);
  ASSERT_EQ(tessera_event_wait(ce), TESSERA_OK);
  int32_t done = 0;
  ASSERT_EQ(tessera_event_done(ce, &done), TESSERA_OK);
  EXPECT_EQ(done, 1);
  EXPECT_EQ(tessera_event_done(ce, nullptr), TESSERA_NULL_BUFFER);
  tessera_event_destroy(ce);
  tessera_context_destroy(c);
}

INSTANTIATE_TEST_SUITE_P(Backends, ResidentOps, ::testing::Values("opencl", "vulkan"),
                         [](const auto& info) { return std::string(info.param); });

// On the CPU a context's device buffers are host memory, so the same calls are plain host calls;
// a view of another backend's buffer is refused by name.
TEST(ResidentOpsErrors, AViewOfAnotherDeviceIsRefusedByName) {
  if (Context::device_count("opencl") == 0) GTEST_SKIP() << "no opencl device";
  const Context cl = Context::open("opencl", 0), cpu = Context::open("cpu", 0);
  const int64_t B = 1, T = 2, C = 8, W = 3;
  DeviceBuffer xb = cl.device_alloc(B * T * C * 4);
  std::vector<float> w(C * W, 0.5f), y(B * T * C), s(B * C * (W - 1));
  const TensorView x = Context::view(xb, DType::F32, {B, T, C});
  try {
    conv1d(x, TensorView{DType::F32, {C, W}, w.data(), w.size() * 4}, std::nullopt, std::nullopt,
           TensorView{DType::F32, {B, T, C}, y.data(), y.size() * 4},
           TensorView{DType::F32, {B, C, W - 1}, s.data(), s.size() * 4}, cpu.options());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv1d: x lives on opencl:0"), std::string::npos) << e.what();
  }
}

} // namespace

namespace {
// Two outputs of one call that share bytes are refused by name, on the host and on the device,
// and nothing is written; an output over an input (in place) stays legal.
TEST(ResidentOpsErrors, OverlappingOutputsAreRefusedByName) {
  for (const char* backend : {"cpu", "opencl"}) {
    if (Context::device_count(backend) == 0) continue;
    SCOPED_TRACE(backend);
    const Context ctx = Context::open(backend, 0);
    const int64_t B = 1, T = 2, C = 8, W = 3;
    std::vector<float> x(B * T * C, 0.25f), w(C * W, 0.5f);
    DeviceBuffer out = ctx.device_alloc(64 * 4);
    std::vector<float> before(64, 7.0f), after(64);
    ctx.upload(out, 0, before.data(), before.size() * 4);
    // y takes bytes [0, 64), state_out [32, 96): they overlap by half of y.
    const TensorView y = Context::view(out, DType::F32, {B, T, C}), so = Context::view(out, DType::F32, {B, C, W - 1}, 32);
    try {
      ctx.conv1d(TensorView{DType::F32, {B, T, C}, x.data(), x.size() * 4}, TensorView{DType::F32, {C, W}, w.data(), w.size() * 4},
                 std::nullopt, std::nullopt, y, so);
      ADD_FAILURE() << "overlapping outputs were accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find("conv1d: outputs y and state_out overlap"), std::string::npos) << e.what();
    }
    ctx.download(out, 0, after.data(), after.size() * 4);
    EXPECT_EQ(after, before);
    // Apart (state_out right after y), the same call runs.
    EXPECT_NO_THROW(ctx.conv1d(TensorView{DType::F32, {B, T, C}, x.data(), x.size() * 4},
                               TensorView{DType::F32, {C, W}, w.data(), w.size() * 4}, std::nullopt, std::nullopt, y,
                               Context::view(out, DType::F32, {B, C, W - 1}, 64)));
  }
}
} // namespace
