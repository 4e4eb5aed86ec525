/* duplicates.c - the duplicate rule over stored fingerprints (see duplicates.h). */
#include "judge/duplicates.h"

#include "judge/provenance.h"
#include "base/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tn_dup_compare(const tn_dup_item *later, const tn_dup_item *earlier, tn_sketch_pair *out) {
    memset(out, 0, sizeof *out);
    if (!later->sketch || !earlier->sketch || later->k != earlier->k || later->block != earlier->block ||
        later->k <= 0)
        return -1;
    return tn_sketch_compare(later->sketch, earlier->sketch, (size_t)later->k, later->block, out);
}

int tn_dup_pair_is_copy(const tn_sketch_pair *sp, const tn_dup_rules *r, char *why, size_t cap) {
    double ratio = sp->noise_structure > 0 ? sp->structure / sp->noise_structure : INFINITY;
    if (sp->scale > 0 && sp->residual <= r->max_residual) {
        snprintf(why, cap, "the same delta x %.3g (residual %.3g <= %.3g, delta cosine %.4f)", sp->scale,
                 sp->residual, r->max_residual, sp->cosine);
        return 1;
    }
    if (sp->scale > 0 && sp->significance >= r->min_significance && ratio <= r->max_structure) {
        snprintf(why, cap,
                 "the same delta x %.3g plus isotropic noise (aligned at %.1f sigma >= %.3g; residual structure "
                 "%.3f of noise's, <= %.3g; residual %.3g, delta cosine %.4f)",
                 sp->scale, sp->significance, r->min_significance, ratio, r->max_structure, sp->residual,
                 sp->cosine);
        return 1;
    }
    /* Not a copy; say why, so a reader sees how close it came. */
    snprintf(why, cap,
             "independent delta: residual %.3g > %.3g with structure %.3f of isotropic noise's (> %.3g) or "
             "alignment %.1f sigma (< %.3g); delta cosine %.4f",
             sp->residual, r->max_residual, ratio, r->max_structure, sp->significance, r->min_significance,
             sp->cosine);
    return 0;
}

/* sort keys copied out of the items: C11's qsort has no context argument,
 * and a static pointer to the items would not be thread-safe */
typedef struct {
    int64_t received_at, id;
    size_t idx;
} upload_key;

static int upload_order(const void *pa, const void *pb) {
    const upload_key *a = pa, *b = pb;
    if (a->received_at != b->received_at) return a->received_at < b->received_at ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static int same_str(const char *a, const char *b) {
    return !strcmp(a ? a : "", b ? b : "");
}

static int nonempty(const char *s) { return s && s[0]; }

void tn_find_duplicates(const tn_dup_item *items, size_t n, const tn_dup_rules *rules, tn_dup_result *out) {
    upload_key *keys = tn_malloc(sizeof *keys * (n ? n : 1));
    size_t *order = tn_malloc(sizeof *order * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        keys[i] = (upload_key){items[i].received_at, items[i].id, i};
        out[i] = (tn_dup_result){.dup_of = -1, .exact = 0, .origin = (int)i, .max_similarity = 0.0, .evidence = ""};
    }
    qsort(keys, n, sizeof *keys, upload_order);
    for (size_t i = 0; i < n; i++) order[i] = keys[i].idx;
    free(keys);
    for (size_t a = 0; a < n; a++) {
        size_t i = order[a];
        const tn_dup_item *e = &items[i];
        tn_dup_result *r = &out[i];
        /* exact copies first: the earliest upload with the same hash */
        for (size_t b = 0; b < a; b++) {
            const tn_dup_item *o = &items[order[b]];
            if (o->miner_id == e->miner_id && o->task_id == e->task_id) continue;
            int kind = nonempty(e->sha256) && same_str(e->sha256, o->sha256)                ? 1
                       : nonempty(e->sha256_bf16) && same_str(e->sha256_bf16, o->sha256_bf16) ? 2
                       : nonempty(e->sha256_f16) && same_str(e->sha256_f16, o->sha256_f16)    ? 3
                                                                                           : 0;
            if (kind) {
                r->dup_of = (int)order[b];
                r->exact = kind;
                r->max_similarity = 1.0;
                if (kind == 1)
                    snprintf(r->evidence, sizeof r->evidence, "identical weights (sha256 %.16s...)", e->sha256);
                else
                    snprintf(r->evidence, sizeof r->evidence,
                             "identical weights after rounding to %s: a re-save (%s sha256 %.16s...)",
                             kind == 2 ? "bf16" : "f16", kind == 2 ? "bf16" : "f16",
                             kind == 2 ? e->sha256_bf16 : e->sha256_f16);
                break;
            }
        }
        double best = 0; /* cosine of the closest original copied */
        if (!r->exact && e->fine_tune)
            for (size_t b = 0; b < a; b++) {
                size_t j = order[b];
                const tn_dup_item *o = &items[j], *root = &items[out[j].origin];
                if (o->miner_id == e->miner_id && o->task_id == e->task_id) continue;
                if (!o->fine_tune || !same_str(o->model, e->model)) continue; /* deltas from one base only */
                if (root->miner_id == e->miner_id && same_str(root->model, e->model) &&
                    same_str(root->dataset, e->dataset))
                    continue; /* the miner's own work on this base and data */
                tn_sketch_pair sp;
                if (tn_dup_compare(e, o, &sp)) continue; /* no sketch, or one of another size */
                char why[256];
                int copy = tn_dup_pair_is_copy(&sp, rules, why, sizeof why);
                /* of the originals it copies, the closest decides: a heavily noised copy also reads as
                 * "noise plus a bit" of a same-recipe run of its original, less closely; otherwise the
                 * closest pair explains */
                if (copy && (r->dup_of < 0 || sp.cosine > best)) {
                    r->dup_of = (int)j;
                    best = sp.cosine;
                    snprintf(r->evidence, sizeof r->evidence, "%s", why);
                } else if (r->dup_of < 0 && (sp.cosine > r->max_similarity || !r->evidence[0]))
                    snprintf(r->evidence, sizeof r->evidence, "%s", why);
                if (sp.cosine > r->max_similarity) r->max_similarity = sp.cosine;
            }
        if (r->dup_of >= 0) r->origin = out[r->dup_of].origin;
    }
    free(order);
}
