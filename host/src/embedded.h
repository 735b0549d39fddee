// Files compiled into the library by cmake/embed.cmake (kernel sources, SPIR-V).
#pragma once

#include <span>
#include <string_view>

namespace tessera {

struct EmbeddedFile {
  std::string_view path;              // relative to the embedded tree, e.g. "quant/convert.cl"
  std::span<const unsigned char> data;
};

// The file at `path` in `files`, or nullptr.
inline const EmbeddedFile* find_embedded(std::span<const EmbeddedFile> files, std::string_view path) {
  for (const auto& f : files)
    if (f.path == path) return &f;
  return nullptr;
}

} // namespace tessera
