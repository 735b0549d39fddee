// Small helpers shared by the tests: seeded random data, tensors, error norms.
#pragma once

#include <sys/wait.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tessera/error.h"
#include "tessera/tensor.h"

namespace tessera::test {

// tests/devices/NAME: a described device (kinfo --device-file).
inline std::string device_file(const std::string& name) {
  return std::string(TESSERA_SOURCE_DIR) + "/tests/devices/" + name;
}

// fn() must throw tessera::Error with `code` and a message containing `needle`.
inline void expect_error(ErrorCode code, const std::string& needle, const std::function<void()>& fn) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing: " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// Deterministic per test: every test seeds its own generator.
inline std::vector<float> random_floats(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline Tensor make_tensor(DType dtype, Shape shape, const void* src = nullptr) {
  Tensor t(dtype, std::move(shape));
  if (src && t.nbytes()) std::memcpy(t.data(), src, t.nbytes());
  return t;
}

inline Tensor f32_tensor(Shape shape, const std::vector<float>& v) {
  return make_tensor(DType::F32, std::move(shape), v.data());
}

// ||out - ref|| / ||ref|| in double; NaN anywhere gives NaN so that it never passes a bound.
inline double rel_l2(const float* out, const double* ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(out[i])) return NAN;
    double d = static_cast<double>(out[i]) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

inline double rel_l2(const float* out, const float* ref, size_t n) {
  std::vector<double> r(ref, ref + n);
  return rel_l2(out, r.data(), n);
}

// memcpy / memcmp that accept the null data pointer of an empty tensor.
inline void copy_bytes(void* dst, const void* src, size_t n) {
  if (n) std::memcpy(dst, src, n);
}
inline bool equal_bytes(const void* a, const void* b, size_t n) { return n == 0 || std::memcmp(a, b, n) == 0; }

inline bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && equal_bytes(a.data(), b.data(), a.nbytes());
}

// A tool run through the shell: its exit status (-1 when it did not exit) and its stderr, which
// goes through `err_file`; stdout is dropped.
struct ToolRun {
  int status;
  std::string err;
};
inline ToolRun run_tool(const std::string& cmd, const std::string& err_file) {
  int raw = std::system((cmd + " 2> " + err_file + " > /dev/null").c_str());
  std::ifstream f(err_file);
  std::stringstream ss;
  ss << f.rdbuf();
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, ss.str()};
}

} // namespace tessera::test
