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

// Allocates `bytes` of zero-filled memory on device `device` of `backend` ("opencl",
// "vulkan"), records it and returns its base address. Error(Unsupported) naming `op` when the
// device cannot allocate, or once the reserved range is used up.
uintptr_t allocate(std::string_view op, std::string_view backend, int device, size_t bytes);
// Records memory the engine allocated (`handle` is the backend's retained reference to it, as
// opencl::wrap makes) like an allocation of ours, and returns its base address.
uintptr_t adopt(std::string_view op, std::string_view backend, int device, size_t bytes, std::shared_ptr<void> handle);
// Frees the record of the allocation at `base` (its addresses stay reserved, as freed); the
// memory goes with the last copy of the record (a call in flight may hold one).
void remove(uintptr_t base);

// Blocking copies between the host and [offset, offset + bytes) of allocation a, through its
// backend (counted in thread_traffic()). Error(Unsupported) naming `op` when the device fails.
void write(std::string_view op, const Allocation& a, size_t offset, const void* src, size_t bytes);
void read(std::string_view op, const Allocation& a, size_t offset, void* dst, size_t bytes);

// Whether p lies in the reserved region (a resident address, live or freed).
bool resident(const void* p);

// The live allocation holding [p, p + bytes), or Error naming `op` and `what`: a freed buffer,
// a range past the allocation's end, or an address no allocation ever had.
Allocation find(std::string_view op, std::string_view what, const void* p, size_t bytes);

// A device buffer of at least `bytes` for the intermediates of one call (fp32 copies of resident
// bf16/fp16 tensors, host/src/fp32_operands.h), taken from a pool of earlier calls' scratch on
// the same device and given back when the Scratch is destroyed, so that a steady state of calls
// allocates nothing. Error(Unsupported) naming `op` as allocate().
class Scratch {
public:
  Scratch() = default;
  Scratch(std::string_view op, std::string_view backend, int device, size_t bytes);
  ~Scratch();
  Scratch(Scratch&& o) noexcept;
  Scratch& operator=(Scratch&& o) noexcept;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* data() const { return reinterpret_cast<void*>(base_); }

private:
  void release();
  std::string backend_;
  int device_ = 0;
  uintptr_t base_ = 0;
  size_t bytes_ = 0; // the size class: a power of two
};

} // namespace tessera::detail::device_memory
