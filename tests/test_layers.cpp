// The layering of docs/architecture.md, checked on the sources: each folder includes only from
// itself and the layers below it, so the rule cannot silently erode again.
//
//   include/tessera   public API declarations      (bottom, with reference/)
//   reference/        the CPU definition
//   core/             errors, overrides, backend interface, device facts, operation arguments
//   dispatch/         the variant registry
//   host/             operations, validation, backends, Context, C API (may include anything)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

// The project folders an #include "..." may name, per layer (system and third-party headers come
// in <...> and are not checked).
const std::map<std::string, std::set<std::string>> kAllowed = {
    {"include", {"tessera"}},
    {"reference", {"reference"}},
    {"core", {"core", "reference", "tessera"}},
    {"dispatch", {"dispatch", "core", "reference", "tessera"}},
};

// Every `#include "x/..."` of a file, with its line number; a bare "name.h" is the file's own
// folder.
std::vector<std::pair<int, std::string>> quoted_includes(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::pair<int, std::string>> out;
  static const std::regex include(R"(^\s*#\s*include\s*"([^"]+)\")");
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::smatch m;
    if (std::regex_search(line, m, include)) out.emplace_back(n, m[1].str());
  }
  return out;
}

} // namespace

TEST(Layers, EachFolderIncludesOnlyItselfAndTheLayersBelow) {
  const fs::path root = TESSERA_SOURCE_DIR;
  int files = 0;
  for (const auto& [layer, allowed] : kAllowed) {
    const fs::path dir = root / layer;
    ASSERT_TRUE(fs::is_directory(dir)) << dir;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
      const fs::path& p = entry.path();
      if (p.extension() != ".h" && p.extension() != ".cpp") continue;
      ++files;
      for (const auto& [line, inc] : quoted_includes(p)) {
        auto slash = inc.find('/');
        if (slash == std::string::npos) { // the file's own folder
          EXPECT_TRUE(fs::exists(p.parent_path() / inc))
              << p << ":" << line << " includes \"" << inc << "\", which is not beside it";
          continue;
        }
        EXPECT_TRUE(inc.find("..") == std::string::npos) << p << ":" << line << ": " << inc;
        std::string top = inc.substr(0, slash);
        EXPECT_TRUE(allowed.count(top))
            << p.lexically_relative(root).string() << ":" << line << " includes \"" << inc
            << "\": the " << layer << " layer may not depend on " << top << "/";
      }
    }
  }
  EXPECT_GT(files, 20); // the walk found the sources
}

// The check itself: a file that breaks the rule is caught (so the test above cannot pass by
// reading nothing).
TEST(Layers, TheCheckCatchesAnUpwardInclude) {
  const fs::path tmp = fs::path(TESSERA_TEST_TMP) / "layers";
  fs::create_directories(tmp);
  {
    std::ofstream(tmp / "bad.cpp") << "#include <vector>\n  #include \"host/src/backends.h\"\n";
  }
  auto inc = quoted_includes(tmp / "bad.cpp");
  ASSERT_EQ(inc.size(), 1u);
  EXPECT_EQ(inc[0].first, 2);
  EXPECT_EQ(inc[0].second, "host/src/backends.h");
  EXPECT_FALSE(kAllowed.at("dispatch").count("host"));
}
