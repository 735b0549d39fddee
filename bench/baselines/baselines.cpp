#include "bench/baselines/baselines.h"

#include <stdexcept>

#include <fmt/format.h>

namespace tessera::bench {

namespace {
constexpr uint32_t kNvidia = 0x10DE;
}

const std::vector<std::string>& baseline_families() {
  static const std::vector<std::string> f = {"reference", "clblast", "cublas"};
  return f;
}

Baselines::Baselines(std::set<std::string> families, std::function<void(const std::string&)> note)
    : families_(std::move(families)), note_(std::move(note)) {}

Baselines::~Baselines() = default;

// The row's own device when it is an OpenCL device; for a row elsewhere the first OpenCL device
// of the same vendor and type (the same GPU seen through Vulkan), else OpenCL device 0 (for
// the CPU reference: what the CPU gets from a tuned BLAS through OpenCL). The baseline entry
// names the device, so a reader sees when it is not the row's.
const dispatch::DeviceRef* Baselines::clblast_device(const dispatch::DeviceRef& row) {
  const dispatch::DeviceRef *first = nullptr, *like = nullptr;
  for (const dispatch::DeviceRef& d : dispatch::devices()) {
    if (d.backend != "opencl") continue;
    if (row.backend == "opencl" && d.index == row.index) return &d;
    if (!first) first = &d;
    if (!like && row.backend == "vulkan" && d.facts.vendor_id == row.facts.vendor_id &&
        d.facts.device_type == row.facts.device_type)
      like = &d;
  }
  return like ? like : first;
}

std::map<std::string, BaselineResult>
Baselines::gemm(const dispatch::DeviceRef& row, const GemmDims& dims, const TimingConfig& cfg) {
  std::map<std::string, BaselineResult> out;
  // Measures once per key; a failure is remembered too, so it is not retried for every variant.
  auto once = [&](const std::string& key, const std::function<BaselineResult()>& measure) {
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      std::optional<BaselineResult> r;
      try {
        r = measure();
      } catch (const std::exception& e) {
        note_(e.what());
      }
      it = cache_.emplace(key, r).first;
    }
    return it->second;
  };
  const std::string mnk = fmt::format("M={} N={} K={}", dims.M, dims.N, dims.K);

  if (wants("clblast")) {
    if (!clblast_) clblast_ = std::make_unique<Clblast>();
    const dispatch::DeviceRef* d = clblast_device(row);
    if (!Clblast::built()) {
      note_("clblast baseline: kbench was built without CLBlast (Debian: libclblast-dev); GEMM "
            "rows have none");
    } else if (!d) {
      note_("clblast baseline: no OpenCL device; GEMM rows have none");
    } else {
      // The backend numbers the devices it could probe; CLBlast's walk is the same, so the
      // names agree unless a device failed to probe. Then look the name up instead.
      int idx = d->index;
      for (int i = 0; clblast_->device_name(idx) != d->facts.name && i < clblast_->device_count();
           ++i)
        if (clblast_->device_name(i) == d->facts.name) idx = i;
      for (bool half : {false, true}) {
        if (half && !clblast_->has_fp16(idx)) {
          note_(
              fmt::format("clblast_hgemm baseline: {} has no cl_khr_fp16; SGEMM only", d->label()));
          continue;
        }
        auto r = once(fmt::format("clblast {} {} {}", half, idx, mnk), [&] {
          TimingResult t = clblast_->gemm(idx, dims, half, cfg);
          return BaselineResult{t.median_ms, 0, t.noise_pct, d->label(), !t.converged};
        });
        if (r) out[half ? "clblast_hgemm" : "clblast"] = *r;
      }
    }
  }

  if (wants("cublas")) {
    if (!cublas_) cublas_ = std::make_unique<CublasPlugin>();
    if (!cublas_->ready()) {
      note_("cublas baseline: none in this run: " + cublas_->why_not());
    } else if (row.backend == "cpu" ||
               (row.facts.vendor_id == kNvidia && row.facts.device_type == "gpu")) {
      for (const char* dtype : {"bf16", "fp8"}) {
        auto r = once(fmt::format("cublas {} {}", dtype, mnk), [&] {
          BaselineResult b;
          std::string error;
          if (!cublas_->gemm(dtype, dims, b.median_ms, b.noise_pct, error))
            throw std::runtime_error(
                fmt::format("cublas_{} baseline at {}: {}", dtype, mnk, error));
          b.device = "cuda:0 (" + cublas_->device() + ")";
          b.noisy = !(b.noise_pct <= cfg.max_noise_pct); // the plugin stops after a second
          return b;
        });
        if (r) out[std::string("cublas_") + dtype] = *r;
      }
    }
  }
  return out;
}

} // namespace tessera::bench
