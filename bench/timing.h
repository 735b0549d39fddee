// How kbench times one case: warm-up first, then samples until they agree (relative standard
// deviation at most max_noise_pct, with at least min_samples) or the case's time is up. Each
// sample is the device's own time of the kernels when the backend measures it (OpenCL events,
// Vulkan timestamps), else the wall clock. The statistics and the stopping rule are pure
// functions so that they can be tested on their own.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace tessera::bench {

struct TimingConfig {
  int min_samples = 3;
  double max_noise_pct = 5.0;
  double max_time_s = 2.0;    // per case, after the warm-up; at least one sample is always taken
  int max_samples = 1000;     // a bound for ops so fast that the time limit would allow millions
  double min_sample_s = 1e-3; // runs this short are batched so one sample lasts at least this
};

enum class Clock { Wall, Device };
const char* clock_name(Clock c); // "wall", "device"

struct TimingResult {
  double median_ms = 0;
  double noise_pct = 0; // NaN with fewer than two samples: no spread can be measured
  int samples = 0;
  int runs_per_sample = 1;
  bool converged = false; // the noise bound was met (false: stopped by time or sample limit)
  Clock clock = Clock::Wall;
  double wall_median_ms = 0; // the whole call by the wall clock, whichever clock the samples use
};

// The median of `v` (the mean of the two middle values for an even count); NaN when empty.
double median(std::vector<double> v);
// Sample standard deviation over the mean, in percent; NaN with fewer than two values.
double noise_pct(const std::vector<double>& v);
// Whether `samples` meet the noise target: at least min_samples (and two), noise <= the bound.
bool converged(const std::vector<double>& samples, const TimingConfig& cfg);
// Whether sampling stops after `samples` (the times so far) with `elapsed_s` spent on the case.
bool should_stop(const std::vector<double>& samples, double elapsed_s, const TimingConfig& cfg);
// Back-to-back runs per sample so that one sample lasts about cfg.min_sample_s, from the time
// one run took: fast operations are otherwise below what one clock read can resolve well.
int runs_per_sample(double one_run_s, const TimingConfig& cfg);

// Input sets to rotate through so that together they exceed `rotation_bytes` (more than the
// last-level cache), at most kMaxInputSets. Only the first few are generated: the rest are
// copies, which evict each other from a cache as well as fresh data would.
constexpr int kMaxInputSets = 256;
constexpr int kDistinctInputSets = 4;
int input_sets_for(double set_bytes, double rotation_bytes);
// Twice the largest CPU cache sysfs reports, and at least 64 MiB.
double rotation_bytes();

// Times `run(set)` with `sets` input sets, used in turn. `run` returns the device time of that
// run in ms, or a value <= 0 when nothing measured it or not yet (a call left queued on the
// device). `finish`, when given, is called at the end of the warm-up and of every sample, inside
// the sample's wall time: it waits for the queued runs and returns their device time (ms, <= 0:
// none), so that a wall sample measures finished work and a queued run still has a device time.
// One warm-up run comes first and is not counted (program builds, lazy initialisation, first
// touch of memory); a second one when the first was short, since the first is then mostly what
// warming up removes. The warm-up picks the clock: the device's when it reported a positive
// time, else the wall clock. With a `finish`, one untimed sample of the chosen size follows, so
// that the backend's pools hold a whole sample's queued calls before the timed ones.
TimingResult measure(const std::function<double(int set)>& run, int sets, const TimingConfig& cfg,
                     const std::function<double()>& finish = {});

} // namespace tessera::bench
