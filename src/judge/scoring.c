/* scoring.c - task scores and rankings; formulas in scoring.h and docs/scoring.md. */
#include "judge/scoring.h"

#include "base/err.h"
#include "base/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void tn_score_params_default(tn_score_params *p) {
    p->alpha = 0.7;
    p->R = 4.0;
    p->floor = 0.1;
    p->weighting = TN_WEIGHT_PRODUCT;
}

static const char *const WEIGHTINGS[] = {"product", "work"};

const char *tn_score_weighting_name(tn_score_weighting w) {
    return (int)w >= 0 && (int)w <= TN_WEIGHT_WORK ? WEIGHTINGS[(int)w] : "?";
}

int tn_score_weighting_parse(const char *name, tn_score_weighting *out) {
    for (int i = 0; i <= TN_WEIGHT_WORK; i++)
        if (name && !strcmp(name, WEIGHTINGS[i])) {
            *out = (tn_score_weighting)i;
            return 0;
        }
    return tn_fail("scoring: weighting '%s' is neither 'product' nor 'work'", name ? name : "(none)");
}

double tn_task_work_weight(double hours, double billions) {
    if (!(hours >= 0 && billions >= 0 && isfinite(hours) && isfinite(billions))) return NAN;
    double w = 2 * sqrt(hours * billions);
    return w > 1 ? w : 1;
}

int tn_score_params_check(const tn_score_params *p) {
    if (!(p->alpha >= 0 && p->alpha <= 1)) return tn_fail("scoring: alpha = %g must be in [0, 1]", p->alpha);
    if (!(p->R >= 1 && isfinite(p->R))) return tn_fail("scoring: R = %g must be >= 1", p->R);
    if (!(p->floor > 0 && p->floor <= 1))
        return tn_fail("scoring: floor = %g must be in (0, 1] (0 would let one failure zero a product)", p->floor);
    if (p->weighting != TN_WEIGHT_PRODUCT && p->weighting != TN_WEIGHT_WORK)
        return tn_fail("scoring: unknown weighting %d", (int)p->weighting);
    return 0;
}

double tn_weighted_loss(const tn_score_params *p, double test_loss, double synth_loss) {
    return p->alpha * test_loss + (1 - p->alpha) * synth_loss;
}

int tn_score_losses(const tn_score_params *p, const tn_task_entry *e, const double *loss, int n, double *r,
                    double *s) {
    if (tn_score_params_check(p)) return -1;
    if (n < 0) return tn_fail("scoring: negative entry count %d", n);
    double lmin = INFINITY, lmax = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!e[i].valid) continue;
        if (!isfinite(loss[i])) return tn_fail("scoring: entry %d is valid but its loss %g is not finite", i, loss[i]);
        if (loss[i] < lmin) lmin = loss[i];
        if (loss[i] > lmax) lmax = loss[i];
    }
    /* r first into s (the caller's r may be NULL), then normalise in place. */
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double ri = 0;
        /* Equal losses (one valid entry, or a tie of all) leave no spread to
         * rank by: everyone valid gets the best quality. */
        if (e[i].valid) ri = lmax > lmin ? pow(p->R, -(loss[i] - lmin) / (lmax - lmin)) : 1.0;
        if (r) r[i] = ri;
        s[i] = ri;
        sum += ri;
    }
    for (int i = 0; i < n; i++) s[i] = sum > 0 ? s[i] * n / sum : 0.0;
    return 0;
}

int tn_score_task(const tn_score_params *p, const tn_task_entry *e, int n, double *w, double *r, double *s) {
    if (tn_score_params_check(p)) return -1;
    if (n < 0) return tn_fail("scoring: negative entry count %d", n);
    double *wl = tn_calloc((size_t)n + 1, sizeof *wl);
    for (int i = 0; i < n; i++) {
        wl[i] = e[i].valid ? tn_weighted_loss(p, e[i].test_loss, e[i].synth_loss) : NAN;
        if (e[i].valid && !isfinite(wl[i])) {
            free(wl);
            return tn_fail("scoring: entry %d is valid but its losses (test %g, synth %g) are not finite", i,
                           e[i].test_loss, e[i].synth_loss);
        }
    }
    int rc = tn_score_losses(p, e, wl, n, r, s);
    if (rc == 0 && w) memcpy(w, wl, sizeof *w * (size_t)n);
    free(wl);
    return rc;
}

/* ---- ranking ------------------------------------------------------------ */

static int cmp_rows(const void *pa, const void *pb) {
    const tn_rank_row *a = pa, *b = pb;
    int ra = a->accepted > 0, rb = b->accepted > 0;
    if (ra != rb) return rb - ra; /* ranked groups first */
    if (a->log_product != b->log_product) return a->log_product > b->log_product ? -1 : 1;
    if (a->accepted != b->accepted) return b->accepted - a->accepted;
    return strcmp(a->id, b->id);
}

int tn_rank(const tn_score_params *p, const tn_score_record *rec, int n, tn_rank_by by, tn_rank_row **rows,
            int *nrows) {
    *rows = NULL;
    *nrows = 0;
    if (tn_score_params_check(p)) return -1;
    if (n < 0) return tn_fail("ranking: negative record count %d", n);
    tn_rank_row *out = tn_calloc((size_t)n + 1, sizeof *out);
    int m = 0;
    for (int i = 0; i < n; i++) {
        const char *id = by == TN_RANK_OWNER ? rec[i].owner : rec[i].miner;
        if (!id) {
            free(out);
            return tn_fail("ranking: record %d has no %s", i, by == TN_RANK_OWNER ? "owner" : "miner");
        }
        if (rec[i].status == TN_SCORE_ACCEPTED && !isfinite(rec[i].score)) {
            free(out);
            return tn_fail("ranking: record %d (%s) has a non-finite score", i, id);
        }
        /* the exponent of this record's factor: a weight below 1 would make
         * a task count less than under the product rule (and 0 would drop it) */
        double e = 1;
        if (p->weighting == TN_WEIGHT_WORK && rec[i].status == TN_SCORE_ACCEPTED) {
            e = rec[i].weight;
            if (!(e >= 1 && isfinite(e))) {
                free(out);
                return tn_fail("ranking: record %d (%s) has work weight %g (must be finite and >= 1)", i, id, e);
            }
        }
        /* Linear search: a competition has at most a few hundred miners and
         * this runs once per leaderboard refresh. */
        int g = 0;
        while (g < m && strcmp(out[g].id, id) != 0) g++;
        if (g == m) out[m++].id = id;
        tn_rank_row *row = &out[g];
        row->offers++;
        if (rec[i].status != TN_SCORE_ACCEPTED) {
            row->rejected++; /* a rejected offer costs nothing: no factor */
            continue;
        }
        row->accepted++;
        if (rec[i].valid)
            row->valid++;
        else
            row->invalid++;
        double s = rec[i].score > p->floor ? rec[i].score : p->floor;
        row->log_product += e * log(s);
        row->work += e;
    }
    for (int g = 0; g < m; g++) out[g].product = exp(out[g].log_product);
    qsort(out, (size_t)m, sizeof *out, cmp_rows);
    for (int g = 0; g < m; g++) out[g].rank = out[g].accepted > 0 ? g + 1 : 0;
    *rows = out;
    *nrows = m;
    return 0;
}
