#!/usr/bin/python3
"""Calibration of the duplicate rule (judge/duplicates.c tn_dup_pair_is_copy,
docs/anticheat.md "Duplicates"): trains honest runs of one recipe that differ
only in the seed (what several miners running tuna's defaults on one task
upload), makes the cheats a copier would upload from the first of them
(tools/dup_cheats.py, plus a retouch: a noised copy trained a few steps on
other rows), compares every later submission with the earlier ones through
`tuna check --json --against`, and prints the table: each statistic's range
over honest pairs and over cheats, the rule's false positives and misses,
and the margins to the thresholds. With --eval-rows, each cheat's loss cost
(held-out rows, `tuna eval`) against its original: a disguise that costs more
than ~0.02 nats is no longer a free copy.

  /usr/bin/python3 tools/calibrate_dupes.py --seeds 3 --lora-seeds 2 --steps 60

Runs on stories260K from ../shared/data (TUNA_SHARED_DATA), GSM8K rows; one
thread per process (the model is tiny).
"""
import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHEATS = ["noise1", "noise3", "noise10", "scale0.5", "scale2", "bf16", "retouch", "remix", "merged", "remix_merged"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tuna", default=os.environ.get("TUNA", "build/tuna"))
    ap.add_argument("--work", default="/tmp/tuna-calib-dupes")
    ap.add_argument("--data", default=os.environ.get("TUNA_SHARED_DATA", "../shared/data"))
    ap.add_argument("--rows", type=int, default=600, help="GSM8K training rows (the task)")
    ap.add_argument("--seeds", type=int, default=3, help="honest full fine-tunes (seeds 1..N)")
    ap.add_argument("--lora-seeds", type=int, default=2, help="honest LoRA fine-tunes (seeds 1..N)")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--cheats", default=",".join(CHEATS), help="comma-separated subset of " + ",".join(CHEATS))
    ap.add_argument("--eval-rows", type=int, default=0, help="held-out rows for each cheat's loss cost (0: skip)")
    ap.add_argument("--keep", action="store_true", help="reuse runs already in --work")
    args = ap.parse_args()
    cheats = [c for c in args.cheats.split(",") if c]
    for c in cheats:
        if c not in CHEATS:
            sys.exit("unknown cheat %r (known: %s)" % (c, ",".join(CHEATS)))
    if args.seeds < 1 or (args.lora_seeds < 1 and any(c in ("remix", "merged", "remix_merged") for c in cheats)):
        sys.exit("need --seeds >= 1, and --lora-seeds >= 1 for the LoRA cheats")
    tuna, work = os.path.abspath(args.tuna), args.work
    env = dict(os.environ, OMP_NUM_THREADS="1")
    os.makedirs(work, exist_ok=True)
    t0 = time.time()

    def run(cmd):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
        return r.stdout

    def w(name):
        return os.path.join(work, name)

    src = os.path.join(args.data, "models", "stories260K")
    if not (args.keep and os.path.exists(w("base"))):
        run([tuna, "convert", "--from", "llama2c", "--tokenizer", os.path.join(src, "tok512.bin"), "--out", w("base"),
             os.path.join(src, "stories260K.bin")])
    rows = open(os.path.join(args.data, "datasets", "gsm8k_train.jsonl")).read().splitlines()
    need = args.rows + 200 + args.eval_rows
    if len(rows) < need:
        sys.exit("gsm8k_train.jsonl has %d rows, need %d" % (len(rows), need))
    parts = {"train.jsonl": rows[:args.rows], "other.jsonl": rows[args.rows:args.rows + 200],
             "heldout.jsonl": rows[args.rows + 200:need]}
    for name, lines in parts.items():
        with open(w(name), "w") as f:
            f.write("\n".join(lines) + "\n")
    fields = ["--field-instruction", "question", "--field-output", "answer"]
    recipe = ["--batch", str(args.batch), "--seq-len", str(args.seq_len), "--quiet"] + fields

    def train(name, model, data, steps, seed, extra=()):
        if not (args.keep and os.path.exists(os.path.join(w(name), "train_summary.json"))):
            run([tuna, "train", "--model", model, "--data", w(data), "--out", w(name), "--max-steps", str(steps),
                 "--seed", str(seed)] + recipe + list(extra))
        return w(name)

    honest = []  # upload order
    for s in range(1, args.seeds + 1):
        honest.append(("full_s%d" % s, train("full_s%d" % s, w("base"), "train.jsonl", args.steps, s)))
    for s in range(1, args.lora_seeds + 1):
        honest.append(("lora_s%d" % s, train("lora_s%d" % s, w("base"), "train.jsonl", args.steps, s, ["--lora"])))
    py = ["/usr/bin/python3", os.path.join(HERE, "dup_cheats.py")]
    orig_full, orig_lora = w("full_s1"), w("lora_s1")
    made = []  # (name, dir, original)
    for c in cheats:
        d = w("c_" + c)
        if not (args.keep and os.path.exists(d)):
            if c.startswith("noise"):
                run(py + ["noise", w("base"), orig_full, d, c[5:], "7"])
            elif c.startswith("scale"):
                run(py + ["scale", w("base"), orig_full, d, c[5:]])
            elif c == "bf16":
                run(py + ["bf16", orig_full, d])
            elif c == "retouch":  # noise 3x the delta, then 10 steps on rows outside the task
                run(py + ["noise", w("base"), orig_full, w("c_retouch_src"), "3", "11"])
                train("c_retouch", w("c_retouch_src"), "other.jsonl", 10, 99)
            elif c == "remix":
                run(py + ["remix", orig_lora, d, "5"])
            elif c == "merged":
                run(py + ["merge", w("base"), orig_lora, d])
            elif c == "remix_merged":
                run(py + ["remix", orig_lora, w("c_remix_src"), "6"])
                run(py + ["merge", w("base"), w("c_remix_src"), d])
        made.append((c, d, orig_lora if c in ("remix", "merged", "remix_merged") else orig_full))

    def check(sub, against):
        out = run([tuna, "check", "--base", w("base"), "--submission", sub, "--json"] +
                  [x for a in against for x in ("--against", a)])
        return json.loads(out)

    stats = ["cosine", "residual", "structure_ratio", "significance"]
    rows_h, rows_c = [], []
    for (na, da), (nb, db) in itertools.combinations(honest, 2):  # b uploaded after a
        j = check(db, [da])
        p = j["sketch_pairs"][0] if j["sketch_pairs"] else {}
        rows_h.append((nb + " vs " + na, j["verdict"], p, j.get("evidence", "")))
    for c, d, orig in made:
        j = check(d, [orig] + [x for _, x in honest if x != orig])  # the original and every honest run
        p = j["sketch_pairs"][0] if j["sketch_pairs"] else {}
        rows_c.append((c + " of " + os.path.basename(orig), j["verdict"], p, j.get("reason", "")))
    cost = {}
    if args.eval_rows:
        def loss(d):
            m = ["--adapter", d, "--model", w("base")] if os.path.exists(os.path.join(d, "adapter_config.json")) \
                else ["--model", d]
            return json.loads(run([tuna, "eval"] + m + ["--data", w("heldout.jsonl"), "--json"] + fields))["loss"]
        ref = {orig_full: loss(orig_full)}
        if any(o == orig_lora for _, _, o in made):
            ref[orig_lora] = loss(orig_lora)
        for c, d, orig in made:
            cost[c] = loss(d) - ref[orig]

    def fmt(x):
        return "-" if x is None else ("%.4g" % x)

    print("# duplicate rule calibration: stories260K, %d GSM8K rows, %d steps, batch %d, seq-len %d; "
          "%d full + %d LoRA honest seeds; %.0f s" % (args.rows, args.steps, args.batch, args.seq_len, args.seeds,
                                                      args.lora_seeds, time.time() - t0))
    print("\n| pair | verdict | cosine | residual | structure / noise | significance |%s" %
          (" loss cost (nats) |" if cost else ""))
    print("|---|---|---|---|---|---|%s" % ("---|" if cost else ""))
    for kind, rs in (("honest", rows_h), ("cheat", rows_c)):
        for name, verdict, p, _ in rs:
            extra = " %+.4f |" % cost[name.split(" ")[0]] if cost and kind == "cheat" else (" |" if cost else "")
            print("| %s: %s | %s | %s |%s" % (kind, name, verdict, " | ".join(fmt(p.get(s)) for s in stats), extra))
    print("\n| statistic | honest min | honest max | cheats min | cheats max |")
    print("|---|---|---|---|---|")
    for s in stats:
        h = [p[s] for _, _, p, _ in rows_h if s in p]
        c = [p[s] for _, _, p, _ in rows_c if s in p]
        print("| %s | %s | %s | %s | %s |" % (s, fmt(min(h) if h else None), fmt(max(h) if h else None),
                                             fmt(min(c) if c else None), fmt(max(c) if c else None)))
    fp = [n for n, v, _, _ in rows_h if v == "duplicate"]
    miss = [n for n, v, _, _ in rows_c if v != "duplicate"]
    hs = [p["structure_ratio"] for _, _, p, _ in rows_h if "structure_ratio" in p]
    noisy = [p["structure_ratio"] for n, _, p, _ in rows_c if "structure_ratio" in p and p.get("residual", 0) > 0.05
             and not n.startswith("bf16")]
    print("\nfalse positives: %d of %d honest pairs%s" % (len(fp), len(rows_h), (": " + ", ".join(fp)) if fp else ""))
    print("misses: %d of %d cheats%s" % (len(miss), len(rows_c), (": " + ", ".join(miss)) if miss else ""))
    m = re.search(r"--dup-max-structure X.*default ([0-9.]+)\)", run([tuna, "check", "--help"]))
    thr = float(m.group(1)) if m else float("nan")
    if hs and noisy:
        print("structure ratio (tuna check --dup-max-structure, default %g): honest min %.3f (margin %+.3f), "
              "noised cheats max %.3f (margin %+.3f)" % (thr, min(hs), min(hs) - thr, max(noisy), thr - max(noisy)))
    for name, verdict, _, reason in rows_c:
        print("  %s: %s" % (name, reason[:160]))


if __name__ == "__main__":
    main()
