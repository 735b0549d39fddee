// Manifests against the kernel files they describe: every record names a kernel file that exists,
// and the numbers a kernel's code is laid out for (a workgroup its warp layout is written for, a
// tile, a head size its arrays are sized by) are written once, in kernels/<family>/geometry.h,
// which the kernel, its record and its launcher include. Numbers that can be passed in (MAX_M,
// DK_MAX, ATT_DMAX of the portable attention shaders, tuned tile sizes) are not in the kernels.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
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

// A number a kernel's code is laid out for (its workgroup, its tile, the lanes of a row, the
// head size its arrays hold) is written once, in its family's kernels/*/geometry.h, which the
// kernel and its record and launcher include. A kernel that states such a number itself has a
// second copy the host cannot see: this fails on it. (A value the host passes in as a build
// option or specialization constant is not stated in the kernel at all; `#ifndef X` defaults
// that name a geometry macro are fine.)
TEST(Manifests, KernelsTakeTheirGeometryFromTheSharedHeaders) {
  const std::regex restated(
      R"re(\n[ \t]*#define (WG|WG_SIZE|COLS|DN_COLS|BM|BN|ATT_LPR|ATT_BC|ATT_DMAX|CHUNK|DV_SLICE|FM_ROWS|FC_ROWS|NVM_TILE_M|NVM_TILE_N)[ \t]+\(?[0-9])re");
  // Placeholders the host always replaces: a specialization constant's local size (chunked.comp
  // takes any workgroup), the WG_SIZE every OpenCL build gets from the host, flash_mma.cl's
  // unused ATT_LPR. Each names its file and macro.
  const std::set<std::string> placeholders = {"deltanet/chunked.comp WG", "attention/flash_mma.cl ATT_LPR"};
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(TESSERA_SOURCE_DIR) / "kernels")) {
    const std::string ext = e.path().extension().string();
    if (ext != ".cl" && ext != ".comp" && ext != ".glsl") continue;
    ++files;
    const std::string rel = fs::relative(e.path(), fs::path(TESSERA_SOURCE_DIR) / "kernels").generic_string();
    const std::string text = "\n" + read(e.path());
    for (auto it = std::sregex_iterator(text.begin(), text.end(), restated); it != std::sregex_iterator(); ++it) {
      const std::string macro = (*it)[1].str();
      if (macro == "WG_SIZE" && ext == ".cl") continue; // the host's build option names it
      EXPECT_TRUE(placeholders.count(rel + " " + macro))
          << rel << " states " << macro << " as a number: write it in kernels/<family>/geometry.h";
    }
  }
  EXPECT_GT(files, 20);
}

// The records of kernels laid out for a workgroup state that workgroup (the geometry macro the
// kernel reads): a record of 0 would let the registry offer it on any device.
TEST(Manifests, FixedLayoutKernelsHaveTheirWorkgroupInTheirRecord) {
  int compared = 0;
  for (const core::Variant& v : dispatch::variants()) {
    if (v.backend == "cpu") continue;
    const std::string text = read_with_includes(fs::path(TESSERA_SOURCE_DIR) / "kernels", first_file(v.manifest.source));
    const bool fixed = text.find("#if WG_SIZE != ") != std::string::npos ||
                       std::regex_search(text, std::regex(R"(\n#define WG [A-Z_]+)"));
    if (!fixed) continue;
    SCOPED_TRACE(std::string(v.backend) + " " + std::string(v.op) + " " + std::string(v.name));
    EXPECT_GT(v.manifest.limits.workgroup, 0);
    ++compared;
  }
  if (compared == 0) GTEST_SKIP() << "no device backend built";
}

} // namespace
} // namespace tessera
