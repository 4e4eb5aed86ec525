/* test_scoring.c - task scores and rankings: the worked example of
 * docs/scoring.md number by number, averages, and edge cases. */
#include "judge/scoring.h"
#include "base/err.h"
#include "harness.h"

#include <math.h>
#include <stdlib.h>

static tn_score_params defaults(void) {
    tn_score_params p;
    tn_score_params_default(&p);
    return p;
}

static double mean(const double *s, int n) {
    double t = 0;
    for (int i = 0; i < n; i++) t += s[i];
    return t / n;
}

/* ---- the worked example (docs/scoring.md) ---- */

/* Task 1: m1..m4 accept, all valid. */
static const tn_task_entry T1[4] = {{1, 2.0, 2.0}, {1, 3.0, 3.0}, {1, 2.5, 2.5}, {1, 2.0, 3.0}};
/* Task 2: m4 rejects; m2 is invalid (a duplicate). Entries: m1, m2, m3. */
static const tn_task_entry T2[3] = {{1, 1.5, 1.5}, {0, 0, 0}, {1, 1.8, 1.1}};
/* Task 3: all valid, m1 and m4 tie for worst. */
static const tn_task_entry T3[4] = {{1, 1.2, 1.2}, {1, 1.0, 1.0}, {1, 1.1, 1.1}, {1, 1.2, 1.2}};

TEST(worked_example_task1) {
    tn_score_params p = defaults();
    double w[4], r[4], s[4];
    CHECK(tn_score_task(&p, T1, 4, w, r, s) == 0);
    CHECK_NEAR(w[0], 2.0, 0, 1e-12);
    CHECK_NEAR(w[1], 3.0, 0, 1e-12);
    CHECK_NEAR(w[2], 2.5, 0, 1e-12);
    CHECK_NEAR(w[3], 2.3, 0, 1e-12); /* 0.7*2.0 + 0.3*3.0 */
    CHECK_NEAR(r[0], 1.0, 0, 1e-12);
    CHECK_NEAR(r[1], 0.25, 0, 1e-12);
    CHECK_NEAR(r[2], 0.5, 0, 1e-12);
    CHECK_NEAR(r[3], 0.659753955, 0, 1e-9); /* 4^-0.3 */
    CHECK_NEAR(s[0], 1.659920504, 0, 1e-9); /* 4 * 1 / 2.409753955 */
    CHECK_NEAR(s[1], 0.414980126, 0, 1e-9);
    CHECK_NEAR(s[2], 0.829960252, 0, 1e-9);
    CHECK_NEAR(s[3], 1.095139118, 0, 1e-9);
    CHECK_NEAR(mean(s, 4), 1.0, 0, 1e-12);
}

TEST(worked_example_task2) {
    tn_score_params p = defaults();
    double w[3], r[3], s[3];
    CHECK(tn_score_task(&p, T2, 3, w, r, s) == 0);
    CHECK_NEAR(w[0], 1.5, 0, 1e-12);
    CHECK(isnan(w[1]));
    CHECK_NEAR(w[2], 1.59, 0, 1e-12);
    CHECK_NEAR(r[0], 1.0, 0, 1e-12);
    CHECK(r[1] == 0);
    CHECK_NEAR(r[2], 0.25, 0, 1e-12); /* with two valid entries the worse is always 1/R */
    CHECK_NEAR(s[0], 2.4, 0, 1e-12);  /* 3 * 1 / 1.25 */
    CHECK(s[1] == 0);
    CHECK_NEAR(s[2], 0.6, 0, 1e-12);
    CHECK_NEAR(mean(s, 3), 1.0, 0, 1e-12);
}

TEST(worked_example_task3) {
    tn_score_params p = defaults();
    double r[4], s[4];
    CHECK(tn_score_task(&p, T3, 4, NULL, r, s) == 0);
    CHECK_NEAR(r[0], 0.25, 0, 1e-12);
    CHECK_NEAR(r[1], 1.0, 0, 1e-12);
    CHECK_NEAR(r[2], 0.5, 0, 1e-12);
    CHECK_NEAR(r[3], 0.25, 0, 1e-12);
    CHECK_NEAR(s[0], 0.5, 0, 1e-12);
    CHECK_NEAR(s[1], 2.0, 0, 1e-12);
    CHECK_NEAR(s[2], 1.0, 0, 1e-12);
    CHECK_NEAR(s[3], 0.5, 0, 1e-12);
}

static const tn_rank_row *find_row(const tn_rank_row *rows, int n, const char *id) {
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].id, id)) return &rows[i];
    return NULL;
}

TEST(worked_example_ranking) {
    tn_score_params p = defaults();
    double s1[4], s2[3], s3[4];
    CHECK(tn_score_task(&p, T1, 4, NULL, NULL, s1) == 0);
    CHECK(tn_score_task(&p, T2, 3, NULL, NULL, s2) == 0);
    CHECK(tn_score_task(&p, T3, 4, NULL, NULL, s3) == 0);
    const char *miner[4] = {"m1", "m2", "m3", "m4"};
    const char *owner[4] = {"alice", "alice", "bob", "bob"};
    tn_score_record rec[12];
    int n = 0;
    for (int i = 0; i < 4; i++) rec[n++] = (tn_score_record){miner[i], owner[i], TN_SCORE_ACCEPTED, 1, s1[i], 1};
    rec[n++] = (tn_score_record){"m1", "alice", TN_SCORE_ACCEPTED, 1, s2[0], 1};
    rec[n++] = (tn_score_record){"m2", "alice", TN_SCORE_ACCEPTED, 0, s2[1], 1};
    rec[n++] = (tn_score_record){"m3", "bob", TN_SCORE_ACCEPTED, 1, s2[2], 1};
    rec[n++] = (tn_score_record){"m4", "bob", TN_SCORE_REJECTED, 0, 0, 1};
    for (int i = 0; i < 4; i++) rec[n++] = (tn_score_record){miner[i], owner[i], TN_SCORE_ACCEPTED, 1, s3[i], 1};

    tn_rank_row *rows;
    int nrows;
    CHECK(tn_rank(&p, rec, n, TN_RANK_MINER, &rows, &nrows) == 0);
    CHECK(nrows == 4);
    /* order: m1 1.991904605, m4 0.547569559, m3 0.497976151, m2 0.082996025 */
    CHECK(!strcmp(rows[0].id, "m1") && rows[0].rank == 1);
    CHECK(!strcmp(rows[1].id, "m4") && rows[1].rank == 2);
    CHECK(!strcmp(rows[2].id, "m3") && rows[2].rank == 3);
    CHECK(!strcmp(rows[3].id, "m2") && rows[3].rank == 4);
    CHECK_NEAR(find_row(rows, 4, "m1")->product, 1.991904605, 0, 1e-9); /* 1.659920504 * 2.4 * 0.5 */
    CHECK_NEAR(find_row(rows, 4, "m2")->product, 0.082996025, 0, 1e-9); /* 0.414980126 * 0.1 * 2.0 */
    CHECK_NEAR(find_row(rows, 4, "m3")->product, 0.497976151, 0, 1e-9); /* 0.829960252 * 0.6 * 1.0 */
    CHECK_NEAR(find_row(rows, 4, "m4")->product, 0.547569559, 0, 1e-9); /* 1.095139118 * 0.5 */
    const tn_rank_row *m4 = find_row(rows, 4, "m4"), *m2 = find_row(rows, 4, "m2");
    CHECK(m4->offers == 3 && m4->accepted == 2 && m4->rejected == 1 && m4->valid == 2 && m4->invalid == 0);
    CHECK(m2->offers == 3 && m2->accepted == 3 && m2->rejected == 0 && m2->valid == 2 && m2->invalid == 1);
    free(rows);

    CHECK(tn_rank(&p, rec, n, TN_RANK_OWNER, &rows, &nrows) == 0);
    CHECK(nrows == 2);
    CHECK(!strcmp(rows[0].id, "bob") && rows[0].rank == 1);
    CHECK(!strcmp(rows[1].id, "alice") && rows[1].rank == 2);
    CHECK_NEAR(find_row(rows, 2, "alice")->product, 0.165320165, 0, 1e-9); /* m1 * m2 */
    CHECK_NEAR(find_row(rows, 2, "bob")->product, 0.272676582, 0, 1e-9);   /* m3 * m4 */
    CHECK(find_row(rows, 2, "alice")->accepted == 6 && find_row(rows, 2, "bob")->rejected == 1);
    CHECK(find_row(rows, 2, "alice")->invalid == 1 && find_row(rows, 2, "bob")->offers == 6);
    free(rows);
}

/* ---- properties and edge cases ---- */

TEST(average_is_one) {
    tn_score_params p = defaults();
    unsigned seed = 7;
    for (int trial = 0; trial < 200; trial++) {
        int n = 1 + trial % 17;
        tn_task_entry e[17];
        double s[17];
        int nvalid = 0;
        for (int i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            e[i].valid = (seed >> 16) % 5 != 0;
            e[i].test_loss = 0.5 + ((seed >> 8) % 1000) / 300.0;
            e[i].synth_loss = 0.5 + ((seed >> 4) % 1000) / 250.0;
            nvalid += e[i].valid;
        }
        p.alpha = (trial % 11) / 10.0;
        p.R = 1 + trial % 9;
        CHECK(tn_score_task(&p, e, n, NULL, NULL, s) == 0);
        if (nvalid) CHECK_NEAR(mean(s, n), 1.0, 0, 1e-12);
        else CHECK(mean(s, n) == 0);
    }
}

TEST(single_valid_submission) {
    tn_score_params p = defaults();
    tn_task_entry e[3] = {{0, 0, 0}, {1, 2.0, 2.5}, {0, 0, 0}};
    double r[3], s[3];
    CHECK(tn_score_task(&p, e, 3, NULL, r, s) == 0);
    CHECK(r[1] == 1.0); /* no spread: the only valid one is the best */
    CHECK_NEAR(s[1], 3.0, 0, 1e-12);
    CHECK(s[0] == 0 && s[2] == 0);
    tn_task_entry one = {1, 5.0, 5.0};
    CHECK(tn_score_task(&p, &one, 1, NULL, r, s) == 0);
    CHECK(s[0] == 1.0);
}

TEST(all_invalid) {
    tn_score_params p = defaults();
    tn_task_entry e[3] = {{0, 1, 1}, {0, NAN, NAN}, {0, 2, 2}};
    double w[3], r[3], s[3];
    CHECK(tn_score_task(&p, e, 3, w, r, s) == 0);
    for (int i = 0; i < 3; i++) CHECK(s[i] == 0 && r[i] == 0 && isnan(w[i]));
    CHECK(tn_score_task(&p, e, 0, w, r, s) == 0); /* nobody accepted */
}

TEST(ties) {
    tn_score_params p = defaults();
    tn_task_entry e[4] = {{1, 2, 2}, {1, 2, 2}, {1, 2, 2}, {0, 0, 0}};
    double r[4], s[4];
    CHECK(tn_score_task(&p, e, 4, NULL, r, s) == 0);
    for (int i = 0; i < 3; i++) {
        CHECK(r[i] == 1.0);
        CHECK_NEAR(s[i], 4.0 / 3.0, 0, 1e-12);
    }
    CHECK(s[3] == 0);
    /* a tie for best among different losses */
    tn_task_entry f[3] = {{1, 1, 1}, {1, 1, 1}, {1, 3, 3}};
    CHECK(tn_score_task(&p, f, 3, NULL, r, s) == 0);
    CHECK(r[0] == 1.0 && r[1] == 1.0);
    CHECK_NEAR(r[2], 0.25, 0, 1e-12);
    CHECK_NEAR(s[0], 3.0 / 2.25, 0, 1e-12);
}

TEST(quality_bounds) {
    tn_score_params p = defaults();
    p.R = 10;
    tn_task_entry e[5] = {{1, 1, 1}, {1, 2, 2}, {1, 3, 3}, {1, 4, 4}, {1, 5, 5}};
    double r[5], s[5];
    CHECK(tn_score_task(&p, e, 5, NULL, r, s) == 0);
    CHECK_NEAR(r[0], 1.0, 0, 1e-12);
    CHECK_NEAR(r[4], 0.1, 0, 1e-12);
    for (int i = 1; i < 5; i++) CHECK(r[i] < r[i - 1]);
    p.R = 1; /* R = 1: quality ignores the loss, every valid entry scores 1 */
    CHECK(tn_score_task(&p, e, 5, NULL, r, s) == 0);
    for (int i = 0; i < 5; i++) CHECK_NEAR(s[i], 1.0, 0, 1e-12);
}

TEST(floor_and_rejections) {
    tn_score_params p = defaults();
    tn_score_record rec[5] = {
        {"a", "o", TN_SCORE_ACCEPTED, 0, 0.0, 1},    /* failure: counts as 0.1 */
        {"a", "o", TN_SCORE_ACCEPTED, 1, 3.0, 1},
        {"b", "o", TN_SCORE_REJECTED, 0, 0.0, 1},    /* costs nothing */
        {"b", "o", TN_SCORE_ACCEPTED, 1, 0.05, 1},   /* valid but below the floor */
        {"c", "p", TN_SCORE_REJECTED, 0, 0.0, 1},    /* never accepted: unranked */
    };
    tn_rank_row *rows;
    int n;
    CHECK(tn_rank(&p, rec, 5, TN_RANK_MINER, &rows, &n) == 0);
    CHECK(n == 3);
    CHECK(!strcmp(rows[0].id, "a") && rows[0].rank == 1);
    CHECK_NEAR(rows[0].product, 0.3, 0, 1e-12);
    CHECK(!strcmp(rows[1].id, "b") && rows[1].rank == 2);
    CHECK_NEAR(rows[1].product, 0.1, 0, 1e-12);
    CHECK(!strcmp(rows[2].id, "c") && rows[2].rank == 0 && rows[2].product == 1.0 && rows[2].rejected == 1);
    free(rows);
    /* long histories: 2000 tasks at 0.5 underflow nothing in log space */
    tn_score_record *many = calloc(2000, sizeof *many);
    for (int i = 0; i < 2000; i++) many[i] = (tn_score_record){"x", "o", TN_SCORE_ACCEPTED, 1, 0.5, 1};
    CHECK(tn_rank(&p, many, 2000, TN_RANK_MINER, &rows, &n) == 0);
    CHECK_NEAR(rows[0].log_product, 2000 * log(0.5), 1e-12, 0);
    free(rows);
    free(many);
}

TEST(bad_input) {
    tn_score_params p = defaults();
    tn_task_entry e[2] = {{1, 1, 1}, {1, NAN, 1}};
    double s[2];
    CHECK_ERR(tn_score_task(&p, e, 2, NULL, NULL, s), "not finite");
    p.alpha = 1.5;
    CHECK_ERR(tn_score_task(&p, e, 1, NULL, NULL, s), "alpha");
    p = defaults();
    p.floor = 0;
    CHECK_ERR(tn_score_params_check(&p), "floor");
    p = defaults();
    p.R = 0.5;
    CHECK_ERR(tn_score_params_check(&p), "R =");
    tn_rank_row *rows;
    int n;
    tn_score_record bad = {NULL, "o", TN_SCORE_ACCEPTED, 1, 1.0, 1};
    p = defaults();
    CHECK_ERR(tn_rank(&p, &bad, 1, TN_RANK_MINER, &rows, &n), "no miner");
}

/* ---- work weighting (docs/scoring.md, "Work-weighted ranking") ---- */

TEST(work_weight_formula) {
    CHECK_NEAR(tn_task_work_weight(2, 8), 8.0, 0, 1e-12);           /* 2 sqrt(16) */
    CHECK_NEAR(tn_task_work_weight(3, 3), 6.0, 0, 1e-12);           /* 2 sqrt(9) */
    CHECK_NEAR(tn_task_work_weight(4, 7), 10.583005244, 0, 1e-9);   /* 2 sqrt(28) */
    CHECK(tn_task_work_weight(0.5, 0.5) == 1.0);                    /* 2 sqrt(0.25) = 1 */
    CHECK(tn_task_work_weight(1, 0.06) == 1.0);                     /* 0.49: floored at 1 */
    CHECK(tn_task_work_weight(0, 70) == 1.0);
    CHECK(isnan(tn_task_work_weight(-1, 1)) && isnan(tn_task_work_weight(1, NAN)));
    tn_score_weighting w;
    CHECK(tn_score_weighting_parse("work", &w) == 0 && w == TN_WEIGHT_WORK);
    CHECK(tn_score_weighting_parse("product", &w) == 0 && w == TN_WEIGHT_PRODUCT);
    CHECK_ERR(tn_score_weighting_parse("Work", &w), "'Work'");
    CHECK(!strcmp(tn_score_weighting_name(TN_WEIGHT_WORK), "work"));
}

TEST(work_weighting_ranks) {
    /* task 1: 2 h on an 8B model, weight 8; task 2: 1 h on 0.06B, weight 1 */
    tn_score_record rec[6] = {
        {"a", "o", TN_SCORE_ACCEPTED, 1, 1.8, 8}, {"a", "o", TN_SCORE_ACCEPTED, 1, 0.5, 1},
        {"b", "p", TN_SCORE_ACCEPTED, 1, 0.2, 8}, {"b", "p", TN_SCORE_ACCEPTED, 1, 5.0, 1},
        {"c", "p", TN_SCORE_ACCEPTED, 0, 0.0, 8}, {"c", "p", TN_SCORE_ACCEPTED, 1, 1.0, 1},
    };
    tn_score_params p = defaults();
    tn_rank_row *rows;
    int n;
    /* product: b 0.2 * 5 = 1 > a 1.8 * 0.5 = 0.9 > c 0.1 * 1 = 0.1 */
    CHECK(tn_rank(&p, rec, 6, TN_RANK_MINER, &rows, &n) == 0 && n == 3);
    CHECK(!strcmp(rows[0].id, "b") && !strcmp(rows[1].id, "a") && !strcmp(rows[2].id, "c"));
    CHECK_NEAR(rows[0].product, 1.0, 0, 1e-12);
    CHECK_NEAR(rows[1].product, 0.9, 0, 1e-12);
    CHECK(rows[1].work == 2.0);
    free(rows);
    /* work: a 1.8^8 * 0.5 = 55.09980288 > b 0.2^8 * 5 = 1.28e-5 > c 0.1^8 * 1 */
    p.weighting = TN_WEIGHT_WORK;
    CHECK(tn_rank(&p, rec, 6, TN_RANK_MINER, &rows, &n) == 0 && n == 3);
    CHECK(!strcmp(rows[0].id, "a") && !strcmp(rows[1].id, "b") && !strcmp(rows[2].id, "c"));
    CHECK_NEAR(rows[0].product, 55.09980288, 0, 1e-9);
    CHECK_NEAR(rows[1].product, 1.28e-5, 0, 1e-9);
    /* the floor is raised too: a failure on a weight-8 task costs 10^8 */
    CHECK_NEAR(rows[2].product, 1e-8, 0, 1e-9);
    CHECK_NEAR(rows[2].log_product, 8 * log(0.1), 1e-12, 0);
    CHECK(rows[0].work == 9.0 && rows[2].invalid == 1);
    free(rows);
    /* owners: p = b * c = 1.28e-5 * 1e-8 */
    CHECK(tn_rank(&p, rec, 6, TN_RANK_OWNER, &rows, &n) == 0 && n == 2);
    CHECK(!strcmp(rows[0].id, "o") && !strcmp(rows[1].id, "p"));
    CHECK_NEAR(rows[1].product, 1.28e-13, 0, 1e-9);
    CHECK(rows[1].work == 18.0);
    free(rows);
    /* all weights 1: the work rule is the product rule */
    for (int i = 0; i < 6; i++) rec[i].weight = 1;
    CHECK(tn_rank(&p, rec, 6, TN_RANK_MINER, &rows, &n) == 0);
    CHECK(!strcmp(rows[0].id, "b"));
    CHECK_NEAR(rows[1].product, 0.9, 0, 1e-12);
    free(rows);
    /* a weight below 1 (or unset) is refused under the work rule only */
    rec[3].weight = 0;
    CHECK_ERR(tn_rank(&p, rec, 6, TN_RANK_MINER, &rows, &n), "work weight 0");
    p.weighting = TN_WEIGHT_PRODUCT;
    CHECK(tn_rank(&p, rec, 6, TN_RANK_MINER, &rows, &n) == 0);
    free(rows);
    p.weighting = (tn_score_weighting)7;
    CHECK_ERR(tn_score_params_check(&p), "weighting");
}

int main(void) {
    RUN(worked_example_task1);
    RUN(worked_example_task2);
    RUN(worked_example_task3);
    RUN(worked_example_ranking);
    RUN(average_is_one);
    RUN(single_valid_submission);
    RUN(all_invalid);
    RUN(ties);
    RUN(quality_bounds);
    RUN(floor_and_rejections);
    RUN(bad_input);
    RUN(work_weight_formula);
    RUN(work_weighting_ranks);
    return tn_test_summary("scoring");
}
