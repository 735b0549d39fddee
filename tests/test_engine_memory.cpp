// Engine-owned OpenCL memory (Context::open_opencl, wrap_opencl, opencl_handles; their C forms):
// this test plays an engine with its own cl_context, queue and cl_mem buffers, hands them to
// Tessera without a copy, and reads the results back with its own OpenCL calls. A device runs on
// one context per process, so every test shares one engine (ctest also runs each test in a
// process of its own).
#include <CL/cl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tessera/context.h"
#include "tessera/error.h"
#include "tessera/tessera.h"
#include "test_util.h"

namespace {
using namespace tessera;
using test::expect_error;

// The engine: device 0 of the first platform with a device, its own context and queue.
struct Engine {
  cl_platform_id platform = nullptr;
  cl_device_id device = nullptr;
  cl_context context = nullptr;
  cl_command_queue queue = nullptr;

  explicit Engine(cl_command_queue_properties props = CL_QUEUE_PROFILING_ENABLE) {
    cl_uint n = 0;
    if (clGetPlatformIDs(0, nullptr, &n) != CL_SUCCESS || n == 0) return;
    std::vector<cl_platform_id> ps(n);
    clGetPlatformIDs(n, ps.data(), nullptr);
    for (cl_platform_id p : ps)
      if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, &device, nullptr) == CL_SUCCESS) {
        platform = p;
        break;
      }
    if (!platform) return;
    cl_int err = CL_SUCCESS;
    context = clCreateContext(nullptr, 1, &device, nullptr, nullptr, &err);
    queue = clCreateCommandQueue(context, device, props, &err);
    if (err != CL_SUCCESS) queue = nullptr;
  }
  ~Engine() {
    if (queue) clReleaseCommandQueue(queue);
    if (context) clReleaseContext(context);
  }
  cl_mem buffer(const std::vector<uint8_t>& bytes) const {
    cl_int err = CL_SUCCESS;
    cl_mem m = clCreateBuffer(context, CL_MEM_READ_WRITE, bytes.size(), nullptr, &err);
    EXPECT_EQ(err, CL_SUCCESS);
    EXPECT_EQ(clEnqueueWriteBuffer(queue, m, CL_TRUE, 0, bytes.size(), bytes.data(), 0, nullptr, nullptr), CL_SUCCESS);
    return m;
  }
  std::vector<uint8_t> read(cl_mem m, size_t bytes) const {
    std::vector<uint8_t> out(bytes);
    EXPECT_EQ(clEnqueueReadBuffer(queue, m, CL_TRUE, 0, bytes, out.data(), 0, nullptr, nullptr), CL_SUCCESS);
    return out;
  }
};

std::vector<uint8_t> floats(int64_t n, float scale) {
  std::vector<uint8_t> out(static_cast<size_t>(n) * 4);
  for (int64_t i = 0; i < n; ++i) {
    const float v = scale * static_cast<float>((i * 37) % 101 - 50);
    std::memcpy(&out[static_cast<size_t>(i) * 4], &v, 4);
  }
  return out;
}

// The bf16 bytes the CPU reference gives for x.
std::vector<uint8_t> reference_bf16(std::vector<uint8_t> x) {
  const int64_t n = static_cast<int64_t>(x.size() / 4);
  std::vector<uint8_t> y(static_cast<size_t>(n) * 2);
  convert(TensorView{DType::F32, {n}, x.data(), x.size()}, Format::BF16, TensorView{DType::BF16, {n}, y.data(), y.size()});
  return y;
}

// The process's engine, made on first use (before Tessera touches the device).
const Engine& engine() {
  static Engine e;
  return e;
}

#define NEED_ENGINE(e)                                                                                                 \
  if (Context::device_count("opencl") == 0 || !(e).queue) GTEST_SKIP() << "no OpenCL device for an engine context"

// The engine's input and output buffers, wrapped whole and at an aligned offset, go through a
// convert on the engine's own queue; the engine reads the result with its own read.
TEST(EngineMemory, WrappedBuffersAreOperandsOnTheEnginesQueue) {
  const Engine& e = engine();
  NEED_ENGINE(e);
  const Context ctx = Context::open_opencl(e.context, e.device, e.queue);
  const Context::OpenclHandles h = ctx.opencl_handles();
  EXPECT_EQ(h.context, e.context);
  EXPECT_EQ(h.device, e.device);
  EXPECT_EQ(h.queue, e.queue);

  cl_uint align_bits = 0;
  ASSERT_EQ(clGetDeviceInfo(e.device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, nullptr), CL_SUCCESS);
  const size_t align = align_bits / 8, n = 256;
  const std::vector<uint8_t> x = floats(n, 0.37f);
  std::vector<uint8_t> x_at(align, 0);
  x_at.insert(x_at.end(), x.begin(), x.end());
  cl_mem xm = e.buffer(x_at);                                        // the input starts at `align`
  cl_mem ym = e.buffer(std::vector<uint8_t>(align + n * 2, 0x7E)); // and so does the output
  {
    DeviceBuffer xb = ctx.wrap_opencl(xm, align, x.size());
    DeviceBuffer yb = ctx.wrap_opencl(ym, align, n * 2);
    EXPECT_EQ(ctx.traffic().allocations, 0);
    ctx.convert(Context::view(xb, DType::F32, {static_cast<int64_t>(n)}), Format::BF16,
                Context::view(yb, DType::BF16, {static_cast<int64_t>(n)}));
    // An input view at an offset inside a buffer wrapped at an offset (a window of its parent).
    ctx.convert(Context::view(xb, DType::F32, {64}, 4 * 64), Format::BF16, Context::view(yb, DType::BF16, {64}, 0));
    ctx.sync();
    EXPECT_EQ(ctx.traffic().bytes_to_device, 0);
    EXPECT_EQ(ctx.traffic().bytes_from_device, 0);
  }
  const std::vector<uint8_t> y = e.read(ym, align + n * 2);
  std::vector<uint8_t> want = reference_bf16(x);
  const std::vector<uint8_t> second = reference_bf16(std::vector<uint8_t>(x.begin() + 256, x.begin() + 512));
  std::copy(second.begin(), second.end(), want.begin());
  EXPECT_EQ(std::vector<uint8_t>(y.begin() + static_cast<long>(align), y.end()), want);
  EXPECT_EQ(std::vector<uint8_t>(y.begin(), y.begin() + static_cast<long>(align)), std::vector<uint8_t>(align, 0x7E));
  // The engine still owns its buffers: they outlive the DeviceBuffers, and it frees them.
  EXPECT_EQ(clReleaseMemObject(xm), CL_SUCCESS);
  EXPECT_EQ(clReleaseMemObject(ym), CL_SUCCESS);
}

// The C API: a context on the engine's context (no queue given: the one already adopted, or
// one of Tessera's on that context), and the engine's buffers wrapped.
TEST(EngineMemory, CApiOnTheEnginesContext) {
  const Engine& e = engine();
  NEED_ENGINE(e);
  tessera_context* c = nullptr;
  ASSERT_EQ(tessera_context_create_opencl(e.context, e.device, nullptr, &c), TESSERA_OK) << tessera_last_error_message();
  void* queue = nullptr;
  ASSERT_EQ(tessera_context_opencl_handles(c, nullptr, nullptr, &queue), TESSERA_OK);
  EXPECT_NE(queue, nullptr);
  const std::vector<uint8_t> x = floats(64, -1.5f);
  cl_mem xm = e.buffer(x), ym = e.buffer(std::vector<uint8_t>(128, 0));
  tessera_device_buffer *xb = nullptr, *yb = nullptr;
  ASSERT_EQ(tessera_wrap_opencl(c, xm, 0, 256, &xb), TESSERA_OK) << tessera_last_error_message();
  ASSERT_EQ(tessera_wrap_opencl(c, ym, 0, 128, &yb), TESSERA_OK) << tessera_last_error_message();
  tessera_tensor xt{TESSERA_F32, 1, {64}, tessera_device_buffer_address(xb), 256, nullptr};
  tessera_tensor yt{TESSERA_BF16, 1, {64}, tessera_device_buffer_address(yb), 128, nullptr};
  ASSERT_EQ(tessera_convert(c, &xt, TESSERA_FORMAT_BF16, &yt), TESSERA_OK) << tessera_last_error_message();
  ASSERT_EQ(tessera_context_sync(c, nullptr, nullptr), TESSERA_OK);
  EXPECT_EQ(e.read(ym, 128), reference_bf16(x));
  tessera_device_buffer_destroy(xb);
  tessera_device_buffer_destroy(yb);
  tessera_context_destroy(c);
  clReleaseMemObject(xm);
  clReleaseMemObject(ym);
}

TEST(EngineMemory, RefusesWhatItCannotUse) {
  const Engine& e = engine();
  NEED_ENGINE(e);
  const Context ctx = Context::open_opencl(e.context, e.device, e.queue);
  cl_mem m = e.buffer(std::vector<uint8_t>(1024, 0));
  expect_error(ErrorCode::ShortBuffer, "pass the end", [&] { ctx.wrap_opencl(m, 0, 1025); });
  expect_error(ErrorCode::ShortBuffer, "pass the end", [&] { ctx.wrap_opencl(m, 1000, 100); });
  expect_error(ErrorCode::InvalidArgument, "CL_DEVICE_MEM_BASE_ADDR_ALIGN", [&] { ctx.wrap_opencl(m, 1, 16); });
  expect_error(ErrorCode::InvalidArgument, "no valid cl_mem", [&] { ctx.wrap_opencl(nullptr, 0, 16); });
  // A buffer of another context (a second engine) cannot be bound by this context's kernels.
  Engine other;
  cl_mem foreign = other.buffer(std::vector<uint8_t>(64, 0));
  expect_error(ErrorCode::InvalidArgument, "another cl_context", [&] { ctx.wrap_opencl(foreign, 0, 64); });
  // A view past the wrapped window is refused like any device buffer's.
  DeviceBuffer b = ctx.wrap_opencl(m, 0, 64);
  expect_error(ErrorCode::ShortBuffer, "", [&] { (void)Context::view(b, DType::F32, {17}); });
  // Not an OpenCL context.
  expect_error(ErrorCode::Unsupported, "not an OpenCL one", [&] { Context::open("cpu").wrap_opencl(m, 0, 16); });
  // The device already runs on this engine's context: a second engine's context is refused.
  expect_error(ErrorCode::Unsupported, "already runs on a context of its own",
               [&] { Context::open_opencl(other.context, other.device); });
  clReleaseMemObject(foreign);
  clReleaseMemObject(m);
}

TEST(EngineMemory, RefusesAQueueItCannotOrderOn) {
  const Engine& e = engine();
  NEED_ENGINE(e);
  cl_int err = CL_SUCCESS;
  cl_command_queue plain = clCreateCommandQueue(e.context, e.device, 0, &err); // no profiling
  ASSERT_EQ(err, CL_SUCCESS);
  expect_error(ErrorCode::InvalidArgument, "CL_QUEUE_PROFILING_ENABLE",
               [&] { Context::open_opencl(e.context, e.device, plain); });
  expect_error(ErrorCode::NullBuffer, "must not be null", [&] { Context::open_opencl(nullptr, e.device); });
  clReleaseCommandQueue(plain);
  // Nothing was adopted by the refused calls: the engine's context can still be given, queue-less.
  const Context ctx = Context::open_opencl(e.context, e.device);
  EXPECT_EQ(ctx.opencl_handles().context, e.context);
  EXPECT_NE(ctx.opencl_handles().queue, nullptr);
}

// A device that already runs on a context (Tessera's own, made at its first use, or an engine's)
// refuses another engine's.
TEST(EngineMemory, ADeviceInUseKeepsItsContext) {
  Engine e; // a second engine, besides the process's
  NEED_ENGINE(e);
  const Context mine = Context::open("opencl", 0);
  (void)mine.device_alloc(16); // the device's context is made (or the adopted one used) here
  if (mine.opencl_handles().device != static_cast<void*>(e.device)) GTEST_SKIP() << "the engine's device is not opencl:0";
  expect_error(ErrorCode::Unsupported, "open the engine's context before anything else uses the device",
               [&] { Context::open_opencl(e.context, e.device, e.queue); });
}

} // namespace
