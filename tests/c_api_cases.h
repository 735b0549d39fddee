// Every operation of the public API called three ways on the same tensors, for the tests of the C
// API and of tessera::Context (test_c_api.cpp, test_c_api_packed_weights.cpp,
// test_context_api.cpp): all_cases() gives one OpCase per C function, with its slots (each tensor
// argument and how the C API describes it) and the C call, the free function of ops.h and the
// Context member. A new operation adds its case here.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tessera/context.h"
#include "tessera/tessera.h"
#include "test_util.h"

namespace tessera::test {

inline constexpr std::byte kSentinel{0xA5};

// One tensor argument of a call: the tensor and how the C API describes it. A test mutates `c`
// or sets `null` to make the argument bad.
struct Slot {
  std::string c_name, core_name; // "args->q" as the C layer names it, "q" as the core does
  bool output = false, optional = false;
  Tensor t;
  tessera_tensor c{};
  bool null = false;
};

inline tessera_tensor describe(Tensor& t) {
  tessera_tensor c{};
  c.dtype = static_cast<tessera_dtype>(t.dtype());
  c.ndim = static_cast<int32_t>(t.shape().size());
  for (size_t i = 0; i < t.shape().size(); ++i) c.shape[i] = t.shape()[i];
  c.data = t.data();
  c.bytes = t.nbytes();
  return c;
}

// One operation, callable three ways on the same slots.
struct OpCase {
  std::string name; // the C function's
  std::vector<std::unique_ptr<Slot>> slots;
  float scalar_out = -1.0f; // quantize_nvfp4's scale_2

  std::function<tessera_status(OpCase&, tessera_context*)> c_call;
  std::function<void(OpCase&)> free_call;
  std::function<void(OpCase&, const Context&)> ctx_call;

  Slot& slot(const std::string& n) {
    for (auto& s : slots)
      if (s->core_name == n) return *s;
    throw std::logic_error("no slot " + n);
  }
  const tessera_tensor* c(const std::string& n) { Slot& s = slot(n); return s.null ? nullptr : &s.c; }
  TensorView v(const std::string& n) { return slot(n).t.view(); }
  Slot& add(std::string name, Tensor t, bool output = false, bool optional = false, std::string c_prefix = "") {
    auto s = std::make_unique<Slot>();
    s->c_name = c_prefix + name;
    s->core_name = name;
    s->output = output;
    s->optional = optional;
    s->t = std::move(t);
    s->c = describe(s->t);
    slots.push_back(std::move(s));
    return *slots.back();
  }
  void reset() {
    for (auto& s : slots) {
      s->c = describe(s->t);
      s->null = false;
    }
  }
  void fill_outputs() {
    for (auto& s : slots)
      if (s->output) std::fill_n(s->t.data(), s->t.nbytes(), kSentinel);
    scalar_out = -1.0f;
  }
  std::vector<std::byte> outputs() const {
    std::vector<std::byte> all;
    for (auto& s : slots)
      if (s->output) all.insert(all.end(), s->t.data(), s->t.data() + s->t.nbytes());
    const auto* f = reinterpret_cast<const std::byte*>(&scalar_out);
    all.insert(all.end(), f, f + sizeof scalar_out);
    return all;
  }
  bool outputs_untouched() const {
    for (auto& s : slots)
      if (s->output)
        for (size_t i = 0; i < s->t.nbytes(); ++i)
          if (s->t.data()[i] != kSentinel) return false;
    return scalar_out == -1.0f;
  }
};

inline Tensor f32(Shape s, float lo, float hi, uint32_t seed) {
  auto v = random_floats(size_t(shape_numel(s)), lo, hi, seed);
  return test::f32_tensor(std::move(s), v);
}

// NVFP4 codes and scales of a random [rows, cols] matrix, from the quantizer itself.
struct Nvfp4 { Tensor q, scale; float scale_2; };
inline Nvfp4 nvfp4(int64_t rows, int64_t cols, uint32_t seed) {
  Tensor x = f32({rows, cols}, -3, 3, seed);
  Nvfp4 r{Tensor(DType::U8, {rows, cols / 2}), Tensor(DType::F8_E4M3, {rows, cols / 16}), 0};
  r.scale_2 = quantize_nvfp4(x.view(), Nvfp4Recipe::Nvfp4, std::nullopt, r.q.view(), r.scale.view());
  return r;
}

inline Tensor e4m3(Shape s, uint32_t seed) {
  Tensor x = f32(s, -4, 4, seed), y(DType::F8_E4M3, s);
  convert(x.view(), Format::E4M3, y.view());
  return y;
}

// A weight packed through the C API on a CPU context by `pack`, destroyed with the last copy.
inline std::shared_ptr<tessera_packed_weight> c_packed(
    const std::function<tessera_status(tessera_context*, tessera_packed_weight**)>& pack) {
  tessera_context* ctx = nullptr;
  EXPECT_EQ(tessera_context_create("cpu", 0, &ctx), TESSERA_OK) << tessera_last_error_message();
  tessera_packed_weight* w = nullptr;
  EXPECT_EQ(pack(ctx, &w), TESSERA_OK) << tessera_last_error_message();
  tessera_context_destroy(ctx);
  return std::shared_ptr<tessera_packed_weight>(w, tessera_packed_weight_destroy);
}

inline std::vector<std::unique_ptr<OpCase>> all_cases() {
  std::vector<std::unique_ptr<OpCase>> cases;
  auto make = [&](std::string name) { cases.push_back(std::make_unique<OpCase>()); cases.back()->name = std::move(name); return cases.back().get(); };
  using O = OpCase;
  using C = const Context;

  O* k = make("tessera_convert");
  k->add("x", f32({3, 5}, -10, 10, 1));
  k->add("y", Tensor(DType::BF16, {3, 5}), true);
  k->c_call = [](O& o, tessera_context* x) { return tessera_convert(x, o.c("x"), TESSERA_FORMAT_BF16, o.c("y")); };
  k->free_call = [](O& o) { convert(o.v("x"), Format::BF16, o.v("y")); };
  k->ctx_call = [](O& o, C& c) { c.convert(o.v("x"), Format::BF16, o.v("y")); };

  k = make("tessera_quantize_nvfp4");
  k->add("x", f32({4, 64}, -5, 5, 2));
  k->add("q", Tensor(DType::U8, {4, 32}), true);
  k->add("scale", Tensor(DType::F8_E4M3, {4, 4}), true);
  k->c_call = [](O& o, tessera_context* x) { return tessera_quantize_nvfp4(x, o.c("x"), TESSERA_NVFP4_4OVER6, nullptr, o.c("q"), o.c("scale"), &o.scalar_out); };
  k->free_call = [](O& o) { o.scalar_out = quantize_nvfp4(o.v("x"), Nvfp4Recipe::FourOverSix, std::nullopt, o.v("q"), o.v("scale")); };
  k->ctx_call = [](O& o, C& c) { o.scalar_out = c.quantize_nvfp4(o.v("x"), Nvfp4Recipe::FourOverSix, std::nullopt, o.v("q"), o.v("scale")); };

  k = make("tessera_dequantize_nvfp4");
  Nvfp4 n = nvfp4(4, 64, 3);
  k->add("q", std::move(n.q));
  k->add("scale", std::move(n.scale));
  k->add("y", Tensor(DType::F32, {4, 64}), true);
  float s2 = n.scale_2;
  k->c_call = [s2](O& o, tessera_context* x) { return tessera_dequantize_nvfp4(x, o.c("q"), o.c("scale"), s2, o.c("y")); };
  k->free_call = [s2](O& o) { dequantize_nvfp4(o.v("q"), o.v("scale"), s2, o.v("y")); };
  k->ctx_call = [s2](O& o, C& c) { c.dequantize_nvfp4(o.v("q"), o.v("scale"), s2, o.v("y")); };

  k = make("tessera_quantize_fp8");
  k->add("x", f32({3, 200}, -300, 300, 4));
  k->add("q", Tensor(DType::F8_E4M3, {3, 200}), true);
  k->add("scales", Tensor(DType::F32, {3, 2}), true);
  k->c_call = [](O& o, tessera_context* x) { return tessera_quantize_fp8(x, o.c("x"), TESSERA_FP8_TOKEN128, o.c("q"), o.c("scales")); };
  k->free_call = [](O& o) { quantize_fp8(o.v("x"), Fp8Recipe::Token128, o.v("q"), o.v("scales")); };
  k->ctx_call = [](O& o, C& c) { c.quantize_fp8(o.v("x"), Fp8Recipe::Token128, o.v("q"), o.v("scales")); };

  k = make("tessera_dequantize_fp8");
  k->add("q", e4m3({3, 200}, 5));
  k->add("scales", f32({1, 2}, 0.5f, 2, 6));
  k->add("y", Tensor(DType::F32, {3, 200}), true);
  k->c_call = [](O& o, tessera_context* x) { return tessera_dequantize_fp8(x, o.c("q"), o.c("scales"), TESSERA_FP8_BLOCK128, o.c("y")); };
  k->free_call = [](O& o) { dequantize_fp8(o.v("q"), o.v("scales"), Fp8Recipe::Block128, o.v("y")); };
  k->ctx_call = [](O& o, C& c) { c.dequantize_fp8(o.v("q"), o.v("scales"), Fp8Recipe::Block128, o.v("y")); };

  k = make("tessera_gemm_nvfp4");
  Nvfp4 a = nvfp4(3, 64, 7), b = nvfp4(5, 64, 8);
  k->add("a", std::move(a.q));
  k->add("a_scale", std::move(a.scale));
  k->add("b", std::move(b.q));
  k->add("b_scale", std::move(b.scale));
  k->add("bias", f32({5}, -1, 1, 9), false, true);
  k->add("c", Tensor(DType::F16, {3, 5}), true);
  float alpha = a.scale_2 * b.scale_2;
  k->c_call = [alpha](O& o, tessera_context* x) { return tessera_gemm_nvfp4(x, o.c("a"), o.c("a_scale"), o.c("b"), o.c("b_scale"), alpha, o.c("bias"), o.c("c")); };
  k->free_call = [alpha](O& o) { gemm_nvfp4(o.v("a"), o.v("a_scale"), o.v("b"), o.v("b_scale"), alpha, o.v("bias"), o.v("c")); };
  k->ctx_call = [alpha](O& o, C& c) { c.gemm_nvfp4(o.v("a"), o.v("a_scale"), o.v("b"), o.v("b_scale"), alpha, o.v("bias"), o.v("c")); };

  k = make("tessera_gemm_fp8");
  k->add("a", e4m3({3, 48}, 10));
  k->add("b", e4m3({4, 48}, 11));
  k->add("bias", f32({4}, -1, 1, 12), false, true);
  k->add("c", Tensor(DType::F32, {3, 4}), true);
  k->c_call = [](O& o, tessera_context* x) { return tessera_gemm_fp8(x, o.c("a"), o.c("b"), 0.25f, o.c("bias"), o.c("c")); };
  k->free_call = [](O& o) { gemm_fp8(o.v("a"), o.v("b"), 0.25f, o.v("bias"), o.v("c")); };
  k->ctx_call = [](O& o, C& c) { c.gemm_fp8(o.v("a"), o.v("b"), 0.25f, o.v("bias"), o.v("c")); };

  k = make("tessera_gemm_fp8_block");
  k->add("a", e4m3({3, 160}, 13));
  k->add("a_scale", f32({3, 2}, 0.5f, 2, 14));
  k->add("b", e4m3({4, 160}, 15));
  k->add("b_scale", f32({1, 2}, 0.5f, 2, 16));
  k->add("c", Tensor(DType::BF16, {3, 4}), true);
  k->c_call = [](O& o, tessera_context* x) { return tessera_gemm_fp8_block(x, o.c("a"), o.c("a_scale"), o.c("b"), o.c("b_scale"), nullptr, o.c("c")); };
  k->free_call = [](O& o) { gemm_fp8_block(o.v("a"), o.v("a_scale"), o.v("b"), o.v("b_scale"), std::nullopt, o.v("c")); };
  k->ctx_call = [](O& o, C& c) { c.gemm_fp8_block(o.v("a"), o.v("a_scale"), o.v("b"), o.v("b_scale"), std::nullopt, o.v("c")); };

  // B = 2, T = 5, H = 2, HV = 4, Dk = 8, Dv = 4; gates in [-20, 0), beta in (0, 1).
  k = make("tessera_deltanet");
  k->add("q", f32({2, 5, 2, 8}, -1, 1, 17), false, false, "args->");
  k->add("k", f32({2, 5, 2, 8}, -1, 1, 18), false, false, "args->");
  k->add("v", f32({2, 5, 4, 4}, -1, 1, 19), false, false, "args->");
  k->add("g", f32({2, 5, 4}, -20, -0.01f, 20), false, true, "args->");
  k->add("beta", f32({2, 5, 4}, 0.01f, 0.99f, 21), false, true, "args->");
  k->add("h0", f32({2, 4, 8, 4}, -1, 1, 22), false, true, "args->");
  k->add("o", Tensor(DType::F32, {2, 5, 4, 4}), true);
  k->add("ht", Tensor(DType::F32, {2, 4, 8, 4}), true);
  k->c_call = [](O& o, tessera_context* x) {
    tessera_deltanet_args a;
    EXPECT_EQ(tessera_deltanet_args_init(&a), TESSERA_OK);
    a.q = o.c("q"), a.k = o.c("k"), a.v = o.c("v"), a.g = o.c("g"), a.beta = o.c("beta"), a.h0 = o.c("h0");
    a.l2norm = 1;
    return tessera_deltanet(x, &a, o.c("o"), o.c("ht"));
  };
  auto dn_args = [](O& o) {
    DeltaNetArgs a;
    a.q = o.v("q"), a.k = o.v("k"), a.v = o.v("v"), a.g = o.v("g"), a.beta = o.v("beta"), a.h0 = o.v("h0");
    a.l2norm = true;
    return a;
  };
  k->free_call = [dn_args](O& o) { deltanet(dn_args(o), o.v("o"), o.v("ht")); };
  k->ctx_call = [dn_args](O& o, C& c) { c.deltanet(dn_args(o), o.v("o"), o.v("ht")); };

  k = make("tessera_conv1d");
  k->add("x", f32({2, 6, 3}, -1, 1, 23));
  k->add("w", f32({3, 4}, -1, 1, 24));
  k->add("bias", f32({3}, -1, 1, 25), false, true);
  k->add("state", f32({2, 3, 3}, -1, 1, 26), false, true);
  k->add("y", Tensor(DType::F32, {2, 6, 3}), true);
  k->add("state_out", Tensor(DType::F32, {2, 3, 3}), true);
  k->c_call = [](O& o, tessera_context* x) { return tessera_conv1d(x, o.c("x"), o.c("w"), o.c("bias"), o.c("state"), o.c("y"), o.c("state_out")); };
  k->free_call = [](O& o) { conv1d(o.v("x"), o.v("w"), o.v("bias"), o.v("state"), o.v("y"), o.v("state_out")); };
  k->ctx_call = [](O& o, C& c) { c.conv1d(o.v("x"), o.v("w"), o.v("bias"), o.v("state"), o.v("y"), o.v("state_out")); };

  // B = 2, T = S = 6, Hq = 4, Hkv = 2, D = 8, with an output gate and the log-sum-exp.
  k = make("tessera_attention");
  k->add("q", f32({2, 6, 4, 8}, -1, 1, 27), false, false, "args->");
  k->add("k", f32({2, 6, 2, 8}, -1, 1, 28), false, false, "args->");
  k->add("v", f32({2, 6, 2, 8}, -1, 1, 29), false, false, "args->");
  k->add("gate", f32({2, 6, 4, 8}, -3, 3, 30), false, true, "args->");
  k->add("o", Tensor(DType::F32, {2, 6, 4, 8}), true);
  k->add("lse", Tensor(DType::F32, {2, 6, 4}), true, true);
  k->c_call = [](O& o, tessera_context* x) {
    tessera_attention_args a;
    EXPECT_EQ(tessera_attention_args_init(&a), TESSERA_OK);
    a.q = o.c("q"), a.k = o.c("k"), a.v = o.c("v"), a.gate = o.c("gate");
    a.scale = 0.3f, a.has_scale = 1;
    return tessera_attention(x, &a, o.c("o"), o.c("lse"));
  };
  auto at_args = [](O& o) {
    AttentionArgs a;
    a.q = o.v("q"), a.k = o.v("k"), a.v = o.v("v"), a.gate = o.v("gate");
    a.scale = 0.3f;
    return a;
  };
  k->free_call = [at_args](O& o) { attention(at_args(o), o.v("o"), o.v("lse")); };
  k->ctx_call = [at_args](O& o, C& c) { c.attention(at_args(o), o.v("o"), o.v("lse")); };

  // The activation-quantizing GEMMs; scalar_out is the activation scale_2 used (dynamic here).
  k = make("tessera_gemm_nvfp4_act");
  Nvfp4 w = nvfp4(5, 64, 31);
  k->add("x", f32({3, 64}, -3, 3, 32));
  k->add("b", std::move(w.q));
  k->add("b_scale", std::move(w.scale));
  k->add("bias", f32({5}, -1, 1, 33), false, true);
  k->add("c", Tensor(DType::F16, {3, 5}), true);
  float ws2 = w.scale_2;
  k->c_call = [ws2](O& o, tessera_context* x) { return tessera_gemm_nvfp4_act(x, o.c("x"), nullptr, o.c("b"), o.c("b_scale"), ws2, o.c("bias"), o.c("c"), &o.scalar_out); };
  k->free_call = [ws2](O& o) { o.scalar_out = gemm_nvfp4_act(o.v("x"), std::nullopt, o.v("b"), o.v("b_scale"), ws2, o.v("bias"), o.v("c")); };
  k->ctx_call = [ws2](O& o, C& c) { o.scalar_out = c.gemm_nvfp4_act(o.v("x"), std::nullopt, o.v("b"), o.v("b_scale"), ws2, o.v("bias"), o.v("c")); };

  k = make("tessera_gemm_fp8_act");
  k->add("x", f32({3, 160}, -3, 3, 34));
  k->add("b", e4m3({4, 160}, 35));
  k->add("b_scale", f32({1, 2}, 0.5f, 2, 36));
  k->add("bias", f32({4}, -1, 1, 37), false, true);
  k->add("c", Tensor(DType::BF16, {3, 4}), true);
  k->c_call = [](O& o, tessera_context* x) { return tessera_gemm_fp8_act(x, o.c("x"), o.c("b"), o.c("b_scale"), o.c("bias"), o.c("c")); };
  k->free_call = [](O& o) { gemm_fp8_act(o.v("x"), o.v("b"), o.v("b_scale"), o.v("bias"), o.v("c")); };
  k->ctx_call = [](O& o, C& c) { c.gemm_fp8_act(o.v("x"), o.v("b"), o.v("b_scale"), o.v("bias"), o.v("c")); };

  // The GEMMs on a packed weight: the weight is packed once, through the C API for the C call
  // and through the free function for the C++ ones; the slots are the other arguments.
  k = make("tessera_gemm_nvfp4_packed");
  Nvfp4 pa = nvfp4(3, 64, 38), pb = nvfp4(5, 64, 39);
  auto nv = std::make_shared<PackedWeight>(pack_nvfp4_weight(pb.q.view(), pb.scale.view(), pb.scale_2));
  auto nv_c = c_packed([&](tessera_context* x, tessera_packed_weight** out) {
    Tensor q = std::move(pb.q), sc = std::move(pb.scale);
    tessera_tensor cq = describe(q), cs = describe(sc);
    return tessera_pack_nvfp4_weight(x, &cq, &cs, pb.scale_2, TESSERA_SCALE_LINEAR, 1, nullptr, out);
  });
  k->add("a", std::move(pa.q));
  k->add("a_scale", std::move(pa.scale));
  k->add("bias", f32({5}, -1, 1, 40), false, true);
  k->add("c", Tensor(DType::F32, {3, 5}), true);
  float pal = pa.scale_2 * pb.scale_2;
  k->c_call = [pal, nv_c](O& o, tessera_context* x) { return tessera_gemm_nvfp4_packed(x, o.c("a"), o.c("a_scale"), nv_c.get(), pal, o.c("bias"), o.c("c")); };
  k->free_call = [pal, nv](O& o) { gemm_nvfp4(o.v("a"), o.v("a_scale"), *nv, pal, o.v("bias"), o.v("c")); };
  k->ctx_call = [pal, nv](O& o, C& c) { c.gemm_nvfp4_packed(o.v("a"), o.v("a_scale"), *nv, pal, o.v("bias"), o.v("c")); };

  k = make("tessera_gemm_fp8_packed");
  Tensor fb = e4m3({4, 48}, 41), fs = f32({}, 0.5f, 2, 42);
  auto f8 = std::make_shared<PackedWeight>(pack_fp8_weight(fb.view(), fs.view()));
  auto f8_c = c_packed([&](tessera_context* x, tessera_packed_weight** out) {
    tessera_tensor cb = describe(fb), cs = describe(fs);
    return tessera_pack_fp8_weight(x, &cb, &cs, 1, "", out);
  });
  k->add("a", e4m3({3, 48}, 43));
  k->add("bias", f32({4}, -1, 1, 44), false, true);
  k->add("c", Tensor(DType::F16, {3, 4}), true);
  k->c_call = [f8_c](O& o, tessera_context* x) { return tessera_gemm_fp8_packed(x, o.c("a"), f8_c.get(), 0.5f, o.c("bias"), o.c("c")); };
  k->free_call = [f8](O& o) { gemm_fp8(o.v("a"), *f8, 0.5f, o.v("bias"), o.v("c")); };
  k->ctx_call = [f8](O& o, C& c) { c.gemm_fp8_packed(o.v("a"), *f8, 0.5f, o.v("bias"), o.v("c")); };

  k = make("tessera_gemm_fp8_block_packed");
  Tensor gb = e4m3({4, 160}, 45), gs = f32({1, 2}, 0.5f, 2, 46);
  auto blk = std::make_shared<PackedWeight>(pack_fp8_weight(gb.view(), gs.view()));
  auto blk_c = c_packed([&](tessera_context* x, tessera_packed_weight** out) {
    tessera_tensor cb = describe(gb), cs = describe(gs);
    return tessera_pack_fp8_weight(x, &cb, &cs, 16, "checkpoint", out);
  });
  k->add("a", e4m3({3, 160}, 47));
  k->add("a_scale", f32({3, 2}, 0.5f, 2, 48));
  k->add("c", Tensor(DType::F32, {3, 4}), true);
  k->c_call = [blk_c](O& o, tessera_context* x) { return tessera_gemm_fp8_block_packed(x, o.c("a"), o.c("a_scale"), blk_c.get(), nullptr, o.c("c")); };
  k->free_call = [blk](O& o) { gemm_fp8_block(o.v("a"), o.v("a_scale"), *blk, std::nullopt, o.v("c")); };
  k->ctx_call = [blk](O& o, C& c) { c.gemm_fp8_block_packed(o.v("a"), o.v("a_scale"), *blk, std::nullopt, o.v("c")); };
  return cases;
}

inline std::unique_ptr<OpCase> one_case(size_t index) { return std::move(all_cases().at(index)); }

struct CContext {
  tessera_context* p = nullptr;
  explicit CContext(const char* backend = "cpu", int device = 0) {
    EXPECT_EQ(tessera_context_create(backend, device, &p), TESSERA_OK) << tessera_last_error_message();
  }
  ~CContext() { tessera_context_destroy(p); }
};

inline std::string last_variant(tessera_context* ctx) {
  char variant[64] = "untouched";
  EXPECT_EQ(tessera_last_run(ctx, nullptr, 0, variant, sizeof variant, nullptr, 0), TESSERA_OK);
  return variant;
}

inline bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

} // namespace tessera::test
