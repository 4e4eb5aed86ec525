/* cmd_eval.c - `tuna eval`: the mean loss of a model (or base + adapter) on a dataset.
 * The validator runs exactly this to score submissions. */
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/num.h"
#include "cli/cli_data.h"
#include "cli/commands.h"
#include "model/lora.h"
#include "nn/gemm.h"
#include "tok/tokenizer.h"
#include "train/evaluate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: tuna eval --model DIR [--adapter DIR] --data FILE [dataset options] [--seq-len N]\n"
               "                 [--batch N] [--json [--per-row]] [--dump FILE]\n\n"
               "Formats and tokenizes the dataset exactly as `tuna train` does (loss only on the\n"
               "response tokens) and prints the mean cross-entropy over all scored tokens.\n\n"
               "options:\n"
               "  --model DIR       HF model directory (its tokenizer is used)\n"
               "  --adapter DIR     PEFT LoRA adapter applied to --model, whatever base it names\n"
               "  --data FILE       dataset (.json, .jsonl, .csv)\n"
               "  --seq-len N       truncate rows to N tokens (default: min(model positions, 2048))\n"
               "  --batch N         rows per forward pass (default 8)\n"
               "  --train-on-inputs score the prompt tokens too\n"
               "  --bf16            bf16 products (fp32 accumulation) where the CPU has AVX512_BF16,\n"
               "                    fp32 elsewhere (docs/performance.md); losses then differ slightly\n"
               "  --json            print {\"loss\", \"tokens\", \"rows\", \"perplexity\", ...}\n"
               "  --per-row         with --json: also \"row_loss\" (each row's mean loss) and\n"
               "                    \"row_tokens\" (its scored tokens), in dataset order\n"
               "  --dump FILE       write one JSON line per row: {\"ids\": [...], \"labels\": [...]}\n"
               "                    (labels aligned with ids, -100 where masked)\n\n" CLI_DATA_HELP);
}

int cmd_eval(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"adapter", required_argument, 0, 'a'},
                                         {"data", required_argument, 0, 'd'},
                                         {"seq-len", required_argument, 0, 's'},
                                         {"batch", required_argument, 0, 'b'},
                                         {"json", no_argument, 0, 'j'},
                                         {"per-row", no_argument, 0, 'R'},
                                         {"dump", required_argument, 0, 'D'},
                                         {"train-on-inputs", no_argument, 0, 'I'},
                                         {"bf16", no_argument, 0, 'B'},
                                         {"help", no_argument, 0, 'h'},
                                         CLI_DATA_OPTIONS,
                                         {0, 0, 0, 0}};
    const char *model_dir = NULL, *adapter = NULL, *data = NULL, *dump_path = NULL;
    int seq_len = 0, batch = 8, as_json = 0, per_row = 0, train_inputs = 0, bf16 = 0, c;
    cli_data d;
    cli_data_init(&d);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = cli_data_option(&d, c, optarg);
        if (r < 0) return cli_fail("eval");
        if (r > 0) continue;
        switch (c) {
        case 'm': model_dir = optarg; break;
        case 'a': adapter = optarg; break;
        case 'd': data = optarg; break;
        case 's': /* 0: the model's positions, at most 2048 */
            if (tn_parse_int("--seq-len", optarg, 0, 1 << 20, &seq_len)) return cli_usage_fail("eval");
            break;
        case 'b': if (tn_parse_int("--batch", optarg, 1, 1024, &batch)) return cli_usage_fail("eval"); break;
        case 'j': as_json = 1; break;
        case 'R': per_row = 1; break;
        case 'D': dump_path = optarg; break;
        case 'I': train_inputs = 1; break;
        case 'B': bf16 = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!model_dir || !data || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (per_row && !as_json) {
        fprintf(stderr, "tuna eval: --per-row needs --json\n");
        return 2;
    }
    if (cli_data_finish(&d, data)) return cli_fail("eval");
    if (bf16) tn_gemm_request_bf16("tuna eval");
    tn_model m;
    tn_lora lo;
    tn_examples ex;
    tn_tokenizer *tok = NULL;
    FILE *dump = NULL;
    int rc = 1, have_lora = 0, have_model = 0;
    tn_examples_init(&ex);
    if (d.spec.kind == TN_DS_CHAT && d.spec.chat_template == TN_TMPL_NONE) {
        char cfg[4096];
        snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", model_dir);
        if (tn_chat_template_from_tokenizer_config(cfg, &d.spec.chat_template)) goto out;
    }
    /* nothing is trained: bf16 matrices stay as stored (mapped), same losses */
    if (tn_model_load_frozen(&m, model_dir, 1)) goto out;
    have_model = 1;
    if (adapter) {
        if (tn_lora_load(&m, &lo, adapter)) goto out;
        have_lora = 1;
    }
    if (!(tok = tn_tok_load(model_dir))) goto out;
    if (seq_len == 0) seq_len = m.cfg.max_positions < 2048 ? m.cfg.max_positions : 2048;
    if (seq_len > m.cfg.max_positions) seq_len = m.cfg.max_positions;
    tn_rows_fmt fmt = TN_ROWS_AUTO;
    if (d.format) tn_rows_fmt_parse(d.format, &fmt);
    if (tn_examples_load(&ex, data, fmt, &d.spec, tok, seq_len, train_inputs)) goto out;
    if (dump_path && !(dump = fopen(dump_path, "w"))) {
        tn_fail_errno("%s: cannot write", dump_path);
        goto out;
    }
    tn_eval_result r;
    tn_eval_rows rows = {0};
    if (per_row) {
        rows.loss = tn_calloc(ex.n + 1, sizeof *rows.loss);
        rows.tokens = tn_calloc(ex.n + 1, sizeof *rows.tokens);
    }
    if (tn_evaluate(&m, &ex, NULL, 0, batch, seq_len, tn_batch_pad_id(tok), dump, per_row ? &rows : NULL, &r)) {
        free(rows.loss);
        free(rows.tokens);
        goto out;
    }
    if (dump && fclose(dump) != 0) {
        dump = NULL;
        tn_fail_errno("%s: write failed", dump_path);
        goto out;
    }
    dump = NULL;
    if (as_json) {
        printf("{\"loss\": %.9g, \"tokens\": %lld, \"rows\": %zu, \"perplexity\": %.9g, \"rows_read\": %zu, "
               "\"dropped_rows\": %zu, \"truncated_rows\": %zu, \"seq_len\": %d, \"seconds\": %.3f",
               r.loss, (long long)r.tokens, r.rows, exp(r.loss), ex.rows_read, ex.dropped_no_target, ex.truncated,
               seq_len, r.seconds);
        if (bf16) printf(", \"compute\": \"%s\"", tn_gemm_describe());
        if (per_row) {
            fputs(", \"row_loss\": [", stdout);
            for (size_t i = 0; i < ex.n; i++) printf("%s%.9g", i ? ", " : "", rows.loss[i]);
            fputs("], \"row_tokens\": [", stdout);
            for (size_t i = 0; i < ex.n; i++) printf("%s%lld", i ? ", " : "", (long long)rows.tokens[i]);
            fputs("]", stdout);
        }
        fputs("}\n", stdout);
    } else {
        printf("loss %.6f  perplexity %.4f  over %lld tokens in %zu rows (%zu read, %zu without a target, %zu "
               "truncated to %d)\n",
               r.loss, exp(r.loss), (long long)r.tokens, r.rows, ex.rows_read, ex.dropped_no_target, ex.truncated,
               seq_len);
    }
    free(rows.loss);
    free(rows.tokens);
    rc = 0;
out:
    if (rc) cli_fail("eval");
    if (dump) fclose(dump);
    if (have_lora) {
        tn_lora_detach(&m, &lo);
        tn_lora_free(&lo);
    }
    if (have_model) tn_model_free(&m);
    tn_examples_free(&ex);
    tn_tok_free(tok);
    return rc;
}
