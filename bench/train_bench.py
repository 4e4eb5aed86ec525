#!/usr/bin/python3
"""train_bench.py - the PyTorch peer of `tuna bench train` (bench/run calls both).

A plain PyTorch Llama (RMSNorm, rotate-half RoPE, causal attention with GQA,
SwiGLU, untied or tied head), random weights, the same step as tuna's bench:
zero grads, forward + cross-entropy (HF label shift), backward, clip the global
norm to 1, AdamW. --lora R freezes the base and trains PEFT-style adapters
(A [r, in], B [out, r], scale 2) on every linear layer of the blocks.
--eval-only times forward + loss under torch.no_grad().

PyTorch 1.13 (the machine's /usr/bin/python3) has no fused attention, so the
attention is the textbook one: scores [B, H, T, T], mask, softmax, @ v; that is
what a plain PyTorch training script does on this version.

Prints the same JSON as tuna: {"tokens_per_s", "peak_rss_mb", "gflops", "loss"}.
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    "stories15M": dict(dim=288, layers=6, heads=6, kv=6, hidden=768, vocab=32000, tied=False),
    "stories42M": dict(dim=512, layers=8, heads=8, kv=8, hidden=1376, vocab=32000, tied=False),
    "smollm135M": dict(dim=576, layers=30, heads=9, kv=3, hidden=1536, vocab=49152, tied=True),
}


class LoraLinear(nn.Module):
    def __init__(self, inp, out, r):
        super().__init__()
        self.base = nn.Linear(inp, out, bias=False)
        self.r = r
        if r:
            self.A = nn.Parameter(torch.empty(r, inp).uniform_(-1 / math.sqrt(inp), 1 / math.sqrt(inp)))
            self.B = nn.Parameter(torch.full((out, r), 1e-3))
            self.scale = 2.0

    def forward(self, x):
        y = self.base(x)
        if self.r:
            y = y + (x @ self.A.t() @ self.B.t()) * self.scale
        return y


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        d, hd = c["dim"], c["dim"] // c["heads"]
        self.h, self.kv, self.hd = c["heads"], c["kv"], hd
        self.ln1, self.ln2 = RMSNorm(d), RMSNorm(d)
        self.q = LoraLinear(d, c["heads"] * hd, r)
        self.k = LoraLinear(d, c["kv"] * hd, r)
        self.v = LoraLinear(d, c["kv"] * hd, r)
        self.o = LoraLinear(c["heads"] * hd, d, r)
        self.gate = LoraLinear(d, c["hidden"], r)
        self.up = LoraLinear(d, c["hidden"], r)
        self.down = LoraLinear(c["hidden"], d, r)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = self.ln1(x)
        q = self.q(h).view(B, T, self.h, self.hd).transpose(1, 2)
        k = self.k(h).view(B, T, self.kv, self.hd).transpose(1, 2)
        v = self.v(h).view(B, T, self.kv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.kv != self.h:
            k = k.repeat_interleave(self.h // self.kv, dim=1)
            v = v.repeat_interleave(self.h // self.kv, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        a = torch.softmax(s, dim=-1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(B, T, -1))
        h = self.ln2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Model(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.c = c
        self.embed = nn.Embedding(c["vocab"], c["dim"])
        self.blocks = nn.ModuleList(Block(c, r) for _ in range(c["layers"]))
        self.norm = RMSNorm(c["dim"])
        self.head = nn.Linear(c["dim"], c["vocab"], bias=False)
        if c["tied"]:
            self.head.weight = self.embed.weight
        for p in self.parameters():
            if p.dim() == 2 and p.requires_grad:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids, labels):
        B, T = ids.shape
        hd = self.c["dim"] // self.c["heads"]
        inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.arange(T).float()[:, None] * inv[None, :]
        emb = torch.cat((ang, ang), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = self.embed(ids)
        for b in self.blocks:
            x = b(x, cos, sin, mask)
        logits = self.head(self.norm(x))
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, choices=sorted(CONFIGS))
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--lora", type=int, default=0)
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = CONFIGS[a.config]
    model = Model(c, a.lora)
    if a.lora:
        for n, p in model.named_parameters():
            p.requires_grad = n.endswith(".A") or n.endswith(".B")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0) if not a.eval_only else None
    ids = torch.randint(0, c["vocab"], (a.batch, a.seq))
    loss = None
    t0 = 0.0
    for s in range(a.steps + 1):
        if s == 1:
            t0 = time.time()
        if a.eval_only:
            with torch.no_grad():
                loss = model(ids, ids)
            continue
        opt.zero_grad(set_to_none=True)
        loss = model(ids, ids)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    dt = time.time() - t0
    D, L, V, I = c["dim"], c["layers"], c["vocab"], c["hidden"]
    hd = D // c["heads"]
    qd, kvd, T = c["heads"] * hd, c["kv"] * hd, a.seq
    n_mm = L * (2 * D * qd + 2 * D * kvd + 3 * D * I) + D * V
    per_tok = 2 * n_mm + 2 * L * T * qd if a.eval_only else 6 * n_mm + 6 * L * T * qd
    tps = a.batch * a.seq * a.steps / dt
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    out = {"tokens_per_s": round(tps, 1), "peak_rss_mb": round(rss, 1), "gflops": round(per_tok * tps / 1e9, 2),
           "loss": round(float(loss), 4)}
    print(json.dumps(out) if a.json else out)


if __name__ == "__main__":
    main()
