// The table of operations (core/op_table.h) against everything that lists operations: the typed
// API generated from it is current, every row has a Context member and a C function (checked at
// compile time: a missing one breaks this file's build), every by-name row is in named_ops()
// with the table's help text, every operation declared in ops.h and weights.h and every
// operation of tessera.h has a row, and krun --help and kbench --list show every by-name
// operation.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/context.h"
#include "tessera/named_ops.h"
#include "tessera/tessera.h"

namespace {
using namespace tessera;

// ---- compile time: each row's Context member and C function --------------------------------
template <class R, class... A> constexpr bool context_member(R (Context::*)(A...) const) { return true; }
template <class... A> constexpr bool c_function(tessera_status (*)(A...)) { return true; }
template <class R, class... A> constexpr bool free_function(R (*)(A...)) { return true; }

#define TESSERA_OP(name, ret, sig, doc, inputs, params, outputs, ref)                            \
  static_assert(context_member(&Context::name), "no Context::" #name);                            \
  static_assert(c_function(&::tessera_##name), "no tessera_" #name);
#define TESSERA_TYPED_OP(name, cpp, ret, sig, doc)                                                   \
  static_assert(context_member(&Context::name), "no Context::" #name);                            \
  static_assert(c_function(&::tessera_##name), "no tessera_" #name);
#define TESSERA_PACK_OP(name, cpp)                                                                   \
  static_assert(context_member(&Context::name), "no Context::" #name);                            \
  static_assert(c_function(&::tessera_##name), "no tessera_" #name);
#define TESSERA_HOST_OP(name, cpp)                                                                   \
  static_assert(free_function(&tessera::name), "no tessera::" #name);                            \
  static_assert(c_function(&::tessera_##name), "no tessera_" #name);
#include "core/op_table.h"

// ---- the table as data ---------------------------------------------------------------------
struct Row {
  std::string name, inputs, params, outputs;
  bool by_name = false;
};

std::vector<Row> table() {
  std::vector<Row> rows;
#define TESSERA_OP(name, ret, sig, doc, inputs, params, outputs, ref) rows.push_back({#name, inputs, params, outputs, true});
#define TESSERA_TYPED_OP(name, cpp, ret, sig, doc) rows.push_back({#name, "", "", "", false});
#define TESSERA_PACK_OP(name, cpp) rows.push_back({#name, "", "", "", false});
#define TESSERA_HOST_OP(name, cpp) rows.push_back({#name, "", "", "", false});
#include "core/op_table.h"
  return rows;
}

std::set<std::string> row_names() {
  std::set<std::string> s;
  for (const Row& r : table()) s.insert(r.name);
  return s;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Every first capture group of `re` in `text`.
std::vector<std::string> matches(const std::string& text, const std::string& re) {
  std::vector<std::string> out;
  std::regex r(re);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), r); it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1].str());
  return out;
}

// A command's stdout and exit status.
std::pair<std::string, int> run_stdout(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {"", -1};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

} // namespace

TEST(OpTable, RowsAreUniqueAndByNameRowsAreNamedOpsInOrder) {
  std::vector<Row> rows = table();
  EXPECT_EQ(row_names().size(), rows.size()) << "a row appears twice";
  std::vector<const Row*> by_name;
  for (const Row& r : rows)
    if (r.by_name) by_name.push_back(&r);
  const auto& ops = named_ops();
  ASSERT_EQ(ops.size(), by_name.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    SCOPED_TRACE(by_name[i]->name);
    EXPECT_EQ(ops[i].name, by_name[i]->name);
    EXPECT_EQ(ops[i].inputs, by_name[i]->inputs);
    EXPECT_EQ(ops[i].params, by_name[i]->params);
    EXPECT_EQ(ops[i].outputs, by_name[i]->outputs);
    EXPECT_FALSE(ops[i].inputs.empty());
    EXPECT_FALSE(ops[i].outputs.empty());
  }
}

TEST(OpTable, EveryByNameRowRunsByName) {
  // Each adapter is reached: with no inputs or parameters it refuses the call in its own name
  // (a missing tensor or a required parameter), not as an unknown operation; an unknown
  // operation is refused with the table's names.
  for (const Row& r : table()) {
    if (!r.by_name) continue;
    SCOPED_TRACE(r.name);
    try {
      run_named_op(r.name, {}, {});
      ADD_FAILURE() << "ran without inputs";
    } catch (const Error& e) {
      std::string what = e.what();
      EXPECT_EQ(what.rfind(r.name + ": ", 0), 0u) << what;
      EXPECT_EQ(what.find("unknown operation"), std::string::npos) << what;
    }
  }
  try {
    run_named_op("no_such_op", {}, {});
    ADD_FAILURE() << "an unknown operation ran";
  } catch (const Error& e) {
    for (const auto& op : named_ops())
      EXPECT_NE(std::string(e.what()).find(op.name), std::string::npos) << op.name;
  }
}

// The other direction: an operation declared in a public header without a row fails here.
TEST(OpTable, EveryOperationOfTheHeadersHasARow) {
  std::set<std::string> rows = row_names();
  std::string dir = std::string(TESSERA_SOURCE_DIR) + "/include/tessera/";
  for (const char* header : {"ops.h", "weights.h"}) {
    std::string text = read_file(dir + header);
    ASSERT_FALSE(text.empty()) << header;
    std::vector<std::string> fns = matches(text, R"(\n(?:void|float|PackedWeight) (\w+)\()");
    EXPECT_GE(fns.size(), 5u) << header;
    for (const std::string& f : fns) {
      // weights.h's GEMMs on a packed weight overload ops.h's: their rows are NAME_packed.
      bool packed = std::string(header) == "weights.h" && f.rfind("gemm_", 0) == 0;
      std::string row = packed ? f + "_packed" : f;
      EXPECT_TRUE(rows.count(row)) << header << ": " << f << " has no row " << row << " in core/op_table.h";
    }
  }
  // Every C function that runs something on a context, and every tessera_name function, is a row.
  std::string c = read_file(dir + "tessera.h");
  // (Device memory's functions and the queue's sync take a context too, and run no operation.)
  const std::set<std::string> memory = {"device_alloc", "wrap_opencl", "wrap_vulkan", "upload", "download", "context_sync", "context_event"};
  for (const std::string& f : matches(c, R"(tessera_status tessera_(\w+)\(tessera_context\* ctx)"))
    EXPECT_TRUE(rows.count(f) || memory.count(f)) << "tessera_" << f << " has no row in core/op_table.h";
  // And every Context member that takes tensors.
  std::string ctx = read_file(dir + "context.h");
  for (const std::string& f : matches(ctx, R"(\n  (?:void|float|PackedWeight) (\w+)\(const (?:TensorView|DeltaNetArgs|AttentionArgs|PackedWeight)&)"))
    EXPECT_TRUE(rows.count(f)) << "Context::" << f << " has no row in core/op_table.h";
}

// The typed API (ops.h, weights.h, Context, the C API) is written from the table by
// tools/gen_api.cpp: a row changed without `make api` leaves it stale.
TEST(OpTable, TheGeneratedApiIsWhatTheTableSays) {
  auto [out, status] = run_stdout(std::string(TESSERA_GEN_API) + " --check " + TESSERA_SOURCE_DIR);
  EXPECT_EQ(status, 0) << out;
}

TEST(OpTable, KrunHelpListsEveryOperation) {
  auto [out, status] = run_stdout(std::string(TESSERA_KRUN) + " --help");
  ASSERT_EQ(status, 0) << out;
  for (const auto& op : named_ops()) {
    EXPECT_NE(out.find(std::string(op.name) + " "), std::string::npos) << op.name << "\n" << out;
    EXPECT_NE(out.find(std::string(op.inputs)), std::string::npos) << op.name;
  }
}

TEST(OpTable, KbenchListsEveryOperation) {
  auto [out, status] = run_stdout(std::string(TESSERA_KBENCH) + " --list");
  ASSERT_EQ(status, 0) << out;
  for (const auto& op : named_ops())
    EXPECT_NE(out.find("  " + std::string(op.name) + "\n"), std::string::npos) << op.name << "\n" << out;
}

// docs/interfaces.md is what scripts read: a by-name operation it does not list is undocumented.
TEST(OpTable, TheInterfacesPageListsEveryByNameOperation) {
  const std::string doc = read_file(std::string(TESSERA_SOURCE_DIR) + "/docs/interfaces.md");
  ASSERT_FALSE(doc.empty());
  for (const auto& op : named_ops())
    EXPECT_NE(doc.find("| `" + std::string(op.name) + "` |"), std::string::npos)
        << op.name << " has no row in docs/interfaces.md's krun table";
}
