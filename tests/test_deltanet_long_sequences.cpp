// The Gated DeltaNet device variants ("recurrent", "chunked") on long sequences, on every OpenCL
// and Vulkan device: to 40960 tokens against the fp32 reference; Vulkan's dispatch windows, which
// must not change a bit; and with the window lifted, the report of a driver's cut loops
// (numerics.md "DeltaNet on Vulkan: long sequences"). The problems and the forced runs:
// tests/deltanet_problems.h. These are most of the DeltaNet kernels' time on the 2-core machine
// (PoCL and lavapipe run kernels on the CPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "deltanet_problems.h"
#include "core/overrides.h"
#include "dispatch/registry.h"
#include "host/src/backends.h"
#include "host/src/vulkan/testing.h"
#include "tessera/context.h"
#include "test_util.h"

namespace {
using namespace tessera;
using namespace tessera::test;

// ---- Long sequences ----------------------------------------------------------------------
// lavapipe (llvmpipe) ends every loop of a shader invocation, silently, once that invocation has
// run 65535 loop iterations in all (numerics.md "DeltaNet on Vulkan: long sequences"). With the
// whole time loop in one dispatch, vulkan recurrent wrote nothing from token 21845 on (three
// counted iterations a token at Dk <= 32) and a wrong ht from T = 16384 at Dk = 64, and the
// chunked scan went wrong past ~256 chunks at Dk = Dv = 64, ~508 at 16, ~624 at 8. The launchers
// now advance a sequence at most host/src/vulkan/deltanet.h's kDeltaNetWindowTokens a dispatch.
// These cross those lengths, and the windows, against the reference (PoCL was right before).
struct LongCase {
  std::string name;
  Case c;
  bool recurrent; // also on recurrent (~0.15 ms a token on lavapipe: kept to one case)
};

std::vector<LongCase> long_cases() {
  // Gates in [-2, 0]: each token still sees the last few, so a state lost or misplaced between
  // windows shows in the outputs after it.
  return {
      // One call, two sequences: 21845 and 21846 tokens, either side of the recurrent cut.
      {"varlen 21845, 21846 Dk=Dv=8",
       Case{.T = 43691, .H = 1, .HV = 1, .Dk = 8, .Dv = 8, .cu = {0, 21845, 43691}, .g_lo = -2, .seed = 201},
       true},
      // 512 and 640 chunks, past the ~624 where chunked broke at Dk = Dv = 8.
      {"varlen 32768, 40960 Dk=Dv=8",
       Case{.T = 73728, .H = 1, .HV = 1, .Dk = 8, .Dv = 8, .cu = {0, 32768, 73728}, .g_lo = -2, .seed = 202},
       false},
      // The most loop iterations a chunk (Dk = 128, ~470): broke from ~140 chunks; 256 here, with
      // GQA and HV = 2.
      {"T=16384 Dk=128 Dv=8 GQA2", Case{.T = 16384, .H = 1, .HV = 2, .Dk = 128, .Dv = 8, .g_lo = -2, .seed = 203},
       false},
  };
}

// Relative L2 error of the o of each sequence's last 64 tokens (zeros where a loop was cut), the
// worst of them.
double worst_tail(const Result& got, const Result& want, const Case& c) {
  std::vector<int64_t> cu = c.cu.empty() ? std::vector<int64_t>{} : c.cu;
  if (cu.empty())
    for (int64_t n = 0; n <= c.B; ++n) cu.push_back(n * c.T);
  double worst = 0;
  const int64_t row = c.HV * c.Dv;
  for (size_t n = 0; n + 1 < cu.size(); ++n) {
    int64_t from = std::max(cu[n], cu[n + 1] - 64);
    size_t at = size_t(from * row), len = size_t((cu[n + 1] - from) * row);
    if (len) worst = std::max(worst, rel_l2(got.o.data() + at, want.o.data() + at, len));
  }
  return worst;
}

TEST(DeltaNetKernels, LongSequences) {
  std::vector<LongCase> cases = long_cases();
  std::vector<Problem> problems;
  std::vector<Result> refs;
  for (const LongCase& l : cases) {
    problems.push_back(make(l.c));
    refs.push_back(reference(problems.back()));
  }
  FOR_EACH_TARGET(t) {
    for (size_t i = 0; i < cases.size(); ++i) {
      if (t.variant == "recurrent" && !cases[i].recurrent) continue;
      Result got = run(t, problems[i]);
      const Result& want = refs[i];
      double eo = rel_l2(got.o.data(), want.o.data(), got.o.size());
      double eh = rel_l2(got.ht.data(), want.ht.data(), got.ht.size());
      double et = worst_tail(got, want, cases[i].c);
      EXPECT_LE(eo, t.rel_tol) << t.name() << " " << cases[i].name << ": o";
      EXPECT_LE(eh, t.rel_tol) << t.name() << " " << cases[i].name << ": ht";
      EXPECT_LE(et, t.rel_tol) << t.name() << " " << cases[i].name << ": o of each sequence's last 64 tokens";
      expect_within_mixed_bound(got, &want, mixed_bound(problems[i], t.form()), t.name() + " " + cases[i].name);
      std::cout << "[ meas ] " << t.name() << " " << cases[i].name << ": rel L2 vs reference o " << eo << ", ht "
                << eh << ", last 64 tokens' o " << et << "\n";
    }
  }
}

// Sets the vulkan DeltaNet dispatch window for a scope (the override vulkan_deltanet_window=),
// on top of the overrides in force, and puts those back.
struct WindowForTesting {
  Overrides saved = detail::current_overrides();
  explicit WindowForTesting(int64_t tokens) {
    Overrides o = saved;
    o.vulkan_deltanet_window = tokens;
    set_overrides(o);
  }
  ~WindowForTesting() { set_overrides(saved); }
};

// Windows of 1, 2 and 3 chunks (64, 128, 192 tokens): window boundaries inside sequences, at
// their ends, sequences ending before a window starts and empty ones, h0 and GQA; the result
// must not depend on the window (bytes equal to the default's, which covers these in one).
TEST(DeltaNetKernels, VulkanWindowsDoNotChangeResults) {
  if (!available("vulkan", "recurrent") && !available("vulkan", "chunked"))
    GTEST_SKIP() << "no vulkan deltanet variant";
  Problem p = make(Case{.T = 451, .H = 1, .HV = 2, .Dk = 16, .Dv = 40, .cu = {0, 0, 64, 65, 200, 451}, .seed = 211});
  bool ran = false;
  for (const dispatch::DeviceRef& d : dispatch::devices()) {
    if (d.backend != "vulkan") continue;
    for (std::string_view variant : {"recurrent", "chunked"}) {
      if (!available("vulkan", variant)) continue;
      Target t{"vulkan", d.index, std::string(variant), 0.0};
      Result whole = run(t, p);
      for (int64_t window : {64, 128, 192}) {
        WindowForTesting scope(window);
        Result cut = run(t, p);
        EXPECT_TRUE(test::equal_bytes(cut.o.data(), whole.o.data(), whole.o.size() * 4))
            << t.name() << " window " << window << ": o";
        EXPECT_TRUE(test::equal_bytes(cut.ht.data(), whole.ht.data(), whole.ht.size() * 4))
            << t.name() << " window " << window << ": ht";
      }
      ran = true;
    }
  }
  if (!ran) GTEST_SKIP() << "no vulkan device";
}

// The canary: with the whole sequence in one dispatch (the window lifted), a driver that cuts a
// variant's loops (lavapipe) must make the call fail, not return its outputs; a driver that does
// not must return the right ones.
void expect_cut_reported(std::string_view variant, const Case& c, const std::string& what) {
  if (!available("vulkan", variant)) GTEST_SKIP() << "no vulkan deltanet " << variant;
  Problem p = make(c);
  Result want = reference(p);
  bool ran = false;
  for (const dispatch::DeviceRef& d : dispatch::devices()) {
    if (d.backend != "vulkan") continue;
    ran = true;
    const bool llvmpipe = d.facts.name.find("llvmpipe") != std::string::npos;
    WindowForTesting scope(int64_t{1} << 30);
    Target t{"vulkan", d.index, std::string(variant), 0.0};
    try {
      Result r = run(t, p, nullptr, /*direct=*/true);
      EXPECT_FALSE(llvmpipe) << d.label() << ": " << what << " in one dispatch returned outputs";
      EXPECT_LE(rel_l2(r.o.data(), want.o.data(), r.o.size()), kChunkedBound) << d.label();
      EXPECT_LE(rel_l2(r.ht.data(), want.ht.data(), r.ht.size()), kChunkedBound) << d.label();
    } catch (const detail::BackendFailure& e) {
      EXPECT_NE(std::string(e.what()).find("loops short"), std::string::npos) << e.what();
      std::cout << "[ note ] " << t.name() << " " << what << " in one dispatch: " << e.what() << "\n";
    }
  }
  if (!ran) GTEST_SKIP() << "no vulkan device";
}

// lavapipe cuts the chunked scan from ~140 chunks at Dk = 128: 256 here.
TEST(DeltaNetKernels, VulkanCutLoopsAreReported) {
  expect_cut_reported("chunked", Case{.T = 16384, .H = 1, .HV = 1, .Dk = 128, .Dv = 8, .g_lo = -2, .seed = 221},
                      "256 chunks");
}

// The same for recurrent, which counts three iterations a token at Dk = 8: cut from 21845.
TEST(DeltaNetKernels, VulkanRecurrentCutLoopsAreReported) {
  expect_cut_reported("recurrent", Case{.T = 22000, .H = 1, .HV = 1, .Dk = 8, .Dv = 8, .g_lo = -2, .seed = 222},
                      "22000 tokens");
}

// With the outputs in device buffers the call does not wait for the status word: it is kept for
// the submission's completion, and sync() reports the cut (Error(Unsupported), naming it), after
// which the device works again.
TEST(DeltaNetKernels, VulkanCutLoopsOnResidentOutputsAreReportedBySync) {
  if (!available("vulkan", "recurrent")) GTEST_SKIP() << "no vulkan deltanet recurrent";
  const Context ctx = Context::open("vulkan", 0);
  if (ctx.device_name().find("llvmpipe") == std::string::npos) GTEST_SKIP() << "only llvmpipe cuts loops";
  const Case c{.T = 22000, .H = 1, .HV = 1, .Dk = 8, .Dv = 8, .h0 = false, .g_lo = -2, .seed = 223};
  Problem p = make(c);
  auto resident = [&](const std::vector<float>& v, Shape shape) {
    DeviceBuffer b = ctx.device_alloc(v.size() * 4);
    ctx.upload(b, 0, v.data(), v.size() * 4);
    return std::make_pair(std::move(b), std::move(shape));
  };
  auto q = resident(p.q, {1, c.T, c.H, c.Dk}), k = resident(p.k, {1, c.T, c.H, c.Dk});
  auto v = resident(p.v, {1, c.T, c.HV, c.Dv}), g = resident(p.g, {1, c.T, c.HV}), beta = resident(p.beta, {1, c.T, c.HV});
  DeviceBuffer o = ctx.device_alloc(static_cast<size_t>(c.T * c.HV * c.Dv) * 4), ht = ctx.device_alloc(c.HV * c.Dk * c.Dv * 4);
  DeltaNetArgs a;
  a.q = Context::view(q.first, DType::F32, q.second);
  a.k = Context::view(k.first, DType::F32, k.second);
  a.v = Context::view(v.first, DType::F32, v.second);
  a.g = Context::view(g.first, DType::F32, g.second);
  a.beta = Context::view(beta.first, DType::F32, beta.second);
  a.l2norm = true;
  {
    WindowForTesting scope(int64_t{1} << 30);
    deltanet(a, Context::view(o, DType::F32, {1, c.T, c.HV, c.Dv}), Context::view(ht, DType::F32, {1, c.HV, c.Dk, c.Dv}),
             ctx.options("recurrent"));
    EXPECT_EQ(ctx.last_run().device_ms, -1.0) << "the call waited for its status word";
  }
  try {
    ctx.sync();
    ADD_FAILURE() << "sync reported no cut";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported) << e.what();
    EXPECT_NE(std::string(e.what()).find("loops short"), std::string::npos) << e.what();
  }
  // The default window again: the same call completes and sync has nothing to report.
  deltanet(a, Context::view(o, DType::F32, {1, c.T, c.HV, c.Dv}), Context::view(ht, DType::F32, {1, c.HV, c.Dk, c.Dv}),
           ctx.options("recurrent"));
  EXPECT_EQ(ctx.sync().calls, 1);
}

} // namespace
