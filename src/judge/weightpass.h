/* weightpass.h - one pass over a base and a submission (and optionally a
 * third model), tensor by tensor, that yields everything the anti-cheat
 * rules read from the weights (provenance.h): the per-tensor provenance,
 * the untouched and re-saved-base tests, the SHA-256 fingerprints and the
 * delta sketch, and the exact delta cosine with the third.
 *
 * Every sum runs in the order the whole-arena code ran it (tensors in
 * parameter order, elements in order, each tensor's and the global sums in
 * double, each sketch block by one thread), so the numbers are bit for bit
 * those of the in-memory rules whatever the source: several kinds of work
 * on the same tensor pair run side by side instead. Peak memory: one tensor
 * of each model (judge/wstream.h) plus the sketch. */
#ifndef TN_WEIGHTPASS_H
#define TN_WEIGHTPASS_H

#include "judge/provenance.h"
#include "judge/wstream.h"

typedef struct {
    tn_provenance prov;    /* with a base */
    tn_fingerprint fp;     /* the submission's hashes; with a base, the rounding flags and the sketch */
    int base16;            /* the submission is the base rounded to bf16 (16) or f16 (1), the base not
                              already in that type (provenance.c's rule); 0 otherwise */
    double delta_cosine;   /* with other: cos(sub - base, other - base) (0 when either delta is 0) */
} tn_weight_pass;

/* base NULL: only the submission's hashes (fp.rounded = both). Otherwise base,
 * sub and other (or NULL) have the same layout (the caller checks) and the
 * sketch has block floats per matrix (a positive multiple of 64). Fails on a
 * source's read error (non-finite weights) or memory. */
int tn_weight_pass_run(tn_wsrc *base, tn_wsrc *sub, tn_wsrc *other, int block, uint64_t seed,
                       tn_weight_pass *out);

#endif
