// Conformance cases for the GEMMs (numerics.md section 4): decode and prefill sizes, ragged M,
// N and K, every output type, bias, alpha, adversarial operands and split-K coverage.
#include "conformance/common.h"

namespace tessera::conformance {

namespace {

// GEMM cases: decode and prefill sizes, ragged M, N, K, every output type, bias, alpha.
void add_gemm_cases(std::string_view op, std::vector<Case>& out) {
  struct Shape3 {
    int64_t M, N, K;
  };
  std::vector<Shape3> shapes = op == "gemm_nvfp4"
                                   ? std::vector<Shape3>{{1, 1, 16}, {1, 37, 64}, {4, 130, 272}, {16, 64, 128}, {33, 65, 144}, {70, 129, 256}}
                                   : std::vector<Shape3>{{1, 1, 1}, {1, 37, 129}, {5, 130, 300}, {16, 64, 128}, {33, 65, 257}};
  if (large()) shapes.push_back({op == "gemm_nvfp4" ? 512 : 512, 1024, 2048});
  std::vector<bool> forms = op == "gemm_nvfp4" ? std::vector<bool>{false} : std::vector<bool>{false, true};
  int variant_no = 0;
  for (Shape3 sh : shapes)
    for (bool block : forms)
      for (DType out_t : {DType::F32, DType::BF16, DType::F16}) {
        bool with_bias = (variant_no++ % 2) == 0;
        bool poison = out_t == DType::F16 && sh.M > 1; // a NaN scale byte / NaN operand in one case per shape
        std::string name = fmt::format("M{}_N{}_K{}{}_{}{}{}", sh.M, sh.N, sh.K, block ? "_block" : "", dtype_name(out_t),
                                       with_bias ? "_bias" : "", poison ? "_nan" : "");
        auto [M, N, K] = sh;
        out.push_back({name,
                       [=](const RunOptions& o) {
                         uint32_t seed = static_cast<uint32_t>(M * 1000003 + N * 1009 + K);
                         std::vector<float> bias = test::random_floats(static_cast<size_t>(N), -2, 2, seed);
                         std::optional<TensorView> bias_v;
                         Tensor bias_t = test::f32_tensor({N}, bias);
                         if (with_bias) bias_v = bias_t.view();
                         if (op == "gemm_nvfp4") {
                           Tensor a = test::make_tensor(DType::U8, {M, K / 2}, random_bytes(M * K / 2, seed + 1, true).data());
                           Tensor b = test::make_tensor(DType::U8, {N, K / 2}, random_bytes(N * K / 2, seed + 2, true).data());
                           auto sa_bytes = random_bytes(M * K / 16, seed + 3, false), sb_bytes = random_bytes(N * K / 16, seed + 4, false);
                           for (auto& x : sa_bytes) x = static_cast<uint8_t>(0x20 + x % 0x40) | (x & 0x80); // moderate magnitudes
                           for (auto& x : sb_bytes) x = static_cast<uint8_t>(0x20 + x % 0x40) | (x & 0x80);
                           if (poison) sa_bytes[sa_bytes.size() / 2] = 0x7F;
                           Tensor sa = test::make_tensor(DType::F8_E4M3, {M, K / 16}, sa_bytes.data());
                           Tensor sb = test::make_tensor(DType::F8_E4M3, {N, K / 16}, sb_bytes.data());
                           expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                             outs.emplace_back(out_t, Shape{M, N});
                             gemm_nvfp4(a.view(), sa.view(), b.view(), sb.view(), 0.0123f, bias_v, outs[0].view, ro);
                           });
                         } else {
                           auto a_bytes = random_bytes(M * K, seed + 1, false), b_bytes = random_bytes(N * K, seed + 2, false);
                           if (poison) a_bytes[a_bytes.size() / 2] = 0xFF;
                           Tensor a = test::make_tensor(DType::F8_E4M3, {M, K}, a_bytes.data());
                           Tensor b = test::make_tensor(DType::F8_E4M3, {N, K}, b_bytes.data());
                           int64_t kb = (K + 127) / 128;
                           Tensor sa = test::f32_tensor({M, kb}, test::random_floats(M * kb, 1e-3f, 2.0f, seed + 3));
                           Tensor sb = test::f32_tensor({(N + 127) / 128, kb}, test::random_floats(((N + 127) / 128) * kb, 1e-3f, 2.0f, seed + 4));
                           expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                             outs.emplace_back(out_t, Shape{M, N});
                             if (block)
                               gemm_fp8_block(a.view(), sa.view(), b.view(), sb.view(), bias_v, outs[0].view, ro);
                             else
                               gemm_fp8(a.view(), b.view(), 0.0037f, bias_v, outs[0].view, ro);
                           });
                         }
                       },
                       {{"M", M}, {"N", N}, {"K", K}, {"block_scaled", block ? 1 : 0}, {"elements", std::max({M * K, N * K, M * N})}}});
      }
}

// Adversarial GEMM cases: the largest exact sums (max-magnitude codes and 448 scales at K = 4096,
// all signs equal or mixed), NaN scales over all-zero blocks, the M = 16 decode boundary either
// side, K = 16, and fp8 sums S = I(x) * I(y) + I(z) over every code z so that f32(S) meets
// rounding ties and carries past 2^32 (the int64 -> fp32 conversion on the device).
void add_gemm_extra_cases(std::string_view op, std::vector<Case>& out) {
  struct Extra {
    std::string name;
    int64_t M, N, K;
    int kind; // 0 max magnitude, 1 mixed-sign max magnitude, 2 NaN scales on zero blocks, 3 ties
    bool block;
  };
  std::vector<Extra> extras;
  if (op == "gemm_nvfp4") {
    extras = {{"maxmag_M16_N40_K4096", 16, 40, 4096, 0, false}, {"maxmag_mixed_M17_N24_K4096", 17, 24, 4096, 1, false},
              {"maxmag_mixed_M1_N9_K4096", 1, 9, 4096, 1, false}, {"nanscale_zeros_M16_N33_K16", 16, 33, 16, 2, false},
              {"nanscale_zeros_M17_N5_K32", 17, 5, 32, 2, false}};
  } else {
    extras = {{"maxmag_M16_N40_K4096", 16, 40, 4096, 0, false}, {"maxmag_mixed_M17_N24_K4099", 17, 24, 4099, 1, false},
              {"maxmag_block_M16_N130_K4096", 16, 130, 4096, 0, true}, {"maxmag_mixed_block_M3_N9_K4000", 3, 9, 4000, 1, true},
              {"ties_M4_N4096_K2", 4, 4096, 2, 3, false}, {"ties_block_M4_N300_K2", 4, 300, 2, 3, true},
              {"K16_M16_N33", 16, 33, 16, 1, false}};
  }
  for (const Extra& e : extras)
    out.push_back({e.name,
                   [=](const RunOptions& o) {
                     auto [name, M, N, K, kind, block] = e;
                     std::mt19937 rng(static_cast<uint32_t>(M * 7919 + N * 104729 + K + kind));
                     auto sign = [&](uint8_t v) { return kind == 0 ? v : static_cast<uint8_t>(v | (rng() % 2 ? 0x80 : 0)); };
                     if (op == "gemm_nvfp4") {
                       std::vector<uint8_t> a(M * K / 2), b(N * K / 2), sa(M * K / 16), sb(N * K / 16);
                       // 0x77 / 0xFF: two codes of +-6 (J = 12); 448 = 0x7E scales.
                       for (auto* v : {&a, &b})
                         for (auto& x : *v) x = kind == 2 ? 0 : kind == 0 ? 0x77 : static_cast<uint8_t>((rng() % 2 ? 0x7 : 0xF) | (rng() % 2 ? 0x70 : 0xF0));
                       for (auto* v : {&sa, &sb})
                         for (auto& x : *v) x = sign(0x7E);
                       if (kind == 2) { // NaN scale bytes over all-zero blocks: row 1 and column N-1
                         sa[static_cast<size_t>(1 % M) * (K / 16)] = 0x7F;
                         sb[static_cast<size_t>(N - 1) * (K / 16) + K / 16 - 1] = 0xFF;
                       }
                       Tensor ta = test::make_tensor(DType::U8, {M, K / 2}, a.data()), tb = test::make_tensor(DType::U8, {N, K / 2}, b.data());
                       Tensor tsa = test::make_tensor(DType::F8_E4M3, {M, K / 16}, sa.data()), tsb = test::make_tensor(DType::F8_E4M3, {N, K / 16}, sb.data());
                       expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                         outs.emplace_back(DType::F32, Shape{M, N});
                         gemm_nvfp4(ta.view(), tsa.view(), tb.view(), tsb.view(), 1.0f, std::nullopt, outs[0].view, ro);
                       });
                     } else {
                       std::vector<uint8_t> a(M * K), b(N * K);
                       if (kind == 3) { // row m = [x_m, I = 1]; column n = [y_n, z_n]: S = I(x) I(y) + I(z)
                         const uint8_t xs[4] = {0x58, 0x7E, 0x08, 0xD8}; // 2^13, 229376, 8, -2^13
                         for (int64_t m = 0; m < M; ++m) a[m * 2] = xs[m % 4], a[m * 2 + 1] = 0x01;
                         for (int64_t n = 0; n < N; ++n) {
                           uint8_t y = static_cast<uint8_t>(rng()), z = static_cast<uint8_t>(n % 256);
                           if ((y & 0x7F) == 0x7F) y ^= 1;
                           if ((z & 0x7F) == 0x7F) z ^= 1;
                           b[n * 2] = y, b[n * 2 + 1] = z;
                         }
                       } else {
                         for (auto* v : {&a, &b})
                           for (auto& x : *v) x = sign(0x7E);
                       }
                       int64_t kb = (K + 127) / 128;
                       std::vector<float> sa(M * kb, 1.0f), sb(((N + 127) / 128) * kb, 1.0f);
                       if (kind != 3) sa = test::random_floats(sa.size(), 0.5f, 2.0f, 3), sb = test::random_floats(sb.size(), 0.5f, 2.0f, 4);
                       Tensor ta = test::make_tensor(DType::F8_E4M3, {M, K}, a.data()), tb = test::make_tensor(DType::F8_E4M3, {N, K}, b.data());
                       Tensor tsa = test::f32_tensor({M, kb}, sa), tsb = test::f32_tensor({(N + 127) / 128, kb}, sb);
                       expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                         outs.emplace_back(DType::F32, Shape{M, N});
                         if (block)
                           gemm_fp8_block(ta.view(), tsa.view(), tb.view(), tsb.view(), std::nullopt, outs[0].view, ro);
                         else
                           gemm_fp8(ta.view(), tb.view(), 1.0f, std::nullopt, outs[0].view, ro);
                       });
                     }
                   },
                   {{"M", e.M}, {"N", e.N}, {"K", e.K}, {"block_scaled", e.block ? 1 : 0}, {"elements", std::max({e.M * e.K, e.N * e.K, e.M * e.N})}}});
}

// Split-K and grid-stride coverage for the decode and tiled kernels: K past one pass of the
// split (NVFP4 kbs = 131 > 64 work-items; fp8 block form 71 blocks > 64, with a ragged tail),
// N past one pass of the work-groups (the kernels stride over column groups / tiles), random
// codes and moderate scales; f32 out with bias.
void add_gemm_split_cases(std::string_view op, std::vector<Case>& out) {
  struct Split {
    int64_t M, N, K;
    bool block;
  };
  std::vector<Split> splits = op == "gemm_nvfp4"
                                  ? std::vector<Split>{{3, 7, 2096, false}, {16, 300, 64, false}, {130, 4100, 32, false}}
                                  : std::vector<Split>{{2, 5, 8965, false}, {2, 5, 8965, true}, {16, 300, 40, true}, {130, 4100, 24, false}};
  for (Split sp : splits)
    out.push_back({fmt::format("split_M{}_N{}_K{}{}", sp.M, sp.N, sp.K, sp.block ? "_block" : ""),
                   [=](const RunOptions& o) {
                     auto [M, N, K, block] = sp;
                     uint32_t seed = static_cast<uint32_t>(M * 31 + N * 7 + K);
                     Tensor bias = test::f32_tensor({N}, test::random_floats(static_cast<size_t>(N), -2, 2, seed));
                     if (op == "gemm_nvfp4") {
                       auto sa_b = random_bytes(M * K / 16, seed + 3, false), sb_b = random_bytes(N * K / 16, seed + 4, false);
                       for (auto* v : {&sa_b, &sb_b})
                         for (auto& x : *v) x = static_cast<uint8_t>(0x20 + x % 0x40) | (x & 0x80);
                       Tensor a = test::make_tensor(DType::U8, {M, K / 2}, random_bytes(M * K / 2, seed + 1, true).data());
                       Tensor b = test::make_tensor(DType::U8, {N, K / 2}, random_bytes(N * K / 2, seed + 2, true).data());
                       Tensor sa = test::make_tensor(DType::F8_E4M3, {M, K / 16}, sa_b.data());
                       Tensor sb = test::make_tensor(DType::F8_E4M3, {N, K / 16}, sb_b.data());
                       expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                         outs.emplace_back(DType::F32, Shape{M, N});
                         gemm_nvfp4(a.view(), sa.view(), b.view(), sb.view(), 0.0123f, bias.view(), outs[0].view, ro);
                       });
                     } else {
                       Tensor a = test::make_tensor(DType::F8_E4M3, {M, K}, random_bytes(M * K, seed + 1, false).data());
                       Tensor b = test::make_tensor(DType::F8_E4M3, {N, K}, random_bytes(N * K, seed + 2, false).data());
                       int64_t kb = (K + 127) / 128;
                       Tensor sa = test::f32_tensor({M, kb}, test::random_floats(M * kb, 1e-3f, 2.0f, seed + 3));
                       Tensor sb = test::f32_tensor({(N + 127) / 128, kb}, test::random_floats(((N + 127) / 128) * kb, 1e-3f, 2.0f, seed + 4));
                       expect_same_bytes(o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                         outs.emplace_back(DType::F32, Shape{M, N});
                         if (block)
                           gemm_fp8_block(a.view(), sa.view(), b.view(), sb.view(), bias.view(), outs[0].view, ro);
                         else
                           gemm_fp8(a.view(), b.view(), 0.0037f, bias.view(), outs[0].view, ro);
                       });
                     }
                   },
                   {{"M", sp.M}, {"N", sp.N}, {"K", sp.K}, {"block_scaled", sp.block ? 1 : 0}, {"elements", std::max({sp.M * sp.K, sp.N * sp.K, sp.M * sp.N})}}});
}

} // namespace

std::vector<Case> gemm_cases(std::string_view op) {
  std::vector<Case> out;
  if (op != "gemm_nvfp4" && op != "gemm_fp8") return out;
  add_gemm_cases(op, out);
  add_gemm_extra_cases(op, out);
  add_gemm_split_cases(op, out);
  return out;
}

} // namespace tessera::conformance
