#include <cmath>
#include <cstdlib>

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

TensorMap run_named_op(std::string_view op, const TensorMap& inputs, const ParamMap& params,
                       const RunOptions& options, RunInfo* info) {
  for (const auto& e : entries()) {
    if (e.info.name != op) continue;
    detail::NamedCall call(op, inputs, params);
    return e.run(call, options, info);
  }
  std::string known;
  for (const auto& e : entries()) {
    if (!known.empty()) known += ", ";
    known += e.info.name;
  }
  detail::fail(ErrorCode::InvalidArgument, "unknown operation '{}' (known: {})", op, known);
}

namespace detail {

const Tensor* NamedCall::optional_tensor(std::string_view name) const {
  auto it = inputs_.find(name);
  return it == inputs_.end() ? nullptr : &it->second;
}

const Tensor& NamedCall::tensor(std::string_view name) const {
  const Tensor* t = optional_tensor(name);
  if (!t) fail(ErrorCode::MissingTensor, "{}: missing input tensor '{}'", op_, name);
  return *t;
}

std::optional<TensorView> NamedCall::optional_view(std::string_view name) const {
  const Tensor* t = optional_tensor(name);
  if (!t) return std::nullopt;
  return t->view();
}

Tensor NamedCall::output(std::string_view name, DType dtype, Shape shape) const {
  if (!checked_bytes(dtype, shape))
    fail(ErrorCode::ShapeMismatch, "{}: output {} would be {} {}, more than 2^62 elements or bytes (from the input shapes)",
         op_, name, dtype_name(dtype), shape_str(shape));
  return Tensor(dtype, std::move(shape));
}

float NamedCall::scalar(std::string_view name) const {
  const Tensor& t = tensor(name);
  if (t.dtype() != DType::F32) fail(ErrorCode::DTypeMismatch, "{}: {} has dtype {}, expected F32", op_, name, dtype_name(t.dtype()));
  if (t.shape().size() > 1 || t.numel() != 1)
    fail(ErrorCode::ShapeMismatch, "{}: {} has shape {}, expected a scalar ([] or [1])", op_, name, shape_str(t.shape()));
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
