// libFuzzer target: tessera::safetensors::parse on arbitrary bytes.
//
// The contract (safetensors.h): parse returns a TensorMap or throws tessera::Error. Anything
// else is a finding: another exception type, a crash, a sanitizer report, a hang, or more memory
// than the input could justify. What parse accepts must also survive serialize() and parse back
// to the same tensors, and the Limits must bound what it accepts.
//
// Build and run: `make fuzz` (tools/fuzz.sh); reproduce: build-fuzz/bin/fuzz_safetensors FILE.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <span>
#include <string>

#include "tessera/error.h"
#include "tessera/safetensors.h"

// The input is at most libFuzzer's -max_len (tens of KB), so no allocation of the reader should
// come near 256 MB: one that does returns null (operator new throws std::bad_alloc, reported as a
// finding below) instead of touching the memory; RSS past -rss_limit_mb (2 GB) is one too.
extern "C" const char* __asan_default_options() {
  return "allocator_may_return_null=1:max_allocation_size_mb=256:detect_leaks=1:abort_on_error=1";
}
extern "C" const char* __ubsan_default_options() { return "print_stacktrace=1:halt_on_error=1"; }

namespace {

using tessera::TensorMap;
namespace st = tessera::safetensors;

[[noreturn]] void finding(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "fuzz_safetensors: FINDING: %s%s%s\n", what, detail.empty() ? "" : ": ",
               detail.c_str());
  std::abort();
}

bool same(const TensorMap& a, const TensorMap& b) {
  if (a.size() != b.size()) return false;
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
    const auto& [na, ta] = *ia;
    const auto& [nb, tb] = *ib;
    if (na != nb || ta.dtype() != tb.dtype() || ta.shape() != tb.shape() || ta.nbytes() != tb.nbytes())
      return false;
    if (ta.nbytes() && std::memcmp(ta.data(), tb.data(), ta.nbytes()) != 0) return false;
  }
  return true;
}

// Runs `f`; tessera::Error is the one accepted failure. Returns whether f returned.
template <class F> bool accepted(const char* step, F&& f) {
  try {
    f();
    return true;
  } catch (const tessera::Error&) {
    return false;
  } catch (const std::bad_alloc&) {
    finding(step, "std::bad_alloc (an allocation over 256 MB from a small input)");
  } catch (const std::exception& e) {
    finding(step, std::string("exception other than tessera::Error: ") + e.what());
  } catch (...) {
    finding(step, "exception of a non-std type");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  TensorMap tensors;
  if (!accepted("parse", [&] { tensors = st::parse(bytes, "<fuzz>"); })) return 0;

  // Round trip: serialize() must take whatever parse() produced, and give it back unchanged.
  std::vector<std::byte> image;
  if (!accepted("serialize", [&] { image = st::serialize(tensors); }))
    finding("serialize refused tensors that parse accepted");
  TensorMap again;
  if (!accepted("parse(serialize(...))", [&] { again = st::parse(image, "<round trip>"); }))
    finding("parse refused the image serialize wrote");
  if (!same(tensors, again)) finding("parse(serialize(parse(x))) differs from parse(x)");
  std::vector<std::byte> image2;
  if (!accepted("serialize", [&] { image2 = st::serialize(again); }) || image2 != image)
    finding("serialize is not stable across a round trip");

  // The limits: exactly what the file needs is enough; one tensor fewer is refused.
  uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = (header << 8) | data[i];
  st::Limits tight;
  tight.max_header_bytes = static_cast<size_t>(header);
  tight.max_tensors = tensors.size();
  TensorMap limited;
  if (!accepted("parse with tight limits", [&] { limited = st::parse(bytes, "<tight>", tight); }) ||
      !same(tensors, limited))
    finding("parse with limits equal to the file's needs did not give the same tensors");
  if (!tensors.empty()) {
    tight.max_tensors = tensors.size() - 1;
    if (accepted("parse with max_tensors - 1", [&] { st::parse(bytes, "<tight>", tight); }))
      finding("parse accepted more tensors than Limits::max_tensors");
  }
  if (header > 0) {
    tight.max_tensors = tensors.size();
    tight.max_header_bytes = static_cast<size_t>(header - 1);
    if (accepted("parse with max_header_bytes - 1", [&] { st::parse(bytes, "<tight>", tight); }))
      finding("parse accepted a header longer than Limits::max_header_bytes");
  }
  return 0;
}
