#include "bench/runner.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>

#include <fmt/format.h>

#include "bench/baselines/baselines.h"
#include "bench/resident.h"
#include "dispatch/registry.h"
#include "tessera/context.h"
#include "tessera/error.h"

namespace tessera::bench {

DeviceFilter parse_device_filter(const std::string& text) {
  DeviceFilter f;
  std::string index = text;
  if (size_t colon = text.find(':'); colon != std::string::npos) {
    f.backend = text.substr(0, colon);
    index = text.substr(colon + 1);
    if (f.backend != "cpu" && f.backend != "opencl" && f.backend != "vulkan")
      throw AxisError(
          fmt::format("--device {}: unknown backend '{}' (cpu, opencl, vulkan)", text, f.backend));
  }
  char* end = nullptr;
  long v = std::strtol(index.c_str(), &end, 10);
  if (index.empty() || !std::isdigit(static_cast<unsigned char>(index[0])) || *end != '\0' ||
      v > 1 << 20)
    throw AxisError(fmt::format("--device {}: expected N or BACKEND:N", text));
  f.index = static_cast<int>(v);
  return f;
}

std::vector<std::string> variants_of(std::string_view op, std::string_view backend) {
  std::vector<std::string> v;
  for (const auto& r : dispatch::variants())
    if (r.op == op && r.backend == backend && std::find(v.begin(), v.end(), r.name) == v.end())
      v.emplace_back(r.name);
  return v;
}

namespace {

using SteadyClock = std::chrono::steady_clock;

struct Planned {
  const dispatch::DeviceRef* device;
  RunOptions options;
};

bool selected(const dispatch::DeviceRef& d, const std::vector<DeviceFilter>& filters) {
  if (filters.empty()) return true;
  for (const DeviceFilter& f : filters)
    if ((f.backend.empty() || f.backend == d.backend) && f.index == d.index) return true;
  return false;
}

// The input sets a case rotates through (timing.h): a few generated, the rest copies.
std::vector<BenchInputs> make_sets(const Case& c) {
  const uint32_t seed =
      static_cast<uint32_t>(std::hash<std::string>{}(c.op->name + " " + c.shape.str()));
  std::vector<BenchInputs> sets;
  sets.push_back(c.op->make(c.shape, seed));
  double bytes = 0;
  for (const auto& [name, t] : sets[0].tensors)
    bytes += static_cast<double>(t.nbytes());
  const int n = input_sets_for(bytes, rotation_bytes());
  for (int i = 1; i < n; ++i)
    sets.push_back(i < kDistinctInputSets ? c.op->make(c.shape, seed + static_cast<uint32_t>(i))
                                          : sets[static_cast<size_t>(i % kDistinctInputSets)]);
  return sets;
}

// A case's calls timed, and what they moved.
struct Timed {
  TimingResult timing;
  RunInfo info; // the last call's: what ran
  DeviceTraffic per_call; // in the last sample, after the warm-up
};

// Times `call(set)` with measure(), ending each sample with ctx.sync(): a wall sample then
// measures finished work, and calls left queued get their device time from it. The traffic
// of a sample is its calls' (RunInfo::traffic) and what the sync read back (Context::traffic).
Timed time_calls(const std::function<RunInfo(int set)>& call, int sets, const Context& ctx,
                 const TimingConfig& cfg) {
  Timed out;
  DeviceTraffic sum;
  int64_t calls = 0;
  auto add = [&](const DeviceTraffic& t) {
    sum.allocations += t.allocations;
    sum.bytes_to_device += t.bytes_to_device;
    sum.bytes_from_device += t.bytes_from_device;
  };
  auto run = [&](int set) {
    out.info = call(set);
    add(out.info.traffic);
    ++calls;
    return out.info.device_ms;
  };
  auto finish = [&] {
    const DeviceTraffic before = ctx.traffic();
    const QueueInfo queued = ctx.sync();
    const DeviceTraffic after = ctx.traffic();
    add({after.allocations - before.allocations, after.bytes_to_device - before.bytes_to_device,
         after.bytes_from_device - before.bytes_from_device});
    // Rounded up: a sample that moved a few bytes in a thousand calls does not read as none.
    auto per_call = [&](int64_t x) { return calls > 0 ? (x + calls - 1) / calls : x; };
    out.per_call = {per_call(sum.allocations), per_call(sum.bytes_to_device),
                    per_call(sum.bytes_from_device)};
    sum = {};
    calls = 0;
    return queued.device_ms;
  };
  out.timing = measure(run, sets, cfg, finish);
  return out;
}

// The calls through the by-name API on host tensors: each one uploads its inputs and downloads
// its outputs on a device (the CPU reference reads them where they are).
Timed time_on_host(const Case& c, const std::vector<BenchInputs>& sets, const RunOptions& ro,
                   const TimingConfig& cfg) {
  return time_calls(
      [&](int s) {
        RunInfo info;
        run_named_op(c.op->name, sets[static_cast<size_t>(s)].tensors,
                     sets[static_cast<size_t>(s)].params, ro, &info);
        return info;
      },
      static_cast<int>(sets.size()), Context::open(ro.backend, ro.device), cfg);
}

// The same calls on device buffers: every input set uploaded and the outputs allocated once,
// before the timing, so that the calls move nothing.
Timed time_resident(const Case& c, const std::vector<BenchInputs>& sets, const RunOptions& ro,
                    const TimingConfig& cfg) {
  const Context ctx = Context::open(ro.backend, ro.device);
  // One call on host tensors says what the outputs are (names, dtypes, shapes).
  const TensorMap outputs = run_named_op(c.op->name, sets[0].tensors, sets[0].params, ro);
  const ResidentSets rs = make_resident(ctx, sets, outputs);
  return time_calls(
      [&](int s) {
        RunInfo info;
        run_named_op(c.op->name, rs.inputs[static_cast<size_t>(s)],
                     sets[static_cast<size_t>(s)].params, rs.outputs, ro, &info);
        return info;
      },
      static_cast<int>(rs.inputs.size()), ctx, cfg);
}

Row make_row(const Case& c, const Timed& timed, bool resident) {
  const RunInfo& info = timed.info;
  const TimingResult& t = timed.timing;
  Row r;
  r.op = c.op->name;
  r.variant = info.variant;
  r.backend = info.backend;
  r.device = info.device;
  r.shape = c.shape.dims();
  r.median_ms = t.median_ms;
  r.noise_pct = t.noise_pct;
  r.samples = t.samples;
  r.noisy = !t.converged;
  r.clock = t.clock;
  r.resident = resident;
  r.wall_ms = t.wall_median_ms;
  r.traffic = timed.per_call;
  const double seconds = t.median_ms / 1e3;
  if (seconds > 0) {
    if (auto f = c.op->flops(c.shape)) r.gflops = *f / seconds / 1e9;
    r.gbps = c.op->min_bytes(c.shape) / seconds / 1e9;
  }
  return r;
}

} // namespace

RunOutput run_cases(const std::vector<Case>& cases, const RunnerConfig& cfg,
                    const RunnerHooks& hooks) {
  RunOutput out;
  std::set<std::string> said;
  auto note = [&](const std::string& m) {
    if (said.insert(m).second && hooks.note) hooks.note(m);
  };
  Baselines baselines(cfg.baselines, note);
  const bool want_reference = baselines.wants("reference");

  // Everything that will run, asked of the registry before any input is made, so that the
  // progress bar knows the total and refusals are said before the first timing.
  std::vector<std::vector<Planned>> plans(cases.size());
  std::vector<bool> reference_only(cases.size(), false);
  size_t total = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string& op = cases[i].op->name;
    bool any_variant = cfg.variants.empty();
    for (const std::string& b : cfg.backends) {
      if (!dispatch::backend_built(b)) {
        note(fmt::format("backend '{}' is not built; skipping it", b));
        continue;
      }
      std::vector<std::string> names = variants_of(op, b);
      if (!cfg.variants.empty())
        std::erase_if(names, [&](const std::string& v) {
          return std::find(cfg.variants.begin(), cfg.variants.end(), v) == cfg.variants.end();
        });
      any_variant = any_variant || !names.empty();
      for (const dispatch::DeviceRef& d : dispatch::devices()) {
        if (d.backend != b || !selected(d, cfg.devices)) continue;
        for (const std::string& v : names) {
          RunOptions ro{b, d.index, v};
          try {
            dispatch::select(op, ro);
            plans[i].push_back({&d, ro});
          } catch (const Error& e) {
            note(fmt::format("not run: {}", e.what()));
          }
        }
      }
    }
    if (!any_variant)
      note(fmt::format("{} has no variant named {}", op, fmt::join(cfg.variants, " or ")));
    // The reference row, when there is one, is measured first and doubles as the baseline.
    std::stable_sort(plans[i].begin(), plans[i].end(), [](const Planned& a, const Planned& b) {
      return a.device->backend == "cpu" && b.device->backend != "cpu";
    });
    const bool has_cpu = !plans[i].empty() && plans[i].front().device->backend == "cpu";
    reference_only[i] = want_reference && !has_cpu && !plans[i].empty();
    total += plans[i].size() + (reference_only[i] ? 1 : 0);
  }

  const auto started = SteadyClock::now();
  size_t done = 0;
  auto progress = [&](const std::string& what) {
    if (hooks.progress)
      hooks.progress(
          {done, total, std::chrono::duration<double>(SteadyClock::now() - started).count(), what});
  };

  for (size_t i = 0; i < cases.size(); ++i) {
    if (plans[i].empty()) continue;
    const Case& c = cases[i];
    const std::string what = c.op->name + " " + c.shape.str();
    progress(what + ": making inputs");
    std::vector<BenchInputs> sets;
    try {
      sets = make_sets(c);
    } catch (const std::exception& e) {
      note(fmt::format("{}: making inputs failed: {}", what, e.what()));
      ++out.failures;
      done += plans[i].size() + (reference_only[i] ? 1 : 0);
      continue;
    }

    // `timer` on `ro`, or nullopt with a note when it cannot run there.
    using Timer = Timed (*)(const Case&, const std::vector<BenchInputs>&, const RunOptions&,
                            const TimingConfig&);
    auto time_one = [&](Timer timer, const RunOptions& ro) -> std::optional<Timed> {
      try {
        return timer(c, sets, ro, cfg.timing);
      } catch (const Error& e) {
        if (e.code() == ErrorCode::Unsupported) {
          note(fmt::format("not run: {}", e.what()));
        } else {
          note(fmt::format("{} failed on {} {}: {}", what, ro.backend, ro.variant, e.what()));
          ++out.failures;
        }
      } catch (const std::bad_alloc&) {
        note(fmt::format("{} on {} {}: out of memory", what, ro.backend, ro.variant));
        ++out.failures;
      }
      return std::nullopt;
    };

    std::optional<TimingResult> reference;
    std::string reference_device;
    if (reference_only[i]) {
      progress(what + " on the CPU reference (baseline)");
      if (std::optional<Timed> t = time_one(time_on_host, {"cpu", 0, "reference"})) {
        reference = t->timing;
        reference_device = t->info.device;
      }
      ++done;
    }
    for (const Planned& p : plans[i]) {
      progress(fmt::format("{} on {} {}", what, p.device->label(), p.options.variant));
      // The CPU reference's memory is the host's: its row is the by-name call as it is.
      const bool on_device = p.device->backend != "cpu";
      std::optional<Timed> t = time_one(on_device ? time_resident : time_on_host, p.options);
      ++done;
      if (!t) continue;
      Row r = make_row(c, *t, on_device);
      if (on_device && cfg.transfers) {
        progress(fmt::format("{} on {} {} (transfers)", what, p.device->label(), p.options.variant));
        if (std::optional<Timed> h = time_one(time_on_host, p.options)) {
          const TimingResult& ht = h->timing;
          r.transfers = Transfers{ht.clock == Clock::Device ? std::optional<double>(ht.median_ms)
                                                            : std::nullopt,
                                  ht.wall_median_ms, h->per_call};
        }
      }
      if (!on_device) {
        reference = t->timing;
        reference_device = t->info.device;
      } else if (want_reference && reference) {
        r.baselines["reference"] = {reference->median_ms, reference->median_ms / r.median_ms,
                                    reference->noise_pct, reference_device, !reference->converged};
      }
      if (c.op->gemm)
        if (std::optional<GemmDims> g = c.op->gemm(c.shape)) {
          progress(what + ": GEMM baselines");
          for (auto& [name, b] : baselines.gemm(*p.device, *g, cfg.timing)) {
            b.speedup = b.median_ms / r.median_ms;
            r.baselines[name] = b;
          }
        }
      out.peaks[r.device] = DevicePeaks{p.device->caps.peak_gbps, p.device->caps.peak_fp32_gflops};
      r.peak_pct = peak_percent(r.gflops, r.gbps, out.peaks[r.device]);
      out.rows.push_back(std::move(r));
    }
  }
  return out;
}

} // namespace tessera::bench
