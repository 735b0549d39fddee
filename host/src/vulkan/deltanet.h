// What the vulkan Gated DeltaNet launch functions share (launch.h: deltanet_recurrent.cpp,
// "recurrent", decode and short prefill; deltanet_chunked.cpp, "chunked", prefill in chunks of
// 64): the dispatch window.
#pragma once

#include <cstdint>

#include "host/src/backends.h"

namespace tessera::detail::vulkan {

// How far one dispatch advances a sequence, in tokens (32 chunks of 64): both launchers cut the
// sequential time loop into windows of at most this many tokens, one dispatch each, the state
// carried from one to the next in ht. The reason is llvmpipe (lavapipe): every loop of a shader
// invocation shares one counter of 65535 iterations (LP_MAX_TGSI_LOOP_ITERATIONS in gallivm, an
// infinite-loop guard counted per SIMD vector of invocations), and once it runs out every loop
// of that invocation leaves after its current iteration, with no error. With a whole sequence in
// one dispatch, recurrent.comp stopped writing at token 21845 (three counted iterations a token)
// and the chunked scan went wrong from ~256 chunks at Dk = Dv = 64 (docs/numerics.md, "DeltaNet
// on Vulkan: long sequences"). What a window counts, per invocation (WG 256, Dk, Dv <= 128):
//   recurrent: at most 6 a token (the token loop, and the k / q staging loop's Dk / 32 steps
//              and exit; every other loop has a constant trip count, unrolled): ~12 K of the
//              65535;
//   chunked scan: at most ~470 a chunk (the Dk and chunk-length loops of its three steps):
//              ~15 K for 32 chunks;
// and one workgroup takes at most one task (one unit) a dispatch. The chunked variant's other
// passes do not loop over time: the WY pass counts at most ~2.7 K a unit (one unit a workgroup
// a dispatch), normalize at most ~330 (a row or a few an invocation). A canary loop at the end of
// every task / unit reports a cut anyway (the launchers throw BackendFailure, never return what
// was computed), should a driver count differently.
constexpr int64_t kDeltaNetWindowTokens = 2048;

// kDeltaNetWindowTokens, or TESSERA_OVERRIDE's vulkan_deltanet_window= in its place.
int64_t deltanet_window_tokens();
} // namespace tessera::detail::vulkan
