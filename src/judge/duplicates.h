/* duplicates.h - which earlier submission, if any, each submission duplicates
 * (the validator's duplicate rule; docs/anticheat.md, "Duplicates").
 *
 * Pure: it sees only what the validator stored per submission (uploader,
 * task, upload time, content hash, delta sketch, provenance verdict) and
 * never touches the store, so the rule is tested on its own.
 *
 * Submissions are taken in upload order (received_at, then id); only an
 * earlier upload can be the original. A submission duplicates an earlier one
 *   - exactly: same SHA-256 of the weights, or of the weights rounded to
 *     bf16 or f16 (a re-save in that type), whoever uploaded it and for whatever task
 *     (the same miner's other task included); or
 *   - nearly: both passed provenance as fine-tunes of the same base and the
 *     delta sketches say the later delta is the earlier one rescaled, or the
 *     earlier one plus isotropic noise (tn_dup_pair_is_copy). A high delta
 *     cosine alone is not enough: independent runs of one recipe on the same
 *     data reach 0.99 (docs/anticheat.md).
 * Never compared: the same miner's own submission to the same task (a
 * replaced upload).
 *
 * The near rule does not hold a miner's work against itself: when the
 * earlier submission ORIGINATES from the same miner on a task of the same
 * base and dataset, the pair is skipped, because an honest retrain of the
 * same data converges to nearly the same delta. "Originates": an earlier
 * submission that is itself a duplicate stands for the submission it copies
 * (followed to the first one of the chain). So when another miner re-uploads
 * a fair miner's earlier output, the fair miner's honest retrain is not made
 * a near-duplicate of the copy of its own work; the copy is still caught as
 * an exact (or near) copy of the original. */
#ifndef TN_DUPES_H
#define TN_DUPES_H

#include "judge/deltasketch.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t id, miner_id, task_id;
    int64_t received_at;   /* upload time; ties broken by id */
    const char *model;     /* the task's base model (catalog name) */
    const char *dataset;   /* the task's dataset (catalog name; "" when none) */
    const char *sha256;    /* hex; "" or NULL when unknown */
    const char *sha256_bf16; /* hex, of the weights rounded to bf16; "" or NULL when unknown */
    const char *sha256_f16;  /* hex, of the weights rounded to IEEE half; "" or NULL when unknown */
    const float *sketch;   /* [k] (judge/deltasketch.h); NULL when none */
    int k, block;          /* floats in all, per matrix */
    int fine_tune;         /* provenance verdict was "fine-tune" */
} tn_dup_item;

typedef struct {
    int dup_of;            /* index into items of the earlier submission it duplicates, -1 when none */
    int exact;             /* the duplicate has the same SHA-256 (1), or the same bf16 (2) or f16 (3) one only */
    int origin;            /* index of the submission this one stands for (itself when original) */
    double max_similarity; /* highest delta-cosine estimate over the compared earlier submissions (1 for an exact copy) */
    char evidence[256];    /* the numbers that decided (the duplicate pair, or the most similar one) */
} tn_dup_result;

/* The near-duplicate thresholds (tn_check_rules dup_*). */
typedef struct {
    double max_residual;     /* a = c b (c > 0) up to this relative residual: a rescaled / re-saved copy */
    double max_structure;    /* residual structure / its value for isotropic noise at most this ... */
    double min_significance; /* ... with the deltas aligned by at least this many sigmas: a noised copy */
} tn_dup_rules;

/* Whether later sketch comparison sp (a vs earlier b) says "a copies b";
 * why gets the evidence either way. */
int tn_dup_pair_is_copy(const tn_sketch_pair *sp, const tn_dup_rules *r, char *why, size_t cap);

/* Compares two items' sketches; -1 when either is missing or they do not fit. */
int tn_dup_compare(const tn_dup_item *later, const tn_dup_item *earlier, tn_sketch_pair *out);

/* Fills out[n] (one per item, same order). Items without a fine-tune verdict
 * are never near-duplicates, nor near originals, but can be exact ones. */
void tn_find_duplicates(const tn_dup_item *items, size_t n, const tn_dup_rules *rules, tn_dup_result *out);

#endif
