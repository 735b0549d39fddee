// What the opencl GEMM launchers (gemm.cpp, gemm_tensor_core.cpp) share: the epilogue's buffers
// (bias, output type, C), as every GEMM kernel of kernels/gemm/ takes them.
#pragma once

#include <cstdint>

#include "core/op_args.h"
#include "runtime.h"

namespace tessera::detail::opencl {

inline size_t bytes(int64_t n, size_t each) { return static_cast<size_t>(n) * each; }

struct Epilogue {
  Mem bias;
  cl_int has_bias;
  cl_int out_type;
  Mem c;
  size_t c_bytes;
};

inline Epilogue epilogue(Session& s, const float* bias, int64_t M, int64_t N, ref::OutType out) {
  size_t c_bytes = bytes(M * N, out == ref::OutType::F32 ? 4 : 2);
  return {s.upload_any(bias, bias ? bytes(N, 4) : 0, "bias"), static_cast<cl_int>(bias != nullptr),
          static_cast<cl_int>(out), s.alloc(c_bytes, "c"), c_bytes};
}

} // namespace tessera::detail::opencl
