// The GEMM baselines a row is compared against, measured in the same process: CLBlast on the
// OpenCL device that is the row's device (or, for rows elsewhere, the OpenCL device most like
// it), and cuBLAS through the optional plugin. The `reference` baseline (the CPU reference of
// the same case) is the runner's, since it is a row of its own. Results are cached per device
// and problem, so the variants of one case share one baseline measurement.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bench/baselines/clblast.h"
#include "bench/baselines/plugin.h"
#include "bench/report.h"
#include "dispatch/registry.h"

namespace tessera::bench {

// What --baseline accepts; each names a family of baselines in the rows:
//   reference -> "reference"; clblast -> "clblast" (SGEMM), "clblast_hgemm" (fp16 devices);
//   cublas -> "cublas_bf16", "cublas_fp8".
const std::vector<std::string>& baseline_families();

class Baselines {
public:
  // `families`: those to run (a subset of baseline_families()). `note` hears every reason a
  // baseline is missing, once.
  Baselines(std::set<std::string> families, std::function<void(const std::string&)> note);
  ~Baselines();

  bool wants(const std::string& family) const { return families_.count(family) > 0; }

  // Every GEMM baseline for a row of a GEMM case on `row_device`, without speedup (the caller
  // knows the row's time). Failures are noted and leave the entry out.
  std::map<std::string, BaselineResult> gemm(const dispatch::DeviceRef& row_device,
                                             const GemmDims& dims, const TimingConfig& cfg);

private:
  const dispatch::DeviceRef* clblast_device(const dispatch::DeviceRef& row_device);
  std::set<std::string> families_;
  std::function<void(const std::string&)> note_;
  std::unique_ptr<Clblast> clblast_;
  std::unique_ptr<CublasPlugin> cublas_;
  std::map<std::string, std::optional<BaselineResult>> cache_;
};

} // namespace tessera::bench
