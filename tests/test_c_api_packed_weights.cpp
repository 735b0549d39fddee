// Packed weights through the C API (tessera/tessera.h): packing, describing and unpacking give
// what the C++ API gives (NVFP4 with linear and swizzled scales, FP8 block128 and per tensor), and
// every packed-weight function, and the GEMMs on a packed weight, refuse bad arguments with a
// status and a message, writing nothing. The cases: tests/c_api_cases.h.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "c_api_cases.h"
#include "tessera/context.h"
#include "tessera/tessera.h"

namespace {
using namespace tessera;
using namespace tessera::test;

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
