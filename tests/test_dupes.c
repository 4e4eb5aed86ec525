/* test_dupes.c - the validator's duplicate rule (judge/duplicates.h) on
 * hand-made fingerprints whose comparison is known in closed form. A sketch
 * is one 8 x 8 block (64 floats, row-major); e_i are unit vectors, indices
 * 1..3 off the diagonal. "noisy" = e1 + 0.3 (e0 + e9 + ... + e63) adds a
 * perfectly flat residual (R^T R = 0.09 I: structure 1/8, a third of
 * random noise's) aligned at cos 1/sqrt(1.72) = 0.762, 6.1 sigma: a noised
 * copy. e1 + e2 adds a rank-1 residual (structure 1): independent work at
 * cos 0.707. 1.5 e1 is a rescaled copy (residual 0).
 * Each case is a situation the arena meets: copies between miners, a
 * miner's honest retrain of the same data, a copy of a fair miner's earlier
 * output uploaded before that miner's retrain (the CI failure that made this
 * rule follow copies to their origin), another base, a failed provenance. */
#include "judge/duplicates.h"
#include "harness.h"

#include <string.h>

#define K 64
static const tn_dup_rules RULES = {0.05, 1.14, 4.0};
#define THR (&RULES)

typedef struct {
    float v[K];
} sk;

/* a e_i + b e_j */
static sk vec(int i, double a, int j, double b) {
    sk s;
    memset(&s, 0, sizeof s);
    s.v[i + 1] += (float)a;
    if (j >= 0) s.v[j + 1] += (float)b;
    return s;
}

/* e1 + 0.3 x the diagonal: a copy of vec(0, 1, ...) plus isotropic noise */
static sk noisy(void) {
    sk s = vec(0, 1, -1, 0);
    for (int i = 0; i < 8; i++) s.v[9 * i] += 0.3f;
    return s;
}

static tn_dup_item item(int64_t id, int64_t miner, int64_t task, int64_t t, const char *model, const char *data,
                        const char *sha, const sk *s) {
    return (tn_dup_item){.id = id, .miner_id = miner, .task_id = task, .received_at = t, .model = model,
                         .dataset = data, .sha256 = sha, .sketch = s ? s->v : NULL, .k = s ? K : 0, .block = K,
                         .fine_tune = 1};
}

TEST(sketch_pair_closed_form) {
    sk a = vec(0, 1, -1, 0), b = noisy(), c = vec(2, 3, -1, 0), z = vec(0, 0, -1, 0), f = vec(0, 1, 1, 1),
       s = vec(0, 1.5, -1, 0);
    tn_dup_item ia = item(1, 1, 1, 1, "m", "d", "", &a), ib = item(2, 2, 1, 2, "m", "d", "", &b),
                ic = item(3, 3, 1, 3, "m", "d", "", &c), iz = item(4, 4, 1, 4, "m", "d", "", &z),
                in = item(5, 5, 1, 5, "m", "d", "", NULL), iff = item(6, 6, 1, 6, "m", "d", "", &f),
                is = item(7, 7, 1, 7, "m", "d", "", &s);
    tn_sketch_pair sp;
    char why[256];
    CHECK(tn_dup_compare(&ib, &ia, &sp) == 0);
    CHECK_NEAR(sp.cosine, 1.0 / sqrt(1.72), 1e-6, 0);
    CHECK_NEAR(sp.scale, 1.0, 1e-6, 0);
    CHECK_NEAR(sp.residual, 0.3 * sqrt(8.0), 1e-6, 0);
    CHECK_NEAR(sp.structure, 1.0 / 8, 1e-6, 0);
    CHECK(sp.noise_structure > 0.25 && sp.noise_structure < 0.6); /* 8 random columns in 8 dims */
    CHECK(tn_dup_pair_is_copy(&sp, &RULES, why, sizeof why) == 1 && strstr(why, "isotropic noise"));
    CHECK(tn_dup_compare(&iff, &ia, &sp) == 0);
    CHECK_NEAR(sp.structure, 1.0, 1e-9, 0); /* a rank-1 residual */
    CHECK(tn_dup_pair_is_copy(&sp, &RULES, why, sizeof why) == 0 && strstr(why, "independent delta"));
    CHECK(tn_dup_compare(&is, &ia, &sp) == 0);
    CHECK_NEAR(sp.scale, 1.5, 1e-6, 0);
    CHECK(tn_dup_pair_is_copy(&sp, &RULES, why, sizeof why) == 1 && strstr(why, "the same delta x 1.5"));
    /* a flat residual but too weakly aligned (0.762 sigma-equivalent cut to < 4): not evidence */
    tn_dup_rules strict = RULES;
    strict.min_significance = 7;
    CHECK(tn_dup_compare(&ib, &ia, &sp) == 0 && tn_dup_pair_is_copy(&sp, &strict, why, sizeof why) == 0);
    CHECK(tn_dup_compare(&ia, &ic, &sp) == 0 && sp.cosine == 0.0);
    CHECK(tn_dup_compare(&ia, &iz, &sp) == 0 && sp.cosine == 0.0); /* zero sketch: 0, not NaN */
    CHECK(tn_dup_pair_is_copy(&sp, &RULES, why, sizeof why) == 0);
    CHECK(tn_dup_compare(&ia, &in, &sp) == -1); /* no sketch */
    ib.k = 32;
    CHECK(tn_dup_compare(&ia, &ib, &sp) == -1); /* another sketch length */
}

/* Copies between miners: exact by hash, near by sketch; the earliest upload
 * is the original whatever the array order. */
TEST(copies_between_miners) {
    sk a = vec(0, 1, -1, 0), near = noisy(), far = vec(0, 1, 1, 1.0);
    tn_dup_item it[4] = {
        item(13, 3, 1, 300, "m", "d", "bbb", &far),  /* miner 3: its own direction (cos 0.707) */
        item(12, 2, 1, 200, "m", "d", "ccc", &near), /* miner 2: a noisy copy of miner 1 */
        item(11, 1, 1, 100, "m", "d", "aaa", &a),    /* miner 1: the original, uploaded first */
        item(14, 4, 2, 400, "m", "d", "aaa", &a),    /* miner 4, another task: a byte copy */
    };
    tn_dup_result r[4];
    tn_find_duplicates(it, 4, THR, r);
    CHECK(r[2].dup_of == -1 && r[2].origin == 2 && r[2].max_similarity == 0.0);
    CHECKF(r[1].dup_of == 2 && !r[1].exact, "noisy copy: dup_of %d exact %d", r[1].dup_of, r[1].exact);
    CHECK_NEAR(r[1].max_similarity, 1.0 / sqrt(1.72), 1e-6, 0);
    CHECK(strstr(r[1].evidence, "isotropic noise") != NULL);
    CHECK(r[1].origin == 2);
    /* cos 0.707 to the original; 0.707*... to the noisy copy: below the threshold */
    CHECKF(r[0].dup_of == -1, "miner 3 flagged as a copy of %d", r[0].dup_of);
    CHECK(r[0].max_similarity > 0.7 && r[0].max_similarity < 0.75 && strstr(r[0].evidence, "independent"));
    CHECK(r[3].dup_of == 2 && r[3].exact && r[3].max_similarity == 1.0 && r[3].origin == 2);
    /* the same files uploaded earlier by the copier: the copier keeps them */
    it[3].received_at = 50;
    tn_find_duplicates(it, 4, THR, r);
    CHECK(r[3].dup_of == -1 && r[2].dup_of == 3 && r[2].exact);
    /* ties on the upload time go to the lower id */
    it[3].received_at = 100;
    tn_find_duplicates(it, 4, THR, r);
    CHECK(r[3].dup_of == 2 && r[2].dup_of == -1);
}

/* One miner's runs: a retrain on the same base and data is not held against
 * it; the same delta on another dataset is "train once, submit many"; the
 * same bytes are a copy in any case; a replaced upload to one task is never
 * compared with itself. */
TEST(a_miners_own_runs) {
    sk a = vec(0, 1, -1, 0), near = noisy();
    tn_dup_item it[5] = {
        item(1, 1, 1, 100, "m", "alpaca", "h1", &a),
        item(2, 1, 2, 200, "m", "alpaca", "h2", &near), /* retrain, same data: fine */
        item(3, 1, 3, 300, "m", "gsm8k", "h3", &near),  /* other data, same delta: duplicate */
        item(4, 1, 4, 400, "m", "alpaca", "h1", &a),    /* the task-1 bytes again: exact copy */
        item(5, 1, 4, 450, "m", "alpaca", "h5", &a),    /* same miner and task 4 as item 4 */
    };
    tn_dup_result r[5];
    tn_find_duplicates(it, 5, THR, r);
    CHECK(r[0].dup_of == -1);
    CHECKF(r[1].dup_of == -1, "honest retrain flagged as a copy of %d", r[1].dup_of);
    CHECK(r[1].max_similarity == 0.0); /* the pair was not compared at all */
    CHECKF(r[2].dup_of >= 0 && !r[2].exact && it[r[2].dup_of].dataset[0] == 'a', "other data: dup_of %d",
           r[2].dup_of);
    CHECK(r[3].dup_of == 0 && r[3].exact);
    /* item 5 vs item 4 (same miner, same task) is skipped; vs the rest, same data, its own */
    CHECK(r[4].dup_of == -1);
}

/* The arena's CI failure: copycat re-uploads fair-a's task-1 output to task
 * 2 before fair-a finishes task 2; fair-a's honest retrain (same base and
 * data) then looked like a near-duplicate of copycat's upload. The copy
 * stands for its origin (fair-a's own task-1 run), so fair-a is clean and
 * copycat is the duplicate. Also with a noisy copy, and along a chain. */
TEST(copy_of_own_work_uploaded_first) {
    sk a = vec(0, 1, -1, 0), retrain = noisy(), nz = noisy();
    enum { FAIR = 1, COPYCAT = 4, OTHER = 7 };
    tn_dup_item it[4] = {
        item(1, FAIR, 1, 100, "m", "d", "fa1", &a),
        item(6, COPYCAT, 2, 150, "m", "d", "fa1", &a), /* exact copy of item 0 */
        item(7, FAIR, 2, 300, "m", "d", "fa2", &retrain),
        item(8, OTHER, 2, 310, "m", "d", "ot2", &retrain), /* someone else with fair-a's delta */
    };
    tn_dup_result r[4];
    tn_find_duplicates(it, 4, THR, r);
    CHECK(r[1].dup_of == 0 && r[1].exact && r[1].origin == 0);
    CHECKF(r[2].dup_of == -1, "fair-a's retrain flagged as a copy of %d", r[2].dup_of);
    /* another miner with that delta is still a near-duplicate */
    CHECKF(r[3].dup_of >= 0 && !r[3].exact, "other miner: dup_of %d", r[3].dup_of);
    /* a noisy copy (near, not exact) stands for its origin too */
    it[1].sha256 = "noisy";
    it[1].sketch = nz.v;
    tn_find_duplicates(it, 4, THR, r);
    CHECK(r[1].dup_of == 0 && !r[1].exact && r[1].origin == 0);
    CHECKF(r[2].dup_of == -1, "noisy copy: fair-a's retrain flagged as a copy of %d", r[2].dup_of);
    /* a copy of the copy (a third miner, exact bytes of item 1) leads back to item 0 */
    tn_dup_item chain[5];
    memcpy(chain, it, sizeof it);
    chain[4] = item(9, OTHER + 1, 2, 200, "m", "d", "noisy", &nz);
    tn_dup_result rc[5];
    tn_find_duplicates(chain, 5, THR, rc);
    CHECK(rc[4].dup_of == 1 && rc[4].exact && rc[4].origin == 0);
    CHECKF(rc[2].dup_of == -1, "chain: fair-a's retrain flagged as a copy of %d", rc[2].dup_of);
    /* without the copy's origin the rule would have flagged it: the copier's
     * upload, taken as an original, is within the threshold of the retrain */
    it[1].sha256 = "fa1";
    it[1].sketch = a.v;
    tn_dup_item alone[2] = {it[1], it[2]};
    tn_dup_result ra[2];
    tn_find_duplicates(alone, 2, THR, ra);
    CHECK(ra[1].dup_of == 0);
}

/* Sketches compare deltas from one base; an entry that failed provenance is
 * neither a near-duplicate nor a near original, but bytes are bytes. */
TEST(other_base_and_failed_provenance) {
    sk a = vec(0, 1, -1, 0), near = noisy();
    tn_dup_item it[4] = {
        item(1, 1, 1, 100, "base-A", "d", "x1", &a),
        item(2, 2, 2, 200, "base-B", "d", "x2", &near), /* other base: not compared */
        item(3, 3, 1, 300, "base-A", "d", "x3", &near),
        item(4, 4, 1, 400, "base-A", "d", "x1", &a), /* bytes of item 0 */
    };
    it[0].fine_tune = 0; /* item 0 failed provenance */
    tn_dup_result r[4];
    tn_find_duplicates(it, 4, THR, r);
    CHECK(r[1].dup_of == -1 && r[1].max_similarity == 0.0);
    CHECKF(r[2].dup_of == -1, "near a failed submission: dup_of %d", r[2].dup_of);
    CHECK(r[3].dup_of == 0 && r[3].exact);
    /* and a failed one is not made a near-duplicate either */
    it[0].fine_tune = 1;
    it[2].fine_tune = 0;
    tn_find_duplicates(it, 4, THR, r);
    CHECK(r[2].dup_of == -1 && r[2].max_similarity == 0.0);
    tn_find_duplicates(it, 0, THR, r); /* nothing to do, nothing touched */
}

int main(void) {
    RUN(sketch_pair_closed_form);
    RUN(copies_between_miners);
    RUN(a_miners_own_runs);
    RUN(copy_of_own_work_uploaded_first);
    RUN(other_base_and_failed_provenance);
    return tn_test_summary("dupes");
}
