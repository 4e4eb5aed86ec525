/* scoring.h - task scores and rankings (pure functions; docs/scoring.md).
 *
 * Per task, over the n participants (miners) that ACCEPTED the offer:
 *   w_i = a * test_i + (1 - a) * synth_i                      weighted loss
 *   r_i = R ^ (-(w_i - w_min) / (w_max - w_min))   valid       quality in [1/R, 1]
 *   r_i = 1 for every valid i when w_max == w_min              (ties, one valid)
 *   r_i = 0                                        invalid     (late, missing, corrupt,
 *                                                              not a fine-tune, duplicate)
 *   s_i = r_i * n / sum_j r_j                                  mean over the n is exactly 1
 *   s_i = 0 for all i when sum_j r_j == 0                      (nobody valid: nobody earns)
 * Ranking: a miner's value is the product over its accepted tasks of
 * max(s, floor); a rejected offer is not a factor. An owner's value is the
 * same product over every task score of all of its miners. Products are
 * computed as sums of logs so hundreds of tasks neither overflow nor underflow.
 * Work weighting (the organiser's option): each factor is raised to its
 * task's weight w_t = max(1, 2 sqrt(hours * billions of parameters)), i.e.
 * the log-sum becomes a weighted log-sum.
 */
#ifndef TN_SCORING_H
#define TN_SCORING_H

/* How tasks count in a ranking: every task alike (the product), or each by
 * the work it asked for (tn_task_work_weight). */
typedef enum { TN_WEIGHT_PRODUCT = 0, TN_WEIGHT_WORK = 1 } tn_score_weighting;

const char *tn_score_weighting_name(tn_score_weighting w);
/* "product" or "work" -> *out; -1 (message names the value) otherwise. */
int tn_score_weighting_parse(const char *name, tn_score_weighting *out);

/* G.O.D's weight of a task: max(1, 2 * sqrt(hours * billions)), hours the
 * task's time limit and billions the base model's parameters / 1e9. NaN
 * when either is negative or not finite. */
double tn_task_work_weight(double hours, double billions);

typedef struct {
    double alpha; /* weight of the test loss in w (default 0.7) */
    double R;     /* best/worst quality ratio among valid submissions (default 4) */
    double floor; /* a task score counts at least this much in a ranking product (default 0.1) */
    tn_score_weighting weighting; /* rankings: TN_WEIGHT_PRODUCT (default) or TN_WEIGHT_WORK */
} tn_score_params;

void tn_score_params_default(tn_score_params *p);
/* Fails (-1, message) on alpha outside [0,1], R < 1, floor outside (0,1]. */
int tn_score_params_check(const tn_score_params *p);

/* One accepted participant of a task. Losses of invalid entries are ignored. */
typedef struct {
    int valid;
    double test_loss, synth_loss;
} tn_task_entry;

double tn_weighted_loss(const tn_score_params *p, double test_loss, double synth_loss);

/* Scores one task's n entries. w, r (may be NULL) and s receive n values each
 * (w is NaN for invalid entries). Fails on bad params, n < 0 or a valid entry
 * with a non-finite loss. n == 0 is fine (nothing to write). */
int tn_score_task(const tn_score_params *p, const tn_task_entry *e, int n, double *w, double *r, double *s);

/* The same r and s from one given loss per valid entry (loss[i] in place of
 * w_i; loss of invalid entries is not read): the noise-aware rule
 * (judge/noise.h) passes each submission's effective loss. */
int tn_score_losses(const tn_score_params *p, const tn_task_entry *e, const double *loss, int n, double *r,
                    double *s);

/* One offer of one task to one miner, after scoring. */
typedef enum { TN_SCORE_ACCEPTED = 0, TN_SCORE_REJECTED = 1 } tn_score_offer;

typedef struct {
    const char *miner; /* miner id (hotkey, name) */
    const char *owner; /* participant owning the miner */
    tn_score_offer status;
    int valid;         /* accepted offers: the submission passed the checks */
    double score;      /* accepted offers: the task score s */
    double weight;     /* the task's work weight (>= 1); read only under TN_WEIGHT_WORK */
} tn_score_record;

typedef struct {
    const char *id;     /* borrowed from the records */
    int rank;           /* 1 = best; 0 = unranked (no accepted task) */
    double product;     /* product of max(s, floor) over the scored tasks (1 when none) */
    double log_product; /* its natural log: what is sorted, exact for long histories */
    double work;        /* sum of the accepted tasks' exponents (their count under the product rule) */
    int offers, accepted, rejected, valid, invalid;
} tn_rank_row;

typedef enum { TN_RANK_MINER = 0, TN_RANK_OWNER = 1 } tn_rank_by;

/* Groups records by miner or owner and ranks the groups: higher log_product
 * (sum over accepted records of e * log max(s, floor), e = 1, or the record's
 * weight under TN_WEIGHT_WORK, which must then be finite and >= 1)
 * first, then more accepted tasks, then id; groups without an accepted task
 * come last, unranked. *rows is a heap array of *nrows rows (free() it). */
int tn_rank(const tn_score_params *p, const tn_score_record *rec, int n, tn_rank_by by, tn_rank_row **rows,
            int *nrows);

#endif
