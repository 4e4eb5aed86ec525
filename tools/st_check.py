#!/usr/bin/env python3
"""st_check.py - an independent numpy-only safetensors reader/writer, written
from the format spec (not from tuna's C code), used by tests/test_safetensors.

  st_check.py FILE          print {name: {"dtype", "shape", "sum"}} as JSON
  st_check.py --write FILE  write F32 + F16 tensors with an unpadded header (so
                            the data section is misaligned), then print as above
"""
import json
import struct
import sys

import numpy as np

DT = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
      "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def read(path):
    buf = open(path, "rb").read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    data = buf[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        raw = data[b:e]
        if t["dtype"] == "BF16":  # numpy has no bfloat16: widen to the f32 bit pattern
            a = (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4")
        else:
            a = np.frombuffer(raw, DT[t["dtype"]])
        a = a.reshape(t["shape"])
        out[name] = {"dtype": t["dtype"], "shape": list(t["shape"]),
                     "sum": float(a.astype(np.float64).sum())}
    return out


def write(path):
    tensors = {"w": np.arange(15, dtype="<f4").reshape(3, 5) * 0.25 - 1.0,
               "h": (np.arange(7, dtype="<f2") - 3) * np.float16(0.5),
               "s": np.array(3.5, dtype="<f4")}
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, a in tensors.items():
        dt = {"<f4": "F32", "<f2": "F16"}[a.dtype.str]
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    hb = json.dumps(header).encode()
    if (8 + len(hb)) % 4 == 0:  # make sure the data section is not even 4-aligned
        hb += b" "
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + b"".join(a.tobytes() for a in tensors.values()))


if __name__ == "__main__":
    if sys.argv[1] == "--write":
        write(sys.argv[2])
        print(json.dumps(read(sys.argv[2])))
    else:
        print(json.dumps(read(sys.argv[1])))
