// Manifests against the kernel files they describe: every record names a kernel file that exists,
// and where a kernel's structure fixes a number in its own source (a workgroup its warp layout
// is written for, a head size its preprocessor sizes arrays by: the NVIDIA tensor-core kernels,
// which cannot take those as build options or specialization constants), the record states the
// same number. Numbers that can be passed in (MAX_M, DK_MAX, ATT_DMAX of the portable attention
// shaders, tile sizes) are not in the kernels at all; this keeps the rest from drifting.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "dispatch/registry.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

// "attention/splitkv_decode.comp (partial, combine)" -> "attention/splitkv_decode.comp".
std::string first_file(std::string_view source) {
  const size_t end = source.find_first_of(" ,(");
  return std::string(source.substr(0, end));
}

std::string read(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// A kernel file and, after it, the files it includes (one level: the kernels' includes are).
std::string read_with_includes(const fs::path& kernels, const std::string& file) {
  std::string text = read(kernels / file);
  std::string all = text;
  const std::regex include(R"re(#include "([^"]+)")re");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), include); it != std::sregex_iterator(); ++it)
    all += "\n" + read(kernels / (*it)[1].str());
  return all;
}

// The number `pattern` (one capture group) finds in `text`, or -1.
int64_t find_number(const std::string& text, const std::string& pattern) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(pattern))) return -1;
  return std::stoll(m[1].str());
}

TEST(Manifests, EveryRecordNamesAKernelFileThatExists) {
  int checked = 0;
  for (const core::Variant& v : dispatch::variants()) {
    if (v.backend == "cpu") continue;
    const fs::path file = fs::path(TESSERA_SOURCE_DIR) / "kernels" / first_file(v.manifest.source);
    EXPECT_TRUE(fs::is_regular_file(file)) << v.backend << " " << v.op << " " << v.name << ": " << file;
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no device backend built";
}

TEST(Manifests, NumbersAKernelFixesInItsSourceMatchItsRecord) {
  int compared = 0;
  for (const core::Variant& v : dispatch::variants()) {
    if (v.backend == "cpu") continue;
    const std::string text = read_with_includes(fs::path(TESSERA_SOURCE_DIR) / "kernels", first_file(v.manifest.source));
    SCOPED_TRACE(std::string(v.backend) + " " + std::string(v.op) + " " + std::string(v.name));
    // GLSL: an unconditional "#define WG 128" where the layout is written for it ("#ifndef WG"
    // guards a default that any size may replace); OpenCL: "#if WG_SIZE != 256".
    const int64_t wg = std::max(find_number(text, R"(\n#define WG (\d+))") *
                                    (text.find("#ifndef WG\n") == std::string::npos ? 1 : -1),
                                find_number(text, R"(\n#if WG_SIZE != (\d+))"));
    if (wg > 0) {
      EXPECT_EQ(v.manifest.limits.workgroup, wg) << "the kernel is written for workgroups of " << wg;
      ++compared;
    }
    const int64_t dmax = find_number(text, R"(\n#ifndef ATT_DMAX\n#define ATT_DMAX (\d+))");
    if (dmax > 0) {
      EXPECT_EQ(v.manifest.limits.max_d, dmax) << "the kernel sizes its arrays for D <= " << dmax;
      ++compared;
    }
  }
  if (compared == 0) GTEST_SKIP() << "no record whose kernel fixes a number (no device backend built?)";
}

} // namespace
} // namespace tessera
