// Global operator new and delete for the fuzz targets, on top of malloc and free.
//
// AddressSanitizer's own operator new never throws: when an allocation fails it reports "out of
// memory" and aborts, where a normal build throws std::bad_alloc. An operation asked for an
// output of 2^40 elements by an empty input with huge extents may legitimately answer with
// std::bad_alloc, so the fuzz targets replace operator new with one that throws, as libstdc++'s
// does. malloc and free are still ASan's (heap overflows, use after free and leaks are still
// found; only new/delete mismatches are not), and with allocator_may_return_null=1 and
// max_allocation_size_mb (the targets' __asan_default_options) an allocation past the cap
// returns null here, so it costs no memory.
#include <cstddef>
#include <cstdlib>
#include <new>

namespace {
void* allocate(std::size_t n) {
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* allocate(std::size_t n, std::align_val_t a) {
  void* p = nullptr;
  const auto align = static_cast<std::size_t>(a) < sizeof(void*) ? sizeof(void*) : static_cast<std::size_t>(a);
  if (posix_memalign(&p, align, n ? n : 1) == 0 && p) return p;
  throw std::bad_alloc();
}
} // namespace

void* operator new(std::size_t n) { return allocate(n); }
void* operator new[](std::size_t n) { return allocate(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return std::malloc(n ? n : 1); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return std::malloc(n ? n : 1); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return allocate(n, a); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return allocate(n, a);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t& t) noexcept {
  return operator new(n, a, t);
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
