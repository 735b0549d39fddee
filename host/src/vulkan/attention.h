// The body of the vulkan attention launch functions (attention.cpp), for the launchers and for
// tessera_testing, which runs flash_coopmat.comp with its matrix operations emulated on devices
// without cooperative matrices (that build is no variant record and not in the library).
#pragma once

#include <string_view>

#include "core/op_args.h"
#include "core/variant.h"

namespace tessera::detail::vulkan {

enum class AttentionShader { Prefill, Decode, Coopmat, CoopmatEmulated };

// Runs `a` on the shader `kind` within `limits` (a record's manifest); the registry has checked
// a record's limits, so only CoopmatEmulated's head size is checked here. BackendFailure on any
// failure, with nothing written.
void run_attention(int device, AttentionShader kind, std::string_view variant, const core::Limits& limits,
                   const AttentionRunArgs& a);

} // namespace tessera::detail::vulkan
