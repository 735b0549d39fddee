// Conformance cases for the conversions, quantizers and dequantizers (numerics.md sections 1-3):
// all exact, so every case compares bytes.
#include "conformance/common.h"

namespace tessera::conformance {

std::vector<Case> quant_cases(std::string_view op) {
  std::vector<Case> out;
  std::vector<std::pair<int64_t, int64_t>> nvfp4_shapes = {{1, 16}, {3, 48}, {17, 272}};
  std::vector<std::pair<int64_t, int64_t>> fp8_shapes = {{1, 1}, {5, 129}, {129, 300}};
  if (large()) {
    nvfp4_shapes.push_back({512, 5120});
    fp8_shapes.push_back({512, 5120});
  }
  if (op == "convert") {
    for (auto [fmt_name, f, dt] : std::vector<std::tuple<std::string, Format, DType>>{
             {"e4m3", Format::E4M3, DType::F8_E4M3}, {"e5m2", Format::E5M2, DType::F8_E5M2},
             {"e2m1", Format::E2M1, DType::U8}, {"bf16", Format::BF16, DType::BF16}, {"f16", Format::F16, DType::F16}}) {
      out.push_back({fmt_name, [f, dt](const RunOptions& o) {
                       int64_t n = large() ? (1 << 22) : 20000;
                       std::mt19937 rng(7);
                       std::vector<uint32_t> bits(static_cast<size_t>(n));
                       for (auto& b : bits) b = rng();
                       Tensor x = test::make_tensor(DType::F32, {n}, bits.data());
                       expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                         outs.emplace_back(dt, Shape{n});
                         convert(x.view(), f, outs[0].view, ro);
                       });
                     }});
    }
  } else if (op == "quantize_nvfp4") {
    for (auto [rows, cols] : nvfp4_shapes)
      for (auto recipe : {Nvfp4Recipe::Nvfp4, Nvfp4Recipe::FourOverSix})
        for (std::optional<float> s2 : {std::optional<float>{}, std::optional<float>{1e-3f}}) {
          std::string name = fmt::format("{}x{}_{}{}", rows, cols, recipe == Nvfp4Recipe::Nvfp4 ? "nvfp4" : "4over6",
                                         s2 ? "_static" : "");
          out.push_back({name, [=](const RunOptions& o) {
                           Tensor x = test::f32_tensor({rows, cols}, adversarial(rows, cols, 11));
                           std::vector<float> scale_2; // the device's, then the reference's
                           expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                             outs.emplace_back(DType::U8, Shape{rows, cols / 2});
                             outs.emplace_back(DType::F8_E4M3, Shape{rows, cols / 16});
                             scale_2.push_back(quantize_nvfp4(x.view(), recipe, s2, outs[0].view, outs[1].view, ro));
                           });
                           ASSERT_EQ(scale_2.size(), 2u);
                           EXPECT_EQ(std::memcmp(&scale_2[0], &scale_2[1], 4), 0) << "scale_2 " << scale_2[0] << " vs " << scale_2[1];
                         }});
        }
    // A non-zero block whose scale quotient underflows in fp32 stores 1.0, as ModelOpt does
    // (numerics.md, NVFP4): x[0] = 1000, then subnormals, a block of tiny normals, a zero block.
    for (auto recipe : {Nvfp4Recipe::Nvfp4, Nvfp4Recipe::FourOverSix})
      for (std::optional<float> s2 : {std::optional<float>{}, std::optional<float>{1e30f}}) {
        std::string name = fmt::format("underflowing_block_scale_{}{}", recipe == Nvfp4Recipe::Nvfp4 ? "nvfp4" : "4over6",
                                       s2 ? "_static" : "");
        out.push_back({name, [=](const RunOptions& o) {
                         std::vector<float> v(64, 0.0f);
                         v[0] = 1000.0f;
                         for (size_t i = 16; i < 32; ++i) v[i] = i % 2 ? -0x1p-149f : 0x1p-149f;
                         v[32] = 0x1p-148f; // rounds up to 2^-149 with the dynamic scale_2: clamped, 0x01
                         v[33] = 1e-30f;
                         Tensor x = test::f32_tensor({1, 64}, v);
                         expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                           outs.emplace_back(DType::U8, Shape{1, 32});
                           outs.emplace_back(DType::F8_E4M3, Shape{1, 4});
                           quantize_nvfp4(x.view(), recipe, s2, outs[0].view, outs[1].view, ro);
                         });
                       }});
      }
  } else if (op == "dequantize_nvfp4") {
    for (auto [rows, cols] : nvfp4_shapes)
      out.push_back({fmt::format("{}x{}", rows, cols), [=](const RunOptions& o) {
                       std::mt19937 rng(5);
                       Tensor q(DType::U8, {rows, cols / 2}), s(DType::F8_E4M3, {rows, cols / 16});
                       for (int64_t i = 0; i < q.numel(); ++i) q.as<uint8_t>()[i] = static_cast<uint8_t>(rng());
                       for (int64_t i = 0; i < s.numel(); ++i) s.as<uint8_t>()[i] = static_cast<uint8_t>(rng());
                       s.as<uint8_t>()[0] = 0xFF; // NaN scales of both signs: the output NaN must be canonical
                       s.as<uint8_t>()[s.numel() - 1] = 0x7F;
                       expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                         outs.emplace_back(DType::F32, Shape{rows, cols});
                         dequantize_nvfp4(q.view(), s.view(), 0.0123f, outs[0].view, ro);
                       });
                     }});
  } else if (op == "quantize_fp8" || op == "dequantize_fp8") {
    for (auto [rows, cols] : fp8_shapes)
      for (auto recipe : {Fp8Recipe::Tensor, Fp8Recipe::Token128, Fp8Recipe::Block128}) {
        Shape sshape = recipe == Fp8Recipe::Tensor     ? Shape{}
                       : recipe == Fp8Recipe::Token128 ? Shape{rows, (cols + 127) / 128}
                                                       : Shape{(rows + 127) / 128, (cols + 127) / 128};
        std::string name = fmt::format("{}x{}_{}", rows, cols,
                                       recipe == Fp8Recipe::Tensor ? "tensor" : recipe == Fp8Recipe::Token128 ? "token128" : "block128");
        bool quant = op == "quantize_fp8";
        out.push_back({name, [=](const RunOptions& o) {
                         Tensor x = test::f32_tensor({rows, cols}, adversarial(rows, cols, 13));
                         Tensor q(DType::F8_E4M3, {rows, cols}), s(DType::F32, sshape);
                         quantize_fp8(x.view(), recipe, q.view(), s.view()); // reference inputs for dequantize
                         q.as<uint8_t>()[0] = 0xFF;                            // and a NaN code
                         expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                           if (quant) {
                             outs.emplace_back(DType::F8_E4M3, Shape{rows, cols});
                             outs.emplace_back(DType::F32, sshape);
                             quantize_fp8(x.view(), recipe, outs[0].view, outs[1].view, ro);
                           } else {
                             outs.emplace_back(DType::F32, Shape{rows, cols});
                             dequantize_fp8(q.view(), s.view(), recipe, outs[0].view, ro);
                           }
                         });
                       }});
      }
  }
  return out;
}

} // namespace tessera::conformance
