// The opencl "recurrent" Gated DeltaNet variant (placeholder until its kernel lands).
#include "host/src/opencl/deltanet.h"

namespace tessera::detail::opencl {

void deltanet_recurrent(int, const DeltaNetRunArgs&) { throw BackendFailure("opencl: deltanet recurrent is not implemented"); }

} // namespace tessera::detail::opencl
