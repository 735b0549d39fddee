// The opencl "chunked" Gated DeltaNet variant (placeholder until its kernel lands).
#include "host/src/opencl/deltanet.h"

namespace tessera::detail::opencl {

void deltanet_chunked(int, const DeltaNetRunArgs&) { throw BackendFailure("opencl: deltanet chunked is not implemented"); }

} // namespace tessera::detail::opencl
