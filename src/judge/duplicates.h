/* duplicates.h - which earlier submission, if any, each submission duplicates
 * (the validator's duplicate rule; docs/anticheat.md, "Duplicates").
 *
 * Pure: it sees only what the validator stored per submission (uploader,
 * task, upload time, content hash, delta sketch, provenance verdict) and
 * never touches the store, so the rule is tested on its own.
 *
 * Submissions are taken in upload order (received_at, then id); only an
 * earlier upload can be the original. A submission duplicates an earlier one
 *   - exactly: same SHA-256 of the weights, whoever uploaded it and for
 *     whatever task (the same miner's other task included); or
 *   - nearly: both passed provenance as fine-tunes of the same base and the
 *     cosine of their delta sketches is at least the threshold.
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

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t id, miner_id, task_id;
    int64_t received_at;   /* upload time; ties broken by id */
    const char *model;     /* the task's base model (catalog name) */
    const char *dataset;   /* the task's dataset (catalog name; "" when none) */
    const char *sha256;    /* hex; "" or NULL when unknown */
    const float *sketch;   /* [k]; NULL when none */
    int k;
    int fine_tune;         /* provenance verdict was "fine-tune" */
} tn_dup_item;

typedef struct {
    int dup_of;            /* index into items of the earlier submission it duplicates, -1 when none */
    int exact;             /* the duplicate has the same SHA-256 */
    int origin;            /* index of the submission this one stands for (itself when original) */
    double max_similarity; /* highest sketch cosine over the compared earlier submissions (1 for an exact copy) */
} tn_dup_result;

/* Cosine of two sketches; 0 when either is missing or zero, or k differs. */
double tn_dup_sketch_cos(const tn_dup_item *a, const tn_dup_item *b);

/* Fills out[n] (one per item, same order). threshold: the near-duplicate
 * sketch cosine (rules.dup_similarity). Items without a fine-tune verdict
 * are never near-duplicates, nor near originals, but can be exact ones. */
void tn_find_duplicates(const tn_dup_item *items, size_t n, double threshold, tn_dup_result *out);

#endif
