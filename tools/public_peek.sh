#!/usr/bin/env bash
# public_peek.sh - would the leak rule catch public-peek if the synthetic set
# came from rows outside the task's dataset? Measured on a finished arena run.
#
#   tools/public_peek.sh ARENA_WORK BASE_MODEL OUTSIDE_ROWS [TUNA_BIN]
#
# ARENA_WORK: the work folder of `tuna arena --model M --dataset D ...` (the
# dataset type instruction/input/output) with the default line-up; BASE_MODEL:
# its --model; OUTSIDE_ROWS:
# rows of the same kind that are not in D (e.g. alpaca rows 200-399 when D is
# rows 0-199). For each task, the rows are put in the task's secret format
# (judge/transform.h, the task's seed from the validator's store), every
# submission of fair-a, fair-b, fair-c, hunter (public-peek) and peeker
# (test-peek) and the base are evaluated on the task's test split and on them
# (tuna eval, --seq-len 256 as the arena's validator), and the validator's leak
# rule is applied with the outside rows as the synthetic set. The helpers are
# compiled against build/libtuna.a (make first). Needs sqlite3.
set -euo pipefail
work=$(readlink -f "$1")
basemodel=$(readlink -f "$2")
outside=$(readlink -f "$3")
TUNA=$(readlink -f "${4:-build/tuna}")
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
libs="-ljansson -lsodium -lmicrohttpd -lcurl -lsqlite3 -lpcre2-8 -lutf8proc -lyaml -lopenblas -lm -lpthread"
blas=-L/usr/lib/x86_64-linux-gnu/openblas-openmp
for t in xform leak; do
    cc -std=c11 -D_GNU_SOURCE -I"$here/src" -fopenmp -o "$tmp/$t" "$here/tools/public_peek/$t.c" \
        "$here/build/libtuna.a" $blas $libs
done
db=$work/validator/store.sqlite
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
opts="--type instruct --field-instruction instruction --field-input input --field-output output --seq-len 256 --json"
loss() { "$TUNA" eval $1 --data "$2" $opts 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["loss"])'; }
for t in $(sqlite3 "$db" "select id from tasks order by id"); do
    seed=$(sqlite3 "$db" "select split_seed from tasks where id=$t")
    "$tmp/xform" "$seed" "$outside" "$tmp/outside_$t.jsonl"
    test=$work/validator/tasks/$t/test.jsonl
    bm="--model $basemodel"
    {
        echo "base $(loss "$bm" "$test") $(loss "$bm" "$tmp/outside_$t.jsonl")"
        for name in fair-a fair-b fair-c hunter peeker; do
            row=$(sqlite3 "$db" "select s.kind||'|'||s.files_dir from submissions s join miners m on m.id=s.miner_id where m.name='$name' and s.task_id=$t")
            [ -n "$row" ] || continue
            kind=${row%%|*} dir=${row#*|}
            if [ "$kind" = adapter ]; then m="$bm --adapter $dir"; else m="--model $dir"; fi
            echo "$name $(loss "$m" "$test") $(loss "$m" "$tmp/outside_$t.jsonl")"
        done
    } > "$tmp/losses_$t"
    echo "task $t: synthetic = $(wc -l < "$outside") rows outside the dataset, in the task's format"
    "$tmp/leak" < "$tmp/losses_$t"
done
