/* test_dupes.c - the validator's duplicate rule (judge/duplicates.h) on
 * hand-made fingerprints whose comparison is known in closed form. A sketch
 * is one 8 x 8 block (64 floats, row-major), every bucket occupied as a real
 * fine-tune's is. The original is A = J / 8 (all ones, norm 1). "noisy" =
 * A + 0.3 P, P the diagonal with alternating signs (orthogonal to A), adds a
 * perfectly flat residual (R^T R = 0.09 I: structure 1/8, under half of
 * Gaussian noise's (8 + 8 + 1) / (64 + 2)) aligned at cos 1/sqrt(1.72) =
 * 0.762, 6.1 sigma: a noised copy. A + (e_i - e_j) / sqrt 2 adds a rank-1
 * residual (structure 1, four times noise's): independent work at cos 0.707.
 * 1.5 A is a rescaled copy (residual 0).
 * Each case is a situation the arena meets: copies between miners, a
 * miner's honest retrain of the same data, a copy of a fair miner's earlier
 * output uploaded before that miner's retrain (the CI failure that made this
 * rule follow copies to their origin), another base, a failed provenance.
 * Last, the noise reference itself: Gaussian residuals in blocks of every
 * occupied size read 1 x noise's structure, which is what makes one threshold
 * fit every matrix shape. */
#include "judge/duplicates.h"
#include "harness.h"

#include "base/rng.h"

#include <math.h>
#include <string.h>

#define K 64
static const tn_dup_rules RULES = {0.05, 1.10, 4.0}; /* the defaults (judge/provenance.c) */
#define THR (&RULES)

typedef struct {
    float v[K];
} sk;

/* a A + b (e_i - e_j) / sqrt 2 (i, j < 0: left out) */
static sk vec(double a, int i, int j, double b) {
    sk s;
    for (int k = 0; k < K; k++) s.v[k] = (float)(a / 8);
    if (i >= 0) s.v[i] += (float)(b / sqrt(2.0));
    if (j >= 0) s.v[j] -= (float)(b / sqrt(2.0));
    return s;
}

/* A + 0.3 x the diagonal with alternating signs: a copy of A plus flat noise */
static sk noisy(void) {
    sk s = vec(1, -1, -1, 0);
    for (int i = 0; i < 8; i++) s.v[9 * i] += i % 2 ? -0.3f : 0.3f;
    return s;
}

static tn_dup_item item(int64_t id, int64_t miner, int64_t task, int64_t t, const char *model, const char *data,
                        const char *sha, const sk *s) {
    return (tn_dup_item){.id = id, .miner_id = miner, .task_id = task, .received_at = t, .model = model,
                         .dataset = data, .sha256 = sha, .sketch = s ? s->v : NULL, .k = s ? K : 0, .block = K,
                         .fine_tune = 1};
}

TEST(sketch_pair_closed_form) {
    sk a = vec(1, -1, -1, 0), b = noisy(), c = vec(0, 2, 3, 1), z = vec(0, -1, -1, 0), f = vec(1, 1, 2, 1),
       s = vec(1.5, -1, -1, 0);
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
    CHECK_NEAR(sp.noise_structure, 17.0 / 66, 1e-9, 0); /* Gaussian noise in an 8 x 8 block */
    CHECK(tn_dup_pair_is_copy(&sp, &RULES, why, sizeof why) == 1 && strstr(why, "isotropic noise"));
    CHECK(tn_dup_compare(&iff, &ia, &sp) == 0);
    CHECK_NEAR(sp.structure, 1.0, 1e-6, 0); /* a rank-1 residual */
    CHECK_NEAR(sp.cosine, 1 / sqrt(2.0), 1e-6, 0);
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
    sk a = vec(1, -1, -1, 0), near = noisy(), far = vec(1, 1, 2, 1);
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
    sk a = vec(1, -1, -1, 0), near = noisy();
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
    sk a = vec(1, -1, -1, 0), retrain = noisy(), nz = noisy();
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
    sk a = vec(1, -1, -1, 0), near = noisy();
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

static double gauss(uint64_t *st) {
    double u = tn_unit_double(tn_splitmix64(st)), v = tn_unit_double(tn_splitmix64(st));
    return sqrt(-2 * log(1 - u)) * cos(6.283185307179586 * v);
}

/* Sketches of nb blocks of 32 x 8 of which each occupies its first rows x
 * cols entries (the shape of its matrix and the hash decide that): b is a
 * rank-2 delta, a = b + Gaussian noise of sd `noise` in the occupied entries,
 * or plus another rank-2 delta of that size when `structured`. Returns the
 * comparison's structure / noise_structure. */
static double ratio_for(int rows, int cols, int nb, double noise, int structured, uint64_t seed) {
    enum { P = 32, B = P * TN_SKETCH_R };
    float *a = calloc((size_t)nb * B, sizeof *a), *b = calloc((size_t)nb * B, sizeof *b);
    uint64_t st = seed;
    for (int k = 0; k < nb; k++) {
        double u[2][P], v[2][TN_SKETCH_R], x[2][P], y[2][TN_SKETCH_R];
        for (int q = 0; q < 2; q++) {
            for (int i = 0; i < P; i++) u[q][i] = gauss(&st), x[q][i] = gauss(&st);
            for (int j = 0; j < TN_SKETCH_R; j++) v[q][j] = gauss(&st), y[q][j] = gauss(&st);
        }
        double e = 1 + k % 5; /* blocks of unequal energy, as matrices are */
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) {
                size_t o = (size_t)k * B + (size_t)i * TN_SKETCH_R + (size_t)j;
                b[o] = (float)(e * (u[0][i] * v[0][j] + u[1][i] * v[1][j]));
                double extra = structured ? x[0][i] * y[0][j] + x[1][i] * y[1][j] : gauss(&st);
                a[o] = b[o] + (float)(e * noise * extra);
            }
    }
    tn_sketch_pair sp;
    int rc = tn_sketch_compare(a, b, (size_t)nb * B, B, &sp);
    free(a);
    free(b);
    return rc == 0 && sp.noise_structure > 0 ? sp.structure / sp.noise_structure : -1;
}

/* The noise reference holds for every occupied block size: Gaussian noise
 * reads 1 (within the spread of 400 blocks), a rank-2 residual of the same
 * energy reads far more, in small blocks too (the old reference, simulated
 * from each row's energy, read a residual in few rows as noise). */
TEST(noise_reference_fits_every_shape) {
    const int shapes[][2] = {{32, 8}, {8, 8}, {16, 5}, {5, 8}, {3, 3}, {2, 8}, {32, 2}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int rows = shapes[s][0], cols = shapes[s][1];
        for (int w = 0; w < 2; w++) {
            double nz = w ? 5.0 : 0.5; /* noise under and over the delta */
            double r = ratio_for(rows, cols, 400, nz, 0, 1000 + s * 10 + (uint64_t)w);
            CHECKF(fabs(r - 1) < 0.06, "%d x %d, noise %.1f: structure %.3f of noise's", rows, cols, nz, r);
            if (rows <= 2 || cols <= 2) continue; /* rank 2 is full rank there: nothing to tell */
            double rs = ratio_for(rows, cols, 400, nz, 1, 2000 + s * 10 + (uint64_t)w);
            CHECKF(rs > RULES.max_structure + 0.1, "%d x %d, rank-2 residual: structure %.3f of noise's", rows,
                   cols, rs);
        }
    }
}

/* A copy re-saved in bf16 has other bytes but the original's weights rounded
 * to bf16: the second hash finds it, whoever uploaded it; unknown bf16
 * hashes (results stored before them) match nothing. */
TEST(bf16_resave) {
    sk a = vec(1, -1, -1, 0), far = vec(1, 1, 2, 1);
    tn_dup_item it[4] = {
        item(1, 1, 1, 100, "m", "d", "aaa", &a),
        item(2, 2, 2, 200, "m", "d", "bbb", &a),   /* miner 2, another task: ft's bf16 re-save */
        item(3, 3, 1, 300, "m", "d", "ccc", &far), /* honest, unknown bf16 hash */
        item(4, 4, 1, 400, "m", "d", "ddd", &far), /* honest, unknown bf16 hash */
    };
    it[0].sha256_bf16 = "h16";
    it[1].sha256_bf16 = "h16";
    it[2].sha256_bf16 = "";
    tn_dup_result r[4];
    tn_find_duplicates(it, 4, THR, r);
    CHECK(r[0].dup_of == -1);
    CHECKF(r[1].dup_of == 0 && r[1].exact == 2 && strstr(r[1].evidence, "rounding to bf16"), "dup_of %d exact %d: %s",
           r[1].dup_of, r[1].exact, r[1].evidence);
    CHECK(r[2].dup_of == -1);
    /* the same with the f16 hash */
    it[0].sha256_bf16 = it[1].sha256_bf16 = NULL;
    it[0].sha256_f16 = it[1].sha256_f16 = "f16";
    tn_find_duplicates(it, 4, THR, r);
    CHECKF(r[1].dup_of == 0 && r[1].exact == 3 && strstr(r[1].evidence, "rounding to f16"), "dup_of %d exact %d: %s",
           r[1].dup_of, r[1].exact, r[1].evidence);
    /* "" and NULL are no match; item 4 has item 3's delta: a near copy, not a bf16 one */
    CHECKF(r[3].dup_of == 2 && r[3].exact == 0, "dup_of %d exact %d", r[3].dup_of, r[3].exact);
}

int main(void) {
    RUN(sketch_pair_closed_form);
    RUN(copies_between_miners);
    RUN(a_miners_own_runs);
    RUN(copy_of_own_work_uploaded_first);
    RUN(other_base_and_failed_provenance);
    RUN(noise_reference_fits_every_shape);
    RUN(bf16_resave);
    return tn_test_summary("dupes");
}
