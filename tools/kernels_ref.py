#!/usr/bin/env python3
"""Kernel reference fixtures: single kernels at shapes the model tests do not
reach, computed with PyTorch in float64 from float32 inputs. See tools/README.md.

  attention_<case>.safetensors  causal attention with GQA and an optional
      sliding window over sequences long enough for several 64-row tiles of
      src/nn/attention.c (the model fixtures use T = 9). Tensors: q [B,T,H,hd],
      k, v [B,T,KV,hd], dout [B,T,H,hd] (inputs); out, dq, dk, dv (reference).
      Metadata: B, T, H, KV, hd, window.
  head_xent_<case>.safetensors  the classifier + HF causal-LM cross-entropy as
      one layer: x [N,D] (final-norm output), w [V,D], labels [B,T] (-100 =
      ignored) -> loss (mean over scored positions), dx [N,D], dw [V,D]
      (gradient of the mean loss). Metadata: B, T, D, V.

usage: /usr/bin/python3 tools/kernels_ref.py --out DIR
"""
import argparse
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

ATTENTION_CASES = [
    # name, B, T, H, KV, hd, window
    ("gqa_t150", 2, 150, 4, 2, 16, 0),
    ("window_t200", 1, 200, 2, 1, 32, 70),
    ("one_tile_t64", 1, 64, 1, 1, 8, 0),
    ("mha_t129", 1, 129, 3, 3, 24, 0),
    ("window_small_t100", 2, 100, 2, 2, 16, 5),
]

HEAD_CASES = [
    # name, B, T, D, V, fraction of labels ignored
    ("v1000", 2, 50, 24, 1000, 0.2),
    ("v3001_t300", 1, 300, 16, 3001, 0.0),
]


def reference_attention(q, k, v, window):
    """q [B,T,H,hd], k/v [B,T,KV,hd] float64 -> out [B,T,H,hd]; plain softmax
    over an explicit T x T mask (causal, and the `window` most recent keys)."""
    B, T, H, hd = q.shape
    KV = k.shape[2]
    rep = H // KV
    kk = k.repeat_interleave(rep, dim=2)  # query head h reads kv head h // rep
    vv = v.repeat_interleave(rep, dim=2)
    s = torch.einsum("bthd,bshd->bhts", q, kk) / math.sqrt(hd)
    t = torch.arange(T)
    allowed = t[None, :] <= t[:, None]
    if window > 0:
        allowed &= t[None, :] > t[:, None] - window
    s = s.masked_fill(~allowed, float("-inf"))
    p = torch.softmax(s, dim=-1)
    return torch.einsum("bhts,bshd->bthd", p, vv)


def attention_case(out_dir, name, B, T, H, KV, hd, window, seed):
    g = torch.Generator().manual_seed(seed)
    # scores of order 1-3 so the softmax is far from uniform
    q = (torch.randn(B, T, H, hd, generator=g) * 1.5).float()
    k = (torch.randn(B, T, KV, hd, generator=g) * 1.5).float()
    v = torch.randn(B, T, KV, hd, generator=g).float()
    dout = torch.randn(B, T, H, hd, generator=g).float()
    qd, kd, vd = (x.double().requires_grad_(True) for x in (q, k, v))
    out = reference_attention(qd, kd, vd, window)
    out.backward(dout.double())
    t = {"q": q, "k": k, "v": v, "dout": dout, "out": out.detach(), "dq": qd.grad, "dk": kd.grad,
         "dv": vd.grad}
    st.save(os.path.join(out_dir, "attention_%s.safetensors" % name),
            {n: x.float().numpy() for n, x in t.items()},
            metadata=dict(B=B, T=T, H=H, KV=KV, hd=hd, window=window))


def head_xent_case(out_dir, name, B, T, D, V, ignore, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B * T, D, generator=g).float()
    w = (torch.randn(V, D, generator=g) * 0.3).float()
    labels = torch.randint(0, V, (B, T), generator=g)
    drop = torch.rand(B, T, generator=g) < ignore
    labels[drop] = -100
    xd, wd = x.double().requires_grad_(True), w.double().requires_grad_(True)
    logits = (xd @ wd.t()).view(B, T, V)
    # HF: position t predicts labels[t + 1]
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1),
                                             ignore_index=-100)
    loss.backward()
    # each position's own loss (0 at the last position and where ignored): a per-row evaluation sums these
    per = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1),
                                            ignore_index=-100, reduction="none").view(B, T - 1)
    pos_loss = torch.zeros(B, T, dtype=torch.float64)
    pos_loss[:, :-1] = per.detach()
    t = {"x": x.numpy(), "w": w.numpy(), "labels": labels.int().numpy(),
         "loss": np.array([loss.item()], dtype=np.float32), "dx": xd.grad.float().numpy(),
         "dw": wd.grad.float().numpy(), "pos_loss": pos_loss.view(-1).float().numpy()}
    st.save(os.path.join(out_dir, "head_xent_%s.safetensors" % name), t,
            metadata=dict(B=B, T=T, D=D, V=V))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(a.out, exist_ok=True)
    for i, c in enumerate(ATTENTION_CASES):
        attention_case(a.out, *c, seed=100 + i)
    for i, c in enumerate(HEAD_CASES):
        head_xent_case(a.out, *c, seed=200 + i)
    print("kernels: %d attention and %d head+xent cases -> %s" % (len(ATTENTION_CASES), len(HEAD_CASES), a.out))


if __name__ == "__main__":
    main()
