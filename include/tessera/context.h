// tessera::Context: what an engine holds. A context is opened once on one device and then runs
// every operation of ops.h and weights.h there (core/op_table.h lists them), so the engine names its device once instead of in each call.
//
//   tessera::Context ctx = tessera::Context::open("opencl", 0);
//   tessera::Buffer xb = ctx.alloc(rows * cols * 4);
//   tessera::TensorView x = ctx.view(xb, tessera::DType::F32, {rows, cols});
//   float s2 = ctx.quantize_nvfp4(x, tessera::Nvfp4Recipe::Nvfp4, std::nullopt, q, scale);
//   ctx.last_run().variant;   // what ran, and ctx.last_run().reason: why
//
// Memory: today every backend reads and writes host memory. A device variant uploads its inputs
// and downloads its outputs within each call, so a view may point at any host memory the caller
// owns. Buffer (alloc) is host memory too, 256-byte aligned; it exists so that engines already
// allocate through the context, which is where device-resident, zero-copy buffers will come from
// in a later step. Until then nothing stays on the device between calls.
//
// Threads: a Context may be used from several threads at once. The operations are reentrant and
// the device backends serialise work per device internally; contexts on different devices (or
// several on the same one) coexist. last_run() is per thread, so concurrent callers each see
// their own call.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "tessera/ops.h"
#include "tessera/weights.h"

namespace tessera {

// Host memory from Context::alloc: zero-filled, 256-byte aligned, freed when the Buffer is
// destroyed. Move-only. Keep the Context that made it alive while the buffer is in use: buffers
// will become device memory of that context later.
class Buffer {
public:
  Buffer() = default;
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer();

  void* data() const { return data_; }
  size_t size() const { return bytes_; } // the bytes asked for
  explicit operator bool() const { return data_ != nullptr; }

private:
  friend class Context;
  Buffer(void* data, size_t bytes) : data_(data), bytes_(bytes) {}
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

class Context {
public:
  // The device `device` of `backend` ("cpu", "opencl", "vulkan"; empty: TESSERA_OVERRIDE's
  // backend=, else "cpu"). Throws Error(InvalidArgument) for a name that is no backend, and
  // Error(Unsupported) for a backend not built in or a device that is not there. `policy` is
  // the numeric contract of every call through the context (ops.h, NumericsPolicy).
  static Context open(std::string backend = "", int device = 0, NumericsPolicy policy = {});
  // How many devices `backend` has (empty: as for open()); 0 for a backend not built in.
  // Error(InvalidArgument) for a name that is no backend.
  static int device_count(std::string backend = "");

  // Copies share the context (and its last_run() records): a Context is a cheap handle.
  Context(const Context&) = default;
  Context& operator=(const Context&) = default;
  ~Context();

  const std::string& backend() const;
  int device() const;
  const std::string& device_name() const; // as the device reports it ("CPU reference" for cpu)
  const NumericsPolicy& policy() const;

  // What this context passes to the free functions of ops.h; `variant` forces one variant.
  RunOptions options(std::string variant = "") const;
  // What the last operation this thread ran through this context ran on, and why. Empty before
  // the first call and after a call that failed (a refused call runs nothing). A device that
  // cannot run a call falls back to the CPU reference: backend then says "cpu".
  RunInfo last_run() const;
  // Device allocations and host <-> device bytes of every call through this context (and its
  // copies) that succeeded, from all threads: the sum of their RunInfo::traffic.
  DeviceTraffic traffic() const;

  Buffer alloc(size_t bytes) const;
  // A view of `b` with `dtype` and `shape`; Error(ShortBuffer) when the buffer is too small.
  static TensorView view(Buffer& b, DType dtype, Shape shape);

  // Every operation of ops.h, and weights.h's GEMMs on a packed weight (as NAME_packed), on this
  // context's device. Arguments and errors are those of the free functions.
  // ---- generated from core/op_table.h by tools/gen_api.cpp (make api): do not edit ----
  void convert(const TensorView& x, Format to, const TensorView& y) const;
  float quantize_nvfp4(const TensorView& x, Nvfp4Recipe recipe, std::optional<float> static_scale_2,
                       const TensorView& q, const TensorView& scale) const;
  void dequantize_nvfp4(const TensorView& q, const TensorView& scale, float scale_2,
                        const TensorView& y) const;
  void quantize_fp8(const TensorView& x, Fp8Recipe recipe, const TensorView& q,
                    const TensorView& scales) const;
  void dequantize_fp8(const TensorView& q, const TensorView& scales, Fp8Recipe recipe,
                      const TensorView& y) const;
  void gemm_nvfp4(const TensorView& a, const TensorView& a_scale, const TensorView& b,
                  const TensorView& b_scale, float alpha, const std::optional<TensorView>& bias,
                  const TensorView& c) const;
  void gemm_fp8(const TensorView& a, const TensorView& b, float alpha,
                const std::optional<TensorView>& bias, const TensorView& c) const;
  void gemm_fp8_block(const TensorView& a, const TensorView& a_scale, const TensorView& b,
                      const TensorView& b_scale, const std::optional<TensorView>& bias,
                      const TensorView& c) const;
  float gemm_nvfp4_act(const TensorView& x, std::optional<float> a_scale_2, const TensorView& b,
                       const TensorView& b_scale, float b_scale_2,
                       const std::optional<TensorView>& bias, const TensorView& c) const;
  void gemm_fp8_act(const TensorView& x, const TensorView& b, const TensorView& b_scale,
                    const std::optional<TensorView>& bias, const TensorView& c) const;
  void gemm_nvfp4_packed(const TensorView& a, const TensorView& a_scale, const PackedWeight& b,
                         float alpha, const std::optional<TensorView>& bias,
                         const TensorView& c) const;
  void gemm_fp8_packed(const TensorView& a, const PackedWeight& b, float alpha,
                       const std::optional<TensorView>& bias, const TensorView& c) const;
  void gemm_fp8_block_packed(const TensorView& a, const TensorView& a_scale, const PackedWeight& b,
                             const std::optional<TensorView>& bias, const TensorView& c) const;
  void deltanet(const DeltaNetArgs& args, const TensorView& o, const TensorView& ht) const;
  void conv1d(const TensorView& x, const TensorView& w, const std::optional<TensorView>& bias,
              const std::optional<TensorView>& state, const TensorView& y,
              const TensorView& state_out) const;
  void attention(const AttentionArgs& args, const TensorView& o,
                 const std::optional<TensorView>& lse = std::nullopt) const;
  // ---- end of generated code ----

  // weights.h, for this context's device: a weight packed for calls with `M` rows (PackTarget;
  // `layout` empty: the registry's choice). Packing and unpacking run no kernel: last_run()
  // keeps the last operation's record.
  PackedWeight pack_nvfp4_weight(const TensorView& b, const TensorView& b_scale, float scale_2,
                                 ScaleLayout scale_layout = ScaleLayout::Linear, int64_t M = 1,
                                 std::string layout = {}) const;
  PackedWeight pack_fp8_weight(const TensorView& b, const TensorView& scales, int64_t M = 1,
                               std::string layout = {}) const;
  void unpack_weight(const PackedWeight& w, const TensorView& b, const TensorView& scales) const;
  // The scale layout conversions of weights.h (to_swizzled_scales, from_swizzled_scales) run on
  // the host for every device: they are free functions only.

  struct State; // the shared state behind the handle (context.cpp)

private:
  explicit Context(std::shared_ptr<State> s) : s_(std::move(s)) {}
  // Runs one operation with this context's options, recording what ran for last_run().
  template <class F> auto run(F&& f) const;
  std::shared_ptr<State> s_;
};

} // namespace tessera
