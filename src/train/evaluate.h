/* evaluate.h - mean loss of a model over a tokenized set (tuna eval, validation).
 *
 * The loss is the mean cross-entropy over every scored target of the set
 * (token-weighted, not a mean of per-row means), which is what a validator
 * must compare across submissions: rows of different lengths count by their
 * tokens. With a dump file, one JSON line per evaluated row holds exactly the
 * ids and labels the loss was computed on (labels aligned with ids, -100 on
 * masked positions), so anyone can recompute it with another implementation.
 */
#ifndef TN_EVALUATE_H
#define TN_EVALUATE_H

#include "model/model.h"
#include "train/examples.h"

#include <stdio.h>

typedef struct {
    double loss;       /* mean over scored targets */
    int64_t tokens;    /* scored targets */
    size_t rows;
    double seconds;
} tn_eval_result;

/* Each evaluated row's own share, in evaluation order (the caller sizes both
 * arrays to the rows evaluated): loss[i] is the mean over row i's scored
 * targets (0 when it has none), tokens[i] their count. What the validator
 * needs for paired per-row comparisons: sum(loss[i] * tokens[i]) /
 * sum(tokens[i]) is the set's loss. */
typedef struct {
    double *loss;
    int64_t *tokens;
} tn_eval_rows;

/* Evaluates examples idx[0..n) (all of them when idx is NULL) in batches of
 * `batch` rows padded to at most max_T; rows (may be NULL) receives each
 * row's loss. */
int tn_evaluate(tn_model *m, const tn_examples *ex, const size_t *idx, size_t n, int batch, int max_T,
                int32_t pad_id, FILE *dump, tn_eval_rows *rows, tn_eval_result *out);

#endif
