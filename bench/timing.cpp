#include "bench/timing.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

namespace tessera::bench {

const char* clock_name(Clock c) { return c == Clock::Device ? "device" : "wall"; }

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
  for (double x : v)
    mean += x;
  mean /= static_cast<double>(v.size());
  double ss = 0;
  for (double x : v)
    ss += (x - mean) * (x - mean);
  // n - 1: with the handful of samples a slow case gets, the biased estimate would flatter it.
  double sd = std::sqrt(ss / static_cast<double>(v.size() - 1));
  return mean > 0 ? 100.0 * sd / mean : NAN;
}

bool converged(const std::vector<double>& samples, const TimingConfig& cfg) {
  if (static_cast<int>(samples.size()) < std::max(cfg.min_samples, 2)) return false;
  double n = noise_pct(samples);
  return !std::isnan(n) && n <= cfg.max_noise_pct;
}

bool should_stop(const std::vector<double>& samples, double elapsed_s, const TimingConfig& cfg) {
  if (samples.empty()) return false;
  if (static_cast<int>(samples.size()) >= cfg.max_samples) return true;
  // The time limit wins over min_samples: a prefill shape on the reference can take minutes per
  // run, and the row says how many samples it got and that it did not converge.
  if (elapsed_s >= cfg.max_time_s) return true;
  return converged(samples, cfg);
}

int runs_per_sample(double one_run_s, const TimingConfig& cfg) {
  if (!(one_run_s > 0) || one_run_s >= cfg.min_sample_s) return 1;
  return static_cast<int>(std::min(1000.0, std::ceil(cfg.min_sample_s / one_run_s)));
}

int input_sets_for(double set_bytes, double rotation_bytes) {
  if (!(set_bytes > 0)) return 1;
  double need = std::ceil(rotation_bytes / set_bytes);
  return static_cast<int>(std::clamp(need, 1.0, static_cast<double>(kMaxInputSets)));
}

double rotation_bytes() {
  static const double bytes = [] {
    // sysfs writes sizes as "32768K"; a machine without it gets the 64 MiB floor.
    double largest = 0;
    std::error_code ec;
    for (const auto& e :
         std::filesystem::directory_iterator("/sys/devices/system/cpu/cpu0/cache", ec)) {
      std::ifstream f(e.path() / "size");
      std::string s;
      if (!(f >> s) || s.empty()) continue;
      double scale = s.back() == 'K' ? 1024.0 : s.back() == 'M' ? 1024.0 * 1024 : 1.0;
      try {
        largest = std::max(largest, std::stod(s) * scale);
      } catch (const std::exception&) {
      }
    }
    return std::max(64.0 * 1024 * 1024, 2 * largest);
  }();
  return bytes;
}

TimingResult measure(const std::function<double(int set)>& run, int sets, const TimingConfig& cfg,
                     const std::function<double()>& finish) {
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::duration d) { return std::chrono::duration<double>(d).count(); };
  sets = std::max(sets, 1);

  // `n` runs from set `next` on, then the finish: the device time of them all, or a value <= 0
  // when one of them has none (not reported by its run, nor by the finish of a queued one).
  int next = 0;
  auto runs = [&](int n) {
    double reported = 0;
    int unreported = 0;
    for (int i = 0; i < n; ++i) {
      double d = run(next);
      if (d > 0)
        reported += d;
      else
        ++unreported;
      next = (next + 1) % sets;
    }
    const double queued = finish ? finish() : 0;
    if (unreported > 0 && !(queued > 0)) return -1.0;
    return reported + std::max(queued, 0.0);
  };

  auto t0 = clock::now();
  double warm_device = runs(1);
  double one_run = seconds(clock::now() - t0);
  if (one_run < cfg.min_sample_s) {
    next = 0;
    auto t1 = clock::now();
    warm_device = runs(1);
    one_run = std::min(one_run, seconds(clock::now() - t1));
  }
  TimingResult r;
  r.runs_per_sample = runs_per_sample(one_run, cfg);
  r.clock = warm_device > 0 ? Clock::Device : Clock::Wall;

  // Where the calls queue until the finish (resident rows), a sample holds runs_per_sample calls'
  // buffers at once, which the warm-up's one call did not: one untimed sample lets the backend's
  // pools reach that depth, so the samples show the steady state (no allocation per call).
  if (finish && r.runs_per_sample > 1) runs(r.runs_per_sample);
  // Start on the set after the warm-up's, so the first sample does not find its inputs in cache.
  next = sets > 1 ? 1 : 0;
  std::vector<double> wall_ms, device_ms;
  bool device_ok = r.clock == Clock::Device;
  auto start = clock::now();
  do {
    auto s0 = clock::now();
    const double dev = runs(r.runs_per_sample);
    wall_ms.push_back(1e3 * seconds(clock::now() - s0) / r.runs_per_sample);
    // One run the device did not time spoils the device series: mixing clocks would make the
    // median and the noise meaningless, so the case falls back to the wall clock.
    if (!(dev > 0)) device_ok = false;
    device_ms.push_back(dev / r.runs_per_sample);
  } while (!should_stop(device_ok ? device_ms : wall_ms, seconds(clock::now() - start), cfg));

  if (!device_ok) r.clock = Clock::Wall;
  const std::vector<double>& used = r.clock == Clock::Device ? device_ms : wall_ms;
  r.median_ms = median(used);
  r.noise_pct = noise_pct(used);
  r.samples = static_cast<int>(used.size());
  r.converged = converged(used, cfg);
  r.wall_median_ms = median(wall_ms);
  return r;
}

} // namespace tessera::bench
