/* cmd_pretrain.c - `tuna pretrain`: make the built-in base model (a small
 * Llama pretrained on WordNet's English) and, optionally, the arena's task
 * datasets from the same data. See src/train/pretrain.h, src/data/wordnet.h and
 * docs/arena-data.md. */
#include "train/pretrain.h"
#include "data/wordnet.h"
#include "base/err.h"
#include "base/num.h"
#include "cli/commands.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: tuna pretrain --out DIR [--seconds S | --steps N] [--seed N] [--data-out DIR]\n"
            "                     [--rows N] [--wordnet DIR] [--threads N] [--quiet]\n"
            "                     [--vocab N --dim N --layers N --heads N --hidden N --seq-len N --batch N --lr X]\n\n"
            "Builds tuna's base model from WordNet 3.0 (Debian package wordnet-base, installed by\n"
            "scripts/setup): learns a byte-level BPE tokenizer on its glosses and examples, pretrains\n"
            "a small Llama from random weights, and writes an HF model directory (config.json,\n"
            "model.safetensors, tokenizer.json, tokenizer_config.json, pretrain_summary.json).\n"
            "Prints a JSON summary line on stdout.\n\n"
            "  --out DIR        the model directory to write\n"
            "  --seconds S      train for about S seconds of wall clock (default 90)\n"
            "  --steps N        train exactly N steps instead: the same result for the same seed,\n"
            "                   options, machine and thread count (--seconds depends on speed)\n"
            "  --seed N         weights, data order, corpus shuffle, task rows (default 1234)\n"
            "  --data-out DIR   also write the task datasets DIR/define.jsonl, synonyms.jsonl,\n"
            "                   word.jsonl (columns instruction, output; disjoint synsets), and\n"
            "                   for each NAME.synth-pool.jsonl: as many rows in its style from\n"
            "                   synsets no task took (the validator's synth.source pool)\n"
            "  --rows N         rows per task dataset (default 2000)\n"
            "  --wordnet DIR    WordNet's dict directory (default $TUNA_WORDNET or /usr/share/wordnet)\n"
            "  --threads N      OpenMP threads (default 1: on a machine busy with other work, 1 was\n"
            "                   5x faster than 2; on an idle one, 0 = OMP_NUM_THREADS/all cores wins)\n"
            "  --quiet          no progress lines on stderr\n"
            "Architecture defaults: vocab 1024, dim 96, 3 layers, 4 heads, hidden 256, seq-len 128,\n"
            "batch 8 windows, peak lr 2e-3 (warmup, cosine to 10%%).\n");
}

static void print_result(const char *out, const tn_base_result *r) {
    json_t *j = json_pack("{s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:i}", "out", out, "steps", r->steps,
                          "train_seconds", r->train_seconds, "tokens_per_s", r->tokens_per_s, "first_loss",
                          (double)r->first_loss, "last_loss", (double)r->last_loss, "val_loss_before",
                          (double)r->val_before, "val_loss_after", (double)r->val_after, "params",
                          (json_int_t)r->n_params, "vocab_size", r->vocab_size);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    if (s) printf("%s\n", s);
    free(s);
    json_decref(j);
}

int cmd_pretrain(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    tn_base_opts o;
    tn_base_opts_init(&o);
    const char *out = NULL, *data_out = NULL;
    size_t rows = 2000;
    int have_seconds = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(a, "--quiet")) {
            o.quiet = 1;
            continue;
        }
        if (!v || strncmp(a, "--", 2)) {
            fprintf(stderr, "tuna pretrain: %s: %s\n\n", a, v ? "unknown argument" : "expected a value");
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--data-out")) data_out = v;
        else if (!strcmp(a, "--wordnet")) o.wordnet_dir = v;
        else if (!strcmp(a, "--seconds")) ok = !tn_parse_double(a, v, 1, 86400, &o.seconds), have_seconds = 1;
        else if (!strcmp(a, "--steps")) ok = !tn_parse_int(a, v, 1, 100000000, &o.steps);
        else if (!strcmp(a, "--seed")) ok = !tn_parse_u64(a, v, 0, UINT64_C(1) << 53, &o.seed);
        else if (!strcmp(a, "--rows")) ok = !tn_parse_size(a, v, 1, 10000000, &rows);
        else if (!strcmp(a, "--vocab")) ok = !tn_parse_int(a, v, 259, 65536, &o.vocab_size);
        else if (!strcmp(a, "--dim")) ok = !tn_parse_int(a, v, 8, 8192, &o.dim);
        else if (!strcmp(a, "--layers")) ok = !tn_parse_int(a, v, 1, 128, &o.layers);
        else if (!strcmp(a, "--heads")) ok = !tn_parse_int(a, v, 1, 128, &o.heads);
        else if (!strcmp(a, "--hidden")) ok = !tn_parse_int(a, v, 8, 65536, &o.hidden);
        else if (!strcmp(a, "--seq-len")) ok = !tn_parse_int(a, v, 8, 65536, &o.seq_len);
        else if (!strcmp(a, "--batch")) ok = !tn_parse_int(a, v, 1, 4096, &o.batch);
        else if (!strcmp(a, "--lr")) ok = !tn_parse_float(a, v, 1e-7f, 1, &o.lr);
        else if (!strcmp(a, "--threads")) ok = !tn_parse_int(a, v, 0, 1024, &o.threads);
        else {
            fprintf(stderr, "tuna pretrain: unknown option %s\n\n", a);
            usage(stderr);
            return 2;
        }
        if (!ok) return cli_usage_fail("pretrain");
    }
    if (!out) {
        fprintf(stderr, "tuna pretrain: --out DIR is required\n\n");
        usage(stderr);
        return 2;
    }
    if (have_seconds && o.steps > 0) {
        fprintf(stderr, "tuna pretrain: give --seconds or --steps, not both\n");
        return 2;
    }
    if (data_out) {
        tn_wordnet wn;
        size_t n[TN_TASK_COUNT];
        if (tn_wordnet_load(&wn, o.wordnet_dir)) return cli_fail("pretrain");
        int rc = tn_wordnet_write_tasks(&wn, data_out, o.seed, rows, n);
        tn_wordnet_free(&wn);
        if (rc) return cli_fail("pretrain");
        if (!o.quiet)
            for (int k = 0; k < TN_TASK_COUNT; k++)
                fprintf(stderr, "pretrain: %s/%s.jsonl: %zu rows\n", data_out, tn_task_name(k), n[k]);
    }
    tn_base_result r;
    if (tn_make_base_model_r(out, &o, &r)) return cli_fail("pretrain");
    print_result(out, &r);
    return 0;
}
