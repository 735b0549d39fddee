// What both OpenCL attention kernels share (numerics.md section 6): reading K/V at their stored
// width, and one row tile of queries attending to a range of keys with an online softmax.
//
// Work layout: a work-group of WG_SIZE work-items holds ATT_ROWS = WG_SIZE / ATT_LPR query rows;
// a row is one (query position, query head of the KV group) pair, so all the query heads that
// read one KV head share each K/V tile staged in local memory (GQA). The ATT_LPR lanes of a row
// each own the dimensions d = lane + ATT_LPR * i of q and of the output accumulator.
// Per key tile of ATT_BC keys: stage K (converted to fp32), each lane forms partial dot products
// over its dimensions, one owner lane per key sums that key's partials in lane order, and the
// fp32 online-softmax update follows (running max m, running sum l, accumulator rescaled by
// exp(m_old - m_new)) with V staged into the same local buffer (att_rows_vs_keys below).
// Nothing of size T x S ever reaches memory.
//
// Defines (defaults; the including kernel may set ATT_LPR and ATT_BC first):
//   WG_SIZE   work-items per group (the host's build option)
//   ATT_LPR   lanes per query row (a power of two dividing WG_SIZE)
//   ATT_BC    keys per staged tile
//   ATT_DMAX  largest head dimension, no default: the host's build option, the record's
//             manifest max_d (the registry refuses larger D)
// K/V dtype codes (the host's, host/src/opencl/attention.cpp): 0 f32, 1 bf16, 2 f16, 3 E4M3.
#ifndef TESSERA_ATTENTION_ATTN_TILE_CL
#define TESSERA_ATTENTION_ATTN_TILE_CL

#pragma OPENCL FP_CONTRACT OFF

#ifndef WG_SIZE
#define WG_SIZE 256 // work-items per group (host launch size)
#endif
#include "attention/geometry.h"

#ifndef ATT_LPR
#error "attn_tile.cl: the including kernel sets ATT_LPR, its lanes per query row"
#endif
#ifndef ATT_BC
#define ATT_BC ATT_KEY_TILE // keys per staged K/V tile
#endif
#ifndef ATT_DMAX
#error "attn_tile.cl: ATT_DMAX (the largest head dimension) must be given as a build option"
#endif
#define ATT_ROWS (WG_SIZE / ATT_LPR)          // query rows per work-group
#define ATT_DPL ((ATT_DMAX + ATT_LPR - 1) / ATT_LPR) // dimensions per lane

#if ATT_ROWS < 1 || ATT_ROWS * ATT_LPR != WG_SIZE
#error "attn_tile.cl: ATT_LPR must divide WG_SIZE"
#endif

#include "common/formats.cl"

#define ATT_F32 0
#define ATT_BF16 1
#define ATT_F16 2
#define ATT_E4M3 3

// Bits of the `flags` argument.
#define ATT_FLAG_CAUSAL 1
#define ATT_FLAG_GATE 2
#define ATT_FLAG_LSE 4

// Element `i` of a K or V buffer stored as `dtype`, in fp32: bf16/fp16 widened on the bits (no
// fp16 arithmetic needed), E4M3 decoded and multiplied by its per-tensor scale (one RN multiply,
// as the reference's dequantization).
inline float att_load(__global const uchar* p, uint i, int dtype, float scale) {
  switch (dtype) {
  case ATT_BF16: return as_float((uint)((__global const ushort*)p)[i] << 16);
  case ATT_F16: return tsr_f16_to_f32(((__global const ushort*)p)[i]);
  case ATT_E4M3: return tsr_e4m3_to_f32(p[i]) * scale;
  default: return ((__global const float*)p)[i];
  }
}

// Keys query position t of a sequence of Tn queries and Sn keys may see.
inline int att_visible(int t, int Tn, int Sn, int causal) {
  return causal ? clamp(t + (Sn - Tn) + 1, 0, Sn) : Sn;
}

// The rows of this work-group (the caller's tile) against keys [k_lo, k_hi) of one sequence and
// KV head; key j is at element kv_base + j * kv_stride of k and v. Group-uniform arguments:
// k_lo, k_hi and everything but `live`, `visible`, qv, acc, m, l, which are this work-item's.
// Every work-item must call it (it has barriers); a dead row (live == 0) only helps stage tiles.
// Local memory: kv [ATT_BC][ATT_DMAX], part [WG_SIZE][ATT_BC], sc and pp [ATT_ROWS][ATT_BC].
// Per tile: (1) stage K; (2) partial dot products; (3) lane jj % ATT_LPR of a row sums the
// partials of key jj in lane order (one score per key, not one per lane: with 32 lanes the
// redundant sums cost four times the dot products) while everyone stages V over K; (4) every
// lane takes the tile max from the scores (same values, same order: the same m everywhere) and
// the owner lane of key jj writes p_jj = exp(s_jj - m_new); (5) sum and accumulate p_jj v_j.
inline void att_rows_vs_keys(__local float* kv, __local float* part, __local float* sc,
                             __local float* pp, __global const uchar* k, __global const uchar* v,
                             int k_dtype, int v_dtype, float k_scale, float v_scale, uint kv_base,
                             uint kv_stride, int D, float scale, int k_lo, int k_hi, int live,
                             int visible, const float* qv, float* acc, float* m, float* l) {
  const int lid = (int)get_local_id(0);
  const int row = lid / ATT_LPR, lane = lid % ATT_LPR;
  for (int j0 = k_lo; j0 < k_hi; j0 += ATT_BC) {
    const int nk = min(ATT_BC, k_hi - j0);
    for (int e = lid; e < nk * D; e += WG_SIZE) {
      int jj = e / D, dd = e - jj * D;
      kv[jj * ATT_DMAX + dd] = att_load(k, kv_base + (uint)(j0 + jj) * kv_stride + (uint)dd, k_dtype, k_scale);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (live) {
      for (int jj = 0; jj < nk; ++jj) {
        float s = 0.0f;
        for (int i = 0; i < ATT_DPL; ++i) {
          int d = lane + ATT_LPR * i;
          if (d < D) s = s + qv[i] * kv[jj * ATT_DMAX + d];
        }
        part[(row * ATT_LPR + lane) * ATT_BC + jj] = s;
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (live) {
      for (int jj = lane; jj < nk; jj += ATT_LPR) {
        float s = 0.0f;
        for (int ln = 0; ln < ATT_LPR; ++ln) s = s + part[(row * ATT_LPR + ln) * ATT_BC + jj];
        // The scale multiplies the finished dot product, as in the reference.
        sc[row * ATT_BC + jj] = j0 + jj < visible ? scale * s : -INFINITY;
      }
    }
    for (int e = lid; e < nk * D; e += WG_SIZE) { // K is no longer read: V goes over it
      int jj = e / D, dd = e - jj * D;
      kv[jj * ATT_DMAX + dd] = att_load(v, kv_base + (uint)(j0 + jj) * kv_stride + (uint)dd, v_dtype, v_scale);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    float alpha = 1.0f, m_new = -INFINITY;
    if (live) {
      float tmax = -INFINITY;
      for (int jj = 0; jj < nk; ++jj) tmax = fmax(tmax, sc[row * ATT_BC + jj]);
      m_new = fmax(*m, tmax);
      if (m_new != -INFINITY) {
        alpha = exp(*m - m_new); // exp(-inf) = 0 on the first visible tile
        for (int jj = lane; jj < nk; jj += ATT_LPR) pp[row * ATT_BC + jj] = exp(sc[row * ATT_BC + jj] - m_new);
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (live && m_new != -INFINITY) { // else every key so far is masked: nothing to add
      float sum = 0.0f;
      for (int jj = 0; jj < nk; ++jj) sum = sum + pp[row * ATT_BC + jj];
      *l = *l * alpha + sum;
      *m = m_new;
      for (int i = 0; i < ATT_DPL; ++i) {
        int d = lane + ATT_LPR * i;
        if (d >= D) break;
        float a = acc[i] * alpha;
        for (int jj = 0; jj < nk; ++jj) a = a + pp[row * ATT_BC + jj] * kv[jj * ATT_DMAX + d];
        acc[i] = a;
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE); // V and p read before the next tile lands
  }
}

// The epilogue of one row: o = acc / l, gated, with canonical NaN; a row that saw no key gets
// o = 0 and lse = -inf, as the reference. Lane 0 writes lse.
inline void att_store_row(__global float* o, __global float* lse, __global const float* gate,
                          uint row_off, uint lse_at, int D, int flags, const float* acc, float m,
                          float l) {
  const int lane = (int)get_local_id(0) % ATT_LPR;
  const int seen = l > 0.0f;
  for (int i = 0; i < ATT_DPL; ++i) {
    int d = lane + ATT_LPR * i;
    if (d >= D) break;
    float od = seen ? acc[i] / l : 0.0f;
    if (flags & ATT_FLAG_GATE) od = od * (1.0f / (1.0f + exp(-gate[row_off + (uint)d])));
    o[row_off + (uint)d] = tsr_canonicalize_nan(od);
  }
  if ((flags & ATT_FLAG_LSE) && lane == 0) lse[lse_at] = tsr_canonicalize_nan(seen ? m + log(l) : -INFINITY);
}

#endif // TESSERA_ATTENTION_ATTN_TILE_CL
