#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/), small valid inputs the
fuzzers start from, so that the committed files can be regenerated and reviewed:

  python3 tests/fuzz/make_corpus.py

corpus/safetensors/: safetensors files (a few broken on purpose, as starting points).
corpus/krun/: inputs in fuzz_krun.cpp's encoding, one valid call per operation and a few with
huge extents on empty tensors. The tables below mirror fuzz_krun.cpp's.
"""
import json
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- safetensors -----------------------------------------------------------------------------
DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "U8": 1, "I32": 4, "I64": 8, "F8_E4M3": 1, "F8_E5M2": 1}


def st_file(tensors, metadata=None, pad=True, order=None):
    """tensors: [(name, dtype, shape, bytes)]; data laid out in `order` (default: as given)."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    layout = order if order is not None else range(len(tensors))
    offsets = {}
    for i in layout:
        name, dtype, shape, raw = tensors[i]
        offsets[i] = (len(data), len(data) + len(raw))
        data += raw
    for i, (name, dtype, shape, raw) in enumerate(tensors):
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": list(offsets[i])}
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def raw(dtype, shape, rng):
    n = 1
    for d in shape:
        n *= d
    return bytes(rng.randrange(256) for _ in range(n * DTYPE_SIZE[dtype]))


def safetensors_seeds():
    rng = random.Random(1)
    f32 = lambda *v: struct.pack(f"<{len(v)}f", *v)
    seeds = {
        "empty.safetensors": st_file([]),
        "one_f32.safetensors": st_file([("w", "F32", [2, 3], f32(1, 2, 3, -4, 0.5, 1e-3))]),
        "all_dtypes.safetensors": st_file(
            [(f"t_{d.lower()}", d, [2, 2], raw(d, [2, 2], rng)) for d in DTYPE_SIZE],
            metadata={"format": "pt", "note": "seed"}),
        "scalar_and_empty.safetensors": st_file(
            [("scalar", "F32", [], f32(3.5)), ("empty", "BF16", [0, 4], b""),
             ("empty2", "I64", [4, 0, 2], b""), ("v", "I32", [3], struct.pack("<3i", 0, 2, 4))]),
        "reordered.safetensors": st_file(
            [("a", "U8", [4], b"\x01\x02\x03\x04"), ("b", "F16", [2], b"\x00\x3c\x00\xc0"),
             ("c", "F8_E4M3", [1, 2], b"\x38\x40")], order=[2, 0, 1]),
        "model_like.safetensors": st_file(
            [("model.layers.0.mlp.down_proj.weight", "U8", [4, 8], raw("U8", [4, 8], rng)),
             ("model.layers.0.mlp.down_proj.weight_scale", "F8_E4M3", [4, 1], raw("F8_E4M3", [4, 1], rng)),
             ("model.layers.0.mlp.down_proj.weight_scale_2", "F32", [], f32(0.25)),
             ("model.layers.0.mlp.down_proj.input_scale", "F32", [], f32(0.125))],
            metadata={"format": "pt"}),
        "unicode_names.safetensors": st_file(
            [("caf\u00e9", "F32", [1], f32(1)), ("tab\tname", "U8", [1], b"\x07"),
             ("\u6f22\u5b57", "I64", [1], struct.pack("<q", -1))], pad=False),
        "rank8.safetensors": st_file([("r8", "U8", [1, 1, 1, 1, 1, 1, 1, 2], b"\x05\x06")]),
    }
    good = seeds["one_f32.safetensors"]
    # Broken on purpose: the fuzzer starts next to the checks as well as inside them.
    seeds["bad_truncated.safetensors"] = good[:-3]
    seeds["bad_overlap.safetensors"] = (lambda t: struct.pack("<Q", len(t)) + t + bytes(8))(
        b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
        b'"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}')
    seeds["bad_huge_shape.safetensors"] = (lambda t: struct.pack("<Q", len(t)) + t)(
        b'{"a":{"dtype":"F32","shape":[4611686018427387904,0,2],"data_offsets":[0,0]}}')
    return seeds


# ---- krun ------------------------------------------------------------------------------------
OPS = ["convert", "quantize_nvfp4", "dequantize_nvfp4", "quantize_fp8", "dequantize_fp8",
       "gemm_nvfp4", "gemm_fp8", "gemm_nvfp4_act", "gemm_fp8_act", "deltanet", "conv1d",
       "attention"]
KEYS = ["to", "recipe", "scale_2", "alpha", "out", "b_layout", "scale", "l2norm", "causal", "lse",
        "bogus", "", "OUT"]
VALUES = ["0", "1", "f32", "bf16", "f16", "e4m3", "e5m2", "e2m1", "nvfp4", "nvfp4-4over6",
          "fp8-tensor", "fp8-token128", "fp8-block128", "checkpoint", "gemv_kblock_interleaved",
          "0.5", "1e-3", "-1", "nan", "inf", "-inf", "1e39", "", "2", "0x10", " 1", "1 ",
          "3.4028235e38", "1e-45", "-0", "65536", "f8"]
INPUTS = {
    "convert": ["x"], "quantize_nvfp4": ["x"], "dequantize_nvfp4": ["x", "x_scale", "x_scale_2"],
    "quantize_fp8": ["x"], "dequantize_fp8": ["x", "x_scale"],
    "gemm_nvfp4": ["a", "a_scale", "a_scale_2", "b", "b_scale", "b_scale_2", "bias"],
    "gemm_fp8": ["a", "a_scale", "b", "b_scale", "bias"],
    "gemm_nvfp4_act": ["x", "a_scale_2", "b", "b_scale", "b_scale_2", "bias"],
    "gemm_fp8_act": ["x", "b", "b_scale", "bias"],
    "deltanet": ["q", "k", "v", "g", "beta", "a", "b", "A_log", "dt_bias", "h0", "cu_seqlens"],
    "conv1d": ["x", "w", "bias", "state"],
    "attention": ["q", "k", "v", "gate", "k_scale", "v_scale", "cu_seqlens_q", "cu_seqlens_k"],
}
DTYPES = ["F32", "F16", "BF16", "U8", "I32", "I64", "F8_E4M3", "F8_E5M2"]
# Extent bytes 0xC0..0xFF (fuzz_krun.cpp's kExtents); below 0xC0 a byte is its own extent.
I64_MAX = (1 << 63) - 1
EXTENTS = [0, 1, 2, 3, 4, 8, 15, 16, 17, 31, 32, 33, 48, 64, 96, 127,
           128, 129, 192, 255, 256, 257, 384, 512, 1000, 1024, 2048, 4096, 8192, 16384, 32768, 65535,
           65536, 65537, 1 << 20, 1 << 24, 1 << 30, (1 << 31) - 1, 1 << 31, 1 << 32, (1 << 32) + 1,
           1 << 40, 1 << 48, 1 << 52, 1 << 53, 1 << 56, 1 << 60, 1 << 61, (1 << 61) + 1,
           (1 << 62) - 1, 1 << 62, (1 << 62) + 1, 3 << 61, I64_MAX - 1, I64_MAX, -1, -2, -16,
           -(1 << 32), -(1 << 62), -I64_MAX, -I64_MAX - 1, 6, 7]
assert len(EXTENTS) == 64
RAW, NICE, ZERO, REPEAT = 0, 1, 2, 3


def extent(d):
    return bytes([d if 0 <= d < 0xC0 else 0xC0 + EXTENTS.index(d)])


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def krun_input(op, params, tensors, variant=0):
    """params: [(key, value)]; tensors: [(name, dtype, shape, mode)] or with a fifth item, the
    data bytes (RAW: the tensor's bytes, REPEAT: the one byte). NICE data is random bytes, one an
    element (integers: 0, 2, 4, ... as cu_seqlens)."""
    rng = random.Random(OPS.index(op) * 100 + len(tensors))
    out = bytes([OPS.index(op), variant, len(params)])
    for k, v in params:
        out += bytes([KEYS.index(k), VALUES.index(v)])
    out += bytes([len(tensors)])
    for name, dtype, shape, mode, *data in tensors:
        out += bytes([INPUTS[op].index(name), DTYPES.index(dtype), len(shape)])
        out += b"".join(extent(d) for d in shape)
        out += bytes([mode])
        n = numel(shape)
        if data:
            out += data[0]
        elif mode == NICE:
            if dtype in ("I32", "I64"):
                out += bytes([2] * n)
            elif dtype in ("U8", "F8_E4M3", "F8_E5M2"):
                out += bytes(rng.randrange(0x30, 0x48) for _ in range(n))  # finite E4M3 near 1
            else:
                out += bytes(rng.randrange(256) for _ in range(n))
        elif mode == RAW:
            out += bytes(rng.randrange(256) for _ in range(n * DTYPE_SIZE[dtype]))
        elif mode == REPEAT:
            out += b"\x38"  # E4M3 1.0
    return out


ONE = struct.pack("<f", 1.0)


def krun_seeds():
    def t(name, dtype, shape, mode=NICE, *data):
        return (name, dtype, shape, mode, *data)

    def one(name):  # F32 [] holding 1.0
        return (name, "F32", [], RAW, ONE)

    def codes(name, shape):  # NVFP4 codes 0x22: two 1.0s
        return (name, "U8", shape, REPEAT, b"\x22")

    def scales(name, shape):  # E4M3 1.0
        return (name, "F8_E4M3", shape, REPEAT, b"\x38")

    seeds = {
        "convert_bf16": ("convert", [("to", "bf16")], [t("x", "F32", [4, 8])]),
        "convert_e2m1": ("convert", [("to", "e2m1")], [t("x", "F32", [3, 5])]),
        "quantize_nvfp4": ("quantize_nvfp4", [("recipe", "nvfp4-4over6")], [t("x", "BF16", [2, 32])]),
        "quantize_fp8_token": ("quantize_fp8", [("recipe", "fp8-token128")], [t("x", "F32", [2, 128])]),
        "quantize_fp8_block": ("quantize_fp8", [("recipe", "fp8-block128")], [t("x", "F16", [3, 130])]),
        "dequantize_nvfp4": ("dequantize_nvfp4", [],
                             [codes("x", [2, 16]), scales("x_scale", [2, 2]), one("x_scale_2")]),
        "dequantize_fp8": ("dequantize_fp8", [("recipe", "fp8-token128")],
                           [t("x", "F8_E4M3", [2, 128]), t("x_scale", "F32", [2, 1], RAW, ONE * 2)]),
        "gemm_nvfp4": ("gemm_nvfp4", [],
                       [codes("a", [2, 16]), scales("a_scale", [2, 2]), one("a_scale_2"),
                        codes("b", [3, 16]), scales("b_scale", [3, 2]), one("b_scale_2"),
                        t("bias", "F32", [3])]),
        "gemm_nvfp4_packed": ("gemm_nvfp4", [("alpha", "0.5"), ("b_layout", "gemv_kblock_interleaved")],
                              [codes("a", [1, 16]), scales("a_scale", [1, 2]),
                               codes("b", [4, 16]), scales("b_scale", [4, 2])]),
        "gemm_fp8_tensor": ("gemm_fp8", [("out", "bf16")],
                            [t("a", "F8_E4M3", [2, 16]), t("b", "F8_E4M3", [3, 16]), one("a_scale"),
                             t("b_scale", "F32", [1], RAW, ONE), t("bias", "F32", [3])]),
        "gemm_fp8_block": ("gemm_fp8", [],
                           [t("a", "F8_E4M3", [2, 16]), t("b", "F8_E4M3", [3, 16]),
                            t("a_scale", "F32", [2, 1], RAW, ONE * 2), t("b_scale", "F32", [1, 1], RAW, ONE)]),
        "gemm_nvfp4_act": ("gemm_nvfp4_act", [("out", "bf16")],
                           [t("x", "F32", [2, 32]), codes("b", [3, 16]), scales("b_scale", [3, 2]),
                            one("b_scale_2")]),
        "gemm_fp8_act": ("gemm_fp8_act", [("out", "f16")],
                         [t("x", "F32", [2, 32]), t("b", "F8_E4M3", [3, 32]),
                          t("b_scale", "F32", [1, 1], RAW, ONE)]),
        "conv1d": ("conv1d", [],
                   [t("x", "F32", [1, 4, 8]), t("w", "F32", [8, 4]), t("bias", "F32", [8]),
                    t("state", "F32", [1, 8, 3])]),
        "deltanet": ("deltanet", [("l2norm", "1")],
                     [t("q", "F32", [1, 4, 2, 8]), t("k", "F32", [1, 4, 2, 8]), t("v", "F32", [1, 4, 2, 8]),
                      t("g", "F32", [1, 4, 2], ZERO), t("beta", "F32", [1, 4, 2])]),
        "deltanet_varlen_gating": ("deltanet", [("out", "bf16")],
                                   [t("q", "BF16", [1, 4, 1, 8]), t("k", "BF16", [1, 4, 1, 8]),
                                    t("v", "BF16", [1, 4, 2, 4]), t("a", "F32", [1, 4, 2]),
                                    t("b", "F32", [1, 4, 2]), t("A_log", "F32", [2], ZERO),
                                    t("dt_bias", "F32", [2], ZERO), t("cu_seqlens", "I32", [3])]),
        "attention": ("attention", [("causal", "1"), ("lse", "1")],
                      [t("q", "F32", [1, 4, 2, 8]), t("k", "F32", [1, 4, 1, 8]), t("v", "F32", [1, 4, 1, 8]),
                       t("gate", "F32", [1, 4, 2, 8])]),
        "attention_varlen": ("attention", [("causal", "0")],
                             [t("q", "F16", [1, 4, 2, 8]), t("k", "F8_E4M3", [1, 4, 2, 8]),
                              t("v", "F8_E4M3", [1, 4, 2, 8]), one("k_scale"),
                              t("cu_seqlens_q", "I64", [3]), t("cu_seqlens_k", "I32", [3])]),
        # Empty tensors with huge partners: the library must refuse them or handle them cheaply.
        "huge_gemm_fp8": ("gemm_fp8", [],
                          [t("a", "F8_E4M3", [1 << 40, 0], ZERO), t("b", "F8_E4M3", [1 << 20, 0], ZERO),
                           one("a_scale"), one("b_scale")]),
        "huge_conv1d": ("conv1d", [], [t("x", "F32", [0, 1 << 40, 8], ZERO), t("w", "F32", [8, 4])]),
        "huge_conv1d_width": ("conv1d", [], [t("x", "F32", [1, 4, 0], ZERO), t("w", "F32", [0, 1 << 62], ZERO)]),
        "huge_attention": ("attention", [],
                           [t("q", "F32", [1, 0, 1 << 40, 8], ZERO), t("k", "F32", [1, 4, 1, 8]),
                            t("v", "F32", [1, 4, 1, 8])]),
        "huge_attention_kv": ("attention", [("lse", "1")],
                              [t("q", "F32", [1, 1 << 40, 1, 0], ZERO), t("k", "F32", [1, 1 << 40, 1, 0], ZERO),
                               t("v", "F32", [1, 1 << 40, 1, 0], ZERO)]),
        "invalid_shape": ("convert", [("to", "f16")], [t("x", "F32", [1, 0, (1 << 63) - 1, 8], ZERO)]),
        "huge_deltanet": ("deltanet", [],
                          [t("q", "F32", [1 << 31, 0, 2, 8], ZERO), t("k", "F32", [1 << 31, 0, 2, 8], ZERO),
                           t("v", "F32", [1 << 31, 0, 2, 8], ZERO), t("g", "F32", [1 << 31, 0, 2], ZERO),
                           t("beta", "F32", [1 << 31, 0, 2], ZERO)]),
        "huge_dequantize_nvfp4": ("dequantize_nvfp4", [],
                                  [t("x", "U8", [0, 65536], ZERO), t("x_scale", "F8_E4M3", [0, 0], ZERO),
                                   one("x_scale_2")]),
    }
    return {name: krun_input(op, params, tensors) for name, (op, params, tensors) in seeds.items()}


def write(sub, files):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        os.remove(os.path.join(d, old))
    for name, data in sorted(files.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(f"{d}: {len(files)} files, {sum(len(v) for v in files.values())} bytes")


if __name__ == "__main__":
    write("safetensors", safetensors_seeds())
    write("krun", krun_seeds())
