"""A Python ctypes user of libtessera.so (tests/CMakeLists.txt): a GEMM on device buffers, on
every device found, gives the bytes of the same call on host memory. Standard library only."""
import ctypes
import struct
import sys

lib = ctypes.CDLL(sys.argv[1])
MAX_DIMS = 8


class Tensor(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int32), ("ndim", ctypes.c_int32), ("shape", ctypes.c_int64 * MAX_DIMS),
                ("data", ctypes.c_void_p), ("bytes", ctypes.c_size_t)]


def tensor(dtype, shape, data, nbytes):
    t = Tensor(dtype, len(shape))
    for i, d in enumerate(shape):
        t.shape[i] = d
    t.data, t.bytes = data, nbytes
    return t


F32, F8_E4M3 = 0, 6
lib.tessera_device_buffer_address.restype = ctypes.c_void_p
lib.tessera_version.restype = ctypes.c_char_p
lib.tessera_last_error_message.restype = ctypes.c_char_p
p = ctypes.c_void_p


def check(status, what):
    if status != 0:
        sys.exit(f"ctypes_gemm: {what}: status {status}: {lib.tessera_last_error_message().decode()}")


M, N, K = 2, 3, 32
a = bytes((i * 37 + 11) & 0x6F for i in range(M * K))
b = bytes((i * 53 + 5) & 0x6F for i in range(N * K))
ran = 0
for backend in (b"cpu", b"opencl", b"vulkan"):
    n = ctypes.c_int32(0)
    check(lib.tessera_device_count(backend, ctypes.byref(n)), "device_count")
    if n.value == 0:
        continue
    ctx = p()
    check(lib.tessera_context_create(backend, 0, ctypes.byref(ctx)), "context")
    abuf, bbuf = ctypes.create_string_buffer(a, len(a)), ctypes.create_string_buffer(b, len(b))
    want = ctypes.create_string_buffer(M * N * 4)
    ta = tensor(F8_E4M3, (M, K), ctypes.addressof(abuf), len(a))
    tb = tensor(F8_E4M3, (N, K), ctypes.addressof(bbuf), len(b))
    tc = tensor(F32, (M, N), ctypes.addressof(want), M * N * 4)
    check(lib.tessera_gemm_fp8(ctx, ctypes.byref(ta), ctypes.byref(tb), ctypes.c_float(0.5), None, ctypes.byref(tc)),
          "gemm_fp8 on host memory")
    bufs = []
    for size in (len(a), len(b), M * N * 4):
        d = p()
        check(lib.tessera_device_alloc(ctx, ctypes.c_size_t(size), ctypes.byref(d)), "device_alloc")
        bufs.append(d)
    check(lib.tessera_upload(ctx, bufs[0], ctypes.c_size_t(0), abuf, ctypes.c_size_t(len(a))), "upload a")
    check(lib.tessera_upload(ctx, bufs[1], ctypes.c_size_t(0), bbuf, ctypes.c_size_t(len(b))), "upload b")
    da = tensor(F8_E4M3, (M, K), lib.tessera_device_buffer_address(bufs[0]), len(a))
    db = tensor(F8_E4M3, (N, K), lib.tessera_device_buffer_address(bufs[1]), len(b))
    dc = tensor(F32, (M, N), lib.tessera_device_buffer_address(bufs[2]), M * N * 4)
    check(lib.tessera_gemm_fp8(ctx, ctypes.byref(da), ctypes.byref(db), ctypes.c_float(0.5), None, ctypes.byref(dc)),
          "gemm_fp8 on device buffers")
    got = ctypes.create_string_buffer(M * N * 4)
    check(lib.tessera_download(ctx, bufs[2], ctypes.c_size_t(0), got, ctypes.c_size_t(M * N * 4)), "download")
    if got.raw != want.raw:
        sys.exit(f"ctypes_gemm: {backend.decode()}: device buffers gave {struct.unpack('6f', got.raw)}, "
                 f"host memory {struct.unpack('6f', want.raw)}")
    for d in bufs:
        lib.tessera_device_buffer_destroy(d)
    lib.tessera_context_destroy(ctx)
    ran += 1
print(f"ctypes_gemm: libtessera {lib.tessera_version().decode()}, {ran} backends agree")
sys.exit(0 if ran else 1)
