// What the device backends' launchers share: BackendFailure and the backends' device lists
// (core/backend.h), and the argument structs (core/op_args.h). The launchers themselves are the
// records' launch functions, one per variant record (core/variant.h), declared per backend in
// host/src/opencl/launch.h and host/src/vulkan/launch.h; nothing launches a kernel by its name.
//
// Errors: a bad input found on the device (a non-finite value reaching a quantizer) throws
// tessera::Error like the reference does, with nothing written to the outputs. A kernel that
// fails to build or launch throws BackendFailure (core/backend.h).
#pragma once

#include "core/backend.h"
#include "core/op_args.h"
