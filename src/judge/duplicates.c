/* duplicates.c - the duplicate rule over stored fingerprints (see duplicates.h). */
#include "judge/duplicates.h"

#include "judge/provenance.h"
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

double tn_dup_sketch_cos(const tn_dup_item *a, const tn_dup_item *b) {
    return a->k == b->k ? tn_sketch_cos(a->sketch, b->sketch, a->k) : 0.0;
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

void tn_find_duplicates(const tn_dup_item *items, size_t n, double threshold, tn_dup_result *out) {
    upload_key *keys = tn_malloc(sizeof *keys * (n ? n : 1));
    size_t *order = tn_malloc(sizeof *order * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        keys[i] = (upload_key){items[i].received_at, items[i].id, i};
        out[i] = (tn_dup_result){.dup_of = -1, .exact = 0, .origin = (int)i, .max_similarity = 0.0};
    }
    qsort(keys, n, sizeof *keys, upload_order);
    for (size_t i = 0; i < n; i++) order[i] = keys[i].idx;
    free(keys);
    for (size_t a = 0; a < n; a++) {
        size_t i = order[a];
        const tn_dup_item *e = &items[i];
        tn_dup_result *r = &out[i];
        /* exact copies first: the earliest upload with the same hash */
        for (size_t b = 0; b < a && e->sha256 && e->sha256[0]; b++) {
            const tn_dup_item *o = &items[order[b]];
            if (o->miner_id == e->miner_id && o->task_id == e->task_id) continue;
            if (o->sha256 && !strcmp(e->sha256, o->sha256)) {
                r->dup_of = (int)order[b];
                r->exact = 1;
                r->max_similarity = 1.0;
                break;
            }
        }
        if (!r->exact && e->fine_tune)
            for (size_t b = 0; b < a; b++) {
                size_t j = order[b];
                const tn_dup_item *o = &items[j], *root = &items[out[j].origin];
                if (o->miner_id == e->miner_id && o->task_id == e->task_id) continue;
                if (!o->fine_tune || !same_str(o->model, e->model)) continue; /* deltas from one base only */
                if (root->miner_id == e->miner_id && same_str(root->model, e->model) &&
                    same_str(root->dataset, e->dataset))
                    continue; /* the miner's own work on this base and data */
                double c = tn_dup_sketch_cos(e, o);
                if (c > r->max_similarity) {
                    r->max_similarity = c;
                    if (c >= threshold) r->dup_of = (int)j;
                }
            }
        if (r->dup_of >= 0) r->origin = out[r->dup_of].origin;
    }
    free(order);
}
