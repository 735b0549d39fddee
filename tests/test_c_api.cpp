// The public API an engine links: the C API (tessera/tessera.h) and tessera::Context
// (tessera/context.h). For every operation, the C function, the Context member and the free
// function of ops.h give the same bytes; every C function refuses a NULL context or tensor, a bad
// ndim, an unknown or a wrong dtype, a short or missing buffer with a status and a message naming
// the problem, and leaves its outputs untouched. Then the promises of context.h about threads:
// one Context used by four threads at once, two contexts side by side, per-thread records.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>

#include "tessera/context.h"
#include "tessera/tessera.h"
#include "test_util.h"

namespace {
using namespace tessera;
using test::random_floats;

constexpr std::byte kSentinel{0xA5};

// One tensor argument of a call: the tensor and how the C API describes it. A test mutates `c`
// or sets `null` to make the argument bad.
struct Slot {
  std::string c_name, core_name; // "args->q" as the C layer names it, "q" as the core does
  bool output = false, optional = false;
  Tensor t;
  tessera_tensor c{};
  bool null = false;
};

tessera_tensor describe(Tensor& t) {
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

Tensor f32(Shape s, float lo, float hi, uint32_t seed) {
  auto v = random_floats(size_t(shape_numel(s)), lo, hi, seed);
  return test::f32_tensor(std::move(s), v);
}

// NVFP4 codes and scales of a random [rows, cols] matrix, from the quantizer itself.
struct Nvfp4 { Tensor q, scale; float scale_2; };
Nvfp4 nvfp4(int64_t rows, int64_t cols, uint32_t seed) {
  Tensor x = f32({rows, cols}, -3, 3, seed);
  Nvfp4 r{Tensor(DType::U8, {rows, cols / 2}), Tensor(DType::F8_E4M3, {rows, cols / 16}), 0};
  r.scale_2 = quantize_nvfp4(x.view(), Nvfp4Recipe::Nvfp4, std::nullopt, r.q.view(), r.scale.view());
  return r;
}

Tensor e4m3(Shape s, uint32_t seed) {
  Tensor x = f32(s, -4, 4, seed), y(DType::F8_E4M3, s);
  convert(x.view(), Format::E4M3, y.view());
  return y;
}

// A weight packed through the C API on a CPU context by `pack`, destroyed with the last copy.
std::shared_ptr<tessera_packed_weight> c_packed(
    const std::function<tessera_status(tessera_context*, tessera_packed_weight**)>& pack) {
  tessera_context* ctx = nullptr;
  EXPECT_EQ(tessera_context_create("cpu", 0, &ctx), TESSERA_OK) << tessera_last_error_message();
  tessera_packed_weight* w = nullptr;
  EXPECT_EQ(pack(ctx, &w), TESSERA_OK) << tessera_last_error_message();
  tessera_context_destroy(ctx);
  return std::shared_ptr<tessera_packed_weight>(w, tessera_packed_weight_destroy);
}

std::vector<std::unique_ptr<OpCase>> all_cases() {
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

std::unique_ptr<OpCase> one_case(size_t index) { return std::move(all_cases().at(index)); }

struct CContext {
  tessera_context* p = nullptr;
  explicit CContext(const char* backend = "cpu", int device = 0) {
    EXPECT_EQ(tessera_context_create(backend, device, &p), TESSERA_OK) << tessera_last_error_message();
  }
  ~CContext() { tessera_context_destroy(p); }
};

std::string last_variant(tessera_context* ctx) {
  char variant[64] = "untouched";
  EXPECT_EQ(tessera_last_run(ctx, nullptr, 0, variant, sizeof variant, nullptr, 0), TESSERA_OK);
  return variant;
}

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

} // namespace

TEST(CApi, EveryOperationGivesTheBytesOfTheCppApi) {
  CContext ctx;
  Context cpp = Context::open("cpu");
  for (auto& op : all_cases()) {
    SCOPED_TRACE(op->name);
    op->fill_outputs();
    ASSERT_EQ(op->c_call(*op, ctx.p), TESSERA_OK) << tessera_last_error_message();
    std::vector<std::byte> from_c = op->outputs();
    EXPECT_EQ(last_variant(ctx.p), "reference");
    op->fill_outputs();
    op->free_call(*op);
    EXPECT_EQ(op->outputs(), from_c) << "the C API and the free function disagree";
    op->fill_outputs();
    op->ctx_call(*op, cpp);
    EXPECT_EQ(op->outputs(), from_c) << "the C API and the Context disagree";
    EXPECT_EQ(cpp.last_run().backend, "cpu");
  }
}

TEST(CApi, EveryOperationRefusesBadArgumentsWithoutWriting) {
  CContext ctx;
  for (auto& op : all_cases()) {
    SCOPED_TRACE(op->name);
    // Runs the call on whatever the slots now say; it must fail with `status` and a message
    // containing `needle`, write nothing, and leave last_run empty.
    auto refused = [&](tessera_context* c, tessera_status status, const std::string& needle) {
      op->fill_outputs();
      EXPECT_EQ(op->c_call(*op, c), status) << tessera_last_error_message();
      std::string message = tessera_last_error_message();
      EXPECT_TRUE(contains(message, needle)) << "'" << message << "' does not say '" << needle << "'";
      EXPECT_TRUE(op->outputs_untouched()) << "output written on failure";
      if (c) {
        EXPECT_EQ(last_variant(c), "");
      }
      op->reset();
    };
    refused(nullptr, TESSERA_NULL_BUFFER, op->name + ": ctx is NULL");
    for (auto& s : op->slots) {
      SCOPED_TRACE(s->c_name);
      if (!s->optional) {
        s->null = true;
        refused(ctx.p, TESSERA_NULL_BUFFER, op->name + ": " + s->c_name + " is NULL");
      }
      s->c.ndim = 9;
      refused(ctx.p, TESSERA_SHAPE_MISMATCH, s->c_name + " has ndim 9, outside 0..8");
      s->c.ndim = -1;
      refused(ctx.p, TESSERA_SHAPE_MISMATCH, s->c_name + " has ndim -1");
      s->c.dtype = static_cast<tessera_dtype>(42);
      refused(ctx.p, TESSERA_DTYPE_MISMATCH, s->c_name + " has dtype 42, which is no tessera_dtype");
      // A real dtype no operation takes here: the core's own check, in the core's words.
      s->c.dtype = TESSERA_F8_E5M2;
      refused(ctx.p, TESSERA_DTYPE_MISMATCH, s->core_name + " has dtype F8_E5M2");
      s->c.bytes -= 1;
      refused(ctx.p, TESSERA_SHORT_BUFFER, s->core_name + " buffer holds");
      s->c.data = nullptr;
      refused(ctx.p, TESSERA_NULL_BUFFER, s->core_name + " has no data");
    }
  }
}

TEST(CApi, RefusesEnumsItDoesNotKnowAndANullScale2) {
  CContext ctx;
  auto cases = all_cases();
  OpCase& conv = *cases[0];
  OpCase& quant = *cases[1];
  OpCase& deq = *cases[4];
  conv.fill_outputs();
  EXPECT_EQ(tessera_convert(ctx.p, conv.c("x"), static_cast<tessera_format>(9), conv.c("y")), TESSERA_INVALID_ARGUMENT);
  EXPECT_STREQ(tessera_last_error_message(), "tessera_convert: format 9 is no tessera_format");
  EXPECT_TRUE(conv.outputs_untouched());
  quant.fill_outputs();
  EXPECT_EQ(tessera_quantize_nvfp4(ctx.p, quant.c("x"), static_cast<tessera_nvfp4_recipe>(7), nullptr, quant.c("q"), quant.c("scale"), &quant.scalar_out), TESSERA_INVALID_ARGUMENT);
  EXPECT_STREQ(tessera_last_error_message(), "tessera_quantize_nvfp4: recipe 7 is no tessera_nvfp4_recipe");
  EXPECT_EQ(tessera_quantize_nvfp4(ctx.p, quant.c("x"), TESSERA_NVFP4, nullptr, quant.c("q"), quant.c("scale"), nullptr), TESSERA_NULL_BUFFER);
  EXPECT_STREQ(tessera_last_error_message(), "tessera_quantize_nvfp4: scale_2 is NULL");
  const float bad_static = -1.0f;
  EXPECT_EQ(tessera_quantize_nvfp4(ctx.p, quant.c("x"), TESSERA_NVFP4, &bad_static, quant.c("q"), quant.c("scale"), &quant.scalar_out), TESSERA_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(tessera_last_error_message(), "static scale_2 = -1 must be finite and > 0"));
  EXPECT_TRUE(quant.outputs_untouched());
  deq.fill_outputs();
  EXPECT_EQ(tessera_dequantize_fp8(ctx.p, deq.c("q"), deq.c("scales"), static_cast<tessera_fp8_recipe>(3), deq.c("y")), TESSERA_INVALID_ARGUMENT);
  EXPECT_STREQ(tessera_last_error_message(), "tessera_dequantize_fp8: recipe 3 is no tessera_fp8_recipe");
  EXPECT_TRUE(deq.outputs_untouched());
  EXPECT_EQ(tessera_deltanet_args_init(nullptr), TESSERA_NULL_BUFFER);
  EXPECT_EQ(tessera_attention_args_init(nullptr), TESSERA_NULL_BUFFER);
  EXPECT_EQ(tessera_deltanet(ctx.p, nullptr, conv.c("x"), conv.c("y")), TESSERA_NULL_BUFFER);
  EXPECT_STREQ(tessera_last_error_message(), "tessera_deltanet: args is NULL");
}

TEST(CApi, StaticScale2MatchesTheCppOptional) {
  CContext ctx;
  auto owned = one_case(1);
  OpCase& quant = *owned;
  const float s = 0.02f;
  ASSERT_EQ(tessera_quantize_nvfp4(ctx.p, quant.c("x"), TESSERA_NVFP4, &s, quant.c("q"), quant.c("scale"), &quant.scalar_out), TESSERA_OK);
  EXPECT_EQ(quant.scalar_out, s);
  std::vector<std::byte> from_c = quant.outputs();
  quant.fill_outputs();
  quant.scalar_out = quantize_nvfp4(quant.v("x"), Nvfp4Recipe::Nvfp4, s, quant.v("q"), quant.v("scale"));
  EXPECT_EQ(quant.outputs(), from_c);
}

TEST(CApi, GemmNvfp4ActTakesAStaticScaleAndRefusesANullScaleOut) {
  CContext ctx;
  auto owned = one_case(11);
  OpCase& op = *owned;
  ASSERT_EQ(op.name, "tessera_gemm_nvfp4_act");
  const float s = 0.01f;
  op.fill_outputs();
  ASSERT_EQ(tessera_gemm_nvfp4_act(ctx.p, op.c("x"), &s, op.c("b"), op.c("b_scale"), 0.5f, nullptr, op.c("c"), &op.scalar_out), TESSERA_OK)
      << tessera_last_error_message();
  EXPECT_EQ(op.scalar_out, s);
  std::vector<std::byte> from_c = op.outputs();
  op.fill_outputs();
  op.scalar_out = Context::open("cpu").gemm_nvfp4_act(op.v("x"), s, op.v("b"), op.v("b_scale"), 0.5f, std::nullopt, op.v("c"));
  EXPECT_EQ(op.outputs(), from_c);
  op.fill_outputs();
  EXPECT_EQ(tessera_gemm_nvfp4_act(ctx.p, op.c("x"), nullptr, op.c("b"), op.c("b_scale"), 0.5f, nullptr, op.c("c"), nullptr), TESSERA_NULL_BUFFER);
  EXPECT_STREQ(tessera_last_error_message(), "tessera_gemm_nvfp4_act: a_scale_2_used is NULL");
  EXPECT_EQ(tessera_gemm_nvfp4_act(ctx.p, op.c("x"), nullptr, op.c("b"), op.c("b_scale"), -1.0f, nullptr, op.c("c"), &op.scalar_out), TESSERA_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(tessera_last_error_message(), "b_scale_2 = -1 must be finite and > 0"));
  EXPECT_TRUE(op.outputs_untouched());
}

namespace {
// The bytes a packed weight unpacks to through the C API, and the status.
struct Unpacked { tessera_status status; Tensor b, scales; };
Unpacked c_unpack(const tessera_packed_weight* w, DType b_dtype, Shape b_shape, DType s_dtype, Shape s_shape) {
  Unpacked u{TESSERA_OK, Tensor(b_dtype, std::move(b_shape)), Tensor(s_dtype, std::move(s_shape))};
  tessera_tensor cb = describe(u.b), cs = describe(u.scales);
  u.status = tessera_unpack_weight(w, &cb, &cs);
  return u;
}

std::vector<uint8_t> bytes_of(const Tensor& t) {
  return std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(t.data()), reinterpret_cast<const uint8_t*>(t.data()) + t.nbytes());
}
} // namespace

TEST(CApi, PackedWeightsPackDescribeAndUnpackAsTheCppApi) {
  CContext ctx;
  Context cpp = Context::open("cpu");
  Nvfp4 w = nvfp4(5, 64, 50);
  tessera_tensor cq = describe(w.q), cs = describe(w.scale);
  tessera_packed_weight* p = nullptr;
  ASSERT_EQ(tessera_pack_nvfp4_weight(ctx.p, &cq, &cs, w.scale_2, TESSERA_SCALE_LINEAR, 1, nullptr, &p), TESSERA_OK)
      << tessera_last_error_message();
  std::unique_ptr<tessera_packed_weight, void (*)(tessera_packed_weight*)> owner(p, tessera_packed_weight_destroy);
  PackedWeight ref = pack_nvfp4_weight(w.q.view(), w.scale.view(), w.scale_2);
  PackedWeight via_ctx = cpp.pack_nvfp4_weight(w.q.view(), w.scale.view(), w.scale_2);
  EXPECT_EQ(via_ctx.data, ref.data);
  EXPECT_EQ(via_ctx.scales, ref.scales);
  EXPECT_EQ(via_ctx.variant, ref.variant);
  EXPECT_EQ(via_ctx.layout, ref.layout);

  tessera_weight_format format = TESSERA_WEIGHT_FP8_TENSOR;
  int64_t N = 0, K = 0;
  float scale = 0;
  char layout[32] = "untouched", variant[64] = "untouched";
  ASSERT_EQ(tessera_packed_weight_describe(p, &format, &N, &K, &scale, layout, sizeof layout, variant, sizeof variant), TESSERA_OK);
  EXPECT_EQ(format, TESSERA_WEIGHT_NVFP4);
  EXPECT_EQ(N, 5);
  EXPECT_EQ(K, 64);
  EXPECT_EQ(scale, w.scale_2);
  EXPECT_STREQ(layout, ref.layout.c_str());
  EXPECT_STREQ(variant, ref.variant.c_str());
  EXPECT_EQ(tessera_packed_weight_describe(p, nullptr, nullptr, nullptr, nullptr, nullptr, 0, nullptr, 0), TESSERA_OK);

  Unpacked u = c_unpack(p, DType::U8, {5, 32}, DType::F8_E4M3, {5, 4});
  ASSERT_EQ(u.status, TESSERA_OK) << tessera_last_error_message();
  EXPECT_TRUE(test::same_bytes(u.b, w.q));
  EXPECT_TRUE(test::same_bytes(u.scales, w.scale));

  // Swizzled scales: the C conversion gives the C++ bytes, and packs to the same weight.
  Tensor swz(DType::F8_E4M3, {swizzled_rows(5), swizzled_cols(4)}), swz_ref(DType::F8_E4M3, swz.shape());
  tessera_tensor csw = describe(swz);
  ASSERT_EQ(tessera_to_swizzled_scales(&cs, &csw), TESSERA_OK) << tessera_last_error_message();
  to_swizzled_scales(w.scale.view(), swz_ref.view());
  EXPECT_TRUE(test::same_bytes(swz, swz_ref));
  Tensor back(DType::F8_E4M3, {5, 4});
  tessera_tensor cback = describe(back);
  ASSERT_EQ(tessera_from_swizzled_scales(&csw, &cback), TESSERA_OK) << tessera_last_error_message();
  EXPECT_TRUE(test::same_bytes(back, w.scale));
  tessera_packed_weight* p2 = nullptr;
  ASSERT_EQ(tessera_pack_nvfp4_weight(ctx.p, &cq, &csw, w.scale_2, TESSERA_SCALE_SWIZZLED_128X4, 64, "checkpoint", &p2), TESSERA_OK)
      << tessera_last_error_message();
  Unpacked u2 = c_unpack(p2, DType::U8, {5, 32}, DType::F8_E4M3, {5, 4});
  tessera_packed_weight_destroy(p2);
  EXPECT_TRUE(test::same_bytes(u2.scales, w.scale));

  // FP8 block128 and per tensor.
  Tensor fb = e4m3({130, 160}, 51), fs = f32({2, 2}, 0.5f, 2, 52), ts = f32({1}, 0.5f, 2, 53);
  tessera_tensor cfb = describe(fb), cfs = describe(fs), cts = describe(ts);
  tessera_packed_weight* f = nullptr;
  ASSERT_EQ(tessera_pack_fp8_weight(ctx.p, &cfb, &cfs, 1, nullptr, &f), TESSERA_OK) << tessera_last_error_message();
  ASSERT_EQ(tessera_packed_weight_describe(f, &format, &N, &K, &scale, nullptr, 0, nullptr, 0), TESSERA_OK);
  EXPECT_EQ(format, TESSERA_WEIGHT_FP8_BLOCK128);
  EXPECT_EQ(N, 130);
  EXPECT_EQ(K, 160);
  Unpacked uf = c_unpack(f, DType::F8_E4M3, {130, 160}, DType::F32, {2, 2});
  tessera_packed_weight_destroy(f);
  EXPECT_TRUE(test::same_bytes(uf.b, fb));
  EXPECT_TRUE(test::same_bytes(uf.scales, fs));
  PackedWeight fref = pack_fp8_weight(fb.view(), ts.view());
  PackedWeight fctx = cpp.pack_fp8_weight(fb.view(), ts.view(), 4);
  EXPECT_EQ(fctx.data, fref.data);
  EXPECT_EQ(fctx.scale, fref.scale);
  ASSERT_EQ(tessera_pack_fp8_weight(ctx.p, &cfb, &cts, 1, nullptr, &f), TESSERA_OK) << tessera_last_error_message();
  ASSERT_EQ(tessera_packed_weight_describe(f, &format, nullptr, nullptr, &scale, nullptr, 0, nullptr, 0), TESSERA_OK);
  EXPECT_EQ(format, TESSERA_WEIGHT_FP8_TENSOR);
  EXPECT_EQ(scale, fref.scale);
  Unpacked ut = c_unpack(f, DType::F8_E4M3, {130, 160}, DType::F32, {});
  tessera_packed_weight_destroy(f);
  EXPECT_EQ(bytes_of(ut.scales), bytes_of(ts));
  Tensor ub(DType::F8_E4M3, {130, 160}), us(DType::F32, {});
  cpp.unpack_weight(fctx, ub.view(), us.view());
  EXPECT_TRUE(test::same_bytes(ub, ut.b));
  tessera_packed_weight_destroy(nullptr); // a no-op, as free(NULL)
}

TEST(CApi, PackedWeightsRefuseBadArgumentsWithoutWriting) {
  CContext ctx;
  Nvfp4 w = nvfp4(5, 64, 60);
  tessera_tensor cq = describe(w.q), cs = describe(w.scale);
  tessera_packed_weight* const kUntouched = reinterpret_cast<tessera_packed_weight*>(uintptr_t{0x5a5a});
  tessera_packed_weight* out = kUntouched;
  auto pack = [&](tessera_context* c, const tessera_tensor* b, const tessera_tensor* s, tessera_scale_layout l,
                  int64_t M, const char* layout, tessera_status want, const std::string& needle) {
    out = kUntouched;
    EXPECT_EQ(tessera_pack_nvfp4_weight(c, b, s, w.scale_2, l, M, layout, &out), want) << tessera_last_error_message();
    EXPECT_TRUE(contains(tessera_last_error_message(), needle)) << tessera_last_error_message() << " does not say " << needle;
    EXPECT_EQ(out, kUntouched) << "out written on failure";
  };
  pack(nullptr, &cq, &cs, TESSERA_SCALE_LINEAR, 1, nullptr, TESSERA_NULL_BUFFER, "tessera_pack_nvfp4_weight: ctx is NULL");
  pack(ctx.p, nullptr, &cs, TESSERA_SCALE_LINEAR, 1, nullptr, TESSERA_NULL_BUFFER, "tessera_pack_nvfp4_weight: b is NULL");
  pack(ctx.p, &cq, nullptr, TESSERA_SCALE_LINEAR, 1, nullptr, TESSERA_NULL_BUFFER, "tessera_pack_nvfp4_weight: b_scale is NULL");
  pack(ctx.p, &cq, &cs, static_cast<tessera_scale_layout>(7), 1, nullptr, TESSERA_INVALID_ARGUMENT,
       "tessera_pack_nvfp4_weight: scale_layout 7 is no tessera_scale_layout");
  pack(ctx.p, &cq, &cs, TESSERA_SCALE_LINEAR, 0, nullptr, TESSERA_INVALID_ARGUMENT, "PackTarget.M = 0 must be >= 1");
  pack(ctx.p, &cq, &cs, TESSERA_SCALE_LINEAR, 1, "no_such_layout", TESSERA_INVALID_ARGUMENT, "layout 'no_such_layout'");
  tessera_tensor bad = cq;
  bad.dtype = TESSERA_F8_E5M2;
  pack(ctx.p, &bad, &cs, TESSERA_SCALE_LINEAR, 1, nullptr, TESSERA_DTYPE_MISMATCH, "b has dtype F8_E5M2");
  bad = cs;
  bad.bytes -= 1;
  pack(ctx.p, &cq, &bad, TESSERA_SCALE_LINEAR, 1, nullptr, TESSERA_SHORT_BUFFER, "b_scale buffer holds");
  EXPECT_EQ(tessera_pack_nvfp4_weight(ctx.p, &cq, &cs, w.scale_2, TESSERA_SCALE_LINEAR, 1, nullptr, nullptr), TESSERA_NULL_BUFFER);
  EXPECT_STREQ(tessera_last_error_message(), "tessera_pack_nvfp4_weight: out is NULL");
  out = kUntouched;
  EXPECT_EQ(tessera_pack_fp8_weight(ctx.p, &cq, &cs, 1, nullptr, &out), TESSERA_DTYPE_MISMATCH);
  EXPECT_TRUE(contains(tessera_last_error_message(), "pack_fp8_weight: b has dtype U8"));
  EXPECT_EQ(out, kUntouched);

  // Unpack and the GEMMs: a NULL weight, a short buffer, a weight of another format.
  ASSERT_EQ(tessera_pack_nvfp4_weight(ctx.p, &cq, &cs, w.scale_2, TESSERA_SCALE_LINEAR, 1, nullptr, &out), TESSERA_OK);
  std::unique_ptr<tessera_packed_weight, void (*)(tessera_packed_weight*)> owner(out, tessera_packed_weight_destroy);
  Tensor b(DType::U8, {5, 32}), s(DType::F8_E4M3, {5, 4});
  std::fill_n(b.data(), b.nbytes(), kSentinel);
  std::fill_n(s.data(), s.nbytes(), kSentinel);
  tessera_tensor cb = describe(b), cbs = describe(s);
  EXPECT_EQ(tessera_unpack_weight(nullptr, &cb, &cbs), TESSERA_NULL_BUFFER);
  EXPECT_STREQ(tessera_last_error_message(), "tessera_unpack_weight: w is NULL");
  EXPECT_EQ(tessera_unpack_weight(out, &cb, nullptr), TESSERA_NULL_BUFFER);
  EXPECT_STREQ(tessera_last_error_message(), "tessera_unpack_weight: scales is NULL");
  cbs.bytes -= 1;
  EXPECT_EQ(tessera_unpack_weight(out, &cb, &cbs), TESSERA_SHORT_BUFFER);
  cbs = describe(s);
  cb.dtype = TESSERA_F8_E4M3;
  EXPECT_EQ(tessera_unpack_weight(out, &cb, &cbs), TESSERA_DTYPE_MISMATCH);
  for (size_t i = 0; i < b.nbytes(); ++i) ASSERT_EQ(b.data()[i], kSentinel) << "b written on failure";
  for (size_t i = 0; i < s.nbytes(); ++i) ASSERT_EQ(s.data()[i], kSentinel) << "scales written on failure";

  char layout[8] = "x";
  EXPECT_EQ(tessera_packed_weight_describe(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0, nullptr, 0), TESSERA_NULL_BUFFER);
  EXPECT_STREQ(tessera_last_error_message(), "tessera_packed_weight_describe: w is NULL");
  EXPECT_EQ(tessera_packed_weight_describe(out, nullptr, nullptr, nullptr, nullptr, nullptr, 8, layout, sizeof layout), TESSERA_NULL_BUFFER);
  EXPECT_STREQ(layout, "x");

  auto gemm = one_case(13);
  ASSERT_EQ(gemm->name, "tessera_gemm_nvfp4_packed");
  gemm->fill_outputs();
  EXPECT_EQ(tessera_gemm_nvfp4_packed(ctx.p, gemm->c("a"), gemm->c("a_scale"), nullptr, 1.0f, nullptr, gemm->c("c")), TESSERA_NULL_BUFFER);
  EXPECT_STREQ(tessera_last_error_message(), "tessera_gemm_nvfp4_packed: b is NULL");
  Tensor fb = e4m3({5, 64}, 61), fs = f32({}, 1, 2, 62);
  tessera_tensor cfb = describe(fb), cfs = describe(fs);
  tessera_packed_weight* f = nullptr;
  ASSERT_EQ(tessera_pack_fp8_weight(ctx.p, &cfb, &cfs, 1, nullptr, &f), TESSERA_OK);
  EXPECT_EQ(tessera_gemm_nvfp4_packed(ctx.p, gemm->c("a"), gemm->c("a_scale"), f, 1.0f, nullptr, gemm->c("c")), TESSERA_DTYPE_MISMATCH);
  EXPECT_TRUE(contains(tessera_last_error_message(), "the packed weight is fp8 per-tensor"));
  EXPECT_EQ(tessera_gemm_fp8_block_packed(ctx.p, gemm->c("a"), gemm->c("a_scale"), f, nullptr, gemm->c("c")), TESSERA_DTYPE_MISMATCH);
  EXPECT_EQ(tessera_gemm_fp8_packed(ctx.p, gemm->c("a"), out, 1.0f, nullptr, gemm->c("c")), TESSERA_DTYPE_MISMATCH);
  tessera_packed_weight_destroy(f);
  EXPECT_TRUE(gemm->outputs_untouched());
  EXPECT_EQ(last_variant(ctx.p), "");

  // The scale layout conversions: a short or wrongly typed buffer, nothing written.
  Tensor swz(DType::F8_E4M3, {128, 4});
  std::fill_n(swz.data(), swz.nbytes(), kSentinel);
  tessera_tensor csw = describe(swz);
  csw.bytes -= 1;
  EXPECT_EQ(tessera_to_swizzled_scales(&cs, &csw), TESSERA_SHORT_BUFFER) << tessera_last_error_message();
  csw = describe(swz);
  EXPECT_EQ(tessera_to_swizzled_scales(nullptr, &csw), TESSERA_NULL_BUFFER);
  EXPECT_STREQ(tessera_last_error_message(), "tessera_to_swizzled_scales: linear is NULL");
  csw.dtype = TESSERA_F32;
  EXPECT_EQ(tessera_from_swizzled_scales(&csw, &cs), TESSERA_DTYPE_MISMATCH) << tessera_last_error_message();
  for (size_t i = 0; i < swz.nbytes(); ++i) ASSERT_EQ(swz.data()[i], kSentinel) << "swizzled written on failure";
}

TEST(CApi, VersionStatusNamesAndDevices) {
  EXPECT_STREQ(tessera_version(), "0.1.0");
  EXPECT_STREQ(tessera_status_name(TESSERA_OK), "TESSERA_OK");
  EXPECT_STREQ(tessera_status_name(TESSERA_SHAPE_MISMATCH), "TESSERA_SHAPE_MISMATCH");
  EXPECT_STREQ(tessera_status_name(TESSERA_OUT_OF_MEMORY), "TESSERA_OUT_OF_MEMORY");
  EXPECT_STREQ(tessera_status_name(static_cast<tessera_status>(99)), "TESSERA_UNKNOWN_STATUS");
  // Every ErrorCode has its own status, in the order of error.h.
  EXPECT_EQ(static_cast<int>(TESSERA_INVALID_ARGUMENT), static_cast<int>(ErrorCode::InvalidArgument) + 1);
  EXPECT_EQ(static_cast<int>(TESSERA_UNSUPPORTED), static_cast<int>(ErrorCode::Unsupported) + 1);

  int32_t n = -7;
  EXPECT_EQ(tessera_device_count("cpu", &n), TESSERA_OK);
  EXPECT_EQ(n, 1);
  for (const char* b : {"opencl", "vulkan"}) {
    EXPECT_EQ(tessera_device_count(b, &n), TESSERA_OK) << b;
    EXPECT_EQ(n, Context::device_count(b));
  }
  n = -7;
  EXPECT_EQ(tessera_device_count("cuda", &n), TESSERA_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(tessera_last_error_message(), "unknown backend 'cuda'"));
  EXPECT_EQ(n, -7);
  EXPECT_EQ(tessera_device_count("cpu", nullptr), TESSERA_NULL_BUFFER);
  EXPECT_STREQ(tessera_last_error_message(), "tessera_device_count: count is NULL");
}

TEST(CApi, ContextCreateDescribeAndDestroy) {
  tessera_context* sentinel = reinterpret_cast<tessera_context*>(uintptr_t{0x1234});
  tessera_context* out = sentinel;
  EXPECT_EQ(tessera_context_create("cpu", 1, &out), TESSERA_UNSUPPORTED);
  EXPECT_TRUE(contains(tessera_last_error_message(), "no cpu device 1")) << tessera_last_error_message();
  EXPECT_EQ(tessera_context_create("metal", 0, &out), TESSERA_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(tessera_last_error_message(), "unknown backend 'metal'"));
  EXPECT_EQ(tessera_context_create("opencl", 99, &out), TESSERA_UNSUPPORTED);
  EXPECT_EQ(out, sentinel) << "out written on failure";
  EXPECT_EQ(tessera_context_create("cpu", 0, nullptr), TESSERA_NULL_BUFFER);
  EXPECT_STREQ(tessera_last_error_message(), "tessera_context_create: out is NULL");
  tessera_context_destroy(nullptr); // a no-op, as free(NULL)

  CContext ctx("cpu", 0);
  char backend[8] = "", name[64] = "";
  int32_t device = -1;
  ASSERT_EQ(tessera_context_device(ctx.p, backend, sizeof backend, &device, name, sizeof name), TESSERA_OK);
  EXPECT_STREQ(backend, "cpu");
  EXPECT_EQ(device, 0);
  EXPECT_STREQ(name, "CPU reference");
  char tiny[4];
  ASSERT_EQ(tessera_context_device(ctx.p, nullptr, 0, nullptr, tiny, sizeof tiny), TESSERA_OK);
  EXPECT_STREQ(tiny, "CPU") << "truncated and NUL-terminated";
  EXPECT_EQ(tessera_context_device(nullptr, backend, sizeof backend, &device, name, sizeof name), TESSERA_NULL_BUFFER);
  EXPECT_STREQ(tessera_last_error_message(), "tessera_context_device: ctx is NULL");
  std::strcpy(backend, "keep");
  EXPECT_EQ(tessera_context_device(ctx.p, backend, sizeof backend, &device, nullptr, 10), TESSERA_NULL_BUFFER);
  EXPECT_STREQ(tessera_last_error_message(), "tessera_context_device: name is NULL but its size is 10");
  EXPECT_STREQ(backend, "keep") << "an output written on failure";
}

TEST(CApi, LastRunIsEmptyBeforeAndAfterAFailure) {
  CContext ctx;
  char backend[16] = "x", variant[32] = "x", reason[256] = "x";
  ASSERT_EQ(tessera_last_run(ctx.p, backend, sizeof backend, variant, sizeof variant, reason, sizeof reason), TESSERA_OK);
  EXPECT_STREQ(variant, "");
  auto owned = one_case(3);
  OpCase& op = *owned;
  ASSERT_EQ(op.c_call(op, ctx.p), TESSERA_OK);
  ASSERT_EQ(tessera_last_run(ctx.p, backend, sizeof backend, variant, sizeof variant, reason, sizeof reason), TESSERA_OK);
  EXPECT_STREQ(backend, "cpu");
  EXPECT_STREQ(variant, "reference");
  EXPECT_STRNE(reason, "");
  op.slot("q").c.ndim = 1;
  EXPECT_NE(op.c_call(op, ctx.p), TESSERA_OK);
  EXPECT_EQ(last_variant(ctx.p), "");
  EXPECT_EQ(tessera_last_run(nullptr, backend, sizeof backend, variant, sizeof variant, reason, sizeof reason), TESSERA_NULL_BUFFER);
  EXPECT_EQ(tessera_last_run(ctx.p, nullptr, 3, variant, sizeof variant, reason, sizeof reason), TESSERA_NULL_BUFFER);
}

TEST(CApi, ErrorMessagesArePerThread) {
  CContext ctx;
  std::atomic<int> mismatches{0};
  auto worker = [&](const char* backend, const char* needle) {
    for (int i = 0; i < 200; ++i) {
      int32_t n;
      if (tessera_device_count(backend, &n) != TESSERA_INVALID_ARGUMENT || !contains(tessera_last_error_message(), needle))
        ++mismatches;
    }
  };
  std::thread a(worker, "alpha", "'alpha'"), b(worker, "beta", "'beta'");
  a.join();
  b.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(ContextApi, OpenRefusesWhatIsNotThere) {
  auto code_of = [](auto fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.code();
    }
    ADD_FAILURE() << "no error";
    return ErrorCode::Io;
  };
  EXPECT_EQ(code_of([] { Context::open("tpu"); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([] { Context::open("cpu", 1); }), ErrorCode::Unsupported);
  EXPECT_EQ(code_of([] { Context::open("cpu", -1); }), ErrorCode::Unsupported);
  EXPECT_EQ(code_of([] { Context::open("vulkan", 99); }), ErrorCode::Unsupported);
  Context c = Context::open("cpu");
  EXPECT_EQ(c.backend(), "cpu");
  EXPECT_EQ(c.device(), 0);
  EXPECT_EQ(c.device_name(), "CPU reference");
  RunOptions o = c.options("reference");
  EXPECT_EQ(o.backend, "cpu");
  EXPECT_EQ(o.variant, "reference");
}

TEST(ContextApi, BuffersAreAlignedZeroedMovableAndChecked) {
  Context c = Context::open("cpu");
  Buffer b = c.alloc(1000);
  ASSERT_TRUE(b);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 256, 0u);
  EXPECT_EQ(b.size(), 1000u);
  for (size_t i = 0; i < b.size(); ++i) ASSERT_EQ(static_cast<const unsigned char*>(b.data())[i], 0);
  TensorView v = Context::view(b, DType::F32, {10, 25});
  EXPECT_EQ(v.data, b.data());
  EXPECT_EQ(v.bytes, 1000u);
  try {
    Context::view(b, DType::F32, {10, 26});
    ADD_FAILURE() << "a view larger than its buffer";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ShortBuffer);
    EXPECT_STREQ(e.what(), "Context::view: a F32 [10, 26] view needs 1040 bytes, the buffer holds 1000");
  }
  void* p = b.data();
  Buffer moved = std::move(b);
  EXPECT_EQ(moved.data(), p);
  EXPECT_FALSE(b); // NOLINT(bugprone-use-after-move): the moved-from state is the point
  EXPECT_THROW(Context::view(b, DType::U8, {1}), Error);
  Buffer empty = c.alloc(0);
  EXPECT_TRUE(empty);
  EXPECT_EQ(Context::view(empty, DType::F32, {0, 4}).bytes, 0u);
}

namespace {
// Runs op `index` of all_cases() on `ctx` single-threaded, then from `threads` threads at once
// (each with its own tensors), `rounds` times each; every run must give the single-threaded bytes.
// The quantizer thread also checks that last_run() follows its own calls while others run.
void concurrent(const std::vector<std::pair<Context, size_t>>& work, int rounds) {
  std::vector<std::vector<std::byte>> expected;
  for (auto& [ctx, index] : work) {
    auto op = one_case(index);
    op->fill_outputs();
    op->ctx_call(*op, ctx);
    expected.push_back(op->outputs());
  }
  std::atomic<int> failures{0};
  std::vector<std::string> errors(work.size());
  std::vector<std::thread> threads;
  for (size_t t = 0; t < work.size(); ++t)
    threads.emplace_back([&, t] {
      const auto& [ctx, index] = work[t];
      auto op = one_case(index);
      try {
        for (int r = 0; r < rounds; ++r) {
          op->fill_outputs();
          op->ctx_call(*op, ctx);
          if (op->outputs() != expected[t]) ++failures, errors[t] = op->name + ": different bytes";
          if (ctx.last_run().variant.empty()) ++failures, errors[t] = op->name + ": no last_run";
          if (index == 1 && r % 2) { // a refused call: this thread's record empties, no one else's
            op->slot("x").t = Tensor(DType::F32, {4, 20});
            try {
              op->ctx_call(*op, ctx);
            } catch (const Error&) {
            }
            if (!ctx.last_run().variant.empty()) ++failures, errors[t] = "last_run after a failure";
            op->slot("x").t = f32({4, 64}, -5, 5, 2);
          }
        }
      } catch (const std::exception& e) {
        ++failures, errors[t] = e.what();
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (const std::string& e : errors) EXPECT_EQ(e, "");
}
} // namespace

TEST(ContextApi, OneContextFromFourThreadsGivesTheSingleThreadedBytes) {
  Context ctx = Context::open("cpu");
  // quantize_nvfp4, gemm_nvfp4, deltanet, attention.
  concurrent({{ctx, 1}, {ctx, 5}, {ctx, 8}, {ctx, 10}}, 20);
}

TEST(ContextApi, TwoContextsCoexist) {
  // A device context beside the CPU one where there is a device; else two on the CPU.
  Context a = Context::open("cpu");
  std::optional<Context> b;
  for (const char* backend : {"opencl", "vulkan"})
    if (!b && Context::device_count(backend) > 0) b = Context::open(backend, 0);
  if (!b) b = Context::open("cpu");
  SCOPED_TRACE("second context: " + b->backend() + " " + b->device_name());
  // Records are per context: a call through one leaves the other's empty on this thread.
  auto owned = one_case(0);
  OpCase& op = *owned;
  op.ctx_call(op, a);
  EXPECT_EQ(a.last_run().variant, "reference");
  EXPECT_EQ(b->last_run().variant, "");
  Context copy = a; // a handle: copies share the context and its records
  EXPECT_EQ(copy.last_run().variant, "reference");
  concurrent({{a, 1}, {*b, 1}, {a, 3}, {*b, 3}}, 10);
  op.ctx_call(op, *b);
  RunInfo ran = b->last_run();
  std::printf("second context %s:%d (%s) ran convert with %s %s: %s\n", b->backend().c_str(), b->device(),
              b->device_name().c_str(), ran.backend.c_str(), ran.variant.c_str(), ran.reason.c_str());
}
