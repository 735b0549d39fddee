// libFuzzer target: krun's by-name path, tessera::run_named_op on the CPU backend.
//
// The contract (named_ops.h): on any bad input run_named_op throws tessera::Error; an input
// that needs more memory than there is may also end in std::bad_alloc. Anything else is a
// finding: another exception type, a crash, a sanitizer report, a hang. A call that succeeds
// must also give the same outputs when run again (the CPU reference is deterministic).
//
// The input is decoded front to back (tests/fuzz/make_corpus.py writes seeds in this form;
// bytes past the end read as 0):
//   op        1 byte, index into tessera::named_ops()
//   variant   1 byte: 1 -> "reference", 2 -> an unknown variant, else "" (the registry picks)
//   nparams   1 byte (% 6), then per parameter: key (1 byte, kKeys) and value (1 byte: < 0xF0 ->
//             kValues, else a length byte (% 16) and that many raw bytes)
//   ntensors  1 byte (% 9), then per tensor:
//     name    1 byte, index into the op's input names followed by a few wrong ones
//     dtype   1 byte (% 8, tessera::DType)
//     rank    1 byte (% 5), then one byte per extent: < 0xC0 -> that extent, else kExtents
//             (powers of two to 2^63 - 1, and negatives)
//     fill    1 byte (% 4): 0 raw bytes from the input, 1 one input byte per element mapped to
//             a small finite value (integers: a non-decreasing sequence from 0, as cu_seqlens
//             are), 2 zeros, 3 one input byte repeated
// A tensor of more than kMaxInputElements elements gets its first extent set to 0 instead: an
// empty tensor with huge partners, which the library must refuse or handle itself.
//
// Build and run: `make fuzz` (tools/fuzz.sh); reproduce: build-fuzz/bin/fuzz_krun FILE.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iterator>
#include <limits>
#include <map>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/error.h"
#include "tessera/named_ops.h"

// Empty inputs with huge extents can legitimately ask for huge outputs: an allocation over
// 256 MB returns null, so operator new throws std::bad_alloc (accepted) instead of the process
// touching gigabytes; RSS past -rss_limit_mb (2 GB) is still a finding.
extern "C" const char* __asan_default_options() {
  return "allocator_may_return_null=1:max_allocation_size_mb=256:detect_leaks=1:abort_on_error=1";
}
extern "C" const char* __ubsan_default_options() { return "print_stacktrace=1:halt_on_error=1"; }

namespace {

using namespace tessera;

constexpr int64_t kMaxInputElements = int64_t{1} << 16;
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();

constexpr int64_t kExtents[] = { // 64: one for each byte 0xC0..0xFF
    0, 1, 2, 3, 4, 8, 15, 16, 17, 31, 32, 33, 48, 64, 96, 127,
    128, 129, 192, 255, 256, 257, 384, 512, 1000, 1024, 2048, 4096, 8192, 16384, 32768, 65535,
    65536, 65537, int64_t{1} << 20, int64_t{1} << 24, int64_t{1} << 30, (int64_t{1} << 31) - 1,
    int64_t{1} << 31, int64_t{1} << 32, (int64_t{1} << 32) + 1, int64_t{1} << 40, int64_t{1} << 48,
    int64_t{1} << 52, int64_t{1} << 53, int64_t{1} << 56, int64_t{1} << 60, int64_t{1} << 61,
    (int64_t{1} << 61) + 1, (int64_t{1} << 62) - 1, int64_t{1} << 62, (int64_t{1} << 62) + 1,
    int64_t{3} << 61, kI64Max - 1, kI64Max, -1, -2, -16, -(int64_t{1} << 32), -(int64_t{1} << 62),
    kI64Min + 1, kI64Min, 6, 7};
static_assert(std::size(kExtents) == 64);

constexpr std::string_view kKeys[] = {
    "to", "recipe", "scale_2", "alpha", "out", "b_layout", "scale", "l2norm", "causal", "lse",
    "bogus", "", "OUT"};
constexpr std::string_view kValues[] = {
    "0", "1", "f32", "bf16", "f16", "e4m3", "e5m2", "e2m1", "nvfp4", "nvfp4-4over6", "fp8-tensor",
    "fp8-token128", "fp8-block128", "checkpoint", "gemv_kblock_interleaved", "0.5", "1e-3", "-1",
    "nan", "inf", "-inf", "1e39", "", "2", "0x10", " 1", "1 ", "3.4028235e38", "1e-45", "-0",
    "65536", "f8"};

// Every input name an operation reads, and names no operation reads.
const std::map<std::string_view, std::vector<std::string_view>>& op_inputs() {
  static const std::map<std::string_view, std::vector<std::string_view>> m = {
      {"convert", {"x"}},
      {"quantize_nvfp4", {"x"}},
      {"dequantize_nvfp4", {"x", "x_scale", "x_scale_2"}},
      {"quantize_fp8", {"x"}},
      {"dequantize_fp8", {"x", "x_scale"}},
      {"gemm_nvfp4", {"a", "a_scale", "a_scale_2", "b", "b_scale", "b_scale_2", "bias"}},
      {"gemm_fp8", {"a", "a_scale", "b", "b_scale", "bias"}},
      {"gemm_nvfp4_act", {"x", "a_scale_2", "b", "b_scale", "b_scale_2", "bias"}},
      {"gemm_fp8_act", {"x", "b", "b_scale", "bias"}},
      {"deltanet", {"q", "k", "v", "g", "beta", "a", "b", "A_log", "dt_bias", "h0", "cu_seqlens"}},
      {"conv1d", {"x", "w", "bias", "state"}},
      {"attention", {"q", "k", "v", "gate", "k_scale", "v_scale", "cu_seqlens_q", "cu_seqlens_k"}},
  };
  return m;
}
// For an operation added after this list: every name above.
const std::vector<std::string_view>& all_inputs() {
  static const std::vector<std::string_view> v = [] {
    std::vector<std::string_view> out;
    for (const auto& [op, names] : op_inputs())
      for (auto n : names) out.push_back(n);
    return out;
  }();
  return v;
}
constexpr std::string_view kWrongNames[] = {"y", "", "X", "c"};

class Reader {
public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  uint8_t byte() {
    if (!n_) return 0;
    --n_;
    return *p_++;
  }
  size_t take(void* dst, size_t want) { // copies up to `want` bytes, returns how many
    size_t k = want < n_ ? want : n_;
    if (k) std::memcpy(dst, p_, k);
    p_ += k;
    n_ -= k;
    return k;
  }

private:
  const uint8_t* p_;
  size_t n_;
};

// Half precision bits of v, for the values fill mode 1 makes (k / 8, |k| <= 128): exact.
uint16_t half_bits(float v) {
  uint32_t f;
  std::memcpy(&f, &v, 4);
  const uint16_t sign = static_cast<uint16_t>((f >> 16) & 0x8000);
  if ((f & 0x7FFFFFFF) == 0) return sign;
  const int exp = static_cast<int>((f >> 23) & 0xFF) - 127 + 15;
  const uint32_t mant = f & 0x7FFFFF;
  return static_cast<uint16_t>(sign | (exp << 10) | (mant >> 13));
}

void fill(Tensor& t, Reader& in) {
  const int mode = in.byte() % 4;
  const size_t n = static_cast<size_t>(t.numel()), size = t.nbytes();
  std::byte* d = t.data();
  if (size == 0 || mode == 2) return;
  if (mode == 0) {
    in.take(d, size);
  } else if (mode == 3) {
    std::memset(d, in.byte(), size);
  } else {
    int64_t acc = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint8_t b = in.byte();
      const float v = static_cast<float>(static_cast<int8_t>(b)) / 8.0f;
      switch (t.dtype()) {
      case DType::F32: std::memcpy(d + 4 * i, &v, 4); break;
      case DType::BF16: {
        uint32_t f;
        std::memcpy(&f, &v, 4);
        const auto h = static_cast<uint16_t>(f >> 16);
        std::memcpy(d + 2 * i, &h, 2);
        break;
      }
      case DType::F16: {
        const uint16_t h = half_bits(v);
        std::memcpy(d + 2 * i, &h, 2);
        break;
      }
      case DType::I32: {
        const auto x = static_cast<int32_t>(acc);
        std::memcpy(d + 4 * i, &x, 4);
        acc += b % 8;
        break;
      }
      case DType::I64:
        std::memcpy(d + 8 * i, &acc, 8);
        acc += b % 8;
        break;
      default: d[i] = std::byte{b}; break; // U8, F8_E4M3, F8_E5M2: one byte an element
      }
    }
  }
}

struct Call {
  std::string op;
  RunOptions options;
  ParamMap params;
  TensorMap inputs;
};

// Decodes the input. A shape no tensor may have makes the Tensor constructor throw
// tessera::Error: that is the library's answer as much as run_named_op's.
Call decode(const uint8_t* data, size_t size) {
  Reader in(data, size);
  Call c;
  const auto& ops = named_ops();
  c.op = std::string(ops[in.byte() % ops.size()].name);
  c.options.backend = "cpu";
  switch (in.byte() % 4) {
  case 1: c.options.variant = "reference"; break;
  case 2: c.options.variant = "no_such_variant"; break;
  default: break;
  }

  const int nparams = in.byte() % 6;
  for (int i = 0; i < nparams; ++i) {
    std::string key(kKeys[in.byte() % std::size(kKeys)]);
    const uint8_t v = in.byte();
    std::string value;
    if (v < 0xF0) {
      value = kValues[v % std::size(kValues)];
    } else {
      value.resize(in.byte() % 16);
      value.resize(in.take(value.data(), value.size()));
    }
    c.params[key] = value;
  }

  auto it = op_inputs().find(c.op);
  const std::vector<std::string_view>& names = it != op_inputs().end() ? it->second : all_inputs();
  const int ntensors = in.byte() % 9;
  for (int i = 0; i < ntensors; ++i) {
    const size_t sel = in.byte() % (names.size() + std::size(kWrongNames));
    std::string name(sel < names.size() ? names[sel] : kWrongNames[sel - names.size()]);
    const auto dtype = static_cast<DType>(in.byte() % 8);
    const int rank = in.byte() % 5;
    Shape shape;
    for (int r = 0; r < rank; ++r) {
      const uint8_t b = in.byte();
      shape.push_back(b < 0xC0 ? int64_t{b} : kExtents[b - 0xC0]);
    }
    // Input tensors are kept small so legitimate work stays fast; one over the cap becomes an
    // empty tensor with the same huge partners.
    auto numel = checked_numel(shape);
    if (numel && *numel > kMaxInputElements) shape[0] = 0;
    Tensor t(dtype, shape); // throws tessera::Error for a shape no tensor may have
    fill(t, in);
    c.inputs.insert_or_assign(std::move(name), std::move(t));
  }
  return c;
}

bool same(const TensorMap& a, const TensorMap& b) {
  if (a.size() != b.size()) return false;
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
    if (ia->first != ib->first || ia->second.dtype() != ib->second.dtype() ||
        ia->second.shape() != ib->second.shape() || ia->second.nbytes() != ib->second.nbytes())
      return false;
    if (ia->second.nbytes() && std::memcmp(ia->second.data(), ib->second.data(), ia->second.nbytes()) != 0)
      return false;
  }
  return true;
}

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "fuzz_krun: FINDING: %s\n", what.c_str());
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string op = "(decoding)";
  try {
    Call c = decode(data, size);
    op = c.op;
    RunInfo info;
    TensorMap out = run_named_op(c.op, c.inputs, c.params, c.options, &info);
    if (info.backend != "cpu") finding(op + ": ran on backend '" + info.backend + "', not cpu");
    TensorMap again = run_named_op(c.op, c.inputs, c.params, c.options);
    if (!same(out, again)) finding(op + ": two runs on the same inputs gave different outputs");
  } catch (const Error&) {
  } catch (const std::bad_alloc&) {
  } catch (const std::exception& e) {
    finding(op + ": exception other than tessera::Error: " + e.what());
  } catch (...) {
    finding(op + ": exception of a non-std type");
  }
  return 0;
}
