#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "device_memory.h"
#include "named.h"

namespace tessera {

namespace {
struct Entry {
  NamedOp info;
  detail::NamedAdapter run;
};

const std::vector<Entry>& entries() {
  using namespace detail;
  // One entry per TESSERA_OP row of core/op_table.h, in its order.
  static const std::vector<Entry> table = {
#define TESSERA_OP(name, ret, sig, doc, inputs, params, outputs, ref) {{#name, inputs, params, outputs}, named_##name},
#include "core/op_table.h"
  };
  return table;
}
} // namespace

const std::vector<NamedOp>& named_ops() {
  static const std::vector<NamedOp> ops = [] {
    std::vector<NamedOp> v;
    for (const auto& e : entries()) v.push_back(e.info);
    return v;
  }();
  return ops;
}

namespace {
// The output names of `op`'s help text ("x U8, x_scale F8_E4M3, x_scale_2 F32", "o, [lse]"):
// the first word of each item.
std::vector<std::string> output_names(std::string_view help) {
  std::vector<std::string> names;
  for (size_t p = 0; p < help.size();) {
    size_t comma = std::min(help.find(',', p), help.size());
    std::string_view item = help.substr(p, comma - p);
    size_t begin = item.find_first_not_of(" [");
    if (begin != std::string_view::npos) {
      size_t end = item.find_first_of(" ]", begin);
      names.emplace_back(item.substr(begin, end == std::string_view::npos ? end : end - begin));
    }
    p = comma + 1;
  }
  return names;
}

[[noreturn]] void unknown_op(std::string_view op) {
  std::string known;
  for (const auto& e : entries()) {
    if (!known.empty()) known += ", ";
    known += e.info.name;
  }
  detail::fail(ErrorCode::InvalidArgument, "unknown operation '{}' (known: {})", op, known);
}
} // namespace

TensorMap run_named_op(std::string_view op, const TensorMap& inputs, const ParamMap& params,
                       const RunOptions& options, RunInfo* info) {
  ViewMap views;
  for (const auto& [name, t] : inputs)
    views.emplace(name, t.view());
  return run_named_op(op, views, params, {}, options, info);
}

TensorMap run_named_op(std::string_view op, const ViewMap& inputs, const ParamMap& params,
                       const ViewMap& outputs, const RunOptions& options, RunInfo* info) {
  for (const auto& e : entries()) {
    if (e.info.name != op) continue;
    if (!outputs.empty()) {
      const std::vector<std::string> names = output_names(e.info.outputs);
      for (const auto& [name, v] : outputs)
        if (std::find(names.begin(), names.end(), name) == names.end())
          detail::fail(ErrorCode::InvalidArgument, "{}: no output named '{}' (outputs: {})", op,
                       name, e.info.outputs);
    }
    detail::NamedCall call(op, inputs, params, outputs);
    return e.run(call, options, info);
  }
  unknown_op(op);
}

namespace detail {

const TensorView* NamedCall::optional_tensor(std::string_view name) const {
  auto it = inputs_.find(name);
  return it == inputs_.end() ? nullptr : &it->second;
}

const TensorView& NamedCall::tensor(std::string_view name) const {
  const TensorView* t = optional_tensor(name);
  if (!t) fail(ErrorCode::MissingTensor, "{}: missing input tensor '{}'", op_, name);
  return *t;
}

std::optional<TensorView> NamedCall::optional_view(std::string_view name) const {
  const TensorView* t = optional_tensor(name);
  if (!t) return std::nullopt;
  return *t;
}

TensorView NamedCall::output(std::string_view name, DType dtype, Shape shape) {
  if (!checked_bytes(dtype, shape))
    fail(ErrorCode::ShapeMismatch, "{}: output {} would be {} {}, more than 2^62 elements or bytes (from the input shapes)",
         op_, name, dtype_name(dtype), shape_str(shape));
  if (auto it = outputs_.find(name); it != outputs_.end()) {
    const TensorView& v = it->second;
    if (v.dtype != dtype)
      fail(ErrorCode::DTypeMismatch, "{}: output {} has dtype {}, the operation writes {}", op_, name,
           dtype_name(v.dtype), dtype_name(dtype));
    if (v.shape != shape)
      fail(ErrorCode::ShapeMismatch, "{}: output {} has shape {}, the operation writes {}", op_, name,
           shape_str(v.shape), shape_str(shape));
    return v;
  }
  auto [it, fresh] = made_.insert_or_assign(std::string(name), Tensor(dtype, std::move(shape)));
  return it->second.view();
}

void NamedCall::scalar_output(std::string_view name, float value) {
  TensorView v = output(name, DType::F32, {});
  if (device_memory::resident(v.data))
    fail(ErrorCode::InvalidArgument, "{}: output {} is a number the host writes: pass it in host memory",
         op_, name);
  *v.as<float>() = value;
}

float NamedCall::scalar(std::string_view name) const {
  const TensorView& t = tensor(name);
  if (t.dtype != DType::F32) fail(ErrorCode::DTypeMismatch, "{}: {} has dtype {}, expected F32", op_, name, dtype_name(t.dtype));
  if (t.shape.size() > 1 || t.numel() != 1)
    fail(ErrorCode::ShapeMismatch, "{}: {} has shape {}, expected a scalar ([] or [1])", op_, name, shape_str(t.shape));
  if (device_memory::resident(t.data))
    fail(ErrorCode::InvalidArgument, "{}: {} is a number the host reads: pass it in host memory", op_, name);
  if (!t.data || t.bytes < sizeof(float))
    fail(ErrorCode::ShortBuffer, "{}: {} holds {} bytes, expected 4", op_, name, t.bytes);
  return t.as<float>()[0];
}

std::optional<std::string> NamedCall::param_string(std::string_view key) {
  used_.insert(std::string(key));
  auto it = params_.find(key);
  if (it == params_.end()) return std::nullopt;
  return it->second;
}

std::optional<float> NamedCall::param_float(std::string_view key) {
  auto s = param_string(key);
  if (!s) return std::nullopt;
  const char* begin = s->c_str();
  char* end = nullptr;
  float v = std::strtof(begin, &end);
  if (s->empty() || end != begin + s->size() || !std::isfinite(v))
    fail(ErrorCode::InvalidArgument, "{}: parameter {}='{}' is not a finite number", op_, key, *s);
  return v;
}

std::string NamedCall::param_choice(std::string_view key,
                                    std::initializer_list<std::string_view> choices,
                                    std::string_view fallback) {
  auto s = param_string(key);
  if (!s) return std::string(fallback);
  std::string list;
  for (auto c : choices) {
    if (*s == c) return *s;
    if (!list.empty()) list += "|";
    list += c;
  }
  fail(ErrorCode::InvalidArgument, "{}: parameter {}='{}' is not one of {}", op_, key, *s, list);
}

bool NamedCall::param_flag(std::string_view key, bool fallback) {
  return param_choice(key, {"0", "1"}, fallback ? "1" : "0") == "1";
}

void NamedCall::finish_params() const {
  for (const auto& [key, value] : params_)
    if (!used_.count(key)) fail(ErrorCode::InvalidArgument, "{}: unknown parameter '{}'", op_, key);
}

DType out_dtype(NamedCall& call) {
  std::string o = call.param_choice("out", {"f32", "bf16", "f16"}, "f32");
  return o == "f32" ? DType::F32 : o == "bf16" ? DType::BF16 : DType::F16;
}

} // namespace detail
} // namespace tessera
