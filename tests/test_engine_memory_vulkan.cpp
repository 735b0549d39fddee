// Engine-owned Vulkan memory (Context::vulkan_handles, wrap_vulkan; their C forms): this test plays
// an engine that allocates its own VkBuffers on Tessera's VkDevice, in host-visible memory it maps
// itself, hands them to Tessera without a copy, and reads the results through its own mapping.
#include <gtest/gtest.h>
#include <vulkan/vulkan.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "tessera/context.h"
#include "tessera/error.h"
#include "tessera/tessera.h"
#include "test_util.h"

namespace {
using namespace tessera;
using test::expect_error;

// One engine buffer: a VkBuffer with host-visible, coherent memory, mapped.
struct EngineBuffer {
  VkDevice device = VK_NULL_HANDLE;
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  std::byte* map = nullptr;

  EngineBuffer(const Context::VulkanHandles& h, VkDeviceSize bytes) : device(static_cast<VkDevice>(h.device)) {
    VkBufferCreateInfo bi{};
    bi.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    bi.size = bytes;
    bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    EXPECT_EQ(vkCreateBuffer(device, &bi, nullptr, &buffer), VK_SUCCESS);
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(device, buffer, &req);
    VkPhysicalDeviceMemoryProperties props;
    vkGetPhysicalDeviceMemoryProperties(static_cast<VkPhysicalDevice>(h.physical_device), &props);
    const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    uint32_t type = UINT32_MAX;
    for (uint32_t i = 0; i < props.memoryTypeCount && type == UINT32_MAX; ++i)
      if ((req.memoryTypeBits & (1u << i)) && (props.memoryTypes[i].propertyFlags & want) == want) type = i;
    EXPECT_NE(type, UINT32_MAX) << "no host-visible memory for the engine's buffer";
    VkMemoryAllocateInfo ai{};
    ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    ai.allocationSize = req.size;
    ai.memoryTypeIndex = type;
    EXPECT_EQ(vkAllocateMemory(device, &ai, nullptr, &memory), VK_SUCCESS);
    EXPECT_EQ(vkBindBufferMemory(device, buffer, memory, 0), VK_SUCCESS);
    void* p = nullptr;
    EXPECT_EQ(vkMapMemory(device, memory, 0, VK_WHOLE_SIZE, 0, &p), VK_SUCCESS);
    map = static_cast<std::byte*>(p);
  }
  ~EngineBuffer() {
    vkDestroyBuffer(device, buffer, nullptr);
    vkFreeMemory(device, memory, nullptr);
  }
  EngineBuffer(const EngineBuffer&) = delete;
  EngineBuffer& operator=(const EngineBuffer&) = delete;
};

class VulkanEngineMemory : public ::testing::Test {
protected:
  void SetUp() override {
    if (Context::device_count("vulkan") == 0) GTEST_SKIP() << "no vulkan device";
    ctx_ = Context::open("vulkan", 0);
  }
  std::optional<Context> ctx_;
};

std::vector<float> values(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = 0.25f * static_cast<float>(static_cast<int>((i * 31) % 83) - 41);
  return v;
}

// The engine's input and output buffers (the output wrapped at an offset) go through a convert;
// the event of the call says when the engine may read its mapping.
TEST_F(VulkanEngineMemory, WrappedBuffersAreOperands) {
  const Context& ctx = *ctx_;
  const Context::VulkanHandles h = ctx.vulkan_handles();
  ASSERT_NE(h.device, nullptr);
  ASSERT_NE(h.queue, nullptr);
  const int64_t n = 1024;
  const size_t at = 256; // where the output window starts in the engine's buffer
  EngineBuffer x(h, n * 4), y(h, at + n * 2);
  const std::vector<float> xv = values(n);
  std::memcpy(x.map, xv.data(), n * 4);
  std::memset(y.map, 0x6B, at + n * 2);
  {
    DeviceBuffer xb = ctx.wrap_vulkan(x.buffer, 0, n * 4), yb = ctx.wrap_vulkan(y.buffer, at, n * 2);
    ctx.convert(Context::view(xb, DType::F32, {n}), Format::BF16, Context::view(yb, DType::BF16, {n}));
    ctx.event().wait();
    // Context::upload and download reach the window's bytes too.
    const uint16_t word = 0x3F80;
    ctx.upload(yb, 2 * (n - 1), &word, 2);
    uint16_t back = 0;
    ctx.download(yb, 0, &back, 2);
    EXPECT_EQ(back, *reinterpret_cast<const uint16_t*>(y.map + at));
    ctx.sync();
  }
  std::vector<uint8_t> want(n * 2);
  std::vector<float> xc = xv;
  convert(TensorView{DType::F32, {n}, xc.data(), n * 4}, Format::BF16, TensorView{DType::BF16, {n}, want.data(), want.size()});
  want[2 * (n - 1)] = 0x80;
  want[2 * (n - 1) + 1] = 0x3F;
  EXPECT_EQ(std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(y.map) + at, reinterpret_cast<const uint8_t*>(y.map) + at + n * 2),
            want);
  for (size_t i = 0; i < at; ++i) ASSERT_EQ(static_cast<uint8_t>(y.map[i]), 0x6B) << "byte " << i << " before the window";
}

TEST_F(VulkanEngineMemory, RefusesWhatItCannotUse) {
  const Context& ctx = *ctx_;
  EngineBuffer b(ctx.vulkan_handles(), 1024);
  expect_error(ErrorCode::InvalidArgument, "VK_NULL_HANDLE", [&] { ctx.wrap_vulkan(nullptr, 0, 16); });
  expect_error(ErrorCode::InvalidArgument, "multiple of 4", [&] { ctx.wrap_vulkan(b.buffer, 2, 16); });
  expect_error(ErrorCode::ShortBuffer, "pass the end", [&] { ctx.wrap_vulkan(b.buffer, 0, 1 << 20); });
  DeviceBuffer w = ctx.wrap_vulkan(b.buffer, 0, 64);
  expect_error(ErrorCode::ShortBuffer, "", [&] { (void)Context::view(w, DType::F32, {17}); });
  expect_error(ErrorCode::Unsupported, "not a Vulkan one", [&] { Context::open("cpu").wrap_vulkan(b.buffer, 0, 16); });
  expect_error(ErrorCode::Unsupported, "not a Vulkan one", [&] { (void)Context::open("cpu").vulkan_handles(); });
  // The C API's forms.
  tessera_context* c = nullptr;
  ASSERT_EQ(tessera_context_create("vulkan", 0, &c), TESSERA_OK);
  void* device = nullptr;
  uint32_t family = 99;
  ASSERT_EQ(tessera_context_vulkan_handles(c, nullptr, nullptr, &device, &family, nullptr), TESSERA_OK);
  EXPECT_EQ(device, ctx.vulkan_handles().device);
  EXPECT_EQ(family, ctx.vulkan_handles().queue_family);
  tessera_device_buffer* cb = nullptr;
  ASSERT_EQ(tessera_wrap_vulkan(c, b.buffer, 0, 64, &cb), TESSERA_OK) << tessera_last_error_message();
  EXPECT_EQ(tessera_device_buffer_size(cb), 64u);
  EXPECT_EQ(tessera_wrap_vulkan(c, b.buffer, 1, 64, &cb), TESSERA_INVALID_ARGUMENT);
  tessera_device_buffer_destroy(cb);
  tessera_context_destroy(c);
}

} // namespace
