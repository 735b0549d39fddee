// The one override mechanism: the TESSERA_OVERRIDE environment variable and
// tessera::set_overrides() (host/include/tessera/overrides.h) set the same fields. See
// docs/architecture.md for the syntax.
#pragma once

#include "tessera/overrides.h"

namespace tessera::detail {

// The overrides in force: those set through the API, else those parsed from TESSERA_OVERRIDE
// at first use (a malformed variable is reported once on stderr and ignored).
Overrides current_overrides();

} // namespace tessera::detail
