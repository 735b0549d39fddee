// The one error type of the library: a category for programs and a message for people.
// The message says what was wrong and where ("gemm_nvfp4: a_scale has shape [4, 3], expected
// [4, 4] (K = 64)"). Operations validate everything before writing any output, so a caught
// Error means the outputs were not touched.
#pragma once

#include <stdexcept>
#include <string>

namespace tessera {

enum class ErrorCode {
  InvalidArgument, // a parameter or an option out of range, an unknown name
  ShapeMismatch,   // a tensor of the wrong rank or extent
  DTypeMismatch,   // a tensor of the wrong element type
  NonFinite,       // NaN or inf where the operation refuses them
  NullBuffer,      // a view with no data behind it
  ShortBuffer,     // a view whose buffer is smaller than its shape says
  MissingTensor,   // a named input that is not there
  MalformedFile,   // a safetensors file that breaks the format
  Io,              // the operating system refused a read or a write
  Unsupported,     // a backend, device or variant that cannot run this
};

const char* error_code_name(ErrorCode c);

class Error : public std::runtime_error {
public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

private:
  ErrorCode code_;
};

} // namespace tessera
