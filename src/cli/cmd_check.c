/* cmd_check.c - `tuna check`: is a submission a fine-tune of the requested base?
 * External checks (validator workers, scripts) call exactly this; the rules
 * and their calibration are in docs/anticheat.md.
 * Exit status: 0 when the check ran (whatever the verdict: read it from the
 * output), 1 when an input could not be read (missing dir, corrupt file, NaN
 * weights, an adapter that does not fit the base), 2 on usage errors. */
#include "judge/provenance.h"
#include "base/err.h"
#include "base/num.h"
#include "cli/commands.h"

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
            "usage: tuna check --base DIR --submission DIR [--against DIR ...] [--json] [rule options]\n\n"
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
            "rules (defaults calibrated in docs/anticheat.md):\n"
            "  --min-cosine X          per-tensor cosine to the base at least X (default %g)\n"
            "  --max-rel-distance X    per-tensor ||W - W_base|| / ||W_base|| at most X (default %g)\n"
            "  --untouched-eps X       all tensors within X of the base: untouched (default %g)\n"
            "  --dup-max-residual X    delta = c x an earlier one up to X relative residual: duplicate (default %g)\n"
            "  --dup-max-structure X   residual no more structured than X x isotropic noise ... (default %g)\n"
            "  --dup-min-significance X ... and deltas aligned by X sigmas: a noised copy (default %g)\n"
            "  --sketch-k N            sketch floats per matrix, multiple of 64 (default %d)\n"
            "  --sketch-seed N         projection seed, the same for all submissions (default %llu)\n"
            "  --loose-config          compare only the shape-defining config fields\n",
            d.min_cosine, d.max_rel_distance, d.untouched_rel_eps, d.dup_max_residual, d.dup_max_structure,
            d.dup_min_significance, d.sketch_k,
            (unsigned long long)d.sketch_seed);
}

static void print_json(const tn_check_result *r, int with_sketch) {
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
        json_object_set_new(o, "sha256_bf16", json_string(hex));
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
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    printf("%s\n", s);
    free(s);
    json_decref(o);
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
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *base = NULL, *sub = NULL;
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
        switch (c) {
        case 'b': base = optarg; break;
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
    tn_check_result r;
    int rc = tn_check(base, sub, against, n_against, &rules, &r);
    free(against);
    if (rc) return cli_fail("check");
    if (as_json) {
        print_json(&r, with_sketch);
    } else {
        printf("%s: %s\n", tn_verdict_name(r.verdict), r.reason);
        if (!r.arch_diff[0])
            printf("  min cosine %.6f (%s)  max rel distance %.6g (%s)  median rel distance %.6g\n"
                   "  %d of %d tensors changed  max delta cosine %.4f%s%s\n",
                   r.prov.min_cosine, r.prov.min_cosine_tensor, r.prov.max_rel_distance, r.prov.max_rel_tensor,
                   r.prov.median_rel_distance, r.prov.n_changed, r.prov.n_tensors, r.max_sketch_similarity,
                   r.duplicate_of >= 0 ? "  duplicate of " : "", r.duplicate_of >= 0 ? r.duplicate_dir : "");
    }
    tn_check_result_free(&r);
    return 0;
}
