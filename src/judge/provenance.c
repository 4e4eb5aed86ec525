/* provenance.c - architecture, provenance, untouched-base and duplicate rules
 * (provenance.h, docs/anticheat.md). Everything runs on fp32 arenas with one
 * flat layout per config, so "tensor i" of two models of the same config is
 * the same range of floats. */
#include "judge/provenance.h"

#include "judge/duplicates.h"

#include "base/rng.h"
#include "base/half.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "model/lora.h"

#include <math.h>
#include <sodium.h>
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

/* ---- 2, 3. provenance --------------------------------------------------- */

static int cmp_double(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

int tn_provenance_compute(const tn_model *base, const tn_model *sub, tn_provenance *out) {
    memset(out, 0, sizeof *out);
    if (!same_layout(base, sub)) return tn_fail("provenance: the models have different architectures");
    double *rels = tn_calloc((size_t)base->nparams + 1, sizeof *rels);
    int nrel = 0;
    double gdot = 0, gbb = 0, gss = 0, gdd = 0;
    out->min_cosine = 1;
    out->n_tensors = base->nparams;
    for (int t = 0; t < base->nparams; t++) {
        const tn_param *p = &base->params[t];
        const float *b = base->w + p->offset, *s = sub->w + p->offset;
        int changed = memcmp(b, s, p->numel * sizeof(float)) != 0;
        out->n_changed += changed;
        /* Double sums: a tensor of 10^8 floats summed in float loses the
         * 1e-7 relative differences the untouched rule looks for. */
        double dot = 0, bb = 0, ss = 0, dd = 0;
        for (size_t i = 0; i < p->numel; i++) {
            double x = b[i], y = s[i], d = (double)s[i] - (double)b[i];
            dot += x * y;
            bb += x * x;
            ss += y * y;
            dd += d * d;
        }
        gdot += dot;
        gbb += bb;
        gss += ss;
        gdd += dd;
        if (bb == 0) {
            /* A zero tensor in the base (a bias at init) has no direction to
             * compare with; it still counts for "untouched". */
            out->n_skipped++;
            if (changed) out->n_skipped_changed++;
            continue;
        }
        double cosv = ss > 0 ? dot / sqrt(bb * ss) : 0;
        double rel = sqrt(dd / bb);
        if (cosv < out->min_cosine || nrel == 0) {
            out->min_cosine = cosv;
            snprintf(out->min_cosine_tensor, sizeof out->min_cosine_tensor, "%s", p->name);
        }
        if (rel > out->max_rel_distance || nrel == 0) {
            out->max_rel_distance = rel;
            snprintf(out->max_rel_tensor, sizeof out->max_rel_tensor, "%s", p->name);
        }
        rels[nrel++] = rel;
    }
    if (nrel) {
        qsort(rels, (size_t)nrel, sizeof *rels, cmp_double);
        out->median_rel_distance = nrel % 2 ? rels[nrel / 2] : 0.5 * (rels[nrel / 2 - 1] + rels[nrel / 2]);
    }
    out->global_cosine = gbb > 0 && gss > 0 ? gdot / sqrt(gbb * gss) : 0;
    out->global_rel_distance = gbb > 0 ? sqrt(gdd / gbb) : 0;
    free(rels);
    return 0;
}

/* ---- 4. fingerprints ---------------------------------------------------- */

static void weights_sha256(const tn_model *m, unsigned char out[32]) {
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    /* in 64 MiB pieces: the length argument is unsigned long long anyway, but
     * smaller updates keep the pages streaming */
    const unsigned char *p = (const unsigned char *)m->w;
    size_t left = m->numel * sizeof(float);
    while (left) {
        size_t n = left < ((size_t)64 << 20) ? left : ((size_t)64 << 20);
        crypto_hash_sha256_update(&st, p, n);
        p += n;
        left -= n;
    }
    crypto_hash_sha256_final(&st, out);
}

/* SHA-256 of the weights rounded to bf16 (f16 = 0) or IEEE half (f16 = 1),
 * round to nearest even as torch does, 2 bytes each, little-endian: a copy
 * re-saved in that type loads as exactly these values, and rounding them
 * again changes nothing, so it has the original's hash; independent runs
 * never agree on every weight. */
static void weights_sha256_half(const tn_model *m, int f16, unsigned char out[32]) {
    enum { PIECE = 1 << 16 };
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    unsigned char *buf = tn_malloc(2 * PIECE);
    for (size_t i = 0; i < m->numel; i += PIECE) {
        size_t n = m->numel - i < PIECE ? m->numel - i : PIECE;
        for (size_t k = 0; k < n; k++) {
            uint16_t h = f16 ? tn_f32_to_f16(m->w[i + k]) : tn_f32_to_bf16(m->w[i + k]);
            buf[2 * k] = (unsigned char)(h & 0xff);
            buf[2 * k + 1] = (unsigned char)(h >> 8);
        }
        crypto_hash_sha256_update(&st, buf, 2 * n);
    }
    free(buf);
    crypto_hash_sha256_final(&st, out);
}

static void weights_hashes(const tn_model *m, tn_fingerprint *fp) {
    weights_sha256(m, fp->sha256);
    weights_sha256_half(m, 0, fp->sha256_bf16);
    weights_sha256_half(m, 1, fp->sha256_f16);
    fp->rounded = TN_FP_BF16 | TN_FP_F16;
}

/* Whether a and b hold the same weights once rounded to bf16 or f16, where
 * both roundings are informative: 0 no, 16 bf16 (checked first), 1 f16. */
static int same_rounded(const tn_fingerprint *a, const tn_fingerprint *b) {
    if (a->rounded & b->rounded & TN_FP_BF16 && memcmp(a->sha256_bf16, b->sha256_bf16, 32) == 0) return 16;
    return a->rounded & b->rounded & TN_FP_F16 && memcmp(a->sha256_f16, b->sha256_f16, 32) == 0;
}

/* sub is exactly the base rounded to bf16 (f16 = 0) or f16, and the base is
 * not already in that type: the base re-saved. (A base released in bf16 is
 * excluded: a light fine-tune saved in bf16 can round back onto it.) */
static int rounded_base(const tn_model *base, const tn_model *sub, int f16) {
    int base_exact = 1;
    for (size_t i = 0; i < base->numel; i++) {
        float r = f16 ? tn_f16_to_f32(tn_f32_to_f16(base->w[i])) : tn_bf16_to_f32(tn_f32_to_bf16(base->w[i]));
        if (memcmp(&r, &sub->w[i], sizeof r) != 0) return 0;
        base_exact &= memcmp(&r, &base->w[i], sizeof r) == 0;
    }
    return !base_exact;
}

static const char *rounded_name(int same) { return same == 16 ? "bf16" : "f16"; }

int tn_fingerprint_compute(const tn_model *base, const tn_model *sub, int block, uint64_t seed, tn_fingerprint *fp) {
    memset(fp, 0, sizeof *fp);
    if (block < 64 || block % 64) return tn_fail("sketch: k = %d must be a positive multiple of 64", block);
    if (!same_layout(base, sub)) return tn_fail("sketch: the models have different architectures");
    if (sodium_init() < 0) return tn_fail("libsodium: initialisation failed");
    weights_hashes(sub, fp);
    /* a rounding that erases the whole fine-tune gives the base's hash, which
     * every light fine-tune of a base released in that type shares: no evidence */
    tn_fingerprint bfp;
    weights_hashes(base, &bfp);
    if (!memcmp(bfp.sha256_bf16, fp->sha256_bf16, 32)) fp->rounded &= ~TN_FP_BF16;
    if (!memcmp(bfp.sha256_f16, fp->sha256_f16, 32)) fp->rounded &= ~TN_FP_F16;
    size_t len = tn_delta_sketch_len(base, block);
    fp->sketch = tn_try_alloc_floats(len + 1, "delta sketch");
    if (!fp->sketch) return -1;
    if (tn_delta_sketch(base, sub, block, seed, fp->sketch)) {
        tn_fingerprint_free(fp);
        return -1;
    }
    fp->k = (int)len;
    fp->block = block;
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
    double dot = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < base->numel; i++) {
        double da = (double)a->w[i] - base->w[i], db = (double)b->w[i] - base->w[i];
        dot += da * db;
        aa += da * da;
        bb += db * db;
    }
    return aa > 0 && bb > 0 ? dot / sqrt(aa * bb) : 0;
}

/* ---- loading ------------------------------------------------------------ */

int tn_load_submission(const tn_model *base, const char *dir, tn_model *out, int *is_adapter) {
    memset(out, 0, sizeof *out);
    *is_adapter = 0;
    if (!tn_dir_exists(dir)) return tn_fail("%s: no such directory", dir);
    char *acfg = tn_path_join(dir, "adapter_config.json");
    char *mcfg = tn_path_join(dir, "config.json");
    int adapter = tn_file_exists(acfg), full = tn_file_exists(mcfg);
    free(acfg);
    free(mcfg);
    if (!adapter && !full)
        return tn_fail("%s: neither config.json (full weights) nor adapter_config.json (PEFT adapter)", dir);
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

int tn_check_models(const tn_model *base, const tn_model *sub, const tn_fingerprint *prior, int n_prior,
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
        return 0;
    }
    if (tn_provenance_compute(base, sub, &out->prov)) return -1;
    if (tn_fingerprint_compute(base, sub, rules->sketch_k, rules->sketch_seed, &out->fp)) return -1;
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
    int base16 = pv->n_changed == 0 ? 0 : rounded_base(base, sub, 0) ? 16 : rounded_base(base, sub, 1);
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

int tn_check(const char *base_dir, const char *submission_dir, const char *const *against_dirs, int n_against,
             const tn_check_rules *rules, tn_check_result *out) {
    memset(out, 0, sizeof *out);
    out->most_similar = out->duplicate_of = -1;
    if (tn_check_rules_valid(rules)) return -1;
    tn_model base, sub;
    if (!tn_dir_exists(base_dir)) return tn_fail("base %s: no such directory", base_dir);
    if (tn_model_load(&base, base_dir, 1)) return tn_err_prefix("base %s", base_dir);
    int is_adapter = 0, rc = -1;
    if (tn_load_submission(&base, submission_dir, &sub, &is_adapter)) {
        tn_err_prefix("submission");
        tn_model_free(&base);
        return -1;
    }
    tn_fingerprint *prior = tn_calloc((size_t)n_against + 1, sizeof *prior);
    double *dcos = tn_calloc((size_t)n_against + 1, sizeof *dcos);
    for (int i = 0; i < n_against; i++) {
        tn_model a;
        int ad;
        if (tn_load_submission(&base, against_dirs[i], &a, &ad)) {
            tn_err_prefix("against");
            goto out;
        }
        /* Another architecture cannot duplicate a submission that passes rule 1. */
        int ok = 0;
        /* O(N), against the O(kN) sketch: worth reporting what it estimates. */
        dcos[i] = same_layout(&base, &a) && same_layout(&base, &sub) ? tn_delta_cosine(&base, &sub, &a) : NAN;
        if (same_layout(&base, &a))
            ok = tn_fingerprint_compute(&base, &a, rules->sketch_k, rules->sketch_seed, &prior[i]);
        else if (sodium_init() < 0)
            ok = tn_fail("libsodium: initialisation failed");
        else
            weights_hashes(&a, &prior[i]);
        tn_model_free(&a);
        if (ok) {
            tn_err_prefix("against %s", against_dirs[i]);
            goto out;
        }
    }
    rc = tn_check_models(&base, &sub, prior, n_against, rules, out);
    out->is_adapter = is_adapter;
    if (rc == 0 && out->similarity) {
        out->delta_cosine = dcos;
        dcos = NULL;
    }
    if (rc == 0 && out->duplicate_of >= 0)
        snprintf(out->duplicate_dir, sizeof out->duplicate_dir, "%s", against_dirs[out->duplicate_of]);
out:
    for (int i = 0; i < n_against; i++) tn_fingerprint_free(&prior[i]);
    free(prior);
    free(dcos);
    tn_model_free(&sub);
    tn_model_free(&base);
    return rc;
}
