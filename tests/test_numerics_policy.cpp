// The numerics policy of a call (RunOptions::policy, TESSERA_OVERRIDE numerics= / strict= /
// unproven=, Context::open, tessera_context_create_with_policy): which conformance classes a
// call accepts, whether a CPU fallback is an error, and how variants that have never passed the
// conformance suite on a device's class are ranked (docs/architecture.md, "Numerics policy").
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/device.h"
#include "dispatch/registry.h"
#include "tessera/context.h"
#include "tessera/ops.h"
#include "tessera/overrides.h"
#include "tessera/tessera.h"
#include "test_util.h"

namespace tessera {
namespace {

// Clears any override a test set, whatever its outcome.
struct OverridesGuard {
  ~OverridesGuard() { set_overrides(Overrides{}); }
};

dispatch::Problem gemm(std::string_view op, int64_t M) {
  return dispatch::Problem{op, {{"M", M}, {"N", 5120}, {"K", 5120}, {"elements", M * 5120}}};
}

dispatch::Problem attention(int64_t T) {
  return dispatch::Problem{"attention", {{"T", T}, {"S", T}, {"D", 128}, {"Hq", 8}, {"Hkv", 2}, {"causal", 1},
                                         {"elements", T * 8 * 128}}};
}

dispatch::Problem conv1d(int64_t T) {
  return dispatch::Problem{"conv1d", {{"T", T}, {"B", 1}, {"C", 1024}, {"W", 4}, {"elements", T * 1024}}};
}

dispatch::Problem deltanet(int64_t T) {
  return dispatch::Problem{"deltanet", {{"T", T}, {"tokens", T}, {"n_seqs", 1}, {"H", 4}, {"HV", 4}, {"Dk", 64},
                                        {"Dv", 64}, {"elements", T * 4 * 64}}};
}

// The variant explain() picks first on a described device.
std::string picked(const std::string& file, std::string_view op, const dispatch::Problem& p,
                   const RunOptions& o = {}) {
  dispatch::DeviceRef d = dispatch::describe(load_device_file(test::device_file(file)));
  for (const auto& v : dispatch::explain(op, d, p, o))
    if (v.accepted) return std::string(v.variant->name);
  return "reference";
}

RunOptions with(Numerics n, double bound = 0.0, bool strict = false, bool unproven = false) {
  RunOptions o;
  o.policy = NumericsPolicy{n, bound, strict, unproven};
  return o;
}

// The device backends that have a device here (PoCL, lavapipe).
std::vector<std::string> device_backends() {
  std::vector<std::string> out;
  for (const char* b : {"opencl", "vulkan"})
    if (dispatch::backend_built(b) && Context::device_count(b) > 0) out.push_back(b);
  return out;
}

TEST(NumericsPolicy, UnprovenTensorCoresRankBelowExactVariantsOnNvidiaFiles) {
  for (const char* file : {"h100-sxm-opencl.json", "h100-sxm-vulkan.json", "b200-opencl.json"}) {
    SCOPED_TRACE(file);
    // Nothing has passed conformance on NVIDIA hardware: the exact GEMMs and the fp32 attention
    // come first, the bounded tensor-core variants only when the caller opts in.
    EXPECT_EQ(picked(file, "gemm_nvfp4", gemm("gemm_nvfp4", 4096)), "tiled_exact");
    EXPECT_EQ(picked(file, "gemm_fp8", gemm("gemm_fp8", 4096)), "tiled_exact");
    EXPECT_EQ(picked(file, "attention", attention(512)), "flash_prefill");
    // Both DeltaNet variants declare the DeltaNet error bound with fp32 operands (nominal 0, as
    // the fp32 attention variants): equally strict, so priority decides, as on the CPU class.
    EXPECT_EQ(picked(file, "deltanet", deltanet(512)), "chunked");
    RunOptions opt_in = with(Numerics::Any, 0.0, false, true);
    EXPECT_NE(picked(file, "gemm_nvfp4", gemm("gemm_nvfp4", 4096), opt_in), "tiled_exact");
    EXPECT_EQ(picked(file, "deltanet", deltanet(512), opt_in), "chunked");
  }
  // On the CPU class (PoCL, lavapipe) every portable variant has passed: priority decides.
  EXPECT_EQ(picked("pocl.json", "deltanet", deltanet(512)), "chunked");
  EXPECT_EQ(picked("lavapipe.json", "deltanet", deltanet(512)), "chunked");
}

TEST(NumericsPolicy, ReasonsSayWhatWasProven) {
  dispatch::DeviceRef d = dispatch::describe(load_device_file(test::device_file("h100-sxm-opencl.json")));
  auto verdicts = dispatch::explain("gemm_nvfp4", d, gemm("gemm_nvfp4", 4096));
  auto first = std::find_if(verdicts.begin(), verdicts.end(), [](const auto& v) { return v.accepted; });
  ASSERT_NE(first, verdicts.end());
  EXPECT_EQ(first->variant->name, "tiled_exact");
  EXPECT_NE(first->reason.find("not yet conformance-checked on nvidia-hopper"), std::string::npos) << first->reason;
  for (const auto& v : verdicts) {
    if (v.variant->name == "nv_mma_f16") {
      EXPECT_EQ(v.variant->conformance.proven_on, "");
    }
  }
  for (const auto& v : dispatch::variants()) {
    if (v.backend == "cpu") {
      EXPECT_TRUE(v.conformance.proven("nvidia-hopper")) << v.op;
    } else if (!v.name.starts_with("nv_")) {
      // What `make test` runs on PoCL and lavapipe: every variant those devices can run.
      EXPECT_TRUE(v.conformance.proven("cpu")) << v.name;
    }
  }
}

TEST(NumericsPolicy, ExactAndBoundedFilterOnEveryBackend) {
  for (const std::string& b : device_backends()) {
    SCOPED_TRACE(b);
    RunOptions o = with(Numerics::Exact);
    o.backend = b;
    // No exact attention kernel: the reference runs it, and the reason says why.
    dispatch::Choice c = dispatch::select("attention", attention(64), o);
    EXPECT_EQ(c.device->backend, "cpu");
    EXPECT_NE(c.reason.find("accepts exact variants only"), std::string::npos) << c.reason;
    // Exact GEMMs still run on the device.
    EXPECT_EQ(dispatch::select("gemm_nvfp4", gemm("gemm_nvfp4", 64), o).variant->name, "tiled_exact");
    // bounded:1e-7 refuses the 1e-6 conv1d (to the reference), bounded:1e-5 keeps it.
    RunOptions tight = with(Numerics::Bounded, 1e-7);
    tight.backend = b;
    EXPECT_EQ(dispatch::select("conv1d", conv1d(64), tight).device->backend, "cpu");
    RunOptions loose = with(Numerics::Bounded, 1e-5);
    loose.backend = b;
    EXPECT_EQ(dispatch::select("conv1d", conv1d(64), loose).variant->name, "direct_silu");
    // The DeltaNet variants' mixed bounds have fp32 operands: any bounded:B keeps them (as the
    // fp32 attention kernels).
    EXPECT_EQ(dispatch::select("deltanet", deltanet(512), tight).variant->name, "chunked");
    // A forced variant the policy refuses is an error, not a silent substitute.
    RunOptions forced = tight;
    forced.variant = "direct_silu";
    test::expect_error(ErrorCode::Unsupported, "looser than the call's numerics=bounded:1e-07",
                       [&] { dispatch::select("conv1d", conv1d(64), forced); });
  }
}

TEST(NumericsPolicy, StrictRefusesTheCpuFallbackOnEveryBackend) {
  OverridesGuard guard;
  std::vector<float> x = {1.0f, -2.5f, 3.25f, 0.0f};
  Tensor in = test::f32_tensor({4}, x);
  Tensor out(DType::BF16, {4});
  for (const std::string& b : device_backends()) {
    SCOPED_TRACE(b);
    set_overrides("disable=" + b + ":convert:elementwise"); // no device variant left for convert
    RunOptions o;
    o.backend = b;
    RunInfo info;
    convert(in.view(), Format::BF16, out.view(), o, &info); // default: falls back, says so
    EXPECT_EQ(info.backend, "cpu");
    o.policy.strict = true;
    test::expect_error(ErrorCode::Unsupported, "strict: not falling back to the CPU reference",
                       [&] { convert(in.view(), Format::BF16, out.view(), o); });
    // The same through a Context opened with the policy, and through TESSERA_OVERRIDE's syntax.
    Context ctx = Context::open(b, 0, NumericsPolicy{Numerics::Any, 0.0, true, false});
    EXPECT_TRUE(ctx.policy().strict);
    test::expect_error(ErrorCode::Unsupported, "strict", [&] { ctx.convert(in.view(), Format::BF16, out.view()); });
    set_overrides("disable=" + b + ":convert:elementwise;strict=1");
    o.policy.strict = false;
    test::expect_error(ErrorCode::Unsupported, "strict", [&] { convert(in.view(), Format::BF16, out.view(), o); });
    // The C API: the policy text, limited to its keys.
    set_overrides("disable=" + b + ":convert:elementwise");
    tessera_context* c = nullptr;
    ASSERT_EQ(tessera_context_create_with_policy(b.c_str(), 0, "strict=1", &c), TESSERA_OK)
        << tessera_last_error_message();
    tessera_tensor cx{}, cy{};
    cx.dtype = TESSERA_F32, cx.ndim = 1, cx.shape[0] = 4, cx.data = in.data(), cx.bytes = in.nbytes();
    cy.dtype = static_cast<tessera_dtype>(DType::BF16), cy.ndim = 1, cy.shape[0] = 4, cy.data = out.data(),
    cy.bytes = out.nbytes();
    EXPECT_EQ(tessera_convert(c, &cx, TESSERA_FORMAT_BF16, &cy), TESSERA_UNSUPPORTED);
    EXPECT_NE(std::string(tessera_last_error_message()).find("strict"), std::string::npos);
    tessera_context_destroy(c);
    set_overrides(Overrides{});
  }
  // On the CPU backend the reference is the variant: strict changes nothing.
  RunOptions cpu;
  cpu.backend = "cpu";
  cpu.policy.strict = true;
  cpu.policy.numerics = Numerics::Exact;
  convert(in.view(), Format::BF16, out.view(), cpu);
}

TEST(NumericsPolicy, OverrideSyntaxAndBadPolicies) {
  OverridesGuard guard;
  Overrides o = parse_overrides("numerics=bounded:1e-5; strict=1; unproven=1");
  EXPECT_EQ(o.policy.numerics, Numerics::Bounded);
  EXPECT_DOUBLE_EQ(o.policy.max_bound, 1e-5);
  EXPECT_TRUE(o.policy.strict);
  EXPECT_TRUE(o.policy.unproven);
  EXPECT_EQ(parse_overrides("numerics=exact").policy.numerics, Numerics::Exact);
  EXPECT_EQ(parse_overrides("numerics=any").policy.numerics, Numerics::Any);
  for (const char* bad : {"numerics=bounded:", "numerics=bounded:-1", "numerics=bounded:x", "numerics=fast",
                          "strict=yes", "unproven=2"})
    test::expect_error(ErrorCode::InvalidArgument, "override", [&] { parse_overrides(bad); });
  // An override's numerics applies to a call that does not say; the call's own wins.
  set_overrides("numerics=exact");
  if (!device_backends().empty()) {
    RunOptions call;
    call.backend = device_backends().front();
    EXPECT_EQ(dispatch::select("attention", attention(64), call).device->backend, "cpu");
    call.policy.numerics = Numerics::Bounded;
    call.policy.max_bound = 1e-4;
    EXPECT_NE(dispatch::select("attention", attention(64), call).device->backend, "cpu");
  }
  set_overrides(Overrides{});
  RunOptions zero = with(Numerics::Bounded, 0.0);
  test::expect_error(ErrorCode::InvalidArgument, "max_bound", [&] { dispatch::select("convert", dispatch::Problem{"convert", {}}, zero); });
  test::expect_error(ErrorCode::InvalidArgument, "max_bound",
                     [&] { Context::open("cpu", 0, NumericsPolicy{Numerics::Bounded, -1.0, false, false}); });
  tessera_context* c = nullptr;
  EXPECT_EQ(tessera_context_create_with_policy("cpu", 0, "backend=cpu", &c), TESSERA_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tessera_last_error_message()).find("numerics, strict and unproven"), std::string::npos);
  EXPECT_EQ(tessera_context_create_with_policy("cpu", 0, "numerics=bogus", &c), TESSERA_INVALID_ARGUMENT);
  EXPECT_EQ(c, nullptr);
}

} // namespace
} // namespace tessera
