// krun: run one operation on the tensors of a safetensors file (docs/interfaces.md).
//   krun OP --in IN.safetensors --out OUT.safetensors [--backend cpu|opencl|vulkan] [--device N]
//        [--variant NAME] [--param KEY=VALUE ...] [--verbose]
// Every failure is one line on stderr and a non-zero exit; the output file is written
// atomically after the operation succeeded, so it is never partial.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "tessera/error.h"
#include "tessera/named_ops.h"
#include "tessera/safetensors.h"

namespace {

std::string op_list() {
  std::string s;
  for (const auto& op : tessera::named_ops())
    s += fmt::format("  {:<17} in: {}\n  {:<17} params: {}\n  {:<17} out: {}\n", op.name, op.inputs, "",
                     op.params.empty() ? "-" : op.params, "", op.outputs);
  return s;
}

int fail(int code, const std::string& msg) {
  std::fputs(("krun: " + msg + "\n").c_str(), stderr);
  return code;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"krun: run one Tessera operation on tensors in a safetensors file"};
  app.footer("Operations:\n" + op_list());
  std::string op, in_path, out_path;
  tessera::RunOptions options;
  std::vector<std::string> params;
  bool verbose = false;
  app.add_option("op", op, "operation")->required();
  app.add_option("--in", in_path, "input safetensors file")->required();
  app.add_option("--out", out_path, "output safetensors file")->required();
  app.add_option("--backend", options.backend, "cpu, opencl or vulkan (default: TESSERA_OVERRIDE's backend, else cpu)");
  app.add_option("--device", options.device, "device index within the backend")->default_val(0);
  app.add_option("--variant", options.variant, "force a kernel variant");
  app.add_option("--param", params, "KEY=VALUE, repeatable");
  app.add_flag("--verbose,-v", verbose, "say which variant ran on which device, and why");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    return fail(2, std::string(e.what()) + " (see krun --help)");
  }

  // The output replaces its path atomically: were it the input (by any name, a link included),
  // the input would be gone.
  std::error_code ec;
  if (std::filesystem::equivalent(in_path, out_path, ec))
    return fail(2, "--out " + out_path + " is the input file; write the result elsewhere");

  try {
    tessera::ParamMap param_map;
    for (const std::string& p : params) {
      size_t eq = p.find('=');
      if (eq == std::string::npos || eq == 0) return fail(2, "--param '" + p + "' is not KEY=VALUE");
      if (!param_map.emplace(p.substr(0, eq), p.substr(eq + 1)).second)
        return fail(2, "--param " + p.substr(0, eq) + " given twice");
    }
    tessera::TensorMap inputs = tessera::safetensors::load(in_path);
    tessera::RunInfo info;
    tessera::TensorMap outputs = tessera::run_named_op(op, inputs, param_map, options, &info);
    tessera::safetensors::save(out_path, outputs);
    if (verbose)
      std::fputs(fmt::format("krun: {} ran variant '{}' on {} device {}: {}\n", op, info.variant, info.backend,
                             info.device, info.reason)
                     .c_str(),
                 stderr);
    return 0;
  } catch (const tessera::Error& e) {
    return fail(1, e.what());
  } catch (const std::bad_alloc&) {
    return fail(1, "out of memory (an input shape asks for more than this machine has)");
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
}
