/* noise.c - paired bootstrap intervals and ties within noise; see noise.h and
 * docs/scoring.md. tools/bootstrap_ref.py is an independent implementation
 * (numpy, the same xoshiro256** draws) that tests/test_noise.c checks this
 * one against. */
#include "judge/noise.h"

#include "base/err.h"
#include "base/mem.h"
#include "base/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void tn_noise_params_default(tn_noise_params *p) {
    p->dead_zone = 0.01;
    p->resamples = 1000;
    p->confidence = 0.95;
    p->seed = 0;
}

int tn_noise_params_check(const tn_noise_params *p) {
    if (!(p->dead_zone >= 0 && isfinite(p->dead_zone)))
        return tn_fail("scoring: dead zone = %g nats must be finite and >= 0", p->dead_zone);
    if (p->resamples < 2 || p->resamples > 1000000)
        return tn_fail("scoring: bootstrap resamples = %d must be in [2, 1000000]", p->resamples);
    if (!(p->confidence > 0 && p->confidence < 1))
        return tn_fail("scoring: confidence = %g must be in (0, 1)", p->confidence);
    return 0;
}

/* One set (test or synth) of the n submissions: the rows that carry tokens. */
typedef struct {
    const char *name;
    double weight; /* a or 1 - a */
    int *keep;     /* indices of the scored rows */
    int nkeep;
    int *count; /* a resample's draws of each kept row */
} row_set;

static const double *set_loss(const tn_noise_rows *r, int synth) { return synth ? r->synth_loss : r->test_loss; }
static const double *set_tokens(const tn_noise_rows *r, int synth) { return synth ? r->synth_tokens : r->test_tokens; }

/* Checks the set's rows and keeps those scored on tokens by every
 * submission (a row none of them scored carries nothing). */
static int prepare_set(row_set *s, const tn_noise_rows *rows, int n, int nr, int synth) {
    s->keep = tn_calloc((size_t)nr + 1, sizeof *s->keep);
    s->count = tn_calloc((size_t)nr + 1, sizeof *s->count);
    s->nkeep = 0;
    if (nr > 0)
        for (int i = 0; i < n; i++)
            if (!set_loss(&rows[i], synth) || !set_tokens(&rows[i], synth))
                return tn_fail("scoring: submission %d has no %s rows", i, s->name);
    for (int k = 0; k < nr; k++) {
        int scored = -1; /* a submission that scored row k on tokens */
        for (int i = 0; i < n; i++) {
            double t = set_tokens(&rows[i], synth)[k], l = set_loss(&rows[i], synth)[k];
            if (!(isfinite(t) && t >= 0))
                return tn_fail("scoring: submission %d, %s row %d: token count %g is not a finite count >= 0", i,
                               s->name, k, t);
            /* a row scored on no token has no loss (0/0): its value is not read */
            if (t > 0 && !(isfinite(l) && l >= 0))
                return tn_fail("scoring: submission %d, %s row %d: loss %g is not finite and >= 0", i, s->name, k, l);
            if (t > 0 && scored < 0) scored = i;
        }
        if (scored < 0) continue;
        for (int i = 0; i < n; i++)
            if (!(set_tokens(&rows[i], synth)[k] > 0))
                return tn_fail("scoring: %s row %d: submission %d scored 0 tokens where submission %d scored %g: "
                               "not the same rows",
                               s->name, k, i, scored, set_tokens(&rows[scored], synth)[k]);
        s->keep[s->nkeep++] = k;
    }
    if (s->weight > 0 && s->nkeep == 0) return tn_fail("scoring: no %s row was scored on any token", s->name);
    return 0;
}

/* Draws one resample of the set's kept rows into s->count. */
static void draw(row_set *s, tn_rng *rng) {
    memset(s->count, 0, sizeof *s->count * (size_t)s->nkeep);
    for (int k = 0; k < s->nkeep; k++) s->count[tn_rng_below(rng, (uint64_t)s->nkeep)]++;
}

/* Token-weighted mean loss of submission r over the set's kept rows, each
 * counted count[k] times (all 1 when count is NULL). */
static double set_mean(const row_set *s, const tn_noise_rows *r, int synth, const int *count) {
    const double *l = set_loss(r, synth), *t = set_tokens(r, synth);
    double num = 0, den = 0;
    for (int k = 0; k < s->nkeep; k++) {
        double c = count ? count[k] : 1;
        if (c == 0) continue;
        int row = s->keep[k];
        num += c * l[row] * t[row];
        den += c * t[row];
    }
    return den > 0 ? num / den : 0; /* den == 0 only for an unweighted, empty set */
}

static double weighted(const row_set *set, const tn_noise_rows *r, int use_counts) {
    double w = 0;
    for (int synth = 0; synth < 2; synth++)
        if (set[synth].weight > 0)
            w += set[synth].weight * set_mean(&set[synth], r, synth, use_counts ? set[synth].count : NULL);
    return w;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* numpy.quantile's default ("linear") of sorted x[0..m) at q. */
static double quantile(const double *x, int m, double q) {
    double h = (m - 1) * q;
    int lo = (int)floor(h);
    if (lo >= m - 1) return x[m - 1];
    return x[lo] + (h - lo) * (x[lo + 1] - x[lo]);
}

/* Percentile interval of col(b) = W[b n + i] - (j >= 0 ? W[b n + j] : 0). */
static void interval(const tn_noise_params *p, const double *W, int n, int i, int j, double *tmp, double *lo,
                     double *hi) {
    int B = p->resamples;
    for (int b = 0; b < B; b++) tmp[b] = W[(size_t)b * n + i] - (j >= 0 ? W[(size_t)b * n + j] : 0);
    qsort(tmp, (size_t)B, sizeof *tmp, cmp_double);
    *lo = quantile(tmp, B, (1 - p->confidence) / 2);
    *hi = quantile(tmp, B, (1 + p->confidence) / 2);
}

/* The sorting order of the tie rule: w, then the narrower interval, then the
 * rows themselves (so that only identical data can compare equal, and
 * identical data is indistinguishable either way), then the index. */
typedef struct {
    const tn_noise_rows *rows;
    const tn_noise_result *res;
    const row_set *set;
} order_ctx;

static int cmp_rows(const order_ctx *c, int a, int b) {
    const tn_noise_result *x = &c->res[a], *y = &c->res[b];
    if (x->w != y->w) return x->w < y->w ? -1 : 1;
    double wx = x->hi - x->lo, wy = y->hi - y->lo;
    if (wx != wy) return wx < wy ? -1 : 1;
    for (int synth = 0; synth < 2; synth++)
        for (int tok = 0; tok < 2; tok++) {
            const row_set *s = &c->set[synth];
            const double *u = tok ? set_tokens(&c->rows[a], synth) : set_loss(&c->rows[a], synth);
            const double *v = tok ? set_tokens(&c->rows[b], synth) : set_loss(&c->rows[b], synth);
            for (int k = 0; k < s->nkeep; k++)
                if (u[s->keep[k]] != v[s->keep[k]]) return u[s->keep[k]] < v[s->keep[k]] ? -1 : 1;
        }
    return (a > b) - (a < b);
}

int tn_noise_compare(const tn_noise_params *p, double alpha, const tn_noise_rows *rows, int n, int n_test, int n_synth,
                     tn_noise_result *out) {
    if (tn_noise_params_check(p)) return -1;
    if (!(alpha >= 0 && alpha <= 1)) return tn_fail("scoring: alpha = %g must be in [0, 1]", alpha);
    if (n < 1) return tn_fail("scoring: %d submissions to compare (need at least 1)", n);
    if (n_test < 0 || n_synth < 0) return tn_fail("scoring: negative row count (test %d, synth %d)", n_test, n_synth);
    row_set set[2] = {{.name = "test", .weight = alpha}, {.name = "synthetic", .weight = 1 - alpha}};
    int B = p->resamples, rc = -1;
    double *W = NULL, *tmp = NULL;
    int *order = NULL;
    tn_noise_result *res = NULL;
    if (prepare_set(&set[0], rows, n, n_test, 0) || prepare_set(&set[1], rows, n, n_synth, 1)) goto out;

    /* B resamples, one draw of rows shared by every submission (paired) */
    W = tn_malloc(sizeof *W * (size_t)B * (size_t)n);
    tn_rng rng;
    tn_rng_seed(&rng, p->seed);
    for (int b = 0; b < B; b++) {
        draw(&set[0], &rng);
        draw(&set[1], &rng);
        for (int i = 0; i < n; i++) W[(size_t)b * n + i] = weighted(set, &rows[i], 1);
    }
    tmp = tn_malloc(sizeof *tmp * (size_t)B);
    res = tn_calloc((size_t)n, sizeof *res);
    for (int i = 0; i < n; i++) {
        res[i].w = weighted(set, &rows[i], 0);
        interval(p, W, n, i, -1, tmp, &res[i].lo, &res[i].hi);
    }

    /* the tie rule: insertion sort (n is a task's miners, tens), then one sweep */
    order_ctx ctx = {rows, res, set};
    order = tn_malloc(sizeof *order * (size_t)n);
    for (int i = 0; i < n; i++) {
        int k = i;
        while (k > 0 && cmp_rows(&ctx, order[k - 1], i) > 0) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = i;
    }
    int leader = order[0];
    for (int q = 0; q < n; q++) {
        int i = order[q];
        tn_noise_result *e = &res[i];
        int joins = 0;
        if (i != leader) {
            interval(p, W, n, i, leader, tmp, &e->diff_lo, &e->diff_hi);
            double d = e->w - res[leader].w;
            joins = fabs(d) <= p->dead_zone || (e->diff_lo <= 0 && e->diff_hi >= 0);
        }
        if (!joins) leader = i; /* keeps its interval against the previous leader: why it leads */
        e->leader = leader;
        e->effective = res[leader].w;
    }
    memcpy(out, res, sizeof *res * (size_t)n);
    rc = 0;
out:
    for (int s = 0; s < 2; s++) {
        free(set[s].keep);
        free(set[s].count);
    }
    free(W);
    free(tmp);
    free(order);
    free(res);
    return rc;
}
