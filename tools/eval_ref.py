#!/usr/bin/python3
"""Independent check of `tuna eval`: recompute the masked loss in PyTorch.

Reads an HF model directory with tools/hf_ref_models.py (plain PyTorch written
from HF's modelling code), optionally applies a PEFT LoRA adapter with PEFT's
own math -- W + (alpha / r) * B @ A (alpha / sqrt(r) with use_rslora), the
product transposed for GPT-2's Conv1D layout -- and computes the mean
cross-entropy over every scored target of the rows in a `tuna eval --dump`
file (one JSON line per row: {"ids": [...], "labels": [...]}, labels aligned
with ids, -100 masked; position t is scored against labels[t+1]).

Prints {"loss": ..., "tokens": ..., "rows": ..., "row_loss": [...], "row_tokens": [...]}
as one JSON line (row_loss: each row's mean over its scored targets, 0 when none).

usage: /usr/bin/python3 tools/eval_ref.py --model DIR [--adapter DIR] --dump FILE
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_ref_models  # noqa: E402
import st  # noqa: E402


def load_weights(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        out = {}
        for s in shards:
            out.update(st.load(os.path.join(model_dir, s))[0])
        return out
    return st.load(os.path.join(model_dir, "model.safetensors"))[0]


def apply_adapter(weights, cfg, adapter_dir):
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        acfg = json.load(f)
    r, alpha = acfg["r"], acfg.get("lora_alpha", 8)
    scale = alpha / math.sqrt(r) if acfg.get("use_rslora") else alpha / r
    ad = st.load(os.path.join(adapter_dir, "adapter_model.safetensors"))[0]
    conv1d = cfg["model_type"] == "gpt2"
    prefix = "base_model.model."
    applied = 0
    for name, a in ad.items():
        if ".lora_A." not in name:
            continue
        module = name[len(prefix):name.index(".lora_A.")]
        b = ad[name.replace(".lora_A.", ".lora_B.")]
        key = module + ".weight"
        if key not in weights and conv1d and key.startswith("transformer."):
            key = key[len("transformer."):]
        delta = scale * (b.astype(np.float64) @ a.astype(np.float64))  # [out, in]
        if conv1d:
            delta = delta.T  # Conv1D stores [in, out]
        weights[key] = (weights[key].astype(np.float64) + delta).astype(np.float32)
        applied += 1
    if applied == 0:
        raise SystemExit("eval_ref: no LoRA tensors in %s" % adapter_dir)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter")
    ap.add_argument("--dump", required=True)
    args = ap.parse_args()
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    weights = load_weights(args.model)
    if args.adapter:
        apply_adapter(weights, cfg, args.adapter)
    model = hf_ref_models.build(cfg)
    state = {}
    for name, _ in model.named_parameters():
        w = weights.get(name)
        if w is None and name.startswith("transformer."):
            w = weights.get(name[len("transformer."):])
        if w is None:
            raise SystemExit("eval_ref: %s missing from %s" % (name, args.model))
        state[name] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
    model.load_state_dict(state, strict=False)
    model.eval()
    total, count, rows = 0.0, 0, 0
    row_loss, row_tokens = [], []
    with torch.no_grad(), open(args.dump) as f:
        for line in f:
            row = json.loads(line)
            ids = torch.tensor([row["ids"]], dtype=torch.long)
            labels = torch.tensor([row["labels"]], dtype=torch.long)
            logits = model(ids)
            tgt = labels[:, 1:].reshape(-1)
            n = int((tgt != -100).sum())
            row_sum = 0.0
            if n:
                row_sum = float(F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).double(), tgt,
                                                ignore_index=-100, reduction="sum"))
                total += row_sum
                count += n
            row_loss.append(row_sum / n if n else 0.0)
            row_tokens.append(n)
            rows += 1
    print(json.dumps({"loss": total / count if count else float("nan"), "tokens": count, "rows": rows,
                      "row_loss": row_loss, "row_tokens": row_tokens}))


if __name__ == "__main__":
    main()
