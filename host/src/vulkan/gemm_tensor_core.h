// What the vulkan tensor-core launchers share (gemm_tensor_core.cpp, attention.cpp): the
// device check of the NVIDIA cooperative-matrix shaders. Their launch functions are in launch.h.
#pragma once

#include <string_view>

namespace tessera::detail::vulkan {

struct Device;
// BackendFailure unless device d has what the nv_coopmat shaders declare and the registry cannot
// see: VK_NV_cooperative_matrix and shaderFloat16 enabled at device creation, and a 16x16x16 fp16
// x fp16 -> fp32 subgroup shape among the driver's cooperative matrix properties (the registry's
// requirement, tensor_core::vk_coopmat, checks the extension, fp16 and the subgroup size). op
// names the operation in the message. The caller holds d.mutex.
void check_coopmat_device(Device& d, std::string_view op);

} // namespace tessera::detail::vulkan
