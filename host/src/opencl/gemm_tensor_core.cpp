// The opencl launch functions of the NVIDIA tensor-core GEMMs (numerics.md section 4,
// conformance bounded): kernels/gemm/nvfp4_mma.cl, fp8_mma.cl ("nv_mma_f16": mma.sync m16n8k16
// on fp16 operands, cc >= 8.0; built with its record's -DNV_MMA_OPERAND_E4M3=1, "nv_mma_e4m3":
// m16n8k32 .e4m3, cc >= 8.9, a program of its own so that a device below 8.9 never assembles the
// e4m3 instruction). The two FP8 records share these launch functions: the kernel file, entry
// points and build options come from the record's manifest.
//
// The registry offers them only where the host writes TESSERA_NV_INLINE_PTX 1 (NVIDIA's OpenCL)
// and the record's requirement holds (tensor_core::cl_mma_*: compute capability, M above the
// decode rows, work-groups of 256, the manifest's local_bytes on the device, 32-bit extents);
// none of that is checked again here. Elsewhere (tests on PoCL) the kernels' portable branch
// computes the same tile, and a work-group other than 256 fails the kernel's build. As gemm.cpp:
// inputs uploaded, kernel launched and checked, and only then C read back; every failure is a
// BackendFailure.
#include <fmt/format.h>

#include "gemm_common.h"
#include "kernels/gemm/geometry.h"
#include "launch.h"
#include "runtime.h"

namespace tessera::detail::opencl {

namespace {

// Entry point `form` (0: per-tensor, 1: block-scaled) of record v. LOCAL_BYTES lets the kernel
// check at build time that its tiles fit the manifest's local_bytes, which the registry
// compared with the device.
cl_kernel mma_kernel(Session& s, const core::Variant& v, size_t form) {
  return s.kernel(v.manifest.source, entry(v, form),
                  fmt::format("{} -DLOCAL_BYTES={}", v.manifest.defines, v.manifest.limits.local_bytes));
}

size_t mma_groups(const Session& s, int64_t M, int64_t N) {
  uint64_t tiles = static_cast<uint64_t>((M + NVM_TILE_M - 1) / NVM_TILE_M) * static_cast<uint64_t>((N + NVM_TILE_N - 1) / NVM_TILE_N);
  return s.groups_for(tiles * s.work_group_size());
}

} // namespace

void gemm_nvfp4_mma(int device, const core::Variant& v, const GemmNvfp4Args& a) {
  set_last_device_ms(0.0);
  if (a.M == 0 || a.N == 0) return;
  Session s(device, v.op);
  cl_kernel k = mma_kernel(s, v, 0);
  Mem A = s.upload_any(a.a, bytes(a.M * a.K / 2, 1), "a");
  Mem SA = s.upload_any(a.a_scale, bytes(a.M * a.K / 16, 1), "a_scale");
  Mem B = s.upload_any(a.b, bytes(a.N * a.K / 2, 1), "b");
  Mem SB = s.upload_any(a.b_scale, bytes(a.N * a.K / 16, 1), "b_scale");
  Epilogue e = epilogue(s, a.bias, a.M, a.N, a.out);
  s.launch(k, entry(v, 0), mma_groups(s, a.M, a.N), A, SA, B, SB, static_cast<cl_int>(a.M), static_cast<cl_int>(a.N),
           static_cast<cl_int>(a.K), static_cast<cl_float>(a.alpha), e.bias, e.has_bias, e.out_type, e.c);
  s.finish();
  s.read(e.c, a.c, e.c_bytes, "c");
}

void gemm_fp8_mma(int device, const core::Variant& v, const GemmFp8Args& a) {
  set_last_device_ms(0.0);
  if (a.M == 0 || a.N == 0) return;
  Session s(device, v.op);
  cl_kernel k = mma_kernel(s, v, 0);
  Mem A = s.upload_any(a.a, bytes(a.M * a.K, 1), "a");
  Mem B = s.upload_any(a.b, bytes(a.N * a.K, 1), "b");
  Epilogue e = epilogue(s, a.bias, a.M, a.N, a.out);
  s.launch(k, entry(v, 0), mma_groups(s, a.M, a.N), A, B, static_cast<cl_int>(a.M), static_cast<cl_int>(a.N),
           static_cast<cl_int>(a.K), static_cast<cl_float>(a.alpha), e.bias, e.has_bias, e.out_type, e.c);
  s.finish();
  s.read(e.c, a.c, e.c_bytes, "c");
}

void gemm_fp8_block_mma(int device, const core::Variant& v, const GemmFp8BlockArgs& a) {
  set_last_device_ms(0.0);
  if (a.M == 0 || a.N == 0) return;
  Session s(device, v.op);
  cl_kernel k = mma_kernel(s, v, 1);
  const int64_t kbs = (a.K + 127) / 128;
  Mem A = s.upload_any(a.a, bytes(a.M * a.K, 1), "a");
  Mem SA = s.upload_any(a.a_scale, bytes(a.M * kbs, 4), "a_scale");
  Mem B = s.upload_any(a.b, bytes(a.N * a.K, 1), "b");
  Mem SB = s.upload_any(a.b_scale, bytes(((a.N + 127) / 128) * kbs, 4), "b_scale");
  Epilogue e = epilogue(s, a.bias, a.M, a.N, a.out);
  s.launch(k, entry(v, 1), mma_groups(s, a.M, a.N), A, SA, B, SB, static_cast<cl_int>(a.M), static_cast<cl_int>(a.N),
           static_cast<cl_int>(a.K), e.bias, e.has_bias, e.out_type, e.c);
  s.finish();
  s.read(e.c, a.c, e.c_bytes, "c");
}

} // namespace tessera::detail::opencl
