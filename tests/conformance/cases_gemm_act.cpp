// Conformance cases for the GEMMs with the activation quantized in front (gemm_nvfp4_act,
// gemm_fp8_act): every variant must give the bytes of quantize_* followed by gemm_* on the CPU
// reference (the oracle here calls those two public operations, not the act operation), for the
// decode (M <= 16) and prefill kernels, ragged N and K, dynamic and static activation scale_2,
// bf16/fp16 inputs, every output type and bias.
#include "conformance/common.h"

namespace tessera::conformance {

namespace {

struct ActShape {
  int64_t M, N, K;
};

// x in the requested dtype (the values are those of the fp32 adversarial input, rounded once).
Tensor input(DType t, int64_t M, int64_t K, uint32_t seed) {
  std::vector<float> x = adversarial(M, K, seed);
  Tensor f = test::f32_tensor({M, K}, x);
  if (t == DType::F32) return f;
  Tensor out(t, {M, K});
  convert(f.view(), t == DType::BF16 ? Format::BF16 : Format::F16, out.view(), RunOptions{"cpu", 0, ""});
  return out;
}

void add_nvfp4_act(std::vector<Case>& out) {
  std::vector<ActShape> shapes = {{1, 37, 64}, {4, 130, 272}, {16, 64, 128}, {17, 65, 144}, {33, 40, 256}};
  if (large()) shapes.push_back({64, 512, 2048});
  int no = 0;
  for (ActShape sh : shapes)
    for (bool dynamic : {true, false}) {
      DType out_t = std::vector<DType>{DType::F32, DType::BF16, DType::F16}[no % 3];
      DType in_t = std::vector<DType>{DType::F32, DType::BF16, DType::F16, DType::F32}[no % 4];
      bool with_bias = no++ % 2 == 0;
      auto [M, N, K] = sh;
      std::string name = fmt::format("M{}_N{}_K{}_{}_{}_to_{}{}", M, N, K, dynamic ? "dynamic" : "static", dtype_name(in_t),
                                     dtype_name(out_t), with_bias ? "_bias" : "");
      out.push_back({name,
                     [=](const RunOptions& o) {
                       uint32_t seed = static_cast<uint32_t>(M * 7919 + N * 31 + K);
                       Tensor x = input(in_t, M, K, seed);
                       Tensor b = test::make_tensor(DType::U8, {N, K / 2}, random_bytes(N * K / 2, seed + 1, true).data());
                       auto sb_bytes = random_bytes(N * K / 16, seed + 2, false);
                       for (auto& v : sb_bytes) v = static_cast<uint8_t>(0x20 + v % 0x40) | (v & 0x80);
                       Tensor sb = test::make_tensor(DType::F8_E4M3, {N, K / 16}, sb_bytes.data());
                       Tensor bias = test::f32_tensor({N}, test::random_floats(N, -2, 2, seed + 3));
                       std::optional<TensorView> bias_v;
                       if (with_bias) bias_v = bias.view();
                       // Static: a checkpoint input_scale small enough that some block scales saturate.
                       std::optional<float> a_s2;
                       if (!dynamic) a_s2 = 0.0021f;
                       const float b_s2 = 0.37f;
                       expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                         outs.emplace_back(out_t, Shape{M, N});
                         outs.emplace_back(DType::F32, Shape{1});
                         float used;
                         if (ro.backend == "cpu") { // the oracle: the two operations, one after the other
                           Tensor q(DType::U8, {M, K / 2}), s(DType::F8_E4M3, {M, K / 16});
                           used = quantize_nvfp4(x.view(), Nvfp4Recipe::Nvfp4, a_s2, q.view(), s.view(), ro);
                           gemm_nvfp4(q.view(), s.view(), b.view(), sb.view(), used * b_s2, bias_v, outs[0].view, ro);
                         } else {
                           used = gemm_nvfp4_act(x.view(), a_s2, b.view(), sb.view(), b_s2, bias_v, outs[0].view, ro);
                         }
                         std::memcpy(outs[1].view.data, &used, 4);
                       });
                     },
                     {{"M", M}, {"N", N}, {"K", K}, {"elements", std::max({M * K, N * K, M * N})}}});
    }
}

void add_fp8_act(std::vector<Case>& out) {
  std::vector<ActShape> shapes = {{1, 1, 1}, {1, 37, 129}, {5, 130, 300}, {16, 64, 128}, {17, 65, 257}, {33, 129, 256}};
  if (large()) shapes.push_back({64, 512, 2048});
  int no = 0;
  for (ActShape sh : shapes) {
    DType out_t = std::vector<DType>{DType::F32, DType::BF16, DType::F16}[no % 3];
    DType in_t = std::vector<DType>{DType::F32, DType::BF16, DType::F16, DType::F32}[no % 4];
    bool with_bias = no++ % 2 == 1;
    auto [M, N, K] = sh;
    std::string name = fmt::format("M{}_N{}_K{}_{}_to_{}{}", M, N, K, dtype_name(in_t), dtype_name(out_t), with_bias ? "_bias" : "");
    out.push_back({name,
                   [=](const RunOptions& o) {
                     uint32_t seed = static_cast<uint32_t>(M * 104729 + N * 131 + K);
                     Tensor x = input(in_t, M, K, seed);
                     Tensor b = test::make_tensor(DType::F8_E4M3, {N, K}, random_bytes(N * K, seed + 1, false).data());
                     int64_t kbs = (K + 127) / 128, nbs = (N + 127) / 128;
                     Tensor sb = test::f32_tensor({nbs, kbs}, test::random_floats(nbs * kbs, 1e-3f, 2.0f, seed + 2));
                     Tensor bias = test::f32_tensor({N}, test::random_floats(N, -2, 2, seed + 3));
                     std::optional<TensorView> bias_v;
                     if (with_bias) bias_v = bias.view();
                     expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                       outs.emplace_back(out_t, Shape{M, N});
                       if (ro.backend == "cpu") {
                         Tensor q(DType::F8_E4M3, {M, K}), s(DType::F32, {M, kbs});
                         quantize_fp8(x.view(), Fp8Recipe::Token128, q.view(), s.view(), ro);
                         gemm_fp8_block(q.view(), s.view(), b.view(), sb.view(), bias_v, outs[0].view, ro);
                       } else {
                         gemm_fp8_act(x.view(), b.view(), sb.view(), bias_v, outs[0].view, ro);
                       }
                     });
                   },
                   {{"M", M}, {"N", N}, {"K", K}, {"elements", std::max({M * K, N * K, M * N})}}});
  }
}

} // namespace

std::vector<Case> gemm_act_cases(std::string_view op) {
  std::vector<Case> out;
  if (op == "gemm_nvfp4_act") add_nvfp4_act(out);
  if (op == "gemm_fp8_act") add_fp8_act(out);
  return out;
}

} // namespace tessera::conformance
