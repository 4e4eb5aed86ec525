#!/usr/bin/python3
"""finetune_hf.py - a "fine-tuned" copy of a model directory, tensor by tensor.

    tools/finetune_hf.py SRC DST [--seed 0] [--amount 0.02] [--every 1]

Copies SRC (config.json, tokenizer, one model.safetensors of BF16/F16/F32)
to DST and moves the attention and MLP projections of every --every-th layer
(q, v, o, down) by a rank-4 delta plus 10% noise whose norm is --amount of
the tensor's norm, rounded back to the tensor's dtype; everything else is
copied byte for byte. This is what `tuna check` should call a fine-tune
(docs/anticheat.md), at any size: the file is read and written one tensor at
a time, so a 3B model needs about its largest tensor (the embedding) here.
numpy + tools/st.py only.
"""
import argparse, os, re, shutil, struct, sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

TARGETS = re.compile(r"layers\.(\d+)\.(self_attn\.(q_proj|v_proj|o_proj)|mlp\.down_proj)\.weight$")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--amount", type=float, default=0.02)
    ap.add_argument("--every", type=int, default=1)
    a = ap.parse_args()
    path = os.path.join(a.src, "model.safetensors")
    if not os.path.exists(path):
        sys.exit("finetune_hf: %s: no model.safetensors (sharded checkpoints are not handled)" % a.src)
    os.makedirs(a.dst, exist_ok=True)
    for f in os.listdir(a.src):
        if f != "model.safetensors" and os.path.isfile(os.path.join(a.src, f)):
            shutil.copy(os.path.join(a.src, f), os.path.join(a.dst, f))
    hdr = st.header(path)
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        raw_header = f.read(n)
    rng = np.random.default_rng(a.seed)
    names = sorted((k for k in hdr if k != "__metadata__"), key=lambda k: hdr[k]["data_offsets"][0])
    moved = 0
    with open(path, "rb") as src, open(os.path.join(a.dst, "model.safetensors"), "wb") as out:
        out.write(struct.pack("<Q", n))
        out.write(raw_header)  # same names, dtypes, shapes and offsets
        for name in names:
            h = hdr[name]
            b, e = h["data_offsets"]
            src.seek(8 + n + b)
            raw = np.frombuffer(src.read(e - b), dtype=np.uint8)
            m = TARGETS.search(name)
            if not m or int(m.group(1)) % a.every or len(h["shape"]) != 2:
                out.write(raw.tobytes())
                continue
            dt = h["dtype"]
            if dt == "BF16":
                w = st.bf16_bits_to_f32(raw.view(np.uint16))
            elif dt in ("F16", "F32"):
                w = raw.view(np.float16 if dt == "F16" else np.float32).astype(np.float32)
            else:
                sys.exit("finetune_hf: %s: dtype %s" % (name, dt))
            w = w.reshape(h["shape"])
            r, c = w.shape
            d = rng.standard_normal((r, 4), dtype=np.float32) @ rng.standard_normal((4, c), dtype=np.float32)
            d += 0.1 * np.linalg.norm(d) / np.sqrt(d.size) * rng.standard_normal((r, c), dtype=np.float32)
            w = w + d * (a.amount * np.linalg.norm(w) / np.linalg.norm(d))
            if dt == "BF16":
                enc = st.f32_to_bf16_bits(w)
            else:
                enc = w.astype(np.float16 if dt == "F16" else np.float32)
            out.write(np.ascontiguousarray(enc).tobytes())
            moved += 1
    print("finetune_hf: %s -> %s: %d of %d tensors moved by %.3g of their norm" % (a.src, a.dst, moved, len(names),
                                                                                   a.amount))


if __name__ == "__main__":
    main()
