#version 450
// attention, variant "nv_coopmat_f16" (numerics.md section 6; conformance BOUNDED by the
// attention error bound with fp16 operands, docs/numerics.md, host/src/requirements.h kBoundAttnF16): the Vulkan twin of kernels/attention/flash_mma.cl, on
// NVIDIA tensor cores through GL_NV_cooperative_matrix (fp16 x fp16 -> fp32, 16x16x16).
//
// A workgroup of 128 invocations (4 subgroups of 32, NVIDIA's width; the registry requires it)
// owns FC_ROWS = 64 query rows of one sequence and one KV head, rows position-major as
// flash_prefill.comp (row r = position r / G, query head hkv * G + r % G), so a GQA group shares
// every K/V tile; subgroup s owns rows 16s .. 16s + 15. Q is rounded to fp16 once, staged, and
// held as D / 16 cooperative A matrices. Per tile of 16 keys: K and V are widened from their
// stored dtype (f32, bf16, f16, E4M3 * scale) and rounded to fp16 as they are staged [key][d];
// S = Q K^T goes to the subgroup's fp32 shared patch, where lanes 0..15 each own a row for the
// fp32 online softmax (scale on the finished dot product, causal mask j <= t + S_n - T_n,
// p = RN_fp16(exp(s - m_new)), l summed in key order); then for each 16-wide slice of D,
// P V is summed from zero by the matrix unit and added to this lane's fp32 share of O after the
// rescale O * exp(m_old - m_new). Gate, 1 / l and lse in the epilogue. A workgroup takes one
// work unit (sequence, KV head, row tile) a dispatch.
//
// Long key ranges, as flash_prefill.comp: a dispatch sweeps only the window [k_first, k_first +
// k_count) of the unit's keys (kAttentionWindowKeys, host/src/vulkan/attention.cpp: llvmpipe's
// loop guard of 65535 iterations an invocation, which any driver may have), the fp32 state (this
// lane's share of O, and row_m / row_l) carried to the next window through part_o / part_ml as
// the values it had, so windows do not change the result; the last window writes o and lse.
// The loops of constant trip count are unrolled, so the loop iterations one window costs an
// invocation are at most: the key-tile loop k_count / FC_BC + 1 (8193 at the default 131072
// keys), the Q staging loop FC_ROWS * D / WG + 1 (129 at D = 256), the row-statistics loop 2,
// the unit loop 2, the canary 3: ~8.3 K of the 65535. (FC_EMULATE's own small loops are left to
// the compiler: lavapipe unrolls them, one window of 128000 keys was not cut, while [[unroll]] on
// them made it compile 9 times slower.) Every unit ends with the canary: a loop of
// pc.two (= 2) iterations, which a cut invocation leaves after one, setting the status word (the
// host then throws instead of returning the outputs).
//
// Rounding against the reference: q, k, v and p to fp16 (2^-11 relative each), fp32 sums: the
// error model of flash_mma.cl, whose emulation in tests/test_attention_tensor_core.cpp justifies
// the bound. The per-tile P V sum (16 products) is added to O with one fp32 add.
// It cannot run on lavapipe (no cooperative matrices); the build compiles it and spirv-val
// checks it. Measured: not yet (no NVIDIA GPU in the build environment).
//
// Defines (defaults): WG 128 (must be 128: 4 subgroups of 32), ATT_DMAX 256 (largest head
// dimension; D must be a multiple of 16), FC_EMULATE (undefined): the cooperative-matrix
// operations emulated in shared memory with a fixed element ownership, 32-invocation "subgroups"
// taken from the invocation index and workgroup barriers, so that the rest of the shader
// (staging, masks, online softmax, GQA rows, epilogue) runs on devices without cooperative
// matrices (lavapipe: tests/test_attention_tensor_core.cpp); built with ATT_DMAX 64 to fit 32 KiB.
// Bindings and push constants: those of attention/attn_tile.glsl (repeated below: that header
// also declares flash_prefill's shared tiles, which this shader does not use). Shared memory:
// 64 * (ATT_DMAX + 8) halves (Q staging, then K and V) + 4 KiB of fp32 patches + 4 * 16 * 24
// halves of P + 3 * 64 floats: 41,728 bytes at the defaults.
// Specialization constants: 0 = workgroup size (must equal WG).
//
// SPIR-V builds (cmake/vulkan.cmake compiles each; the runtime loads NAME.spv):
// spirv if testing: attention/flash_coopmat.emulated FC_EMULATE ATT_DMAX=64
// spirv if nv_coopmat: attention/flash_coopmat
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#ifndef FC_EMULATE
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#endif

#include "common/formats.glsl"

#include "attention/geometry.h"

#ifndef WG
#define WG FC_WG
#endif
#ifndef ATT_DMAX
#define ATT_DMAX FC_DMAX
#endif
#if WG != FC_WG
#error "flash_coopmat.comp: the subgroup layout needs WG == FC_WG (4 subgroups of 32)"
#endif
#if ATT_DMAX % 16 != 0
#error "flash_coopmat.comp: ATT_DMAX must be a multiple of 16"
#endif

// FC_ROWS (attention/geometry.h): query rows per workgroup, 4 subgroups x 16.
#define FC_BC 16              // keys per staged tile
#define FC_SD (ATT_DMAX + 8)  // staged row stride in halves (16-byte aligned rows)
#define FC_SP (FC_BC + 8)     // P row stride in halves
#define FC_DS (ATT_DMAX / 16) // 16-wide slices of a head
#define FC_STAGE (2 * FC_BC * ATT_DMAX / WG) // K / V staging steps per tile and invocation

layout(local_size_x = WG, local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Q { float q_buf[]; };
layout(std430, binding = 1) readonly buffer K { uint k_buf[]; };
layout(std430, binding = 2) readonly buffer V { uint v_buf[]; };
layout(std430, binding = 3) readonly buffer Gate { float gate_buf[]; };
layout(std430, binding = 4) readonly buffer Cu { int cu_buf[]; };
layout(std430, binding = 5) buffer O { float o_buf[]; };
layout(std430, binding = 6) buffer Lse { float lse_buf[]; };
layout(std430, binding = 6) buffer LseStatus { uint lse_words[]; }; // the same buffer: status at rows
layout(std430, binding = 7) buffer PartO { float part_o[]; };   // a window's state: O [row][d]
layout(std430, binding = 8) buffer PartML { float part_ml[]; }; // and m, l [row][2]
layout(push_constant) uniform Push {
  int n_seqs;
  int Hq;
  int Hkv;
  int D;
  int t_max;
  int flags;
  int k_dtype;
  int v_dtype;
  float k_scale;
  float v_scale;
  float scale;
  int n_split;
  int chunk;
  int rows;
  int k_first; // this window: keys [k_first, k_first + k_count) of each unit's key range
  int k_count;
  int unit_base; // this dispatch's work units, one a workgroup
  int unit_end;
  int two; // the canary's trip count (2)
} pc;

const int ATT_F32 = 0, ATT_BF16 = 1, ATT_F16 = 2, ATT_E4M3 = 3;
const int ATT_FLAG_CAUSAL = 1, ATT_FLAG_GATE = 2, ATT_FLAG_LSE = 4;
#define ATT_NEG_INF uintBitsToFloat(0xFF800000u)

#ifndef FC_EMULATE
#define F16MAT fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define F32MAT fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define F32_ZERO F32MAT(0.0)
#define LOAD_SX(m, off, stride, colmajor) coopMatLoadNV(m, sx, off, stride, colmajor)
#define LOAD_SP(m, off, stride) coopMatLoadNV(m, sp, off, stride, false)
#define STORE_PATCH(m, off) coopMatStoreNV(m, sg_patch, off, 16u, false)
#define MULADD(a, b, c) coopMatMulAddNV(a, b, c)
#define SG_ID gl_SubgroupID
#define SG_LANE gl_SubgroupInvocationID
#define SG_SIZE gl_SubgroupSize
#endif

shared float16_t sx[FC_ROWS * FC_SD]; // Q tile; then K at rows 0..15, V at rows 16..31
shared float sg_patch[4 * 256];       // one 16 x 16 fp32 patch per subgroup (S, then P V)
shared float16_t sp[4 * 16 * FC_SP];  // P of each subgroup, fp16 [row][key]
shared float row_m[FC_ROWS], row_l[FC_ROWS], row_alpha[FC_ROWS];

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

#ifdef FC_EMULATE
// A 16 x 16 matrix of a "subgroup": lane owns elements lane + 32 k (row idx / 16, col idx % 16).
struct F16MAT {
  float16_t e[8];
};
struct F32MAT {
  float e[8];
};
#define F32_ZERO emu_zero()
#define LOAD_SX(m, off, stride, colmajor) m = emu_load_sx(off, stride, colmajor)
#define LOAD_SP(m, off, stride) m = emu_load_sp(off, stride)
#define STORE_PATCH(m, off) emu_store_patch(m, off)
#define MULADD(a, b, c) emu_muladd(a, b, c)
#define SG_ID (gl_LocalInvocationID.x / 32u)
#define SG_LANE (gl_LocalInvocationID.x % 32u)
#define SG_SIZE 32u
shared float16_t emu_a[4 * 256], emu_b[4 * 256];

F32MAT emu_zero() {
  F32MAT z;
  for (int k = 0; k < 8; ++k) z.e[k] = 0.0;
  return z;
}
F16MAT emu_load_sx(uint off, uint stride, bool colmajor) {
  F16MAT m;
  for (uint k = 0u; k < 8u; ++k) {
    uint idx = SG_LANE + 32u * k, r = idx / 16u, c = idx % 16u;
    m.e[k] = sx[off + (colmajor ? c * stride + r : r * stride + c)];
  }
  return m;
}
F16MAT emu_load_sp(uint off, uint stride) {
  F16MAT m;
  for (uint k = 0u; k < 8u; ++k) {
    uint idx = SG_LANE + 32u * k;
    m.e[k] = sp[off + (idx / 16u) * stride + idx % 16u];
  }
  return m;
}
void emu_store_patch(F32MAT m, uint off) {
  for (uint k = 0u; k < 8u; ++k) sg_patch[off + SG_LANE + 32u * k] = m.e[k]; // stride 16
}
// C + A B with fp32 sums in k order (every call is in workgroup-uniform control flow).
F32MAT emu_muladd(F16MAT a, F16MAT b, F32MAT c) {
  uint base = SG_ID * 256u;
  for (uint k = 0u; k < 8u; ++k) {
    emu_a[base + SG_LANE + 32u * k] = a.e[k];
    emu_b[base + SG_LANE + 32u * k] = b.e[k];
  }
  barrier();
  F32MAT d;
  for (uint k = 0u; k < 8u; ++k) {
    uint idx = SG_LANE + 32u * k, r = idx / 16u, col = idx % 16u;
    float acc = 0.0;
    for (uint kk = 0u; kk < 16u; ++kk)
      acc = acc + float(emu_a[base + r * 16u + kk]) * float(emu_b[base + kk * 16u + col]);
    d.e[k] = c.e[k] + acc;
  }
  barrier();
  return d;
}
#endif

// Subgroup-private shared data (sg_patch, sp, row stats of its rows) written by some lanes and read
// by others of the same subgroup.
void sg_sync() {
#ifdef FC_EMULATE
  barrier();
#else
  subgroupMemoryBarrierShared();
  subgroupBarrier();
#endif
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint sg = SG_ID, lane = SG_LANE, lanes = SG_SIZE;
  const int G = pc.Hq / pc.Hkv, D = pc.D, nds = D / 16;
  const int tiles = (pc.t_max * G + FC_ROWS - 1) / FC_ROWS;
  for (int u = pc.unit_base + int(gl_WorkGroupID.x); u < pc.unit_end; u += int(gl_NumWorkGroups.x)) {
    const int tile = u % tiles, hkv = (u / tiles) % pc.Hkv, n = u / (tiles * pc.Hkv);
    const int q0 = cu_buf[n], Tn = cu_buf[n + 1] - q0;
    const int k0 = cu_buf[pc.n_seqs + 1 + n], Sn = cu_buf[pc.n_seqs + 2 + n] - k0;
    const int r0 = tile * FC_ROWS;
    if (r0 >= Tn * G) continue; // workgroup-uniform: this sequence has fewer rows
    const int t_last = (min(r0 + FC_ROWS, Tn * G) - 1) / G;
    const int k_hi = att_visible(t_last, Tn, Sn);
    // This window's keys [kb, ke) (workgroup-uniform); a window after the first carries state.
    const int kb = pc.k_first;
    if (kb > 0 && kb >= k_hi) continue; // finished in an earlier window
    const int ke = kb + min(k_hi - kb, pc.k_count);
    const bool carried = kb > 0;
    const uint kv_base = (uint(k0) * uint(pc.Hkv) + uint(hkv)) * uint(D);
    const uint kv_stride = uint(pc.Hkv * D);

    barrier(); // the previous unit's readers of sx and the row stats are done
    for (uint i = tid; i < uint(FC_ROWS * D); i += uint(WG)) {
      int rl = int(i) / D, d = int(i) - rl * D, r = r0 + rl;
      float x = 0.0;
      if (r < Tn * G) {
        uint qrow = uint(q0 + r / G) * uint(pc.Hq) + uint(hkv * G + r % G);
        x = q_buf[qrow * uint(D) + uint(d)];
      }
      sx[uint(rl) * uint(FC_SD) + uint(d)] = float16_t(x);
    }
    for (uint i = tid; i < uint(FC_ROWS); i += uint(WG)) {
      int r = r0 + int(i);
      bool from = carried && r < Tn * G;
      uint qrow = uint(q0 + r / G) * uint(pc.Hq) + uint(hkv * G + r % G);
      row_m[i] = from ? part_ml[qrow * 2u] : ATT_NEG_INF;
      row_l[i] = from ? part_ml[qrow * 2u + 1u] : 0.0;
    }
    barrier();
    F16MAT qf[FC_DS];
    [[unroll]] for (int ds = 0; ds < FC_DS; ++ds)
      if (ds < nds) LOAD_SX(qf[ds], sg * 16u * uint(FC_SD) + uint(ds * 16), uint(FC_SD), false);
    float o[FC_DS][8]; // this lane's elements lane + 32 e of each 16 x 16 slice of O
    [[unroll]] for (int ds = 0; ds < FC_DS; ++ds)
      [[unroll]] for (uint e = 0u; e < 8u; ++e) {
        uint idx = lane + e * lanes;
        int r = r0 + int(sg * 16u + idx / 16u), d = ds * 16 + int(idx % 16u);
        uint qrow = uint(q0 + r / G) * uint(pc.Hq) + uint(hkv * G + r % G);
        o[ds][e] = carried && ds < nds && idx < 256u && r < Tn * G ? part_o[qrow * uint(D) + uint(d)] : 0.0;
      }

    // This lane's softmax row (lanes 0..15 of each subgroup).
    const int my_r = r0 + int(sg) * 16 + int(lane);
    const bool my_live = lane < 16u && my_r < Tn * G;
    const int my_vis = my_live ? att_visible(my_r / G, Tn, Sn) : 0;

    for (int j0 = kb; j0 < ke; j0 += FC_BC) {
      const int nk = min(FC_BC, ke - j0);
      barrier(); // everyone is done with sx (the Q tile, or the previous K / V)
      [[unroll]] for (int it = 0; it < FC_STAGE; ++it) {
        int i = int(tid) + it * WG;
        if (i < 2 * FC_BC * D) {
          int which = i / (FC_BC * D), e = i - which * FC_BC * D;
          int jj = e / D, dd = e - jj * D;
          float x = jj < nk ? att_load(which, kv_base + uint(j0 + jj) * kv_stride + uint(dd)) : 0.0;
          sx[uint(which * FC_BC + jj) * uint(FC_SD) + uint(dd)] = float16_t(x);
        }
      }
      barrier();
      F32MAT s = F32_ZERO;
      [[unroll]] for (int ds = 0; ds < FC_DS; ++ds) {
        if (ds < nds) {
          F16MAT kt;
          LOAD_SX(kt, uint(ds * 16), uint(FC_SD), true); // K^T: column-major [d][key]
          s = MULADD(qf[ds], kt, s);
        }
      }
      STORE_PATCH(s, sg * 256u);
      sg_sync();
      if (lane < 16u) {
        const uint rl = sg * 16u + lane;
        float m = row_m[rl], m_new = m, alpha = 1.0;
        float sv[FC_BC];
        [[unroll]] for (int jj = 0; jj < FC_BC; ++jj) {
          // The scale multiplies the finished dot product, as in the reference.
          bool seen = my_live && jj < nk && j0 + jj < my_vis;
          sv[jj] = seen ? pc.scale * sg_patch[sg * 256u + lane * 16u + uint(jj)] : ATT_NEG_INF;
          m_new = max(m_new, sv[jj]);
        }
        float sum = 0.0;
        [[unroll]] for (int jj = 0; jj < FC_BC; ++jj) {
          // exp(-inf) is not pinned down by GLSL's precision rules: masked keys are explicit.
          float16_t p = sv[jj] == ATT_NEG_INF ? float16_t(0.0) : float16_t(exp(sv[jj] - m_new));
          sp[(sg * 16u + lane) * uint(FC_SP) + uint(jj)] = p;
          sum = sum + float(p);
        }
        if (m_new != ATT_NEG_INF) {
          alpha = m == ATT_NEG_INF ? 0.0 : exp(m - m_new);
          row_l[rl] = row_l[rl] * alpha + sum;
          row_m[rl] = m_new;
        }
        row_alpha[rl] = alpha;
      }
      sg_sync();
      F16MAT pm;
      LOAD_SP(pm, sg * 16u * uint(FC_SP), uint(FC_SP));
      [[unroll]] for (int ds = 0; ds < FC_DS; ++ds) {
        if (ds < nds) {
          F16MAT vm;
          LOAD_SX(vm, uint(FC_BC * FC_SD + ds * 16), uint(FC_SD), false); // V [key][d]
          F32MAT pv = MULADD(pm, vm, F32_ZERO);
          sg_sync(); // the previous slice's sg_patch has been read
          STORE_PATCH(pv, sg * 256u);
          sg_sync();
          [[unroll]] for (uint e = 0u; e < 8u; ++e) {
            uint idx = lane + e * lanes;
            if (idx < 256u)
              o[ds][e] = o[ds][e] * row_alpha[sg * 16u + idx / 16u] + sg_patch[sg * 256u + idx];
          }
        }
      }
      sg_sync();
    }

    if (ke < k_hi) {
      // Not this unit's last window: the state for the next one (the rows' statistics were
      // written by lanes 0..15 of this subgroup, the same lanes that store them).
      [[unroll]] for (int ds = 0; ds < FC_DS; ++ds)
        [[unroll]] for (uint e = 0u; e < 8u; ++e) {
          uint idx = lane + e * lanes;
          int r = r0 + int(sg * 16u + idx / 16u), d = ds * 16 + int(idx % 16u);
          if (ds < nds && idx < 256u && r < Tn * G) {
            uint qrow = uint(q0 + r / G) * uint(pc.Hq) + uint(hkv * G + r % G);
            part_o[qrow * uint(D) + uint(d)] = o[ds][e];
          }
        }
      if (my_live) {
        uint qrow = uint(q0 + my_r / G) * uint(pc.Hq) + uint(hkv * G + my_r % G);
        part_ml[qrow * 2u] = row_m[sg * 16u + lane];
        part_ml[qrow * 2u + 1u] = row_l[sg * 16u + lane];
      }
    } else {
      [[unroll]] for (int ds = 0; ds < FC_DS; ++ds)
        [[unroll]] for (uint e = 0u; e < 8u; ++e) {
          uint idx = lane + e * lanes, rl = sg * 16u + idx / 16u;
          int r = r0 + int(rl), d = ds * 16 + int(idx % 16u);
          if (ds < nds && idx < 256u && r < Tn * G) {
            uint qrow = uint(q0 + r / G) * uint(pc.Hq) + uint(hkv * G + r % G);
            uint at = qrow * uint(D) + uint(d);
            float l = row_l[rl];
            float od = l > 0.0 ? o[ds][e] / l : 0.0;
            if ((pc.flags & ATT_FLAG_GATE) != 0) od = od * (1.0 / (1.0 + exp(-gate_buf[at])));
            o_buf[at] = isnan(od) ? uintBitsToFloat(0x7FC00000u) : od;
          }
        }
      if (my_live && (pc.flags & ATT_FLAG_LSE) != 0) {
        uint qrow = uint(q0 + my_r / G) * uint(pc.Hq) + uint(hkv * G + my_r % G);
        float l = row_l[sg * 16u + lane], x = l > 0.0 ? row_m[sg * 16u + lane] + log(l) : ATT_NEG_INF;
        lse_buf[qrow] = isnan(x) ? uintBitsToFloat(0x7FC00000u) : x;
      }
    }
    int runs = 0; // the canary (see the header)
    for (int x = 0; x < pc.two; ++x) ++runs;
    if (runs != pc.two) atomicOr(lse_words[pc.rows], 1u);
  }
}
