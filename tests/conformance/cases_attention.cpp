// Conformance cases for gated attention (numerics.md section 6): bounded, compared with
// expect_attention_within_bound against the attention error bound (numerics.md "Attention error
// bound") of each variant's declared Conformance. Prefill and decode
// shapes: causal and not, T < S offsets, GQA ratios 1, 2, 3, 6 and 8, gate on and off, every K/V
// dtype (fp32, bf16, fp16, E4M3 with scales, and K and V of different dtypes), fixed-length
// batches and varlen (int64 and int32 offsets), S not a multiple of the key tile, D = 1, 64, 80,
// 128, 200 and 256, lse output, decode T = 1..16 against caches of hundreds to thousands of keys.
// Both o and lse are compared (o the attention output, lse the log-sum-exp).
#include "conformance/common.h"
#include "reference/formats.h"

namespace tessera::conformance {

namespace {

struct AttCase {
  std::string name;
  int64_t B, T, S, Hq, Hkv, D;
  bool causal, gate, lse;
  DType k_dtype, v_dtype;
  std::vector<std::pair<int64_t, int64_t>> seqs = {}; // varlen (T_n, S_n); empty: fixed lengths
  DType cu_dtype = DType::I64;
};

// fp32 values stored as `t` (E4M3 divided by `scale` first, so value ~ e4m3 * scale).
Tensor stored(DType t, Shape shape, const std::vector<float>& x, float scale) {
  Tensor out(t, std::move(shape));
  for (size_t i = 0; i < x.size(); ++i) {
    switch (t) {
    case DType::BF16: out.as<uint16_t>()[i] = ref::f32_to_bf16(x[i]); break;
    case DType::F16: out.as<uint16_t>()[i] = ref::f32_to_f16(x[i]); break;
    case DType::F8_E4M3: out.as<uint8_t>()[i] = ref::f32_to_e4m3(x[i] / scale); break;
    default: out.as<float>()[i] = x[i]; break;
    }
  }
  return out;
}

Tensor offsets(DType t, const std::vector<int64_t>& cu) {
  Tensor out(t, {static_cast<int64_t>(cu.size())});
  for (size_t i = 0; i < cu.size(); ++i) {
    if (t == DType::I32)
      out.as<int32_t>()[i] = static_cast<int32_t>(cu[i]);
    else
      out.as<int64_t>()[i] = cu[i];
  }
  return out;
}

void add(std::vector<Case>& out, AttCase c) {
  if (!c.seqs.empty()) { // varlen: B = 1, T and S the totals
    c.B = 1, c.T = 0, c.S = 0;
    for (auto [t, s] : c.seqs) c.T += t, c.S += s;
  }
  int64_t longest_q = c.T, longest_k = c.S;
  if (!c.seqs.empty()) {
    longest_q = longest_k = 0;
    for (auto [t, s] : c.seqs) longest_q = std::max(longest_q, t), longest_k = std::max(longest_k, s);
  }
  std::map<std::string, int64_t, std::less<>> dims = {
      {"T", longest_q}, {"S", longest_k}, {"n_seqs", c.seqs.empty() ? c.B : static_cast<int64_t>(c.seqs.size())},
      {"Hq", c.Hq}, {"Hkv", c.Hkv}, {"D", c.D}, {"causal", c.causal ? 1 : 0},
      {"elements", std::max(c.B * c.T * c.Hq * c.D, c.B * c.S * c.Hkv * c.D)}};
  std::string name = c.name;
  out.push_back({name,
                 [c](const RunOptions& o) {
                   uint32_t seed = static_cast<uint32_t>(c.T * 7919 + c.S * 131 + c.Hq * 17 + c.D);
                   const Shape qs{c.B, c.T, c.Hq, c.D}, ks{c.B, c.S, c.Hkv, c.D};
                   const size_t nq = static_cast<size_t>(c.B * c.T * c.Hq * c.D), nk = static_cast<size_t>(c.B * c.S * c.Hkv * c.D);
                   // q wider than k so the softmax is neither flat nor one-hot.
                   Tensor q = test::f32_tensor(qs, test::random_floats(nq, -3.0f, 3.0f, seed));
                   Tensor gate = test::f32_tensor(qs, test::random_floats(nq, -4.0f, 4.0f, seed + 1));
                   const float k_scale = c.k_dtype == DType::F8_E4M3 ? 0.0125f : 1.0f;
                   const float v_scale = c.v_dtype == DType::F8_E4M3 ? 0.03f : 1.0f;
                   Tensor k = stored(c.k_dtype, ks, test::random_floats(nk, -1.5f, 1.5f, seed + 2), k_scale);
                   Tensor v = stored(c.v_dtype, ks, test::random_floats(nk, -2.0f, 2.0f, seed + 3), v_scale);
                   AttentionArgs args;
                   args.q = q.view(), args.k = k.view(), args.v = v.view();
                   args.k_scale = k_scale, args.v_scale = v_scale;
                   if (c.gate) args.gate = gate.view();
                   args.causal = c.causal;
                   std::optional<Tensor> cu_q, cu_k;
                   if (!c.seqs.empty()) {
                     std::vector<int64_t> cq{0}, ck{0};
                     for (auto [t, s] : c.seqs) cq.push_back(cq.back() + t), ck.push_back(ck.back() + s);
                     cu_q.emplace(offsets(c.cu_dtype, cq));
                     cu_k.emplace(offsets(c.cu_dtype, ck));
                     args.cu_seqlens_q = cu_q->view(), args.cu_seqlens_k = cu_k->view();
                   }
                   expect_attention_within_bound(args, c.lse, o, [&](const RunOptions& ro, std::vector<Guarded>& outs) {
                     outs.emplace_back(DType::F32, qs);
                     if (c.lse) outs.emplace_back(DType::F32, Shape{c.B, c.T, c.Hq});
                     attention(args, outs[0].view, c.lse ? std::optional<TensorView>(outs[1].view) : std::nullopt, ro);
                   });
                 },
                 dims});
}

} // namespace

std::vector<Case> attention_cases(std::string_view op) {
  std::vector<Case> out;
  if (op != "attention") return out;
  const DType F32 = DType::F32, BF = DType::BF16, F16 = DType::F16, E4 = DType::F8_E4M3;
  // Prefill: name, B, T, S, Hq, Hkv, D, causal, gate, lse, k dtype, v dtype.
  add(out, {"prefill_causal_T37_g1_D64_f32_gate_lse", 1, 37, 37, 4, 4, 64, true, true, true, F32, F32});
  add(out, {"prefill_causal_offset_T20_S83_g2_D128_bf16_lse", 1, 20, 83, 4, 2, 128, true, false, true, BF, BF});
  add(out, {"prefill_full_T33_S50_g8_D64_f16_gate", 1, 33, 50, 8, 1, 64, false, true, false, F16, F16});
  add(out, {"prefill_causal_T48_g2_D256_e4m3_gate_lse", 1, 48, 48, 4, 2, 256, true, true, true, E4, E4});
  add(out, {"prefill_batch2_causal_T17_S40_g3_D80_f32", 2, 17, 40, 6, 2, 80, true, false, false, F32, F32});
  add(out, {"prefill_causal_T70_S75_g6_D128_k_e4m3_v_bf16_gate", 1, 70, 75, 12, 2, 128, true, true, false, E4, BF});
  add(out, {"prefill_full_T3_S70_g1_D256_e4m3_lse", 1, 3, 70, 2, 2, 256, false, false, true, E4, E4});
  add(out, {"prefill_causal_T19_S23_g2_D1_f32_gate_lse", 1, 19, 23, 4, 2, 1, true, true, true, F32, F32});
  add(out, {"varlen_causal_g2_D64_bf16_lse", 0, 0, 0, 4, 2, 64, true, false, true, BF, BF, {{5, 5}, {12, 30}, {1, 17}, {30, 30}}});
  add(out, {"varlen_full_i32_g8_D128_f16_gate", 0, 0, 0, 8, 1, 128, false, true, false, F16, E4, {{7, 19}, {20, 3}, {2, 40}}, DType::I32});
  // Decode: T <= 16 new tokens against longer caches (split-KV territory).
  add(out, {"decode_T1_S300_g6_D128_f32_gate_lse", 1, 1, 300, 12, 2, 128, true, true, true, F32, F32});
  add(out, {"decode_T4_S1000_g8_D64_e4m3", 1, 4, 1000, 8, 1, 64, true, false, false, E4, E4});
  add(out, {"decode_T16_S513_g2_D256_bf16_lse", 1, 16, 513, 4, 2, 256, true, false, true, BF, BF});
  add(out, {"decode_full_T9_S2000_g1_D64_f16_gate", 1, 9, 2000, 2, 2, 64, false, true, false, F16, F16});
  add(out, {"decode_T1_S4096_g4_D128_e4m3_lse", 1, 1, 4096, 4, 1, 128, true, false, true, E4, E4});
  add(out, {"decode_T3_S130_g4_D200_k_f16_v_bf16_gate", 1, 3, 130, 8, 2, 200, true, true, false, F16, BF});
  add(out, {"decode_batch3_T2_S200_g2_D64_f32_gate", 3, 2, 200, 4, 2, 64, true, true, false, F32, F32});
  // 500 key tiles in one sweep: past lavapipe's 65535 loop iterations per invocation unless the
  // inner loops are unrolled (kernels/attention/attn_tile.glsl).
  add(out, {"decode_T2_S8000_g2_D64_f16_lse", 1, 2, 8000, 4, 2, 64, true, false, true, F16, F16});
  add(out, {"decode_varlen_g3_D128_bf16_lse", 0, 0, 0, 6, 2, 128, true, false, true, BF, BF, {{1, 700}, {16, 16}, {3, 1500}}});
  if (large()) {
    add(out, {"prefill_large_T1024_g6_D256_bf16", 1, 1024, 1024, 24, 4, 256, true, true, true, BF, BF});
    add(out, {"decode_large_T1_S65536_g6_D256_e4m3", 1, 1, 65536, 24, 4, 256, true, true, true, E4, E4});
  }
  return out;
}

} // namespace tessera::conformance
