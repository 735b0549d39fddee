// The vulkan launchers of the NVIDIA tensor-core GEMM variant "nv_coopmat_f16"
// (host/src/vulkan/gemm_tensor_core.cpp), reached from gemm.cpp's run() for names starting "nv_".
#pragma once

#include <string_view>

#include "core/op_args.h"

namespace tessera::detail::vulkan {

// Throws BackendFailure for another variant name, a device without VK_NV_cooperative_matrix
// (16x16x16 fp16 -> fp32 at subgroup scope), fp16 arithmetic or subgroups of 32, a shader not in
// this build, or any Vulkan failure; C is written only after the batch succeeded.
void run_tensor_core(int device, std::string_view variant, const GemmNvfp4Args& a);
void run_tensor_core(int device, std::string_view variant, const GemmFp8Args& a);
void run_tensor_core(int device, std::string_view variant, const GemmFp8BlockArgs& a);

struct Device;
// BackendFailure unless device d has what the nv_coopmat shaders declare: VK_NV_cooperative_matrix
// with a 16x16x16 fp16 x fp16 -> fp32 subgroup shape, shaderFloat16, subgroups of 32. op names
// the operation in the message. The caller holds d.mutex.
void check_coopmat_device(Device& d, std::string_view op);

} // namespace tessera::detail::vulkan
