// The one override mechanism: the TESSERA_OVERRIDE environment variable and
// tessera::set_overrides() (include/tessera/overrides.h) set the same fields. See
// docs/architecture.md for the syntax.
#pragma once

#include <string>
#include <vector>

#include "tessera/overrides.h"

namespace tessera::detail {

// The overrides in force: those set through the API, else those parsed from TESSERA_OVERRIDE
// at first use (a bad entry is reported once on stderr and left out; the others apply).
Overrides current_overrides();

// The entries of TESSERA_OVERRIDE left out at that first use, each with why ("override
// 'colour=red': unknown key ..."); empty when the variable was fine or never read.
std::vector<std::string> environment_override_errors();

} // namespace tessera::detail
