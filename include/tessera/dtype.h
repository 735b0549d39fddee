// Element types Tessera reads and writes, spelled as safetensors spells them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tessera {

enum class DType : uint8_t { F32, F16, BF16, U8, I32, I64, F8_E4M3, F8_E5M2 };

size_t dtype_size(DType t);
std::string_view dtype_name(DType t);                        // "F32", "F8_E4M3", ...
std::optional<DType> dtype_from_name(std::string_view name); // nullopt for anything else

} // namespace tessera
