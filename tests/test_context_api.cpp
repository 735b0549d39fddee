// tessera::Context (tessera/context.h), the C++ handle an engine holds: opening refuses what is
// not there, buffers are aligned, zeroed, movable and checked, and the promises about threads:
// one Context used by four threads at once gives the single-threaded bytes, two contexts side by
// side, per-thread and per-context records. The cases: tests/c_api_cases.h.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "c_api_cases.h"
#include "tessera/context.h"

namespace {
using namespace tessera;
using namespace tessera::test;
} // namespace

TEST(ContextApi, OpenRefusesWhatIsNotThere) {
  auto code_of = [](auto fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.code();
    }
    ADD_FAILURE() << "no error";
    return ErrorCode::Io;
  };
  EXPECT_EQ(code_of([] { Context::open("tpu"); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([] { Context::open("cpu", 1); }), ErrorCode::Unsupported);
  EXPECT_EQ(code_of([] { Context::open("cpu", -1); }), ErrorCode::Unsupported);
  EXPECT_EQ(code_of([] { Context::open("vulkan", 99); }), ErrorCode::Unsupported);
  Context c = Context::open("cpu");
  EXPECT_EQ(c.backend(), "cpu");
  EXPECT_EQ(c.device(), 0);
  EXPECT_EQ(c.device_name(), "CPU reference");
  RunOptions o = c.options("reference");
  EXPECT_EQ(o.backend, "cpu");
  EXPECT_EQ(o.variant, "reference");
}

TEST(ContextApi, BuffersAreAlignedZeroedMovableAndChecked) {
  Context c = Context::open("cpu");
  Buffer b = c.alloc(1000);
  ASSERT_TRUE(b);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 256, 0u);
  EXPECT_EQ(b.size(), 1000u);
  for (size_t i = 0; i < b.size(); ++i) ASSERT_EQ(static_cast<const unsigned char*>(b.data())[i], 0);
  TensorView v = Context::view(b, DType::F32, {10, 25});
  EXPECT_EQ(v.data, b.data());
  EXPECT_EQ(v.bytes, 1000u);
  try {
    Context::view(b, DType::F32, {10, 26});
    ADD_FAILURE() << "a view larger than its buffer";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ShortBuffer);
    EXPECT_STREQ(e.what(), "Context::view: a F32 [10, 26] view needs 1040 bytes, the buffer holds 1000");
  }
  void* p = b.data();
  Buffer moved = std::move(b);
  EXPECT_EQ(moved.data(), p);
  EXPECT_FALSE(b); // NOLINT(bugprone-use-after-move): the moved-from state is the point
  EXPECT_THROW(Context::view(b, DType::U8, {1}), Error);
  Buffer empty = c.alloc(0);
  EXPECT_TRUE(empty);
  EXPECT_EQ(Context::view(empty, DType::F32, {0, 4}).bytes, 0u);
}

namespace {
// Runs op `index` of all_cases() on `ctx` single-threaded, then from `threads` threads at once
// (each with its own tensors), `rounds` times each; every run must give the single-threaded bytes.
// The quantizer thread also checks that last_run() follows its own calls while others run.
void concurrent(const std::vector<std::pair<Context, size_t>>& work, int rounds) {
  std::vector<std::vector<std::byte>> expected;
  for (auto& [ctx, index] : work) {
    auto op = one_case(index);
    op->fill_outputs();
    op->ctx_call(*op, ctx);
    expected.push_back(op->outputs());
  }
  std::atomic<int> failures{0};
  std::vector<std::string> errors(work.size());
  std::vector<std::thread> threads;
  for (size_t t = 0; t < work.size(); ++t)
    threads.emplace_back([&, t] {
      const auto& [ctx, index] = work[t];
      auto op = one_case(index);
      try {
        for (int r = 0; r < rounds; ++r) {
          op->fill_outputs();
          op->ctx_call(*op, ctx);
          if (op->outputs() != expected[t]) ++failures, errors[t] = op->name + ": different bytes";
          if (ctx.last_run().variant.empty()) ++failures, errors[t] = op->name + ": no last_run";
          if (index == 1 && r % 2) { // a refused call: this thread's record empties, no one else's
            op->slot("x").t = Tensor(DType::F32, {4, 20});
            try {
              op->ctx_call(*op, ctx);
            } catch (const Error&) {
            }
            if (!ctx.last_run().variant.empty()) ++failures, errors[t] = "last_run after a failure";
            op->slot("x").t = f32({4, 64}, -5, 5, 2);
          }
        }
      } catch (const std::exception& e) {
        ++failures, errors[t] = e.what();
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (const std::string& e : errors) EXPECT_EQ(e, "");
}
} // namespace

TEST(ContextApi, OneContextFromFourThreadsGivesTheSingleThreadedBytes) {
  Context ctx = Context::open("cpu");
  // quantize_nvfp4, gemm_nvfp4, deltanet, attention.
  concurrent({{ctx, 1}, {ctx, 5}, {ctx, 8}, {ctx, 10}}, 20);
}

TEST(ContextApi, TwoContextsCoexist) {
  // A device context beside the CPU one where there is a device; else two on the CPU.
  Context a = Context::open("cpu");
  std::optional<Context> b;
  for (const char* backend : {"opencl", "vulkan"})
    if (!b && Context::device_count(backend) > 0) b = Context::open(backend, 0);
  if (!b) b = Context::open("cpu");
  SCOPED_TRACE("second context: " + b->backend() + " " + b->device_name());
  // Records are per context: a call through one leaves the other's empty on this thread.
  auto owned = one_case(0);
  OpCase& op = *owned;
  op.ctx_call(op, a);
  EXPECT_EQ(a.last_run().variant, "reference");
  EXPECT_EQ(b->last_run().variant, "");
  Context copy = a; // a handle: copies share the context and its records
  EXPECT_EQ(copy.last_run().variant, "reference");
  concurrent({{a, 1}, {*b, 1}, {a, 3}, {*b, 3}}, 10);
  op.ctx_call(op, *b);
  RunInfo ran = b->last_run();
  std::printf("second context %s:%d (%s) ran convert with %s %s: %s\n", b->backend().c_str(), b->device(),
              b->device_name().c_str(), ran.backend.c_str(), ran.variant.c_str(), ran.reason.c_str());
}
