// Operations by name, on named tensors: the interface krun, kbench and the tests share, so the
// three agree on input names, parameters and outputs (docs/interfaces.md's krun table).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/ops.h"

namespace tessera {

using ParamMap = std::map<std::string, std::string, std::less<>>;

struct NamedOp {
  std::string_view name;
  std::string_view inputs;  // for help text
  std::string_view params;
  std::string_view outputs;
};

const std::vector<NamedOp>& named_ops();

// Runs `op` on `inputs`; inputs it does not use are ignored, parameters it does not know are an
// error. Returns the outputs by name. Throws tessera::Error on any bad input.
TensorMap run_named_op(std::string_view op, const TensorMap& inputs, const ParamMap& params,
                       const RunOptions& options = {}, RunInfo* info = nullptr);

} // namespace tessera
