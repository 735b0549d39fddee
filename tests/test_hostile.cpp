// Hostile inputs, one table per class (issue "Hardening"):
//  - shapes whose products wrap 64 bits: an empty tensor may carry huge extents, and an operation
//    multiplies extents of different tensors (gemm: M of a by N of b). Each case is refused with
//    one clear error through krun, the C API and Context, and nothing is written;
//  - empty tensors with huge partners: legal, so each operation finishes at once (its loops must
//    not run over the extents of an empty input) on every backend;
//  - the checked shape arithmetic itself, header limits, and krun's --out equal to --in.
// Cache and ICD faults have their own files (test_cache_faults, test_diagnostics).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <functional>

#include "dispatch/registry.h"
#include "tessera/context.h"
#include "tessera/error.h"
#include "tessera/named_ops.h"
#include "tessera/safetensors.h"
#include "tessera/tessera.h"
#include "test_util.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {

// M * N = 2^64 + 1: wraps to 1 element, so a product computed unchecked says "4 bytes will do".
constexpr int64_t M = 274177, N = 67280421310721;
constexpr int64_t kHuge = int64_t{1} << 61;

// ---- the checked arithmetic ----

TEST(CheckedShapes, CountsAndLimits) {
  EXPECT_EQ(checked_numel({}), 1);
  EXPECT_EQ(checked_numel({3, 5}), 15);
  EXPECT_EQ(checked_numel({0, kHuge}), 0);
  EXPECT_EQ(checked_numel({kHuge, 2}), kMaxElements);
  EXPECT_FALSE(checked_numel({kHuge, 3}));
  EXPECT_FALSE(checked_numel({M, N}));                          // wraps to 1 unchecked
  EXPECT_FALSE(checked_numel({M, 0, N}));                       // empty, yet its extents wrap
  EXPECT_FALSE(checked_numel({INT64_MAX, INT64_MAX, 0}));       // signed overflow unchecked
  EXPECT_FALSE(checked_numel({-1, 0}));                         // negative even when empty
  EXPECT_EQ(checked_bytes(DType::F32, {kHuge / 2}), size_t(kHuge) * 2);
  EXPECT_FALSE(checked_bytes(DType::F32, {kHuge}));             // elements fit, bytes do not
  EXPECT_FALSE(checked_mul(kMaxElements, 2));
  EXPECT_EQ(checked_mul(kMaxElements, 1), kMaxElements);
  EXPECT_THROW(Tensor(DType::U8, {M, N}), Error);
  TensorView v{DType::F32, {M, N}, nullptr, 4};
  EXPECT_THROW(v.nbytes(), Error);
}

// ---- wrapped products: one case per operation that multiplies extents of different tensors ----

struct Spec {
  std::string name;
  DType dtype;
  Shape shape;
};

struct WrapCase {
  std::string op;
  std::vector<Spec> inputs;   // for krun (a safetensors file)
  ParamMap params;
  std::string output;         // the output whose shape wraps
};

std::vector<WrapCase> wrap_cases() {
  using D = DType;
  return {
      {"gemm_fp8", {{"a", D::F8_E4M3, {M, 0}}, {"b", D::F8_E4M3, {N, 0}}, {"a_scale", D::F32, {}}, {"b_scale", D::F32, {}}}, {}, "c"},
      {"gemm_fp8",
       {{"a", D::F8_E4M3, {M, 0}}, {"b", D::F8_E4M3, {N, 0}}, {"a_scale", D::F32, {M, 0}}, {"b_scale", D::F32, {(N + 127) / 128, 0}}},
       {},
       "c"},
      {"gemm_nvfp4",
       {{"a", D::U8, {M, 0}}, {"a_scale", D::F8_E4M3, {M, 0}}, {"a_scale_2", D::F32, {}}, {"b", D::U8, {N, 0}},
        {"b_scale", D::F8_E4M3, {N, 0}}, {"b_scale_2", D::F32, {}}},
       {},
       "c"},
      {"gemm_nvfp4_act", {{"x", D::F32, {M, 0}}, {"b", D::U8, {N, 0}}, {"b_scale", D::F8_E4M3, {N, 0}}, {"b_scale_2", D::F32, {}}}, {}, "c"},
      {"gemm_fp8_act", {{"x", D::F32, {M, 0}}, {"b", D::F8_E4M3, {N, 0}}, {"b_scale", D::F32, {(N + 127) / 128, 0}}}, {}, "c"},
      {"deltanet",
       {{"q", D::F32, {1, 0, 1, M}}, {"k", D::F32, {1, 0, 1, M}}, {"v", D::F32, {1, 0, 1, N}}, {"g", D::F32, {1, 0, 1}},
        {"beta", D::F32, {1, 0, 1}}},
       {},
       "ht"},
      // state_out [B, C, W - 1] = (2^61 + 1) * 8 = 2^64 + 8 elements: wraps to 8.
      {"conv1d", {{"x", D::F32, {kHuge + 1, 0, 1}}, {"w", D::F32, {1, 9}}}, {}, "state"},
      // y [rows, 2 * bytes per row]: 2 * 2^62 passes the limit (and int64 at 2^63).
      {"dequantize_nvfp4", {{"x", D::U8, {0, int64_t{1} << 62}}, {"x_scale", D::F8_E4M3, {0, int64_t{1} << 59}}, {"x_scale_2", D::F32, {}}}, {}, "y"},
  };
}

TensorMap tensors_of(const std::vector<Spec>& specs) {
  TensorMap m;
  for (const Spec& s : specs) {
    Tensor t(s.dtype, s.shape);
    if (s.dtype == DType::F32)
      for (int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = 1.0f;
    m.emplace(s.name, std::move(t));
  }
  return m;
}

fs::path tmp_dir() {
  fs::path d = fs::path(TESSERA_TEST_TMP) / "hostile" / ::testing::UnitTest::GetInstance()->current_test_info()->name();
  fs::create_directories(d);
  return d;
}

test::ToolRun krun(const std::string& args) {
  return test::run_tool(std::string(TESSERA_KRUN) + " " + args, (tmp_dir() / "stderr.txt").string());
}

TEST(WrappedShapes, KrunRefusesEachWithOneLineAndNoOutput) {
  int i = 0;
  for (const WrapCase& c : wrap_cases()) {
    SCOPED_TRACE(c.op);
    fs::path in = tmp_dir() / fmt::format("in{}.safetensors", i), out = tmp_dir() / fmt::format("out{}.safetensors", i++);
    safetensors::save(in.string(), tensors_of(c.inputs));
    fs::remove(out);
    test::ToolRun r = krun(fmt::format("{} --in {} --out {}", c.op, in.string(), out.string()));
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(r.err.starts_with("krun: " + c.op + ": ")) << r.err;
    EXPECT_NE(r.err.find("2^62"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
  }
}

TEST(WrappedShapes, RunNamedOpRefusesEachAsAShapeMismatch) {
  for (const WrapCase& c : wrap_cases()) {
    SCOPED_TRACE(c.op);
    try {
      run_named_op(c.op, tensors_of(c.inputs), c.params);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.output), std::string::npos) << e.what();
    }
  }
}

// ---- the same through Context and the C API: typed views, a small guarded output buffer ----

constexpr size_t kGuard = 256;
constexpr unsigned char kFill = 0xAB;

// Buffers behind the typed calls: every input is empty (no bytes needed), the output gets kGuard
// bytes filled with kFill, which a refused call must leave alone.
struct Buffers {
  std::array<unsigned char, kGuard> out, out2;
  std::array<float, 16> small{}; // for inputs with a few elements (conv1d's w)
  Buffers() {
    out.fill(kFill);
    out2.fill(kFill);
    small.fill(1.0f);
  }
  bool untouched() const {
    for (size_t i = 0; i < kGuard; ++i)
      if (out[i] != kFill || out2[i] != kFill) return false;
    return true;
  }
  TensorView in(DType t, Shape s) { return TensorView{t, std::move(s), small.data(), sizeof small}; }
  TensorView o(DType t, Shape s) { return TensorView{t, std::move(s), out.data(), kGuard}; }
  TensorView o2(DType t, Shape s) { return TensorView{t, std::move(s), out2.data(), kGuard}; }
};

struct TypedCase {
  std::string op;
  std::function<void(const Context&, Buffers&)> run;
};

std::vector<TypedCase> typed_cases() {
  using D = DType;
  return {
      {"gemm_fp8", [](const Context& ctx, Buffers& b) {
         ctx.gemm_fp8(b.in(D::F8_E4M3, {M, 0}), b.in(D::F8_E4M3, {N, 0}), 1.0f, std::nullopt, b.o(D::F32, {M, N}));
       }},
      {"gemm_fp8_block", [](const Context& ctx, Buffers& b) {
         ctx.gemm_fp8_block(b.in(D::F8_E4M3, {M, 0}), b.in(D::F32, {M, 0}), b.in(D::F8_E4M3, {N, 0}),
                            b.in(D::F32, {(N + 127) / 128, 0}), std::nullopt, b.o(D::F32, {M, N}));
       }},
      {"gemm_nvfp4", [](const Context& ctx, Buffers& b) {
         ctx.gemm_nvfp4(b.in(D::U8, {M, 0}), b.in(D::F8_E4M3, {M, 0}), b.in(D::U8, {N, 0}), b.in(D::F8_E4M3, {N, 0}), 1.0f,
                        std::nullopt, b.o(D::F32, {M, N}));
       }},
      {"deltanet", [](const Context& ctx, Buffers& b) {
         DeltaNetArgs a;
         a.q = b.in(D::F32, {1, 0, 1, M});
         a.k = a.q;
         a.v = b.in(D::F32, {1, 0, 1, N});
         a.g = b.in(D::F32, {1, 0, 1});
         a.beta = b.in(D::F32, {1, 0, 1});
         ctx.deltanet(a, b.o2(D::F32, {1, 0, 1, N}), b.o(D::F32, {1, 1, M, N}));
       }},
      {"conv1d", [](const Context& ctx, Buffers& b) {
         ctx.conv1d(b.in(D::F32, {kHuge + 1, 0, 1}), b.in(D::F32, {1, 9}), std::nullopt, std::nullopt,
                    b.o2(D::F32, {kHuge + 1, 0, 1}), b.o(D::F32, {kHuge + 1, 1, 8}));
       }},
      {"dequantize_nvfp4", [](const Context& ctx, Buffers& b) {
         ctx.dequantize_nvfp4(b.in(D::U8, {0, int64_t{1} << 62}), b.in(D::F8_E4M3, {0, int64_t{1} << 59}), 1.0f,
                              b.o(D::F32, {0, std::numeric_limits<int64_t>::max()}));
       }},
  };
}

TEST(WrappedShapes, ContextRefusesEachAndWritesNothing) {
  Context ctx = Context::open("cpu");
  for (const TypedCase& c : typed_cases()) {
    SCOPED_TRACE(c.op);
    Buffers b;
    try {
      c.run(ctx, b);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch) << e.what();
      EXPECT_NE(std::string(e.what()).find("2^62"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
    EXPECT_TRUE(b.untouched());
  }
}

TEST(WrappedShapes, ContextViewRefusesAWrappedShape) {
  Context ctx = Context::open("cpu");
  Buffer buf = ctx.alloc(4);
  try {
    Context::view(buf, DType::F32, {M, N});
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
    EXPECT_NE(std::string(e.what()).find("2^62"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Context::view(buf, DType::F32, Shape(kMaxRank + 1, 1)), Error);
}

tessera_tensor c_tensor(tessera_dtype t, Shape s, void* data, size_t bytes) {
  tessera_tensor r{};
  r.dtype = t;
  r.ndim = static_cast<int32_t>(s.size());
  for (size_t i = 0; i < s.size(); ++i) r.shape[i] = s[i];
  r.data = data;
  r.bytes = bytes;
  return r;
}

TEST(WrappedShapes, CApiRefusesEachAndWritesNothing) {
  tessera_context* ctx = nullptr;
  ASSERT_EQ(tessera_context_create("cpu", 0, &ctx), TESSERA_OK);
  float in[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  auto I = [&](tessera_dtype t, Shape s) { return c_tensor(t, std::move(s), in, sizeof in); };
  struct Call {
    const char* op;
    std::function<tessera_status(Buffers&)> run;
  };
  std::vector<Call> calls = {
      {"gemm_fp8", [&](Buffers& b) {
         auto a = I(TESSERA_F8_E4M3, {M, 0}), w = I(TESSERA_F8_E4M3, {N, 0});
         auto c = c_tensor(TESSERA_F32, {M, N}, b.out.data(), kGuard);
         return tessera_gemm_fp8(ctx, &a, &w, 1.0f, nullptr, &c);
       }},
      {"gemm_fp8_block", [&](Buffers& b) {
         auto a = I(TESSERA_F8_E4M3, {M, 0}), sa = I(TESSERA_F32, {M, 0}), w = I(TESSERA_F8_E4M3, {N, 0}),
              sw = I(TESSERA_F32, {(N + 127) / 128, 0});
         auto c = c_tensor(TESSERA_F32, {M, N}, b.out.data(), kGuard);
         return tessera_gemm_fp8_block(ctx, &a, &sa, &w, &sw, nullptr, &c);
       }},
      {"gemm_nvfp4", [&](Buffers& b) {
         auto a = I(TESSERA_U8, {M, 0}), sa = I(TESSERA_F8_E4M3, {M, 0}), w = I(TESSERA_U8, {N, 0}), sw = I(TESSERA_F8_E4M3, {N, 0});
         auto c = c_tensor(TESSERA_F32, {M, N}, b.out.data(), kGuard);
         return tessera_gemm_nvfp4(ctx, &a, &sa, &w, &sw, 1.0f, nullptr, &c);
       }},
      {"deltanet", [&](Buffers& b) {
         auto q = I(TESSERA_F32, {1, 0, 1, M}), v = I(TESSERA_F32, {1, 0, 1, N}), g = I(TESSERA_F32, {1, 0, 1});
         tessera_deltanet_args a;
         tessera_deltanet_args_init(&a);
         a.q = &q;
         a.k = &q;
         a.v = &v;
         a.g = &g;
         a.beta = &g;
         auto o = c_tensor(TESSERA_F32, {1, 0, 1, N}, b.out2.data(), kGuard);
         auto ht = c_tensor(TESSERA_F32, {1, 1, M, N}, b.out.data(), kGuard);
         return tessera_deltanet(ctx, &a, &o, &ht);
       }},
      {"conv1d", [&](Buffers& b) {
         auto x = I(TESSERA_F32, {kHuge + 1, 0, 1}), w = I(TESSERA_F32, {1, 9});
         auto y = c_tensor(TESSERA_F32, {kHuge + 1, 0, 1}, b.out2.data(), kGuard);
         auto s = c_tensor(TESSERA_F32, {kHuge + 1, 1, 8}, b.out.data(), kGuard);
         return tessera_conv1d(ctx, &x, &w, nullptr, nullptr, &y, &s);
       }},
      {"dequantize_nvfp4", [&](Buffers& b) {
         auto q = I(TESSERA_U8, {0, int64_t{1} << 62}), s = I(TESSERA_F8_E4M3, {0, int64_t{1} << 59});
         auto y = c_tensor(TESSERA_F32, {0, std::numeric_limits<int64_t>::max()}, b.out.data(), kGuard);
         return tessera_dequantize_nvfp4(ctx, &q, &s, 1.0f, &y);
       }},
  };
  for (const Call& c : calls) {
    SCOPED_TRACE(c.op);
    Buffers b;
    EXPECT_EQ(c.run(b), TESSERA_SHAPE_MISMATCH) << tessera_last_error_message();
    std::string m = tessera_last_error_message();
    EXPECT_NE(m.find("2^62"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_TRUE(b.untouched());
  }
  tessera_context_destroy(ctx);
}

// ---- empty tensors with huge partners: legal, and done at once on every backend ----

struct EmptyCase {
  std::string op;
  std::vector<Spec> inputs;
  ParamMap params;
};

std::vector<EmptyCase> empty_cases() {
  using D = DType;
  std::vector<EmptyCase> v = {
      {"convert", {{"x", D::F32, {kHuge, 0}}}, {{"to", "e4m3"}}},
      {"quantize_nvfp4", {{"x", D::F32, {kHuge, 0}}}, {}},
      {"dequantize_nvfp4", {{"x", D::U8, {kHuge, 0}}, {"x_scale", D::F8_E4M3, {kHuge, 0}}, {"x_scale_2", D::F32, {}}}, {}},
      {"dequantize_fp8", {{"x", D::F8_E4M3, {kHuge, 0}}, {"x_scale", D::F32, {}}}, {{"recipe", "fp8-tensor"}}},
      {"gemm_fp8", {{"a", D::F8_E4M3, {kHuge, 0}}, {"b", D::F8_E4M3, {0, 0}}, {"a_scale", D::F32, {}}, {"b_scale", D::F32, {}}}, {}},
      {"gemm_nvfp4",
       {{"a", D::U8, {kHuge, 0}}, {"a_scale", D::F8_E4M3, {kHuge, 0}}, {"a_scale_2", D::F32, {}}, {"b", D::U8, {0, 0}},
        {"b_scale", D::F8_E4M3, {0, 0}}, {"b_scale_2", D::F32, {}}},
       {}},
      {"gemm_nvfp4_act", {{"x", D::F32, {kHuge, 0}}, {"b", D::U8, {0, 0}}, {"b_scale", D::F8_E4M3, {0, 0}}, {"b_scale_2", D::F32, {}}}, {}},
      {"gemm_fp8_act", {{"x", D::F32, {kHuge, 0}}, {"b", D::F8_E4M3, {0, 0}}, {"b_scale", D::F32, {0, 0}}}, {}},
      {"conv1d", {{"x", D::F32, {int64_t{1} << 60, 0, 4}}, {"w", D::F32, {4, 1}}}, {}},
      {"attention", {{"q", D::F32, {int64_t{1} << 40, 0, 1, 1}}, {"k", D::F32, {int64_t{1} << 40, 0, 1, 1}}, {"v", D::F32, {int64_t{1} << 40, 0, 1, 1}}}, {}},
      {"deltanet",
       {{"q", D::F32, {0, kHuge, 1, 1}}, {"k", D::F32, {0, kHuge, 1, 1}}, {"v", D::F32, {0, kHuge, 1, 1}}, {"g", D::F32, {0, kHuge, 1}},
        {"beta", D::F32, {0, kHuge, 1}}},
       {}},
  };
  for (const char* r : {"fp8-tensor", "fp8-token128", "fp8-block128"})
    v.push_back({"quantize_fp8", {{"x", D::F32, {kHuge, 0}}}, {{"recipe", r}}});
  return v;
}

std::vector<std::string> backends() {
  std::vector<std::string> b = {"cpu"};
  for (const char* name : {"opencl", "vulkan"})
    if (Context::device_count(name) > 0) b.push_back(name);
  return b;
}

TEST(EmptyWithHugeExtents, EveryOperationFinishesOnEveryBackend) {
  for (const std::string& backend : backends())
    for (const EmptyCase& c : empty_cases()) {
      SCOPED_TRACE(backend + " " + c.op);
      RunOptions o;
      o.backend = backend;
      TensorMap out;
      ASSERT_NO_THROW(out = run_named_op(c.op, tensors_of(c.inputs), c.params, o));
      for (const auto& [name, t] : out)
        if (t.shape().size() > 0) {
          EXPECT_EQ(t.numel(), 0) << name;
        }
    }
}

// The per-tensor scale of an empty input is still an output: the reference's value for no
// elements, as a non-empty call computes it.
TEST(EmptyWithHugeExtents, ScalarOutputsAreTheReferenceValues) {
  TensorMap q = run_named_op("quantize_fp8", tensors_of({{"x", DType::F32, {kHuge, 0}}}), {{"recipe", "fp8-tensor"}});
  TensorMap q0 = run_named_op("quantize_fp8", tensors_of({{"x", DType::F32, {0, 0}}}), {{"recipe", "fp8-tensor"}});
  EXPECT_EQ(q.at("x_scale").as<float>()[0], q0.at("x_scale").as<float>()[0]);
  TensorMap n = run_named_op("quantize_nvfp4", tensors_of({{"x", DType::F32, {kHuge, 0}}}), {});
  TensorMap n0 = run_named_op("quantize_nvfp4", tensors_of({{"x", DType::F32, {0, 16}}}), {});
  EXPECT_EQ(n.at("x_scale_2").as<float>()[0], n0.at("x_scale_2").as<float>()[0]);
}

// ---- header limits ----

std::vector<std::byte> header_file(const std::string& json) {
  std::vector<std::byte> f(8 + json.size());
  for (int i = 0; i < 8; ++i) f[i] = std::byte((uint64_t(json.size()) >> (8 * i)) & 0xFF);
  std::memcpy(f.data() + 8, json.data(), json.size());
  return f;
}

TEST(HeaderLimits, TensorCountAndHeaderSizeAreLimitsACallerCanRaise) {
  std::string h = "{";
  for (int i = 0; i < 10; ++i) h += fmt::format(R"({}"t{}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})", i ? "," : "", i);
  h += "}";
  const auto f = header_file(h);
  safetensors::Limits l;
  l.max_tensors = 9;
  try {
    safetensors::parse(f, "f", l);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::MalformedFile);
    EXPECT_NE(std::string(e.what()).find("more than 9 tensors"), std::string::npos) << e.what();
  }
  l.max_tensors = 10;
  EXPECT_EQ(safetensors::parse(f, "f", l).size(), 10u);
  l.max_header_bytes = h.size() - 1;
  EXPECT_THROW(safetensors::parse(f, "f", l), Error);
  l.max_header_bytes = h.size();
  EXPECT_EQ(safetensors::parse(f, "f", l).size(), 10u);
}

TEST(HeaderLimits, AnEntryCannotHoldMillionsOfValues) {
  // The reader keeps one entry's values at a time; an entry of a million numbers is refused early.
  std::string many = R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"x":[)";
  for (int i = 0; i < 1000000; ++i) many += i ? ",1" : "1";
  many += "]}}";
  EXPECT_THROW(safetensors::parse(header_file(many)), Error);
  std::string dims = R"({"t":{"dtype":"F32","data_offsets":[0,0],"shape":[)";
  for (int i = 0; i < 1000000; ++i) dims += i ? ",0" : "0";
  dims += "]}}";
  try {
    safetensors::parse(header_file(dims));
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than 8 elements"), std::string::npos) << e.what();
  }
}

// ---- krun: an output path that is the input ----

TEST(KrunPaths, OutputEqualToInputIsRefusedAndTheInputKept) {
  fs::path in = tmp_dir() / "x.safetensors";
  TensorMap m = tensors_of({{"x", DType::F32, {2, 16}}});
  safetensors::save(in.string(), m);
  const auto before = safetensors::serialize(safetensors::load(in.string()));
  fs::path alias = tmp_dir() / "." / "x.safetensors";
  fs::remove(tmp_dir() / "link.safetensors");
  fs::create_symlink(in, tmp_dir() / "link.safetensors");
  for (const fs::path& out : {in, alias, tmp_dir() / "link.safetensors"}) {
    SCOPED_TRACE(out.string());
    test::ToolRun r = krun(fmt::format("quantize_nvfp4 --in {} --out {}", in.string(), out.string()));
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("is the input file"), std::string::npos) << r.err;
    EXPECT_EQ(safetensors::serialize(safetensors::load(in.string())), before);
  }
}

} // namespace
