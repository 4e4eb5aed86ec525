#!/usr/bin/env python3
"""llama2.c reference fixtures: full-sequence next-token logits of the real
stories260K checkpoint (llama2.c "legacy" format), computed with a PyTorch
re-implementation of llama2.c's model.py. See tools/README.md.

usage: /usr/bin/python3 tools/llama2c_ref.py --out DIR [--model PATH]
The model defaults to $TUNA_SHARED_DATA/models/stories260K/stories260K.bin,
TUNA_SHARED_DATA defaulting to ../shared/data relative to the repository root.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

HEADER_FIELDS = ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size",
                 "seq_len")


def load_legacy(path):
    """-> (header dict, state dict of float32 tensors). Layout (all little-endian):
    7 x int32 header; token_embedding [V,D]; rms_att [L,D]; wq [L,D,D];
    wk [L,KVD,D]; wv [L,KVD,D]; wo [L,D,D]; rms_ffn [L,D]; w1 [L,Hid,D];
    w2 [L,D,Hid]; w3 [L,Hid,D]; rms_final [D]; freq_cis_real [S,hd/2];
    freq_cis_imag [S,hd/2]; classifier [V,D] only when vocab_size < 0."""
    with open(path, "rb") as f:
        raw = f.read()
    vals = struct.unpack("<7i", raw[:28])
    hdr = dict(zip(HEADER_FIELDS, vals))
    shared = hdr["vocab_size"] > 0
    hdr["vocab_size"] = abs(hdr["vocab_size"])
    hdr["shared_classifier"] = shared
    D, Hd, L, H, KV, V, S = (hdr[k] for k in HEADER_FIELDS)
    hd = D // H
    kvd = KV * hd
    w = np.frombuffer(raw, dtype="<f4", offset=28)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        if pos + n > w.size:
            raise ValueError("%s: truncated checkpoint" % path)
        t = torch.from_numpy(w[pos:pos + n].astype(np.float32).reshape(shape))
        pos += n
        return t

    emb = take(V, D)
    rms_att = take(L, D)
    wq = take(L, D, D)
    wk = take(L, kvd, D)
    wv = take(L, kvd, D)
    wo = take(L, D, D)
    rms_ffn = take(L, D)
    w1 = take(L, Hd, D)
    w2 = take(L, D, Hd)
    w3 = take(L, Hd, D)
    rms_final = take(D)
    take(S, hd // 2)  # freq_cis_real (unused; recomputed)
    take(S, hd // 2)  # freq_cis_imag
    cls = emb if shared else take(V, D)
    if pos != w.size:
        raise ValueError("%s: %d trailing floats" % (path, w.size - pos))
    sd = {"tok_embeddings": emb, "norm": rms_final, "output": cls, "layers": [
        {"attention_norm": rms_att[i], "wq": wq[i], "wk": wk[i], "wv": wv[i], "wo": wo[i],
         "ffn_norm": rms_ffn[i], "w1": w1[i], "w2": w2[i], "w3": w3[i]} for i in range(L)]}
    return hdr, sd


def rmsnorm(x, w, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def precompute_freqs(hd, end, theta=10000.0):
    freqs = 1.0 / (theta ** (torch.arange(0, hd, 2)[: hd // 2].float() / hd))
    t = torch.arange(end, dtype=torch.float32)
    f = torch.outer(t, freqs)
    return torch.cos(f), torch.sin(f)


def apply_rope(x, cos, sin):
    """x [B,T,H,hd]; rotate interleaved pairs (x[2i], x[2i+1]) by angle pos*freq_i."""
    xr, xi = x[..., 0::2], x[..., 1::2]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    out_r = xr * c - xi * s
    out_i = xr * s + xi * c
    return torch.stack([out_r, out_i], dim=-1).flatten(-2)


def forward(hdr, sd, tokens, dtype=torch.float32):
    """llama2.c model.py Transformer.forward over the whole sequence ->
    logits [T, V] for every position."""
    D, H = hdr["dim"], hdr["n_heads"]
    KV = hdr["n_kv_heads"]
    hd = D // H
    rep = H // KV
    T = len(tokens)
    ids = torch.tensor(tokens, dtype=torch.int64)[None]
    cv = lambda t: t.to(dtype)  # noqa: E731
    x = F.embedding(ids, cv(sd["tok_embeddings"]))
    cos, sin = precompute_freqs(hd, T)
    cos, sin = cos.to(dtype), sin.to(dtype)
    mask = torch.full((T, T), float("-inf"), dtype=dtype).triu(1)
    for lay in sd["layers"]:
        h = rmsnorm(x, cv(lay["attention_norm"]))
        q = F.linear(h, cv(lay["wq"])).view(1, T, H, hd)
        k = F.linear(h, cv(lay["wk"])).view(1, T, KV, hd)
        v = F.linear(h, cv(lay["wv"])).view(1, T, KV, hd)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        k = k.repeat_interleave(rep, dim=2)  # repeat_kv
        v = v.repeat_interleave(rep, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        s = q @ k.transpose(2, 3) / math.sqrt(hd) + mask
        o = torch.softmax(s, dim=-1) @ v
        o = o.transpose(1, 2).reshape(1, T, D)
        x = x + F.linear(o, cv(lay["wo"]))
        h = rmsnorm(x, cv(lay["ffn_norm"]))
        x = x + F.linear(F.silu(F.linear(h, cv(lay["w1"]))) * F.linear(h, cv(lay["w3"])),
                         cv(lay["w2"]))
    x = rmsnorm(x, cv(sd["norm"]))
    out = sd.get("output", sd["tok_embeddings"])
    return F.linear(x, cv(out))[0]


def default_model_path():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data = os.environ.get("TUNA_SHARED_DATA") or os.path.join(root, "..", "shared", "data")
    return os.path.join(data, "models", "stories260K", "stories260K.bin")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default=None)
    a = ap.parse_args()
    path = a.model or default_model_path()
    if not os.path.isfile(path):
        print("llama2c_ref: skipped: checkpoint %s not found (set TUNA_SHARED_DATA)" % path)
        return 0
    t0 = time.time()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    hdr, sd = load_legacy(path)
    V = hdr["vocab_size"]

    prompts = [[1, 403, 407, 261, 378]]
    # prompt 1: BOS then 39 greedy tokens, so logits[i].argmax() == prompt[i+1]
    # for i < 39 (lets tests check greedy generation as well).
    g = [1]
    with torch.no_grad():
        while len(g) < 40:
            g.append(int(forward(hdr, sd, g)[-1].argmax()))
    prompts.append(g)
    prompts.append([1])
    rng = torch.Generator().manual_seed(260)
    prompts.append(torch.randint(3, 512, (100,), generator=rng).tolist())

    tensors = {}
    info = []
    with torch.no_grad():
        for i, p in enumerate(prompts):
            lg = forward(hdr, sd, p)
            lg64 = forward(hdr, sd, p, dtype=torch.float64)
            err = (lg.double() - lg64).abs().max().item()
            tensors["prompt.%d" % i] = np.array(p, dtype=np.int32)
            tensors["logits.%d" % i] = lg.numpy().astype(np.float32)
            top2 = lg.topk(2, dim=-1).values
            info.append({"index": i, "length": len(p),
                         "min_top1_top2_margin": float((top2[:, 0] - top2[:, 1]).min()),
                         "argmax_last": int(lg[-1].argmax()),
                         "max_abs_logit": float(lg.abs().max()),
                         "fp32_vs_fp64_max_abs_err": err})
    os.makedirs(a.out, exist_ok=True)
    st.save(os.path.join(a.out, "ref.safetensors"), tensors,
            metadata={"format": "pt", "model": "stories260K"})
    ref = {
        "model": os.path.relpath(path, os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        "model_bytes": os.path.getsize(path),
        "header": hdr,
        "head_dim": hdr["dim"] // hdr["n_heads"],
        "rms_norm_eps": 1e-5,
        "rope": "theta 10000, interleaved pairs (x[2i], x[2i+1]) rotated as complex numbers",
        "mlp": "w2(silu(w1(x)) * w3(x))",
        "prompts": info,
        "notes": "prompt.1 is BOS followed by greedy continuation: argmax(logits.1[i]) == "
                 "prompt.1[i+1]; prompt.3 is 100 uniform ids in [3,512) (seed 260)",
    }
    with open(os.path.join(a.out, "ref.json"), "w") as f:
        json.dump(ref, f, indent=2)
        f.write("\n")
    for d in info:
        print("llama2c_ref: prompt %d len %3d argmax(last) %3d  max|logit| %.3f" % (
            d["index"], d["length"], d["argmax_last"], d["max_abs_logit"]))
    print("llama2c_ref: wrote %s in %.1fs" % (a.out, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
