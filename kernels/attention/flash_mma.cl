// attention, variant "nv_mma_f16" (numerics.md section 6; conformance BOUNDED by the attention
// error bound with fp16 operands, docs/numerics.md, host/src/requirements.h kBoundAttnF16):
// FlashAttention-style prefill on NVIDIA tensor cores through inline PTX mma.sync m16n8k16
// (fp16 inputs, fp32 accumulate, cc >= 8.0). A work-group of 256 work-items (8 warps of 32) owns
// FM_ROWS = 128 query rows of one sequence and one KV head (rows position-major, as
// flash_prefill.cl, so a GQA group shares every K/V tile); warp w owns rows 16w .. 16w + 15.
// Per tile of FM_BC = 32 keys: K is staged as fp16 [key][d] and S = Q K^T is 4 m16n8 fragments
// a warp (q rounded to fp16 as it is read); the scaled, masked scores go to local memory for the
// row max; p = RN_fp16(exp(s - m_new)) overwrites them; l sums those p in key order and
// O += P V (V staged transposed as fp16 [d][key]) on D / 8 m16n8 fragments, rescaled by
// exp(m_old - m_new) first. Online softmax in fp32; the gate and 1 / l in the epilogue.
// Rounding against the reference: q, k, v and p to fp16 (2^-11 relative each; E4M3 * scale and
// bf16 K/V are not exact in fp16 and fp16 overflows past 65504), fp32 sums in the matrix unit's
// order: the bound (host/src/requirements.h kBoundAttnF16) is justified by
// tests/test_attention_tensor_core.cpp's emulation. Without TESSERA_NV_INLINE_PTX (PoCL) the
// portable branch computes the same fragments in fp32 from the same fp16 values, k ascending.
//
// Defines (defaults):
//   WG_SIZE 256 (host build option; must be 256: 8 warps)
//   TESSERA_NV_INLINE_PTX 0 (host prelude; 1 on NVIDIA's OpenCL)
//   ATT_DMAX (host build option, the record's manifest max_d; no default): largest head
//     dimension, a multiple of 16 (D must be one too)
//   LOCAL_BYTES (host build option, the manifest's local_bytes): what the registry found on the
//     device; the build fails where the tiles below need more
// Local memory: FM_BC * (ATT_DMAX / 2 + 4) or ATT_DMAX * (FM_BC / 2 + 4) words (K, then V^T
// over it) + FM_ROWS * (FM_BC + 1) floats: 37 KiB at ATT_DMAX 256.
#pragma OPENCL FP_CONTRACT OFF

#include "attention/geometry.h"

#ifndef WG_SIZE
#define WG_SIZE FM_WG // work-items per group (the host's launch size)
#endif
#ifndef TESSERA_NV_INLINE_PTX
#define TESSERA_NV_INLINE_PTX 0 // host prelude: 1 on NVIDIA's OpenCL
#endif
#ifndef ATT_DMAX
#error "flash_mma.cl: ATT_DMAX (the largest head dimension) must be given as a build option"
#endif
#if WG_SIZE != FM_WG
#error "flash_mma.cl: the warp layout needs WG_SIZE == FM_WG (8 warps of 32)"
#endif
#if ATT_DMAX % 16 != 0
#error "flash_mma.cl: ATT_DMAX must be a multiple of 16"
#endif

#define ATT_LPR 8 // attn_tile.cl's lanes per row (unused here; its helpers need a value)
#include "attention/attn_tile.cl"

// FM_ROWS (attention/geometry.h): query rows per work-group, 8 warps x 16.
#define FM_BC 32    // keys per staged tile
#define FM_KS (ATT_DMAX / 2 + 4) // K row stride in words (pad 4: fragment loads hit 32 banks)
#define FM_VS (FM_BC / 2 + 4)    // V^T row stride in words
#define FM_SS (FM_BC + 1)        // score row stride in floats
#define FM_KV_WORDS (FM_BC * FM_KS > ATT_DMAX * FM_VS ? FM_BC * FM_KS : ATT_DMAX * FM_VS)
#if defined(LOCAL_BYTES) && (FM_KV_WORDS + FM_ROWS * FM_SS) * 4 > LOCAL_BYTES
#error "flash_mma.cl: kv and ss need more local memory than the manifest's local_bytes"
#endif

// x rounded to fp16 (RN), as fp32 bits of the fp16 value.
inline float fm_h(float x) { return tsr_f16_to_f32(tsr_f32_to_f16(x)); }
inline uint fm_pack(float lo, float hi) {
  return (uint)tsr_f32_to_f16(lo) | ((uint)tsr_f32_to_f16(hi) << 16);
}
inline float fm_word(uint w, int e) { return tsr_f16_to_f32((ushort)(w >> (16 * e))); }

// One m16n8k16 step: C (rows g, g + 8; columns 2t, 2t + 1) += A [16 x 16] B [16 x 8]. A is
// given by its fragment words a[4] (PTX) or, portably, by the fp16-exact rows ra / rb (16
// values from column k0); B by the staged words Bs [col][k words] from word w0.
#if TESSERA_NV_INLINE_PTX
inline void fm_mma(const uint* a, __local const uint* Bs, int stride, int w0, int lane, float* c) {
  const int g = lane >> 2, t = lane & 3;
  uint b0 = Bs[g * stride + w0 + t], b1 = Bs[g * stride + w0 + t + 4];
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
#else
inline float fm_dot(const float* arow, __local const uint* Bs, int stride, int w0, int col) {
  float s = 0.0f;
  for (int w = 0; w < 8; ++w) {
    uint bw = Bs[col * stride + w0 + w];
    s = s + arow[2 * w] * fm_word(bw, 0);
    s = s + arow[2 * w + 1] * fm_word(bw, 1);
  }
  return s;
}
inline void fm_mma(const float* ra, const float* rb, __local const uint* Bs, int stride, int w0,
                   int lane, float* c) {
  const int g = lane >> 2, t = lane & 3;
  c[0] = c[0] + fm_dot(ra, Bs, stride, w0, 2 * t);
  c[1] = c[1] + fm_dot(ra, Bs, stride, w0, 2 * t + 1);
  c[2] = c[2] + fm_dot(rb, Bs, stride, w0, 2 * t);
  c[3] = c[3] + fm_dot(rb, Bs, stride, w0, 2 * t + 1);
}
#endif

__kernel __attribute__((reqd_work_group_size(WG_SIZE, 1, 1))) void
attention_flash_mma(__global const float* q, __global const uchar* k, __global const uchar* v,
                    __global const float* gate, __global const int* cu_q, __global const int* cu_k,
                    __global float* o, __global float* lse, int n_seqs, int Hq, int Hkv, int D,
                    int t_max, int flags, int k_dtype, int v_dtype, float k_scale, float v_scale,
                    float scale) {
  __local uint kv[FM_KV_WORDS];
  __local float ss[FM_ROWS * FM_SS];
  const int lid = (int)get_local_id(0), lane = lid & 31, warp = lid >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int G = Hq / Hkv, DW = D / 2;
  const int tiles = (t_max * G + FM_ROWS - 1) / FM_ROWS;
  const int units = n_seqs * Hkv * tiles;
  const int causal = flags & ATT_FLAG_CAUSAL;
  for (int u = (int)get_group_id(0); u < units; u += (int)get_num_groups(0)) {
    const int tile = u % tiles, hkv = (u / tiles) % Hkv, n = u / (tiles * Hkv);
    const int q0 = cu_q[n], Tn = cu_q[n + 1] - q0;
    const int kb = cu_k[n], Sn = cu_k[n + 1] - kb;
    const int r0 = tile * FM_ROWS;
    if (r0 >= Tn * G) continue; // the whole group: this sequence has fewer rows
    const int k_hi = att_visible((min(r0 + FM_ROWS, Tn * G) - 1) / G, Tn, Sn, causal);
    const uint kv_base = ((uint)kb * (uint)Hkv + (uint)hkv) * (uint)D, kv_stride = (uint)(Hkv * D);
    // This lane's two rows: h = 0 is row g of the warp's 16, h = 1 row g + 8.
    int live[2], vis[2];
    uint off[2];
    for (int h = 0; h < 2; ++h) {
      int r = r0 + warp * 16 + g + 8 * h;
      live[h] = r < Tn * G;
      int tq = live[h] ? r / G : 0;
      vis[h] = live[h] ? att_visible(tq, Tn, Sn, causal) : 0;
      off[h] = ((uint)(q0 + tq) * (uint)Hq + (uint)(hkv * G + r % G)) * (uint)D;
    }
#if TESSERA_NV_INLINE_PTX
    uint qa[ATT_DMAX / 16][4]; // A fragments of Q, fp16, for every k step
    for (int s = 0; s < ATT_DMAX / 16; ++s)
      for (int e = 0; e < 4; ++e) {
        int h = e & 1, d = s * 16 + 2 * t + (e >> 1) * 8;
        qa[s][e] = s < D / 16 && live[h] ? fm_pack(q[off[h] + (uint)d], q[off[h] + (uint)d + 1u]) : 0u;
      }
#endif
    float acc[ATT_DMAX / 8][4];
    for (int f = 0; f < ATT_DMAX / 8; ++f)
      for (int e = 0; e < 4; ++e) acc[f][e] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

    for (int j0 = 0; j0 < k_hi; j0 += FM_BC) {
      barrier(CLK_LOCAL_MEM_FENCE); // the previous tile's V and p are read
      for (int e = lid; e < FM_BC * DW; e += WG_SIZE) {
        int jj = e / DW, w = e - jj * DW;
        uint at = kv_base + (uint)(j0 + jj) * kv_stride + (uint)(2 * w);
        kv[jj * FM_KS + w] = j0 + jj < k_hi ? fm_pack(att_load(k, at, k_dtype, k_scale),
                                                      att_load(k, at + 1u, k_dtype, k_scale))
                                            : 0u;
      }
      barrier(CLK_LOCAL_MEM_FENCE);
      float sf[FM_BC / 8][4]; // S fragments: keys 8f + 2t (+1), rows g, g + 8
      for (int f = 0; f < FM_BC / 8; ++f) {
        for (int e = 0; e < 4; ++e) sf[f][e] = 0.0f;
        // Constant trip counts (guarded by D), so that a compiler may unroll them and keep qa and acc
        // in registers (clang 15 -O2 does not: 872 bytes of stack at sm_90, no spills).
        for (int s = 0; s < ATT_DMAX / 16; ++s) {
          if (s >= D / 16) break;
#if TESSERA_NV_INLINE_PTX
          fm_mma(qa[s], kv + f * 8 * FM_KS, FM_KS, s * 8, lane, sf[f]);
#else
          float ra[16], rb[16];
          for (int i = 0; i < 16; ++i) {
            ra[i] = live[0] ? fm_h(q[off[0] + (uint)(s * 16 + i)]) : 0.0f;
            rb[i] = live[1] ? fm_h(q[off[1] + (uint)(s * 16 + i)]) : 0.0f;
          }
          fm_mma(ra, rb, kv + f * 8 * FM_KS, FM_KS, s * 8, lane, sf[f]);
#endif
        }
        for (int e = 0; e < 4; ++e) {
          int h = e >> 1, key = j0 + f * 8 + 2 * t + (e & 1);
          // The scale multiplies the finished dot product, as in the reference.
          sf[f][e] = key < vis[h] ? scale * sf[f][e] : -INFINITY;
          ss[(warp * 16 + g + 8 * h) * FM_SS + f * 8 + 2 * t + (e & 1)] = sf[f][e];
        }
      }
      barrier(CLK_LOCAL_MEM_FENCE); // scores complete; K no longer read
      float m_new[2], alpha[2];
      for (int h = 0; h < 2; ++h) { // the 4 lanes of a row read the same values in the same order
        float tmax = -INFINITY;
        for (int jj = 0; jj < FM_BC; ++jj) tmax = fmax(tmax, ss[(warp * 16 + g + 8 * h) * FM_SS + jj]);
        m_new[h] = fmax(m[h], tmax);
        alpha[h] = m_new[h] == -INFINITY ? 1.0f : exp(m[h] - m_new[h]);
      }
      for (int e = lid; e < D * (FM_BC / 2); e += WG_SIZE) { // V^T [d][key pairs] over K
        int d = e / (FM_BC / 2), w = e - d * (FM_BC / 2);
        uint at = kv_base + (uint)(j0 + 2 * w) * kv_stride + (uint)d;
        float v0 = j0 + 2 * w < k_hi ? att_load(v, at, v_dtype, v_scale) : 0.0f;
        float v1 = j0 + 2 * w + 1 < k_hi ? att_load(v, at + kv_stride, v_dtype, v_scale) : 0.0f;
        kv[d * FM_VS + w] = fm_pack(v0, v1);
      }
      barrier(CLK_LOCAL_MEM_FENCE); // every row max is taken before p overwrites the scores
      for (int f = 0; f < FM_BC / 8; ++f)
        for (int e = 0; e < 4; ++e) {
          int h = e >> 1;
          float p = m_new[h] == -INFINITY ? 0.0f : fm_h(exp(sf[f][e] - m_new[h]));
          ss[(warp * 16 + g + 8 * h) * FM_SS + f * 8 + 2 * t + (e & 1)] = p;
        }
      barrier(CLK_LOCAL_MEM_FENCE);
      for (int h = 0; h < 2; ++h) {
        float sum = 0.0f;
        for (int jj = 0; jj < FM_BC; ++jj) sum = sum + ss[(warp * 16 + g + 8 * h) * FM_SS + jj];
        l[h] = l[h] * alpha[h] + sum;
        if (m_new[h] != -INFINITY) m[h] = m_new[h];
      }
      for (int s = 0; s < FM_BC / 16; ++s) {
        __local const float* pa = ss + (warp * 16 + g) * FM_SS + s * 16;
        __local const float* pb = pa + 8 * FM_SS;
#if TESSERA_NV_INLINE_PTX
        uint a[4] = {fm_pack(pa[2 * t], pa[2 * t + 1]), fm_pack(pb[2 * t], pb[2 * t + 1]),
                     fm_pack(pa[2 * t + 8], pa[2 * t + 9]), fm_pack(pb[2 * t + 8], pb[2 * t + 9])};
#else
        float ra[16], rb[16];
        for (int i = 0; i < 16; ++i) {
          ra[i] = pa[i];
          rb[i] = pb[i];
        }
#endif
        for (int f = 0; f < ATT_DMAX / 8; ++f) {
          if (f >= D / 8) break;
          if (s == 0)
            for (int e = 0; e < 4; ++e) acc[f][e] = acc[f][e] * alpha[e >> 1];
#if TESSERA_NV_INLINE_PTX
          fm_mma(a, kv + f * 8 * FM_VS, FM_VS, s * 8, lane, acc[f]);
#else
          fm_mma(ra, rb, kv + f * 8 * FM_VS, FM_VS, s * 8, lane, acc[f]);
#endif
        }
      }
    }
    // Epilogue: o = acc / l, gated, canonical NaN; a row that saw no key gets o = 0, lse = -inf.
    for (int h = 0; h < 2; ++h) {
      if (!live[h]) continue;
      const int seen = l[h] > 0.0f;
      for (int f = 0; f < ATT_DMAX / 8; ++f)
        for (int c = 0; c < 2 && f < D / 8; ++c) {
          uint d = (uint)(f * 8 + 2 * t + c);
          float od = seen ? acc[f][2 * h + c] / l[h] : 0.0f;
          if (flags & ATT_FLAG_GATE) od = od * (1.0f / (1.0f + exp(-gate[off[h] + d])));
          o[off[h] + d] = tsr_canonicalize_nan(od);
        }
      if ((flags & ATT_FLAG_LSE) && t == 0)
        lse[off[h] / (uint)D] = tsr_canonicalize_nan(seen ? m[h] + log(l[h]) : -INFINITY);
    }
  }
}
