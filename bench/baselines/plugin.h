// Loads the optional cuBLAS baseline plugin (bench/plugins/kbench_plugin.h) with dlopen, only
// if libkbench_cublas.so sits next to the running executable. Nothing here links against CUDA:
// a build or a machine without it simply has no cuBLAS baseline.
#pragma once

#include <string>

#include "bench/cases.h"

namespace tessera::bench {

class CublasPlugin {
public:
  // Looks for the plugin in `dir` (default: the directory of the running executable).
  explicit CublasPlugin(std::string dir = "");
  CublasPlugin(const CublasPlugin&) = delete;
  CublasPlugin& operator=(const CublasPlugin&) = delete;

  bool ready() const { return ready_; }               // loaded, and it found a GPU
  const std::string& why_not() const { return why_; } // one line when not ready
  const std::string& device() const { return device_; }

  // dtype "bf16" or "fp8". Returns false and sets `error` when the plugin cannot time it.
  bool gemm(const std::string& dtype, const GemmDims& dims, double& median_ms, double& noise_pct,
            std::string& error);

  static std::string file_name() { return "libkbench_cublas.so"; }

private:
  bool ready_ = false;
  std::string why_, device_;
  int (*gemm_)(const char*, int, int, int, double*, double*) = nullptr;
  const char* (*error_)() = nullptr;
};

} // namespace tessera::bench
