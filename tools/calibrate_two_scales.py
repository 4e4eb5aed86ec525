#!/usr/bin/python3
"""The duplicate rule's calibration at two scales, one command
(docs/anticheat.md "Calibration at two scales"):

  1. builds a 5.27M-parameter Llama that tuna pretrains itself: `tuna pretrain`
     (WordNet: its BPE tokenizer and 150 steps from random weights), then
     `tuna train --type text` continues the pretraining on text from
     ../shared/data (c4_demo, alpaca, GSM8K rows 2000-6999; the calibration's
     task rows are GSM8K 0-899), and reports the held-out loss of each stage
     against random weights (held-out rows: c4 270-299, alpaca 900-998,
     GSM8K 7000-7472);
  2. runs tools/calibrate_dupes.py on stories260K and on that base, each with
     honest runs (full and LoRA, short and long, same recipe, different seeds)
     and --per-cheat instances of every cheat category;
  3. prints both scales' tables and writes WORK/two_scales.md and the per-pair
     numbers WORK/{s260k,s5m}.json.

  nice -n 19 /usr/bin/python3 tools/calibrate_two_scales.py --work /tmp/tuna-calib-two-scales --keep
  (--scales s260k or s5m: one scale; the tables then go to WORK/SCALE.md)

One thread per process (OMP_NUM_THREADS=1), --jobs processes at a time; with
--keep, everything already built in WORK is reused.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tuna", default=os.environ.get("TUNA", "build/tuna"))
    ap.add_argument("--work", default="/tmp/tuna-calib-two-scales")
    ap.add_argument("--data", default=os.environ.get("TUNA_SHARED_DATA", "../shared/data"))
    ap.add_argument("--pretrain-steps", type=int, default=150, help="tuna pretrain steps (WordNet)")
    ap.add_argument("--text-steps", type=int, default=350, help="continued pretraining steps on shared text")
    ap.add_argument("--seeds", type=int, default=8, help="honest full short runs per scale")
    ap.add_argument("--lora-seeds", type=int, default=8, help="honest LoRA short runs per scale")
    ap.add_argument("--long-seeds", type=int, default=3)
    ap.add_argument("--long-lora-seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40, help="short runs' steps (stories260K)")
    ap.add_argument("--long-steps", type=int, default=160, help="long runs' steps (stories260K)")
    ap.add_argument("--steps-5m", type=int, default=20, help="short runs' steps on the 5M base (20x the compute)")
    ap.add_argument("--long-steps-5m", type=int, default=60, help="long runs' steps on the 5M base")
    ap.add_argument("--per-cheat", type=int, default=10)
    ap.add_argument("--eval-rows", type=int, default=100, help="held-out rows for the cheats' loss cost")
    ap.add_argument("--eval-rows-5m", type=int, default=50, help="... on the 5M base, noise cheats only")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--scales", default="s260k,s5m", help="which scales to calibrate")
    ap.add_argument("--keep", action="store_true", help="reuse what WORK already holds")
    args = ap.parse_args()
    tuna, work = os.path.abspath(args.tuna), os.path.abspath(args.work)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    os.makedirs(work, exist_ok=True)
    t0 = time.time()

    def run(cmd):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
        return r.stdout

    out = []
    base5m = os.path.join(work, "base5m")
    if "s5m" in args.scales:
        out += build_base(args, tuna, work, base5m, run)
    common = ["--tuna", tuna, "--data", args.data, "--seeds", str(args.seeds), "--lora-seeds", str(args.lora_seeds),
              "--long-seeds", str(args.long_seeds), "--long-lora-seeds", str(args.long_lora_seeds),
              "--per-cheat", str(args.per_cheat), "--jobs", str(args.jobs)] + (["--keep"] if args.keep else [])
    for scale in [s for s in args.scales.split(",") if s]:
        extra = {"s260k": ["--label", "stories260K", "--steps", str(args.steps), "--long-steps", str(args.long_steps),
                           "--eval-rows", str(args.eval_rows)],
                 "s5m": ["--base", base5m, "--label", "base5m (5.27M)", "--steps", str(args.steps_5m),
                         "--long-steps", str(args.long_steps_5m), "--eval-rows", str(args.eval_rows_5m),
                         "--eval-cheats", "noise"]}.get(scale)
        if extra is None:
            sys.exit("unknown scale %r (s260k, s5m)" % scale)
        t = time.time()
        text = run(["/usr/bin/python3", os.path.join(HERE, "calibrate_dupes.py"), "--work", os.path.join(work, scale),
                    "--json-out", os.path.join(work, scale + ".json")] + common + extra)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        out.append(text + "(%.0f s)\n" % (time.time() - t))
    out.append("total %.0f s" % (time.time() - t0))
    md = os.path.join(work, ("two_scales" if args.scales == "s260k,s5m" else args.scales.replace(",", "_")) + ".md")
    with open(md, "w") as f:
        f.write("\n".join(out) + "\n")
    print("total %.0f s; tables in %s" % (time.time() - t0, md))


def build_base(args, tuna, work, base, run):
    """The 5M base: tuna pretrain (WordNet), then continued pretraining on shared text."""
    ds = os.path.join(args.data, "datasets")
    c4 = [json.loads(x)["text"] for x in open(os.path.join(ds, "c4_demo.jsonl")) if x.strip()]
    alpaca = [" ".join(s for s in (r["instruction"], r["input"], r["output"]) if s)
              for r in json.load(open(os.path.join(ds, "alpaca_en_demo.json")))]
    gsm = [json.loads(x) for x in open(os.path.join(ds, "gsm8k_train.jsonl")) if x.strip()]
    gsm = [r["question"] + " " + r["answer"] for r in gsm]
    if len(c4) < 300 or len(alpaca) < 999 or len(gsm) < 7473:
        sys.exit("shared data: want c4_demo 300, alpaca 999, gsm8k 7473 rows (have %d, %d, %d)" %
                 (len(c4), len(alpaca), len(gsm)))
    train = c4[:270] + alpaca[:900] + gsm[2000:7000]
    held = c4[270:300] + alpaca[900:] + gsm[7000:]
    for name, rows in (("text_train.jsonl", train), ("text_heldout.jsonl", held)):
        with open(os.path.join(work, name), "w") as f:
            f.write("".join(json.dumps({"text": t}) + "\n" for t in rows))
    stage1 = os.path.join(work, "base5m_wordnet")
    if not (args.keep and os.path.exists(os.path.join(stage1, "pretrain_summary.json"))):
        run([tuna, "pretrain", "--out", stage1, "--steps", str(args.pretrain_steps), "--seed", "5", "--quiet",
             "--dim", "256", "--layers", "6", "--heads", "8", "--hidden", "688", "--seq-len", "128", "--batch", "8"])
    if not (args.keep and os.path.exists(os.path.join(base, "train_summary.json"))):
        run([tuna, "train", "--model", stage1, "--data", os.path.join(work, "text_train.jsonl"), "--type", "text",
             "--out", base, "--max-steps", str(args.text_steps), "--epochs", "0", "--batch", "8", "--seq-len", "128",
             "--lr", "1e-3", "--warmup", "10", "--seed", "5", "--quiet"])
    s1 = json.load(open(os.path.join(stage1, "pretrain_summary.json")))
    s2 = json.load(open(os.path.join(base, "train_summary.json")))

    def held_loss(model):
        return json.loads(run([tuna, "eval", "--model", model, "--data", os.path.join(work, "text_heldout.jsonl"),
                               "--type", "text", "--seq-len", "128", "--json"]))["loss"]

    cache = os.path.join(work, "base5m_heldout.json")  # the two losses, reused with --keep
    if args.keep and os.path.exists(cache):
        l1, l2 = json.load(open(cache))
    else:
        l1, l2 = held_loss(stage1), held_loss(base)
        with open(cache, "w") as f:
            json.dump([l1, l2], f)
    cfg = json.load(open(os.path.join(base, "config.json")))
    lines = ["# base5m: %d parameters (dim %d, %d layers, %d heads, MLP %d, vocab %d), pretrained by tuna: "
             "%d WordNet steps (%.0f s with the tokenizer), then %d steps on %d rows of shared text (%.0f s)" %
             (s1["model"]["params"], cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"],
              cfg["intermediate_size"], cfg["vocab_size"], s1["steps"], s1["total_seconds"], s2["steps"],
              len(train), s2["elapsed_s"]),
             "",
             "| model | held-out loss (%d rows: c4, alpaca, GSM8K; nats/token) |" % len(held),
             "|---|---|",
             "| uniform over the vocabulary (what random weights give) | %.3f |" % math.log(cfg["vocab_size"]),
             "| random weights, first pretraining step (training loss) | %.3f |" % s1.get("first_loss", float("nan")),
             "| after tuna pretrain (WordNet, %d steps) | %.3f |" % (args.pretrain_steps, l1),
             "| base5m (+ %d steps on shared text) | %.3f |" % (args.text_steps, l2), ""]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    return lines


if __name__ == "__main__":
    main()
