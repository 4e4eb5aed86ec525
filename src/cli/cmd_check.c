/* cmd_check.c - `tuna check`: is a submission a fine-tune of the requested base?
 * External checks (validator workers, scripts) call exactly this; the rules
 * and their calibration are in docs/anticheat.md.
 * Exit status: 0 when the check ran (whatever the verdict: read it from the
 * output), 1 when an input could not be read (missing dir, corrupt file, NaN
 * weights, an adapter that does not fit the base), 2 on usage errors. */
#include "judge/provenance.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/num.h"
#include "cli/cli_data.h"
#include "cli/commands.h"
#include "tok/tokenizer.h"
#include "train/evaluate.h"
#include "train/examples.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    tn_check_rules d;
    tn_check_rules_default(&d);
    fprintf(f,
            "usage: tuna check --base DIR --submission DIR [--against DIR ...] [--json] [rule options]\n"
            "                  [--data FILE [dataset options] [--seq-len N] [--batch N]]\n\n"
            "Checks that a submission (an HF model directory or a PEFT adapter, applied to --base\n"
            "whatever base it names) is a fine-tune of --base: same architecture, weights close to\n"
            "the base but not identical, and not a copy of an earlier submission (--against, in\n"
            "upload order: the earliest keeps its score).\n\n"
            "verdicts: fine-tune | not-a-fine-tune | untouched-base | duplicate\n"
            "exit status: 0 the check ran (verdict in the output), 1 an input could not be read,\n"
            "             2 usage error\n\n"
            "options:\n"
            "  --base DIR              the model the task asked to fine-tune\n"
            "  --submission DIR        full weights (config.json) or adapter (adapter_config.json)\n"
            "  --against DIR           an earlier submission of the same task (repeatable)\n"
            "  --json                  one JSON object: verdict, reason and every number used\n"
            "  --sketch                include the delta sketch in the JSON (to store for later checks)\n"
            "  --data FILE             rows for function-space evidence: each row's loss gain over the\n"
            "                          base, and its correlation with each --against's (reported, never\n"
            "                          a verdict: same-recipe honest runs correlate as copies do)\n"
            "  --seq-len N, --batch N  with --data, as in tuna eval\n"
            "rules (defaults calibrated in docs/anticheat.md):\n"
            "  --min-cosine X          per-tensor cosine to the base at least X (default %g)\n"
            "  --max-rel-distance X    per-tensor ||W - W_base|| / ||W_base|| at most X (default %g)\n"
            "  --untouched-eps X       all tensors within X of the base: untouched (default %g)\n"
            "  --dup-max-residual X    delta = c x an earlier one up to X relative residual: duplicate (default %g)\n"
            "  --dup-max-structure X   residual no more structured than X x isotropic noise ... (default %g)\n"
            "  --dup-min-significance X ... and deltas aligned by X sigmas: a noised copy (default %g)\n"
            "  --sketch-k N            sketch floats per matrix, multiple of 64 (default %d)\n"
            "  --sketch-seed N         projection seed, the same for all submissions (default %llu)\n"
            "  --loose-config          compare only the shape-defining config fields\n\n" CLI_DATA_HELP,
            d.min_cosine, d.max_rel_distance, d.untouched_rel_eps, d.dup_max_residual, d.dup_max_structure,
            d.dup_min_significance, d.sketch_k,
            (unsigned long long)d.sketch_seed);
}

static void print_json(const tn_check_result *r, int with_sketch, json_t *function_space) {
    json_t *o = json_object();
    json_object_set_new(o, "verdict", json_string(tn_verdict_name(r->verdict)));
    json_object_set_new(o, "reason", json_string(r->reason));
    json_object_set_new(o, "is_adapter", json_boolean(r->is_adapter));
    json_object_set_new(o, "architecture_differs", r->arch_diff[0] ? json_string(r->arch_diff) : json_null());
    if (!r->arch_diff[0]) {
        const tn_provenance *p = &r->prov;
        char hex[65];
        tn_sha256_hex(r->fp.sha256, hex);
        json_object_set_new(o, "min_cosine", json_real(p->min_cosine));
        json_object_set_new(o, "min_cosine_tensor", json_string(p->min_cosine_tensor));
        json_object_set_new(o, "max_rel_distance", json_real(p->max_rel_distance));
        json_object_set_new(o, "max_rel_tensor", json_string(p->max_rel_tensor));
        json_object_set_new(o, "median_rel_distance", json_real(p->median_rel_distance));
        json_object_set_new(o, "global_cosine", json_real(p->global_cosine));
        json_object_set_new(o, "global_rel_distance", json_real(p->global_rel_distance));
        json_object_set_new(o, "tensors", json_integer(p->n_tensors));
        json_object_set_new(o, "tensors_changed", json_integer(p->n_changed));
        json_object_set_new(o, "sha256", json_string(hex));
        tn_sha256_hex(r->fp.sha256_bf16, hex);
        json_object_set_new(o, "sha256_bf16", r->fp.rounded & TN_FP_BF16 ? json_string(hex) : json_null());
        tn_sha256_hex(r->fp.sha256_f16, hex);
        json_object_set_new(o, "sha256_f16", r->fp.rounded & TN_FP_F16 ? json_string(hex) : json_null());
        json_object_set_new(o, "max_sketch_similarity", json_real(r->max_sketch_similarity));
        json_t *sims = json_array(), *dc = json_array();
        for (int i = 0; i < r->n_prior; i++) {
            json_array_append_new(sims, json_real(r->similarity[i]));
            double c = r->delta_cosine ? r->delta_cosine[i] : NAN;
            json_array_append_new(dc, isfinite(c) ? json_real(c) : json_null());
        }
        json_object_set_new(o, "sketch_similarities", sims);
        json_t *pairs = json_array();
        for (int i = 0; i < r->n_prior && r->pairs; i++) {
            const tn_sketch_pair *sp = &r->pairs[i];
            double ratio = sp->noise_structure > 0 ? sp->structure / sp->noise_structure : 0;
            json_array_append_new(pairs, json_pack("{s:f, s:f, s:f, s:f, s:f}", "cosine", sp->cosine, "scale",
                                                   sp->scale, "residual", isfinite(sp->residual) ? sp->residual : -1,
                                                   "structure_ratio", ratio, "significance", sp->significance));
        }
        json_object_set_new(o, "sketch_pairs", pairs);
        json_object_set_new(o, "evidence", json_string(r->evidence));
        json_object_set_new(o, "delta_cosines", dc);
        if (with_sketch && r->fp.sketch) {
            json_t *sk = json_array();
            for (int j = 0; j < r->fp.k; j++) json_array_append_new(sk, json_real(r->fp.sketch[j]));
            json_object_set_new(o, "sketch", sk);
            json_object_set_new(o, "sketch_block", json_integer(r->fp.block));
        }
    }
    json_object_set_new(o, "duplicate_of", r->duplicate_of >= 0 ? json_string(r->duplicate_dir) : json_null());
    json_object_set_new(o, "exact_duplicate", json_boolean(r->exact_duplicate));
    if (function_space) json_object_set(o, "function_space", function_space);
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    printf("%s\n", s);
    free(s);
    json_decref(o);
}

/* Loss of each row of ex under m into loss[] (NaN for rows with no scored
 * token); *mean gets the set's loss. */
static int row_losses(tn_model *m, const tn_examples *ex, int seq_len, int batch, int32_t pad, double *loss,
                      double *mean) {
    tn_eval_rows rows = {tn_calloc(ex->n + 1, sizeof(double)), tn_calloc(ex->n + 1, sizeof(int64_t))};
    tn_eval_result r;
    int rc = tn_evaluate(m, ex, NULL, 0, batch, seq_len, pad, NULL, &rows, &r);
    for (size_t i = 0; rc == 0 && i < ex->n; i++) loss[i] = rows.tokens[i] > 0 ? rows.loss[i] : NAN;
    if (rc == 0) *mean = r.loss;
    free(rows.loss);
    free(rows.tokens);
    return rc;
}

/* Pearson correlation of a and b over the rows where both are finite (NaN
 * with fewer than 2 such rows or no spread). */
static double correlation(const double *a, const double *b, size_t n) {
    double sa = 0, sb = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(a[i]) && isfinite(b[i])) sa += a[i], sb += b[i], k++;
    if (k < 2) return NAN;
    double ma = sa / k, mb = sb / k, ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(a[i]) && isfinite(b[i])) {
            ab += (a[i] - ma) * (b[i] - mb);
            aa += (a[i] - ma) * (a[i] - ma);
            bb += (b[i] - mb) * (b[i] - mb);
        }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : NAN;
}

/* Function-space evidence (--data): the rows formatted with the base's
 * tokenizer as tuna eval does, each row's gain = base loss - loss, for the
 * submission and each --against (one model in memory at a time; an --against
 * that does not load on this base gets null). Evidence only, never a verdict
 * (docs/anticheat.md: same-recipe honest runs correlate at 0.9999). Returns
 * the JSON object, or NULL with the error set. */
static json_t *function_space(const char *base_dir, const char *sub_dir, const char **against, int n_against,
                              cli_data *d, const char *data, int seq_len, int batch) {
    tn_model bm, m;
    tn_examples ex;
    tn_tokenizer *tok = NULL;
    json_t *out = NULL;
    double *base_l = NULL, *sub_g = NULL, *g = NULL;
    tn_examples_init(&ex);
    if (tn_model_load(&bm, base_dir, 1)) return NULL;
    if (d->spec.kind == TN_DS_CHAT && d->spec.chat_template == TN_TMPL_NONE) {
        char *cfg = tn_sprintf("%s/tokenizer_config.json", base_dir);
        int bad = tn_chat_template_from_tokenizer_config(cfg, &d->spec.chat_template);
        free(cfg);
        if (bad) goto out;
    }
    if (!(tok = tn_tok_load(base_dir))) goto out;
    if (seq_len == 0 || seq_len > bm.cfg.max_positions) seq_len = bm.cfg.max_positions < 2048 ? bm.cfg.max_positions : 2048;
    tn_rows_fmt fmt = TN_ROWS_AUTO;
    if (d->format) tn_rows_fmt_parse(d->format, &fmt);
    if (tn_examples_load(&ex, data, fmt, &d->spec, tok, seq_len, 0)) goto out;
    int32_t pad = tn_batch_pad_id(tok);
    size_t n = ex.n;
    base_l = tn_calloc(n + 1, sizeof *base_l);
    sub_g = tn_calloc(n + 1, sizeof *sub_g);
    g = tn_calloc(n + 1, sizeof *g);
    double base_mean, sub_mean, mean;
    if (row_losses(&bm, &ex, seq_len, batch, pad, base_l, &base_mean)) goto out;
    int ad;
    if (tn_load_submission(&bm, sub_dir, &m, &ad)) goto out;
    int rc = row_losses(&m, &ex, seq_len, batch, pad, sub_g, &sub_mean);
    tn_model_free(&m);
    if (rc) goto out;
    for (size_t i = 0; i < n; i++) sub_g[i] = base_l[i] - sub_g[i];
    json_t *arr = json_array();
    out = json_pack("{s:I, s:f, s:f, s:o}", "rows", (json_int_t)n, "base_loss", base_mean, "loss", sub_mean, "against",
                    arr);
    for (int a = 0; a < n_against; a++) {
        if (tn_load_submission(&bm, against[a], &m, &ad)) { /* another architecture: nothing to compare */
            json_array_append_new(arr, json_null());
            continue;
        }
        rc = row_losses(&m, &ex, seq_len, batch, pad, g, &mean);
        tn_model_free(&m);
        if (rc) {
            json_decref(out);
            out = NULL;
            goto out;
        }
        for (size_t i = 0; i < n; i++) g[i] = base_l[i] - g[i];
        double c = correlation(sub_g, g, n);
        json_array_append_new(arr, json_pack("{s:f, s:o}", "loss", mean, "gain_correlation",
                                             isfinite(c) ? json_real(c) : json_null()));
    }
out:
    free(base_l);
    free(sub_g);
    free(g);
    tn_examples_free(&ex);
    if (tok) tn_tok_free(tok);
    tn_model_free(&bm);
    return out;
}

int cmd_check(int argc, char **argv) {
    static const struct option opts[] = {{"base", required_argument, 0, 'b'},
                                         {"submission", required_argument, 0, 's'},
                                         {"against", required_argument, 0, 'a'},
                                         {"json", no_argument, 0, 'j'},
                                         {"sketch", no_argument, 0, 'S'},
                                         {"min-cosine", required_argument, 0, 'c'},
                                         {"max-rel-distance", required_argument, 0, 'r'},
                                         {"untouched-eps", required_argument, 0, 'u'},
                                         {"dup-max-residual", required_argument, 0, 'd'},
                                         {"dup-max-structure", required_argument, 0, 'D'},
                                         {"dup-min-significance", required_argument, 0, 'g'},
                                         {"sketch-k", required_argument, 0, 'k'},
                                         {"sketch-seed", required_argument, 0, 'e'},
                                         {"loose-config", no_argument, 0, 'l'},
                                         {"data", required_argument, 0, 'T'},
                                         {"seq-len", required_argument, 0, 'L'},
                                         {"batch", required_argument, 0, 'B'},
                                         {"help", no_argument, 0, 'h'},
                                         CLI_DATA_OPTIONS,
                                         {0, 0, 0, 0}};
    const char *base = NULL, *sub = NULL, *data = NULL;
    int seq_len = 0, batch = 8;
    cli_data dd;
    cli_data_init(&dd);
    const char **against = calloc((size_t)argc + 1, sizeof *against);
    int n_against = 0, as_json = 0, with_sketch = 0, c, bad = 0;
    uint64_t seed;
    if (!against) {
        fprintf(stderr, "tuna check: out of memory\n");
        return 1;
    }
    tn_check_rules rules;
    tn_check_rules_default(&rules);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int dr = cli_data_option(&dd, c, optarg);
        if (dr < 0) {
            free(against);
            return cli_usage_fail("check");
        }
        if (dr > 0) continue;
        switch (c) {
        case 'b': base = optarg; break;
        case 'T': data = optarg; break;
        case 'L': bad = tn_parse_int("--seq-len", optarg, 0, 1 << 20, &seq_len); break;
        case 'B': bad = tn_parse_int("--batch", optarg, 1, 1024, &batch); break;
        case 's': sub = optarg; break;
        case 'a': against[n_against++] = optarg; break;
        case 'j': as_json = 1; break;
        case 'S': with_sketch = 1; break;
        case 'l': rules.strict_config = 0; break;
        /* any finite value here: tn_check_rules_valid judges the rules together, in their own words */
        case 'c': bad = tn_parse_double("--min-cosine", optarg, -INFINITY, INFINITY, &rules.min_cosine); break;
        case 'r': bad = tn_parse_double("--max-rel-distance", optarg, -INFINITY, INFINITY, &rules.max_rel_distance); break;
        case 'u': bad = tn_parse_double("--untouched-eps", optarg, -INFINITY, INFINITY, &rules.untouched_rel_eps); break;
        case 'd': bad = tn_parse_double("--dup-max-residual", optarg, -INFINITY, INFINITY, &rules.dup_max_residual); break;
        case 'D': bad = tn_parse_double("--dup-max-structure", optarg, -INFINITY, INFINITY, &rules.dup_max_structure); break;
        case 'g': bad = tn_parse_double("--dup-min-significance", optarg, -INFINITY, INFINITY, &rules.dup_min_significance); break;
        case 'k': bad = tn_parse_int("--sketch-k", optarg, 64, 65536, &rules.sketch_k); break;
        case 'e': if (!(bad = tn_parse_u64("--sketch-seed", optarg, 0, UINT64_MAX, &seed))) rules.sketch_seed = seed; break;
        case 'h': usage(stdout); free(against); return 0;
        default: usage(stderr); free(against); return 2;
        }
        if (bad) {
            free(against);
            return cli_usage_fail("check");
        }
    }
    if (!base || !sub || optind != argc) {
        usage(stderr);
        free(against);
        return 2;
    }
    if (tn_check_rules_valid(&rules)) {
        free(against);
        fprintf(stderr, "tuna check: %s\n", tn_errmsg());
        return 2;
    }
    if (data && cli_data_finish(&dd, data)) {
        free(against);
        return cli_fail("check");
    }
    tn_check_result r;
    int rc = tn_check(base, sub, against, n_against, &rules, &r);
    json_t *fs = NULL;
    if (rc == 0 && data && !r.arch_diff[0] && !(fs = function_space(base, sub, against, n_against, &dd, data, seq_len, batch))) {
        tn_check_result_free(&r);
        rc = -1;
    }
    free(against);
    if (rc) return cli_fail("check");
    if (as_json) {
        print_json(&r, with_sketch, fs);
    } else {
        printf("%s: %s\n", tn_verdict_name(r.verdict), r.reason);
        if (!r.arch_diff[0])
            printf("  min cosine %.6f (%s)  max rel distance %.6g (%s)  median rel distance %.6g\n"
                   "  %d of %d tensors changed  max delta cosine %.4f%s%s\n",
                   r.prov.min_cosine, r.prov.min_cosine_tensor, r.prov.max_rel_distance, r.prov.max_rel_tensor,
                   r.prov.median_rel_distance, r.prov.n_changed, r.prov.n_tensors, r.max_sketch_similarity,
                   r.duplicate_of >= 0 ? "  duplicate of " : "", r.duplicate_of >= 0 ? r.duplicate_dir : "");
        if (fs) {
            printf("  function space (%lld rows, evidence only): loss %.4f, base %.4f",
                   (long long)json_integer_value(json_object_get(fs, "rows")),
                   json_real_value(json_object_get(fs, "loss")), json_real_value(json_object_get(fs, "base_loss")));
            json_t *x;
            size_t i;
            json_array_foreach(json_object_get(fs, "against"), i, x) {
                json_t *gc = json_object_get(x, "gain_correlation");
                printf("%s%s", i ? ", " : "; row-gain correlation with --against: ",
                       json_is_real(gc) ? "" : "n/a");
                if (json_is_real(gc)) printf("%.4f", json_real_value(gc));
            }
            printf("\n");
        }
    }
    json_decref(fs);
    tn_check_result_free(&r);
    return 0;
}
