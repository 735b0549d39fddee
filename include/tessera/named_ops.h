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

// Views by name: host memory, or device buffers of the device `options` names (Context::view).
using ViewMap = std::map<std::string, TensorView, std::less<>>;

// The same on views, so that a caller holding its tensors on the device (kbench) runs an
// operation by name without a copy through the host. Each output named in `outputs` is written
// there, and must have the dtype and shape the operation writes; an output not named there is
// allocated in host memory and returned. A name that is no output of `op` is an
// Error(InvalidArgument). The inputs the operation reads as numbers (a_scale_2, b_scale_2,
// x_scale_2, k_scale, v_scale, gemm_fp8's per-tensor scales) and the float results it returns
// (x_scale_2, a_scale_2) are host values: a view of them in device memory is an
// Error(InvalidArgument).
TensorMap run_named_op(std::string_view op, const ViewMap& inputs, const ParamMap& params,
                       const ViewMap& outputs, const RunOptions& options = {},
                       RunInfo* info = nullptr);

} // namespace tessera
