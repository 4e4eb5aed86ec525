#!/usr/bin/python3
"""hf_torch.py - the PyTorch peer of bench/hf_bench: what a user with plain
PyTorch 1.13 (/usr/bin/python3) does with an HF model directory.

The model is tools/hf_ref_models.py (plain PyTorch written from HF's
modelling code; textbook attention, as PyTorch 1.13 has no fused one), its
weights read from the directory's safetensors (bf16 widened to fp32: the
master weights are fp32, as a plain script that calls .float() has them).
Modes, on batch rows of --seq random token ids:
  eval   forward + loss under torch.no_grad()
  lora   PEFT-style LoRA r=--lora-r on every linear of the blocks (base
         frozen): forward + loss, backward, clip 1, AdamW on the adapter
  full   the same step over every parameter
--bf16 runs forward and loss under torch.autocast("cpu", dtype=torch.bfloat16)
(oneDNN's bf16 matmuls: AMX or AVX512_BF16 where the CPU has them).
One untimed warm-up step, then --steps timed ones.

Prints {"tokens_per_s", "peak_rss_mb", "loss", "load_s"} as one JSON line.
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))
import hf_ref_models  # noqa: E402
from eval_ref import load_weights  # noqa: E402
from lora_ref import LoraWrap  # noqa: E402

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--mode", choices=("eval", "lora", "full"), required=True)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    t0 = time.time()
    with open(os.path.join(a.model, "config.json")) as f:
        cfg = json.load(f)
    model = hf_ref_models.build(cfg)
    weights = load_weights(a.model)
    state = {n: torch.from_numpy(np.ascontiguousarray(weights.pop(n), dtype=np.float32))
             for n, _ in model.named_parameters()}
    del weights
    model.load_state_dict(state, strict=False)
    del state
    params = list(model.parameters())
    if a.mode == "lora":
        for p in params:
            p.requires_grad_(False)
        params = []
        for name, mod in list(model.named_modules()):
            for t in TARGETS:
                lin = getattr(mod, t, None)
                if lin is None or not isinstance(lin, torch.nn.Linear):
                    continue
                A = torch.empty(a.lora_r, lin.in_features).uniform_(-lin.in_features ** -0.5, lin.in_features ** -0.5)
                w = LoraWrap(lin, A, torch.zeros(lin.out_features, a.lora_r), 2.0)
                setattr(mod, t, w)
                params += [w.lora_A, w.lora_B]
    elif a.mode == "eval":
        for p in params:
            p.requires_grad_(False)
    opt = torch.optim.AdamW(params, lr=1e-5) if a.mode != "eval" else None
    load_s = time.time() - t0
    ids = torch.randint(0, cfg["vocab_size"], (a.batch, a.seq))

    def loss_of():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            logits = model(ids)
            return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), ids[:, 1:].reshape(-1))

    loss = None
    for s in range(a.steps + 1):
        if s == 1:
            t1 = time.time()
        if a.mode == "eval":
            with torch.no_grad():
                loss = loss_of()
            continue
        opt.zero_grad(set_to_none=True)
        loss = loss_of()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    dt = time.time() - t1
    print(json.dumps({"tokens_per_s": round(a.batch * a.seq * a.steps / dt, 2),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
                      "loss": round(float(loss), 4), "load_s": round(load_s, 1)}))


if __name__ == "__main__":
    main()
