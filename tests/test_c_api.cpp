// The C API (tessera/tessera.h) an engine links: for every operation, the C function, the Context
// member and the free function of ops.h give the same bytes; every C function refuses a NULL
// context or tensor, a bad ndim, an unknown or a wrong dtype, a short or missing buffer with a
// status and a message naming the problem, and leaves its outputs untouched; enums it does not
// know, static scales, versions, status names, devices, contexts, last_run and per-thread error
// messages. The cases: tests/c_api_cases.h. Packed weights: test_c_api_packed_weights.cpp;
// tessera::Context and its threads: test_context_api.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>

#include "c_api_cases.h"
#include "tessera/context.h"
#include "tessera/tessera.h"

namespace {
using namespace tessera;
using namespace tessera::test;
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
