// safetensors files: an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and byte range, then the raw little-endian data. The reader trusts nothing in the
// file: every length, offset, shape and dtype is checked before a byte is copied.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "tessera/tensor.h"

namespace tessera::safetensors {

// Largest header the reader accepts by default (the format's own reference implementation uses
// 100 MB), and the writer's limit.
inline constexpr size_t kMaxHeaderBytes = 100u << 20;

// What a reader accepts. The defaults take any real checkpoint (a large one lists a few
// thousand tensors) while a hostile header cannot make the reader hold more than a few hundred
// bytes per byte of header; a caller that means to read more raises them.
struct Limits {
  size_t max_header_bytes = kMaxHeaderBytes;
  size_t max_tensors = 1u << 20;
};

// Parses a whole file image, in time linear in its size. `where` names it in error messages.
// Throws Error(MalformedFile).
TensorMap parse(std::span<const std::byte> bytes, std::string_view where = "<memory>",
                const Limits& limits = {});
// Reads and parses `path`. Throws Error(Io) when it cannot be read, Error(MalformedFile) when
// it is not a valid safetensors file.
TensorMap load(const std::string& path, const Limits& limits = {});

// The file image of `tensors` (header padded with spaces to a multiple of 8 bytes, tensors in
// name order, contiguous). "__metadata__" is not a tensor name.
std::vector<std::byte> serialize(const TensorMap& tensors);
// Writes atomically: a temporary file beside `path` renamed over it, so a failure never leaves a
// partial file. Throws Error(Io), or Error(InvalidArgument) for a tensor name serialize() refuses.
void save(const std::string& path, const TensorMap& tensors);

} // namespace tessera::safetensors
