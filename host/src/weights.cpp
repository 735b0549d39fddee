// The 128x4 swizzled block-scale layout and the weight prepack API (tessera/weights.h).
//
// Layouts are chosen per variant by weight_layout(); scales are always stored linear (a swizzled
// input is unswizzled at pack time). The GEMM overloads re-ask the registry on every call: when
// the variant that runs reads the weight's layout, the packed bytes go to it as they are (a
// "checkpoint" weight through the ordinary call; "gemv_kblock_interleaved" forced onto the
// variant it was packed for, with the args flag its kernels read); otherwise, and after a
// failure of that variant, the weight is repacked to checkpoint on the fly.
#include "tessera/weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "device_memory.h"
#include "gemm_act.h"
#include "execute.h"
#include "strided_views.h"

namespace tessera {

// A packed weight's bytes on its device (PackedWeight::device_copy): two device allocations,
// freed with the last copy of the weight.
struct PackedWeight::DeviceCopy {
  std::string backend;
  int device = 0;
  uintptr_t data = 0, scales = 0; // resident addresses (host/src/device_memory.h); 0: none
  ~DeviceCopy() {
    if (data) detail::device_memory::remove(data);
    if (scales) detail::device_memory::remove(scales);
  }
};

namespace {

constexpr int64_t kTileRows = 128, kTileCols = 4, kTileBytes = kTileRows * kTileCols;
using detail::kMaxNvfp4K; // as gemm_nvfp4: the exact sum must fit in int64

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

constexpr std::string_view kInterleaved = "gemv_kblock_interleaved";

// Whether variant `variant` of `op` on `backend` reads B in `layout`: every variant reads the
// checkpoint layout; another layout only where the record's manifest lists it (weight_layouts).
bool can_read(std::string_view op, std::string_view backend, std::string_view variant, std::string_view layout) {
  if (layout == "checkpoint") return true;
  for (const core::Variant& v : dispatch::variants()) {
    if (v.op != op || v.backend != backend || v.name != variant) continue;
    if (core::list_has(v.manifest.weight_layouts, layout)) return true;
  }
  return false;
}

// gemv_kblock_interleaved (tessera/weights.h): per row of kbs 8-byte blocks, groups of 8 blocks
// stored as their low 4-byte words, then their high words. `to` = true packs, false unpacks.
void interleave(const uint8_t* src, int64_t N, int64_t K, uint8_t* dst, bool to) {
  int64_t kbs = K / 16;
  for (int64_t n = 0; n < N; ++n) {
    const uint8_t* s = src + n * kbs * 8;
    uint8_t* d = dst + n * kbs * 8;
    for (int64_t kb = 0; kb < kbs; ++kb) {
      int64_t g = kb / 8, j = kb % 8, gs = std::min<int64_t>(8, kbs - g * 8);
      int64_t lo = (g * 16 + j) * 4, hi = (g * 16 + gs + j) * 4; // packed offsets of the two words
      if (to) {
        std::memcpy(d + lo, s + kb * 8, 4);
        std::memcpy(d + hi, s + kb * 8 + 4, 4);
      } else {
        std::memcpy(d + kb * 8, s + lo, 4);
        std::memcpy(d + kb * 8 + 4, s + hi, 4);
      }
    }
  }
}

// The codes in checkpoint layout (a copy only when the weight is packed otherwise).
std::vector<uint8_t> checkpoint_codes(const PackedWeight& w) {
  if (w.layout == "checkpoint") return w.data;
  std::vector<uint8_t> out(w.data.size());
  interleave(w.data.data(), w.N, w.K, out.data(), false);
  return out;
}

// The swizzled view must hold exactly the padded matrix: [rows_p, cols_p] or flat [rows_p * cols_p].
void check_swizzled(std::string_view op, const TensorView& s, DType dtype, int64_t rows, int64_t cols) {
  detail::check_dtype(op, "swizzled", s, {dtype});
  int64_t rp = swizzled_rows(rows), cp = swizzled_cols(cols);
  bool ok = (s.shape.size() == 2 && s.shape[0] == rp && s.shape[1] == cp) ||
            (s.shape.size() == 1 && s.shape[0] == rp * cp);
  if (!ok)
    detail::fail(ErrorCode::ShapeMismatch,
                 "{}: swizzled scales have shape {}; a [{}, {}] scale matrix swizzles to [{}, {}] "
                 "(or flat [{}]): rows padded to 128, columns to 4",
                 op, shape_str(s.shape), rows, cols, rp, cp, rp * cp);
  detail::check_view(op, "swizzled", s);
}

void check_linear(std::string_view op, const TensorView& l) {
  detail::check_dtype(op, "linear", l, {DType::U8, DType::F8_E4M3});
  detail::check_rank(op, "linear", l, 2);
  detail::check_view(op, "linear", l);
}

void swizzle(const uint8_t* linear, int64_t rows, int64_t cols, uint8_t* out) {
  std::memset(out, 0, static_cast<size_t>(swizzled_rows(rows) * swizzled_cols(cols)));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[swizzled_offset(r, c, cols)] = linear[r * cols + c];
}

void unswizzle(const uint8_t* swz, int64_t rows, int64_t cols, uint8_t* linear) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) linear[r * cols + c] = swz[swizzled_offset(r, c, cols)];
}

std::vector<uint8_t> copy_of(const TensorView& t) {
  const auto* p = t.as<const uint8_t>();
  return p ? std::vector<uint8_t>(p, p + t.nbytes()) : std::vector<uint8_t>{};
}

// The registry's choice for the target: the variant the weight is packed for.
void choose(PackedWeight& w, std::string_view op, const PackTarget& t) {
  if (t.M < 1) detail::fail(ErrorCode::InvalidArgument, "{}: PackTarget.M = {} must be >= 1", op, t.M);
  int64_t N = w.N, K = w.K, M = t.M;
  dispatch::Problem p{op, {{"M", M}, {"N", N}, {"K", K},
                           {"block_scaled", w.format == WeightFormat::Fp8Block128 ? 1 : 0},
                           {"elements", std::max({M * K, N * K, M * N})}}};
  dispatch::Choice c = dispatch::select(op, p, t.run);
  w.backend = c.device->backend;
  w.device = c.device->index;
  w.variant = std::string(c.variant->name);
  w.layout = t.layout.empty() ? weight_layout(op, w.backend, w.variant) : t.layout;
  if (!can_read(op, w.backend, w.variant, w.layout))
    detail::fail(ErrorCode::InvalidArgument, "{}: layout '{}' is not one {} {} on {} reads (it reads: checkpoint{})", op,
                 w.layout, op, w.variant, c.device->label(),
                 can_read(op, w.backend, w.variant, kInterleaved) ? ", gemv_kblock_interleaved" : "");
}

const char* format_name(WeightFormat f) {
  return f == WeightFormat::Nvfp4 ? "nvfp4" : f == WeightFormat::Fp8Tensor ? "fp8 per-tensor" : "fp8 block128";
}

void expect_format(std::string_view op, const PackedWeight& w, WeightFormat f) {
  if (w.format != f)
    detail::fail(ErrorCode::DTypeMismatch, "{}: the packed weight is {}, this call takes {}", op,
                 format_name(w.format), format_name(f));
  if (w.layout != "checkpoint" && !(w.layout == kInterleaved && w.format == WeightFormat::Nvfp4))
    detail::fail(ErrorCode::InvalidArgument, "{}: packed layout '{}' is not a layout of a {} weight", op, w.layout,
                 format_name(w.format));
}

// A view of the packed bytes in checkpoint layout (every layout this build packs to).
TensorView view_of(const std::vector<uint8_t>& bytes, DType t, Shape s) {
  return TensorView{t, std::move(s), const_cast<uint8_t*>(bytes.data()), bytes.size()};
}

// Uploads w's bytes to the device it was packed for, when that is a GPU.
void upload_to_device(std::string_view op, PackedWeight& w) {
  if (w.backend != "opencl" && w.backend != "vulkan") return;
  auto copy = std::make_shared<PackedWeight::DeviceCopy>();
  copy->backend = w.backend;
  copy->device = w.device;
  auto put = [&](const std::vector<uint8_t>& bytes) -> uintptr_t {
    if (bytes.empty()) return 0;
    const uintptr_t base = detail::device_memory::allocate(op, w.backend, w.device, bytes.size());
    const auto at = detail::device_memory::find(op, "the packed weight", reinterpret_cast<void*>(base), bytes.size());
    detail::device_memory::write(op, at, 0, bytes.data(), bytes.size());
    return base;
  };
  copy->data = put(w.data);
  copy->scales = put(w.scales);
  w.device_copy = std::move(copy);
}

// A view of the weight's codes (scales: its block scales) for a call on `options`: on the device
// when the call runs where the weight was uploaded, else the host bytes.
TensorView weight_view(const PackedWeight& w, const RunOptions& options, bool scales, DType t, Shape s) {
  const std::vector<uint8_t>& bytes = scales ? w.scales : w.data;
  const PackedWeight::DeviceCopy* d = w.device_copy.get();
  if (d && options.backend == d->backend && options.device == d->device && !bytes.empty())
    return TensorView{t, std::move(s), reinterpret_cast<void*>(scales ? d->scales : d->data), bytes.size()};
  return view_of(bytes, t, std::move(s));
}

void note_packing(RunInfo* info, const PackedWeight& w) {
  if (!info) return;
  bool same = info->backend == w.backend && info->variant == w.variant;
  bool direct = w.layout == "checkpoint" || same;
  info->reason += fmt::format("; weight packed for {}:{} {} as {}{}", w.backend, w.device, w.variant, w.layout,
                              direct ? "" : ", repacked to checkpoint for this call");
}

} // namespace

int64_t swizzled_rows(int64_t rows) { return round_up(rows, kTileRows); }
int64_t swizzled_cols(int64_t cols) { return round_up(cols, kTileCols); }

int64_t swizzled_offset(int64_t r, int64_t c, int64_t cols) {
  int64_t col_tiles = swizzled_cols(cols) / kTileCols;
  int64_t tile = (r / kTileRows) * col_tiles + c / kTileCols;
  int64_t rr = r % kTileRows, cc = c % kTileCols;
  return tile * kTileBytes + (rr % 32) * 16 + (rr / 32) * 4 + cc;
}

void to_swizzled_scales(const TensorView& linear, const TensorView& swizzled) {
  constexpr std::string_view op = "to_swizzled_scales";
  check_linear(op, linear);
  check_swizzled(op, swizzled, linear.dtype, linear.shape[0], linear.shape[1]);
  swizzle(linear.as<const uint8_t>(), linear.shape[0], linear.shape[1], swizzled.as<uint8_t>());
}

void from_swizzled_scales(const TensorView& swizzled, const TensorView& linear) {
  constexpr std::string_view op = "from_swizzled_scales";
  check_linear(op, linear);
  check_swizzled(op, swizzled, linear.dtype, linear.shape[0], linear.shape[1]);
  unswizzle(swizzled.as<const uint8_t>(), linear.shape[0], linear.shape[1], linear.as<uint8_t>());
}

std::string weight_layout(std::string_view, std::string_view, std::string_view) { return "checkpoint"; }

PackedWeight pack_nvfp4_weight(const TensorView& b, const TensorView& b_scale, float scale_2,
                               ScaleLayout scale_layout, const PackTarget& target) {
  constexpr std::string_view op = "pack_nvfp4_weight";
  detail::check_dtype(op, "b", b, {DType::U8});
  detail::check_rank(op, "b", b, 2);
  detail::check_view(op, "b", b);
  int64_t N = b.shape[0], K = detail::derived_extent(op, "K (two E2M1 codes a byte)", b.shape[1], 2);
  if (K % 16 != 0) detail::fail(ErrorCode::ShapeMismatch, "{}: K = {} is not a multiple of 16 (the NVFP4 block)", op, K);
  if (K > kMaxNvfp4K) detail::fail(ErrorCode::ShapeMismatch, "{}: K = {} exceeds {}", op, K, kMaxNvfp4K);
  if (!(std::isfinite(scale_2) && scale_2 > 0.0f))
    detail::fail(ErrorCode::InvalidArgument, "{}: scale_2 = {} must be finite and > 0", op, scale_2);
  PackedWeight w;
  w.format = WeightFormat::Nvfp4;
  w.N = N;
  w.K = K;
  w.scale = scale_2;
  if (scale_layout == ScaleLayout::Linear) {
    detail::check_arg(op, "b_scale", b_scale, {DType::F8_E4M3}, {N, K / 16});
    w.scales = copy_of(b_scale);
  } else {
    check_swizzled(op, b_scale, DType::F8_E4M3, N, K / 16);
    w.scales.resize(static_cast<size_t>(N * (K / 16)));
    unswizzle(b_scale.as<const uint8_t>(), N, K / 16, w.scales.data());
  }
  choose(w, "gemm_nvfp4", target);
  w.data = copy_of(b);
  if (w.layout == kInterleaved) interleave(b.as<const uint8_t>(), N, K, w.data.data(), true);
  upload_to_device(op, w);
  return w;
}

PackedWeight pack_fp8_weight(const TensorView& b, const TensorView& scales, const PackTarget& target) {
  constexpr std::string_view op = "pack_fp8_weight";
  detail::check_dtype(op, "b", b, {DType::F8_E4M3});
  detail::check_rank(op, "b", b, 2);
  detail::check_view(op, "b", b);
  int64_t N = b.shape[0], K = b.shape[1];
  PackedWeight w;
  w.N = N;
  w.K = K;
  detail::check_dtype(op, "scales", scales, {DType::F32});
  if (scales.shape.size() <= 1 && scales.numel() == 1) {
    detail::check_view(op, "scales", scales);
    float s = scales.as<const float>()[0];
    if (!(std::isfinite(s) && s > 0.0f))
      detail::fail(ErrorCode::InvalidArgument, "{}: the per-tensor scale {} must be finite and > 0", op, s);
    w.format = WeightFormat::Fp8Tensor;
    w.scale = s;
  } else {
    detail::check_arg(op, "scales", scales, {DType::F32}, {(N + 127) / 128, (K + 127) / 128});
    detail::check_finite(op, "scales", scales.as<const float>(), scales.shape);
    w.format = WeightFormat::Fp8Block128;
    w.scales = copy_of(scales);
  }
  choose(w, "gemm_fp8", target);
  w.data = copy_of(b);
  upload_to_device(op, w);
  return w;
}

void unpack_weight(const PackedWeight& w, const TensorView& b, const TensorView& scales) {
  constexpr std::string_view op = "unpack_weight";
  expect_format(op, w, w.format);
  if (w.format == WeightFormat::Nvfp4) {
    detail::check_arg(op, "b", b, {DType::U8}, {w.N, w.K / 2});
    detail::check_arg(op, "scales", scales, {DType::F8_E4M3}, {w.N, w.K / 16});
  } else if (w.format == WeightFormat::Fp8Tensor) {
    detail::check_arg(op, "b", b, {DType::F8_E4M3}, {w.N, w.K});
    detail::check_dtype(op, "scales", scales, {DType::F32});
    if (scales.shape.size() > 1 || scales.numel() != 1)
      detail::fail(ErrorCode::ShapeMismatch, "{}: a per-tensor scale has shape [] or [1], not {}", op, shape_str(scales.shape));
    detail::check_view(op, "scales", scales);
  } else {
    detail::check_arg(op, "b", b, {DType::F8_E4M3}, {w.N, w.K});
    detail::check_arg(op, "scales", scales, {DType::F32}, {(w.N + 127) / 128, (w.K + 127) / 128});
  }
  if (b.nbytes() != w.data.size() || (w.format != WeightFormat::Fp8Tensor && scales.nbytes() != w.scales.size()))
    detail::fail(ErrorCode::InvalidArgument, "{}: the packed weight's bytes do not match its N = {}, K = {}", op, w.N, w.K);
  if (w.layout == kInterleaved)
    interleave(w.data.data(), w.N, w.K, b.as<uint8_t>(), false);
  else if (!w.data.empty())
    std::memcpy(b.data, w.data.data(), w.data.size());
  if (w.format == WeightFormat::Fp8Tensor)
    std::memcpy(scales.data, &w.scale, sizeof(float));
  else if (!w.scales.empty())
    std::memcpy(scales.data, w.scales.data(), w.scales.size());
}

void gemm_nvfp4(const TensorView& a, const TensorView& a_scale, const PackedWeight& b, float alpha,
                const std::optional<TensorView>& bias, const TensorView& c_in, const RunOptions& options,
                RunInfo* info) {
  constexpr std::string_view op = "gemm_nvfp4";
  expect_format(op, b, WeightFormat::Nvfp4);
  detail::ResidentScope resident(options); // the activations may be resident, and the weight's device copy is
  detail::StridedViews strided(op);        // strided views, once packed (strided_views.h)
  const TensorView c = strided.out("c", c_in);
  // The packed bytes have the checkpoint's size, so gemm_nvfp4's own checks apply to them as they are.
  detail::GemmNvfp4Args args = detail::validated_gemm_nvfp4(
      strided.in("a", a), strided.in("a_scale", a_scale), weight_view(b, options, false, DType::U8, {b.N, b.K / 2}),
      weight_view(b, options, true, DType::F8_E4M3, {b.N, b.K / 16}), alpha, strided.in("bias", bias), c);
  dispatch::Problem p = detail::gemm_problem(op, args.M, args.N, args.K, false);
  if (b.layout != "checkpoint") {
    dispatch::Choice ch = dispatch::select(op, p, options);
    if (can_read(op, ch.device->backend, ch.variant->name, b.layout)) {
      args.b_kblock_interleaved = true;
      RunOptions forced = options; // the caller's numerics policy, the registry's device and variant
      forced.backend = ch.device->backend;
      forced.device = ch.device->index;
      forced.variant = ch.variant->name;
      try {
        detail::execute(p, forced, info, args);
        strided.store();
        if (info) info->reason = ch.reason;
        note_packing(info, b);
        return;
      } catch (const Error& e) {
        // The variant failed on this device (execute disabled it and logged why): fall back below.
        if (e.code() != ErrorCode::Unsupported) throw;
      }
    }
  }
  // The runner reads checkpoint layout: an interleaved weight is repacked on the fly (on the host,
  // so it goes up with the call); a checkpoint one is read where it is (its device copy, if any).
  std::vector<uint8_t> codes;
  if (b.layout != "checkpoint") {
    codes = checkpoint_codes(b);
    args.b = codes.data();
  }
  args.b_kblock_interleaved = false;
  detail::execute(p, options, info, args);
  strided.store();
  note_packing(info, b);
}

void gemm_fp8(const TensorView& a, const PackedWeight& b, float alpha, const std::optional<TensorView>& bias,
              const TensorView& c, const RunOptions& options, RunInfo* info) {
  expect_format("gemm_fp8", b, WeightFormat::Fp8Tensor);
  gemm_fp8(a, weight_view(b, options, false, DType::F8_E4M3, {b.N, b.K}), alpha, bias, c, options, info);
  note_packing(info, b);
}

void gemm_fp8_block(const TensorView& a, const TensorView& a_scale, const PackedWeight& b,
                    const std::optional<TensorView>& bias, const TensorView& c, const RunOptions& options,
                    RunInfo* info) {
  expect_format("gemm_fp8", b, WeightFormat::Fp8Block128);
  gemm_fp8_block(a, a_scale, weight_view(b, options, false, DType::F8_E4M3, {b.N, b.K}),
                 weight_view(b, options, true, DType::F32, {(b.N + 127) / 128, (b.K + 127) / 128}), bias, c, options,
                 info);
  note_packing(info, b);
}

} // namespace tessera
