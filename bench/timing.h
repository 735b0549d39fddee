// How kbench times one case: warm-up first, then samples until they agree (relative standard
// deviation at most max_noise_pct, with at least min_samples) or the case's time is up. The
// statistics and the stopping rule are pure functions so that they can be tested on their own.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace tessera::bench {

struct TimingConfig {
  int min_samples = 3;
  double max_noise_pct = 5.0;
  double max_time_s = 2.0;     // per case, after the warm-up; at least one sample is always taken
  int max_samples = 1000;      // a bound for ops so fast that the time limit would allow millions
  double min_sample_s = 1e-3;  // runs this short are batched so one sample lasts at least this
};

struct TimingResult {
  double median_ms = 0;
  double noise_pct = 0; // NaN with fewer than two samples: no spread can be measured
  int samples = 0;
  int runs_per_sample = 1;
  bool converged = false; // the noise bound was met (false: stopped by time or sample limit)
};

// The median of `v` (the mean of the two middle values for an even count); NaN when empty.
double median(std::vector<double> v);
// Sample standard deviation over the mean, in percent; NaN with fewer than two values.
double noise_pct(const std::vector<double>& v);
// Whether sampling stops after `samples` (the times so far) with `elapsed_s` spent on the case.
bool should_stop(const std::vector<double>& samples, double elapsed_s, const TimingConfig& cfg);
// Back-to-back runs per sample so that one sample lasts about cfg.min_sample_s, from the time
// one run took: fast operations are otherwise below what one clock read can resolve well.
int runs_per_sample(double one_run_s, const TimingConfig& cfg);

// Input sets to rotate through: enough that together they exceed 64 MiB (more than the
// last-level caches this bench meets), at most kMaxInputSets so generating them stays cheap.
constexpr int kMaxInputSets = 8;
constexpr double kRotationBytes = 64.0 * 1024 * 1024;
int input_sets_for(double set_bytes);

// Times `run(set)` with `sets` input sets, used in turn, by the wall clock (steady_clock): the
// right clock for the synchronous CPU reference. One warm-up run comes first and is not counted
// (lazy initialisation, the allocator's first growth); it also sizes runs_per_sample.
TimingResult measure(const std::function<void(int set)>& run, int sets, const TimingConfig& cfg);

} // namespace tessera::bench
