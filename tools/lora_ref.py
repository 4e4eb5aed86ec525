#!/usr/bin/python3
"""Independent check of LoRA training on a frozen base: N optimizer steps in
PyTorch, for tests/test_bf16w.c to compare `tn_stepper` against.

The base model (any HF directory tools/hf_ref_models.py builds; BF16 tensors
are widened exactly to float32 by tools/st.py) gets no gradients. Every module
the starting adapter names (a PEFT directory: adapter_config.json +
adapter_model.safetensors, as `tn_lora_save` writes it) gets PEFT's LoRA path

    y = base(x) + (alpha / r) * (x @ A^T) @ B^T      (no dropout)

which is the same for nn.Linear and GPT-2's Conv1D (A [r, in], B [out, r]).
Each step: zero the gradients, forward and backward over every micro-batch of
the step (each loss is its batch's mean; the step's gradient is their mean),
torch.nn.utils.clip_grad_norm_(adapter, clip), then torch.optim.AdamW over the
adapter's matrices, all of which decay (PEFT's parameters under HF Trainer).

The batches file holds one JSON object per line, {"ids": [[...]...],
"labels": [[...]...]} ([B][T], labels aligned with ids, -100 masked; position
t is scored against labels[t+1]); step s uses lines s*accum .. s*accum+accum-1
(modulo the number of lines).

Prints one JSON object: "loss": each step's mean micro-batch loss (before its
update), "grad_norm": each step's gradient norm before clipping, "grad1": the
first step's gradient per adapter tensor (its PEFT name, flattened), "final":
the adapter after the last step (flattened).

usage: /usr/bin/python3 tools/lora_ref.py --model DIR --adapter DIR --batches FILE
           [--steps 4] [--accum 1] [--lr 1e-2] [--betas 0.9 0.999] [--eps 1e-8]
           [--weight-decay 0.1] [--clip 1.0] [--double]
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_ref_models  # noqa: E402
import st  # noqa: E402
from eval_ref import load_weights  # noqa: E402

PREFIX = "base_model.model."


class LoraWrap(nn.Module):
    def __init__(self, base, a, b, scale):
        super().__init__()
        self.base = base
        self.lora_A = nn.Parameter(a)
        self.lora_B = nn.Parameter(b)
        self.scale = scale

    def forward(self, x):
        return self.base(x) + self.scale * F.linear(F.linear(x, self.lora_A), self.lora_B)


def find_parent(model, module):
    """The parent module and attribute of `module` (an HF module name), with
    or without GPT-2's "transformer." prefix."""
    names = [module, "transformer." + module] if not module.startswith("transformer.") else [module]
    for name in names:
        parts = name.split(".")
        obj = model
        try:
            for p in parts[:-1]:
                obj = getattr(obj, p)
            if hasattr(obj, parts[-1]):
                return obj, parts[-1]
        except AttributeError:
            continue
    raise SystemExit("lora_ref: the model has no module %s" % module)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--batches", required=True)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--accum", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--betas", type=float, nargs=2, default=[0.9, 0.999])
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--double", action="store_true", help="compute in float64 (the inputs stay the fp32 values)")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    dtype = torch.float64 if args.double else torch.float32

    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    weights = load_weights(args.model)
    model = hf_ref_models.build(cfg)
    state = {}
    for name, _ in model.named_parameters():
        w = weights.get(name)
        if w is None and name.startswith("transformer."):
            w = weights.get(name[len("transformer."):])
        if w is None:
            raise SystemExit("lora_ref: %s missing from %s" % (name, args.model))
        state[name] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
    model.load_state_dict(state, strict=False)
    model.to(dtype)
    for p in model.parameters():
        p.requires_grad_(False)

    with open(os.path.join(args.adapter, "adapter_config.json")) as f:
        acfg = json.load(f)
    r, alpha = acfg["r"], acfg["lora_alpha"]
    scale = alpha / math.sqrt(r) if acfg.get("use_rslora") else alpha / r
    ad = st.load(os.path.join(args.adapter, "adapter_model.safetensors"))[0]
    order = []  # (PEFT name, parameter) in the file's order
    for name in ad:
        if ".lora_A." not in name:
            continue
        module = name[len(PREFIX):name.index(".lora_A.")]
        bname = name.replace(".lora_A.", ".lora_B.")
        parent, attr = find_parent(model, module)
        wrap = LoraWrap(getattr(parent, attr), torch.from_numpy(ad[name].astype(np.float32)).to(dtype),
                        torch.from_numpy(ad[bname].astype(np.float32)).to(dtype), scale)
        setattr(parent, attr, wrap)
        order += [(name, wrap.lora_A), (bname, wrap.lora_B)]
    if not order:
        raise SystemExit("lora_ref: no LoRA tensors in %s" % args.adapter)
    params = [p for _, p in order]
    opt = torch.optim.AdamW(params, lr=args.lr, betas=tuple(args.betas), eps=args.eps,
                            weight_decay=args.weight_decay)

    with open(args.batches) as f:
        batches = [json.loads(line) for line in f if line.strip()]
    losses, norms, grad1 = [], [], {}
    for step in range(args.steps):
        opt.zero_grad(set_to_none=False)
        total = 0.0
        for k in range(args.accum):
            b = batches[(step * args.accum + k) % len(batches)]
            ids = torch.tensor(b["ids"], dtype=torch.long)
            labels = torch.tensor(b["labels"], dtype=torch.long)
            logits = model(ids)
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                   ignore_index=-100)
            (loss / args.accum).backward()
            total += float(loss)
        losses.append(total / args.accum)
        if step == 0:
            grad1 = {n: p.grad.double().flatten().tolist() for n, p in order}
        norm = torch.nn.utils.clip_grad_norm_(params, args.clip) if args.clip > 0 else \
            torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params))
        norms.append(float(norm))
        opt.step()
    print(json.dumps({"loss": losses, "grad_norm": norms, "grad1": grad1,
                      "final": {n: p.detach().double().flatten().tolist() for n, p in order}}))


if __name__ == "__main__":
    main()
