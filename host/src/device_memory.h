// Device memory as views see it. Each device allocation (Context::device_alloc) gets a range of
// addresses in one region the process reserves without access (PROT_NONE): a TensorView whose
// data points there is resident, and the library passes it to the device instead of reading it.
// A stray host read of such an address faults at once instead of reading garbage, and the region
// is never reused, so a view of a freed buffer is recognised as one rather than aliasing a newer
// buffer. Lookups are by address, so a slice of a buffer (data + offset) is a view like any
// other, and the C API and the by-name API need no new fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace tessera::detail::device_memory {

struct Allocation {
  std::string backend; // "opencl", "vulkan"
  int device = 0;
  uintptr_t base = 0;
  size_t bytes = 0;
  std::shared_ptr<void> handle; // the backend's buffer; kept alive by every copy of this record
};

// Records an allocation of `bytes` on (backend, device) and returns its base address.
// Error(OutOfMemory-like Unsupported) once the region is used up.
uintptr_t add(std::string_view backend, int device, size_t bytes, std::shared_ptr<void> handle);
// Frees the record of the allocation at `base` (its addresses stay reserved, as freed).
void remove(uintptr_t base);

// Whether p lies in the reserved region (a resident address, live or freed).
bool resident(const void* p);

// The live allocation holding [p, p + bytes), or Error naming `op` and `what`: a freed buffer,
// a range past the allocation's end, or an address no allocation ever had.
Allocation find(std::string_view op, std::string_view what, const void* p, size_t bytes);

} // namespace tessera::detail::device_memory
