// loader_bench: how long safetensors::parse takes on headers of many tensors, to show that the
// reader stays linear in its input (issue: the old callback parser was quadratic).
//   build/bin/loader_bench [N ...]      (default: 10000 100000 1000000)
// Each file holds N one-element F32 tensors named t0000000...; prints tensors, header bytes,
// seconds and nanoseconds per tensor. A benchmark, not a test: nothing here asserts a time.
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "tessera/safetensors.h"

namespace {
std::vector<std::byte> file_of(size_t n) {
  std::string h = "{";
  for (size_t i = 0; i < n; ++i)
    h += fmt::format(R"({}"t{:07}":{{"dtype":"F32","shape":[1],"data_offsets":[{},{}]}})", i ? "," : "", i, 4 * i,
                     4 * i + 4);
  h += "}";
  std::vector<std::byte> f(8 + h.size() + 4 * n);
  for (int i = 0; i < 8; ++i) f[i] = std::byte((uint64_t(h.size()) >> (8 * i)) & 0xFF);
  for (size_t i = 0; i < h.size(); ++i) f[8 + i] = std::byte(h[i]);
  return f;
}
} // namespace

int main(int argc, char** argv) {
  std::vector<size_t> counts;
  for (int i = 1; i < argc; ++i) counts.push_back(std::strtoull(argv[i], nullptr, 10));
  if (counts.empty()) counts = {10000, 100000, 1000000};
  fmt::print("{:>10} {:>14} {:>10} {:>12}\n", "tensors", "header bytes", "seconds", "ns/tensor");
  for (size_t n : counts) {
    auto f = file_of(n);
    tessera::safetensors::Limits limits;
    limits.max_tensors = n; // exactly enough: the limit is checked, not in the way
    auto t0 = std::chrono::steady_clock::now();
    auto m = tessera::safetensors::parse(f, "bench", limits);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (m.size() != n) return 1;
    fmt::print("{:>10} {:>14} {:>10.3f} {:>12.0f}\n", n, f.size() - 4 * n - 8, s, s * 1e9 / double(n));
  }
  return 0;
}
