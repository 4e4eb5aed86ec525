/* provenance.c - architecture, provenance, untouched-base and duplicate rules
 * (provenance.h, docs/anticheat.md). The numbers come from one pass over the
 * weights, tensor by tensor in parameter order (judge/weightpass.h): from
 * models in memory, or streamed from the mapped checkpoints (tn_check), with
 * the same results bit for bit. */
#include "judge/provenance.h"

#include "judge/duplicates.h"
#include "judge/weightpass.h"

#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "model/lora.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tn_check_rules_default(tn_check_rules *r) {
    /* Calibrated on real stories260K runs (docs/anticheat.md): fine-tunes
     * measured min cosine >= 0.868 and max rel distance <= 0.59, other
     * networks cosine <= 0 and distance >= 1.08; independent runs' delta
     * cosine <= 0.69, copies + noise that costs < 0.01 in loss >= 0.89. */
    r->min_cosine = 0.5;
    r->max_rel_distance = 1.0;
    r->untouched_rel_eps = 1e-7;
    r->dup_max_residual = 0.05;
    r->dup_max_structure = 1.10;
    r->dup_min_significance = 4.0;
    r->sketch_k = 256;
    r->sketch_seed = 0x74756e61; /* "tuna" */
    r->strict_config = 1;
}

int tn_check_rules_valid(const tn_check_rules *r) {
    if (!(r->min_cosine >= -1 && r->min_cosine <= 1)) return tn_fail("check rules: min_cosine %g not in [-1, 1]", r->min_cosine);
    if (!(r->max_rel_distance > 0)) return tn_fail("check rules: max_rel_distance %g must be > 0", r->max_rel_distance);
    if (!(r->untouched_rel_eps >= 0 && r->untouched_rel_eps < r->max_rel_distance))
        return tn_fail("check rules: untouched_rel_eps %g must be in [0, max_rel_distance)", r->untouched_rel_eps);
    if (!(r->dup_max_residual >= 0 && r->dup_max_residual < 1))
        return tn_fail("check rules: dup_max_residual %g not in [0, 1)", r->dup_max_residual);
    if (!(r->dup_max_structure >= 0 && r->dup_max_structure < 100))
        return tn_fail("check rules: dup_max_structure %g not in [0, 100)", r->dup_max_structure);
    if (!(r->dup_min_significance >= 0 && r->dup_min_significance < 1e6))
        return tn_fail("check rules: dup_min_significance %g not in [0, 1e6)", r->dup_min_significance);
    if (r->sketch_k < 64 || r->sketch_k > 65536 || r->sketch_k % 64)
        return tn_fail("check rules: sketch_k %d must be a multiple of 64 in [64, 65536]", r->sketch_k);
    return 0;
}

const char *tn_verdict_name(tn_verdict v) {
    switch (v) {
    case TN_VERDICT_FINE_TUNE: return "fine-tune";
    case TN_VERDICT_NOT_A_FINE_TUNE: return "not-a-fine-tune";
    case TN_VERDICT_UNTOUCHED_BASE: return "untouched-base";
    case TN_VERDICT_DUPLICATE: return "duplicate";
    }
    return "?";
}

void tn_fingerprint_free(tn_fingerprint *fp) {
    tn_free_aligned(fp->sketch);
    fp->sketch = NULL;
    fp->k = fp->block = 0;
}

void tn_check_result_free(tn_check_result *r) {
    tn_fingerprint_free(&r->fp);
    free(r->similarity);
    free(r->delta_cosine);
    free(r->pairs);
    r->pairs = NULL;
    r->similarity = r->delta_cosine = NULL;
    r->n_prior = 0;
}

void tn_sha256_hex(const unsigned char sha[32], char hex[65]) {
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", sha[i]);
}

/* ---- 1. architecture ---------------------------------------------------- */

#define DIFF_INT(field, name)                                                                     \
    if (a->field != b->field) {                                                                   \
        snprintf(why, cap, "%s %lld vs %lld", name, (long long)a->field, (long long)b->field);   \
        return 1;                                                                                 \
    }
#define DIFF_NUM(field, name)                                                                     \
    if (a->field != b->field) {                                                                   \
        snprintf(why, cap, "%s %g vs %g", name, (double)a->field, (double)b->field);             \
        return 1;                                                                                 \
    }

int tn_arch_differs(const tn_config *a, const tn_config *b, int strict, char *why, size_t cap) {
    if (a->arch != b->arch) {
        snprintf(why, cap, "model family %s vs %s", a->model_type, b->model_type);
        return 1;
    }
    /* The fields every parameter shape is computed from. */
    DIFF_INT(vocab_size, "vocab_size");
    DIFF_INT(hidden_size, "hidden_size");
    DIFF_INT(n_layers, "num_hidden_layers");
    DIFF_INT(n_heads, "num_attention_heads");
    DIFF_INT(n_kv_heads, "num_key_value_heads");
    DIFF_INT(head_dim, "head_dim");
    DIFF_INT(intermediate_size, "intermediate_size");
    DIFF_INT(tie_embeddings, "tie_word_embeddings");
    DIFF_INT(qkv_bias, "qkv bias");
    DIFF_INT(o_bias, "o_proj bias");
    DIFF_INT(mlp_bias, "mlp_bias");
    const tn_arch_ops *ops = tn_config_arch(a);
    if (ops && ops->learned_positions) DIFF_INT(max_positions, "n_positions"); /* the position table's shape */
    if (!strict) return 0;
    /* Same shapes but another function: a submission may not retune the
     * architecture, only the weights (the validator evaluates its config). */
    if (strcmp(a->model_type, b->model_type) != 0) {
        snprintf(why, cap, "model_type %s vs %s", a->model_type, b->model_type);
        return 1;
    }
    DIFF_NUM(norm_eps, "norm eps");
    DIFF_INT(sliding_window, "sliding_window");
    if (ops && ops->rope) {
        DIFF_NUM(rope_theta, "rope_theta");
        DIFF_INT(rope_llama3, "rope_scaling llama3");
        if (a->rope_llama3) {
            DIFF_NUM(rope_factor, "rope_scaling factor");
            DIFF_NUM(rope_low_freq_factor, "rope_scaling low_freq_factor");
            DIFF_NUM(rope_high_freq_factor, "rope_scaling high_freq_factor");
            DIFF_INT(rope_original_max_positions, "rope_scaling original_max_position_embeddings");
        }
    }
    return 0;
}

static int same_layout(const tn_model *a, const tn_model *b) {
    char why[160];
    return a->numel == b->numel && a->nparams == b->nparams && !tn_arch_differs(&a->cfg, &b->cfg, 0, why, sizeof why);
}

/* ---- 2, 3, 4. provenance and fingerprints: one pass (judge/weightpass.h) - */

/* The pass over two models in memory (the in-memory rules' entry points). */
static int pass_models(const tn_model *base, const tn_model *sub, const tn_model *other, int block, uint64_t seed,
                       tn_weight_pass *out) {
    tn_wsrc b, s, o;
    tn_wsrc_borrow(&b, base);
    tn_wsrc_borrow(&s, sub);
    if (other) tn_wsrc_borrow(&o, other);
    return tn_weight_pass_run(&b, &s, other ? &o : NULL, block, seed, out);
}

int tn_provenance_compute(const tn_model *base, const tn_model *sub, tn_provenance *out) {
    memset(out, 0, sizeof *out);
    if (!same_layout(base, sub)) return tn_fail("provenance: the models have different architectures");
    tn_weight_pass wp;
    if (pass_models(base, sub, NULL, 64, 0, &wp)) return -1;
    *out = wp.prov;
    tn_fingerprint_free(&wp.fp);
    return 0;
}

static const char *rounded_name(int same) { return same == 16 ? "bf16" : "f16"; }

/* Whether a and b hold the same weights once rounded to bf16 or f16, where
 * both roundings are informative: 0 no, 16 bf16 (checked first), 1 f16. */
static int same_rounded(const tn_fingerprint *a, const tn_fingerprint *b) {
    if (a->rounded & b->rounded & TN_FP_BF16 && memcmp(a->sha256_bf16, b->sha256_bf16, 32) == 0) return 16;
    return a->rounded & b->rounded & TN_FP_F16 && memcmp(a->sha256_f16, b->sha256_f16, 32) == 0;
}

static int sketch_block_valid(int block) {
    if (block < 64 || block % 64) return tn_fail("sketch: k = %d must be a positive multiple of 64", block);
    return 0;
}

int tn_fingerprint_compute(const tn_model *base, const tn_model *sub, int block, uint64_t seed, tn_fingerprint *fp) {
    memset(fp, 0, sizeof *fp);
    if (sketch_block_valid(block)) return -1;
    if (!same_layout(base, sub)) return tn_fail("sketch: the models have different architectures");
    tn_weight_pass wp;
    if (pass_models(base, sub, NULL, block, seed, &wp)) return -1;
    *fp = wp.fp;
    return 0;
}

double tn_sketch_similarity(const tn_fingerprint *a, const tn_fingerprint *b) {
    tn_sketch_pair sp;
    if (!a->sketch || !b->sketch || a->k != b->k || a->block != b->block ||
        tn_sketch_compare(a->sketch, b->sketch, (size_t)a->k, a->block, &sp))
        return 0;
    return sp.cosine;
}

double tn_delta_cosine(const tn_model *base, const tn_model *a, const tn_model *b) {
    if (!same_layout(base, a) || !same_layout(base, b)) return 0;
    tn_weight_pass wp;
    if (pass_models(base, a, b, 64, 0, &wp)) return 0;
    tn_fingerprint_free(&wp.fp);
    return wp.delta_cosine;
}

/* ---- loading ------------------------------------------------------------ */

/* 0: full weights, 1: a PEFT adapter, -1 (error set): neither. */
static int submission_kind(const char *dir) {
    if (!tn_dir_exists(dir)) return tn_fail("%s: no such directory", dir);
    char *acfg = tn_path_join(dir, "adapter_config.json");
    char *mcfg = tn_path_join(dir, "config.json");
    int adapter = tn_file_exists(acfg), full = tn_file_exists(mcfg);
    free(acfg);
    free(mcfg);
    if (!adapter && !full)
        return tn_fail("%s: neither config.json (full weights) nor adapter_config.json (PEFT adapter)", dir);
    return adapter;
}

int tn_load_submission(const tn_model *base, const char *dir, tn_model *out, int *is_adapter) {
    memset(out, 0, sizeof *out);
    *is_adapter = 0;
    int adapter = submission_kind(dir);
    if (adapter < 0) return -1;
    if (!adapter) return tn_model_load(out, dir, 1); /* refuses NaN/Inf, naming the tensor */
    /* An adapter is merged into the REQUESTED base, whatever base it names:
     * training a LoRA on another model and naming it here gets no benefit. */
    *is_adapter = 1;
    if (tn_model_create(out, &base->cfg)) return -1;
    memcpy(out->w, base->w, base->numel * sizeof(float));
    tn_lora lo;
    if (tn_lora_load(out, &lo, dir)) {
        tn_model_free(out);
        return tn_err_prefix("%s: the adapter does not apply to the requested base", dir);
    }
    tn_lora_merge(out, &lo);
    tn_lora_free(&lo);
    for (int t = 0; t < out->nparams; t++) {
        const tn_param *p = &out->params[t];
        for (size_t i = 0; i < p->numel; i++)
            if (!isfinite(out->w[p->offset + i])) {
                tn_model_free(out);
                return tn_fail("%s: tensor %s is not finite after merging the adapter (NaN/Inf in lora_A/lora_B)",
                               dir, p->name);
            }
    }
    return 0;
}

/* ---- the verdict -------------------------------------------------------- */

/* Rule 1 and the arguments: -1 on bad ones, 1 when the architecture
 * differs (the verdict is in out), 0 to go on with the weights. */
static int check_begin(const tn_model *base, const tn_model *sub, const tn_fingerprint *prior, int n_prior,
                       const tn_check_rules *rules, tn_check_result *out) {
    memset(out, 0, sizeof *out);
    out->most_similar = -1;
    out->duplicate_of = -1;
    if (tn_check_rules_valid(rules)) return -1;
    for (int i = 0; i < n_prior; i++)
        if (prior[i].sketch && prior[i].block != rules->sketch_k)
            return tn_fail("earlier submission #%d has a sketch of k = %d per matrix, the rules use k = %d "
                           "(recompute it)", i, prior[i].block, rules->sketch_k);
    if (tn_arch_differs(&base->cfg, &sub->cfg, rules->strict_config, out->arch_diff, sizeof out->arch_diff) ||
        !same_layout(base, sub)) {
        if (!out->arch_diff[0]) snprintf(out->arch_diff, sizeof out->arch_diff, "parameter layout");
        out->verdict = TN_VERDICT_NOT_A_FINE_TUNE;
        snprintf(out->reason, sizeof out->reason, "architecture differs (%s)", out->arch_diff);
        return 1;
    }
    return 0;
}

/* Rules 2-4 on the pass's numbers; out owns wp's fingerprint afterwards. */
static int check_decide(tn_weight_pass *wp, const tn_fingerprint *prior, int n_prior, const tn_check_rules *rules,
                        tn_check_result *out) {
    out->prov = wp->prov;
    out->fp = wp->fp;
    memset(&wp->fp, 0, sizeof wp->fp);
    const tn_provenance *pv = &out->prov;
    out->n_prior = n_prior;
    out->similarity = tn_calloc((size_t)n_prior + 1, sizeof *out->similarity);
    out->pairs = tn_calloc((size_t)n_prior + 1, sizeof *out->pairs);
    tn_dup_rules dr = {rules->dup_max_residual, rules->dup_max_structure, rules->dup_min_significance};
    int near = -1;
    for (int i = 0; i < n_prior; i++) {
        int same = memcmp(prior[i].sha256, out->fp.sha256, 32) == 0;
        int same16 = same ? 0 : same_rounded(&prior[i], &out->fp);
        tn_sketch_pair *sp = &out->pairs[i];
        int have = prior[i].sketch && prior[i].k == out->fp.k &&
                   tn_sketch_compare(out->fp.sketch, prior[i].sketch, (size_t)out->fp.k, out->fp.block, sp) == 0;
        double sim = same || same16 ? 1.0 : have ? sp->cosine : 0.0;
        out->similarity[i] = sim;
        if (out->most_similar < 0 || sim > out->max_sketch_similarity) {
            out->max_sketch_similarity = sim;
            out->most_similar = i;
        }
        if ((same || same16) && (!out->exact_duplicate || (same && out->exact_bf16))) {
            out->exact_duplicate = 1; /* the same bytes win over the same bf16 values */
            out->exact_bf16 = same ? 0 : same16;
            out->duplicate_of = i;
        }
        char why[200];
        if (have && !same && !same16) {
            int copy = tn_dup_pair_is_copy(sp, &dr, why, sizeof why);
            /* of the earlier ones it copies, the closest (tn_find_duplicates) */
            if (copy && (near < 0 || sp->cosine > out->pairs[near].cosine)) {
                near = i;
                snprintf(out->evidence, sizeof out->evidence, "%s", why);
            } else if (near < 0 && i == out->most_similar)
                snprintf(out->evidence, sizeof out->evidence, "closest #%d: %s", i, why);
        }
    }
    int base16 = wp->base16;
    if (base16) {
        out->verdict = TN_VERDICT_UNTOUCHED_BASE;
        snprintf(out->reason, sizeof out->reason,
                 "every weight is the base's rounded to %s: the base re-saved (max relative distance %.3g in %s)",
                 rounded_name(base16), pv->max_rel_distance, pv->max_rel_tensor);
        return 0;
    }
    if (pv->n_skipped_changed == 0 && (pv->n_changed == 0 || pv->max_rel_distance <= rules->untouched_rel_eps)) {
        out->verdict = TN_VERDICT_UNTOUCHED_BASE;
        if (pv->n_changed == 0)
            snprintf(out->reason, sizeof out->reason, "every tensor is bit-identical to the base");
        else
            snprintf(out->reason, sizeof out->reason,
                     "every tensor is within %.3g of the base (max relative distance %.3g in %s)",
                     rules->untouched_rel_eps, pv->max_rel_distance, pv->max_rel_tensor);
        return 0;
    }
    if (pv->min_cosine < rules->min_cosine) {
        out->verdict = TN_VERDICT_NOT_A_FINE_TUNE;
        snprintf(out->reason, sizeof out->reason,
                 "weights not derived from the base: %s has cosine %.4f to the base (minimum %.4g)",
                 pv->min_cosine_tensor, pv->min_cosine, rules->min_cosine);
        return 0;
    }
    if (pv->max_rel_distance > rules->max_rel_distance) {
        out->verdict = TN_VERDICT_NOT_A_FINE_TUNE;
        snprintf(out->reason, sizeof out->reason,
                 "weights too far from the base: %s moved %.4f of its norm (maximum %.4g)", pv->max_rel_tensor,
                 pv->max_rel_distance, rules->max_rel_distance);
        return 0;
    }
    if (out->exact_duplicate) {
        char hex[65];
        tn_sha256_hex(out->fp.sha256, hex);
        out->verdict = TN_VERDICT_DUPLICATE;
        out->max_sketch_similarity = 1.0;
        out->most_similar = out->duplicate_of;
        if (out->exact_bf16) {
            tn_sha256_hex(out->exact_bf16 == 16 ? out->fp.sha256_bf16 : out->fp.sha256_f16, hex);
            snprintf(out->reason, sizeof out->reason,
                     "identical weights to earlier submission #%d after rounding to %s: a re-save (%s sha256 "
                     "%.16s...)", out->duplicate_of, rounded_name(out->exact_bf16), rounded_name(out->exact_bf16), hex);
        } else
            snprintf(out->reason, sizeof out->reason, "identical weights to earlier submission #%d (sha256 %.16s...)",
                     out->duplicate_of, hex);
        return 0;
    }
    if (near >= 0) {
        out->verdict = TN_VERDICT_DUPLICATE;
        out->duplicate_of = near;
        snprintf(out->reason, sizeof out->reason, "near-duplicate of earlier submission #%d: %s", near,
                 out->evidence);
        return 0;
    }
    out->verdict = TN_VERDICT_FINE_TUNE;
    snprintf(out->reason, sizeof out->reason,
             "derived from the base (min cosine %.4f >= %.4g, max relative distance %.4g <= %.4g), %d of %d tensors "
             "changed%s%s",
             pv->min_cosine, rules->min_cosine, pv->max_rel_distance, rules->max_rel_distance, pv->n_changed,
             pv->n_tensors, out->evidence[0] ? "; duplicates: " : "", out->evidence);
    return 0;
}

int tn_check_models(const tn_model *base, const tn_model *sub, const tn_fingerprint *prior, int n_prior,
                    const tn_check_rules *rules, tn_check_result *out) {
    int rc = check_begin(base, sub, prior, n_prior, rules, out);
    if (rc) return rc < 0 ? -1 : 0;
    tn_weight_pass wp;
    if (pass_models(base, sub, NULL, rules->sketch_k, rules->sketch_seed, &wp)) return -1;
    return check_decide(&wp, prior, n_prior, rules, out);
}

/* A submission as a source of weights: its mapped checkpoint, or an adapter
 * merged into the base in memory. */
typedef struct {
    tn_wsrc src;
    tn_model merged;
    int is_adapter;
} sub_source;

static int sub_open(const tn_model *base_mem, const char *dir, const char *what, sub_source *o) {
    memset(o, 0, sizeof *o);
    int kind = submission_kind(dir);
    if (kind < 0) return -1;
    if (kind) {
        if (tn_load_submission(base_mem, dir, &o->merged, &o->is_adapter)) return -1;
        tn_wsrc_borrow(&o->src, &o->merged);
    } else if (tn_wsrc_open(&o->src, dir, 1)) { /* refuses NaN/Inf as it reads, naming the tensor */
        return -1;
    }
    snprintf(o->src.what, sizeof o->src.what, "%s", what);
    return 0;
}

static void sub_close(sub_source *o) {
    tn_wsrc_close(&o->src);
    tn_model_free(&o->merged);
}

static int is_adapter_dir(const char *dir) {
    char *acfg = tn_path_join(dir, "adapter_config.json");
    int adapter = tn_file_exists(acfg);
    free(acfg);
    return adapter;
}

/* Everything streams from the mapped checkpoints, a tensor of each model at a
 * time (judge/weightpass.h); only an adapter, merged into the base, needs
 * the base in memory as fp32. */
int tn_check(const char *base_dir, const char *submission_dir, const char *const *against_dirs, int n_against,
             const tn_check_rules *rules, tn_check_result *out) {
    memset(out, 0, sizeof *out);
    out->most_similar = out->duplicate_of = -1;
    if (tn_check_rules_valid(rules)) return -1;
    if (!tn_dir_exists(base_dir)) return tn_fail("base %s: no such directory", base_dir);
    int need_mem = is_adapter_dir(submission_dir);
    for (int i = 0; i < n_against; i++) need_mem |= is_adapter_dir(against_dirs[i]);
    tn_model bm;
    tn_wsrc base;
    memset(&bm, 0, sizeof bm);
    if (need_mem ? tn_model_load(&bm, base_dir, 1) : tn_wsrc_open(&base, base_dir, 1))
        return tn_err_prefix("base %s", base_dir);
    if (need_mem) tn_wsrc_borrow(&base, &bm);
    snprintf(base.what, sizeof base.what, "base %s", base_dir);
    sub_source sub;
    if (sub_open(&bm, submission_dir, "submission", &sub)) {
        tn_err_prefix("submission");
        out->submission_error = 1;
        tn_wsrc_close(&base);
        tn_model_free(&bm);
        return -1;
    }
    const tn_model *B = tn_wsrc_model(&base), *S = tn_wsrc_model(&sub.src);
    tn_fingerprint *prior = tn_calloc((size_t)n_against + 1, sizeof *prior);
    double *dcos = tn_calloc((size_t)n_against + 1, sizeof *dcos);
    tn_weight_pass wp;
    memset(&wp, 0, sizeof wp);
    int arch = check_begin(B, S, NULL, 0, rules, out), rc = -1;
    if (arch < 0) goto out;
    /* a submission of another architecture is still read: its weights must
     * be finite, as loading it whole required */
    if (arch ? tn_weight_pass_run(NULL, &sub.src, NULL, 0, 0, &wp)
             : tn_weight_pass_run(&base, &sub.src, NULL, rules->sketch_k, rules->sketch_seed, &wp)) {
        out->submission_error = sub.src.failed;
        goto out;
    }
    for (int i = 0; i < n_against; i++) {
        sub_source a;
        if (sub_open(&bm, against_dirs[i], "against", &a)) {
            tn_err_prefix("against");
            goto out;
        }
        /* Another architecture cannot duplicate a submission that passes
         * rule 1: only its hashes. The exact delta cosine is O(N), against
         * the O(kN) sketch: worth reporting what it estimates. */
        const tn_model *A = tn_wsrc_model(&a.src);
        int same = same_layout(B, A), with_sub = same && same_layout(B, S);
        tn_weight_pass ap;
        int bad = same ? tn_weight_pass_run(&base, &a.src, with_sub ? &sub.src : NULL, rules->sketch_k,
                                            rules->sketch_seed, &ap)
                       : tn_weight_pass_run(NULL, &a.src, NULL, 0, 0, &ap);
        sub_close(&a);
        if (bad) goto out;
        prior[i] = ap.fp;
        dcos[i] = with_sub ? ap.delta_cosine : NAN;
    }
    rc = arch ? 0 : check_decide(&wp, prior, n_against, rules, out);
    out->is_adapter = sub.is_adapter;
    if (rc == 0 && out->similarity) {
        out->delta_cosine = dcos;
        dcos = NULL;
    }
    if (rc == 0 && out->duplicate_of >= 0)
        snprintf(out->duplicate_dir, sizeof out->duplicate_dir, "%s", against_dirs[out->duplicate_of]);
out:
    tn_fingerprint_free(&wp.fp);
    for (int i = 0; i < n_against; i++) tn_fingerprint_free(&prior[i]);
    free(prior);
    free(dcos);
    sub_close(&sub);
    tn_wsrc_close(&base);
    tn_model_free(&bm);
    return rc;
}
