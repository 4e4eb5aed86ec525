#!/bin/sh
# bf16_parity.sh - loss of the bf16 matmul mode against fp32, measured.
#
#   tools/bf16_parity.sh [STEPS]        (default 40; BUILD=build, TUNA_SHARED_DATA)
#
# Trains the same short run twice, `tuna train` without and with --bf16, on
# the real stories260K model (converted with `tuna convert`) and 200 alpaca
# rows from ../shared/data, full fine-tuning and LoRA. Prints per mode the
# base and final validation loss as the trainer measured them (each run
# evaluates in its own precision), then `tuna eval` in fp32 of both outputs
# on 100 other alpaca rows (held out of both runs), and the differences.
# Needs a build with AVX512_BF16 (else --bf16 trains in fp32 with a warning,
# and the script says so).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
TUNA=$BUILD/tuna
STEPS=${1:-40}
DATA=${TUNA_SHARED_DATA:-../shared/data}
if [ ! -f "$DATA/models/stories260K/stories260K.bin" ]; then
    echo "bf16_parity: $DATA is missing (set TUNA_SHARED_DATA)" >&2
    exit 2
fi
[ -x "$TUNA" ] || { echo "bf16_parity: no $TUNA (run make)" >&2; exit 2; }
TMP=$(mktemp -d /tmp/tuna-bf16-parity-XXXXXX)
trap 'rm -rf "$TMP"' EXIT INT TERM

"$TUNA" convert --from llama2c --tokenizer "$DATA/models/stories260K/tok512.bin" --out "$TMP/model" \
    "$DATA/models/stories260K/stories260K.bin" 2>/dev/null
python3 - "$DATA/datasets/alpaca_en_demo.json" "$TMP" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))
for name, part in (("train", rows[:200]), ("heldout", rows[200:300])):
    with open(f"{sys.argv[2]}/{name}.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in part)
EOF

# summary field of a train_summary.json
field() { python3 -c "import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(str(v).lower() if isinstance(v,bool) else '%.5f' % v)" "$1" "$2"; }
evalloss() {
    if [ "$2" = lora ]; then set -- --model "$TMP/model" --adapter "$1"; else set -- --model "$1"; fi
    "$TUNA" eval "$@" --data "$TMP/heldout.jsonl" --seq-len 256 --json 2>/dev/null |
        python3 -c "import json,sys; print('%.5f' % json.load(sys.stdin)['loss'])"
}
pct() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('%+.4f (%+.3f%%)' % (b-a, 100*(b-a)/a))" "$1" "$2"; }

printf 'stories260K, %s steps of 4 x 256, alpaca (160 train / 40 val rows; 100 held-out rows for eval)\n' "$STEPS"
printf '%-5s %-5s %9s %9s %9s %8s  %s\n' mode prec base_val final_val eval_fp32 time bf16
for mode in full lora; do
    if [ $mode = lora ]; then extra="--lora --lr 1e-2"; else extra="--lr 2e-3"; fi
    for prec in fp32 bf16; do
        flag=""; [ $prec = bf16 ] && flag=--bf16
        out="$TMP/$mode-$prec"
        t0=$(date +%s.%N)
        # shellcheck disable=SC2086
        "$TUNA" train --model "$TMP/model" --data "$TMP/train.jsonl" --out "$out" --val-size 0.2 --epochs 0 \
            --max-steps "$STEPS" --eval-every "$STEPS" --batch 4 --seq-len 256 --seed 7 --quiet $extra $flag \
            2>"$TMP/err.txt" || { cat "$TMP/err.txt" >&2; exit 1; }
        t1=$(date +%s.%N)
        s="$out/train_summary.json"
        base=$(field "$s" base_val_loss); best=$(field "$s" best_val_loss); on=$(field "$s" bf16)
        ev=$(evalloss "$out" $mode)
        eval "${mode}_${prec}_best=$best; ${mode}_${prec}_eval=$ev"
        printf '%-5s %-5s %9s %9s %9s %7.1fs  %s\n' $mode $prec "$base" "$best" "$ev" \
            "$(python3 -c "print($t1 - $t0)")" "$on"
        [ $prec = bf16 ] && [ "$on" != true ] && echo "  (this build has no AVX512_BF16: that run was fp32)"
    done
done
echo
for mode in full lora; do
    eval "a=\$${mode}_fp32_best b=\$${mode}_bf16_best c=\$${mode}_fp32_eval d=\$${mode}_bf16_eval"
    printf '%s: final validation loss bf16 - fp32 = %s; held-out eval (fp32) bf16 - fp32 = %s\n' \
        $mode "$(pct "$a" "$b")" "$(pct "$c" "$d")"
done
