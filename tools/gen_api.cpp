// gen_api: writes the typed API of every operation from its row in core/op_table.h, so that an
// operation is described once. For each TESSERA_OP and TESSERA_TYPED_OP row it writes
//   include/tessera/ops.h, weights.h   the free function's declaration, with the row's doc
//   include/tessera/context.h          the Context member's declaration
//   host/src/context.cpp               the Context member: the free function with the context's
//                                      options, recording last_run()
//   include/tessera/tessera.h          the C function's declaration, with the row's doc
//   host/src/c_api.cpp                 the C function: C arguments to C++ ones, then the member
// between the two marker lines of each file; everything else in those files is written by hand.
//
//   gen_api SOURCE_DIR           rewrite the regions (`make api`)
//   gen_api --check SOURCE_DIR   exit 1, naming the files, when a region differs (the test suite)
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Param {
  std::string type, name;
  bool defaults_absent = false; // "tensor? x = none"
};

struct Row {
  std::string name, cpp; // the row's name (Context member, C function) and its free function
  std::string ret;       // "void" or "f32 NAME"
  std::vector<Param> params;
  std::string doc;
};

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) out.push_back(trim(item));
  return out;
}

Param parse_param(const std::string& text) {
  Param p;
  std::string t = text;
  if (size_t eq = t.find('='); eq != std::string::npos) {
    if (trim(t.substr(eq + 1)) != "none") throw std::runtime_error("only '= none' defaults: " + text);
    p.defaults_absent = true;
    t = trim(t.substr(0, eq));
  }
  std::vector<std::string> words = split(t, ' ');
  if (words.size() != 2) throw std::runtime_error("a parameter is 'TYPE NAME': " + text);
  p.type = words[0];
  p.name = words[1];
  for (const char* reserved : {"ctx", "fn", "context_", "result", "run_options", "run_info"})
    if (p.name == reserved) throw std::runtime_error("a parameter may not be named " + p.name);
  if (p.defaults_absent && p.type != "tensor?")
    throw std::runtime_error("only an optional tensor defaults to absent: " + text);
  return p;
}

Row make_row(const char* name, const char* cpp, const char* ret, const char* sig, const char* doc) {
  Row r{name, cpp, ret, {}, doc};
  for (const std::string& p : split(sig, ',')) r.params.push_back(parse_param(p));
  if (r.ret != "void" && r.ret.rfind("f32 ", 0) != 0)
    throw std::runtime_error(r.name + ": ret is 'void' or 'f32 NAME'");
  return r;
}

std::vector<Row> rows() {
  std::vector<Row> out;
#define TESSERA_OP(name, ret, sig, doc, inputs, params, outputs, ref)                             \
  out.push_back(make_row(#name, #name, ret, sig, doc));
#define TESSERA_TYPED_OP(name, cpp, ret, sig, doc) out.push_back(make_row(#name, #cpp, ret, sig, doc));
#include "core/op_table.h"
  return out;
}

// ---- the type language --------------------------------------------------------------------
struct TypeMap {
  const char* type;
  const char* cpp;  // the C++ parameter type
  const char* c;    // the C parameter type
  const char* conv; // C to C++: %s is the parameter's name
};

const TypeMap kTypes[] = {
    {"tensor", "const TensorView&", "const tessera_tensor*", "to_view(fn, \"%s\", %s)"},
    {"tensor?", "const std::optional<TensorView>&", "const tessera_tensor*", "to_optional(fn, \"%s\", %s)"},
    {"f32", "float", "float", "%s"},
    {"f32?", "std::optional<float>", "const float*", "optional_scalar(%s)"},
    {"format", "Format", "tessera_format", "to_format(fn, %s)"},
    {"nvfp4_recipe", "Nvfp4Recipe", "tessera_nvfp4_recipe", "to_recipe(fn, %s)"},
    {"fp8_recipe", "Fp8Recipe", "tessera_fp8_recipe", "to_recipe(fn, %s)"},
    {"deltanet_args", "const DeltaNetArgs&", "const tessera_deltanet_args*", "to_args(fn, %s)"},
    {"attention_args", "const AttentionArgs&", "const tessera_attention_args*", "to_args(fn, %s)"},
    {"packed_weight", "const PackedWeight&", "const tessera_packed_weight*", "packed(fn, \"%s\", %s)"},
};

const TypeMap& type_of(const Param& p) {
  for (const TypeMap& t : kTypes)
    if (p.type == t.type) return t;
  throw std::runtime_error("unknown type '" + p.type + "' of parameter " + p.name);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

std::string cpp_param(const Param& p, bool with_default) {
  return std::string(type_of(p).cpp) + " " + p.name + (with_default && p.defaults_absent ? " = std::nullopt" : "");
}

std::string cpp_ret(const Row& r) { return r.ret == "void" ? "void" : "float"; }
std::string ret_name(const Row& r) { return r.ret == "void" ? "" : r.ret.substr(4); }
bool in_weights_h(const Row& r) {
  for (const Param& p : r.params)
    if (p.type == "packed_weight") return true;
  return false;
}

// `head` + the items joined by ", " + `tail`, broken before an item that would pass column 100
// and aligned after head's '(' (the house clang-format's layout).
std::string wrap(const std::string& indent, const std::string& head, const std::vector<std::string>& items,
                 const std::string& tail) {
  std::string out = indent + head, line = out;
  size_t align = line.size();
  for (size_t i = 0; i < items.size(); ++i) {
    std::string item = items[i] + (i + 1 < items.size() ? "," : tail);
    std::string sep = i == 0 ? "" : " ";
    if (i > 0 && line.size() + sep.size() + item.size() > 100) {
      out += "\n" + std::string(align, ' ');
      line = std::string(align, ' ');
      sep = "";
    }
    out += sep + item;
    line += sep + item;
  }
  if (items.empty()) out += tail;
  return out + "\n";
}

std::string comment(const std::string& doc, const std::string& indent) {
  std::string out;
  for (const std::string& line : split(doc, '\n')) out += indent + "// " + line + "\n";
  return out;
}

std::string c_comment(const std::string& doc) {
  std::vector<std::string> lines = split(doc, '\n');
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i)
    out += (i == 0 ? "/* " : " * ") + lines[i] + (i + 1 == lines.size() ? " */" : "") + "\n";
  return out;
}

// ---- the regions --------------------------------------------------------------------------
std::string free_functions(bool weights) {
  std::string out;
  for (const Row& r : rows()) {
    if (in_weights_h(r) != weights) continue;
    std::vector<std::string> items;
    for (const Param& p : r.params) items.push_back(cpp_param(p, true));
    items.push_back("const RunOptions& = {}");
    items.push_back("RunInfo* = nullptr");
    out += (out.empty() ? "" : "\n") + comment(r.doc, "") + wrap("", cpp_ret(r) + " " + r.cpp + "(", items, ");");
  }
  return out;
}

std::string context_members() {
  std::string out;
  for (const Row& r : rows()) {
    std::vector<std::string> items;
    for (const Param& p : r.params) items.push_back(cpp_param(p, true));
    out += wrap("  ", cpp_ret(r) + " " + r.name + "(", items, ") const;");
  }
  return out;
}

std::string context_definitions() {
  std::string out;
  for (const Row& r : rows()) {
    std::vector<std::string> items, args;
    for (const Param& p : r.params) {
      items.push_back(cpp_param(p, false));
      args.push_back(p.name);
    }
    args.push_back("run_options");
    args.push_back("run_info");
    out += "\n" + wrap("", cpp_ret(r) + " Context::" + r.name + "(", items, ") const {");
    out += "  return run([&](const RunOptions& run_options, RunInfo* run_info) {\n";
    out += wrap("    ", "return tessera::" + r.cpp + "(", args, ");");
    out += "  });\n}\n";
  }
  return out;
}

std::vector<std::string> c_params(const Row& r) {
  std::vector<std::string> items{"tessera_context* ctx"};
  for (const Param& p : r.params) items.push_back(std::string(type_of(p).c) + " " + p.name);
  if (r.ret != "void") items.push_back("float* " + ret_name(r));
  return items;
}

std::string c_declarations() {
  std::string out;
  for (const Row& r : rows()) {
    std::string doc = r.doc;
    if (r.ret != "void") doc += "\nThe result comes back in *" + ret_name(r) + ", written on success only.";
    out += (out.empty() ? "" : "\n") + c_comment(doc) + wrap("", "tessera_status tessera_" + r.name + "(", c_params(r), ");");
  }
  return out;
}

std::string c_definitions() {
  std::string out;
  for (const Row& r : rows()) {
    std::vector<std::string> args;
    for (const Param& p : r.params)
      args.push_back(replace_all(type_of(p).conv, "%s", p.name));
    out += "\n" + wrap("", "tessera_status tessera_" + r.name + "(", c_params(r), ") {");
    out += "  return guard(\"tessera_" + r.name + "\", [&](const char* fn) {\n";
    out += "    const Context& context_ = context(fn, ctx);\n";
    std::string call = "context_." + r.name + "(";
    if (r.ret != "void") {
      // Checked before the call writes its outputs, so that a NULL here writes nothing.
      out += "    float& result = deref(fn, \"" + ret_name(r) + "\", " + ret_name(r) + ");\n";
      call = "result = " + call;
    }
    out += wrap("    ", call, args, ");");
    out += "  });\n}\n";
  }
  return out;
}

struct Region {
  const char* file;
  std::string (*text)();
  bool c; // C comments
};

const Region kRegions[] = {
    {"include/tessera/ops.h", [] { return free_functions(false); }, false},
    {"include/tessera/weights.h", [] { return free_functions(true); }, false},
    {"include/tessera/context.h", context_members, false},
    {"host/src/context.cpp", context_definitions, false},
    {"include/tessera/tessera.h", c_declarations, true},
    {"host/src/c_api.cpp", c_definitions, false},
};

std::string begin_marker(bool c) {
  return c ? "/* ---- generated from core/op_table.h by tools/gen_api.cpp (make api): do not edit ---- */"
           : "// ---- generated from core/op_table.h by tools/gen_api.cpp (make api): do not edit ----";
}
std::string end_marker(bool c) {
  return c ? "/* ---- end of generated code ---- */" : "// ---- end of generated code ----";
}

// `text` with the lines between the markers replaced by `body`.
std::string splice(const std::string& file, const std::string& text, const std::string& body, bool c) {
  std::string begin = begin_marker(c), end = end_marker(c);
  size_t b = text.find(begin);
  size_t e = b == std::string::npos ? b : text.find(end, b);
  if (b == std::string::npos || e == std::string::npos)
    throw std::runtime_error(file + ": no '" + begin + "' ... '" + end + "' region");
  size_t from = text.find('\n', b) + 1;
  // The end marker's own indentation stays.
  size_t to = text.rfind('\n', e) + 1;
  return text.substr(0, from) + body + text.substr(to);
}

} // namespace

int main(int argc, char** argv) {
  bool check = argc == 3 && std::string(argv[1]) == "--check";
  if (argc != 2 && !check) {
    std::fprintf(stderr, "usage: gen_api [--check] SOURCE_DIR\n");
    return 2;
  }
  std::string dir = argv[argc - 1];
  int stale = 0;
  try {
    for (const Region& r : kRegions) {
      std::string path = dir + "/" + r.file;
      std::ifstream in(path, std::ios::binary);
      if (!in) throw std::runtime_error("cannot read " + path);
      std::stringstream ss;
      ss << in.rdbuf();
      std::string old = ss.str(), now = splice(r.file, old, r.text(), r.c);
      if (old == now) continue;
      if (check) {
        std::fprintf(stderr, "%s is not what core/op_table.h generates: run `make api`\n", r.file);
        ++stale;
        continue;
      }
      std::ofstream out(path, std::ios::binary);
      out << now;
      if (!out) throw std::runtime_error("cannot write " + path);
      std::printf("gen_api: rewrote %s\n", r.file);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gen_api: %s\n", e.what());
    return 2;
  }
  return stale ? 1 : 0;
}
