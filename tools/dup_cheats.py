#!/usr/bin/python3
"""Makes the copies a cheating miner would upload, from a real submission
directory (tuna train's output), for the duplicate rule's tests and its
calibration (tools/calibrate_dupes.py, tests/test_anticheat.c,
docs/anticheat.md). numpy + tools/st.py only, so the judge's C code is checked
against files it did not write.

  dup_cheats.py bf16   SRC DST              re-save full weights as BF16 safetensors
  dup_cheats.py f16    SRC DST              ... as F16 (IEEE half)
  dup_cheats.py noise  BASE SRC DST NU SEED  add N(0, (NU x rms of the tensor's delta)^2) to every tensor
  dup_cheats.py scale  BASE SRC DST C        W_base + C (W - W_base)
  dup_cheats.py remix  SRC DST SEED          LoRA adapter: A' = M A, B' = B M^-1 per module
                                             (M random, well conditioned): the same merged delta
  dup_cheats.py merge  BASE SRC DST          LoRA adapter -> full weights W + (alpha / r) B A

Directories are copied whole (config, tokenizer) and the weight file is
rewritten; DST is replaced.
"""
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

W = "model.safetensors"
AD = "adapter_model.safetensors"


def fresh_copy(src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)


def full_variant(src, dst, fn, dtypes=None):
    t, meta = st.load(os.path.join(src, W))
    fresh_copy(src, dst)
    out = {k: fn(k, v) for k, v in t.items()}
    st.save(os.path.join(dst, W), out, meta, {k: dtypes for k in out} if dtypes else None)


def base_weights(base):
    return st.load(os.path.join(base, W))[0]


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, a = argv[1], argv[2:]
    if cmd == "bf16" and len(a) == 2:
        full_variant(a[0], a[1], lambda k, v: v.astype(np.float32), "BF16")
    elif cmd == "f16" and len(a) == 2:
        full_variant(a[0], a[1], lambda k, v: v.astype(np.float16))
    elif cmd == "noise" and len(a) == 5:
        bw, nu, rng = base_weights(a[0]), float(a[3]), np.random.default_rng(int(a[4]))

        def noised(k, v):
            d = v.astype(np.float64) - bw[k]
            sd = nu * np.sqrt(np.mean(d * d))
            return (v + rng.normal(0.0, sd, v.shape)).astype(np.float32) if sd > 0 else v

        full_variant(a[1], a[2], noised)
    elif cmd == "scale" and len(a) == 4:
        bw, c = base_weights(a[0]), float(a[3])
        full_variant(a[1], a[2], lambda k, v: (bw[k] + c * (v.astype(np.float64) - bw[k])).astype(np.float32))
    elif cmd == "remix" and len(a) == 3:
        src, dst, rng = a[0], a[1], np.random.default_rng(int(a[2]))
        t, meta = st.load(os.path.join(src, AD))
        out = dict(t)
        for k in t:
            if not k.endswith(".lora_A.weight"):
                continue
            kb = k[: -len(".lora_A.weight")] + ".lora_B.weight"
            A, B = t[k].astype(np.float64), t[kb].astype(np.float64)
            r = A.shape[0]
            q, _ = np.linalg.qr(rng.normal(size=(r, r)))
            M = q @ np.diag(rng.uniform(0.5, 2.0, r))  # condition number <= 4
            out[k] = (M @ A).astype(np.float32)
            out[kb] = (B @ np.linalg.inv(M)).astype(np.float32)
        fresh_copy(src, dst)
        st.save(os.path.join(dst, AD), out, meta)
    elif cmd == "merge" and len(a) == 3:
        base, src, dst = a
        cfg = json.load(open(os.path.join(src, "adapter_config.json")))
        scale = float(cfg["lora_alpha"]) / float(cfg["r"])
        if cfg.get("use_rslora"):
            scale = float(cfg["lora_alpha"]) / np.sqrt(float(cfg["r"]))
        t, _ = st.load(os.path.join(src, AD))
        w, meta = st.load(os.path.join(base, W))
        merged = {k: v.astype(np.float64) for k, v in w.items()}
        for k in t:
            if not k.endswith(".lora_A.weight"):
                continue
            name = k[len("base_model.model."): -len(".lora_A.weight")] + ".weight"
            if name not in merged:
                sys.exit("merge: %s has no base tensor %s" % (k, name))
            kb = k[: -len(".lora_A.weight")] + ".lora_B.weight"
            merged[name] += scale * (t[kb].astype(np.float64) @ t[k].astype(np.float64))
        fresh_copy(base, dst)
        st.save(os.path.join(dst, W), {k: v.astype(np.float32) for k, v in merged.items()}, meta)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
