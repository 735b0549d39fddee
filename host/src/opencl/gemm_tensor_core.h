// The opencl launchers of the NVIDIA tensor-core GEMM variants
// (host/src/opencl/gemm_tensor_core.cpp), reached from gemm.cpp's run() for every variant name
// starting "nv_".
#pragma once

#include <string_view>

#include "core/op_args.h"

namespace tessera::detail::opencl {

// "nv_mma_f16" (NVFP4 and FP8) and "nv_mma_e4m3" (FP8 only). Throws BackendFailure for another
// name, an e4m3 launch on a device below compute capability 8.9, or any OpenCL failure; C is
// written only after the kernel completed.
void run_tensor_core(int device, std::string_view variant, const GemmNvfp4Args& a);
void run_tensor_core(int device, std::string_view variant, const GemmFp8Args& a);
void run_tensor_core(int device, std::string_view variant, const GemmFp8BlockArgs& a);

} // namespace tessera::detail::opencl
