// What a resident row times on (docs/kbench.md, "How a case is timed"): a case's rotated input
// sets uploaded once into device buffers, and one set of device outputs, so that the timed calls
// move nothing between host and device.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "bench/cases.h"
#include "tessera/context.h"
#include "tessera/named_ops.h"

namespace tessera::bench {

// Whether the by-name API reads or writes this tensor as a number on the host (a_scale_2,
// x_scale_2, k_scale, a per-tensor FP8 scale: a one-element F32 tensor), so that it stays in
// host memory. A one-element output a kernel writes (quantize_fp8's per-tensor x_scale) is
// kept on the host too, and is downloaded by each call (its row shows 4 bytes down).
bool host_number(DType dtype, const Shape& shape);

struct ResidentSets {
  std::vector<ViewMap> inputs; // per input set: device views, host numbers
  ViewMap outputs;             // shared by every set
  size_t device_bytes = 0;     // allocated for all of them
  // Owners of what the views point at.
  std::vector<DeviceBuffer> buffers;
  TensorMap host_outputs;
};

// Uploads each of `sets` (one device buffer per set; the host numbers and the set's `on_host`
// inputs excepted) and allocates `outputs`' names, dtypes and
// shapes (what one call of the op returned) on ctx's device. The host numbers of `sets` are
// viewed where they are: `sets` must outlive the result.
ResidentSets make_resident(const Context& ctx, const std::vector<BenchInputs>& sets,
                           const TensorMap& outputs);

} // namespace tessera::bench
