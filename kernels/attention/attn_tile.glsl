// What the Vulkan attention shaders share (numerics.md section 6): the interface (bindings, push
// constants), reading K/V at their stored width from uint words, and one row tile of queries
// attending to a range of keys with an fp32 online softmax. The algorithm is that of
// kernels/attention/attn_tile.cl (see there): ATT_ROWS = WG / ATT_LPR rows a workgroup, a row is
// a (query position, query head of the GQA group) pair, the ATT_LPR lanes of a row own the
// dimensions lane + ATT_LPR * i, K and V tiles of ATT_BC keys are staged in shared memory as
// fp32 and shared by every row, the partial dot products of a row are summed in lane order.
// Attention is bounded, so plain fp32 arithmetic is used (no common/fp32_rn.glsl emulation).
//
// Interface (all three shaders): bindings 0 q (fp32), 1 k, 2 v (stored bytes as uint words),
// 3 gate (fp32; a placeholder without gate), 4 cu (int32: cu_q [n_seqs + 1] then cu_k
// [n_seqs + 1]), 5 o, 6 lse (fp32 [rows], then the status word at index rows, also seen as
// uint), 7 part_o, 8 part_ml (fp32: a row's online-softmax state, the split-KV partials and what
// one window hands to the next; placeholders for flash_prefill in one window). Push constants:
// struct Push below.
//
// Windows and work units (host/src/vulkan/attention.cpp, kAttentionWindowKeys): llvmpipe
// (lavapipe) gives every shader invocation one counter of 65535 loop iterations, shared by all
// its loops, and once it runs out every loop leaves after its current iteration, silently (see
// docs/numerics.md, "Attention on Vulkan: long key ranges"). So a dispatch takes one work unit a
// workgroup (units [unit_base, unit_end)) and only the keys [k_first, k_first + k_count) of each
// unit's key range (k_count a multiple of ATT_BC, so the tiles are those of one sweep); the
// online-softmax state (acc, m, l) of a row crosses from one window to the next through part_o /
// part_ml as the fp32 values it had (att_state_*), so the result does not depend on the window.
// Every unit ends with att_canary().
//
// Defines (defaults; the shader may set ATT_LPR first): WG 64 (invocations; the host specializes
// exactly this), ATT_LPR 4 lanes per row, ATT_BC 16 keys per tile. Specialization constants: 0 the
// workgroup size, 1 ATT_DMAX (the record's max_d). Shared memory:
// (ATT_BC * ATT_DMAX + WG * ATT_BC + 2 * ATT_ROWS * ATT_BC) * 4 bytes (22 KiB for flash_prefill at
// ATT_DMAX 256, the manifest's local_bytes).
#ifndef TESSERA_ATTENTION_ATTN_TILE_GLSL
#define TESSERA_ATTENTION_ATTN_TILE_GLSL

#extension GL_EXT_control_flow_attributes : require
#include "common/formats.glsl"

#include "attention/geometry.h"

#ifndef WG
#define WG ATT_WG_VK
#endif
#ifndef ATT_LPR
#error "attn_tile.glsl: the including shader sets ATT_LPR, its lanes per query row"
#endif
#ifndef ATT_BC
#define ATT_BC ATT_KEY_TILE
#endif
// The largest head size D the register and shared arrays hold: a specialization constant the
// host sets from the record's max_d (256 is a placeholder). The sizes derived from it are named
// constants, not macros: each expansion of a macro is a separate specialization-constant
// expression, hence a separate array type for `float qv[ATT_DPL]` in each function; glslang and
// spirv-val accepted that, but lavapipe then computed every result wrong.
layout(constant_id = 1) const int ATT_DMAX = 256;
#define ATT_ROWS (WG / ATT_LPR)
const int ATT_DPL = (ATT_DMAX + ATT_LPR - 1) / ATT_LPR;
#define ATT_OWN ((ATT_BC + ATT_LPR - 1) / ATT_LPR) // keys whose score one lane owns
const int ATT_STAGE = (ATT_BC * ATT_DMAX + WG - 1) / WG; // staging steps per tile and invocation

layout(local_size_x = WG, local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Q { float q_buf[]; };
layout(std430, binding = 1) readonly buffer K { uint k_buf[]; };
layout(std430, binding = 2) readonly buffer V { uint v_buf[]; };
layout(std430, binding = 3) readonly buffer Gate { float gate_buf[]; };
layout(std430, binding = 4) readonly buffer Cu { int cu_buf[]; };
layout(std430, binding = 5) buffer O { float o_buf[]; };
layout(std430, binding = 6) buffer Lse { float lse_buf[]; };
layout(std430, binding = 6) buffer LseStatus { uint lse_words[]; }; // the same buffer
layout(std430, binding = 7) buffer PartO { float part_o[]; };
layout(std430, binding = 8) buffer PartML { float part_ml[]; };
layout(push_constant) uniform Push {
  int n_seqs;
  int Hq;
  int Hkv;
  int D;
  int t_max;
  int flags; // ATT_FLAG_*
  int k_dtype; // ATT_F32, ATT_BF16, ATT_F16, ATT_E4M3
  int v_dtype;
  float k_scale;
  float v_scale;
  float scale;
  int n_split; // split-KV: splits per row and keys per split
  int chunk;
  int rows;    // query rows in all (the combine's elements; the status word's index in lse)
  int k_first; // this window: keys [k_first, k_first + k_count) of each unit's key range
  int k_count;
  int unit_base; // this dispatch's work units, one a workgroup
  int unit_end;
  int two;     // the canary's trip count (2)
} pc;

const int ATT_F32 = 0, ATT_BF16 = 1, ATT_F16 = 2, ATT_E4M3 = 3;
const int ATT_FLAG_CAUSAL = 1, ATT_FLAG_GATE = 2, ATT_FLAG_LSE = 4;
#define ATT_NEG_INF uintBitsToFloat(0xFF800000u) // -inf (no float literal for it)

shared float kv_tile[ATT_BC * ATT_DMAX];
shared float part[WG * ATT_BC];
shared float sc[ATT_ROWS * ATT_BC], pp[ATT_ROWS * ATT_BC]; // scores, then exp(s - m)

// Element i of K (which == 0) or V at its stored width, widened on the bits; E4M3 times its scale.
float att_load(int which, uint i) {
  int dtype = which == 0 ? pc.k_dtype : pc.v_dtype;
  float s = which == 0 ? pc.k_scale : pc.v_scale;
  uint w;
  if (dtype == ATT_F32) return uintBitsToFloat(which == 0 ? k_buf[i] : v_buf[i]);
  if (dtype == ATT_E4M3) {
    w = which == 0 ? k_buf[i >> 2] : v_buf[i >> 2];
    return uintBitsToFloat(e4m3_to_f32(byte_of(w, i & 3u))) * s;
  }
  w = which == 0 ? k_buf[i >> 1] : v_buf[i >> 1];
  uint h = (w >> (16u * (i & 1u))) & 0xFFFFu;
  return uintBitsToFloat(dtype == ATT_BF16 ? bf16_to_f32(h) : f16_to_f32(h));
}

int att_visible(int t, int Tn, int Sn) {
  return (pc.flags & ATT_FLAG_CAUSAL) != 0 ? clamp(t + (Sn - Tn) + 1, 0, Sn) : Sn;
}

// This workgroup's rows against keys [k_lo, k_hi) (group-uniform) of one sequence and KV head;
// key j at element kv_base + j * kv_stride. Every invocation calls it (barriers). The five steps
// per tile of attn_tile.cl: stage K; partial dots; the owner lane of key jj sums its partials
// while V is staged over K; every lane takes the tile max, the owner writes p_jj; accumulate.
// Every loop inside a tile has a constant trip count and is unrolled: lavapipe (llvmpipe) stops
// a shader after 65535 loop iterations in all, counted over every loop of an invocation, and
// with rolled inner loops a sweep past ~1000 keys got cut off (wrong results, no error). So a
// call counts one iteration per tile of ATT_BC keys (and one exit), and the host bounds the
// range a dispatch passes here (the windows above).
void att_rows_vs_keys(uint kv_base, uint kv_stride, int k_lo, int k_hi, bool live, int visible,
                      float qv[ATT_DPL], inout float acc[ATT_DPL], inout float m, inout float l) {
  const int lid = int(gl_LocalInvocationID.x);
  const int row = lid / ATT_LPR, lane = lid % ATT_LPR;
  const int D = pc.D;
  for (int j0 = k_lo; j0 < k_hi; j0 += ATT_BC) {
    const int nk = min(ATT_BC, k_hi - j0);
    [[unroll]] for (int it = 0; it < ATT_STAGE; ++it) {
      int e = lid + it * WG;
      if (e < nk * D) {
        int jj = e / D, dd = e - jj * D;
        kv_tile[jj * ATT_DMAX + dd] = att_load(0, kv_base + uint(j0 + jj) * kv_stride + uint(dd));
      }
    }
    barrier();
    if (live) {
      [[unroll]] for (int jj = 0; jj < ATT_BC; ++jj) {
        float s = 0.0;
        [[unroll]] for (int i = 0; i < ATT_DPL; ++i) {
          int d = lane + ATT_LPR * i;
          if (d < D && jj < nk) s = s + qv[i] * kv_tile[jj * ATT_DMAX + d];
        }
        part[(row * ATT_LPR + lane) * ATT_BC + jj] = s;
      }
    }
    barrier();
    if (live) {
      [[unroll]] for (int it = 0; it < ATT_OWN; ++it) {
        int jj = lane + it * ATT_LPR;
        if (jj < nk) {
          float s = 0.0;
          [[unroll]] for (int ln = 0; ln < ATT_LPR; ++ln) s = s + part[(row * ATT_LPR + ln) * ATT_BC + jj];
          sc[row * ATT_BC + jj] = j0 + jj < visible ? pc.scale * s : ATT_NEG_INF;
        }
      }
    }
    [[unroll]] for (int it = 0; it < ATT_STAGE; ++it) { // K is no longer read: V goes over it
      int e = lid + it * WG;
      if (e < nk * D) {
        int jj = e / D, dd = e - jj * D;
        kv_tile[jj * ATT_DMAX + dd] = att_load(1, kv_base + uint(j0 + jj) * kv_stride + uint(dd));
      }
    }
    barrier();
    float alpha = 1.0, m_new = ATT_NEG_INF;
    if (live) {
      float tmax = ATT_NEG_INF;
      [[unroll]] for (int jj = 0; jj < ATT_BC; ++jj)
        if (jj < nk) tmax = max(tmax, sc[row * ATT_BC + jj]);
      m_new = max(m, tmax);
      if (m_new != ATT_NEG_INF) {
        // exp(-inf) is not pinned down by GLSL's precision rules: the masked cases are explicit.
        alpha = m == ATT_NEG_INF ? 0.0 : exp(m - m_new);
        [[unroll]] for (int it = 0; it < ATT_OWN; ++it) {
          int jj = lane + it * ATT_LPR;
          if (jj < nk) {
            float s = sc[row * ATT_BC + jj];
            pp[row * ATT_BC + jj] = s == ATT_NEG_INF ? 0.0 : exp(s - m_new);
          }
        }
      }
    }
    barrier();
    if (live && m_new != ATT_NEG_INF) {
      float sum = 0.0;
      [[unroll]] for (int jj = 0; jj < ATT_BC; ++jj)
        if (jj < nk) sum = sum + pp[row * ATT_BC + jj];
      l = l * alpha + sum;
      m = m_new;
      [[unroll]] for (int i = 0; i < ATT_DPL; ++i) {
        int d = lane + ATT_LPR * i;
        if (d < D) {
          float a = acc[i] * alpha;
          [[unroll]] for (int jj = 0; jj < ATT_BC; ++jj)
            if (jj < nk) a = a + pp[row * ATT_BC + jj] * kv_tile[jj * ATT_DMAX + d];
          acc[i] = a;
        }
      }
    }
    barrier();
  }
}

// A row's online-softmax state at `slot` of part_o [slot * D + d] / part_ml [2 slot] (m),
// [2 slot + 1] (l): a split's partial (splitkv_decode: slot = row * n_split + split), or what a
// window leaves for the next (slot = row). Stored as the fp32 values, so a sweep cut into windows
// computes the bits of one sweep. Lane `lane` of the row holds dims lane + ATT_LPR * i.
void att_state_store(uint slot, int lane, float acc[ATT_DPL], float m, float l) {
  [[unroll]] for (int i = 0; i < ATT_DPL; ++i) {
    int d = lane + ATT_LPR * i;
    if (d < pc.D) part_o[slot * uint(pc.D) + uint(d)] = acc[i];
  }
  if (lane == 0) {
    part_ml[slot * 2u] = m;
    part_ml[slot * 2u + 1u] = l;
  }
}
void att_state_load(uint slot, int lane, inout float acc[ATT_DPL], out float m, out float l) {
  [[unroll]] for (int i = 0; i < ATT_DPL; ++i) {
    int d = lane + ATT_LPR * i;
    if (d < pc.D) acc[i] = part_o[slot * uint(pc.D) + uint(d)];
  }
  m = part_ml[slot * 2u];
  l = part_ml[slot * 2u + 1u];
}

// The canary, run by every invocation at the end of every work unit: a loop of pc.two (= 2)
// iterations, which a driver that cut this invocation's loops short (llvmpipe, see above) leaves
// after one; the status word then tells the host, which throws instead of returning the outputs.
void att_canary() {
  int runs = 0;
  for (int x = 0; x < pc.two; ++x) ++runs;
  if (runs != pc.two) atomicOr(lse_words[pc.rows], 1u);
}

float att_sigmoid(float x) { return 1.0 / (1.0 + exp(-x)); }

// Every NaN written is the canonical quiet NaN (reference/formats.h).
float att_canonical(float x) { return isnan(x) ? uintBitsToFloat(0x7FC00000u) : x; }

#endif
