// The device backends as the dispatcher sees them. Each backend that is built provides probe()
// and one run() per operation it has kernels for; `device` indexes its probe() list and
// `variant` is the registry name of the kernel variant to launch.
//
// Errors: a bad input found on the device (a non-finite value reaching a quantizer) throws
// tessera::Error like the reference does, with nothing written to the outputs. A kernel that
// fails to build or launch throws BackendFailure: the dispatcher then disables that variant on
// that device, logs why, and moves on to the next one.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch/device.h"
#include "op_args.h"

namespace tessera::detail {

class BackendFailure : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

namespace opencl {
bool built();
// Device time (ms) of the kernels the last run() on this thread launched, from OpenCL events.
double last_device_ms();
// Every OpenCL device of every platform; empty (never throws) when there is no ICD or device.
const std::vector<DeviceFacts>& devices();
// Why devices() is empty, in one line an operator can act on (the failing call, the ICD files
// found); "" when it is not.
std::string no_device_reason();
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
} // namespace opencl

namespace vulkan {
bool built();
// Device time (ms) of the last run() on this thread, from timestamp queries.
double last_device_ms();
const std::vector<DeviceFacts>& devices();
// As opencl::no_device_reason(): the failing call and the ICD manifests the loader read.
std::string no_device_reason();
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
