#!/usr/bin/env bash
# identity_check.sh - digests of what a tuna binary computes, for "no behaviour
# change" claims: run it with the binary before and after a refactor and diff
# the two outputs; every line must be the same, bit for bit.
#
#   tools/identity_check.sh [TUNA_BIN] > digests.txt
#
# What it runs (one thread, fixed seeds, fixed step counts, so results are a
# function of the code alone on one machine):
#   - tuna pretrain --steps 30 (BPE learner, pretraining loop, WordNet tasks)
#   - tuna train, full and LoRA (with dropout), 12 steps each, on the pretrained
#     base and its define.jsonl task; the written weights' SHA-256
#   - tuna eval of the base, the fine-tune and base + adapter (loss to 9 digits)
#   - tuna bench train (random-weight stories15M: full, LoRA, eval) losses
#   - tuna check of the fine-tune against the base (--json)
# Needs WordNet (scripts/setup); ../shared/data is not used.
set -euo pipefail
TUNA=${1:-build/tuna}
TUNA=$(readlink -f "$TUNA")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
cd "$work"
digest() { sha256sum "$1" | cut -c1-16; }

"$TUNA" pretrain --out base --steps 30 --seed 7 --data-out data --rows 300 --quiet \
    --dim 64 --layers 2 --heads 4 --hidden 128 --seq-len 64 --batch 4 > /dev/null
echo "pretrain weights $(digest base/model.safetensors) tokenizer $(digest base/tokenizer.json)"
echo "pretrain data $(digest data/define.jsonl) $(digest data/synonyms.jsonl) $(digest data/word.jsonl)"

common=(--model base --data data/define.jsonl --max-steps 12 --epochs 0 --seq-len 64 --batch 2 --seed 3)
"$TUNA" train "${common[@]}" --out full --lr 1e-3 > /dev/null 2>&1
echo "train full weights $(digest full/model.safetensors)"
"$TUNA" train "${common[@]}" --out lora --lora --lora-r 4 --lora-dropout 0.1 --lr 1e-2 > /dev/null 2>&1
echo "train lora adapter $(digest lora/adapter_model.safetensors)"

for what in "--model base" "--model full" "--model base --adapter lora"; do
    # shellcheck disable=SC2086
    loss=$("$TUNA" eval $what --data data/synonyms.jsonl --seq-len 64 --json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["loss"])')
    echo "eval $what loss $loss"
done

for mode in "" "--lora 16" "--eval-only"; do
    # shellcheck disable=SC2086
    "$TUNA" bench train --config stories15M --batch 1 --seq 64 --steps 2 $mode --json 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print("bench '"${mode:-full}"' loss", d["loss"])'
done

"$TUNA" check --base base --submission full --json 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print("check", d["verdict"], json.dumps(d, sort_keys=True)[:400])'
