// The opencl launchers of the NVIDIA tensor-core GEMMs (numerics.md section 4, conformance
// bounded): kernels/gemm/nvfp4_mma.cl, fp8_mma.cl ("nv_mma_f16": mma.sync m16n8k16 on fp16
// operands, cc >= 8.0) and fp8_mma_e4m3.cl ("nv_mma_e4m3": m16n8k32 .e4m3, cc >= 8.9), in their
// own files so that a device below 8.9 never assembles the e4m3 instruction. The registry offers
// them only where the host writes TESSERA_NV_INLINE_PTX 1 (NVIDIA's OpenCL); elsewhere the
// kernels' portable branch computes the same tile, which is what the tests run on PoCL, so this
// launcher does not refuse a device for lacking PTX: the kernel is correct everywhere and only
// fast on NVIDIA. It refuses what the kernel cannot do (a work-group other than 256, the e4m3
// instruction below cc 8.9 when PTX is on). As gemm.cpp: inputs uploaded, kernel launched and
// checked, and only then C read back; every failure is a BackendFailure.
#include "gemm_tensor_core.h"

#include <fmt/format.h>

#include <algorithm>

#include "host/src/backends.h"
#include "runtime.h"

namespace tessera::detail::opencl {

namespace {

constexpr size_t kWorkGroup = 256; // WG_SIZE the tile body is written for (8 warps of 32)
constexpr int64_t kTileM = 128, kTileN = 64;

enum class Mma { F16, E4m3 };

Mma parse(std::string_view op, std::string_view variant, bool fp8) {
  if (variant == "nv_mma_f16") return Mma::F16;
  if (variant == "nv_mma_e4m3" && fp8) return Mma::E4m3;
  throw BackendFailure(
      fmt::format("opencl: {} has no tensor-core variant '{}' (known: nv_mma_f16{})", op, variant,
                  fp8 ? ", nv_mma_e4m3" : ""));
}

size_t bytes(int64_t n, size_t each) { return static_cast<size_t>(n) * each; }

// OpenCL has no empty buffers: an empty input (K = 0) or an absent bias becomes a small dummy.
Mem upload_any(Session& s, const void* src, size_t n, std::string_view what) {
  static const float dummy[1] = {0.0f};
  return n == 0 || src == nullptr ? s.upload(dummy, sizeof dummy, what) : s.upload(src, n, what);
}

// The kernel, after the checks the tile body needs: its fixed work-group, the e4m3 mma's
// compute capability (only relevant where the PTX path is compiled in), and local memory.
cl_kernel mma_kernel(Session& s, std::string_view op, Mma mma, std::string_view file,
                     std::string_view name) {
  if (s.work_group_size() != kWorkGroup)
    throw BackendFailure(fmt::format("opencl: {}: {} needs work-groups of {}; {} takes {}", op,
                                     name, kWorkGroup, s.facts().name, s.work_group_size()));
  Capabilities caps = classify(s.facts());
  if (mma == Mma::E4m3 && caps.nv_inline_ptx &&
      (caps.cc_major < 8 || (caps.cc_major == 8 && caps.cc_minor < 9)))
    throw BackendFailure(fmt::format("opencl: {}: {} needs compute capability 8.9 for mma .e4m3; "
                                     "{} has {}.{}",
                                     op, name, s.facts().name, caps.cc_major, caps.cc_minor));
  cl_kernel k = s.kernel(file, name);
  cl_ulong local = 0;
  check(
      clGetKernelWorkGroupInfo(k, nullptr, CL_KERNEL_LOCAL_MEM_SIZE, sizeof local, &local, nullptr),
      "clGetKernelWorkGroupInfo(CL_KERNEL_LOCAL_MEM_SIZE)");
  if (s.facts().local_memory_bytes > 0 &&
      local > static_cast<cl_ulong>(s.facts().local_memory_bytes))
    throw BackendFailure(fmt::format("opencl: {}: {} needs {} bytes of local memory, {} has {}", op,
                                     name, local, s.facts().name, s.facts().local_memory_bytes));
  return k;
}

// The tile loop's extents travel as int: every tensor must stay below 2^31 elements.
void check_extents(std::string_view op, int64_t M, int64_t N, int64_t K) {
  constexpr int64_t kMax = (int64_t{1} << 31) - 1;
  if (M > kMax / std::max<int64_t>(K, 1) || N > kMax / std::max<int64_t>(K, 1) ||
      M > kMax / std::max<int64_t>(N, 1))
    throw BackendFailure(fmt::format("opencl: {}: M = {}, N = {}, K = {}: the tensor-core kernels "
                                     "index with 32-bit integers",
                                     op, M, N, K));
}

size_t mma_groups(const Session& s, int64_t M, int64_t N) {
  uint64_t tiles = static_cast<uint64_t>((M + kTileM - 1) / kTileM) *
                   static_cast<uint64_t>((N + kTileN - 1) / kTileN);
  return s.groups_for(tiles * kWorkGroup);
}

struct Epilogue {
  Mem bias;
  cl_int has_bias;
  cl_int out_type;
  Mem c;
  size_t c_bytes;
};

Epilogue epilogue(Session& s, const float* bias, int64_t M, int64_t N, ref::OutType out) {
  size_t c_bytes = bytes(M * N, out == ref::OutType::F32 ? 4 : 2);
  return {upload_any(s, bias, bias ? bytes(N, 4) : 0, "bias"), static_cast<cl_int>(bias != nullptr),
          static_cast<cl_int>(out), s.alloc(c_bytes, "c"), c_bytes};
}

} // namespace

void run_tensor_core(int device, std::string_view variant, const GemmNvfp4Args& a) {
  constexpr std::string_view op = "gemm_nvfp4";
  Mma mma = parse(op, variant, false);
  set_last_device_ms(0.0);
  check_extents(op, a.M, a.N, a.K);
  if (a.M == 0 || a.N == 0) return;
  Session s(device, op);
  cl_kernel k = mma_kernel(s, op, mma, "gemm/nvfp4_mma.cl", "nvfp4_gemm_mma");
  Mem A = upload_any(s, a.a, bytes(a.M * a.K / 2, 1), "a");
  Mem SA = upload_any(s, a.a_scale, bytes(a.M * a.K / 16, 1), "a_scale");
  Mem B = upload_any(s, a.b, bytes(a.N * a.K / 2, 1), "b");
  Mem SB = upload_any(s, a.b_scale, bytes(a.N * a.K / 16, 1), "b_scale");
  Epilogue e = epilogue(s, a.bias, a.M, a.N, a.out);
  s.launch(k, "nvfp4_gemm_mma", mma_groups(s, a.M, a.N), A, SA, B, SB, static_cast<cl_int>(a.M),
           static_cast<cl_int>(a.N), static_cast<cl_int>(a.K), static_cast<cl_float>(a.alpha),
           e.bias, e.has_bias, e.out_type, e.c);
  s.finish();
  s.read(e.c, a.c, e.c_bytes, "c");
}

void run_tensor_core(int device, std::string_view variant, const GemmFp8Args& a) {
  constexpr std::string_view op = "gemm_fp8";
  Mma mma = parse(op, variant, true);
  set_last_device_ms(0.0);
  check_extents(op, a.M, a.N, a.K);
  if (a.M == 0 || a.N == 0) return;
  Session s(device, op);
  const char* file = mma == Mma::F16 ? "gemm/fp8_mma.cl" : "gemm/fp8_mma_e4m3.cl";
  const char* name = mma == Mma::F16 ? "fp8_gemm_mma" : "fp8_gemm_mma_e4m3";
  cl_kernel k = mma_kernel(s, op, mma, file, name);
  Mem A = upload_any(s, a.a, bytes(a.M * a.K, 1), "a");
  Mem B = upload_any(s, a.b, bytes(a.N * a.K, 1), "b");
  Epilogue e = epilogue(s, a.bias, a.M, a.N, a.out);
  s.launch(k, name, mma_groups(s, a.M, a.N), A, B, static_cast<cl_int>(a.M),
           static_cast<cl_int>(a.N), static_cast<cl_int>(a.K), static_cast<cl_float>(a.alpha),
           e.bias, e.has_bias, e.out_type, e.c);
  s.finish();
  s.read(e.c, a.c, e.c_bytes, "c");
}

void run_tensor_core(int device, std::string_view variant, const GemmFp8BlockArgs& a) {
  constexpr std::string_view op = "gemm_fp8";
  Mma mma = parse(op, variant, true);
  set_last_device_ms(0.0);
  check_extents(op, a.M, a.N, a.K);
  if (a.M == 0 || a.N == 0) return;
  Session s(device, op);
  const char* file = mma == Mma::F16 ? "gemm/fp8_mma.cl" : "gemm/fp8_mma_e4m3.cl";
  const char* name = mma == Mma::F16 ? "fp8_block_gemm_mma" : "fp8_block_gemm_mma_e4m3";
  cl_kernel k = mma_kernel(s, op, mma, file, name);
  int64_t kbs = (a.K + 127) / 128;
  Mem A = upload_any(s, a.a, bytes(a.M * a.K, 1), "a");
  Mem SA = upload_any(s, a.a_scale, bytes(a.M * kbs, 4), "a_scale");
  Mem B = upload_any(s, a.b, bytes(a.N * a.K, 1), "b");
  Mem SB = upload_any(s, a.b_scale, bytes(((a.N + 127) / 128) * kbs, 4), "b_scale");
  Epilogue e = epilogue(s, a.bias, a.M, a.N, a.out);
  s.launch(k, name, mma_groups(s, a.M, a.N), A, SA, B, SB, static_cast<cl_int>(a.M),
           static_cast<cl_int>(a.N), static_cast<cl_int>(a.K), e.bias, e.has_bias, e.out_type, e.c);
  s.finish();
  s.read(e.c, a.c, e.c_bytes, "c");
}

} // namespace tessera::detail::opencl
