// The opencl attention variants (placeholder until its kernel lands).
#include "host/src/backends.h"

namespace tessera::detail::opencl {

void run(int, std::string_view, const AttentionRunArgs&) { throw BackendFailure("opencl: attention is not implemented"); }

} // namespace tessera::detail::opencl
