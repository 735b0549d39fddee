"""A Python ctypes user of libtessera.so (tests/CMakeLists.txt): a GEMM and an attention call
on device buffers, on every device found, give the bytes of the same calls on host memory.
Standard library only."""
import ctypes
import struct
import sys

lib = ctypes.CDLL(sys.argv[1])
MAX_DIMS = 8


class Tensor(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int32), ("ndim", ctypes.c_int32), ("shape", ctypes.c_int64 * MAX_DIMS),
                ("data", ctypes.c_void_p), ("bytes", ctypes.c_size_t), ("strides", ctypes.POINTER(ctypes.c_int64))]


def tensor(dtype, shape, data, nbytes):
    t = Tensor(dtype, len(shape))
    for i, d in enumerate(shape):
        t.shape[i] = d
    t.data, t.bytes = data, nbytes
    return t


class AttentionArgs(ctypes.Structure):  # tessera_attention_args
    _fields_ = [("q", ctypes.POINTER(Tensor)), ("k", ctypes.POINTER(Tensor)), ("v", ctypes.POINTER(Tensor)),
                ("gate", ctypes.POINTER(Tensor)), ("k_scale", ctypes.c_float), ("v_scale", ctypes.c_float),
                ("cu_seqlens_q", ctypes.POINTER(Tensor)), ("cu_seqlens_k", ctypes.POINTER(Tensor)),
                ("causal", ctypes.c_int32), ("scale", ctypes.c_float), ("has_scale", ctypes.c_int32)]


F32, BF16, F8_E4M3 = 0, 1, 6
lib.tessera_device_buffer_address.restype = ctypes.c_void_p
lib.tessera_version.restype = ctypes.c_char_p
lib.tessera_last_error_message.restype = ctypes.c_char_p
p = ctypes.c_void_p


def check(status, what):
    if status != 0:
        sys.exit(f"ctypes_device_buffers: {what}: status {status}: {lib.tessera_last_error_message().decode()}")


def on_device(ctx, host_bytes):
    """A device buffer holding host_bytes, and its address."""
    d = p()
    check(lib.tessera_device_alloc(ctx, ctypes.c_size_t(len(host_bytes)), ctypes.byref(d)), "device_alloc")
    check(lib.tessera_upload(ctx, d, ctypes.c_size_t(0), host_bytes, ctypes.c_size_t(len(host_bytes))), "upload")
    return d, lib.tessera_device_buffer_address(d)


def both_ways(ctx, backend, what, inputs, out_dtype, out_shape, out_bytes, call):
    """call(tensors, out) on host memory, then on device buffers: the same bytes."""
    keep = [ctypes.create_string_buffer(b, len(b)) for _, _, b in inputs]
    want = ctypes.create_string_buffer(out_bytes)
    host = [tensor(dt, shape, ctypes.addressof(k), len(b)) for (dt, shape, b), k in zip(inputs, keep)]
    check(call(host, tensor(out_dtype, out_shape, ctypes.addressof(want), out_bytes)), what + " on host memory")
    if not any(want.raw):
        sys.exit(f"ctypes_device_buffers: {backend.decode()}: {what} gave all zeros: the comparison would be vacuous")
    bufs = [on_device(ctx, k) for k in keep] + [on_device(ctx, bytes(out_bytes))]
    dev = [tensor(dt, shape, addr, len(b)) for (dt, shape, b), (_, addr) in zip(inputs, bufs)]
    check(call(dev, tensor(out_dtype, out_shape, bufs[-1][1], out_bytes)), what + " on device buffers")
    got = ctypes.create_string_buffer(out_bytes)
    check(lib.tessera_download(ctx, bufs[-1][0], ctypes.c_size_t(0), got, ctypes.c_size_t(out_bytes)), "download")
    for d, _ in bufs:
        lib.tessera_device_buffer_destroy(d)
    if got.raw != want.raw:
        sys.exit(f"ctypes_device_buffers: {backend.decode()}: {what}: device buffers gave {got.raw.hex()}, "
                 f"host memory {want.raw.hex()}")


def gemm(ctx, backend):
    M, N, K = 2, 3, 32
    a = bytes((i * 37 + 11) & 0x6F for i in range(M * K))
    b = bytes((i * 53 + 5) & 0x6F for i in range(N * K))
    both_ways(ctx, backend, "gemm_fp8", [(F8_E4M3, (M, K), a), (F8_E4M3, (N, K), b)], F32, (M, N), M * N * 4,
              lambda t, c: lib.tessera_gemm_fp8(ctx, ctypes.byref(t[0]), ctypes.byref(t[1]), ctypes.c_float(0.5), None,
                                                ctypes.byref(c)))


def attention(ctx, backend):
    """A decode step: one bf16 query token of 2 heads over 9 keys of an E4M3 cache with scales."""
    B, T, S, Hq, Hkv, D = 1, 1, 9, 2, 1, 16
    q = b"".join(struct.pack("<H", 0x3C00 + ((i * 29) % 97)) for i in range(B * T * Hq * D))  # bf16 near 0.01
    k = bytes((i * 41 + 3) & 0x6F for i in range(B * S * Hkv * D))
    v = bytes((i * 23 + 7) & 0x6F for i in range(B * S * Hkv * D))

    def call(t, o):
        args = AttentionArgs()
        check(lib.tessera_attention_args_init(ctypes.byref(args)), "attention_args_init")
        args.q, args.k, args.v = ctypes.pointer(t[0]), ctypes.pointer(t[1]), ctypes.pointer(t[2])
        args.k_scale, args.v_scale = 0.5, 0.25
        return lib.tessera_attention(ctx, ctypes.byref(args), ctypes.byref(o), None)

    both_ways(ctx, backend, "attention", [(BF16, (B, T, Hq, D), q), (F8_E4M3, (B, S, Hkv, D), k),
                                          (F8_E4M3, (B, S, Hkv, D), v)], BF16, (B, T, Hq, D), B * T * Hq * D * 2, call)


ran = 0
for backend in (b"cpu", b"opencl", b"vulkan"):
    n = ctypes.c_int32(0)
    check(lib.tessera_device_count(backend, ctypes.byref(n)), "device_count")
    if n.value == 0:
        continue
    ctx = p()
    check(lib.tessera_context_create(backend, 0, ctypes.byref(ctx)), "context")
    gemm(ctx, backend)
    attention(ctx, backend)
    lib.tessera_context_destroy(ctx)
    ran += 1
print(f"ctypes_device_buffers: libtessera {lib.tessera_version().decode()}, {ran} backends agree")
sys.exit(0 if ran else 1)
