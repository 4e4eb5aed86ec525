/* test_noise.c - noise-aware scores (judge/noise.h, docs/scoring.md): ties
 * within noise and the dead zone, clear gaps keep the R ratio, pairing,
 * means of exactly 1, determinism, degenerate and bad input, and the
 * intervals against tools/bootstrap_ref.py (numpy, the same draws). */
#include "judge/noise.h"
#include "judge/scoring.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "base/rng.h"
#include "harness.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- synthetic tasks: rows shared by every submission ---- */

#define MAXN 8
#define MAXR 400

typedef struct {
    int n, nt, ns;
    double tl[MAXN][MAXR], tt[MAXN][MAXR], sl[MAXN][MAXR], st[MAXN][MAXR];
    tn_noise_rows rows[MAXN];
} task;

/* A rough standard normal (sum of 12 uniforms - 6): input data only. */
static double gauss(tn_rng *r) {
    double x = -6;
    for (int i = 0; i < 12; i++) x += tn_rng_uniform(r);
    return x;
}

/* Row k's loss for submission i: difficulty d_k (uniform in [lo, lo +
 * spread], shared: some rows are hard for everyone) + offset[i] + sigma *
 * noise (each submission's own row-level noise); tokens 20..119 per row. */
static void make_task(task *t, int n, int nt, int ns, const double *offset, double sigma, double lo, double spread,
                      uint64_t seed) {
    memset(t, 0, sizeof *t);
    t->n = n;
    t->nt = nt;
    t->ns = ns;
    tn_rng r;
    tn_rng_seed(&r, seed);
    for (int set = 0; set < 2; set++) {
        int nr = set ? ns : nt;
        for (int k = 0; k < nr; k++) {
            double d = lo + spread * tn_rng_uniform(&r), tok = 20 + (double)tn_rng_below(&r, 100);
            for (int i = 0; i < n; i++) {
                double l = d + offset[i] + sigma * gauss(&r);
                if (l < 0) l = 0;
                (set ? t->sl : t->tl)[i][k] = l;
                (set ? t->st : t->tt)[i][k] = tok;
            }
        }
    }
    for (int i = 0; i < n; i++) t->rows[i] = (tn_noise_rows){t->tl[i], t->tt[i], t->sl[i], t->st[i]};
}

static tn_noise_params params(int B, uint64_t seed) {
    tn_noise_params p;
    tn_noise_params_default(&p);
    p.resamples = B;
    p.seed = seed;
    return p;
}

/* Scores of n valid entries from the effective losses (noise rule) and from w (the old rule). */
static void scores(const tn_noise_result *res, int n, double *s_new, double *s_old) {
    tn_score_params sp;
    tn_score_params_default(&sp);
    tn_task_entry e[MAXN];
    double eff[MAXN], w[MAXN];
    for (int i = 0; i < n; i++) {
        e[i] = (tn_task_entry){1, res[i].w, res[i].w};
        eff[i] = res[i].effective;
        w[i] = res[i].w;
    }
    CHECK(tn_score_losses(&sp, e, eff, n, NULL, s_new) == 0);
    CHECK(tn_score_losses(&sp, e, w, n, NULL, s_old) == 0);
}

static task T; /* large: not on the stack */

TEST(a_thousandth_of_a_nat_is_a_tie) {
    double off[2] = {0, 0.001};
    make_task(&T, 2, 200, 100, off, 0.05, 2.5, 2.0, 11);
    tn_noise_params p = params(1000, 7);
    tn_noise_result res[2];
    CHECK(tn_noise_compare(&p, 0.7, T.rows, 2, T.nt, T.ns, res) == 0);
    CHECKF(fabs(res[1].w - res[0].w) < 0.01, "gap %g", res[1].w - res[0].w);
    CHECK(res[0].leader == res[1].leader);
    CHECK(res[0].effective == res[1].effective);
    for (int i = 0; i < 2; i++) CHECK(res[i].lo < res[i].w && res[i].w < res[i].hi);
    double s_new[2], s_old[2];
    scores(res, 2, s_new, s_old);
    CHECK_NEAR(s_new[0], 1, 0, 1e-12);
    CHECK_NEAR(s_new[1], 1, 0, 1e-12);
    /* the old rule: a factor of R = 4 for the same data */
    CHECK_NEAR(s_old[0] / s_old[1], 4, 0, 1e-9);
}

TEST(dead_zone_alone_ties_noiseless_rows) {
    /* no row noise: the paired difference is the same on every resample,
     * so its interval is [d, d]; only the dead zone can tie */
    double off[2] = {0, 0.005};
    make_task(&T, 2, 50, 20, off, 0, 2.5, 2.0, 12);
    tn_noise_params p = params(200, 1);
    tn_noise_result res[2];
    CHECK(tn_noise_compare(&p, 0.7, T.rows, 2, T.nt, T.ns, res) == 0);
    CHECK_NEAR(res[1].diff_lo, 0.005, 0, 1e-9);
    CHECK_NEAR(res[1].diff_hi, 0.005, 0, 1e-9);
    CHECK(res[1].leader == 0 && res[1].effective == res[0].w);
    p.dead_zone = 0.004;
    CHECK(tn_noise_compare(&p, 0.7, T.rows, 2, T.nt, T.ns, res) == 0);
    CHECK(res[1].leader == 1 && res[1].effective == res[1].w);
}

TEST(clear_gap_keeps_the_R_ratio) {
    double off[3] = {0, 0.3, 0.15};
    make_task(&T, 3, 200, 100, off, 0.05, 2.5, 2.0, 13);
    tn_noise_params p = params(1000, 3);
    tn_noise_result res[3];
    CHECK(tn_noise_compare(&p, 0.7, T.rows, 3, T.nt, T.ns, res) == 0);
    for (int i = 0; i < 3; i++) CHECK(res[i].leader == i && res[i].effective == res[i].w);
    CHECK(res[1].hi < res[1].w + 0.2 && res[1].lo > res[1].w - 0.2);
    double s_new[3], s_old[3];
    scores(res, 3, s_new, s_old);
    for (int i = 0; i < 3; i++) CHECK_NEAR(s_new[i], s_old[i], 0, 1e-12); /* nothing tied: the old scores */
    CHECK_NEAR(s_new[0] / s_new[1], 4, 0, 1e-9);
}

TEST(pairing_sees_what_separate_intervals_miss) {
    /* rows differ a lot in difficulty (2..8 nats) and little between the
     * two submissions: the intervals of each loss overlap, the interval of
     * the paired difference is far from 0 */
    double off[2] = {0, 0.05};
    make_task(&T, 2, 60, 30, off, 0.02, 2.0, 6.0, 14);
    tn_noise_params p = params(1000, 5);
    tn_noise_result res[2];
    CHECK(tn_noise_compare(&p, 0.7, T.rows, 2, T.nt, T.ns, res) == 0);
    CHECKF(res[1].lo < res[0].hi, "intervals [%g, %g] and [%g, %g] should overlap", res[0].lo, res[0].hi, res[1].lo,
           res[1].hi);
    CHECK(res[1].leader == 1);
    /* its interval against the better one, which it does not join, is above 0 */
    CHECKF(res[1].diff_lo > 0, "difference interval [%g, %g]", res[1].diff_lo, res[1].diff_hi);
    CHECK(res[0].diff_lo == 0 && res[0].diff_hi == 0); /* the best: nothing to compare to */
    /* unpaired, the same data would tie: resampling each submission's rows
     * independently is what separate intervals amount to, and they overlap */
    CHECK(res[0].w < res[1].w && res[1].w - res[0].w > p.dead_zone);
}

TEST(mean_is_exactly_one) {
    tn_rng r;
    tn_rng_seed(&r, 99);
    for (int trial = 0; trial < 20; trial++) {
        int n = 2 + (int)tn_rng_below(&r, 7);
        double off[MAXN];
        for (int i = 0; i < n; i++) off[i] = 0.02 * (double)tn_rng_below(&r, 10);
        make_task(&T, n, 40, 20, off, 0.05, 2.5, 2.0, 100 + (uint64_t)trial);
        tn_noise_params p = params(200, (uint64_t)trial);
        tn_noise_result res[MAXN];
        CHECK(tn_noise_compare(&p, 0.7, T.rows, n, T.nt, T.ns, res) == 0);
        /* entry 0 invalid: its loss is not read; the valid ones use effective */
        tn_score_params sp;
        tn_score_params_default(&sp);
        tn_task_entry e[MAXN];
        double eff[MAXN], s[MAXN], sum = 0;
        for (int i = 0; i < n; i++) {
            e[i] = (tn_task_entry){i != 0, 0, 0};
            eff[i] = i ? res[i].effective : NAN;
        }
        CHECK(tn_score_losses(&sp, e, eff, n, NULL, s) == 0);
        for (int i = 0; i < n; i++) sum += s[i];
        CHECK_NEAR(sum / n, 1, 0, 1e-12);
        CHECK(s[0] == 0);
        /* monotone: a lower w never scores less */
        for (int i = 1; i < n; i++)
            for (int j = 1; j < n; j++)
                if (res[i].w < res[j].w) CHECK(s[i] >= s[j]);
        /* consecutive levels are at least the dead zone apart */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (res[i].effective != res[j].effective) CHECK(fabs(res[i].effective - res[j].effective) > p.dead_zone);
    }
}

TEST(deterministic_and_order_independent) {
    double off[4] = {0, 0.004, 0.03, 0.2};
    make_task(&T, 4, 80, 40, off, 0.08, 2.5, 2.0, 15);
    tn_noise_params p = params(500, 42);
    tn_noise_result a[4], b[4], c[4];
    CHECK(tn_noise_compare(&p, 0.7, T.rows, 4, T.nt, T.ns, a) == 0);
    CHECK(tn_noise_compare(&p, 0.7, T.rows, 4, T.nt, T.ns, b) == 0);
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* the same submissions in reverse order: the same numbers for each */
    tn_noise_rows rev[4];
    for (int i = 0; i < 4; i++) rev[i] = T.rows[3 - i];
    CHECK(tn_noise_compare(&p, 0.7, rev, 4, T.nt, T.ns, c) == 0);
    for (int i = 0; i < 4; i++) {
        CHECK(c[3 - i].w == a[i].w && c[3 - i].lo == a[i].lo && c[3 - i].hi == a[i].hi);
        CHECK(c[3 - i].effective == a[i].effective);
        CHECK(c[3 - i].leader == 3 - a[i].leader);
    }
    /* another seed: other intervals, the same point estimates */
    p.seed = 43;
    CHECK(tn_noise_compare(&p, 0.7, T.rows, 4, T.nt, T.ns, b) == 0);
    CHECK(b[0].w == a[0].w && b[0].lo != a[0].lo);
}

TEST(degenerate_inputs) {
    double off[2] = {0, 0.2};
    tn_noise_params p = params(100, 1);
    tn_noise_result res[2], res2[2];
    /* one row per set: no noise to estimate, the interval is the point */
    make_task(&T, 2, 1, 1, off, 0.05, 2.5, 2.0, 16);
    CHECK(tn_noise_compare(&p, 0.7, T.rows, 2, 1, 1, res) == 0);
    CHECK(res[0].lo == res[0].hi && fabs(res[0].lo - res[0].w) < 1e-12);
    /* one submission: its own leader */
    make_task(&T, 2, 30, 10, off, 0.05, 2.5, 2.0, 17);
    CHECK(tn_noise_compare(&p, 0.7, T.rows, 1, T.nt, T.ns, res) == 0);
    CHECK(res[0].leader == 0 && res[0].effective == res[0].w && res[0].lo < res[0].hi);
    /* rows scored on no token (loss 0/0) change nothing at all */
    CHECK(tn_noise_compare(&p, 0.7, T.rows, 2, T.nt, T.ns, res) == 0);
    for (int i = 0; i < 2; i++) {
        T.tl[i][30] = NAN, T.tt[i][30] = 0;
        T.sl[i][10] = NAN, T.st[i][10] = 0;
    }
    CHECK(tn_noise_compare(&p, 0.7, T.rows, 2, T.nt + 1, T.ns + 1, res2) == 0);
    CHECK(memcmp(res, res2, sizeof res) == 0);
    /* a set with weight 0 may be empty */
    CHECK(tn_noise_compare(&p, 1.0, T.rows, 2, T.nt, 0, res) == 0);
    CHECK_ERR(tn_noise_compare(&p, 0.7, T.rows, 2, T.nt, 0, res), "no synthetic row");
    /* bad data: named by submission, set and row */
    T.tl[1][3] = NAN;
    CHECK_ERR(tn_noise_compare(&p, 0.7, T.rows, 2, T.nt, T.ns, res), "submission 1, test row 3: loss nan");
    T.tl[1][3] = 2.0;
    T.st[0][4] = 0;
    CHECK_ERR(tn_noise_compare(&p, 0.7, T.rows, 2, T.nt, T.ns, res), "synthetic row 4: submission 0 scored 0 tokens");
    T.st[0][4] = -1;
    CHECK_ERR(tn_noise_compare(&p, 0.7, T.rows, 2, T.nt, T.ns, res), "token count -1");
    T.st[0][4] = 50;
    CHECK_ERR(tn_noise_compare(&p, 0.7, T.rows, 0, T.nt, T.ns, res), "0 submissions");
    p.resamples = 1;
    CHECK_ERR(tn_noise_compare(&p, 0.7, T.rows, 2, T.nt, T.ns, res), "resamples = 1");
    p = params(100, 1);
    p.confidence = 1;
    CHECK_ERR(tn_noise_compare(&p, 0.7, T.rows, 2, T.nt, T.ns, res), "confidence = 1");
    p = params(100, 1);
    p.dead_zone = NAN;
    CHECK_ERR(tn_noise_compare(&p, 0.7, T.rows, 2, T.nt, T.ns, res), "dead zone");
    CHECK_ERR(tn_noise_compare(&p, 0.7, T.rows, 2, T.nt, T.ns, res), "dead zone");
    /* the scoring side refuses a non-finite effective loss */
    tn_score_params sp;
    tn_score_params_default(&sp);
    tn_task_entry e[1] = {{1, 0, 0}};
    double l = NAN, s;
    CHECK_ERR(tn_score_losses(&sp, e, &l, 1, NULL, &s), "entry 0 is valid but its loss nan");
}

/* ---- the independent implementation ---- */

static json_t *darr(const double *x, int n) {
    json_t *a = json_array();
    for (int k = 0; k < n; k++) json_array_append_new(a, isfinite(x[k]) ? json_real(x[k]) : json_null());
    return a;
}

/* tools/bootstrap_ref.py on task t; NULL with *skip when it cannot run. */
static json_t *reference(const task *t, const tn_noise_params *p, double alpha, const char **skip) {
    *skip = NULL;
    if (access("/usr/bin/python3", X_OK) != 0) return *skip = "/usr/bin/python3 not found", NULL;
    if (!tn_file_exists("tools/bootstrap_ref.py")) return *skip = "tools/bootstrap_ref.py not found (run from the repository root)", NULL;
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) return *skip = "numpy missing for /usr/bin/python3", NULL;
    json_t *subs = json_array();
    for (int i = 0; i < t->n; i++)
        json_array_append_new(subs, json_pack("{s:o, s:o, s:o, s:o}", "test_row_loss", darr(t->tl[i], t->nt),
                                              "test_row_tokens", darr(t->tt[i], t->nt), "synth_row_loss",
                                              darr(t->sl[i], t->ns), "synth_row_tokens", darr(t->st[i], t->ns)));
    json_t *in = json_pack("{s:f, s:f, s:i, s:f, s:I, s:o}", "alpha", alpha, "dead_zone", p->dead_zone, "resamples",
                           p->resamples, "confidence", p->confidence, "seed", (json_int_t)p->seed, "subs", subs);
    char *path = tn_sprintf("%s/noise_ref.json", tn_t_tmpdir());
    int wrc = json_dump_file(in, path, JSON_REAL_PRECISION(17));
    json_decref(in);
    json_t *out = NULL;
    if (wrc == 0) {
        char *cmd = tn_sprintf("/usr/bin/python3 tools/bootstrap_ref.py '%s'", path);
        FILE *pp = popen(cmd, "r");
        free(cmd);
        if (pp) {
            out = json_loadf(pp, 0, NULL);
            if (pclose(pp) != 0) {
                json_decref(out);
                out = NULL;
            }
        }
    }
    free(path);
    return out;
}

TEST(intervals_match_numpy_reference) {
    /* ties by the dead zone (1), by the interval (2: noisy), a clear gap (3),
     * a tie with the second group (4) */
    double off[5] = {0, 0.004, 0.02, 0.3, 0.302};
    make_task(&T, 5, 60, 30, off, 0.01, 2.5, 2.0, 18);
    /* submission 2: row noise of 0.4 nats on the test rows, token-weighted
     * mean exactly 0 (its w stays 0.02 above submission 0's) */
    tn_rng nr;
    tn_rng_seed(&nr, 5);
    double noise[MAXR], num = 0, den = 0;
    for (int k = 0; k < T.nt; k++) {
        noise[k] = 0.4 * gauss(&nr);
        num += noise[k] * T.tt[2][k];
        den += T.tt[2][k];
    }
    for (int k = 0; k < T.nt; k++) T.tl[2][k] += noise[k] - num / den;
    T.tt[0][7] = T.tt[1][7] = T.tt[2][7] = T.tt[3][7] = T.tt[4][7] = 0; /* a row nobody scored */
    tn_noise_params p = params(400, 2026);
    tn_noise_result res[5];
    CHECK(tn_noise_compare(&p, 0.7, T.rows, 5, T.nt, T.ns, res) == 0);
    const char *skip;
    json_t *ref = reference(&T, &p, 0.7, &skip);
    if (skip) SKIP("%s", skip);
    CHECK(ref != NULL);
    json_t *rr = json_object_get(ref, "results");
    CHECK(json_array_size(rr) == 5);
    for (int i = 0; i < 5 && json_array_size(rr) == 5; i++) {
        json_t *x = json_array_get(rr, (size_t)i);
        CHECK_NEAR(res[i].w, json_number_value(json_object_get(x, "w")), 0, 1e-12);
        CHECK_NEAR(res[i].lo, json_number_value(json_object_get(x, "lo")), 0, 1e-12);
        CHECK_NEAR(res[i].hi, json_number_value(json_object_get(x, "hi")), 0, 1e-12);
        CHECK_NEAR(res[i].diff_lo, json_number_value(json_object_get(x, "diff_lo")), 0, 1e-12);
        CHECK_NEAR(res[i].diff_hi, json_number_value(json_object_get(x, "diff_hi")), 0, 1e-12);
        CHECK_NEAR(res[i].effective, json_number_value(json_object_get(x, "effective")), 0, 1e-12);
        CHECKF(res[i].leader == json_integer_value(json_object_get(x, "leader")), "submission %d: leader %d vs %lld", i,
               res[i].leader, (long long)json_integer_value(json_object_get(x, "leader")));
    }
    /* the case is the one described: two groups, {0, 1, 2} and {3, 4} */
    CHECK(res[0].leader == 0 && res[1].leader == 0 && res[2].leader == 0);
    CHECK(res[3].leader == 3 && res[4].leader == 3);
    CHECK(fabs(res[2].w - res[0].w) > p.dead_zone); /* tied by its interval, not the dead zone */
    json_decref(ref);
}

/* ---- docs/scoring.md, "Noise-aware quality: worked example" ---- */

/* The rows of the example; the expected numbers are tools/bootstrap_ref.py's
 * output on the same input (B = 1000, seed 1 = the task's id). */
static const double EX_TT[6] = {40, 25, 60, 30, 45, 50}, EX_ST[4] = {35, 50, 30, 40};
static const double EX_TL[4][6] = {{3.10, 3.85, 2.95, 4.20, 3.40, 3.30},
                                   {3.037, 3.927, 3.007, 4.137, 3.487, 3.307},
                                   {3.30, 4.02, 3.12, 4.41, 3.58, 3.47},
                                   {3.101, 3.851, 2.951, 4.201, 3.401, 3.301}};
static const double EX_SL[4][4] = {{3.55, 3.20, 3.90, 3.45},
                                   {3.617, 3.177, 3.877, 3.517},
                                   {3.71, 3.40, 4.10, 3.62},
                                   {3.551, 3.201, 3.901, 3.451}};

TEST(docs_worked_example) {
    tn_noise_rows rows[4];
    for (int i = 0; i < 4; i++) rows[i] = (tn_noise_rows){EX_TL[i], EX_TT, EX_SL[i], EX_ST};
    tn_noise_params p = params(1000, 1);
    tn_noise_result res[4];
    CHECK(tn_noise_compare(&p, 0.7, rows, 4, 6, 4, res) == 0);
    static const double want[4][5] = {
        /* w, lo, hi, diff_lo, diff_hi */
        {3.399209677, 3.215086223, 3.673817523, 0, 0},
        {3.419934194, 3.238358273, 3.680342825, -0.014687072, 0.052882396},
        {3.581157419, 3.394179848, 3.865207309, 0.172644632, 0.192512713},
        {3.400209677, 3.216086223, 3.674817523, 0.001, 0.001},
    };
    static const int leader[4] = {0, 0, 2, 0};
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(res[i].w, want[i][0], 0, 1e-9);
        CHECK_NEAR(res[i].lo, want[i][1], 0, 1e-9);
        CHECK_NEAR(res[i].hi, want[i][2], 0, 1e-9);
        CHECK_NEAR(res[i].diff_lo, want[i][3], 0, 1e-9);
        CHECK_NEAR(res[i].diff_hi, want[i][4], 0, 1e-9);
        CHECK(res[i].leader == leader[i]);
    }
    /* five participants: these four and one invalid (score 0) */
    tn_score_params sp;
    tn_score_params_default(&sp);
    tn_task_entry e[5];
    double eff[5], w[5], s_new[5], s_old[5];
    for (int i = 0; i < 5; i++) {
        e[i] = (tn_task_entry){i < 4, 0, 0};
        eff[i] = i < 4 ? res[i].effective : NAN;
        w[i] = i < 4 ? res[i].w : NAN;
    }
    CHECK(tn_score_losses(&sp, e, eff, 5, NULL, s_new) == 0);
    CHECK(tn_score_losses(&sp, e, w, 5, NULL, s_old) == 0);
    static const double want_new[5] = {1.538461538, 1.538461538, 0.384615385, 1.538461538, 0};
    static const double want_old[5] = {1.614808960, 1.378936623, 0.403702240, 1.602552177, 0};
    for (int i = 0; i < 5; i++) {
        CHECK_NEAR(s_new[i], want_new[i], 0, 1e-9);
        CHECK_NEAR(s_old[i], want_old[i], 0, 1e-9);
    }
}

int main(void) {
    RUN(a_thousandth_of_a_nat_is_a_tie);
    RUN(dead_zone_alone_ties_noiseless_rows);
    RUN(clear_gap_keeps_the_R_ratio);
    RUN(pairing_sees_what_separate_intervals_miss);
    RUN(mean_is_exactly_one);
    RUN(deterministic_and_order_independent);
    RUN(degenerate_inputs);
    RUN(intervals_match_numpy_reference);
    RUN(docs_worked_example);
    return tn_test_summary("noise");
}
