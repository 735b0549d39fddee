// Randomized (property-based) conformance, ggml's test-backend-ops in spirit, with
// hypothesis-style shrinking: for every (device, variant) a seeded stream of random LEGAL cases
// (shapes the variant's registry requirement accepts, edges drawn often: chunk boundaries, the
// GEMV/tiled threshold, one row, K = 16, empty varlen sequences, GQA ratios; values that break
// kernels: mixed gate magnitudes, peaky softmax, huge and tiny scales, subnormals, rounding
// ties, NaN codes where an operation accepts them) run through the public API and compared with
// the CPU reference by the variant's declared class (conformance/common.h). A failure prints the
// seed and case index, the case, a shrunk (smaller) case that still fails, and krun command
// lines on the inputs written to a safetensors file.
//
// A case is a Spec: integers (extents, offsets, flags), named choices and a value seed. Every
// input element is a function of (value seed, tensor, coordinates), so a smaller Spec keeps the
// elements it still has: halving T keeps the first tokens, a row offset keeps the rows that
// failed. build() turns a Spec into exactly the named inputs and parameters krun takes, and
// run() calls the typed operation on those inputs, so the reproducer file means what the test
// ran (test_conformance checks that against run_named_op).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "conformance/common.h"
#include "tessera/named_ops.h"

namespace tessera::conformance::random {

// splitmix64: portable, so a seed draws the same case with any standard library.
inline uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
inline uint64_t hash_str(std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull; // FNV-1a
  for (char c : s)
    h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ull;
  return h;
}

struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(mix(seed)) {}
  // The generator of one element: (value seed, tensor id, up to four coordinates).
  Rng(uint64_t seed, uint64_t tensor, int64_t i0, int64_t i1 = 0, int64_t i2 = 0, int64_t i3 = 0)
      : state(mix(
            mix(mix(mix(mix(seed ^ (tensor * 0xA24BAED4963EE407ull)) + static_cast<uint64_t>(i0)) +
                    static_cast<uint64_t>(i1)) +
                static_cast<uint64_t>(i2)) +
            static_cast<uint64_t>(i3))) {}
  uint64_t next() { return state = mix(state); }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; } // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * unit(); }
  int64_t range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  } // [lo, hi]
  bool chance(double p) { return unit() < p; }
  double normal() { // Box-Muller
    double u = 1.0 - unit(), v = unit();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
  template <class T> const T& pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(next() % v.size())];
  }
};

using Dims = std::map<std::string, int64_t, std::less<>>;

struct Spec {
  Dims n;                                            // extents, offsets, flags
  std::map<std::string, std::string, std::less<>> s; // named choices (dtypes, modes, recipes)
  std::vector<int64_t> seqs, seqs_k;                 // varlen sequence lengths (attention: q, k)
  uint64_t seed = 0;                                 // of the values
  int64_t operator[](std::string_view key) const {
    auto it = n.find(key);
    return it == n.end() ? 0 : it->second;
  }
  const std::string& str(std::string_view key) const {
    static const std::string none;
    auto it = s.find(key);
    return it == s.end() ? none : it->second;
  }
  std::string describe() const; // "M=17 N=40 K=64 out=bf16 ... seqs=[3,0,61]"
};

// The named inputs and parameters of one case, exactly as krun takes them.
struct Drawn {
  TensorMap inputs;
  ParamMap params;
};

// How large the drawn extents may be: the quick slice of `make test`, or a longer search.
enum class Size { Quick, Long };

struct Generator {
  std::string_view op;
  std::vector<std::string_view> outputs; // names, for messages (quantize_nvfp4's scale_2 too)
  Spec (*draw)(Rng& rng, Size size);
  Dims (*dims)(const Spec&); // what the registry selects on (as the op computes it)
  std::vector<Spec> (*smaller)(const Spec&);
  Drawn (*build)(const Spec&);
  // The typed operation on d's inputs, into guarded outputs (one per name in `outputs`).
  void (*run)(const Drawn& d, const RunOptions& o, std::vector<Guarded>& outs);
};

// The attention call of a drawn attention case (random_attention.cpp), for its error bound.
AttentionArgs attention_args(const Drawn& d);
// The DeltaNet call of a drawn deltanet case (random_recurrent.cpp), for its error bound.
DeltaNetArgs deltanet_args(const Drawn& d);

// All operations' generators (random_*.cpp), and the one for `op` (nullptr when none).
const std::vector<Generator>& generators();
const Generator* generator_for(std::string_view op);

// Settings of a randomized run: test_conformance --cases N --seed S [--op OP] [--case I].
struct Config {
  int cases = 0; // 0: each operation's quick count (quick_cases)
  uint64_t seed = 1;
  int only_case = -1; // >= 0: run that case index only
  int first_case = 0; // start at this case index: a long search run in parts (--from)
  bool shrink = true;
  bool verbose = false; // a line per case: index, time, errors, the case
  Size size = Size::Quick;
  std::string program = "test_conformance"; // argv[0], for the replay line
};
int quick_cases(std::string_view op); // the `make test` slice's count per (device, variant)

// One (device, variant): `cases` cases from the seed, each compared with the reference; every
// failure is a gtest failure with its reproducer.
void run_variant(const dispatch::DeviceRef& d, const dispatch::Variant& v, const Config& config);

// Element helpers for the generators (random_runner.cpp).
DType dtype_of(std::string_view name); // "f32" / "bf16" / "f16" / "e4m3"
std::string float_param(float v);      // shortest text that strtof reads back
std::vector<Spec> halvings(const Spec& s, const std::vector<std::string>& keys, int64_t minimum = 1,
                           int64_t multiple = 1); // each key halved (rounded to `multiple`)

// A case's optional input, its `out` parameter's dtype (f32 when absent), a float parameter.
inline std::optional<TensorView> optional_input(const Drawn& d, const std::string& name) {
  auto it = d.inputs.find(name);
  if (it == d.inputs.end()) return std::nullopt;
  return it->second.view();
}
DType out_dtype(const Drawn& d);
float param_float(const Drawn& d, const std::string& key);

// A [rows, cols] tensor of one-byte elements (U8 or F8_E4M3): element (r, c) is
// f(Rng(seed, id, row0 + r, col0 + c)), so a smaller case keeps the bytes it still has.
template <class F>
Tensor byte_matrix(DType t, int64_t rows, int64_t cols, uint64_t seed, uint64_t id, int64_t row0,
                   int64_t col0, F&& f) {
  Tensor m(t, {rows, cols});
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      Rng e(seed, id, row0 + r, col0 + c);
      m.as<uint8_t>()[r * cols + c] = static_cast<uint8_t>(f(e));
    }
  return m;
}

// A value at or next to a rounding tie of `format` ("e4m3", "e5m2", "e2m1", "bf16", "f16"):
// the midpoint of two neighbouring positive values (past the largest: the saturation or overflow
// threshold), or one fp32 ulp either side of it.
float near_tie(std::string_view format, Rng& r);
// NVFP4 quantizer input [rows, cols] at (rows0, cols0) of a larger matrix: each 16-block one of
// normal, exact E2M1 ties at an exact E4M3 block scale, zeros, tiny, an outlier, equal values,
// negative zeros; magnitudes around 2^k; `anchor` (when not 0) at global element (0, 0) so that
// a dynamic scale_2 is exactly 2^k and the ties stay exact (random_quant.cpp).
std::vector<float> nvfp4_input(uint64_t seed, int64_t rows, int64_t cols, int64_t rows0,
                               int64_t cols0, int k, float anchor);
// The NVFP4 quantizer input's draw (quantize_nvfp4, gemm_nvfp4_act): dtype "in", magnitude 2^k
// with its kind "x_scale", "static" (else dynamic, with "anchor" most of the time) and then the
// static scale_2 = 2^k times [0.5, 2] (> 0) under the choice `static_key`.
void draw_nvfp4_x(Spec& s, Rng& r, const std::string& static_key);
// fp8 block scales [rows, cols] by mode: moderate [1e-3, 2], huge, tiny, subnormal, mixed_sign.
Tensor fp8_block_scales(uint64_t seed, uint64_t id, int64_t rows, int64_t cols,
                        const std::string& mode);

// fp8 quantizer input for a Spec with rows, cols, rows0, cols0, k, recipe and in: per scale group
// exact E4M3 ties at an exact scale, magnitudes at token128's 1e-4 floor, zeros, subnormals,
// saturation or normal values (random_quant.cpp).
std::vector<float> fp8_input(const Spec& s);
// Values an f16 (or bf16) input can hold: an inf there would be refused as non-finite.
std::vector<float> fit(std::vector<float> v, std::string_view in);
// The exponent k of a tensor's magnitude 2^k (moderate, or near overflow or underflow; f16
// inputs moderate only), naming the kind; and an input dtype name (f32 mostly). kUnderflowK
// (kind "underflow", f32 only) stands for small multiples of 2^-149, whose computed scales
// round to 0 or to a subnormal.
inline constexpr int kUnderflowK = -150;
int draw_k(Rng& r, std::string_view in, std::string* kind);
std::string draw_in(Rng& r);
// An edge with probability p_edge, else uniform in [lo, hi].
int64_t edge_or(Rng& r, const std::vector<int64_t>& edges, int64_t lo, int64_t hi,
                double p_edge = 0.35);

} // namespace tessera::conformance::random
