// Conformance cases for Gated DeltaNet (numerics.md section 5): bounded, compared with
// expect_deltanet_within_bound against each variant's declared bound (the elementwise mixed bound
// of numerics.md "DeltaNet error bound", deltanet_bound.h), o and ht both.
// Shapes cover decode (T = 1) to short prefill (T = 130), GQA (HV = 2H, 4H), l2norm on and off,
// h0 on and off, varlen batches with an empty sequence, Dk = Dv = 128 and small odd heads,
// extreme gates (g near 0, g = -20, the two mixed; a -1e6 gate before small ones, runs of small
// gates broken by spikes down to -FLT_MAX, which broke chunked's fp32 prefix sums), the fused
// gating path, and bf16/fp16 inputs
// and outputs. A low-precision output is the host's RN of the device's fp32 result, so those
// cases check the bound on the fp32 output and then that the narrowed output is exactly the RN
// of it (a bounded fp32 difference can flip a bf16 rounding, which no bound on the narrowed
// values at fp32 precision would survive). Inputs: q, v ~ N(0, 1); k ~ N(0, 1) / sqrt(Dk) without
// l2norm (a key of norm ~1 keeps the delta rule contractive, as the models' normalised keys
// do); beta in (0, 1); g in [-1, 0) unless the case says otherwise.
#include "conformance/common.h"

#include <limits>

#include "reference/formats.h"

namespace tessera::conformance {

namespace {

enum class Gates { Normal, NearZero, Minus20, Mixed, HugeThenSmall, Spiky, Fused };

struct DnCase {
  std::string name;
  int64_t B, T, H, HV, Dk, Dv;
  std::vector<int64_t> cu; // non-empty: varlen, B must be 1 and cu.back() == T
  bool l2norm, h0;
  Gates gates = Gates::Normal;
  DType in = DType::F32, out = DType::F32;
  std::optional<float> scale = std::nullopt;
  bool determinism = false; // also: two device runs give the same bytes
};

std::vector<float> normal(size_t n, float sd, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

struct DnInputs {
  Tensor q, k, v, g, beta, a, b, A_log, dt_bias, h0, cu;
  int64_t n_seqs;
  DeltaNetArgs args(const DnCase& c) const {
    DeltaNetArgs r;
    r.q = q.view(), r.k = k.view(), r.v = v.view();
    if (c.gates == Gates::Fused) {
      r.a = a.view(), r.b = b.view(), r.A_log = A_log.view(), r.dt_bias = dt_bias.view();
    } else {
      r.g = g.view(), r.beta = beta.view();
    }
    if (c.h0) r.h0 = h0.view();
    if (!c.cu.empty()) r.cu_seqlens = cu.view();
    r.scale = c.scale;
    r.l2norm = c.l2norm;
    return r;
  }
};

DnInputs make_inputs(const DnCase& c, uint32_t seed) {
  const int64_t tokens = c.B * c.T, n_seqs = c.cu.empty() ? c.B : static_cast<int64_t>(c.cu.size()) - 1;
  const float k_sd = c.l2norm ? 1.0f : 1.0f / std::sqrt(static_cast<float>(c.Dk));
  std::vector<float> g(static_cast<size_t>(tokens * c.HV));
  std::mt19937 rng(seed + 7);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  for (size_t i = 0; i < g.size(); ++i) {
    switch (c.gates) {
    case Gates::NearZero: g[i] = -1e-4f * unit(rng); break;
    case Gates::Minus20: g[i] = -20.0f; break;
    case Gates::Mixed: g[i] = (rng() % 2) ? -20.0f : -1e-5f * unit(rng); break;
    case Gates::HugeThenSmall: g[i] = i / static_cast<size_t>(c.HV) % 64 == 0 ? -1e6f : -1e-2f; break;
    case Gates::Spiky:
      g[i] = unit(rng) < 0.1f ? -std::ldexp(1.0f, static_cast<int>(rng() % 128)) : -1e-4f * unit(rng);
      if (rng() % 50 == 0) g[i] = -std::numeric_limits<float>::max();
      break;
    default: g[i] = -1.0f + 0.999f * unit(rng); break;
    }
  }
  std::vector<float> beta = test::random_floats(g.size(), 0.02f, 0.98f, seed + 8);
  std::vector<int64_t> cu = c.cu;
  return DnInputs{typed(c.in, {c.B, c.T, c.H, c.Dk}, normal(static_cast<size_t>(tokens * c.H * c.Dk), 1.0f, seed + 1)),
                  typed(c.in, {c.B, c.T, c.H, c.Dk}, normal(static_cast<size_t>(tokens * c.H * c.Dk), k_sd, seed + 2)),
                  typed(c.in, {c.B, c.T, c.HV, c.Dv}, normal(static_cast<size_t>(tokens * c.HV * c.Dv), 1.0f, seed + 3)),
                  test::f32_tensor({c.B, c.T, c.HV}, g),
                  test::f32_tensor({c.B, c.T, c.HV}, beta),
                  // Fused gating: a, b raw; A_log in [-2, 1] and dt_bias in [-1, 1] as trained models have.
                  test::f32_tensor({c.B, c.T, c.HV}, normal(g.size(), 1.5f, seed + 9)),
                  test::f32_tensor({c.B, c.T, c.HV}, normal(g.size(), 2.0f, seed + 10)),
                  test::f32_tensor({c.HV}, test::random_floats(static_cast<size_t>(c.HV), -2.0f, 1.0f, seed + 11)),
                  test::f32_tensor({c.HV}, test::random_floats(static_cast<size_t>(c.HV), -1.0f, 1.0f, seed + 12)),
                  test::f32_tensor({n_seqs, c.HV, c.Dk, c.Dv}, normal(static_cast<size_t>(n_seqs * c.HV * c.Dk * c.Dv), 0.5f, seed + 4)),
                  test::make_tensor(DType::I64, {static_cast<int64_t>(cu.size())}, cu.empty() ? nullptr : cu.data()),
                  n_seqs};
}

void run_case(const DnCase& c, const RunOptions& o) {
  const uint32_t seed = static_cast<uint32_t>(c.T * 131 + c.Dk * 17 + c.Dv * 7 + c.HV * 3 + c.B);
  const DnInputs in = make_inputs(c, seed);
  const DeltaNetArgs args = in.args(c);
  const Shape o_shape{c.B, c.T, c.HV, c.Dv}, ht_shape{in.n_seqs, c.HV, c.Dk, c.Dv};
  auto run = [&](DType out_t) {
    return [&, out_t](const RunOptions& ro, std::vector<Guarded>& outs) {
      outs.emplace_back(out_t, o_shape);
      outs.emplace_back(DType::F32, ht_shape);
      deltanet(args, outs[0].view, outs[1].view, ro);
    };
  };
  expect_deltanet_within_bound(args, o, run(DType::F32));
  if (c.out != DType::F32) {
    std::vector<Guarded> wide, narrow;
    run(DType::F32)(o, wide);
    run(c.out)(o, narrow);
    EXPECT_TRUE(narrow[0].guards_intact());
    const float* w = reinterpret_cast<const float*>(wide[0].view.data);
    const uint16_t* n = reinterpret_cast<const uint16_t*>(narrow[0].view.data);
    int64_t count = shape_numel(o_shape), bad = 0;
    for (int64_t i = 0; i < count; ++i) {
      uint16_t want = c.out == DType::BF16 ? ref::f32_to_bf16(w[i]) : ref::f32_to_f16(w[i]);
      bad += n[i] != want;
    }
    EXPECT_EQ(bad, 0) << "outputs in " << dtype_name(c.out) << " that are not RN of the fp32 result";
    EXPECT_TRUE(narrow[1].payload() == wide[1].payload()) << "ht depends on the output dtype";
  }
  if (c.determinism) {
    std::vector<Guarded> first, second;
    run(c.out)(o, first);
    run(c.out)(o, second);
    for (size_t i = 0; i < first.size(); ++i) EXPECT_TRUE(first[i].payload() == second[i].payload()) << "output " << i << " differs between two runs";
  }
}

} // namespace

std::vector<Case> deltanet_cases(std::string_view op) {
  std::vector<Case> out;
  if (op != "deltanet") return out;
  std::vector<DnCase> cases = {
      {"decode_B3_GQA2_l2_h0", 3, 1, 2, 4, 32, 32, {}, true, true},
      {"decode_B2_GQA4_Dk64_h0", 2, 1, 1, 4, 64, 64, {}, true, true, Gates::Normal, DType::F32, DType::F32, std::nullopt, true},
      {"decode_nol2_noh0", 2, 1, 2, 2, 16, 24, {}, false, false},
      {"T2_GQA2_l2_h0", 1, 2, 1, 2, 16, 16, {}, true, true},
      {"T37_B2_l2_noh0", 2, 37, 2, 2, 24, 40, {}, true, false},
      {"T64_GQA4_nol2_h0", 1, 64, 1, 4, 16, 16, {}, false, true},
      {"T130_GQA2_l2_h0", 1, 130, 1, 2, 32, 32, {}, true, true},
      {"Dk128_Dv128_T20_l2_h0", 1, 20, 1, 2, 128, 128, {}, true, true},
      {"odd_Dk20_Dv33_T9_GQA2", 2, 9, 2, 4, 20, 33, {}, false, true},
      {"odd_Dk33_Dv20_T5_l2", 1, 5, 1, 1, 33, 20, {}, true, false},
      {"varlen_empty_seq_h0", 1, 21, 2, 4, 16, 16, {0, 3, 3, 20, 21}, true, true},
      {"varlen_empty_first_noh0", 1, 40, 1, 2, 32, 16, {0, 0, 33, 40, 40}, true, false},
      {"gates_near_zero_T64", 1, 64, 1, 2, 32, 32, {}, true, true, Gates::NearZero},
      {"gates_minus20_T16", 2, 16, 1, 2, 16, 32, {}, true, true, Gates::Minus20},
      {"gates_mixed_T48", 1, 48, 2, 2, 16, 16, {}, true, true, Gates::Mixed},
      {"gates_huge_then_small_T130", 1, 130, 1, 2, 16, 16, {}, true, true, Gates::HugeThenSmall},
      {"gates_spiky_varlen_GQA2", 1, 140, 1, 2, 32, 32, {0, 0, 64, 65, 140}, true, true, Gates::Spiky},
      {"fused_gating_T24_GQA2", 1, 24, 1, 2, 32, 32, {}, true, true, Gates::Fused},
      {"fused_gating_varlen", 1, 12, 1, 2, 16, 16, {0, 5, 12}, true, false, Gates::Fused},
      {"bf16_in_out_T17", 1, 17, 2, 4, 32, 16, {}, true, true, Gates::Normal, DType::BF16, DType::BF16},
      {"fp16_in_out_T9", 2, 9, 1, 2, 16, 32, {}, true, false, Gates::Normal, DType::F16, DType::F16, std::nullopt, true},
      {"bf16_in_f32_out_decode", 4, 1, 1, 2, 64, 32, {}, true, true, Gates::Normal, DType::BF16, DType::F32},
      {"f32_in_fp16_out_scale", 1, 11, 1, 1, 32, 32, {}, true, true, Gates::Normal, DType::F32, DType::F16, 0.3f},
      // Past what a variant's registers hold: such a variant reports it unsupported (the registry
      // picks another), the others must still be right; recurrent_dk256 takes Dk to 256.
      {"Dk160_refused_by_register_variants", 1, 3, 1, 1, 160, 8, {}, true, true},
      {"Dk256_T21_GQA2_h0", 1, 21, 1, 2, 256, 24, {}, true, true},
  };
  if (large()) cases.push_back({"large_decode_B8_GQA2_Dk128", 8, 1, 16, 32, 128, 128, {}, true, true});
  for (const DnCase& c : cases) {
    int64_t longest = c.T, n_seqs = c.B;
    if (!c.cu.empty()) {
      longest = 0;
      n_seqs = static_cast<int64_t>(c.cu.size()) - 1;
      for (size_t i = 0; i + 1 < c.cu.size(); ++i) longest = std::max(longest, c.cu[i + 1] - c.cu[i]);
    }
    const int64_t elements = std::max(c.B * c.T * c.HV * std::max(c.Dk, c.Dv), n_seqs * c.HV * c.Dk * c.Dv);
    out.push_back({c.name, [c](const RunOptions& o) { run_case(c, o); },
                   {{"T", longest}, {"tokens", c.B * c.T}, {"n_seqs", n_seqs}, {"H", c.H}, {"HV", c.HV},
                    {"Dk", c.Dk}, {"Dv", c.Dv}, {"elements", elements}}});
  }
  return out;
}

} // namespace tessera::conformance
