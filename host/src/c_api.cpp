// The C API (tessera/tessera.h) over tessera::Context (and weights.h's host-only functions). Every entry point runs inside guard(),
// which turns any exception into a status and a thread-local message, so nothing unwinds into C
// or a foreign runtime. The C layer checks only what the C++ types cannot carry (NULL pointers,
// ndim, enum values); everything else is the core's validation, with the core's messages.
#include "tessera/tessera.h"

#include <cstring>
#include <initializer_list>
#include <new>
#include <string>
#include <string_view>

#include "tessera/context.h"
#include "tessera/overrides.h"
#include "validate.h"

#ifndef TESSERA_VERSION_STRING
#error "TESSERA_VERSION_STRING is set by cmake/install.cmake"
#endif

struct tessera_context {
  tessera::Context ctx;
};

struct tessera_packed_weight {
  tessera::PackedWeight w;
};

struct tessera_device_buffer {
  tessera::DeviceBuffer b;
};

struct tessera_event {
  tessera::Event e;
};

namespace {

using namespace tessera;
using detail::fail;

static_assert(TESSERA_F32 == static_cast<int>(DType::F32) &&
                  TESSERA_F16 == static_cast<int>(DType::F16) &&
                  TESSERA_BF16 == static_cast<int>(DType::BF16) &&
                  TESSERA_U8 == static_cast<int>(DType::U8) &&
                  TESSERA_I32 == static_cast<int>(DType::I32) &&
                  TESSERA_I64 == static_cast<int>(DType::I64) &&
                  TESSERA_F8_E4M3 == static_cast<int>(DType::F8_E4M3) &&
                  TESSERA_F8_E5M2 == static_cast<int>(DType::F8_E5M2),
              "tessera_dtype follows tessera::DType");
static_assert(sizeof(tessera_dtype) == 4 && sizeof(tessera_status) == 4,
              "enums are 32 bits (the ABI)");

thread_local std::string t_message;
thread_local const char* t_message_ptr = "";

// Never throws: the message of an out-of-memory failure may itself not fit in memory.
void set_message(std::initializer_list<std::string_view> parts) noexcept {
  try {
    t_message.clear();
    for (std::string_view p : parts)
      t_message += p;
    t_message_ptr = t_message.c_str();
  } catch (...) {
    t_message_ptr = "out of memory (while recording an error message)";
  }
}

tessera_status to_status(ErrorCode c) {
  switch (c) {
  case ErrorCode::InvalidArgument: return TESSERA_INVALID_ARGUMENT;
  case ErrorCode::ShapeMismatch: return TESSERA_SHAPE_MISMATCH;
  case ErrorCode::DTypeMismatch: return TESSERA_DTYPE_MISMATCH;
  case ErrorCode::NonFinite: return TESSERA_NON_FINITE;
  case ErrorCode::NullBuffer: return TESSERA_NULL_BUFFER;
  case ErrorCode::ShortBuffer: return TESSERA_SHORT_BUFFER;
  case ErrorCode::MissingTensor: return TESSERA_MISSING_TENSOR;
  case ErrorCode::MalformedFile: return TESSERA_MALFORMED_FILE;
  case ErrorCode::Io: return TESSERA_IO;
  case ErrorCode::Unsupported: return TESSERA_UNSUPPORTED;
  }
  return TESSERA_INTERNAL;
}

// Runs fn(name) and returns its status. Core errors keep their own message (it names the
// operation); anything else is prefixed with the C function's name.
template <class F> tessera_status guard(const char* fn, F&& f) noexcept {
  try {
    f(fn);
    return TESSERA_OK;
  } catch (const Error& e) {
    set_message({e.what()});
    return to_status(e.code());
  } catch (const std::bad_alloc&) {
    set_message({fn, ": out of memory"});
    return TESSERA_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_message({fn, ": internal error: ", e.what()});
    return TESSERA_INTERNAL;
  } catch (...) {
    set_message({fn, ": internal error: unknown exception"});
    return TESSERA_INTERNAL;
  }
}

template <class T> T& deref(const char* fn, const char* name, T* p) {
  if (!p) fail(ErrorCode::NullBuffer, "{}: {} is NULL", fn, name);
  return *p;
}

const Context& context(const char* fn, const tessera_context* ctx) {
  return deref(fn, "ctx", ctx).ctx;
}

static_assert(TESSERA_MAX_DIMS == kMaxRank, "the C API's rank limit is the library's");

TensorView to_view(const char* fn, const char* name, const tessera_tensor* t) {
  const tessera_tensor& r = deref(fn, name, t);
  if (r.ndim < 0 || r.ndim > TESSERA_MAX_DIMS)
    fail(ErrorCode::ShapeMismatch, "{}: {} has ndim {}, outside 0..{}", fn, name, r.ndim,
         TESSERA_MAX_DIMS);
  int dtype = static_cast<int>(r.dtype);
  if (dtype < TESSERA_F32 || dtype > TESSERA_F8_E5M2)
    fail(ErrorCode::DTypeMismatch, "{}: {} has dtype {}, which is no tessera_dtype", fn, name,
         dtype);
  TensorView v{static_cast<DType>(dtype), Shape(r.shape, r.shape + r.ndim), r.data, r.bytes, {}};
  if (r.strides) v.strides.assign(r.strides, r.strides + r.ndim);
  return v;
}

std::optional<TensorView> to_optional(const char* fn, const char* name, const tessera_tensor* t) {
  if (!t) return std::nullopt;
  return to_view(fn, name, t);
}

std::optional<float> optional_scalar(const float* p) {
  return p ? std::optional<float>(*p) : std::nullopt;
}

Format to_format(const char* fn, tessera_format f) {
  switch (f) {
  case TESSERA_FORMAT_E4M3: return Format::E4M3;
  case TESSERA_FORMAT_E5M2: return Format::E5M2;
  case TESSERA_FORMAT_E2M1: return Format::E2M1;
  case TESSERA_FORMAT_BF16: return Format::BF16;
  case TESSERA_FORMAT_F16: return Format::F16;
  default: break;
  }
  fail(ErrorCode::InvalidArgument, "{}: format {} is no tessera_format", fn, static_cast<int>(f));
}

Nvfp4Recipe to_recipe(const char* fn, tessera_nvfp4_recipe r) {
  switch (r) {
  case TESSERA_NVFP4: return Nvfp4Recipe::Nvfp4;
  case TESSERA_NVFP4_4OVER6: return Nvfp4Recipe::FourOverSix;
  default: break;
  }
  fail(ErrorCode::InvalidArgument, "{}: recipe {} is no tessera_nvfp4_recipe", fn,
       static_cast<int>(r));
}

Fp8Recipe to_recipe(const char* fn, tessera_fp8_recipe r) {
  switch (r) {
  case TESSERA_FP8_TENSOR: return Fp8Recipe::Tensor;
  case TESSERA_FP8_TOKEN128: return Fp8Recipe::Token128;
  case TESSERA_FP8_BLOCK128: return Fp8Recipe::Block128;
  default: break;
  }
  fail(ErrorCode::InvalidArgument, "{}: recipe {} is no tessera_fp8_recipe", fn,
       static_cast<int>(r));
}

ScaleLayout to_scale_layout(const char* fn, tessera_scale_layout l) {
  switch (l) {
  case TESSERA_SCALE_LINEAR: return ScaleLayout::Linear;
  case TESSERA_SCALE_SWIZZLED_128X4: return ScaleLayout::Swizzled128x4;
  default: break;
  }
  fail(ErrorCode::InvalidArgument, "{}: scale_layout {} is no tessera_scale_layout", fn,
       static_cast<int>(l));
}

static_assert(TESSERA_WEIGHT_NVFP4 == static_cast<int>(WeightFormat::Nvfp4) &&
                  TESSERA_WEIGHT_FP8_TENSOR == static_cast<int>(WeightFormat::Fp8Tensor) &&
                  TESSERA_WEIGHT_FP8_BLOCK128 == static_cast<int>(WeightFormat::Fp8Block128),
              "tessera_weight_format follows tessera::WeightFormat");

const PackedWeight& packed(const char* fn, const char* name, const tessera_packed_weight* w) {
  return deref(fn, name, w).w;
}

// The argument structs of the C API, field by field (a NULL tensor is an absent optional one).
DeltaNetArgs to_args(const char* fn, const tessera_deltanet_args* args) {
  const tessera_deltanet_args& a = deref(fn, "args", args);
  DeltaNetArgs d;
  d.q = to_view(fn, "args->q", a.q);
  d.k = to_view(fn, "args->k", a.k);
  d.v = to_view(fn, "args->v", a.v);
  d.g = to_optional(fn, "args->g", a.g);
  d.beta = to_optional(fn, "args->beta", a.beta);
  d.a = to_optional(fn, "args->a", a.a);
  d.b = to_optional(fn, "args->b", a.b);
  d.A_log = to_optional(fn, "args->A_log", a.A_log);
  d.dt_bias = to_optional(fn, "args->dt_bias", a.dt_bias);
  d.h0 = to_optional(fn, "args->h0", a.h0);
  d.cu_seqlens = to_optional(fn, "args->cu_seqlens", a.cu_seqlens);
  if (a.has_scale) d.scale = a.scale;
  d.l2norm = a.l2norm != 0;
  return d;
}

AttentionArgs to_args(const char* fn, const tessera_attention_args* args) {
  const tessera_attention_args& a = deref(fn, "args", args);
  AttentionArgs d;
  d.q = to_view(fn, "args->q", a.q);
  d.k = to_view(fn, "args->k", a.k);
  d.v = to_view(fn, "args->v", a.v);
  d.gate = to_optional(fn, "args->gate", a.gate);
  d.k_scale = a.k_scale;
  d.v_scale = a.v_scale;
  d.cu_seqlens_q = to_optional(fn, "args->cu_seqlens_q", a.cu_seqlens_q);
  d.cu_seqlens_k = to_optional(fn, "args->cu_seqlens_k", a.cu_seqlens_k);
  d.causal = a.causal != 0;
  if (a.has_scale) d.scale = a.scale;
  return d;
}

// A string output: NULL with size 0 skips it; checked before anything is written.
void check_string_out(const char* fn, const char* name, const char* buf, size_t size) {
  if (!buf && size > 0)
    fail(ErrorCode::NullBuffer, "{}: {} is NULL but its size is {}", fn, name, size);
}

void copy_string(char* buf, size_t size, const std::string& s) {
  if (!buf || size == 0) return;
  size_t n = s.size() < size - 1 ? s.size() : size - 1;
  std::memcpy(buf, s.data(), n);
  buf[n] = '\0';
}

} // namespace

extern "C" {

const char* tessera_version(void) { return TESSERA_VERSION_STRING; }

const char* tessera_status_name(tessera_status s) {
  switch (s) {
  case TESSERA_OK: return "TESSERA_OK";
  case TESSERA_INVALID_ARGUMENT: return "TESSERA_INVALID_ARGUMENT";
  case TESSERA_SHAPE_MISMATCH: return "TESSERA_SHAPE_MISMATCH";
  case TESSERA_DTYPE_MISMATCH: return "TESSERA_DTYPE_MISMATCH";
  case TESSERA_NON_FINITE: return "TESSERA_NON_FINITE";
  case TESSERA_NULL_BUFFER: return "TESSERA_NULL_BUFFER";
  case TESSERA_SHORT_BUFFER: return "TESSERA_SHORT_BUFFER";
  case TESSERA_MISSING_TENSOR: return "TESSERA_MISSING_TENSOR";
  case TESSERA_MALFORMED_FILE: return "TESSERA_MALFORMED_FILE";
  case TESSERA_IO: return "TESSERA_IO";
  case TESSERA_UNSUPPORTED: return "TESSERA_UNSUPPORTED";
  case TESSERA_OUT_OF_MEMORY: return "TESSERA_OUT_OF_MEMORY";
  case TESSERA_INTERNAL: return "TESSERA_INTERNAL";
  default: return "TESSERA_UNKNOWN_STATUS";
  }
}

const char* tessera_last_error_message(void) { return t_message_ptr; }

tessera_status tessera_device_count(const char* backend, int32_t* count) {
  return guard("tessera_device_count", [&](const char* fn) {
    int32_t& out = deref(fn, "count", count);
    out = Context::device_count(backend ? backend : "");
  });
}

tessera_status tessera_context_create(const char* backend, int32_t device, tessera_context** out) {
  return guard("tessera_context_create", [&](const char* fn) {
    tessera_context*& result = deref(fn, "out", out);
    result = new tessera_context{Context::open(backend ? backend : "", device)};
  });
}

tessera_status tessera_context_create_with_policy(const char* backend, int32_t device, const char* policy,
                                                 tessera_context** out) {
  return guard("tessera_context_create_with_policy", [&](const char* fn) {
    tessera_context*& result = deref(fn, "out", out);
    // The TESSERA_OVERRIDE syntax, limited to the keys of a numerics policy.
    std::string_view text = policy ? policy : "";
    Overrides o = parse_overrides(text);
    if (!o.backend.empty() || !o.variants.empty() || !o.disabled.empty() || !o.fail.empty() || !o.program_cache ||
        !o.cache_dir.empty())
      detail::fail(ErrorCode::InvalidArgument, "{}: policy '{}' has keys other than numerics, strict and unproven", fn,
                   text);
    result = new tessera_context{Context::open(backend ? backend : "", device, o.policy)};
  });
}

void tessera_context_destroy(tessera_context* ctx) { delete ctx; }

tessera_status tessera_context_device(const tessera_context* ctx, char* backend,
                                      size_t backend_size, int32_t* device, char* name,
                                      size_t name_size) {
  return guard("tessera_context_device", [&](const char* fn) {
    const Context& c = context(fn, ctx);
    check_string_out(fn, "backend", backend, backend_size);
    check_string_out(fn, "name", name, name_size);
    copy_string(backend, backend_size, c.backend());
    if (device) *device = c.device();
    copy_string(name, name_size, c.device_name());
  });
}

tessera_status tessera_last_run(const tessera_context* ctx, char* backend, size_t backend_size,
                                char* variant, size_t variant_size, char* reason,
                                size_t reason_size) {
  return guard("tessera_last_run", [&](const char* fn) {
    const Context& c = context(fn, ctx);
    check_string_out(fn, "backend", backend, backend_size);
    check_string_out(fn, "variant", variant, variant_size);
    check_string_out(fn, "reason", reason, reason_size);
    RunInfo info = c.last_run();
    copy_string(backend, backend_size, info.backend);
    copy_string(variant, variant_size, info.variant);
    copy_string(reason, reason_size, info.reason);
  });
}

tessera_status tessera_device_alloc(tessera_context* ctx, size_t bytes, tessera_device_buffer** out) {
  return guard("tessera_device_alloc", [&](const char* fn) {
    const Context& c = context(fn, ctx);
    tessera_device_buffer*& result = deref(fn, "out", out);
    result = new tessera_device_buffer{c.device_alloc(bytes)};
  });
}

tessera_status tessera_context_create_opencl(void* cl_context, void* cl_device_id, void* cl_command_queue,
                                            tessera_context** out) {
  return guard("tessera_context_create_opencl", [&](const char* fn) {
    tessera_context*& result = deref(fn, "out", out);
    result = new tessera_context{Context::open_opencl(cl_context, cl_device_id, cl_command_queue)};
  });
}

tessera_status tessera_wrap_opencl(tessera_context* ctx, void* cl_mem, size_t offset, size_t bytes,
                                   tessera_device_buffer** out) {
  return guard("tessera_wrap_opencl", [&](const char* fn) {
    const Context& c = context(fn, ctx);
    tessera_device_buffer*& result = deref(fn, "out", out);
    result = new tessera_device_buffer{c.wrap_opencl(cl_mem, offset, bytes)};
  });
}

tessera_status tessera_context_opencl_handles(const tessera_context* ctx, void** cl_context, void** cl_device_id,
                                              void** cl_command_queue) {
  return guard("tessera_context_opencl_handles", [&](const char* fn) {
    const Context::OpenclHandles h = context(fn, ctx).opencl_handles();
    if (cl_context) *cl_context = h.context;
    if (cl_device_id) *cl_device_id = h.device;
    if (cl_command_queue) *cl_command_queue = h.queue;
  });
}

tessera_status tessera_wrap_vulkan(tessera_context* ctx, void* vk_buffer, size_t offset, size_t bytes,
                                   tessera_device_buffer** out) {
  return guard("tessera_wrap_vulkan", [&](const char* fn) {
    const Context& c = context(fn, ctx);
    tessera_device_buffer*& result = deref(fn, "out", out);
    result = new tessera_device_buffer{c.wrap_vulkan(vk_buffer, offset, bytes)};
  });
}

tessera_status tessera_context_vulkan_handles(const tessera_context* ctx, void** instance, void** physical_device,
                                              void** device, uint32_t* queue_family, void** queue) {
  return guard("tessera_context_vulkan_handles", [&](const char* fn) {
    const Context::VulkanHandles h = context(fn, ctx).vulkan_handles();
    if (instance) *instance = h.instance;
    if (physical_device) *physical_device = h.physical_device;
    if (device) *device = h.device;
    if (queue_family) *queue_family = h.queue_family;
    if (queue) *queue = h.queue;
  });
}

tessera_status tessera_context_event(tessera_context* ctx, tessera_event** out) {
  return guard("tessera_context_event", [&](const char* fn) {
    const Context& c = context(fn, ctx);
    tessera_event*& result = deref(fn, "out", out);
    result = new tessera_event{c.event()};
  });
}

tessera_status tessera_event_done(const tessera_event* e, int32_t* done) {
  return guard("tessera_event_done", [&](const char* fn) {
    const tessera_event& ev = deref(fn, "event", e);
    deref(fn, "done", done) = ev.e.done() ? 1 : 0;
  });
}

tessera_status tessera_event_wait(const tessera_event* e) {
  return guard("tessera_event_wait", [&](const char* fn) { deref(fn, "event", e).e.wait(); });
}

void tessera_event_destroy(tessera_event* e) { delete e; }

void tessera_device_buffer_destroy(tessera_device_buffer* b) { delete b; }

void* tessera_device_buffer_address(const tessera_device_buffer* b) { return b ? b->b.address() : nullptr; }

size_t tessera_device_buffer_size(const tessera_device_buffer* b) { return b ? b->b.size() : 0; }

tessera_status tessera_upload(tessera_context* ctx, tessera_device_buffer* dst, size_t offset, const void* src,
                              size_t bytes) {
  return guard("tessera_upload", [&](const char* fn) {
    const Context& c = context(fn, ctx);
    c.upload(deref(fn, "dst", dst).b, offset, src, bytes);
  });
}

tessera_status tessera_download(tessera_context* ctx, const tessera_device_buffer* src, size_t offset, void* dst,
                                size_t bytes) {
  return guard("tessera_download", [&](const char* fn) {
    const Context& c = context(fn, ctx);
    c.download(deref(fn, "src", src).b, offset, dst, bytes);
  });
}

tessera_status tessera_context_traffic(const tessera_context* ctx, int64_t* allocations,
                                       int64_t* bytes_to_device, int64_t* bytes_from_device) {
  return guard("tessera_context_traffic", [&](const char* fn) {
    DeviceTraffic t = context(fn, ctx).traffic();
    if (allocations) *allocations = t.allocations;
    if (bytes_to_device) *bytes_to_device = t.bytes_to_device;
    if (bytes_from_device) *bytes_from_device = t.bytes_from_device;
  });
}

tessera_status tessera_context_sync(tessera_context* ctx, int64_t* calls, double* device_ms) {
  return guard("tessera_context_sync", [&](const char* fn) {
    const QueueInfo q = context(fn, ctx).sync();
    if (calls) *calls = q.calls;
    if (device_ms) *device_ms = q.device_ms;
  });
}

tessera_status tessera_pack_nvfp4_weight(tessera_context* ctx, const tessera_tensor* b,
                                         const tessera_tensor* b_scale, float scale_2,
                                         tessera_scale_layout scale_layout, int64_t M,
                                         const char* layout, tessera_packed_weight** out) {
  return guard("tessera_pack_nvfp4_weight", [&](const char* fn) {
    const Context& c = context(fn, ctx);
    tessera_packed_weight*& result = deref(fn, "out", out);
    result = new tessera_packed_weight{c.pack_nvfp4_weight(to_view(fn, "b", b),
                                                           to_view(fn, "b_scale", b_scale), scale_2,
                                                           to_scale_layout(fn, scale_layout), M,
                                                           layout ? layout : "")};
  });
}

tessera_status tessera_pack_fp8_weight(tessera_context* ctx, const tessera_tensor* b,
                                       const tessera_tensor* scales, int64_t M, const char* layout,
                                       tessera_packed_weight** out) {
  return guard("tessera_pack_fp8_weight", [&](const char* fn) {
    const Context& c = context(fn, ctx);
    tessera_packed_weight*& result = deref(fn, "out", out);
    result = new tessera_packed_weight{c.pack_fp8_weight(to_view(fn, "b", b),
                                                         to_view(fn, "scales", scales), M,
                                                         layout ? layout : "")};
  });
}

void tessera_packed_weight_destroy(tessera_packed_weight* w) { delete w; }

tessera_status tessera_packed_weight_describe(const tessera_packed_weight* w,
                                              tessera_weight_format* format, int64_t* N,
                                              int64_t* K, float* scale, char* layout,
                                              size_t layout_size, char* variant,
                                              size_t variant_size) {
  return guard("tessera_packed_weight_describe", [&](const char* fn) {
    const PackedWeight& p = packed(fn, "w", w);
    check_string_out(fn, "layout", layout, layout_size);
    check_string_out(fn, "variant", variant, variant_size);
    if (format) *format = static_cast<tessera_weight_format>(p.format);
    if (N) *N = p.N;
    if (K) *K = p.K;
    if (scale) *scale = p.scale;
    copy_string(layout, layout_size, p.layout);
    copy_string(variant, variant_size, p.variant);
  });
}

tessera_status tessera_unpack_weight(const tessera_packed_weight* w, const tessera_tensor* b,
                                     const tessera_tensor* scales) {
  return guard("tessera_unpack_weight", [&](const char* fn) {
    unpack_weight(packed(fn, "w", w), to_view(fn, "b", b), to_view(fn, "scales", scales));
  });
}

tessera_status tessera_to_swizzled_scales(const tessera_tensor* linear,
                                          const tessera_tensor* swizzled) {
  return guard("tessera_to_swizzled_scales", [&](const char* fn) {
    to_swizzled_scales(to_view(fn, "linear", linear), to_view(fn, "swizzled", swizzled));
  });
}

tessera_status tessera_from_swizzled_scales(const tessera_tensor* swizzled,
                                            const tessera_tensor* linear) {
  return guard("tessera_from_swizzled_scales", [&](const char* fn) {
    from_swizzled_scales(to_view(fn, "swizzled", swizzled), to_view(fn, "linear", linear));
  });
}

tessera_status tessera_deltanet_args_init(tessera_deltanet_args* args) {
  return guard("tessera_deltanet_args_init", [&](const char* fn) {
    deref(fn, "args", args) = tessera_deltanet_args{}; // all NULL, no scale, no l2norm
  });
}

tessera_status tessera_attention_args_init(tessera_attention_args* args) {
  return guard("tessera_attention_args_init", [&](const char* fn) {
    tessera_attention_args& a = deref(fn, "args", args);
    a = tessera_attention_args{};
    AttentionArgs defaults; // the C++ defaults are the single source of truth
    a.k_scale = defaults.k_scale;
    a.v_scale = defaults.v_scale;
    a.causal = defaults.causal ? 1 : 0;
  });
}

// ---- generated from core/op_table.h by tools/gen_api.cpp (make api): do not edit ----

tessera_status tessera_convert(tessera_context* ctx, const tessera_tensor* x, tessera_format to,
                               const tessera_tensor* y) {
  return guard("tessera_convert", [&](const char* fn) {
    const Context& context_ = context(fn, ctx);
    context_.convert(to_view(fn, "x", x), to_format(fn, to), to_view(fn, "y", y));
  });
}

tessera_status tessera_quantize_nvfp4(tessera_context* ctx, const tessera_tensor* x,
                                      tessera_nvfp4_recipe recipe, const float* static_scale_2,
                                      const tessera_tensor* q, const tessera_tensor* scale,
                                      float* scale_2) {
  return guard("tessera_quantize_nvfp4", [&](const char* fn) {
    const Context& context_ = context(fn, ctx);
    float& result = deref(fn, "scale_2", scale_2);
    result = context_.quantize_nvfp4(to_view(fn, "x", x), to_recipe(fn, recipe),
                                     optional_scalar(static_scale_2), to_view(fn, "q", q),
                                     to_view(fn, "scale", scale));
  });
}

tessera_status tessera_dequantize_nvfp4(tessera_context* ctx, const tessera_tensor* q,
                                        const tessera_tensor* scale, float scale_2,
                                        const tessera_tensor* y) {
  return guard("tessera_dequantize_nvfp4", [&](const char* fn) {
    const Context& context_ = context(fn, ctx);
    context_.dequantize_nvfp4(to_view(fn, "q", q), to_view(fn, "scale", scale), scale_2,
                              to_view(fn, "y", y));
  });
}

tessera_status tessera_quantize_fp8(tessera_context* ctx, const tessera_tensor* x,
                                    tessera_fp8_recipe recipe, const tessera_tensor* q,
                                    const tessera_tensor* scales) {
  return guard("tessera_quantize_fp8", [&](const char* fn) {
    const Context& context_ = context(fn, ctx);
    context_.quantize_fp8(to_view(fn, "x", x), to_recipe(fn, recipe), to_view(fn, "q", q),
                          to_view(fn, "scales", scales));
  });
}

tessera_status tessera_dequantize_fp8(tessera_context* ctx, const tessera_tensor* q,
                                      const tessera_tensor* scales, tessera_fp8_recipe recipe,
                                      const tessera_tensor* y) {
  return guard("tessera_dequantize_fp8", [&](const char* fn) {
    const Context& context_ = context(fn, ctx);
    context_.dequantize_fp8(to_view(fn, "q", q), to_view(fn, "scales", scales),
                            to_recipe(fn, recipe), to_view(fn, "y", y));
  });
}

tessera_status tessera_gemm_nvfp4(tessera_context* ctx, const tessera_tensor* a,
                                  const tessera_tensor* a_scale, const tessera_tensor* b,
                                  const tessera_tensor* b_scale, float alpha,
                                  const tessera_tensor* bias, const tessera_tensor* c) {
  return guard("tessera_gemm_nvfp4", [&](const char* fn) {
    const Context& context_ = context(fn, ctx);
    context_.gemm_nvfp4(to_view(fn, "a", a), to_view(fn, "a_scale", a_scale), to_view(fn, "b", b),
                        to_view(fn, "b_scale", b_scale), alpha, to_optional(fn, "bias", bias),
                        to_view(fn, "c", c));
  });
}

tessera_status tessera_gemm_fp8(tessera_context* ctx, const tessera_tensor* a,
                                const tessera_tensor* b, float alpha, const tessera_tensor* bias,
                                const tessera_tensor* c) {
  return guard("tessera_gemm_fp8", [&](const char* fn) {
    const Context& context_ = context(fn, ctx);
    context_.gemm_fp8(to_view(fn, "a", a), to_view(fn, "b", b), alpha,
                      to_optional(fn, "bias", bias), to_view(fn, "c", c));
  });
}

tessera_status tessera_gemm_fp8_block(tessera_context* ctx, const tessera_tensor* a,
                                      const tessera_tensor* a_scale, const tessera_tensor* b,
                                      const tessera_tensor* b_scale, const tessera_tensor* bias,
                                      const tessera_tensor* c) {
  return guard("tessera_gemm_fp8_block", [&](const char* fn) {
    const Context& context_ = context(fn, ctx);
    context_.gemm_fp8_block(to_view(fn, "a", a), to_view(fn, "a_scale", a_scale),
                            to_view(fn, "b", b), to_view(fn, "b_scale", b_scale),
                            to_optional(fn, "bias", bias), to_view(fn, "c", c));
  });
}

tessera_status tessera_gemm_nvfp4_act(tessera_context* ctx, const tessera_tensor* x,
                                      const float* a_scale_2, const tessera_tensor* b,
                                      const tessera_tensor* b_scale, float b_scale_2,
                                      const tessera_tensor* bias, const tessera_tensor* c,
                                      float* a_scale_2_used) {
  return guard("tessera_gemm_nvfp4_act", [&](const char* fn) {
    const Context& context_ = context(fn, ctx);
    float& result = deref(fn, "a_scale_2_used", a_scale_2_used);
    result = context_.gemm_nvfp4_act(to_view(fn, "x", x), optional_scalar(a_scale_2),
                                     to_view(fn, "b", b), to_view(fn, "b_scale", b_scale),
                                     b_scale_2, to_optional(fn, "bias", bias), to_view(fn, "c", c));
  });
}

tessera_status tessera_gemm_fp8_act(tessera_context* ctx, const tessera_tensor* x,
                                    const tessera_tensor* b, const tessera_tensor* b_scale,
                                    const tessera_tensor* bias, const tessera_tensor* c) {
  return guard("tessera_gemm_fp8_act", [&](const char* fn) {
    const Context& context_ = context(fn, ctx);
    context_.gemm_fp8_act(to_view(fn, "x", x), to_view(fn, "b", b), to_view(fn, "b_scale", b_scale),
                          to_optional(fn, "bias", bias), to_view(fn, "c", c));
  });
}

tessera_status tessera_gemm_nvfp4_packed(tessera_context* ctx, const tessera_tensor* a,
                                         const tessera_tensor* a_scale,
                                         const tessera_packed_weight* b, float alpha,
                                         const tessera_tensor* bias, const tessera_tensor* c) {
  return guard("tessera_gemm_nvfp4_packed", [&](const char* fn) {
    const Context& context_ = context(fn, ctx);
    context_.gemm_nvfp4_packed(to_view(fn, "a", a), to_view(fn, "a_scale", a_scale),
                               packed(fn, "b", b), alpha, to_optional(fn, "bias", bias),
                               to_view(fn, "c", c));
  });
}

tessera_status tessera_gemm_fp8_packed(tessera_context* ctx, const tessera_tensor* a,
                                       const tessera_packed_weight* b, float alpha,
                                       const tessera_tensor* bias, const tessera_tensor* c) {
  return guard("tessera_gemm_fp8_packed", [&](const char* fn) {
    const Context& context_ = context(fn, ctx);
    context_.gemm_fp8_packed(to_view(fn, "a", a), packed(fn, "b", b), alpha,
                             to_optional(fn, "bias", bias), to_view(fn, "c", c));
  });
}

tessera_status tessera_gemm_fp8_block_packed(tessera_context* ctx, const tessera_tensor* a,
                                             const tessera_tensor* a_scale,
                                             const tessera_packed_weight* b,
                                             const tessera_tensor* bias, const tessera_tensor* c) {
  return guard("tessera_gemm_fp8_block_packed", [&](const char* fn) {
    const Context& context_ = context(fn, ctx);
    context_.gemm_fp8_block_packed(to_view(fn, "a", a), to_view(fn, "a_scale", a_scale),
                                   packed(fn, "b", b), to_optional(fn, "bias", bias),
                                   to_view(fn, "c", c));
  });
}

tessera_status tessera_deltanet(tessera_context* ctx, const tessera_deltanet_args* args,
                                const tessera_tensor* o, const tessera_tensor* ht) {
  return guard("tessera_deltanet", [&](const char* fn) {
    const Context& context_ = context(fn, ctx);
    context_.deltanet(to_args(fn, args), to_view(fn, "o", o), to_view(fn, "ht", ht));
  });
}

tessera_status tessera_conv1d(tessera_context* ctx, const tessera_tensor* x,
                              const tessera_tensor* w, const tessera_tensor* bias,
                              const tessera_tensor* state, const tessera_tensor* y,
                              const tessera_tensor* state_out) {
  return guard("tessera_conv1d", [&](const char* fn) {
    const Context& context_ = context(fn, ctx);
    context_.conv1d(to_view(fn, "x", x), to_view(fn, "w", w), to_optional(fn, "bias", bias),
                    to_optional(fn, "state", state), to_view(fn, "y", y),
                    to_view(fn, "state_out", state_out));
  });
}

tessera_status tessera_attention(tessera_context* ctx, const tessera_attention_args* args,
                                 const tessera_tensor* o, const tessera_tensor* lse) {
  return guard("tessera_attention", [&](const char* fn) {
    const Context& context_ = context(fn, ctx);
    context_.attention(to_args(fn, args), to_view(fn, "o", o), to_optional(fn, "lse", lse));
  });
}
// ---- end of generated code ----

} // extern "C"
