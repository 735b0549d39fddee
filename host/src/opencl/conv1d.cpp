// The opencl conv1d variants (placeholder until its kernel lands).
#include "host/src/backends.h"

namespace tessera::detail::opencl {

void run(int, std::string_view, const Conv1dRunArgs&) { throw BackendFailure("opencl: conv1d is not implemented"); }

} // namespace tessera::detail::opencl
