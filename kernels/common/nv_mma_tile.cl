// The tile body of the NVIDIA tensor-core GEMMs (kernels/gemm/nvfp4_mma.cl and fp8_mma.cl,
// in both of its forms): C [M, N] = A [M, K] * B [N, K]^T, numerics.md section 4, conformance
// BOUNDED (fp32 accumulation on matrix units; the bound is in host/src/opencl/variants.cpp and
// docs/numerics.md "Tensor-core GEMM variants").
//
// A work-group of 256 work-items (8 warps of 32) owns a TILE_M x TILE_N = 128 x 64 tile of C
// (grid-stride over tiles, M fastest); warp w owns the 32 x 32 sub-tile at rows (w % 4) * 32,
// columns (w / 4) * 32: 2 x 4 fragments of m16n8. Each step stages a TILE_K = 32 slice of A and
// B into local memory as 32-bit words, already converted to the mma operand format:
//   NV_MMA_OPERAND_F16 (NVFP4 and E4M3 through fp16): two fp16 a word. The conversion is exact:
//     an E4M3 value is I * 2^-9 with at most 4 significant bits and 2^-9 <= |x| <= 448; an NVFP4
//     element with its block scale folded in is (J * I_s) * 2^-10 with J * I_s an integer of at
//     most 6 significant bits (J: 2, I_s: 4) and 2^-10 <= |x| <= 6 * 448 = 2688, inside fp16's
//     11 significant bits, 2^-24 resolution and 65504 range. So every product is exact in fp32
//     and the only rounding left is the fp32 accumulation.
//   NV_MMA_OPERAND_E4M3 (fp8_mma.cl built for nv_mma_e4m3): four E4M3 codes a word, for mma .e4m3 (cc >= 8.9).
// NaN codes (an E4M3 operand 0x7F / 0xFF, an NVFP4 block scale 0x7F / 0xFF) are staged as 0 and
// raise a flag for their row of A or column of B; flagged outputs become NaN at the end, so NaN
// placement is the reference's whatever the matrix unit does with NaN.
//
// With TESSERA_NV_INLINE_PTX (host prelude: NVIDIA's OpenCL only) each warp issues
// mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 (or m16n8k32 ... .e4m3.e4m3 ...) on
// fragments read from local memory in the PTX ISA's register layouts (lane = 4 * group + t:
// A rows group / group + 8, k pairs 2t (+8); B column group; C rows group / group + 8, columns
// 2t, 2t + 1). Without it the portable branch computes the same accumulator elements in fp32,
// k ascending, one RN add per exact product: PoCL builds it, the conformance of the tile logic
// (staging, ragged edges, epilogue) is tested on it, and the registry never picks it there.
// Summation order (what tests/test_gemm_tensor_core.cpp emulates to justify the bound): each
// TILE_K step's 32 products are summed from zero (by the matrix unit, or k ascending in fp32),
// and that partial is added to the running fp32 sum with one RN add, steps in K order.
//
// Block-scaled FP8 (BLOCK_SCALED argument): each 128-wide K block is accumulated on its own
// (TILE_K divides 128), then folded as tot = RN(tot + RN(RN(blk * sa[m, kb]) * sb[n / 128, kb])),
// kb ascending, the reference's outer order; the per-tensor forms end in c = RN(acc * alpha)
// (acc carries the 2^-20 / 2^-18 unit already, since the operands are real values).
//
// Defines (set by the including file unless noted):
//   WG_SIZE (the host's build option) must be NVM_WG (gemm/geometry.h): 8 warps, the layout above.
//   NV_MMA_OPERAND_E4M3 0: 1 stages E4M3 bytes for the .e4m3 mma, 0 stages fp16.
//   NV_MMA_NVFP4 0: 1 when A and B are NVFP4 (packed E2M1 + E4M3 block-16 scales), else E4M3.
//   TESSERA_NV_INLINE_PTX 0 (host prelude): 1 takes the mma.sync path.
//   LOCAL_BYTES (host build option, the record's manifest local_bytes, which the registry
//     compared with the device): the build fails where the tiles below need more.
#ifndef TESSERA_COMMON_NV_MMA_TILE_CL
#define TESSERA_COMMON_NV_MMA_TILE_CL

#pragma OPENCL FP_CONTRACT OFF

#include "gemm/geometry.h"

#ifndef WG_SIZE
#define WG_SIZE NVM_WG // work-items per group (the host's launch size)
#endif
#ifndef NV_MMA_OPERAND_E4M3
#define NV_MMA_OPERAND_E4M3 0 // 1: .e4m3 mma operands (4 a word); 0: fp16 (2 a word)
#endif
#ifndef NV_MMA_NVFP4
#define NV_MMA_NVFP4 0 // 1: NVFP4 operands; 0: E4M3 operands
#endif

#if WG_SIZE != NVM_WG
#error "nv_mma_tile.cl: the warp layout needs WG_SIZE == NVM_WG (8 warps of 32)"
#endif
#if NV_MMA_OPERAND_E4M3 && NV_MMA_NVFP4
#error "nv_mma_tile.cl: NVFP4 operands go through fp16, not the .e4m3 mma"
#endif

#include "common/gemm_common.cl"

// NVM_TILE_M x NVM_TILE_N: gemm/geometry.h.
#define NVM_TILE_K 32
#if NV_MMA_OPERAND_E4M3
#define NVM_EPW 4  // operand elements per staged word
#define NVM_KSTEP 32 // K of one mma
#else
#define NVM_EPW 2
#define NVM_KSTEP 16
#endif
#define NVM_KWORDS (NVM_TILE_K / NVM_EPW)
// Row stride in words: the pad of 4 puts the 8 rows x 4 columns a fragment load touches in 32
// distinct banks (strides 20 and 12 words).
#define NVM_KS (NVM_KWORDS + 4)
// What a kernel declares: As, Bs (rows of NVM_KS words) and the NaN flags nan_a, nan_b.
#if defined(LOCAL_BYTES) && (NVM_TILE_M + NVM_TILE_N) * (NVM_KS + 1) * 4 > LOCAL_BYTES
#error "nv_mma_tile.cl: the tiles need more local memory than the manifest's local_bytes"
#endif

// One staged operand element (row `row` of A or B, column k) as its mma bits: fp16 bits or the
// E4M3 code; 0 outside the matrix. Sets *nan for a NaN code (the operand itself stays 0).
uint nvm_element(__global const uchar* q, __global const uchar* s, int row, int rows, int k,
                 int K, int* nan) {
  if (row >= rows || k >= K) return 0u;
#if NV_MMA_NVFP4
  uint byte = q[(ulong)row * (ulong)(K / 2) + (ulong)(k / 2)];
  uint sc = s[(ulong)row * (ulong)(K / 16) + (ulong)(k / 16)];
  if (tsr_e4m3_is_nan(sc)) {
    *nan = 1;
    return 0u;
  }
  int j = tsr_e2m1_int((k & 1) != 0 ? byte >> 4 : byte & 0xFu);
  // (J / 2) * (I_s * 2^-9): an integer below 2^22 times 2^-10, exact in fp32 and in fp16.
  return (uint)tsr_f32_to_f16((float)(j * tsr_e4m3_int(sc)) * 0x1p-10f);
#else
  (void)s;
  uint code = q[(ulong)row * (ulong)K + (ulong)k];
  if (tsr_e4m3_is_nan(code)) {
    *nan = 1;
    return 0u;
  }
#if NV_MMA_OPERAND_E4M3
  return code;
#else
  return (uint)tsr_f32_to_f16((float)tsr_e4m3_int(code) * 0x1p-9f);
#endif
#endif
}

// Stages rows row0.. of one operand for K columns k0..k0 + TILE_K into `dst` [rows][NVM_KS].
void nvm_stage(__local uint* dst, int tile_rows, __global const uchar* q, __global const uchar* s,
               int row0, int rows, int k0, int K, __local int* nan_flags) {
  for (int idx = (int)get_local_id(0); idx < tile_rows * NVM_KWORDS; idx += WG_SIZE) {
    int r = idx / NVM_KWORDS, w = idx % NVM_KWORDS;
    int nan = 0;
    uint word = 0u;
    for (int e = 0; e < NVM_EPW; ++e)
      word |= nvm_element(q, s, row0 + r, rows, k0 + w * NVM_EPW + e, K, &nan) << (e * (32 / NVM_EPW));
    if (nan) nan_flags[r] = 1; // every writer stores the same 1
    dst[r * NVM_KS + w] = word;
  }
}

#if !TESSERA_NV_INLINE_PTX
// Element e of a staged word as fp32 (exact: fp16 or E4M3 values).
float nvm_value(uint word, int e) {
#if NV_MMA_OPERAND_E4M3
  return (float)tsr_e4m3_int((word >> (8 * e)) & 0xFFu) * 0x1p-9f;
#else
  // fp16 bits to fp32 for the finite values staged here (no inf or NaN): |x| = mantissa *
  // 2^(exponent - 25), built from bits; cheaper for PoCL to compile than the general decoder.
  uint h = (word >> (16 * e)) & 0xFFFFu, ex = (h >> 10) & 31u, m = h & 1023u;
  float mag = (float)(ex != 0u ? (m | 1024u) : m) * as_float((uint)(max((int)ex, 1) + 127 - 25) << 23);
  return (h & 0x8000u) != 0u ? -mag : mag;
#endif
}

// The portable branch: row ra of As times column cb of Bs over one mma's K, k ascending.
float nvm_dot(__local const uint* As, __local const uint* Bs, int ra, int cb, int ks, float acc) {
  for (int w = ks * (NVM_KSTEP / NVM_EPW); w < (ks + 1) * (NVM_KSTEP / NVM_EPW); ++w) {
    uint aw = As[ra * NVM_KS + w], bw = Bs[cb * NVM_KS + w];
    for (int e = 0; e < NVM_EPW; ++e) {
      float p = nvm_value(aw, e) * nvm_value(bw, e); // exact: at most 12 significant bits
      acc = acc + p;
    }
  }
  return acc;
}
#endif

// One m16n8 fragment's mma over K step ks: acc[0..3] are C (g, 2t), (g, 2t+1), (g+8, 2t),
// (g+8, 2t+1) of the fragment at rows rm, columns cn of the tile.
void nvm_mma(__local const uint* As, __local const uint* Bs, int rm, int cn, int ks, int lane,
             float* acc) {
  const int g = lane >> 2, t = lane & 3;
#if TESSERA_NV_INLINE_PTX
  const int hw = NVM_KSTEP / NVM_EPW / 2; // words from k to k + KSTEP / 2
  const int w0 = ks * (NVM_KSTEP / NVM_EPW) + t;
  uint a0 = As[(rm + g) * NVM_KS + w0], a1 = As[(rm + g + 8) * NVM_KS + w0];
  uint a2 = As[(rm + g) * NVM_KS + w0 + hw], a3 = As[(rm + g + 8) * NVM_KS + w0 + hw];
  uint b0 = Bs[(cn + g) * NVM_KS + w0], b1 = Bs[(cn + g) * NVM_KS + w0 + hw];
#if NV_MMA_OPERAND_E4M3
  asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
               : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
               : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#else
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
               : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
               : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#endif
#else
  acc[0] = nvm_dot(As, Bs, rm + g, cn + 2 * t, ks, acc[0]);
  acc[1] = nvm_dot(As, Bs, rm + g, cn + 2 * t + 1, ks, acc[1]);
  acc[2] = nvm_dot(As, Bs, rm + g + 8, cn + 2 * t, ks, acc[2]);
  acc[3] = nvm_dot(As, Bs, rm + g + 8, cn + 2 * t + 1, ks, acc[3]);
#endif
}

// Tile row / column (within the tile) of accumulator element e of fragment (i, j).
#define NVM_ROW(wm, i, g, e) ((wm) * 32 + (i) * 16 + (g) + ((e) >> 1) * 8)
#define NVM_COL(wn, j, t, e) ((wn) * 32 + (j) * 8 + 2 * (t) + ((e) & 1))

// The whole GEMM. a_scale / b_scale: the NVFP4 block scales (E4M3 bytes) when NV_MMA_NVFP4;
// sa / sb: the FP8 block scales (fp32) when BLOCK_SCALED; alpha: the per-tensor forms' scale.
void nvm_gemm(__global const uchar* a, __global const uchar* a_scale, __global const float* sa,
              __global const uchar* b, __global const uchar* b_scale, __global const float* sb,
              int M, int N, int K, float alpha, __global const float* bias, int has_bias,
              int out_type, __global uchar* c, const int BLOCK_SCALED, __local uint* As,
              __local uint* Bs, __local int* nan_a, __local int* nan_b) {
  const int lid = (int)get_local_id(0), lane = lid & 31, warp = lid >> 5;
  const int wm = warp % 4, wn = warp / 4, g = lane >> 2, t = lane & 3;
  const int tiles_m = (M + NVM_TILE_M - 1) / NVM_TILE_M, tiles_n = (N + NVM_TILE_N - 1) / NVM_TILE_N;
  const int kbs = (K + 127) / 128;

  for (int tile = (int)get_group_id(0); tile < tiles_m * tiles_n; tile += (int)get_num_groups(0)) {
    const int m0 = (tile % tiles_m) * NVM_TILE_M, n0 = (tile / tiles_m) * NVM_TILE_N;
    for (int i = lid; i < NVM_TILE_M; i += WG_SIZE) nan_a[i] = 0;
    for (int i = lid; i < NVM_TILE_N; i += WG_SIZE) nan_b[i] = 0;
    float acc[2][4][4], tot[2][4][4];
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 4; ++j)
        for (int e = 0; e < 4; ++e) acc[i][j][e] = tot[i][j][e] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += NVM_TILE_K) {
      barrier(CLK_LOCAL_MEM_FENCE); // the previous step's reads (and the flag reset) are done
      nvm_stage(As, NVM_TILE_M, a, a_scale, m0, M, k0, K, nan_a);
      nvm_stage(Bs, NVM_TILE_N, b, b_scale, n0, N, k0, K, nan_b);
      barrier(CLK_LOCAL_MEM_FENCE);
      // Each step's TILE_K products are summed by the matrix unit from zero, then added to acc
      // in IEEE fp32 here: the unit's own (architecture-defined, on some parts truncating or
      // narrower than fp32) accumulation then only ever spans 32 products.
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 4; ++j) {
          float part[4] = {0.0f, 0.0f, 0.0f, 0.0f};
          for (int ks = 0; ks < NVM_TILE_K / NVM_KSTEP; ++ks)
            nvm_mma(As, Bs, wm * 32 + i * 16, wn * 32 + j * 8, ks, lane, part);
          for (int e = 0; e < 4; ++e) acc[i][j][e] = acc[i][j][e] + part[e];
        }

      if (BLOCK_SCALED && ((k0 + NVM_TILE_K) % 128 == 0 || k0 + NVM_TILE_K >= K)) {
        const int kb = k0 / 128;
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 4; ++j)
            for (int e = 0; e < 4; ++e) {
              int gm = m0 + NVM_ROW(wm, i, g, e), gn = n0 + NVM_COL(wn, j, t, e);
              float sai = gm < M ? sa[(ulong)gm * (ulong)kbs + (ulong)kb] : 0.0f;
              float sbj = gn < N ? sb[(ulong)(gn / 128) * (ulong)kbs + (ulong)kb] : 0.0f;
              float v = acc[i][j][e] * sai;
              v = v * sbj;
              tot[i][j][e] = tot[i][j][e] + v;
              acc[i][j][e] = 0.0f;
            }
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE); // flags complete (also when K == 0)

    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 4; ++j)
        for (int e = 0; e < 4; ++e) {
          int r = NVM_ROW(wm, i, g, e), cl = NVM_COL(wn, j, t, e);
          int gm = m0 + r, gn = n0 + cl;
          if (gm < M && gn < N) {
            float v = BLOCK_SCALED ? tot[i][j][e] : acc[i][j][e] * alpha;
            if (nan_a[r] | nan_b[cl]) v = as_float(TSR_F32_QNAN);
            tsr_gemm_store(v, bias, has_bias, (ulong)gn, out_type, c, (ulong)gm * (ulong)N + (ulong)gn);
          }
        }
    barrier(CLK_LOCAL_MEM_FENCE); // the flags are read before the next tile resets them
  }
}

#endif // TESSERA_COMMON_NV_MMA_TILE_CL
