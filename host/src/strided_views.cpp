#include "strided_views.h"

#include <cstring>

#include "core/backend.h"
#include "core/error.h"
#include "validate.h"

namespace tessera::detail {

namespace {
struct Dim {
  int64_t extent, stride; // stride in elements
};

// Where a strided view's elements are: runs of `run` packed elements, one per index of the
// `outer` dimensions (outermost first), each run starting at sum(index * stride) elements.
struct Layout {
  int64_t run = 0;
  std::vector<Dim> outer;
  int64_t span = 0; // elements from the first to past the last
  int64_t runs() const {
    int64_t n = 1;
    for (const Dim& d : outer) n *= d.extent;
    return n;
  }
};

// Checks t against tensor.h's rules for strides and finds its runs.
Layout layout_of(std::string_view op, std::string_view name, const TensorView& t) {
  if (t.shape.size() > kMaxRank)
    fail(ErrorCode::ShapeMismatch, "{}: {} has rank {}, more than the {} dimensions a tensor may have", op, name,
         t.shape.size(), kMaxRank);
  if (t.strides.size() != t.shape.size())
    fail(ErrorCode::InvalidArgument, "{}: {} has {} strides {} for the {} dimensions of its shape {}", op, name,
         t.strides.size(), shape_str(t.strides), t.shape.size(), shape_str(t.shape));
  const auto n = checked_numel(t.shape);
  if (!n)
    fail(ErrorCode::ShapeMismatch, "{}: {} {} {} describes more than 2^62 elements or has a negative extent", op, name,
         dtype_name(t.dtype), shape_str(t.shape));
  Layout l;
  if (*n == 0) return l;
  auto refuse = [&](std::string_view why) {
    fail(ErrorCode::Unsupported, "{}: {} has shape {} and strides {}: {}; the operations take strided views in "
                                 "row-major order with packed rows (tessera/tensor.h), so pass a packed copy",
         op, name, shape_str(t.shape), shape_str(t.strides), why);
  };
  l.run = 1;
  l.span = 1;
  bool merging = true; // every dimension inside this one was packed into the run
  std::vector<Dim> outer;
  for (size_t i = t.shape.size(); i-- > 0;) {
    const Dim d{t.shape[i], t.strides[i]};
    if (d.extent == 1) continue; // its stride never matters
    if (l.span == 1 && d.stride != 1) refuse(fmt::format("the innermost dimension of extent > 1 has stride {}, not 1", d.stride));
    if (d.stride < l.span)
      refuse(fmt::format("dimension {}'s stride {} is less than the {} elements inside it (a transposed, broadcast "
                         "or overlapping view)",
                         i, d.stride, l.span));
    auto reach = checked_mul(d.extent - 1, d.stride);
    if (!reach || *reach > kMaxElements - l.span) refuse("its span passes 2^62 elements");
    if (merging && d.stride == l.run) {
      l.run *= d.extent; // cannot wrap: at most the span, which was just bounded
      l.span = l.run;
    } else {
      merging = false;
      outer.insert(outer.begin(), d);
      l.span += *reach;
    }
  }
  l.outer = std::move(outer);
  return l;
}

// Calls f(view_offset, packed_offset) in elements for each run of l, in row-major order.
template <class F> void for_each_run(const Layout& l, F f) {
  std::vector<int64_t> index(l.outer.size(), 0);
  for (int64_t packed = 0;; packed += l.run) {
    int64_t at = 0;
    for (size_t k = 0; k < index.size(); ++k) at += index[k] * l.outer[k].stride;
    f(at, packed);
    size_t k = index.size();
    while (k > 0 && ++index[k - 1] == l.outer[k - 1].extent) index[--k] = 0;
    if (k == 0) return;
  }
}

// The runs of l between a strided view at `view` and a packed copy at `packed`, both resident
// addresses of the call's device, as few rectangular copies as the strides allow: the two
// innermost outer dimensions make one copy's rows and slices where their strides nest.
void device_copy(std::string_view op, std::string_view name, const std::string& backend, int device,
                 const Layout& l, size_t es, std::byte* view, std::byte* packed, bool gather) {
  Rect r;
  r.run = static_cast<size_t>(l.run) * es;
  size_t view_row = r.run, view_slice = r.run, inner = 0;
  const size_t m = l.outer.size();
  if (m >= 1) {
    r.rows = static_cast<size_t>(l.outer[m - 1].extent);
    view_row = static_cast<size_t>(l.outer[m - 1].stride) * es;
    view_slice = r.rows * view_row;
    inner = 1;
    if (m >= 2 && static_cast<size_t>(l.outer[m - 2].stride) * es >= r.rows * view_row) {
      r.slices = static_cast<size_t>(l.outer[m - 2].extent);
      view_slice = static_cast<size_t>(l.outer[m - 2].stride) * es;
      inner = 2;
    }
  }
  const size_t packed_row = r.run, packed_slice = r.rows * r.run;
  r.src_row = gather ? view_row : packed_row;
  r.src_slice = gather ? view_slice : packed_slice;
  r.dst_row = gather ? packed_row : view_row;
  r.dst_slice = gather ? packed_slice : view_slice;
  // The dimensions outside the rectangle, one copy per index.
  Layout rest{l.run * static_cast<int64_t>(r.rows * r.slices), {l.outer.begin(), l.outer.end() - static_cast<long>(inner)}, 0};
  try {
    for_each_run(rest, [&](int64_t at, int64_t done) {
      std::byte* v = view + static_cast<size_t>(at) * es;
      std::byte* p = packed + static_cast<size_t>(done) * es;
      if (backend == "opencl") opencl::copy_rect(device, gather ? v : p, gather ? p : v, r);
      else vulkan::copy_rect(device, gather ? v : p, gather ? p : v, r);
    });
  } catch (const BackendFailure& f) {
    fail(ErrorCode::Unsupported, "{}: {} {} the strided view on {}:{}: {}", op, gather ? "gathering" : "scattering into",
         name, backend, device, f.what());
  }
}
} // namespace

StridedViews::StridedViews(std::string_view op)
    : op_(op), backend_(resident_backend()), device_(resident_device()) {}

StridedViews::Copy& StridedViews::copy(std::deque<Copy>& list, std::string_view name, const TensorView& t,
                                       bool output) {
  const Layout l = layout_of(op_, name, t);
  const size_t es = dtype_size(t.dtype);
  const size_t span = static_cast<size_t>(l.span) * es, bytes = static_cast<size_t>(t.numel()) * es;
  if (span > 0 && t.data == nullptr) fail(ErrorCode::NullBuffer, "{}: {} has no data (null pointer for {} bytes)", op_, name, span);
  if (t.bytes < span)
    fail(ErrorCode::ShortBuffer, "{}: {} buffer holds {} bytes, its shape {} {} with strides {} spans {}", op_, name,
         t.bytes, dtype_name(t.dtype), shape_str(t.shape), shape_str(t.strides), span);
  Copy& c = list.emplace_back();
  c.name = name;
  c.view = t;
  c.packed = TensorView{t.dtype, t.shape, nullptr, bytes, {}};
  if (bytes == 0) return c;
  auto* base = static_cast<std::byte*>(t.data);
  if (!device_memory::resident(t.data)) {
    c.host.resize(bytes);
    c.packed.data = c.host.data();
    if (!output)
      for_each_run(l, [&](int64_t at, int64_t done) {
        std::memcpy(c.host.data() + done * es, base + at * es, static_cast<size_t>(l.run) * es);
      });
    return c;
  }
  // Resident: checked as check_view checks a packed view (in bounds, on the call's device).
  check_view(op_, name, TensorView{DType::U8, {static_cast<int64_t>(span)}, t.data, span, {}});
  c.device = device_memory::Scratch(op_, backend_, device_, bytes);
  c.packed.data = c.device.data();
  if (!output) device_copy(op_, name, backend_, device_, l, es, base, static_cast<std::byte*>(c.packed.data), true);
  return c;
}

TensorView StridedViews::in(std::string_view name, const TensorView& t) {
  if (t.packed()) return t;
  return copy(inputs_, name, t, false).packed;
}

std::optional<TensorView> StridedViews::in(std::string_view name, const std::optional<TensorView>& t) {
  if (!t) return t;
  return in(name, *t);
}

TensorView StridedViews::out(std::string_view name, const TensorView& t) {
  if (t.packed()) {
    // A shape past the limits is left to the operation's checks, which name it.
    if (auto bytes = checked_bytes(t.dtype, t.shape)) keep_apart(name, t, false, *bytes);
    return t;
  }
  const Layout l = layout_of(op_, name, t);
  keep_apart(name, t, true, static_cast<size_t>(l.span) * dtype_size(t.dtype));
  return copy(outputs_, name, t, true).packed;
}

void StridedViews::keep_apart(std::string_view name, const TensorView& t, bool strided, size_t bytes) {
  const auto begin = reinterpret_cast<uintptr_t>(t.data);
  const Span mine{std::string(name), begin, begin + bytes, strided};
  for (const Span& other : spans_)
    if ((strided || other.strided) && bytes > 0 && other.end > other.begin && mine.begin < other.end &&
        other.begin < mine.end)
      fail(ErrorCode::InvalidArgument,
           "{}: outputs {} and {} overlap: a strided output's span (from its first element to its last) may not "
           "share a byte with another output's, even between its rows",
           op_, other.name, name);
  spans_.push_back(mine);
}

std::optional<TensorView> StridedViews::out(std::string_view name, const std::optional<TensorView>& t) {
  if (!t) return t;
  return out(name, *t);
}

void StridedViews::store() {
  for (Copy& c : outputs_) {
    if (c.packed.bytes == 0) continue;
    const Layout l = layout_of(op_, c.name, c.view);
    const size_t es = dtype_size(c.view.dtype);
    auto* base = static_cast<std::byte*>(c.view.data);
    if (!c.host.empty())
      for_each_run(l, [&](int64_t at, int64_t done) {
        std::memcpy(base + at * es, c.host.data() + done * es, static_cast<size_t>(l.run) * es);
      });
    else
      device_copy(op_, c.name, backend_, device_, l, es, base, static_cast<std::byte*>(c.packed.data), false);
  }
}

} // namespace tessera::detail
