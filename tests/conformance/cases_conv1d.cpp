// Conformance cases for the causal depthwise conv1d + SiLU (numerics.md section 5): bounded,
// compared with expect_within_bound against each variant's declared relative L2 bound, y and the
// new state both. Widths 4 (the models'), 1 (pointwise, empty state) and 3; with and without bias
// and state; T < W - 1 (the new state is then part old state, part x); channel counts that are
// not a multiple of any work-group size; decode (T = 1) and prefill; bf16/fp16 x. A bf16/fp16 y
// is the host's RN of the device's fp32 result, so those cases check the bound in fp32 and then
// that the narrowed y is exactly the RN of it. One case also runs twice for equal bytes.
#include "conformance/common.h"

#include "reference/formats.h"

namespace tessera::conformance {

namespace {

struct ConvCase {
  std::string name;
  int64_t B, T, C, W;
  bool bias, state;
  DType in = DType::F32, out = DType::F32;
  bool determinism = false;
};

void run_case(const ConvCase& c, const RunOptions& o) {
  const uint32_t seed = static_cast<uint32_t>(c.B * 1009 + c.T * 101 + c.C * 7 + c.W);
  const int64_t keep = c.W - 1;
  // Activations in [-4, 4] reach both tails of SiLU; weights as a trained short conv has.
  Tensor x = typed(c.in, {c.B, c.T, c.C}, test::random_floats(static_cast<size_t>(c.B * c.T * c.C), -4, 4, seed + 1));
  Tensor w = test::f32_tensor({c.C, c.W}, test::random_floats(static_cast<size_t>(c.C * c.W), -1, 1, seed + 2));
  Tensor bias = test::f32_tensor({c.C}, test::random_floats(static_cast<size_t>(c.C), -0.5f, 0.5f, seed + 3));
  Tensor state = test::f32_tensor({c.B, c.C, keep}, test::random_floats(static_cast<size_t>(c.B * c.C * keep), -4, 4, seed + 4));
  std::optional<TensorView> bias_v, state_v;
  if (c.bias) bias_v = bias.view();
  if (c.state) state_v = state.view();
  auto run = [&](DType out_t) {
    return [&, out_t](const RunOptions& ro, std::vector<Guarded>& outs) {
      outs.emplace_back(out_t, Shape{c.B, c.T, c.C});
      outs.emplace_back(DType::F32, Shape{c.B, c.C, keep});
      conv1d(x.view(), w.view(), bias_v, state_v, outs[0].view, outs[1].view, ro);
    };
  };
  expect_within_bound("conv1d", o, run(DType::F32));
  if (c.out != DType::F32) {
    std::vector<Guarded> wide, narrow;
    run(DType::F32)(o, wide);
    run(c.out)(o, narrow);
    EXPECT_TRUE(narrow[0].guards_intact());
    const float* wv = reinterpret_cast<const float*>(wide[0].view.data);
    const uint16_t* nv = reinterpret_cast<const uint16_t*>(narrow[0].view.data);
    int64_t bad = 0;
    for (int64_t i = 0; i < c.B * c.T * c.C; ++i)
      bad += nv[i] != (c.out == DType::BF16 ? ref::f32_to_bf16(wv[i]) : ref::f32_to_f16(wv[i]));
    EXPECT_EQ(bad, 0) << "outputs in " << dtype_name(c.out) << " that are not RN of the fp32 result";
  }
  if (c.determinism) {
    std::vector<Guarded> first, second;
    run(c.out)(o, first);
    run(c.out)(o, second);
    for (size_t i = 0; i < first.size(); ++i) EXPECT_TRUE(first[i].payload() == second[i].payload()) << "output " << i << " differs between two runs";
  }
}

} // namespace

std::vector<Case> conv1d_cases(std::string_view op) {
  std::vector<Case> out;
  if (op != "conv1d") return out;
  std::vector<ConvCase> cases = {
      {"W4_decode_B3_C300_bias_state", 3, 1, 300, 4, true, true},
      {"W4_prefill_B2_T37_C130_bias_state", 2, 37, 130, 4, true, true, DType::F32, DType::F32, true},
      {"W4_prefill_T64_C96_nobias_nostate", 1, 64, 96, 4, false, false},
      {"W4_T2_lt_W_minus_1_state", 2, 2, 33, 4, true, true},
      {"W4_T1_nostate", 1, 1, 17, 4, false, false},
      {"W1_pointwise_B2_T9_C65", 2, 9, 65, 1, true, false},
      {"W3_T5_C257_state_nobias", 1, 5, 257, 3, false, true},
      {"W4_bf16_in_out_T8_C48", 2, 8, 48, 4, true, true, DType::BF16, DType::BF16},
      {"W4_fp16_in_out_T3_C70", 1, 3, 70, 4, true, true, DType::F16, DType::F16},
      {"W4_f32_in_bf16_out_T6_C40", 1, 6, 40, 4, false, true, DType::F32, DType::BF16},
  };
  if (large()) cases.push_back({"large_W4_T512_C8192", 2, 512, 8192, 4, true, true});
  for (const ConvCase& c : cases)
    out.push_back({c.name, [c](const RunOptions& o) { run_case(c, o); },
                   {{"T", c.T}, {"B", c.B}, {"C", c.C}, {"W", c.W}, {"elements", std::max(c.B * c.T * c.C, c.C * c.W)}}});
  return out;
}

} // namespace tessera::conformance
