// quantize_nvfp4, variant "block16": the nvfp4 and nvfp4-4over6 recipes of numerics.md section 3.
//   1. amax_partial + amax_finalize (common/amax_reduce.cl): scale_2 = RN(amax / 2688), or
//      RN(amax / 1536) for 4over6, 1.0 when amax == 0, or the caller's static value; and the
//      first non-finite index, which the host turns into the NonFinite error.
//   2. nvfp4_quantize_blocks: one work-item per block of 16 (grid-stride, 64-bit block index).
//      Each block is read whole into private memory and quantized exactly as
//      reference/quantize.cpp does: every operation a single RN fp32 operation in the same order,
//      division IEEE (-cl-fp32-correctly-rounded-divide-sqrt), no contraction (FP_CONTRACT OFF).
//      4over6 quantizes twice (block max to 6, then to 4) and keeps the second candidate only when
//      its squared error, summed in index order, is strictly smaller.
// Output: q packed two codes a byte, element 2i in the low nibble; scale one E4M3 per block,
// row-major, which for rows made of whole blocks is the flat block index.
//
// One work-item per block keeps the error sums in the reference's order without any exchange;
// a block is 64 contiguous bytes, so reads are not coalesced on GPUs. A version with one
// work-item per element and a 16-lane exchange would read coalesced; not written yet.
//
// Conformance: exact. Defines: WG_SIZE (common/amax_reduce.cl).
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG_SIZE
#define WG_SIZE 256 // work-items per group; a power of two for the tree reductions
#endif

#include "common/amax_reduce.cl"
#include "common/formats.cl"

#define TSR_NVFP4_BLOCK 16

// Steps 2-3 of the recipe for one block and one divisor (6, or 4 for 4over6's second candidate):
// writes the 16 E2M1 codes and returns the E4M3 scale code.
uchar tsr_nvfp4_block(const float* xb, float bamax, float scale_2, float divisor, uchar* codes) {
  // 1.0 (0x38) when the fp32 quotient is exactly 0, as ModelOpt does: an all-zero block, or one
  // whose quotient underflows (reference/quantize.cpp); bamax == 0 also covers scale_2 == 0.
  uchar s = (uchar)0x38;
  float v = bamax / (divisor * scale_2);
  if (as_uint(bamax) != 0u && as_uint(v) != 0u) {
    // std::clamp(v, 2^-9, 448) as the reference evaluates it (a NaN would pass through).
    v = v < 0x1p-9f ? 0x1p-9f : (448.0f < v ? 448.0f : v);
    s = tsr_f32_to_e4m3(v);
  }
  float d = tsr_e4m3_to_f32(s) * scale_2;
  for (int i = 0; i < TSR_NVFP4_BLOCK; ++i)
    codes[i] = tsr_f32_to_e2m1(xb[i] / d);
  return s;
}

float tsr_nvfp4_block_error(const float* xb, const uchar* codes, uchar scale, float scale_2) {
  float s = tsr_e4m3_to_f32(scale);
  float e = 0.0f;
  for (int i = 0; i < TSR_NVFP4_BLOCK; ++i) {
    float deq = (tsr_e2m1_to_f32(codes[i]) * s) * scale_2;
    float diff = xb[i] - deq;
    e += diff * diff;
  }
  return e;
}

__kernel void nvfp4_quantize_blocks(__global const float* x, ulong nblocks,
                                    __global const float* scale_2_buf, int four_over_six,
                                    __global uchar* q, __global uchar* scale) {
  float scale_2 = scale_2_buf[0];
  for (ulong b = get_global_id(0); b < nblocks; b += get_global_size(0)) {
    float xb[TSR_NVFP4_BLOCK];
    uint bmax = 0u; // max |x| as bits, exact for the finite inputs that reach here
    for (int i = 0; i < TSR_NVFP4_BLOCK; ++i) {
      xb[i] = x[b * TSR_NVFP4_BLOCK + (ulong)i];
      bmax = max(bmax, as_uint(xb[i]) & 0x7FFFFFFFu);
    }
    float bamax = as_float(bmax);
    uchar codes[TSR_NVFP4_BLOCK];
    uchar s = tsr_nvfp4_block(xb, bamax, scale_2, 6.0f, codes);
    if (four_over_six) {
      uchar codes_b[TSR_NVFP4_BLOCK];
      uchar sb = tsr_nvfp4_block(xb, bamax, scale_2, 4.0f, codes_b);
      if (tsr_nvfp4_block_error(xb, codes_b, sb, scale_2) <
          tsr_nvfp4_block_error(xb, codes, s, scale_2)) {
        s = sb;
        for (int i = 0; i < TSR_NVFP4_BLOCK; ++i)
          codes[i] = codes_b[i];
      }
    }
    scale[b] = s;
    for (int i = 0; i < TSR_NVFP4_BLOCK / 2; ++i)
      q[b * (TSR_NVFP4_BLOCK / 2) + (ulong)i] = (uchar)(codes[2 * i] | (codes[2 * i + 1] << 4));
  }
}
