#!/usr/bin/python3
"""calibrate_anticheat.py - measure the anti-cheat rules on real fine-tunes and cheats.

Builds, from the real stories260K model (../shared/data), a set of independent
fine-tunes (seeds, data orders, datasets, learning rates, full and LoRA) made
with `tuna train`, and a set of cheats (copies, copies + Gaussian noise at
several levels, rescaled deltas, random and retrained networks of the same
shape, heavily perturbed base, untouched base, an adapter naming another base,
an adapter trained on another base). Runs `tuna check --json` on each,
against the independent runs, and prints the distributions, the verdicts and
the false-positive / false-negative counts as markdown (docs/anticheat.md
quotes this output). The raw numbers go to WORK/calibration.json.

usage: tools/calibrate_anticheat.py [--tuna build/tuna] [--work /tmp/tuna-calib]
                                    [--data ../shared/data] [--keep] [--sketch-k 512]
Needs python3 + numpy only. Takes ~3-6 minutes on 2 cores.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import time

import numpy as np

# ---- safetensors (F32 only: what tuna writes) ------------------------------


def st_read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in hdr.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (path, name, t["dtype"])
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(t["shape"]).copy()
    return out


def st_write(path, tensors):
    hdr, off, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        hdr[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def clone_dir(src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)


def model_variant(src, dst, fn):
    """dst = src with weights fn(name, tensor) (full-weight directories)."""
    clone_dir(src, dst)
    w = st_read(os.path.join(src, "model.safetensors"))
    st_write(os.path.join(dst, "model.safetensors"), {k: fn(k, v) for k, v in w.items()})


# ---- the experiment --------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tuna", default=os.environ.get("TUNA", "build/tuna"))
    ap.add_argument("--work", default="/tmp/tuna-calib")
    ap.add_argument("--data", default=os.environ.get("TUNA_SHARED_DATA", "../shared/data"))
    ap.add_argument("--keep", action="store_true", help="reuse runs already in --work")
    ap.add_argument("--sketch-k", type=int, default=512, help="sketch length for tuna check")
    args = ap.parse_args()
    tuna, work, data = os.path.abspath(args.tuna), args.work, args.data
    env = dict(os.environ, OMP_NUM_THREADS="1")  # tiny model: threads only contend
    os.makedirs(work, exist_ok=True)
    t_start = time.time()

    def run(cmd, check=True):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if check and r.returncode != 0:
            sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
        return r

    src = os.path.join(data, "models", "stories260K")
    base = os.path.join(work, "base")
    if not (args.keep and os.path.exists(base)):
        run([tuna, "convert", "--from", "llama2c", "--tokenizer", os.path.join(src, "tok512.bin"), "--out", base,
             os.path.join(src, "stories260K.bin")])
    ds = os.path.join(data, "datasets")
    alpaca = [os.path.join(ds, "alpaca_en_demo.json")]
    gsm = [os.path.join(ds, "gsm8k_train.jsonl"), "--field-instruction", "question", "--field-output", "answer"]
    c4 = [os.path.join(ds, "c4_demo.jsonl"), "--type", "text"]

    def train(name, model, data_args, extra, seconds_log):
        out = os.path.join(work, name)
        if args.keep and os.path.exists(os.path.join(out, "train_summary.json")):
            return out
        t = time.time()
        run([tuna, "train", "--model", model, "--data"] + data_args +
            ["--out", out, "--batch", "4", "--seq-len", "128", "--quiet"] + extra)
        seconds_log[name] = round(time.time() - t, 1)
        return out

    secs = {}
    # Independent fine-tunes: what a miner does honestly. (name, data, extra flags, description)
    indep_spec = [
        ("full_alpaca_s1", alpaca, ["--max-steps", "60", "--lr", "1e-3", "--seed", "1"], "full, alpaca, seed 1, lr 1e-3, 60 steps"),
        ("full_alpaca_s2", alpaca, ["--max-steps", "60", "--lr", "1e-3", "--seed", "2"], "full, alpaca, seed 2"),
        ("full_alpaca_s3", alpaca, ["--max-steps", "60", "--lr", "1e-3", "--seed", "3"], "full, alpaca, seed 3"),
        ("full_alpaca_s4_lr3e-4", alpaca, ["--max-steps", "60", "--lr", "3e-4", "--seed", "4"], "full, alpaca, seed 4, lr 3e-4"),
        ("full_alpaca_s5_hot", alpaca, ["--max-steps", "150", "--lr", "5e-3", "--seed", "5"], "full, alpaca, seed 5, lr 5e-3, 150 steps (aggressive)"),
        ("full_alpaca_s6_short", alpaca, ["--max-steps", "3", "--lr", "2e-5", "--seed", "6"], "full, alpaca, seed 6, lr 2e-5, 3 steps (minimal)"),
        ("full_gsm_s1", gsm, ["--max-steps", "60", "--lr", "1e-3", "--seed", "1"], "full, gsm8k, seed 1"),
        ("full_gsm_s2", gsm, ["--max-steps", "60", "--lr", "1e-3", "--seed", "2"], "full, gsm8k, seed 2"),
        ("full_c4_s1", c4, ["--max-steps", "60", "--lr", "1e-3", "--seed", "1"], "full, c4 text, seed 1"),
        ("lora_alpaca_s1", alpaca, ["--lora", "--max-steps", "60", "--lr", "5e-3", "--seed", "1"], "LoRA r8, alpaca, seed 1, lr 5e-3"),
        ("lora_alpaca_s2", alpaca, ["--lora", "--max-steps", "60", "--lr", "5e-3", "--seed", "2"], "LoRA r8, alpaca, seed 2"),
        ("lora_gsm_s1", gsm, ["--lora", "--max-steps", "60", "--lr", "5e-3", "--seed", "1"], "LoRA r8, gsm8k, seed 1"),
        ("lora_alpaca_s3_r16", alpaca, ["--lora", "--lora-r", "16", "--max-steps", "60", "--lr", "2e-3", "--seed", "3"], "LoRA r16, alpaca, seed 3, lr 2e-3"),
    ]
    # Same data order as full_alpaca_s1 (seed 1) with another learning rate: a
    # different run, but the closest one can get to "the same run" honestly.
    sameorder = ("full_alpaca_s1_lr5e-4", alpaca, ["--max-steps", "60", "--lr", "5e-4", "--seed", "1"],
                 "full, alpaca, seed 1 (same data order as full_alpaca_s1), lr 5e-4")
    indep = {}
    for name, d, extra, _ in indep_spec + [sameorder]:
        indep[name] = train(name, base, d, extra, secs)
    desc = {n: dsc for n, _, _, dsc in indep_spec + [sameorder]}

    # Cheats.
    cheats, expect = {}, {}
    bw = st_read(os.path.join(base, "model.safetensors"))
    src1 = indep["full_alpaca_s1"]
    w1 = st_read(os.path.join(src1, "model.safetensors"))
    rng = np.random.default_rng(1234)

    cheats["copy_of_s1"] = os.path.join(work, "copy_of_s1")
    clone_dir(src1, cheats["copy_of_s1"])
    expect["copy_of_s1"] = "duplicate"
    desc["copy_of_s1"] = "byte copy of full_alpaca_s1"
    # copy + Gaussian noise whose norm is nu x the delta's norm, per tensor
    for nu in [0.1, 0.3, 0.5, 0.7, 1.0, 2.0, 3.0]:
        n = "s1_noise_%g" % nu

        def noisy(k, v, nu=nu):
            d = v - bw[k]
            s = np.linalg.norm(d) / np.sqrt(d.size)
            return (v + rng.normal(0, nu * s, v.shape)).astype(np.float32)

        model_variant(src1, os.path.join(work, n), noisy)
        cheats[n] = os.path.join(work, n)
        expect[n] = "duplicate"
        desc[n] = "full_alpaca_s1 + Gaussian noise, ||noise|| = %g ||delta|| per tensor" % nu
    # copy + noise relative to the weights themselves (what a naive cheater does)
    for lv in [1e-3, 1e-2]:
        n = "s1_wnoise_%g" % lv
        model_variant(src1, os.path.join(work, n),
                      lambda k, v, lv=lv: (v + rng.normal(0, lv * (np.std(v) + 1e-12), v.shape)).astype(np.float32))
        cheats[n] = os.path.join(work, n)
        expect[n] = "duplicate"
        desc[n] = "full_alpaca_s1 + Gaussian noise, sigma = %g x std(W) per tensor" % lv
    for sc in [0.5, 1.5]:
        n = "s1_scaled_%g" % sc
        model_variant(src1, os.path.join(work, n), lambda k, v, sc=sc: (bw[k] + sc * (v - bw[k])).astype(np.float32))
        cheats[n] = os.path.join(work, n)
        expect[n] = "duplicate"
        desc[n] = "base + %g x delta of full_alpaca_s1" % sc
    # random network of the same shape (HF init: normal(0, 0.02), norms 1)
    n = "random_init"
    model_variant(base, os.path.join(work, n),
                  lambda k, v: (np.ones_like(v) if "norm" in k else rng.normal(0, 0.02, v.shape)).astype(np.float32))
    cheats[n] = os.path.join(work, n)
    expect[n] = "not-a-fine-tune"
    desc[n] = "random network of the same shape (normal(0, 0.02))"
    # another network trained from that random init (stands in for "another pretrained model")
    n = "retrained_from_scratch"
    out = train(n, cheats["random_init"], c4 + [], ["--max-steps", "300", "--lr", "5e-3", "--seed", "7"], secs)
    cheats[n] = out
    expect[n] = "not-a-fine-tune"
    desc[n] = "random init trained 300 steps on c4 (lr 5e-3): another network of the same shape"
    # heavily perturbed base: noise as large as the weights
    for lv in [0.5, 1.0]:
        n = "base_noise_%g" % lv
        model_variant(base, os.path.join(work, n),
                      lambda k, v, lv=lv: (v + rng.normal(0, lv * np.std(v) + 1e-12, v.shape)).astype(np.float32))
        cheats[n] = os.path.join(work, n)
        expect[n] = "n/a"  # weights alone cannot tell it from an aggressive fine-tune: its loss can
        desc[n] = "base + Gaussian noise sigma = %g x std(W) per tensor" % lv
    # untouched base (copied) and base + tiny noise
    cheats["untouched_base"] = os.path.join(work, "untouched_base")
    clone_dir(base, cheats["untouched_base"])
    expect["untouched_base"] = "untouched-base"
    desc["untouched_base"] = "copy of the base"
    n = "base_tiny_noise_1e-8"
    model_variant(base, os.path.join(work, n),
                  lambda k, v: (v + rng.normal(0, 1e-8 * np.std(v), v.shape)).astype(np.float32))
    cheats[n] = os.path.join(work, n)
    expect[n] = "untouched-base"
    desc[n] = "base + noise 1e-8 x std(W) (float rounding level)"
    # adapter naming another base: applied to the requested one anyway
    n = "lora_s1_names_other_base"
    clone_dir(indep["lora_alpaca_s1"], os.path.join(work, n))
    p = os.path.join(work, n, "adapter_config.json")
    cfg = json.load(open(p))
    cfg["base_model_name_or_path"] = "meta-llama/Llama-2-7b-hf"
    json.dump(cfg, open(p, "w"), indent=2)
    cheats[n] = os.path.join(work, n)
    expect[n] = "duplicate"
    desc[n] = "lora_alpaca_s1's adapter with base_model_name_or_path edited to another model"
    # an adapter trained on another base, submitted for this one
    n = "lora_trained_on_other_base"
    cheats[n] = train(n, cheats["retrained_from_scratch"], alpaca,
                      ["--lora", "--max-steps", "60", "--lr", "5e-3", "--seed", "9"], secs)
    expect[n] = "fine-tune"  # legal once merged into the requested base: see docs
    desc[n] = "LoRA trained on retrained_from_scratch, applied to the requested base"

    # ---- checks ----
    names = list(indep)
    results = {}

    def check(name, path, against):
        r = run([tuna, "check", "--base", base, "--submission", path, "--json", "--sketch-k", str(args.sketch_k)] +
                sum([["--against", indep[a]] for a in against], []))
        j = json.loads(r.stdout)
        j["against"] = against
        return j

    for n in names:
        results[n] = check(n, indep[n], [a for a in names if a != n])
    for n in cheats:
        results[n] = check(n, cheats[n], names)

    # eval loss of s1 and its noisy copies: what the noise costs the cheater
    evl = {}
    for n in (["full_alpaca_s1", "full_alpaca_s5_hot", "full_alpaca_s6_short", "lora_alpaca_s1"] +
              [c for c in cheats if c.startswith(("s1_", "base_", "random", "retrained", "untouched"))]):
        path = indep.get(n) or cheats[n]
        if os.path.exists(os.path.join(path, "adapter_config.json")):
            target = ["--model", base, "--adapter", path]
        else:
            target = ["--model", path]
        r = run([tuna, "eval"] + target + ["--data", alpaca[0], "--seq-len", "128", "--json"])
        evl[n] = json.loads(r.stdout)["loss"]
    json.dump({"results": results, "eval_loss": evl, "train_seconds": secs, "desc": desc},
              open(os.path.join(work, "calibration.json"), "w"), indent=1)

    # ---- report ----
    print("## Independent fine-tunes (each checked against all the others)\n")
    print("| run | min cosine | max rel dist | median rel dist | tensors changed | max sketch sim (vs) | verdict |")
    print("|---|---|---|---|---|---|---|")
    for n in names:
        j = results[n]
        sims = j["sketch_similarities"]
        mi = int(np.argmax(sims))
        print("| %s | %.4f | %.4g | %.4g | %d/%d | %.3f (%s) | %s |" % (
            n, j["min_cosine"], j["max_rel_distance"], j["median_rel_distance"], j["tensors_changed"],
            j["tensors"], sims[mi], j["against"][mi], j["verdict"]))
    pair_s, pair_d, pair_names = [], [], []
    for i, a in enumerate(names):
        for jj, b in enumerate(results[a]["against"]):
            if names.index(b) > i:
                pair_s.append(results[a]["sketch_similarities"][jj])
                pair_d.append(results[a]["delta_cosines"][jj])
                pair_names.append((a, b))
    pair_s, pair_d = np.array(pair_s), np.array(pair_d)
    print("\nsketch similarity over %d independent pairs: min %.3f, median %.3f, max %.3f (%s vs %s)" % (
        len(pair_s), pair_s.min(), np.median(pair_s), pair_s.max(), *pair_names[int(np.argmax(pair_s))]))
    excl = [k for k, (a, b) in enumerate(pair_names) if "lr5e-4" not in a + b]
    print("  without the same-data-order pair: max %.3f (%s vs %s)" % (
        pair_s[excl].max(), *pair_names[excl[int(np.argmax(pair_s[excl]))]]))
    print("sketch vs exact delta cosine over those pairs: max |error| %.4f" % np.abs(pair_s - pair_d).max())
    print("\n## Cheats (each checked against all independent runs)\n")
    print("| cheat | expected | verdict | min cosine | max rel dist | max sketch sim | exact delta cos | eval loss |")
    print("|---|---|---|---|---|---|---|---|")
    for n in cheats:
        j = results[n]
        sims = j.get("sketch_similarities") or [0]
        mi = int(np.argmax(sims))
        dc = (j.get("delta_cosines") or [None])[mi]
        print("| %s | %s | %s | %s | %s | %.3f | %s | %s |" % (
            n, expect[n], j["verdict"], "%.4f" % j["min_cosine"] if "min_cosine" in j else "-",
            "%.4g" % j["max_rel_distance"] if "max_rel_distance" in j else "-", sims[mi],
            "%.3f" % dc if dc is not None else "-", "%.4f" % evl[n] if n in evl else "-"))
    same_order = ("full_alpaca_s1", "full_alpaca_s1_lr5e-4")
    distinct = [n for n in names if n not in same_order]
    fp = [n for n in distinct if results[n]["verdict"] != "fine-tune"]
    fn = [n for n in cheats if expect[n] != "n/a" and results[n]["verdict"] != expect[n]]
    print("\nindependent runs with distinct seeds: %d, not judged fine-tune (false positives): %d %s" % (
        len(distinct), len(fp), fp))
    print("same seed (data order), different lr: %s" % ", ".join(
        "%s -> %s" % (n, results[n]["verdict"]) for n in same_order))
    print("cheats with an expected verdict: %d, wrong verdicts (false negatives): %d %s" % (
        len([n for n in cheats if expect[n] != "n/a"]), len(fn), fn))
    print("independent distinct-seed pairs: exact delta cosine max %.3f, sketch max %.3f" % (
        max(d for d, (a, b) in zip(pair_d, pair_names) if a in distinct and b in distinct),
        max(s for s, (a, b) in zip(pair_s, pair_names) if a in distinct and b in distinct)))
    print("sketch - exact error over independent pairs: std %.4f (1/sqrt(k) = %.4f)" % (
        np.std(pair_s - pair_d), 1 / np.sqrt(args.sketch_k)))
    print("eval loss on alpaca (seq 128): base %.4f, full_alpaca_s1 %.4f" % (evl["untouched_base"], evl["full_alpaca_s1"]))
    print("train seconds: %s" % secs)
    print("total %.0f s" % (time.time() - t_start))


if __name__ == "__main__":
    main()
