// Throwing a tessera::Error with a formatted message: the one way every layer reports bad input.
#pragma once

#include <fmt/format.h>

#include <utility>

#include "tessera/error.h"

namespace tessera::detail {

template <class... Args>
[[noreturn]] void fail(ErrorCode code, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(code, fmt::format(f, std::forward<Args>(args)...));
}

} // namespace tessera::detail
