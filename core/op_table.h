// The table of operations, written once: one row per operation of tessera/ops.h and
// tessera/weights.h. Include it with the row macros defined; each one left undefined expands to
// nothing, and all are undefined again at the end (an X-macro table, included many times).
//
//   TESSERA_OP(name, inputs, params, outputs, ref)
//     An operation that also runs by name. Every row has the free function tessera::name
//     (ops.h), the member Context::name (context.h), the C function tessera_name (tessera.h),
//     and the by-name adapter detail::named_name (host/src/named.h, defined in ops_*.cpp),
//     which run_named_op, krun and kbench reach through named_ops(). inputs, params and outputs
//     are the by-name help text (tensor names with dtypes and shapes, KEY=VALUE choices, output
//     names); ref is the CPU reference that defines it (and the argument struct, if any).
//   TESSERA_API_OP(name, cpp)
//     An operation reached through Context::name and tessera_name only: its by-name form is
//     another row's (gemm_fp8 with block scales), or it takes a packed weight, which no
//     safetensors file holds. cpp says which C++ function it is.
//   TESSERA_HOST_OP(name, cpp)
//     A host-memory layout conversion of weights.h: no device, so no Context member; the free
//     function tessera::name and the C function tessera_name.
//
// tests/test_op_table.cpp checks that every row has all of these; docs/architecture.md,
// "Adding an operation", lists the files a new row touches.

#ifndef TESSERA_OP
#define TESSERA_OP(name, inputs, params, outputs, ref)
#endif
#ifndef TESSERA_API_OP
#define TESSERA_API_OP(name, cpp)
#endif
#ifndef TESSERA_HOST_OP
#define TESSERA_HOST_OP(name, cpp)
#endif

// ---- conversions and quantizers (numerics.md sections 1-3) ----------------------------------
TESSERA_OP(convert, "x F32", "to=e4m3|e5m2|e2m1|bf16|f16", "y", "reference/formats.h")
TESSERA_OP(quantize_nvfp4, "x F32/BF16/F16 [R, C]", "recipe=nvfp4|nvfp4-4over6, scale_2=F",
           "x U8, x_scale F8_E4M3, x_scale_2 F32", "reference/quantize.h")
TESSERA_OP(dequantize_nvfp4, "x, x_scale, x_scale_2", "", "y F32", "reference/quantize.h")
TESSERA_OP(quantize_fp8, "x F32/BF16/F16 [R, C]", "recipe=fp8-tensor|fp8-token128|fp8-block128",
           "x F8_E4M3, x_scale F32", "reference/quantize.h")
TESSERA_OP(dequantize_fp8, "x F8_E4M3, x_scale F32", "recipe=fp8-tensor|fp8-token128|fp8-block128",
           "y F32", "reference/quantize.h")

// ---- GEMMs (section 4), C[M, N] = A[M, K] B[N, K]^T ------------------------------------------
TESSERA_OP(gemm_nvfp4, "a, a_scale, a_scale_2, b, b_scale, b_scale_2, [bias]",
           "alpha=F, out=f32|bf16|f16", "c", "reference/gemm.h")
TESSERA_OP(gemm_fp8, "a, a_scale, b, b_scale, [bias]", "out=f32|bf16|f16", "c",
           "reference/gemm.h; block scales run gemm_fp8_block")
TESSERA_API_OP(gemm_fp8_block, "gemm_fp8_block (ops.h); by name: gemm_fp8 with block scales")
TESSERA_OP(gemm_nvfp4_act, "x F32/BF16/F16 [M, K], [a_scale_2], b, b_scale, b_scale_2, [bias]",
           "out=f32|bf16|f16", "c, a_scale_2", "reference/quantize.h then reference/gemm.h")
TESSERA_OP(gemm_fp8_act, "x F32/BF16/F16 [M, K], b F8_E4M3, b_scale F32 (block128), [bias]",
           "out=f32|bf16|f16", "c", "reference/quantize.h (token128) then reference/gemm.h")

// ---- packed weights (weights.h) ----------------------------------------------------------------
TESSERA_API_OP(pack_nvfp4_weight, "pack_nvfp4_weight -> PackedWeight (tessera_packed_weight)")
TESSERA_API_OP(pack_fp8_weight, "pack_fp8_weight -> PackedWeight (tessera_packed_weight)")
TESSERA_API_OP(unpack_weight, "unpack_weight: back to checkpoint layout")
TESSERA_API_OP(gemm_nvfp4_packed, "gemm_nvfp4(a, a_scale, const PackedWeight&, ...)")
TESSERA_API_OP(gemm_fp8_packed, "gemm_fp8(a, const PackedWeight&, ...)")
TESSERA_API_OP(gemm_fp8_block_packed, "gemm_fp8_block(a, a_scale, const PackedWeight&, ...)")
TESSERA_HOST_OP(to_swizzled_scales, "to_swizzled_scales: linear -> 128x4 swizzled block scales")
TESSERA_HOST_OP(from_swizzled_scales, "from_swizzled_scales: 128x4 swizzled -> linear block scales")

// ---- Gated DeltaNet, its short convolution, gated attention (sections 5-6) --------------------
TESSERA_OP(deltanet, "q, k, v, g, beta (or a, b, A_log, dt_bias), [h0], [cu_seqlens]",
           "scale=F, l2norm=0|1, out=f32|bf16|f16", "o, ht", "DeltaNetArgs; reference/deltanet.h")
TESSERA_OP(conv1d, "x, w, [bias], [state]", "out=f32|bf16|f16", "y, state", "reference/conv1d.h")
TESSERA_OP(attention, "q, k, v, [gate], [k_scale], [v_scale], [cu_seqlens_q, cu_seqlens_k]",
           "causal=0|1, scale=F, out=f32|bf16|f16, lse=0|1", "o, [lse]",
           "AttentionArgs; reference/attention.h")

#undef TESSERA_OP
#undef TESSERA_API_OP
#undef TESSERA_HOST_OP
