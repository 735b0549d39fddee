#include "bench/timing.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace tessera::bench {

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  double hi = v[mid];
  if (v.size() % 2) return hi;
  double lo = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lo + hi) / 2;
}

double noise_pct(const std::vector<double>& v) {
  if (v.size() < 2) return NAN;
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  // n - 1: with the handful of samples a slow case gets, the biased estimate would flatter it.
  double sd = std::sqrt(ss / static_cast<double>(v.size() - 1));
  return mean > 0 ? 100.0 * sd / mean : NAN;
}

bool should_stop(const std::vector<double>& samples, double elapsed_s, const TimingConfig& cfg) {
  if (samples.empty()) return false;
  if (static_cast<int>(samples.size()) >= cfg.max_samples) return true;
  // The time limit wins over min_samples: a prefill shape on the reference can take minutes per
  // run, and the row says how many samples it got.
  if (elapsed_s >= cfg.max_time_s) return true;
  if (static_cast<int>(samples.size()) < std::max(cfg.min_samples, 2)) return false;
  double n = noise_pct(samples);
  return !std::isnan(n) && n <= cfg.max_noise_pct;
}

int runs_per_sample(double one_run_s, const TimingConfig& cfg) {
  if (!(one_run_s > 0) || one_run_s >= cfg.min_sample_s) return 1;
  return static_cast<int>(std::min(1000.0, std::ceil(cfg.min_sample_s / one_run_s)));
}

int input_sets_for(double set_bytes) {
  if (!(set_bytes > 0)) return 1;
  double need = std::ceil(kRotationBytes / set_bytes);
  return static_cast<int>(std::clamp(need, 1.0, static_cast<double>(kMaxInputSets)));
}

TimingResult measure(const std::function<void(int set)>& run, int sets, const TimingConfig& cfg) {
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::duration d) { return std::chrono::duration<double>(d).count(); };
  sets = std::max(sets, 1);

  auto t0 = clock::now();
  run(0);
  double one_run = seconds(clock::now() - t0);
  // A short warm-up is dominated by what warming up removes, so it would undercount the runs a
  // sample needs: time one more (also uncounted) run and size the batch from the faster one.
  if (one_run < cfg.min_sample_s) {
    auto t1 = clock::now();
    run(0);
    one_run = std::min(one_run, seconds(clock::now() - t1));
  }
  TimingResult r;
  r.runs_per_sample = runs_per_sample(one_run, cfg);

  // Start on the set after the warm-up's, so the first sample does not find its inputs in cache.
  int next = sets > 1 ? 1 : 0;
  std::vector<double> samples_ms;
  auto start = clock::now();
  do {
    auto s0 = clock::now();
    for (int i = 0; i < r.runs_per_sample; ++i) {
      run(next);
      next = (next + 1) % sets;
    }
    samples_ms.push_back(1e3 * seconds(clock::now() - s0) / r.runs_per_sample);
  } while (!should_stop(samples_ms, seconds(clock::now() - start), cfg));

  r.median_ms = median(samples_ms);
  r.noise_pct = noise_pct(samples_ms);
  r.samples = static_cast<int>(samples_ms.size());
  r.converged = static_cast<int>(samples_ms.size()) >= cfg.min_samples && !std::isnan(r.noise_pct) &&
                r.noise_pct <= cfg.max_noise_pct;
  return r;
}

} // namespace tessera::bench
