// The CLBlast baseline: SGEMM (and HGEMM where the device has cl_khr_fp16) at a GEMM case's
// M, N, K, on an OpenCL device found the way Tessera's OpenCL backend numbers them (every
// platform in clGetPlatformIDs order, every device in clGetDeviceIDs(CL_DEVICE_TYPE_ALL)
// order). kbench makes its own context and queue, with profiling, through the OpenCL C API, so
// the baseline shares nothing with the backend it is compared against but the device.
// Without CLBlast at build time every call reports "not built".
#pragma once

#include <memory>
#include <string>

#include "bench/cases.h"
#include "bench/timing.h"

namespace tessera::bench {

class Clblast {
public:
  Clblast();
  ~Clblast();
  Clblast(const Clblast&) = delete;
  Clblast& operator=(const Clblast&) = delete;

  static bool built();
  // Devices in the OpenCL backend's order; 0 without CLBlast or an OpenCL platform.
  int device_count() const;
  std::string device_name(int index) const; // CL_DEVICE_NAME
  bool has_fp16(int index) const;

  // Times C = A B^T (row-major A [M, K], B [N, K], C [M, N]) in fp32, or fp16 when `half`, on
  // device `index`, with the same warm-up, input rotation and stopping rule as the rows. Each
  // sample is the device time from a marker enqueued just before the call to the end of the
  // call's last kernel, so kernels CLBlast runs before the GEMM proper (padding, transposes)
  // are counted. Throws std::runtime_error (an OpenCL or CLBlast error, a device too small).
  TimingResult gemm(int index, const GemmDims& dims, bool half, const TimingConfig& cfg);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace tessera::bench
