// An output written over an input (docs/architecture.md, "Aliasing"): every operation reads its
// inputs as they were before the call, on every backend. The device backends compute into buffers
// of their own; the CPU reference, whose functions write outputs as they compute, does the same
// when the caller's buffers overlap (host/src/cpu_backend.cpp). Each case compares the aliased
// call with the same call on separate buffers.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tessera/context.h"

namespace {
using namespace tessera;

std::vector<uint8_t> bytes_of(const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

std::vector<float> values(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>(static_cast<int>((i * 7919) % 97) - 48);
  return v;
}

class Aliasing : public ::testing::TestWithParam<const char*> {
protected:
  void SetUp() override {
    if (Context::device_count(GetParam()) == 0) GTEST_SKIP() << "no " << GetParam() << " device";
    ctx_ = Context::open(GetParam(), 0);
  }
  std::optional<Context> ctx_;
};

// convert's bf16 output over the second half of its f32 input: element i is written over input
// elements n/2 + i/2, which an in-order loop has not read yet.
TEST_P(Aliasing, ConvertOverItsInput) {
  const int64_t n = 256;
  std::vector<uint8_t> x = bytes_of(values(n, 0.3f)), want(n * 2);
  ctx_->convert(TensorView{DType::F32, {n}, x.data(), x.size()}, Format::BF16,
                TensorView{DType::BF16, {n}, want.data(), want.size()});
  ctx_->convert(TensorView{DType::F32, {n}, x.data(), x.size()}, Format::BF16,
                TensorView{DType::BF16, {n}, x.data() + n * 2, n * 2});
  EXPECT_EQ(std::vector<uint8_t>(x.begin() + n * 2, x.end()), want);
}

// quantize_fp8's codes over its input, and its scales over the input's tail.
TEST_P(Aliasing, QuantizerOverItsInput) {
  const int64_t rows = 4, cols = 256;
  std::vector<uint8_t> x = bytes_of(values(rows * cols, 0.01f));
  std::vector<uint8_t> q(rows * cols), scales(rows * 2 * 4);
  ctx_->quantize_fp8(TensorView{DType::F32, {rows, cols}, x.data(), x.size()}, Fp8Recipe::Token128,
                     TensorView{DType::F8_E4M3, {rows, cols}, q.data(), q.size()},
                     TensorView{DType::F32, {rows, 2}, scales.data(), scales.size()});
  uint8_t* tail = x.data() + x.size() - scales.size();
  ctx_->quantize_fp8(TensorView{DType::F32, {rows, cols}, x.data(), x.size()}, Fp8Recipe::Token128,
                     TensorView{DType::F8_E4M3, {rows, cols}, x.data(), q.size()},
                     TensorView{DType::F32, {rows, 2}, tail, scales.size()});
  EXPECT_EQ(std::vector<uint8_t>(x.begin(), x.begin() + static_cast<long>(q.size())), q);
  EXPECT_EQ(std::vector<uint8_t>(tail, tail + scales.size()), scales);
}

// An FP8 GEMM's f32 output over its weight.
TEST_P(Aliasing, GemmOverItsWeight) {
  const int64_t M = 2, N = 8, K = 64;
  std::vector<uint8_t> a(M * K), b(N * K), want(M * N * 4);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>((i * 37) % 0x70); // finite E4M3 codes
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>((i * 53) % 0x70);
  ctx_->gemm_fp8(TensorView{DType::F8_E4M3, {M, K}, a.data(), a.size()},
                 TensorView{DType::F8_E4M3, {N, K}, b.data(), b.size()}, 0.5f, std::nullopt,
                 TensorView{DType::F32, {M, N}, want.data(), want.size()});
  ctx_->gemm_fp8(TensorView{DType::F8_E4M3, {M, K}, a.data(), a.size()},
                 TensorView{DType::F8_E4M3, {N, K}, b.data(), b.size()}, 0.5f, std::nullopt,
                 TensorView{DType::F32, {M, N}, b.data(), want.size()});
  EXPECT_EQ(std::vector<uint8_t>(b.begin(), b.begin() + static_cast<long>(want.size())), want);
}

INSTANTIATE_TEST_SUITE_P(Backends, Aliasing, ::testing::Values("cpu", "opencl", "vulkan"),
                         [](const auto& info) { return std::string(info.param); });

} // namespace
