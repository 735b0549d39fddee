// The table of operations, written once: one row per operation of tessera/ops.h and
// tessera/weights.h. Include it with the row macros defined; each one left undefined expands to
// nothing, and all are undefined again at the end (an X-macro table, included many times).
//
//   TESSERA_OP(name, ret, sig, doc, inputs, params, outputs, ref)
//     An operation with a typed form and a by-name form. `ret` and `sig` are its typed
//     signature in the small type language below; `doc` says what the arguments must be.
//     tools/gen_api.cpp writes from them the free function's declaration tessera::name (ops.h),
//     the member Context::name (context.h, context.cpp) and the C function tessera_name
//     (tessera.h, c_api.cpp); `make api` rewrites those regions and a test fails while they
//     differ from the table. inputs, params and outputs are the by-name help text (tensor names
//     with dtypes and shapes, KEY=VALUE choices, output names), shown by krun and kbench and
//     run through run_named_op by the adapter detail::named_name (defined in ops_<family>.cpp);
//     ref is the CPU reference that defines the operation.
//   TESSERA_TYPED_OP(name, cpp, ret, sig, doc)
//     The typed form only, generated as above: its by-name form is another row's (gemm_fp8 with
//     block scales), or it takes a packed weight, which no safetensors file holds. cpp is the
//     free function it is (the GEMMs on a packed weight overload ops.h's, in weights.h).
//   TESSERA_PACK_OP(name, cpp)
//     Builds or reads a PackedWeight handle (weights.h): written by hand, as the free function,
//     the Context member and the C function, because the handle's ownership is not a tensor's.
//   TESSERA_HOST_OP(name, cpp)
//     A host-memory layout conversion of weights.h: no device, so no Context member; the free
//     function tessera::name and the C function tessera_name, by hand.
//
// The type language of ret and sig (tools/gen_api.cpp maps each to C++, to C and back):
//   tensor x          const TensorView&                 const tessera_tensor* (NULL refused)
//   tensor? x         const std::optional<TensorView>&  const tessera_tensor* (NULL: absent)
//   tensor? x = none  as tensor?, defaulted to absent in C++
//   f32 x / f32? x    float / std::optional<float>      float / const float* (NULL: absent)
//   format, nvfp4_recipe, fp8_recipe                    the enums Format, Nvfp4Recipe, Fp8Recipe
//   deltanet_args, attention_args                       DeltaNetArgs, AttentionArgs by reference
//   packed_weight x   const PackedWeight&               const tessera_packed_weight*
//   ret "void", or "f32 name": a float result, which C returns through a last `float* name`.
// Every typed form also takes `const RunOptions& = {}, RunInfo* = nullptr` last.
//
// tests/test_op_table.cpp checks the generated code is current, and that everything that lists
// operations (named_ops, krun, kbench, the headers, docs/interfaces.md) agrees with the table;
// docs/architecture.md, "Adding an operation", lists the files a new row touches.

#ifndef TESSERA_OP
#define TESSERA_OP(name, ret, sig, doc, inputs, params, outputs, ref)
#endif
#ifndef TESSERA_TYPED_OP
#define TESSERA_TYPED_OP(name, cpp, ret, sig, doc)
#endif
#ifndef TESSERA_PACK_OP
#define TESSERA_PACK_OP(name, cpp)
#endif
#ifndef TESSERA_HOST_OP
#define TESSERA_HOST_OP(name, cpp)
#endif

// ---- conversions and quantizers (numerics.md sections 1-3) ----------------------------------
TESSERA_OP(convert, "void", "tensor x, format to, tensor y",
           "x: F32 [...]. y: the same shape; dtype F8_E4M3, F8_E5M2, U8 (one E2M1 code per byte),\n"
           "BF16 or F16, as `to` says.",
           "x F32", "to=e4m3|e5m2|e2m1|bf16|f16", "y", "reference/formats.h")
TESSERA_OP(quantize_nvfp4, "f32 scale_2",
           "tensor x, nvfp4_recipe recipe, f32? static_scale_2, tensor q, tensor scale",
           "x: F32/BF16/F16 [R, C], C % 16 == 0, all finite. q: U8 [R, C/2]. scale: F8_E4M3\n"
           "[R, C/16]. static_scale_2: the checkpoint's input_scale (finite, > 0); absent, scale_2\n"
           "is computed. Returns scale_2.",
           "x F32/BF16/F16 [R, C]", "recipe=nvfp4|nvfp4-4over6, scale_2=F",
           "x U8, x_scale F8_E4M3, x_scale_2 F32", "reference/quantize.h")
TESSERA_OP(dequantize_nvfp4, "void", "tensor q, tensor scale, f32 scale_2, tensor y",
           "q: U8 [R, C/2], scale: F8_E4M3 [R, C/16], y: F32 [R, C].",
           "x, x_scale, x_scale_2", "", "y F32", "reference/quantize.h")
TESSERA_OP(quantize_fp8, "void", "tensor x, fp8_recipe recipe, tensor q, tensor scales",
           "x: F32/BF16/F16 [R, C], all finite. q: F8_E4M3 [R, C]. scales: F32 [] (tensor; [1]\n"
           "also accepted), [R, ceil(C/128)] (token128), [ceil(R/128), ceil(C/128)] (block128).",
           "x F32/BF16/F16 [R, C]", "recipe=fp8-tensor|fp8-token128|fp8-block128",
           "x F8_E4M3, x_scale F32", "reference/quantize.h")
TESSERA_OP(dequantize_fp8, "void", "tensor q, tensor scales, fp8_recipe recipe, tensor y",
           "y: F32 [R, C] = RN(e4m3(q) * the scale of its group); q and scales as quantize_fp8.",
           "x F8_E4M3, x_scale F32", "recipe=fp8-tensor|fp8-token128|fp8-block128", "y F32",
           "reference/quantize.h")

// ---- GEMMs (section 4), C[M, N] = A[M, K] B[N, K]^T ------------------------------------------
TESSERA_OP(gemm_nvfp4, "void",
           "tensor a, tensor a_scale, tensor b, tensor b_scale, f32 alpha, tensor? bias, tensor c",
           "C[M, N] = alpha * A[M, K] B[N, K]^T (+ bias). a: U8 [M, K/2], a_scale: F8_E4M3\n"
           "[M, K/16]; b, b_scale likewise with N. K % 16 == 0, K <= 65536. alpha carries\n"
           "a_scale_2 * b_scale_2. bias: F32 [N]. c: F32/BF16/F16 [M, N].",
           "a, a_scale, a_scale_2, b, b_scale, b_scale_2, [bias]", "alpha=F, out=f32|bf16|f16", "c",
           "reference/gemm.h")
TESSERA_OP(gemm_fp8, "void", "tensor a, tensor b, f32 alpha, tensor? bias, tensor c",
           "a: F8_E4M3 [M, K], b: F8_E4M3 [N, K]; the per-tensor scales folded into alpha. bias:\n"
           "F32 [N]. c: F32/BF16/F16 [M, N].",
           "a, a_scale, b, b_scale, [bias]", "out=f32|bf16|f16", "c",
           "reference/gemm.h; block scales run gemm_fp8_block")
TESSERA_TYPED_OP(gemm_fp8_block, gemm_fp8_block, "void",
                 "tensor a, tensor a_scale, tensor b, tensor b_scale, tensor? bias, tensor c",
                 "Block-scaled FP8 (by name: gemm_fp8 with block scales). a_scale: F32\n"
                 "[M, ceil(K/128)], b_scale: F32 [ceil(N/128), ceil(K/128)]; the rest as gemm_fp8.")
TESSERA_OP(gemm_nvfp4_act, "f32 a_scale_2_used",
           "tensor x, f32? a_scale_2, tensor b, tensor b_scale, f32 b_scale_2, tensor? bias, tensor c",
           "gemm_nvfp4 with the activation quantized in front: bit-exact with quantize_nvfp4\n"
           "(recipe nvfp4) followed by gemm_nvfp4 with alpha = RN(a_scale_2 * b_scale_2). x:\n"
           "F32/BF16/F16 [M, K], finite, K % 16 == 0, K <= 65536. a_scale_2: the static activation\n"
           "scale_2 (the checkpoint's input_scale; finite, > 0), or absent for the dynamic one,\n"
           "RN(amax(x) / 2688). b, b_scale as gemm_nvfp4; b_scale_2: finite, > 0. Returns the\n"
           "activation scale_2 used. On a device the quantized activations never leave it.",
           "x F32/BF16/F16 [M, K], [a_scale_2], b, b_scale, b_scale_2, [bias]", "out=f32|bf16|f16",
           "c, a_scale_2", "reference/quantize.h then reference/gemm.h")
TESSERA_OP(gemm_fp8_act, "void", "tensor x, tensor b, tensor b_scale, tensor? bias, tensor c",
           "Bit-exact with quantize_fp8 (recipe fp8-token128: a_scale [M, ceil(K/128)]) followed\n"
           "by gemm_fp8_block. x: F32/BF16/F16 [M, K], finite; b: F8_E4M3 [N, K]; b_scale: F32\n"
           "[ceil(N/128), ceil(K/128)], finite.",
           "x F32/BF16/F16 [M, K], b F8_E4M3, b_scale F32 (block128), [bias]", "out=f32|bf16|f16",
           "c", "reference/quantize.h (token128) then reference/gemm.h")

// ---- packed weights (weights.h) ----------------------------------------------------------------
TESSERA_PACK_OP(pack_nvfp4_weight, "pack_nvfp4_weight -> PackedWeight (tessera_packed_weight)")
TESSERA_PACK_OP(pack_fp8_weight, "pack_fp8_weight -> PackedWeight (tessera_packed_weight)")
TESSERA_PACK_OP(unpack_weight, "unpack_weight: back to checkpoint layout")
TESSERA_TYPED_OP(gemm_nvfp4_packed, gemm_nvfp4, "void",
                 "tensor a, tensor a_scale, packed_weight b, f32 alpha, tensor? bias, tensor c",
                 "gemm_nvfp4 on a packed NVFP4 weight: alpha = a_scale_2 * the weight's scale.")
TESSERA_TYPED_OP(gemm_fp8_packed, gemm_fp8, "void",
                 "tensor a, packed_weight b, f32 alpha, tensor? bias, tensor c",
                 "gemm_fp8 on a packed per-tensor FP8 weight: alpha = a's scale * the weight's scale.")
TESSERA_TYPED_OP(gemm_fp8_block_packed, gemm_fp8_block, "void",
                 "tensor a, tensor a_scale, packed_weight b, tensor? bias, tensor c",
                 "gemm_fp8_block on a packed block128 FP8 weight; a_scale: F32 [M, ceil(K/128)].")
TESSERA_HOST_OP(to_swizzled_scales, "to_swizzled_scales: linear -> 128x4 swizzled block scales")
TESSERA_HOST_OP(from_swizzled_scales, "from_swizzled_scales: 128x4 swizzled -> linear block scales")

// ---- Gated DeltaNet, its short convolution, gated attention (sections 5-6) --------------------
TESSERA_OP(deltanet, "void", "deltanet_args args, tensor o, tensor ht",
           "Gated DeltaNet (DeltaNetArgs). o: F32/BF16/F16 [B, T, HV, Dv]; ht: F32 [N, HV, Dk, Dv],\n"
           "the final state of each sequence.",
           "q, k, v, g, beta (or a, b, A_log, dt_bias), [h0], [cu_seqlens]",
           "scale=F, l2norm=0|1, out=f32|bf16|f16", "o, ht", "DeltaNetArgs; reference/deltanet.h")
TESSERA_OP(conv1d, "void",
           "tensor x, tensor w, tensor? bias, tensor? state, tensor y, tensor state_out",
           "Causal depthwise convolution with SiLU. x: F32/BF16/F16 [B, T, C], w: F32 [C, W],\n"
           "bias: F32 [C], state: F32 [B, C, W - 1] (the previous W - 1 inputs, oldest first;\n"
           "zeros when absent). y: F32/BF16/F16 [B, T, C]; state_out: F32 [B, C, W - 1], the last\n"
           "W - 1 inputs. state_out may alias state.",
           "x, w, [bias], [state]", "out=f32|bf16|f16", "y, state", "reference/conv1d.h")
TESSERA_OP(attention, "void", "attention_args args, tensor o, tensor? lse = none",
           "Gated attention (AttentionArgs). o: F32/BF16/F16 [B, T, Hq, D]. lse (optional): F32\n"
           "[B, T, Hq], the natural log of sum_j exp(s_j).",
           "q, k, v, [gate], [k_scale], [v_scale], [cu_seqlens_q, cu_seqlens_k]",
           "causal=0|1, scale=F, out=f32|bf16|f16, lse=0|1", "o, [lse]",
           "AttentionArgs; reference/attention.h")

#undef TESSERA_OP
#undef TESSERA_TYPED_OP
#undef TESSERA_PACK_OP
#undef TESSERA_HOST_OP
