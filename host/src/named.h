// Helpers for the by-name adapters (named_ops.h): checked access to one call's tensors and
// parameters. Each ops_*.cpp defines the adapters of its operations; named_ops.cpp lists them.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/named_ops.h"
#include "validate.h"

namespace tessera::detail {

class NamedCall {
public:
  // `outputs`: where the caller wants outputs written (named_ops.h); the others are allocated.
  NamedCall(std::string_view op, const ViewMap& inputs, const ParamMap& params,
            const ViewMap& outputs)
      : op_(op), inputs_(inputs), params_(params), outputs_(outputs) {}

  std::string_view op() const { return op_; }
  const TensorView& tensor(std::string_view name) const;          // MissingTensor when absent
  const TensorView* optional_tensor(std::string_view name) const; // nullptr when absent
  std::optional<TensorView> optional_view(std::string_view name) const;
  // Where output `name` goes: the caller's view (its dtype and shape must be these), else a new
  // host tensor, kept for results(). The shape comes from the inputs' extents, whose product may
  // be past what any tensor may hold: that is refused here, naming the output, before anything
  // is allocated.
  TensorView output(std::string_view name, DType dtype, Shape shape);
  // A float result (x_scale_2) as a rank-0 F32 output: written by the host, so a caller's view
  // of it must be host memory.
  void scalar_output(std::string_view name, float value);
  // The outputs output() allocated, by name: what run_named_op returns.
  TensorMap results() { return std::move(made_); }
  // A rank-0 or one-element F32 input in host memory, read as a scalar.
  float scalar(std::string_view name) const;

  std::optional<float> param_float(std::string_view key);
  std::optional<std::string> param_string(std::string_view key);
  // One of `choices`; `fallback` when absent.
  std::string param_choice(std::string_view key, std::initializer_list<std::string_view> choices,
                           std::string_view fallback);
  bool param_flag(std::string_view key, bool fallback); // "0" or "1"
  // Call after reading every parameter: refuses keys the operation does not know.
  void finish_params() const;

private:
  std::string_view op_;
  const ViewMap& inputs_;
  const ParamMap& params_;
  const ViewMap& outputs_;
  TensorMap made_;
  std::set<std::string, std::less<>> used_;
};

// Extent i of a tensor whose rank is not checked yet (0 past its rank): the typed call refuses
// a bad rank with a clear message, the adapter only needs a harmless number to allocate with
// until then.
inline int64_t extent(const TensorView& t, size_t i) { return i < t.shape.size() ? t.shape[i] : 0; }

// The output dtype named by `out=f32|bf16|f16`.
DType out_dtype(NamedCall& call);

using NamedAdapter = TensorMap (*)(NamedCall&, const RunOptions&, RunInfo*);

// One adapter per TESSERA_OP row of core/op_table.h, defined in the ops_*.cpp of its operation.
#define TESSERA_OP(name, ret, sig, doc, inputs, params, outputs, ref) TensorMap named_##name(NamedCall&, const RunOptions&, RunInfo*);
#include "core/op_table.h"

} // namespace tessera::detail
