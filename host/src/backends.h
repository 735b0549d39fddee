// The Vulkan backend's launchers: one run() per operation it has kernels for; `device` indexes
// its devices() list (core/backend.h) and `variant` is the registry name of the kernel variant to
// launch. The transitional form of its records' launch functions (host/src/vulkan/variants.cpp).
// The OpenCL backend has one launch function per record instead (host/src/opencl/launch.h).
//
// Errors: a bad input found on the device (a non-finite value reaching a quantizer) throws
// tessera::Error like the reference does, with nothing written to the outputs. A kernel that
// fails to build or launch throws BackendFailure (core/backend.h).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/backend.h"
#include "core/op_args.h"

namespace tessera::detail {

namespace vulkan {
void run(int device, std::string_view variant, const ConvertArgs& a);
void run(int device, std::string_view variant, const QuantizeNvfp4Args& a);
void run(int device, std::string_view variant, const DequantizeNvfp4Args& a);
void run(int device, std::string_view variant, const QuantizeFp8Args& a);
void run(int device, std::string_view variant, const DequantizeFp8Args& a);
void run(int device, std::string_view variant, const GemmNvfp4Args& a);
void run(int device, std::string_view variant, const GemmFp8Args& a);
void run(int device, std::string_view variant, const GemmFp8BlockArgs& a);
void run(int device, std::string_view variant, const DeltaNetRunArgs& a);
void run(int device, std::string_view variant, const Conv1dRunArgs& a);
void run(int device, std::string_view variant, const AttentionRunArgs& a);
} // namespace vulkan

} // namespace tessera::detail
