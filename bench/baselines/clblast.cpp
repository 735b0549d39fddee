#include "bench/baselines/clblast.h"

#include <stdexcept>

#ifdef TESSERA_HAVE_CLBLAST
#include <CL/cl.h>
#include <clblast.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include <fmt/format.h>
#endif

namespace tessera::bench {

#ifdef TESSERA_HAVE_CLBLAST

namespace {

void check(cl_int err, const char* what) {
  if (err != CL_SUCCESS)
    throw std::runtime_error(
        fmt::format("CLBlast baseline: {} failed (OpenCL error {})", what, err));
}

// Owners of OpenCL objects, released in reverse order of creation by their scopes.
struct Mem {
  cl_mem m = nullptr;
  Mem() = default;
  Mem(Mem&& o) noexcept : m(std::exchange(o.m, nullptr)) {}
  Mem& operator=(Mem&&) = delete;
  ~Mem() {
    if (m) clReleaseMemObject(m);
  }
};
struct Event {
  cl_event e = nullptr;
  ~Event() {
    if (e) clReleaseEvent(e);
  }
};

template <class T> T device_info(cl_device_id d, cl_device_info what) {
  T v{};
  clGetDeviceInfo(d, what, sizeof v, &v, nullptr);
  return v;
}

std::string device_string(cl_device_id d, cl_device_info what) {
  size_t n = 0;
  if (clGetDeviceInfo(d, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
  std::string s(n, '\0');
  if (clGetDeviceInfo(d, what, n, s.data(), nullptr) != CL_SUCCESS) return "";
  while (!s.empty() && s.back() == '\0')
    s.pop_back();
  return s;
}

// The same walk as host/src/opencl/probe.cpp, so index i here is the backend's device i.
std::vector<cl_device_id> enumerate_devices() {
  std::vector<cl_device_id> out;
  cl_uint np = 0;
  if (clGetPlatformIDs(0, nullptr, &np) != CL_SUCCESS || np == 0) return out;
  std::vector<cl_platform_id> platforms(np);
  if (clGetPlatformIDs(np, platforms.data(), nullptr) != CL_SUCCESS) return out;
  for (cl_platform_id p : platforms) {
    cl_uint nd = 0;
    if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &nd) != CL_SUCCESS || nd == 0) continue;
    std::vector<cl_device_id> ids(nd);
    if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, nd, ids.data(), nullptr) != CL_SUCCESS) continue;
    out.insert(out.end(), ids.begin(), ids.end());
  }
  return out;
}

// Random fp16 bits with exponents for 2^-6 .. 2^0: never zero, never subnormal, no overflow
// in a K-long dot product of the sizes kbench runs.
uint16_t random_half(std::mt19937& rng) {
  uint32_t r = rng();
  return static_cast<uint16_t>((r & 0x8000u) | ((9u + (r >> 16) % 7u) << 10) | (r & 0x3FFu));
}

} // namespace

struct Clblast::Impl {
  std::vector<cl_device_id> devices = enumerate_devices();
  struct Queue {
    cl_context context = nullptr;
    cl_command_queue queue = nullptr;
  };
  std::map<int, Queue> queues;

  ~Impl() {
    clblast::ClearCache(); // its compiled programs belong to our contexts
    for (auto& [i, q] : queues) {
      if (q.queue) clReleaseCommandQueue(q.queue);
      if (q.context) clReleaseContext(q.context);
    }
  }

  Queue& queue(int index) {
    if (index < 0 || index >= static_cast<int>(devices.size()))
      throw std::runtime_error(fmt::format("CLBlast baseline: no OpenCL device {}", index));
    auto it = queues.find(index);
    if (it != queues.end()) return it->second;
    cl_int err = CL_SUCCESS;
    Queue q;
    q.context = clCreateContext(nullptr, 1, &devices[index], nullptr, nullptr, &err);
    check(err, "clCreateContext");
    q.queue = clCreateCommandQueue(q.context, devices[index], CL_QUEUE_PROFILING_ENABLE, &err);
    if (err != CL_SUCCESS) clReleaseContext(q.context);
    check(err, "clCreateCommandQueue");
    return queues.emplace(index, q).first->second;
  }
};

Clblast::Clblast() : impl_(std::make_unique<Impl>()) {}
Clblast::~Clblast() = default;
bool Clblast::built() { return true; }
int Clblast::device_count() const { return static_cast<int>(impl_->devices.size()); }

std::string Clblast::device_name(int index) const {
  if (index < 0 || index >= device_count()) return "";
  return device_string(impl_->devices[index], CL_DEVICE_NAME);
}

bool Clblast::has_fp16(int index) const {
  if (index < 0 || index >= device_count()) return false;
  return (" " + device_string(impl_->devices[index], CL_DEVICE_EXTENSIONS) + " ")
             .find(" cl_khr_fp16 ") != std::string::npos;
}

TimingResult Clblast::gemm(int index, const GemmDims& d, bool half, const TimingConfig& cfg) {
  Impl::Queue& q = impl_->queue(index);
  cl_device_id dev = impl_->devices[index];
  const size_t es = half ? 2 : 4, M = d.M, N = d.N, K = d.K;
  const std::array<size_t, 3> bytes = {M * K * es, N * K * es, M * N * es}; // A, B, C
  const double set_bytes = static_cast<double>(bytes[0] + bytes[1] + bytes[2]);
  const auto max_alloc = device_info<cl_ulong>(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
  for (size_t b : bytes)
    if (b > max_alloc)
      throw std::runtime_error(fmt::format(
          "CLBlast baseline: a {} byte matrix exceeds the device's largest allocation", b));
  // Rotate like the rows do, within half of the device's memory.
  const double global = static_cast<double>(device_info<cl_ulong>(dev, CL_DEVICE_GLOBAL_MEM_SIZE));
  int sets = input_sets_for(set_bytes, rotation_bytes());
  sets = std::max(1, std::min(sets, static_cast<int>(global / 2 / set_bytes)));

  std::vector<std::array<Mem, 3>> mem(static_cast<size_t>(sets));
  std::mt19937 rng(0x5EED);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int s = 0; s < sets; ++s)
    for (int m = 0; m < 3; ++m) {
      cl_int err = CL_SUCCESS;
      mem[s][m].m = clCreateBuffer(q.context, CL_MEM_READ_WRITE, bytes[m], nullptr, &err);
      check(err, "clCreateBuffer");
      if (s >= kDistinctInputSets) {
        // Copies evict each other from caches as well as fresh data would, and cost no RNG.
        check(clEnqueueCopyBuffer(q.queue, mem[s % kDistinctInputSets][m].m, mem[s][m].m, 0, 0,
                                  bytes[m], 0, nullptr, nullptr),
              "clEnqueueCopyBuffer");
        continue;
      }
      std::vector<unsigned char> host(bytes[m]);
      for (size_t i = 0; i < bytes[m] / es; ++i) {
        if (half) {
          uint16_t h = random_half(rng);
          std::memcpy(host.data() + 2 * i, &h, 2);
        } else {
          float f = dist(rng);
          std::memcpy(host.data() + 4 * i, &f, 4);
        }
      }
      check(clEnqueueWriteBuffer(q.queue, mem[s][m].m, CL_TRUE, 0, bytes[m], host.data(), 0,
                                 nullptr, nullptr),
            "clEnqueueWriteBuffer");
    }
  check(clFinish(q.queue), "clFinish");

  // A temporary buffer of our own, so CLBlast does not allocate one inside every timed call.
  using clblast::Layout, clblast::Transpose;
  size_t temp_bytes = 0;
  clblast::StatusCode st =
      half ? clblast::GemmTempBufferSize<uint16_t>(Layout::kRowMajor, Transpose::kNo,
                                                   Transpose::kYes, M, N, K, 0, K, 0, K, 0, N,
                                                   &q.queue, temp_bytes)
           : clblast::GemmTempBufferSize<float>(Layout::kRowMajor, Transpose::kNo, Transpose::kYes,
                                                M, N, K, 0, K, 0, K, 0, N, &q.queue, temp_bytes);
  if (st != clblast::StatusCode::kSuccess)
    throw std::runtime_error(fmt::format("CLBlast baseline: GemmTempBufferSize failed (status {})",
                                         static_cast<int>(st)));
  Mem temp;
  if (temp_bytes > 0) {
    cl_int err = CL_SUCCESS;
    temp.m = clCreateBuffer(q.context, CL_MEM_READ_WRITE, temp_bytes, nullptr, &err);
    check(err, "clCreateBuffer (temporary)");
  }

  const uint16_t one_h = 0x3C00, zero_h = 0;
  auto run = [&](int s) -> double {
    Event marker, done;
    check(clEnqueueMarkerWithWaitList(q.queue, 0, nullptr, &marker.e),
          "clEnqueueMarkerWithWaitList");
    cl_mem a = mem[s][0].m, b = mem[s][1].m, c = mem[s][2].m;
    clblast::StatusCode r =
        half ? clblast::Gemm<uint16_t>(Layout::kRowMajor, Transpose::kNo, Transpose::kYes, M, N, K,
                                       one_h, a, 0, K, b, 0, K, zero_h, c, 0, N, &q.queue, &done.e,
                                       temp.m)
             : clblast::Gemm<float>(Layout::kRowMajor, Transpose::kNo, Transpose::kYes, M, N, K,
                                    1.0f, a, 0, K, b, 0, K, 0.0f, c, 0, N, &q.queue, &done.e,
                                    temp.m);
    if (r != clblast::StatusCode::kSuccess)
      throw std::runtime_error(fmt::format("CLBlast baseline: {} failed (status {})",
                                           half ? "HGEMM" : "SGEMM", static_cast<int>(r)));
    check(clWaitForEvents(1, &done.e), "clWaitForEvents");
    cl_ulong t0 = 0, t1 = 0;
    // A driver that does not time markers still times the kernel: fall back to its start.
    if (clGetEventProfilingInfo(marker.e, CL_PROFILING_COMMAND_END, sizeof t0, &t0, nullptr) !=
            CL_SUCCESS ||
        t0 == 0)
      check(clGetEventProfilingInfo(done.e, CL_PROFILING_COMMAND_START, sizeof t0, &t0, nullptr),
            "clGetEventProfilingInfo");
    check(clGetEventProfilingInfo(done.e, CL_PROFILING_COMMAND_END, sizeof t1, &t1, nullptr),
          "clGetEventProfilingInfo");
    return t1 > t0 ? static_cast<double>(t1 - t0) * 1e-6 : -1.0;
  };
  return measure(run, sets, cfg);
}

#else // no CLBlast in this build

struct Clblast::Impl {};
Clblast::Clblast() = default;
Clblast::~Clblast() = default;
bool Clblast::built() { return false; }
int Clblast::device_count() const { return 0; }
std::string Clblast::device_name(int) const { return ""; }
bool Clblast::has_fp16(int) const { return false; }
TimingResult Clblast::gemm(int, const GemmDims&, bool, const TimingConfig&) {
  throw std::runtime_error("CLBlast baseline: kbench was built without CLBlast");
}

#endif

} // namespace tessera::bench
