// The opencl Gated DeltaNet entry point: routes the registry's variant name to its launcher.
#include "host/src/opencl/deltanet.h"

#include <fmt/format.h>

namespace tessera::detail::opencl {

void run(int device, std::string_view variant, const DeltaNetRunArgs& a) {
  if (variant == "recurrent") return deltanet_recurrent(device, a);
  if (variant == "chunked") return deltanet_chunked(device, a);
  throw BackendFailure(fmt::format("opencl: deltanet has no variant '{}' (known: recurrent, chunked)", variant));
}

} // namespace tessera::detail::opencl
