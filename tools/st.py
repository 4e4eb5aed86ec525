"""Minimal safetensors reader/writer (numpy only), written from the format spec.

File layout:
    u64 little-endian N            length of the JSON header in bytes
    N bytes of UTF-8 JSON          {name: {"dtype": "F32", "shape": [..],
                                           "data_offsets": [begin, end]}, ...,
                                    "__metadata__": {str: str}}   (optional)
    data                           tensors, row-major little-endian; offsets
                                   are relative to the start of this section

The writer pads the header with spaces to a multiple of 8 bytes (as the
reference implementation does) and lays tensors out in the order given.

Supported dtypes: F32, F16, BF16, I32, I64 (plus F64, I8, U8, I16 for reading).
numpy has no bfloat16, so BF16 tensors are exchanged as float32 arrays:
  * on write, a float32 array stored as BF16 is rounded to nearest-even
    (f32_to_bf16_bits);
  * on read, BF16 data is widened exactly to float32 (bf16_bits_to_f32).
"""
import json
import struct

import numpy as np

_NP = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BF16": np.dtype("<u2"),  # raw bits
}
_DEFAULT = {
    np.dtype("float64"): "F64",
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("int16"): "I16",
    np.dtype("int8"): "I8",
    np.dtype("uint8"): "U8",
}


def f32_to_bf16_bits(a):
    """float32 array -> uint16 bf16 bit patterns, round to nearest even.

    NaNs stay (quiet) NaNs; infinities stay infinities; values that round past
    the largest finite bf16 become infinity, as in IEEE rounding.
    """
    a = np.ascontiguousarray(a, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    lsb = (u >> 16) & 1
    r = ((u + 0x7FFF + lsb) >> 16).astype(np.uint16)
    nan = np.isnan(a)
    if nan.any():
        r[nan] = ((u[nan] >> 16).astype(np.uint16)) | np.uint16(0x0040)
    return r


def bf16_bits_to_f32(b):
    """uint16 bf16 bit patterns -> float32 (exact)."""
    b = np.ascontiguousarray(b, dtype=np.uint16)
    return (b.astype(np.uint32) << 16).view(np.float32)


def round_bf16(a):
    """float32 -> float32 holding the nearest bf16 value."""
    return bf16_bits_to_f32(f32_to_bf16_bits(a))


def round_f16(a):
    """float32 -> float32 holding the nearest IEEE half value."""
    return np.asarray(a, dtype=np.float32).astype(np.float16).astype(np.float32)


def _encode(arr, dtype):
    arr = np.asarray(arr)
    if dtype is None:
        if arr.dtype not in _DEFAULT:
            raise TypeError("no safetensors dtype for numpy %s" % arr.dtype)
        dtype = _DEFAULT[arr.dtype]
    if dtype not in _NP:
        raise ValueError("unsupported dtype %r" % dtype)
    if dtype == "BF16":
        if arr.dtype == np.uint16:
            raw = arr
        else:
            raw = f32_to_bf16_bits(arr.astype(np.float32))
    else:
        if dtype.startswith("F") and not np.issubdtype(arr.dtype, np.floating):
            raise TypeError("refusing to store %s as %s" % (arr.dtype, dtype))
        if dtype.startswith(("I", "U")) and not np.issubdtype(arr.dtype, np.integer):
            raise TypeError("refusing to store %s as %s" % (arr.dtype, dtype))
        raw = arr.astype(_NP[dtype])
    return dtype, list(arr.shape), np.ascontiguousarray(raw).tobytes()


def save(path, tensors, metadata=None, dtypes=None):
    """Write a safetensors file.

    tensors:  ordered mapping name -> numpy array (or anything np.asarray takes)
    metadata: optional dict str -> str, stored as "__metadata__"
    dtypes:   optional mapping name -> "F32"/"F16"/"BF16"/"I32"/"I64"/...;
              by default the array's own dtype decides.
    """
    dtypes = dtypes or {}
    header = {}
    blobs = []
    off = 0
    for name, arr in tensors.items():
        if name == "__metadata__":
            raise ValueError("reserved tensor name")
        dt, shape, raw = _encode(arr, dtypes.get(name))
        header[name] = {"dtype": dt, "shape": shape,
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    with _create(path, header, metadata) as f:
        for b in blobs:
            f.write(b)


def _create(path, header, metadata):
    """The file opened for writing, its length and header (padded to 8 bytes) written."""
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)
    f = open(path, "wb")
    f.write(struct.pack("<Q", len(hb)))
    f.write(hb)
    return f


def save_stream(path, specs, metadata=None, dtype="BF16"):
    """save() for models larger than memory: specs is a list of
    (name, shape, make) where make() returns the tensor's float32 array; each
    is made, encoded and written in turn (same bytes as save())."""
    size = _NP[dtype].itemsize
    header, off = {}, 0
    for name, shape, _ in specs:
        n = size * int(np.prod(shape, dtype=np.int64))
        header[name] = {"dtype": dtype, "shape": [int(d) for d in shape], "data_offsets": [off, off + n]}
        off += n
    with _create(path, header, metadata) as f:
        for name, shape, make in specs:
            arr = make()
            assert tuple(arr.shape) == tuple(shape), name
            raw = _encode(arr, dtype)[2]
            assert len(raw) == header[name]["data_offsets"][1] - header[name]["data_offsets"][0], name
            f.write(raw)


def load(path, raw_bf16=False):
    """Read a safetensors file -> (dict name -> numpy array, metadata dict).

    BF16 tensors come back as float32 unless raw_bf16, in which case the
    uint16 bit patterns are returned.
    """
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("%s: too short" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError("%s: header length %d past end" % (path, n))
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        dt = info["dtype"]
        if dt not in _NP:
            raise ValueError("%s: unsupported dtype %s" % (name, dt))
        shape = tuple(info["shape"])
        b, e = info["data_offsets"]
        npdt = _NP[dt]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if e - b != count * npdt.itemsize or base + e > len(data):
            raise ValueError("%s: bad data_offsets %r for shape %r" % (name, (b, e), shape))
        arr = np.frombuffer(data, dtype=npdt, count=count, offset=base + b).reshape(shape)
        if dt == "BF16" and not raw_bf16:
            arr = bf16_bits_to_f32(arr).reshape(shape)
        else:
            arr = arr.copy()
        out[name] = arr
    return out, meta


def header(path):
    """Just the parsed JSON header (including __metadata__ if present)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n).decode("utf-8"))


def _selftest():
    import os
    import tempfile
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(1000) * 10.0 ** rng.integers(-30, 30, 1000)).astype(np.float32)
    x = np.concatenate([x, np.array([0.0, -0.0, np.inf, -np.inf, 3.3895314e38,
                                     1e-40, 1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8],
                                    dtype=np.float32)])
    bits = f32_to_bf16_bits(x)
    # exact round trip of representable values
    assert np.array_equal(f32_to_bf16_bits(bf16_bits_to_f32(bits)), bits)
    # ties go to even
    assert f32_to_bf16_bits(np.float32(1.0 + 2.0 ** -8)) == 0x3F80
    assert f32_to_bf16_bits(np.float32(1.0 + 3 * 2.0 ** -8)) == 0x3F82
    assert np.isnan(bf16_bits_to_f32(f32_to_bf16_bits(np.float32("nan"))))
    try:  # cross-check against torch when available
        import torch
        tb = torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
        assert np.array_equal(tb, bits), "bf16 rounding differs from torch"
    except ImportError:
        pass
    d = tempfile.mkdtemp()
    p = os.path.join(d, "t.safetensors")
    t = {"a": x, "b": x[:12].reshape(3, 4), "c": np.arange(6, dtype=np.int32).reshape(2, 3),
         "d": np.arange(5, dtype=np.int64) - 2, "e": x[:7], "s": np.float32(2.5)}
    with np.errstate(over="ignore"):  # f16 overflow to inf is intended here
        save(p, t, metadata={"format": "pt"}, dtypes={"b": "BF16", "e": "F16"})
        f16 = round_f16(x[:7])
    r, m = load(p)
    assert m == {"format": "pt"}
    assert np.array_equal(r["a"].view(np.uint32), x.view(np.uint32))
    assert np.array_equal(r["b"], round_bf16(x[:12]).reshape(3, 4))
    assert r["c"].dtype == np.int32 and np.array_equal(r["c"], t["c"])
    assert r["d"].dtype == np.int64 and np.array_equal(r["d"], t["d"])
    assert np.array_equal(r["e"], f16, equal_nan=True)
    assert r["s"].shape == () and r["s"] == 2.5
    with open(p, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
    assert n % 8 == 0
    # re-save BF16 from loaded float32: must be bit-identical
    save(p, {"b": r["b"]}, dtypes={"b": "BF16"})
    r2, _ = load(p, raw_bf16=True)
    assert np.array_equal(r2["b"].reshape(-1), bits[:12])
    os.remove(p)
    os.rmdir(d)
    print("st.py selftest ok")


if __name__ == "__main__":
    _selftest()
