/* noise.h - noise-aware comparison of a task's submissions (docs/scoring.md,
 * "Noise-aware quality"). Pure functions, no I/O.
 *
 * Every valid submission of a task is evaluated on the same test rows and the
 * same synthetic rows, in the same order; each row gives its mean loss l and
 * the number of tokens t it was scored on. A set's loss is the token-weighted
 * mean sum(l t) / sum(t), and the weighted loss is w = a test + (1 - a) synth.
 *
 * A paired bootstrap over rows gives each w a confidence interval and each
 * difference of two w's one too: resample b draws the test rows and the
 * synthetic rows with replacement (row counts c_b), the same draw for every
 * submission (paired: a row that is hard for all of them moves all their
 * losses together and cancels in the difference), and
 *   w_i(b) = a sum(c l_i t_i)/sum(c t_i) + (1 - a) (the same over synth rows).
 * Intervals are percentile intervals (numpy's default linear quantile) at the
 * given confidence over the B resamples. Two submissions are
 * indistinguishable when |w_i - w_j| <= dead_zone or the interval of
 * w_i(b) - w_j(b) contains 0.
 *
 * Ties (the relation is not transitive, so it needs a rule): sort by w (then
 * by narrower interval, then by the row data itself, so the order never
 * depends on the input order); the first submission leads a group; each next
 * one joins the current group when it is indistinguishable from the group's
 * leader, and leads a new group otherwise. A submission's effective loss is
 * its leader's w. Groups are contiguous in w, so a worse w never gets a
 * better effective loss, and consecutive levels are distinguishable (at
 * least dead_zone apart).
 */
#ifndef TN_NOISE_H
#define TN_NOISE_H

#include <stdint.h>

typedef struct {
    double dead_zone;  /* nats: smaller differences never count (default 0.01) */
    int resamples;     /* bootstrap resamples B (default 1000) */
    double confidence; /* of every interval (default 0.95) */
    uint64_t seed;     /* of the resamples: the same seed gives the same intervals */
} tn_noise_params;

void tn_noise_params_default(tn_noise_params *p);
/* Fails (-1, message) on dead_zone < 0, resamples outside [2, 1000000],
 * confidence outside (0, 1). */
int tn_noise_params_check(const tn_noise_params *p);

/* One valid submission's rows: loss[k] and tokens[k] for each row k of each
 * set (n_test, n_synth rows, the same for every submission). */
typedef struct {
    const double *test_loss, *test_tokens;
    const double *synth_loss, *synth_tokens;
} tn_noise_rows;

typedef struct {
    double w;                /* weighted loss from the rows */
    double lo, hi;           /* its interval */
    int leader;              /* index of the group's leader (itself when it leads) */
    double effective;        /* w of the leader: what the quality is computed from */
    /* interval of w - w_leader; for a leader, of w - w_previous leader (why it
     * leads a group); 0, 0 for the best */
    double diff_lo, diff_hi;
} tn_noise_result;

/* Compares n >= 1 submissions (alpha: the test loss's weight in w). Rows
 * scored on 0 tokens by every submission carry nothing and are skipped; a
 * row with 0 tokens for some submissions only, a negative or non-finite
 * loss or token count, or a set with weight > 0 and no scored row fails
 * with a message naming the submission, set and row; nothing is written
 * then. */
int tn_noise_compare(const tn_noise_params *p, double alpha, const tn_noise_rows *rows, int n, int n_test, int n_synth,
                     tn_noise_result *out);

#endif
