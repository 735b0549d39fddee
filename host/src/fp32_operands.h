// The operands of the operations that compute in fp32 (conv1d, deltanet, attention): their
// launchers read and write fp32 arrays, and these give them one for each tensor, wherever the
// tensor lives.
// - A host view is widened into a host copy (an output: computed into one and narrowed into
//   the view at the end), as the host path always did.
// - A resident F32 view is passed as it is: the backend reads it on the device, and writes an
//   output into it only after its kernels succeeded.
// - A resident BF16/F16 view is widened into (an output: narrowed from) pooled device scratch
//   by the backend's cast, so nothing crosses to the host.
// Either way an input and an output are distinct buffers while the kernels run, so an output
// may alias an input (ht over h0, state_out over state), and a failed call writes nothing.
// Construct them inside the operation's ResidentScope, after its views were checked.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "device_memory.h"
#include "tessera/ops.h"

namespace tessera::detail {

class F32Input {
public:
  F32Input(std::string_view op, std::string_view name, const std::optional<TensorView>& t);
  // Null for an absent tensor.
  const float* data() const { return data_; }
  // Whether data() is host memory (a host view's copy), which the host may read.
  bool on_host() const { return data_ != nullptr && !device_memory::resident(data_); }

private:
  std::vector<float> host_;
  device_memory::Scratch scratch_;
  const float* data_ = nullptr;
};

class F32Output {
public:
  F32Output(std::string_view op, std::string_view name, const std::optional<TensorView>& t);
  // Null for an absent tensor.
  float* data() { return data_; }
  // After the kernels succeeded: the result into the view, rounded as store_f32 rounds (for a
  // resident view, by the device's cast).
  void store();

private:
  std::string_view op_, name_;
  std::optional<TensorView> view_;
  std::vector<float> host_;
  device_memory::Scratch scratch_;
  float* data_ = nullptr;
};

// The call's traffic into its RunInfo again, after the outputs were stored (a cast on the device
// may have allocated scratch).
void note_traffic(RunInfo* info);

} // namespace tessera::detail
