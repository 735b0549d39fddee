#include "bench/step.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <vector>

#include "tessera/context.h"

namespace tessera::bench {

namespace {

// The reduced model: qwen3.6-27b's widths over `scale` (hidden 5120, MLP 17408, DeltaNet 16 key
// and 48 value heads of 128, attention 24 query and 4 KV heads of 256), head dims kept, widths
// kept multiples of 16 (the NVFP4 block) and head counts grouped evenly.
struct Dims {
  int64_t hidden, mlp, H, HV, Dk, Dv, Hq, Hkv, D, W;
};

Dims dims_for(int scale) {
  auto width = [&](int64_t full) { return std::max<int64_t>(16, full / scale / 16 * 16); };
  const int64_t H = std::max<int64_t>(1, 16 / scale), Hkv = std::max<int64_t>(1, 4 / scale);
  const int64_t HV = std::max<int64_t>(H, 48 / scale / H * H), Hq = std::max<int64_t>(Hkv, 24 / scale / Hkv * Hkv);
  return {width(5120), width(17408), H, HV, 128, 128, Hq, Hkv, 256, 4};
}

uint32_t next(uint32_t& seed) {
  seed = seed * 1664525u + 1013904223u;
  return seed >> 8;
}

// A device buffer filled from `fill` (one byte per call), and the context that owns it.
DeviceBuffer filled(const Context& ctx, size_t bytes, uint32_t seed, uint8_t (*fill)(uint32_t)) {
  std::vector<uint8_t> host(bytes);
  for (uint8_t& b : host) b = fill(next(seed));
  DeviceBuffer d = ctx.device_alloc(bytes);
  ctx.upload(d, 0, host.data(), bytes);
  return d;
}

uint8_t any_byte(uint32_t r) { return static_cast<uint8_t>(r); }
// E4M3 codes of 2^-4 .. 2^-1 (exponent fields 3..6), either sign: scales and cache entries of
// moderate size, never NaN.
uint8_t small_e4m3(uint32_t r) { return static_cast<uint8_t>(((r & 1u) << 7) | ((3u + (r >> 1) % 4u) << 3) | ((r >> 3) & 7u)); }
uint8_t positive_e4m3(uint32_t r) { return small_e4m3(r) & 0x7F; }
// bf16 values in about +-[0.125, 2): the high byte carries sign and exponent, the low byte fraction.
uint16_t bf16_of(uint32_t r) { return static_cast<uint16_t>(((r & 1u) << 15) | ((124u + (r >> 1) % 4u) << 7) | ((r >> 3) & 0x7Fu)); }

// An NVFP4 linear layer [N, K] on the device: packed E2M1 codes, E4M3 block scales, scale_2.
struct Linear {
  int64_t N, K;
  DeviceBuffer b, s;
};

Linear linear(const Context& ctx, int64_t N, int64_t K, uint32_t seed) {
  return {N, K, filled(ctx, static_cast<size_t>(N * K / 2), seed, any_byte),
          filled(ctx, static_cast<size_t>(N * K / 16), seed + 1, positive_e4m3)};
}

// Each call's device time and count, summed over a step (a queued call's comes with sync()).
struct Tally {
  double device_ms = 0;
  int calls = 0;
  void add(const RunInfo& info) {
    if (info.device_ms > 0) device_ms += info.device_ms;
    ++calls;
  }
};

class Stack {
public:
  Stack(const Context& ctx, const Dims& d, int64_t capacity) : ctx_(ctx), d_(d), capacity_(capacity) {
    const int64_t conv_c = 2 * d.H * d.Dk + d.HV * d.Dv, attn_qkv = (d.Hq + 2 * d.Hkv) * d.D;
    in_proj_ = linear(ctx, conv_c, d.hidden, 1);
    out_proj_ = linear(ctx, d.hidden, d.HV * d.Dv, 3);
    qkv_proj_ = linear(ctx, attn_qkv, d.hidden, 5);
    o_proj_ = linear(ctx, d.hidden, d.Hq * d.D, 7);
    up_ = linear(ctx, d.mlp, d.hidden, 9);
    down_ = linear(ctx, d.hidden, d.mlp, 11);
    // conv1d taps, the DeltaNet gates (which an engine's in_proj_ba GEMM would give per token:
    // that is a BF16 GEMM, issue 15), and the states, all resident.
    std::vector<float> taps(static_cast<size_t>(conv_c * d.W)), g(static_cast<size_t>(d.HV), -0.05f),
        beta(static_cast<size_t>(d.HV), 0.5f);
    uint32_t seed = 13;
    for (float& t : taps) t = static_cast<float>(next(seed) % 2001) / 2000.0f - 0.5f;
    conv_w_ = upload(taps.data(), taps.size() * 4);
    g_ = upload(g.data(), g.size() * 4);
    beta_ = upload(beta.data(), beta.size() * 4);
    conv_state_ = ctx.device_alloc(static_cast<size_t>(conv_c * (d.W - 1) * 4));
    dn_state_ = ctx.device_alloc(static_cast<size_t>(d.HV * d.Dk * d.Dv * 4));
    // The FP8 KV cache: `capacity` token slots, the first filled as if by an earlier prefill.
    k_cache_ = filled(ctx, static_cast<size_t>(capacity * d.Hkv * d.D), 15, small_e4m3);
    v_cache_ = filled(ctx, static_cast<size_t>(capacity * d.Hkv * d.D), 17, small_e4m3);
    // Activations, one token.
    x_ = ctx.device_alloc(static_cast<size_t>(d.hidden * 2));
    qkv_ = ctx.device_alloc(static_cast<size_t>(conv_c * 2));
    conv_y_ = ctx.device_alloc(static_cast<size_t>(conv_c * 2));
    dn_o_ = ctx.device_alloc(static_cast<size_t>(d.HV * d.Dv * 2));
    h1_ = ctx.device_alloc(static_cast<size_t>(d.hidden * 2));
    attn_qkv_ = ctx.device_alloc(static_cast<size_t>(attn_qkv * 4));
    attn_o_ = ctx.device_alloc(static_cast<size_t>(d.Hq * d.D * 2));
    h2_ = ctx.device_alloc(static_cast<size_t>(d.hidden * 2));
    mlp_ = ctx.device_alloc(static_cast<size_t>(d.mlp * 2));
    out_ = ctx.device_alloc(static_cast<size_t>(d.hidden * 2));
  }

  // One token: its hidden state in (bf16, from the host), the block stack's output back (bf16),
  // with `pos` tokens already in the attention cache.
  Tally step(const std::vector<uint16_t>& token, std::vector<uint16_t>& result, int64_t pos) {
    const Dims& d = d_;
    if (pos >= capacity_) throw std::runtime_error("kbench step: the attention cache is full");
    Tally t;
    ctx_.upload(x_, 0, token.data(), token.size() * 2);
    // The DeltaNet block: in_proj, the causal conv over the new token (its state updated in place),
    // the recurrence on the conv's q, k, v (slices of one buffer; the state in place), out_proj.
    gemm(x_, in_proj_, qkv_, DType::BF16, t);
    const int64_t conv_c = 2 * d.H * d.Dk + d.HV * d.Dv;
    const TensorView state = Context::view(conv_state_, DType::F32, {1, conv_c, d.W - 1});
    ctx_.conv1d(Context::view(qkv_, DType::BF16, {1, 1, conv_c}), Context::view(conv_w_, DType::F32, {conv_c, d.W}),
                std::nullopt, state, Context::view(conv_y_, DType::BF16, {1, 1, conv_c}), state);
    t.add(ctx_.last_run());
    DeltaNetArgs dn;
    dn.q = Context::view(conv_y_, DType::BF16, {1, 1, d.H, d.Dk});
    dn.k = Context::view(conv_y_, DType::BF16, {1, 1, d.H, d.Dk}, static_cast<size_t>(d.H * d.Dk * 2));
    dn.v = Context::view(conv_y_, DType::BF16, {1, 1, d.HV, d.Dv}, static_cast<size_t>(2 * d.H * d.Dk * 2));
    dn.g = Context::view(g_, DType::F32, {1, 1, d.HV});
    dn.beta = Context::view(beta_, DType::F32, {1, 1, d.HV});
    dn.h0 = Context::view(dn_state_, DType::F32, {1, d.HV, d.Dk, d.Dv});
    dn.l2norm = true;
    ctx_.deltanet(dn, Context::view(dn_o_, DType::BF16, {1, 1, d.HV, d.Dv}), *dn.h0);
    t.add(ctx_.last_run());
    gemm(dn_o_, out_proj_, h1_, DType::BF16, t);
    // The attention block: q, k, v in fp32, the new K and V quantized into the cache's slot `pos`
    // (E4M3, scale 1), attention over the pos + 1 cached tokens, o_proj.
    gemm(h1_, qkv_proj_, attn_qkv_, DType::F32, t);
    const int64_t kv = d.Hkv * d.D;
    for (auto [cache, from] : {std::pair{&k_cache_, d.Hq * d.D}, std::pair{&v_cache_, d.Hq * d.D + kv}}) {
      ctx_.convert(Context::view(attn_qkv_, DType::F32, {1, kv}, static_cast<size_t>(from * 4)), Format::E4M3,
                   Context::view(*cache, DType::F8_E4M3, {1, kv}, static_cast<size_t>(pos * kv)));
      t.add(ctx_.last_run());
    }
    AttentionArgs at;
    at.q = Context::view(attn_qkv_, DType::F32, {1, 1, d.Hq, d.D});
    at.k = Context::view(k_cache_, DType::F8_E4M3, {1, pos + 1, d.Hkv, d.D});
    at.v = Context::view(v_cache_, DType::F8_E4M3, {1, pos + 1, d.Hkv, d.D});
    ctx_.attention(at, Context::view(attn_o_, DType::BF16, {1, 1, d.Hq, d.D}), std::nullopt);
    t.add(ctx_.last_run());
    gemm(attn_o_, o_proj_, h2_, DType::BF16, t);
    // The MLP block (no SwiGLU or residual adds yet: those ops are issue 15).
    gemm(h2_, up_, mlp_, DType::BF16, t);
    gemm(mlp_, down_, out_, DType::BF16, t);
    ctx_.download(out_, 0, result.data(), result.size() * 2);
    // The calls that returned without waiting (RunInfo::device_ms -1): checked, and their device
    // time, here.
    t.device_ms += ctx_.sync().device_ms;
    return t;
  }

private:
  DeviceBuffer upload(const void* src, size_t bytes) {
    DeviceBuffer b = ctx_.device_alloc(bytes);
    ctx_.upload(b, 0, src, bytes);
    return b;
  }

  // c [1, N] = x [1, K] times the layer, the activation quantized to NVFP4 with a static scale
  // (the checkpoint's input_scale).
  void gemm(const DeviceBuffer& x, const Linear& w, const DeviceBuffer& c, DType out, Tally& t) {
    constexpr float kInputScale = 0.002f, kWeightScale2 = 0.01f;
    ctx_.gemm_nvfp4_act(Context::view(x, DType::BF16, {1, w.K}), kInputScale, Context::view(w.b, DType::U8, {w.N, w.K / 2}),
                        Context::view(w.s, DType::F8_E4M3, {w.N, w.K / 16}), kWeightScale2, std::nullopt,
                        Context::view(c, out, {1, w.N}));
    t.add(ctx_.last_run());
  }

  const Context& ctx_;
  Dims d_;
  int64_t capacity_;
  Linear in_proj_, out_proj_, qkv_proj_, o_proj_, up_, down_;
  DeviceBuffer conv_w_, g_, beta_, conv_state_, dn_state_, k_cache_, v_cache_;
  DeviceBuffer x_, qkv_, conv_y_, dn_o_, h1_, attn_qkv_, attn_o_, h2_, mlp_, out_;
};

DeviceTraffic minus(const DeviceTraffic& a, const DeviceTraffic& b) {
  return {a.allocations - b.allocations, a.bytes_to_device - b.bytes_to_device, a.bytes_from_device - b.bytes_from_device};
}

} // namespace

StepResult run_step(const StepConfig& cfg) {
  if (cfg.scale < 1 || cfg.steps < 1 || cfg.warmup < 0 || cfg.context < 0)
    throw std::invalid_argument("kbench step: --scale and --steps must be >= 1, --warmup and --context >= 0");
  const Context ctx = Context::open(cfg.backend, cfg.device);
  const Dims d = dims_for(cfg.scale);
  Stack stack(ctx, d, cfg.context + cfg.warmup + cfg.steps);
  std::vector<uint16_t> token(static_cast<size_t>(d.hidden)), result(token.size());
  uint32_t seed = 21;
  for (uint16_t& v : token) v = bf16_of(next(seed));

  int64_t pos = cfg.context;
  Tally last;
  for (int i = 0; i < cfg.warmup; ++i) last = stack.step(token, result, pos++);
  const DeviceTraffic before = ctx.traffic();
  double device_ms = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < cfg.steps; ++i) {
    last = stack.step(token, result, pos++);
    device_ms += last.device_ms;
  }
  const double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  const DeviceTraffic moved = minus(ctx.traffic(), before);

  StepResult r;
  r.device = ctx.last_run().device;
  r.shapes = fmt::format("qwen3.6-27b / {}: hidden {}, MLP {}, DeltaNet {}/{} heads of {}, attention {}/{} heads "
                         "of {} over {}+ cached tokens (E4M3)",
                         cfg.scale, d.hidden, d.mlp, d.H, d.HV, d.Dk, d.Hq, d.Hkv, d.D, cfg.context);
  r.calls_per_token = last.calls;
  r.wall_ms = wall_ms / cfg.steps;
  r.device_ms = device_ms / cfg.steps;
  r.input_bytes = static_cast<int64_t>(token.size() * 2);
  r.output_bytes = static_cast<int64_t>(result.size() * 2);
  r.h2d_bytes = moved.bytes_to_device / cfg.steps;
  r.d2h_bytes = moved.bytes_from_device / cfg.steps;
  r.allocations = moved.allocations;
  return r;
}

nlohmann::ordered_json to_json(const StepConfig& cfg, const StepResult& r) {
  return {{"benchmark", "step"},
          {"backend", cfg.backend},
          {"device", r.device},
          {"scale", cfg.scale},
          {"shapes", r.shapes},
          {"warmup", cfg.warmup},
          {"steps", cfg.steps},
          {"calls_per_token", r.calls_per_token},
          {"wall_ms_per_token", r.wall_ms},
          {"device_ms_per_token", r.device_ms},
          {"input_bytes", r.input_bytes},
          {"output_bytes", r.output_bytes},
          {"h2d_bytes_per_token", r.h2d_bytes},
          {"d2h_bytes_per_token", r.d2h_bytes},
          {"allocs_in_timed_steps", r.allocations}};
}

int step_main(int argc, char** argv) {
  CLI::App app{"kbench step: a decode step of a reduced hybrid stack, resident on one device (docs/kbench.md)"};
  StepConfig cfg;
  std::string json;
  app.add_option("--backend", cfg.backend, "opencl or vulkan (cpu runs it too, on host memory)")->default_val("opencl");
  app.add_option("--device", cfg.device, "device index within the backend")->default_val(0);
  app.add_option("--scale", cfg.scale, "divide qwen3.6-27b's widths by this")->default_val(16)->check(CLI::Range(1, 5120));
  app.add_option("--context", cfg.context, "tokens in the attention cache before the first step")
      ->default_val(256)
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--warmup", cfg.warmup, "untimed steps first")->default_val(4)->check(CLI::Range(0, 1000));
  app.add_option("--steps", cfg.steps, "timed steps")->default_val(8)->check(CLI::Range(1, 100000));
  app.add_option("--json", json, "write the result as JSON");
  try {
    app.parse(argc - 1, argv + 1);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fputs(fmt::format("kbench step: {} (see kbench step --help)\n", e.what()).c_str(), stderr);
    return 2;
  }
  StepResult r;
  try {
    r = run_step(cfg);
  } catch (const std::exception& e) {
    std::fputs(fmt::format("kbench step: {}\n", e.what()).c_str(), stderr);
    return 1;
  }
  fmt::print("step on {} ({}), {} operations a token\n", r.device, r.shapes, r.calls_per_token);
  if (cfg.backend == "cpu") // the reference runs on the host: there is no device time to compare
    fmt::print("  per token over {} steps after {} warm-up: wall {:.3f} ms (no device time on the CPU reference)\n",
               cfg.steps, cfg.warmup, r.wall_ms);
  else
    fmt::print("  per token over {} steps after {} warm-up: wall {:.3f} ms, device {:.3f} ms ({:.0f}% of wall)\n",
               cfg.steps, cfg.warmup, r.wall_ms, r.device_ms, r.wall_ms > 0 ? 100.0 * r.device_ms / r.wall_ms : 0.0);
  fmt::print("  host -> device {} bytes a token (its input: {}), device -> host {} bytes (the output: {}); "
             "{} allocations in the {} timed steps\n",
             r.h2d_bytes, r.input_bytes, r.d2h_bytes, r.output_bytes, r.allocations, cfg.steps);
  if (!json.empty()) {
    std::ofstream f(json);
    f << to_json(cfg, r).dump(2) << "\n";
    if (!f) {
      std::fputs(fmt::format("kbench step: cannot write {}\n", json).c_str(), stderr);
      return 1;
    }
    fmt::print("JSON written to {}\n", json);
  }
  return 0;
}

} // namespace tessera::bench
