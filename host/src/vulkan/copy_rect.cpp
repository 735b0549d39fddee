// vulkan::copy_rect (core/backend.h): a strided view gathered into a packed copy, or a packed
// result scattered into one, between two device buffers with vkCmdCopyBuffer, one region per run,
// so nothing crosses to the host and nothing waits.
#include <mutex>
#include <vector>

#include "batch.h"
#include "core/backend.h"

namespace tessera::detail::vulkan {

void copy_rect(int device_index, const void* src, void* dst, const Rect& r) {
  if (r.run == 0 || r.rows == 0 || r.slices == 0) return;
  auto span = [&](size_t row, size_t slice) { return (r.slices - 1) * slice + (r.rows - 1) * row + r.run; };
  Device& d = device(device_index);
  std::lock_guard lock(d.mutex);
  std::shared_ptr<void> keep_src, keep_dst;
  VkDeviceSize src_at = 0, dst_at = 0;
  const Block& from = resident_block(d, src, span(r.src_row, r.src_slice), "the source of a strided copy", keep_src, src_at);
  const Block& to = resident_block(d, dst, span(r.dst_row, r.dst_slice), "the destination of a strided copy", keep_dst, dst_at);
  std::vector<VkBufferCopy> regions;
  regions.reserve(r.rows * r.slices);
  for (size_t s = 0; s < r.slices; ++s)
    for (size_t i = 0; i < r.rows; ++i)
      regions.push_back(VkBufferCopy{src_at + s * r.src_slice + i * r.src_row, dst_at + s * r.dst_slice + i * r.dst_row, r.run});
  // Recorded into the open submission in order with the calls around it (batch.h), not waited
  // for: the buffers are kept until the submission completes.
  vkCmdCopyBuffer(recording(d), from.get(), to.get(), static_cast<uint32_t>(regions.size()), regions.data());
  keep_until_complete(d, std::move(keep_src));
  keep_until_complete(d, std::move(keep_dst));
}

} // namespace tessera::detail::vulkan
