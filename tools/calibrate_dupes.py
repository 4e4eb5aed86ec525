#!/usr/bin/python3
"""Calibration of the duplicate rule (judge/duplicates.c tn_dup_pair_is_copy,
docs/anticheat.md "Duplicates"): trains honest runs of one recipe that differ
only in the seed (what several miners running tuna's defaults on one task
upload), short and long, full and LoRA; makes the cheats a copier would upload
from them (tools/dup_cheats.py, plus a retouch: a noised copy trained a few
steps on other rows), --per-cheat instances of each category, varying the
source run and the seed; compares every later honest run with every earlier
one, and each cheat with its original and every honest run, through
`tuna check --json --against`; prints the tables: each statistic's range over
honest pairs (by kind of pair) and over cheats (by category), the rule's false
positives and misses, and the margins to each threshold. With --eval-rows,
each cheat's loss cost (held-out rows, `tuna eval`) against its original: a
disguise that costs more than ~0.02 nats is no longer a free copy.

  /usr/bin/python3 tools/calibrate_dupes.py --seeds 3 --lora-seeds 2 --steps 60
  /usr/bin/python3 tools/calibrate_dupes.py --base DIR --seeds 8 --lora-seeds 8 \\
      --long-seeds 3 --long-lora-seeds 3 --steps 40 --long-steps 160 --per-cheat 10

Base: stories260K from ../shared/data (TUNA_SHARED_DATA), or --base (an HF
model directory, e.g. the 5M base of tools/calibrate_two_scales.py). Task:
GSM8K rows. One thread per process, --jobs processes at a time.
"""
import argparse
import concurrent.futures
import itertools
import json
import math
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CATEGORIES = ["noise", "scale", "bf16", "retouch", "remix", "merged", "remix_merged"]
LORA_CHEATS = ("remix", "merged", "remix_merged")
# instance i of a category takes the i-th value (cycling) and the i-th source run (cycling)
NOISE_NU = [1, 3, 10, 0.5, 2, 5, 1.5, 3, 1, 2]        # x the rms of each tensor's delta
SCALE_C = [0.5, 2, 0.8, 1.5, 0.25, 3, 0.9, 1.2, 0.7, 1.1]
RETOUCH_NU = [3, 1, 2]                                 # noise before the 10 retouch steps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tuna", default=os.environ.get("TUNA", "build/tuna"))
    ap.add_argument("--work", default="/tmp/tuna-calib-dupes")
    ap.add_argument("--data", default=os.environ.get("TUNA_SHARED_DATA", "../shared/data"))
    ap.add_argument("--base", help="HF model directory to fine-tune (default: stories260K converted from --data)")
    ap.add_argument("--label", help="name of the scale in the output (default: the base's directory name)")
    ap.add_argument("--rows", type=int, default=600, help="GSM8K training rows (the task)")
    ap.add_argument("--seeds", type=int, default=3, help="honest full fine-tunes of --steps (seeds 1..N)")
    ap.add_argument("--lora-seeds", type=int, default=2, help="honest LoRA fine-tunes of --steps (seeds 1..N)")
    ap.add_argument("--long-seeds", type=int, default=0, help="honest full fine-tunes of --long-steps (seeds 101..)")
    ap.add_argument("--long-lora-seeds", type=int, default=0, help="honest LoRA fine-tunes of --long-steps (101..)")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--long-steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--cheats", default=",".join(CATEGORIES), help="comma-separated subset of " + ",".join(CATEGORIES))
    ap.add_argument("--per-cheat", type=int, default=1, help="instances of each cheat category")
    ap.add_argument("--eval-rows", type=int, default=0, help="held-out rows for each cheat's loss cost (0: skip)")
    ap.add_argument("--eval-cheats", default=",".join(CATEGORIES), help="categories whose loss cost is measured")
    ap.add_argument("--jobs", type=int, default=1, help="processes at a time (each one thread)")
    ap.add_argument("--json-out", help="write every pair's numbers and the summary here")
    ap.add_argument("--pairs", action="store_true", help="print every pair, not only the summary tables")
    ap.add_argument("--keep", action="store_true", help="reuse runs already in --work")
    args = ap.parse_args()
    cheats = [c for c in args.cheats.split(",") if c]
    for c in cheats:
        if c not in CATEGORIES:
            sys.exit("unknown cheat %r (known: %s)" % (c, ",".join(CATEGORIES)))
    n_lora = args.lora_seeds + args.long_lora_seeds
    if args.seeds < 1 or (n_lora < 1 and any(c in LORA_CHEATS for c in cheats)) or args.per_cheat < 1:
        sys.exit("need --seeds >= 1, --per-cheat >= 1, and a LoRA run for the LoRA cheats")
    tuna, work = os.path.abspath(args.tuna), args.work
    env = dict(os.environ, OMP_NUM_THREADS="1")
    os.makedirs(work, exist_ok=True)
    t0 = time.time()
    pool = concurrent.futures.ThreadPoolExecutor(max(1, args.jobs))

    def run(cmd):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
        return r.stdout

    def par(fn, items):  # fn over items, --jobs at a time, results in order
        return list(pool.map(fn, items))

    def w(name):
        return os.path.join(work, name)

    if args.base:
        base = os.path.abspath(args.base)
    else:
        base = w("base")
        src = os.path.join(args.data, "models", "stories260K")
        if not (args.keep and os.path.exists(base)):
            run([tuna, "convert", "--from", "llama2c", "--tokenizer", os.path.join(src, "tok512.bin"), "--out", base,
                 os.path.join(src, "stories260K.bin")])
    label = args.label or os.path.basename(base.rstrip("/"))
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

    def train(job):
        name, model, data, steps, seed, extra = job
        if not (args.keep and os.path.exists(os.path.join(w(name), "train_summary.json"))):
            run([tuna, "train", "--model", model, "--data", w(data), "--out", w(name), "--max-steps", str(steps),
                 "--seed", str(seed)] + recipe + list(extra))
        return w(name)

    # honest runs, in upload order: (name, kind, length)
    plan = [("full_s%d" % s, "full", "short", s) for s in range(1, args.seeds + 1)]
    plan += [("lora_s%d" % s, "lora", "short", s) for s in range(1, args.lora_seeds + 1)]
    plan += [("full_long_s%d" % s, "full", "long", s) for s in range(101, 101 + args.long_seeds)]
    plan += [("lora_long_s%d" % s, "lora", "long", s) for s in range(101, 101 + args.long_lora_seeds)]
    par(train, [(n, base, "train.jsonl", args.steps if ln == "short" else args.long_steps, s,
                 ["--lora"] if k == "lora" else []) for n, k, ln, s in plan])
    honest = [(n, w(n), k, ln) for n, k, ln, _ in plan]
    fulls = [d for _, d, k, _ in honest if k == "full"]
    loras = [d for _, d, k, _ in honest if k == "lora"]
    t_train = time.time() - t0

    py = ["/usr/bin/python3", os.path.join(HERE, "dup_cheats.py")]
    made = []  # (category, name, dir, original, parameter)
    for c in cheats:
        for i in range(args.per_cheat):
            src = (loras if c in LORA_CHEATS else fulls)[i % len(loras if c in LORA_CHEATS else fulls)]
            param = {"noise": NOISE_NU[i % len(NOISE_NU)], "scale": SCALE_C[i % len(SCALE_C)],
                     "retouch": RETOUCH_NU[i % len(RETOUCH_NU)]}.get(c, "")
            made.append((c, "%s%s_%d" % (c, param, i), w("c_%s_%d" % (c, i)), src, param))

    def make(m):
        c, _, d, src, param = m
        i = int(d.rsplit("_", 1)[1])
        if args.keep and os.path.exists(os.path.join(d, "done")):
            return
        if c == "noise":
            run(py + ["noise", base, src, d, str(param), str(7 + i)])
        elif c == "scale":
            run(py + ["scale", base, src, d, str(param)])
        elif c == "bf16":
            run(py + ["bf16", src, d])
        elif c == "retouch":  # noise, then 10 steps on rows outside the task
            run(py + ["noise", base, src, d + "_src", str(param), str(11 + i)])
            train((os.path.basename(d), d + "_src", "other.jsonl", 10, 99 + i, []))
        elif c == "remix":
            run(py + ["remix", src, d, str(5 + i)])
        elif c == "merged":
            run(py + ["merge", base, src, d])
        elif c == "remix_merged":
            run(py + ["remix", src, d + "_src", str(6 + i)])
            run(py + ["merge", base, d + "_src", d])
        open(os.path.join(d, "done"), "w").close()

    par(make, made)

    def check(sub_against):
        sub, against = sub_against
        return json.loads(run([tuna, "check", "--base", base, "--submission", sub, "--json"] +
                              [x for a in against for x in ("--against", a)]))

    hpairs = list(itertools.combinations(honest, 2))  # b uploaded after a
    hres = par(check, [(b[1], [a[1]]) for a, b in hpairs])
    cres = par(check, [(d, [src] + [x for _, x, _, _ in honest if x != src]) for _, _, d, src, _ in made])
    rows_h, rows_c = [], []
    for (a, b), j in zip(hpairs, hres):
        kinds = "/".join(sorted((a[2], b[2])))
        lens = "/".join(sorted((a[3], b[3]), reverse=True))
        rows_h.append({"pair": b[0] + " vs " + a[0], "group": "%s, %s" % (kinds, lens), "verdict": j["verdict"],
                       "stats": j["sketch_pairs"][0] if j["sketch_pairs"] else {}, "evidence": j.get("evidence", "")})
    for (c, name, d, src, param), j in zip(made, cres):
        by = "-" if j["verdict"] != "duplicate" else ("hash" if j.get("exact_duplicate") else
                                                     ("noise" if "isotropic noise (aligned" in j.get("reason", "")
                                                      else "rescale"))
        rows_c.append({"cheat": name, "category": c, "of": os.path.basename(src), "verdict": j["verdict"], "by": by,
                       "stats": j["sketch_pairs"][0] if j["sketch_pairs"] else {}, "reason": j.get("reason", "")})
    if args.eval_rows:
        def loss(d):
            m = ["--adapter", d, "--model", base] if os.path.exists(os.path.join(d, "adapter_config.json")) \
                else ["--model", d]
            return json.loads(run([tuna, "eval"] + m + ["--data", w("heldout.jsonl"), "--json"] + fields))["loss"]
        ev = [(r, m[2]) for r, m in zip(rows_c, made) if r["category"] in args.eval_cheats.split(",")]
        origs = sorted({r["of"] for r, _ in ev})
        ref = dict(zip(origs, par(loss, [w(o) for o in origs])))
        for (r, _), l in zip(ev, par(loss, [d for _, d in ev])):
            r["loss_cost"] = l - ref[r["of"]]

    helptext = run([tuna, "check", "--help"])

    def default(opt):
        m = re.search(r"--%s X.*?\(default ([0-9.e+-]+)\)" % opt, helptext)
        return float(m.group(1)) if m else float("nan")

    thr = {"residual": default("dup-max-residual"), "structure_ratio": default("dup-max-structure"),
           "significance": default("dup-min-significance")}
    summary = report(args, label, honest, rows_h, rows_c, thr, t_train, time.time() - t0)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"label": label, "base": base, "args": vars(args), "thresholds": thr, "honest_pairs": rows_h,
                       "cheats": rows_c, "summary": summary}, f, indent=1)


def fmt(x):
    return "-" if x is None else ("%.4g" % x)


def rng(vals):
    return "%s-%s" % (fmt(min(vals)), fmt(max(vals))) if vals else "-"


def report(args, label, honest, rows_h, rows_c, thr, t_train, t_all):
    stats = ["cosine", "residual", "structure_ratio", "significance"]
    nf = sum(1 for h in honest if h[2] == "full")
    print("# duplicate rule calibration, %s: %d GSM8K rows, batch %d, seq-len %d; honest runs: %d full + %d LoRA, "
          "%d short (%d steps) + %d long (%d steps); %d cheats; %.0f s (training %.0f s)" %
          (label, args.rows, args.batch, args.seq_len, nf, len(honest) - nf,
           sum(1 for h in honest if h[3] == "short"), args.steps, sum(1 for h in honest if h[3] == "long"),
           args.long_steps, len(rows_c), t_all, t_train))
    if args.pairs:
        print("\n| pair | verdict | cosine | residual | structure / noise | significance | loss cost (nats) |")
        print("|---|---|---|---|---|---|---|")
        for r in rows_h:
            print("| honest: %s | %s | %s | |" % (r["pair"], r["verdict"], " | ".join(fmt(r["stats"].get(s)) for s in stats)))
        for r in rows_c:
            print("| cheat: %s of %s | %s | %s | %s |" % (r["cheat"], r["of"], r["verdict"],
                                                       " | ".join(fmt(r["stats"].get(s)) for s in stats),
                                                       ("%+.4f" % r["loss_cost"]) if "loss_cost" in r else ""))
    print("\nhonest pairs (each later run checked against one earlier run):\n")
    print("| pairs | n | flagged | cosine | residual | structure / noise | significance |")
    print("|---|---|---|---|---|---|---|")
    groups = sorted({r["group"] for r in rows_h})
    for g in groups + ["all"]:
        rs = [r for r in rows_h if g == "all" or r["group"] == g]
        print("| %s | %d | %d | %s |" % (g, len(rs), sum(r["verdict"] == "duplicate" for r in rs),
                                         " | ".join(rng([r["stats"][s] for r in rs if s in r["stats"]]) for s in stats)))
    print("\ncheats (each checked against its original and every honest run; statistics against the original):\n")
    print("| cheat | n | caught (by) | cosine | residual | structure / noise | significance | loss cost (nats) |")
    print("|---|---|---|---|---|---|---|---|")
    cats = [c for c in CATEGORIES if any(r["category"] == c for r in rows_c)]
    for c in cats + ["all"]:
        rs = [r for r in rows_c if c == "all" or r["category"] == c]
        bys = {}
        for r in rs:
            if r["by"] != "-":
                bys[r["by"]] = bys.get(r["by"], 0) + 1
        print("| %s | %d | %d (%s) | %s | %s |" % (
            c, len(rs), sum(r["verdict"] == "duplicate" for r in rs),
            ", ".join("%s %d" % kv for kv in sorted(bys.items())) or "-",
            " | ".join(rng([r["stats"][s] for r in rs if s in r["stats"]]) for s in stats),
            rng([r["loss_cost"] for r in rs if "loss_cost" in r])))
    fp = [r["pair"] for r in rows_h if r["verdict"] == "duplicate"]
    miss = [r["cheat"] for r in rows_c if r["verdict"] != "duplicate"]
    print("\nfalse positives: %d of %d honest pairs%s" % (len(fp), len(rows_h), (": " + ", ".join(fp)) if fp else ""))
    print("misses: %d of %d cheats%s" % (len(miss), len(rows_c), (": " + ", ".join(miss)) if miss else ""))
    # margins: an honest pair is flagged by residual <= R, or by significance >= S and structure <= X;
    # a noised cheat (residual above R, no hash) is caught only by the second
    h_res = [r["stats"]["residual"] for r in rows_h if r["stats"].get("residual", -1) >= 0]
    h_str = [r["stats"]["structure_ratio"] for r in rows_h
             if r["stats"].get("significance", 0) >= thr["significance"] and "structure_ratio" in r["stats"]]
    noisy = [r for r in rows_c if r["stats"].get("residual", 0) > thr["residual"] and r["by"] != "hash"
             and "structure_ratio" in r["stats"]]
    lines = []
    if h_res:
        resc = [r["stats"]["residual"] for r in rows_c if r["by"] == "rescale"]
        lines.append("residual (--dup-max-residual %g): honest min %.4g (margin %+.4g); cheats caught by it: max %s"
                     % (thr["residual"], min(h_res), min(h_res) - thr["residual"], fmt(max(resc) if resc else None)))
    if h_str:
        lines.append("structure ratio (--dup-max-structure %g): honest pairs aligned >= %g sigma: min %.4g (margin "
                     "%+.4g)" % (thr["structure_ratio"], thr["significance"], min(h_str),
                                 min(h_str) - thr["structure_ratio"]))
    if noisy:
        mx = max(r["stats"]["structure_ratio"] for r in noisy)
        mn = min(r["stats"]["significance"] for r in noisy)
        lines.append("noised cheats (%d, residual > %g): structure ratio max %.4g (margin %+.4g), significance min "
                     "%.4g (margin %+.4g over --dup-min-significance %g)" %
                     (len(noisy), thr["residual"], mx, thr["structure_ratio"] - mx, mn, mn - thr["significance"],
                      thr["significance"]))
    for ln in lines:
        print(ln)
    for r in rows_c:
        if r["verdict"] != "duplicate":
            print("  missed %s of %s: %s" % (r["cheat"], r["of"], r["reason"][:200]))
    return {"false_positives": fp, "misses": miss, "honest_pairs": len(rows_h), "cheats": len(rows_c),
            "margins": lines, "seconds": t_all,
            "honest_min_structure": min(h_str) if h_str else None,
            "noised_max_structure": max(r["stats"]["structure_ratio"] for r in noisy) if noisy else None}


if __name__ == "__main__":
    main()
