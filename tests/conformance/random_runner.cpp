// The randomized conformance runner (random.h): draws legal cases for one (device, variant),
// compares each with the CPU reference by the variant's declared class, shrinks a failing case
// and prints its reproducer (seed, case index, the case, a safetensors file and krun lines).
#include "conformance/random.h"

#include <chrono>
#include <filesystem>
#include <set>

#include "reference/formats.h"
#include "tessera/safetensors.h"

namespace tessera::conformance::random {

std::vector<Generator> quant_generators();
std::vector<Generator> gemm_generators();
std::vector<Generator> recurrent_generators();
std::vector<Generator> attention_generators();

const std::vector<Generator>& generators() {
  static const std::vector<Generator> all = [] {
    std::vector<Generator> g;
    for (auto* list :
         {quant_generators, gemm_generators, recurrent_generators, attention_generators})
      for (Generator& x : list())
        g.push_back(std::move(x));
    return g;
  }();
  return all;
}

const Generator* generator_for(std::string_view op) {
  for (const Generator& g : generators())
    if (g.op == op) return &g;
  return nullptr;
}

// Sized so that the whole slice (every variant on PoCL and lavapipe) stays well under a minute
// on two cores; `--cases N` searches longer.
int quick_cases(std::string_view op) {
  if (op == "attention") return 10;
  if (op == "deltanet" || op == "gemm_nvfp4_act" || op == "gemm_fp8_act") return 12;
  if (op == "gemm_nvfp4" || op == "gemm_fp8" || op == "conv1d") return 16;
  return 24;
}

std::string Spec::describe() const {
  std::string r;
  for (const auto& [k, v] : n)
    r += fmt::format("{}{}={}", r.empty() ? "" : " ", k, v);
  for (const auto& [k, v] : s)
    r += fmt::format("{}{}={}", r.empty() ? "" : " ", k, v);
  auto list = [](const std::vector<int64_t>& v) {
    std::string x;
    for (int64_t e : v)
      x += fmt::format("{}{}", x.empty() ? "" : ",", e);
    return "[" + x + "]";
  };
  if (!seqs.empty()) r += " seqs=" + list(seqs);
  if (!seqs_k.empty()) r += " seqs_k=" + list(seqs_k);
  return r + fmt::format(" value_seed={:#x}", seed);
}

DType dtype_of(std::string_view name) {
  if (name == "bf16") return DType::BF16;
  if (name == "f16") return DType::F16;
  if (name == "e4m3") return DType::F8_E4M3;
  return DType::F32;
}

DType out_dtype(const Drawn& d) {
  auto it = d.params.find("out");
  return dtype_of(it == d.params.end() ? "f32" : it->second);
}

float param_float(const Drawn& d, const std::string& key) {
  return std::strtof(d.params.at(key).c_str(), nullptr);
}

std::string float_param(float v) { return fmt::format("{}", v); }

std::vector<Spec> halvings(const Spec& s, const std::vector<std::string>& keys, int64_t minimum,
                           int64_t multiple) {
  std::vector<Spec> out;
  for (const std::string& key : keys) {
    int64_t cur = s[key];
    int64_t half = std::max(minimum, (cur / 2) / multiple * multiple);
    if (half >= cur || half < minimum) continue;
    Spec lower = s;
    lower.n[key] = half;
    out.push_back(lower);
    // With an offset ("rows0" beside "rows"), the upper half too: the failing element may be there.
    if (s.n.count(key + "0")) {
      Spec upper = s;
      upper.n[key] = cur - half;
      upper.n[key + "0"] += half;
      if ((cur - half) % multiple == 0) out.push_back(upper);
    }
  }
  return out;
}

namespace {

struct Verdict {
  bool pass = true;
  std::string why;
  std::vector<double> errors; // bounded: relative L2 per output
};

// The first difference of two outputs of equal dtype and shape, as element index and values.
std::string first_difference(std::string_view name, const Guarded& got, const Guarded& want) {
  auto a = got.payload(), b = want.payload();
  size_t es = dtype_size(want.view.dtype), n = a.size() / es, first = n, count = 0;
  for (size_t i = 0; i < n; ++i)
    if (std::memcmp(a.data() + i * es, b.data() + i * es, es) != 0) {
      if (first == n) first = i;
      ++count;
    }
  if (count == 0) return "";
  std::string bytes_got, bytes_want;
  for (size_t j = 0; j < es; ++j) {
    bytes_got += fmt::format("{:02x}", static_cast<unsigned>(a[first * es + es - 1 - j]));
    bytes_want += fmt::format("{:02x}", static_cast<unsigned>(b[first * es + es - 1 - j]));
  }
  return fmt::format("{} ({} {}): {} of {} elements differ, first at flat index {}: got 0x{} "
                     "({:.9g}), reference 0x{} ({:.9g})",
                     name, dtype_name(want.view.dtype), shape_str(want.view.shape), count, n, first,
                     bytes_got, element(got, first), bytes_want, element(want, first));
}

std::string output_name(const Generator& g, size_t i) {
  return i < g.outputs.size() ? std::string(g.outputs[i]) : fmt::format("output {}", i);
}

// Runs the case on `o`; "" or the error it threw.
std::string run_catching(const Generator& g, const Drawn& d, const RunOptions& o,
                         std::vector<Guarded>& outs) {
  try {
    g.run(d, o, outs);
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

Verdict compare_exact(const Generator& g, const std::vector<Guarded>& got,
                      const std::vector<Guarded>& want) {
  Verdict v;
  if (got.size() != want.size())
    return {false,
            fmt::format("{} outputs on the device, {} on the reference", got.size(), want.size()),
            {}};
  for (size_t i = 0; i < got.size(); ++i) {
    if (!got[i].guards_intact())
      v.why += output_name(g, i) + " written out of bounds; ", v.pass = false;
    std::string diff = first_difference(output_name(g, i), got[i], want[i]);
    if (!diff.empty()) v.why += diff + "; ", v.pass = false;
  }
  return v;
}

Verdict check(const Generator& g, const Drawn& d, const RunOptions& device,
              const dispatch::Conformance& c) {
  const RunOptions reference{"cpu", 0, ""};
  std::vector<Guarded> got, want;
  std::string dev_err = run_catching(g, d, device, got),
              ref_err = run_catching(g, d, reference, want);
  if (!ref_err.empty() && !dev_err.empty())
    return {
        false,
        "both the device and the reference refused the case (the generator drew an illegal one): " +
            ref_err,
        {}};
  if (!dev_err.empty()) return {false, "the device threw (the reference did not): " + dev_err, {}};
  if (!ref_err.empty()) return {false, "the reference threw (the device did not): " + ref_err, {}};
  if (c.exact) return compare_exact(g, got, want);

  // Bounded: the bound on fp32 outputs. A bf16/fp16 output is the host's RN of the device's fp32
  // result (numerics.md), so a narrow case checks the bound in fp32 and then that the narrow
  // output is exactly RN of the device's fp32 one (a bounded fp32 difference may flip a rounding).
  auto out = d.params.find("out");
  const bool narrow = out != d.params.end() && out->second != "f32";
  std::vector<Guarded> got_wide, want_wide;
  if (narrow) {
    Drawn wide = d;
    wide.params["out"] = "f32";
    std::string e1 = run_catching(g, wide, device, got_wide),
                e2 = run_catching(g, wide, reference, want_wide);
    if (!e1.empty() || !e2.empty()) return {false, "the fp32-output run threw: " + e1 + e2, {}};
  }
  const std::vector<Guarded>& a = narrow ? got_wide : got;
  const std::vector<Guarded>& b = narrow ? want_wide : want;
  // Attention and DeltaNet: each element within its mixed bound (numerics.md "Attention error
  // bound", "DeltaNet error bound"), reported as the largest error / bound ratio; other
  // operations: relative L2.
  std::vector<std::vector<double>> bounds;
  if (c.attention()) bounds = attention_bounds(attention_args(d), a.size() > 1, c);
  if (c.deltanet()) bounds = deltanet_bounds(deltanet_args(d), c);
  const bool mixed = c.mixed != core::MixedBound::None;
  Verdict v;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (!got[i].guards_intact() || !a[i].guards_intact())
      v.why += output_name(g, i) + " written out of bounds; ", v.pass = false;
    double e = mixed ? (i < bounds.size() ? bound_ratio(a[i], b[i], bounds[i]) : INFINITY)
                     : rel_l2(a[i], b[i]);
    v.errors.push_back(e);
    if (!(e <= c.bound))
      v.why += mixed ? fmt::format("{}: error {:.3g} times its bound exceeds {:g}; ",
                                         output_name(g, i), e, c.bound)
                           : fmt::format("{}: relative L2 error {:.3g} exceeds the declared bound {:g}; ",
                                         output_name(g, i), e, c.bound),
          v.pass = false;
  }
  if (narrow) {
    const DType t = dtype_of(out->second);
    for (size_t i = 0; i < got.size() && i < got_wide.size(); ++i) {
      if (got[i].view.dtype == DType::F32) {
        std::string diff = first_difference(output_name(g, i), got[i], got_wide[i]);
        if (!diff.empty()) v.why += "depends on the output dtype: " + diff + "; ", v.pass = false;
        continue;
      }
      int64_t n = shape_numel(got[i].view.shape), bad = 0, first = -1;
      const float* w = reinterpret_cast<const float*>(got_wide[i].view.data);
      const uint16_t* h = reinterpret_cast<const uint16_t*>(got[i].view.data);
      for (int64_t j = 0; j < n; ++j)
        if (h[j] != (t == DType::BF16 ? ref::f32_to_bf16(w[j]) : ref::f32_to_f16(w[j])))
          bad++, first = first < 0 ? j : first;
      if (bad)
        v.why += fmt::format(
            "{}: {} of {} {} outputs are not RN of the device's fp32 result (first at {}); ",
            output_name(g, i), bad, n, out->second, first),
            v.pass = false;
    }
  }
  return v;
}

bool accepted(const Generator& g, const dispatch::DeviceRef& d, const dispatch::Variant& v,
              const Spec& s, std::string* why) {
  const RunOptions o{d.backend, d.index, std::string(v.name)};
  dispatch::Problem p{v.op, g.dims(s)};
  for (const auto& verdict : dispatch::explain(v.op, d, p, o))
    if (verdict.variant == &v) {
      if (why) *why = verdict.reason;
      return verdict.accepted;
    }
  if (why) *why = "the registry gave no verdict on this variant";
  return false;
}

std::string shell_quote(const std::string& s) {
  if (s.find_first_of(" '\"$*?[]{}()<>|&;\\") == std::string::npos) return s;
  std::string r = "'";
  for (char ch : s)
    r += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return r + "'";
}

// Writes the case's inputs and returns the krun lines that replay it on the device and on the
// reference.
std::string reproducer(const Drawn& d, const dispatch::DeviceRef& dev, const dispatch::Variant& v,
                       const std::string& stem) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(TESSERA_TEST_TMP) / "random_conformance";
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::path file = dir / (stem + ".safetensors");
  try {
    safetensors::save(file.string(), d.inputs);
  } catch (const std::exception& e) {
    return fmt::format("    (could not write {}: {})\n", file.string(), e.what());
  }
  std::string params;
  for (const auto& [k, val] : d.params)
    params += " --param " + shell_quote(k + "=" + val);
  fs::path out_dir = dir / stem;
  return fmt::format("    inputs: {}\n    device:    {} {} --in {} --out {} --backend {} --device "
                     "{} --variant {}{}\n"
                     "    reference: {} {} --in {} --out {} --backend cpu{}\n",
                     file.string(), TESSERA_KRUN, v.op, file.string(),
                     (out_dir.string() + "_device.safetensors"), dev.backend, dev.index, v.name,
                     params, TESSERA_KRUN, v.op, file.string(),
                     (out_dir.string() + "_reference.safetensors"), params);
}

} // namespace

void run_variant(const dispatch::DeviceRef& d, const dispatch::Variant& v, const Config& config) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  const Generator* g = generator_for(v.op);
  ASSERT_NE(g, nullptr) << "no random generator for operation " << v.op;
  const RunOptions device{d.backend, d.index, std::string(v.name)};
  const int cases = config.cases > 0 ? config.cases : quick_cases(v.op);
  const std::string filter =
      fmt::format("--gtest_filter='Random_{}{}_{}_{}.*'", d.backend, d.index, v.op, v.name);

  int ran = 0, failed = 0, shrunk_reported = 0;
  std::map<std::string, int> skipped; // registry reason -> count
  std::vector<double> worst;          // bounded: largest relative L2 (or error / bound) per output
  std::vector<int> worst_case;
  for (int index = config.first_case; index < cases; ++index) {
    if (config.only_case >= 0 && index != config.only_case) continue;
    // The case depends on (seed, op, variant name, index) only: the same cases on every device.
    Rng rng(mix(config.seed) ^ hash_str(v.op) ^
            mix(hash_str(v.name) + static_cast<uint64_t>(index)));
    Spec spec;
    std::string why;
    bool ok = false;
    for (int attempt = 0; attempt < 64 && !ok; ++attempt) {
      spec = g->draw(rng, config.size);
      ok = accepted(*g, d, v, spec, &why);
    }
    if (!ok) {
      skipped[why]++;
      continue;
    }
    ++ran;
    const auto case_start = clock::now();
    const Drawn drawn = g->build(spec);
    Verdict verdict = check(*g, drawn, device, v.conformance);
    if (config.verbose) {
      std::string errs;
      for (size_t i = 0; i < verdict.errors.size(); ++i)
        errs += fmt::format(" {} {:.3g}", output_name(*g, i), verdict.errors[i]);
      std::fputs(fmt::format("  case {} {} {:.3f} s{}: {}\n", index, verdict.pass ? "ok" : "FAILED",
                             std::chrono::duration<double>(clock::now() - case_start).count(), errs,
                             spec.describe())
                     .c_str(),
                 stderr);
    }
    for (size_t i = 0; i < verdict.errors.size(); ++i) {
      if (worst.size() <= i) worst.push_back(-1.0), worst_case.push_back(-1);
      if (verdict.errors[i] > worst[i]) worst[i] = verdict.errors[i], worst_case[i] = index;
    }
    if (verdict.pass) continue;
    ++failed;
    if (failed >
        10) { // past ten, one line each: a long search that finds a systematic error stays readable
      ADD_FAILURE() << fmt::format(
          "randomized conformance FAILED: {} {} variant {}: seed {} case {}: {}\n  {}", d.label(),
          v.op, v.name, config.seed, index, spec.describe(), verdict.why);
      continue;
    }
    std::string stem = fmt::format("{}_{}{}_{}_seed{}_case{}", v.op, d.backend, d.index, v.name,
                                   config.seed, index);
    std::string msg = fmt::format(
        "randomized conformance FAILED: {} {} variant {} [{}]\n  seed {} case {}: {}\n  {}\n  "
        "replay: {} --seed {} --op {} --case {} --size {} {}\n{}",
        d.label(), v.op, v.name, v.conformance.describe(), config.seed, index, spec.describe(),
        verdict.why, config.program, config.seed, v.op, index,
        config.size == Size::Quick ? "quick" : "long", filter, reproducer(drawn, d, v, stem));
    // Shrinking: smaller extents while the case still fails (the first few failures only).
    if (config.shrink && shrunk_reported < 2) {
      ++shrunk_reported;
      Spec cur = spec;
      std::string cur_why = verdict.why;
      int evals = 0;
      const auto shrink_start = clock::now();
      for (bool progress = true; progress && evals < 120;) {
        progress = false;
        for (const Spec& c : g->smaller(cur)) {
          if (evals >= 120 || clock::now() - shrink_start > std::chrono::seconds(120)) break;
          if (!accepted(*g, d, v, c, nullptr)) continue;
          ++evals;
          Verdict r = check(*g, g->build(c), device, v.conformance);
          if (!r.pass) {
            cur = c, cur_why = r.why, progress = true;
            break;
          }
        }
      }
      if (cur.describe() != spec.describe())
        msg += fmt::format("  shrunk ({} tries) to: {}\n  {}\n{}", evals, cur.describe(), cur_why,
                           reproducer(g->build(cur), d, v, stem + "_shrunk"));
      else
        msg += fmt::format("  no smaller case fails ({} tries)\n", evals);
    }
    ADD_FAILURE() << msg;
  }
  const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
  std::string summary =
      fmt::format("random {} {} {} [{}] seed {}: {} cases run, {} failed", d.label(), v.op, v.name,
                  v.conformance.describe(), config.seed, ran, failed);
  for (size_t i = 0; i < worst.size(); ++i)
    summary += fmt::format("; worst {} {} {:.3g} (case {})", output_name(*g, i),
                           v.conformance.mixed != core::MixedBound::None ? "error/bound" : "rel L2",
                           worst[i], worst_case[i]);
  // Unsupported draws by reason, the three commonest (reasons name the extent, so they vary).
  std::vector<std::pair<int, std::string>> reasons;
  int unsupported = 0;
  for (const auto& [why, count] : skipped)
    reasons.emplace_back(count, why), unsupported += count;
  std::sort(reasons.begin(), reasons.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  if (unsupported)
    summary += fmt::format("; {} not drawn (the registry refused every try), e.g.", unsupported);
  for (size_t i = 0; i < reasons.size() && i < 3; ++i)
    summary += fmt::format(" [{} x: {}]", reasons[i].first, reasons[i].second);
  summary += fmt::format("; {:.1f} s\n", seconds);
  std::fputs(summary.c_str(), stderr);
  if (ran == 0 && !reasons.empty()) GTEST_SKIP() << "unsupported: " << reasons.front().second;
}

} // namespace tessera::conformance::random
