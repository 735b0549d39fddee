// Presets: the default sweep `make bench` runs, and the shapes of real models (docs/interfaces.md).
#include <algorithm>

#include "bench/cases.h"

namespace tessera::bench {

namespace {

AxisValues ints(std::initializer_list<int64_t> v) { return {v.begin(), v.end()}; }
AxisValues ints(const std::vector<int64_t>& v) { return {v.begin(), v.end()}; }
AxisValues words(std::initializer_list<const char*> v) { return {v.begin(), v.end()}; }

// Decode is a batch of sequences with one new token each; prefill one sequence of many tokens.
const std::vector<int64_t> kDecode = {1, 4, 16, 64};
const std::vector<int64_t> kPrefill = {512, 2048, 8192, 16384};
const std::vector<int64_t> kDecodeAndPrefill = {1, 4, 16, 64, 512, 2048, 8192, 16384};
constexpr int64_t kDecodeContext = 4096; // keys each decoding sequence attends to

struct ModelShape {
  int64_t hidden;
  int64_t mlp;         // intermediate size of one MLP (an expert's for MoE models)
  int64_t dn_h, dn_hv; // DeltaNet key and value heads
  int64_t dn_d;
  int64_t att_hq, att_hkv, att_d;
};

std::vector<Sweep> model_sweeps(const ModelShape& m) {
  std::vector<Sweep> s;
  // GEMM projections as engines fuse them; M is the tokens through the projection. For a MoE
  // model M is the tokens routed to one expert, fewer than the batch: sweep M to see that range.
  struct Proj {
    const char* what;
    int64_t N, K;
  };
  const int64_t dn_qkvz = 2 * m.dn_h * m.dn_d + 2 * m.dn_hv * m.dn_d;
  const int64_t att_qkv = 2 * m.att_hq * m.att_d + 2 * m.att_hkv * m.att_d; // q and gate, k, v
  const Proj projs[] = {
      {"MLP gate+up", 2 * m.mlp, m.hidden},
      {"MLP down", m.hidden, m.mlp},
      {"DeltaNet in_proj qkvz", dn_qkvz, m.hidden},
      {"DeltaNet out_proj", m.hidden, m.dn_hv * m.dn_d},
      {"attention q+gate, k, v", att_qkv, m.hidden},
      {"attention o_proj", m.hidden, m.att_hq * m.att_d},
  };
  for (const char* op : {"gemm_nvfp4", "gemm_fp8", "gemm_nvfp4_act", "gemm_fp8_act"})
    for (const Proj& p : projs)
      s.push_back(
          {op, p.what, {{"M", ints(kDecodeAndPrefill)}, {"N", ints({p.N})}, {"K", ints({p.K})}}});
  // Activations quantized in front of each distinct GEMM input width.
  std::vector<int64_t> widths;
  for (int64_t k : {m.hidden, m.mlp, m.dn_hv * m.dn_d, m.att_hq * m.att_d})
    if (std::find(widths.begin(), widths.end(), k) == widths.end()) widths.push_back(k);
  for (const char* op : {"quantize_nvfp4", "quantize_fp8"})
    s.push_back({op,
                 "activations before each GEMM",
                 {{"M", ints(kDecodeAndPrefill)}, {"K", ints(widths)}}});
  for (const char* op : {"dequantize_nvfp4", "dequantize_fp8"})
    s.push_back({op,
                 "activations of each GEMM width",
                 {{"M", ints(kDecodeAndPrefill)}, {"K", ints(widths)}}});
  s.push_back({"convert",
               "hidden state to BF16",
               {{"N", ints({1 * m.hidden, 64 * m.hidden, 2048 * m.hidden, 16384 * m.hidden})}}});
  const int64_t conv_c = 2 * m.dn_h * m.dn_d + m.dn_hv * m.dn_d; // q, k, v channels
  s.push_back({"conv1d",
               "decode",
               {{"B", ints(kDecode)}, {"T", ints({1})}, {"C", ints({conv_c})}, {"W", ints({4})}}});
  s.push_back({"conv1d",
               "prefill",
               {{"B", ints({1})}, {"T", ints(kPrefill)}, {"C", ints({conv_c})}, {"W", ints({4})}}});
  auto dn = [&](const std::vector<int64_t>& B, const std::vector<int64_t>& T) {
    return std::map<std::string, AxisValues, std::less<>>{{"B", ints(B)},
                                                          {"T", ints(T)},
                                                          {"H", ints({m.dn_h})},
                                                          {"HV", ints({m.dn_hv})},
                                                          {"D", ints({m.dn_d})}};
  };
  s.push_back({"deltanet", "decode", dn(kDecode, {1})});
  s.push_back({"deltanet", "prefill", dn({1}, kPrefill)});
  auto att = [&](const std::vector<int64_t>& B, const std::vector<int64_t>& T, int64_t S) {
    return std::map<std::string, AxisValues, std::less<>>{{"B", ints(B)},
                                                          {"T", ints(T)},
                                                          {"S", ints({S})},
                                                          {"Hq", ints({m.att_hq})},
                                                          {"Hkv", ints({m.att_hkv})},
                                                          {"D", ints({m.att_d})}};
  };
  s.push_back({"attention", "decode", att(kDecode, {1}, kDecodeContext)});
  s.push_back({"attention", "prefill", att({1}, kPrefill, 0)});
  return s;
}

std::vector<Preset> make_presets() {
  std::vector<Preset> p;
  // What `make bench` runs: every operation on every device in a few minutes on two cores
  // without a GPU. The CPU reference's GEMMs are plain loops at roughly 10^8 multiply-adds per
  // second, so its shapes are small; the models' head dims are kept so per-head work is real.
  // Text axes are swept where they change the kernel's work (formats, recipes, scaling).
  p.push_back(
      {"default",
       "small shapes of every operation and its main formats, a few minutes on two cores",
       {
           {"convert", "", {{"N", ints({1 << 16, 1 << 20})}, {"to", words({"bf16", "e4m3"})}}},
           {"quantize_nvfp4",
            "",
            {{"M", ints({1, 64})},
             {"K", ints({2048})},
             {"recipe", words({"nvfp4", "nvfp4-4over6"})}}},
           {"quantize_fp8",
            "",
            {{"M", ints({1, 64})},
             {"K", ints({2048})},
             {"recipe", words({"fp8-token128", "fp8-block128"})}}},
           {"dequantize_nvfp4", "", {{"M", ints({64})}, {"K", ints({2048})}}},
           {"dequantize_fp8", "", {{"M", ints({64})}, {"K", ints({2048})}}},
           {"gemm_nvfp4", "", {{"M", ints({1, 16})}, {"N", ints({512})}, {"K", ints({2048})}}},
           {"gemm_fp8", "", {{"M", ints({1, 16})}, {"N", ints({512})}, {"K", ints({2048})}}},
           {"gemm_nvfp4_act", "", {{"M", ints({1, 16})}, {"N", ints({512})}, {"K", ints({2048})}}},
           {"gemm_fp8_act", "", {{"M", ints({1, 16})}, {"N", ints({512})}, {"K", ints({2048})}}},
           {"gemm_fp8",
            "per-tensor scales",
            {{"M", ints({16})},
             {"N", ints({512})},
             {"K", ints({2048})},
             {"scaling", words({"tensor"})}}},
           {"deltanet",
            "decode",
            {{"B", ints({1})},
             {"T", ints({1})},
             {"H", ints({2})},
             {"HV", ints({4})},
             {"D", ints({128})}}},
           {"deltanet",
            "prefill",
            {{"B", ints({1})},
             {"T", ints({64})},
             {"H", ints({2})},
             {"HV", ints({4})},
             {"D", ints({128})}}},
           {"conv1d",
            "",
            {{"B", ints({1})}, {"T", ints({1, 64})}, {"C", ints({2048})}, {"W", ints({4})}}},
           {"attention",
            "decode",
            {{"B", ints({1})},
             {"T", ints({1})},
             {"S", ints({1024})},
             {"Hq", ints({4})},
             {"Hkv", ints({1})},
             {"D", ints({256})},
             {"kv", words({"bf16", "e4m3"})}}},
           {"attention",
            "prefill",
            {{"B", ints({1})},
             {"T", ints({256})},
             {"S", ints({0})},
             {"Hq", ints({4})},
             {"Hkv", ints({1})},
             {"D", ints({256})}}},
       }});
  p.push_back({"qwen3.6-27b",
               "Qwen3.6-27B: hidden 5120, MLP 17408, DeltaNet 16/48 heads of 128, attention 24/4 "
               "heads of 256",
               model_sweeps({5120, 17408, 16, 48, 128, 24, 4, 256})});
  p.push_back({"qwen3-next-80b-a3b",
               "Qwen3-Next-80B-A3B: hidden 2048, experts 512 wide, DeltaNet 16/32 heads of 128, "
               "attention 16/2 heads of 256",
               model_sweeps({2048, 512, 16, 32, 128, 16, 2, 256})});
  return p;
}

} // namespace

const std::vector<Preset>& presets() {
  static const std::vector<Preset> p = make_presets();
  return p;
}

const Preset* find_preset(std::string_view name) {
  for (const Preset& p : presets())
    if (p.name == name) return &p;
  return nullptr;
}

} // namespace tessera::bench
