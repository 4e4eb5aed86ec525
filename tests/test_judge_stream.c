/* test_judge_stream.c - tn_check streams the weights tensor by tensor from the
 * mapped checkpoints (judge/weightpass.h, judge/wstream.h); its statistics
 * must be bit for bit those of the whole-model computation it replaced.
 *
 * The reference here is that computation written out again on fp32 arenas
 * (tn_model_load): per-tensor double sums over the arena, SHA-256 of the
 * whole arena and of the arena rounded to bf16 / f16 in one piece, the
 * model-level delta sketch (tn_delta_sketch, matrices in parallel), the
 * exact delta cosine over the flat arena. Checked on checkpoints stored in
 * F32, BF16 and F16, with earlier submissions, and on a non-finite weight. */
#include "judge/deltasketch.h"
#include "judge/provenance.h"
#include "judge/wstream.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/half.h"
#include "base/json.h"
#include "base/mem.h"
#include "harness.h"
#include "io/safetensors.h"
#include "model/model.h"

#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static void make_model(tn_model *m, uint64_t seed) {
    tn_config c;
    json_t *j = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b}", "model_type", "llama", "vocab_size", 67,
                          "hidden_size", 48, "intermediate_size", 80, "num_hidden_layers", 2,
                          "num_attention_heads", 4, "num_key_value_heads", 2, "max_position_embeddings", 64,
                          "tie_word_embeddings", 0);
    if (tn_config_from_json(&c, j, "test") || tn_model_create(m, &c)) {
        fprintf(stderr, "make_model: %s\n", tn_errmsg());
        exit(2);
    }
    json_decref(j);
    tn_config_free(&c);
    tn_model_init_random(m, seed);
}

static void clone(tn_model *dst, const tn_model *src) {
    if (tn_model_create(dst, &src->cfg)) exit(2);
    memcpy(dst->w, src->w, src->numel * sizeof(float));
}

static uint64_t g_rng = 12345;
static float unit(void) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((g_rng >> 40) & 0xffffff) / (float)(1 << 24) - 0.5f;
}

/* A fine-tune: every other tensor moved by a rank-1 delta (dense for
 * vectors) of relative size amount; the rest untouched. */
static void finetune(tn_model *m, float amount, int phase) {
    for (int t = phase; t < m->nparams; t += 2) {
        const tn_param *p = &m->params[t];
        float *w = m->w + p->offset;
        size_t rows = (size_t)p->shape[0], cols = p->ndim == 2 ? (size_t)p->shape[1] : 1;
        float *u = tn_malloc(rows * sizeof *u), *v = tn_malloc(cols * sizeof *v);
        for (size_t i = 0; i < rows; i++) u[i] = unit();
        for (size_t k = 0; k < cols; k++) v[k] = p->ndim == 2 ? unit() : 1.0f;
        for (size_t i = 0; i < rows; i++)
            for (size_t k = 0; k < cols; k++) w[i * cols + k] += amount * (0.05f * u[i] * v[k] + 0.002f * unit());
        free(u);
        free(v);
    }
}

/* dir/model.safetensors in dtype (F32, BF16 or F16), config.json beside it. */
static void save_as(const tn_model *m, const char *dir, tn_dtype dt) {
    CHECK(tn_model_save(m, dir, NULL) == 0);
    if (dt == TN_DT_F32) return;
    tn_st_entry *e = tn_calloc((size_t)m->nparams, sizeof *e);
    uint16_t *h = tn_malloc(m->numel * sizeof *h);
    for (size_t i = 0; i < m->numel; i++) h[i] = dt == TN_DT_BF16 ? tn_f32_to_bf16(m->w[i]) : tn_f32_to_f16(m->w[i]);
    for (int t = 0; t < m->nparams; t++) {
        const tn_param *p = &m->params[t];
        e[t] = (tn_st_entry){p->name, dt, p->ndim, {p->shape[0], p->shape[1]}, h + p->offset};
    }
    char *path = tn_path_join(dir, "model.safetensors");
    CHECKF(tn_st_write(path, e, m->nparams, NULL) == 0, "%s", tn_errmsg());
    free(path);
    free(h);
    free(e);
}

/* ---- the reference: the whole-arena computation -------------------------- */

static void ref_sha(const tn_model *m, int rounded, unsigned char out[32]) {
    if (!rounded) {
        crypto_hash_sha256(out, (const unsigned char *)m->w, m->numel * sizeof(float));
        return;
    }
    unsigned char *b = tn_malloc(2 * m->numel + 1);
    for (size_t i = 0; i < m->numel; i++) {
        uint16_t h = rounded == 16 ? tn_f32_to_bf16(m->w[i]) : tn_f32_to_f16(m->w[i]);
        b[2 * i] = (unsigned char)(h & 0xff);
        b[2 * i + 1] = (unsigned char)(h >> 8);
    }
    crypto_hash_sha256(out, b, 2 * m->numel);
    free(b);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void ref_provenance(const tn_model *base, const tn_model *sub, tn_provenance *o) {
    memset(o, 0, sizeof *o);
    double *rels = tn_calloc((size_t)base->nparams, sizeof *rels), gd = 0, gb = 0, gs = 0, gdd = 0;
    int n = 0;
    o->min_cosine = 1;
    o->n_tensors = base->nparams;
    for (int t = 0; t < base->nparams; t++) {
        const tn_param *p = &base->params[t];
        const float *b = base->w + p->offset, *s = sub->w + p->offset;
        int ch = memcmp(b, s, p->numel * sizeof(float)) != 0;
        o->n_changed += ch;
        double dot = 0, bb = 0, ss = 0, dd = 0;
        for (size_t i = 0; i < p->numel; i++) {
            double d = (double)s[i] - (double)b[i];
            dot += (double)b[i] * s[i];
            bb += (double)b[i] * b[i];
            ss += (double)s[i] * s[i];
            dd += d * d;
        }
        gd += dot, gb += bb, gs += ss, gdd += dd;
        if (bb == 0) {
            o->n_skipped++;
            o->n_skipped_changed += ch;
            continue;
        }
        double c = ss > 0 ? dot / sqrt(bb * ss) : 0, r = sqrt(dd / bb);
        if (c < o->min_cosine || n == 0) {
            o->min_cosine = c;
            snprintf(o->min_cosine_tensor, sizeof o->min_cosine_tensor, "%s", p->name);
        }
        if (r > o->max_rel_distance || n == 0) {
            o->max_rel_distance = r;
            snprintf(o->max_rel_tensor, sizeof o->max_rel_tensor, "%s", p->name);
        }
        rels[n++] = r;
    }
    qsort(rels, (size_t)n, sizeof *rels, cmp_d);
    o->median_rel_distance = n % 2 ? rels[n / 2] : 0.5 * (rels[n / 2 - 1] + rels[n / 2]);
    o->global_cosine = gd / sqrt(gb * gs);
    o->global_rel_distance = sqrt(gdd / gb);
    free(rels);
}

static double ref_delta_cosine(const tn_model *base, const tn_model *a, const tn_model *b) {
    double dot = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < base->numel; i++) {
        double da = (double)a->w[i] - base->w[i], db = (double)b->w[i] - base->w[i];
        dot += da * db, aa += da * da, bb += db * db;
    }
    return dot / sqrt(aa * bb);
}

static void load(tn_model *m, const char *dir) { CHECKF(tn_model_load(m, dir, 1) == 0, "%s", tn_errmsg()); }

/* tn_check(base, sub, against) against the reference on the loaded models. */
static void compare(const char *bdir, const char *sdir, const char *const *against, int n, const char *what) {
    tn_check_rules r;
    tn_check_rules_default(&r);
    tn_check_result res;
    CHECKF(tn_check(bdir, sdir, against, n, &r, &res) == 0, "%s: %s", what, tn_errmsg());
    tn_model base, sub;
    load(&base, bdir);
    load(&sub, sdir);
    tn_provenance pv;
    ref_provenance(&base, &sub, &pv);
    CHECKF(memcmp(&pv, &res.prov, sizeof pv) == 0, "%s: provenance differs (min cos %.17g vs %.17g, median %.17g vs %.17g)",
           what, pv.min_cosine, res.prov.min_cosine, pv.median_rel_distance, res.prov.median_rel_distance);
    unsigned char h[32];
    ref_sha(&sub, 0, h);
    CHECKF(memcmp(h, res.fp.sha256, 32) == 0, "%s: sha256", what);
    ref_sha(&sub, 16, h);
    CHECKF(memcmp(h, res.fp.sha256_bf16, 32) == 0, "%s: sha256 of the bf16 rounding", what);
    ref_sha(&sub, 1, h);
    CHECKF(memcmp(h, res.fp.sha256_f16, 32) == 0, "%s: sha256 of the f16 rounding", what);
    size_t len = tn_delta_sketch_len(&base, r.sketch_k);
    float *sk = tn_malloc(len * sizeof *sk);
    CHECK(tn_delta_sketch(&base, &sub, r.sketch_k, r.sketch_seed, sk) == 0);
    CHECKF(res.fp.k == (int)len && memcmp(sk, res.fp.sketch, len * sizeof *sk) == 0, "%s: delta sketch", what);
    free(sk);
    /* the in-memory entry point agrees on the verdict and its words */
    tn_check_result mem;
    CHECK(tn_check_models(&base, &sub, NULL, 0, &r, &mem) == 0);
    if (n == 0) CHECKF(mem.verdict == res.verdict && !strcmp(mem.reason, res.reason), "%s: %s vs %s", what, mem.reason, res.reason);
    tn_check_result_free(&mem);
    for (int i = 0; i < n; i++) {
        tn_model a;
        load(&a, against[i]);
        double dc = ref_delta_cosine(&base, &sub, &a);
        CHECKF(memcmp(&dc, &res.delta_cosine[i], sizeof dc) == 0, "%s: delta cosine #%d %.17g vs %.17g", what, i, dc,
               res.delta_cosine[i]);
        tn_fingerprint fp;
        CHECK(tn_fingerprint_compute(&base, &a, r.sketch_k, r.sketch_seed, &fp) == 0);
        /* the earlier submission's sketch, whole-model, against the streamed one's */
        CHECKF(res.exact_duplicate || tn_sketch_similarity(&res.fp, &fp) == res.similarity[i], "%s: similarity #%d",
               what, i);
        tn_fingerprint_free(&fp);
        tn_model_free(&a);
    }
    tn_model_free(&base);
    tn_model_free(&sub);
    tn_check_result_free(&res);
}

TEST(streamed_equals_whole_model) {
    tn_model base, ft, ft2, other;
    make_model(&base, 1);
    clone(&ft, &base);
    clone(&ft2, &base);
    finetune(&ft, 0.3f, 0);
    finetune(&ft2, 0.3f, 1);
    make_model(&other, 9);
    const char *dt_name[3] = {"f32", "bf16", "f16"};
    tn_dtype dts[3] = {TN_DT_F32, TN_DT_BF16, TN_DT_F16};
    for (int d = 0; d < 3; d++) {
        char *dir[4];
        const char *names[4] = {"base", "ft", "ft2", "other"};
        const tn_model *ms[4] = {&base, &ft, &ft2, &other};
        for (int k = 0; k < 4; k++) {
            dir[k] = tn_sprintf("%s/%s_%s", tn_t_tmpdir(), names[k], dt_name[d]);
            save_as(ms[k], dir[k], dts[d]);
        }
        const char *against[2] = {dir[2], dir[3]};
        char *what = tn_sprintf("%s fine-tune", dt_name[d]);
        compare(dir[0], dir[1], against, 2, what);
        free(what);
        what = tn_sprintf("%s other network", dt_name[d]);
        compare(dir[0], dir[3], NULL, 0, what);
        free(what);
        what = tn_sprintf("%s untouched", dt_name[d]);
        compare(dir[0], dir[0], NULL, 0, what);
        free(what);
        /* a submission stored in another dtype than its base */
        if (d) {
            what = tn_sprintf("%s fine-tune of the f32 base", dt_name[d]);
            char *b32 = tn_sprintf("%s/base_f32", tn_t_tmpdir());
            compare(b32, dir[1], NULL, 0, what);
            free(b32);
            free(what);
        }
        for (int k = 0; k < 4; k++) free(dir[k]);
    }
    tn_model_free(&base);
    tn_model_free(&ft);
    tn_model_free(&ft2);
    tn_model_free(&other);
}

TEST(non_finite_is_refused_by_name) {
    tn_model base, bad;
    make_model(&base, 3);
    clone(&bad, &base);
    const tn_param *p = tn_model_find_param(&bad, "model.layers.1.mlp.up_proj.weight");
    bad.w[p->offset + 5] = NAN;
    char *bd = tn_sprintf("%s/nf_base", tn_t_tmpdir()), *sd = tn_sprintf("%s/nf_sub", tn_t_tmpdir());
    save_as(&base, bd, TN_DT_BF16);
    save_as(&bad, sd, TN_DT_BF16);
    tn_check_rules r;
    tn_check_rules_default(&r);
    tn_check_result res;
    CHECK_ERR(tn_check(bd, sd, NULL, 0, &r, &res), "submission: ");
    CHECK(strstr(tn_errmsg(), "model.layers.1.mlp.up_proj.weight") && strstr(tn_errmsg(), "NaN"));
    const char *against[1] = {sd};
    CHECK_ERR(tn_check(bd, bd, against, 1, &r, &res), "against: ");
    CHECK_ERR(tn_check(sd, bd, NULL, 0, &r, &res), "base ");
    free(bd);
    free(sd);
    tn_model_free(&base);
    tn_model_free(&bad);
}

/* The stream reads exactly tn_model_load's values, tensor by tensor. */
TEST(source_values) {
    tn_model base;
    make_model(&base, 5);
    char *d = tn_sprintf("%s/src_f16", tn_t_tmpdir());
    save_as(&base, d, TN_DT_F16);
    tn_model m;
    load(&m, d);
    tn_wsrc s;
    CHECKF(tn_wsrc_open(&s, d, 1) == 0, "%s", tn_errmsg());
    CHECK(tn_wsrc_model(&s)->nparams == m.nparams && tn_wsrc_model(&s)->numel == m.numel);
    for (int t = 0; t < m.nparams; t++) {
        const float *x = tn_wsrc_tensor(&s, t);
        CHECK(x && memcmp(x, m.w + m.params[t].offset, m.params[t].numel * sizeof(float)) == 0);
    }
    tn_wsrc_close(&s);
    tn_model_free(&m);
    tn_model_free(&base);
    free(d);
}

int main(void) {
    if (sodium_init() < 0) return 2;
    RUN(streamed_equals_whole_model);
    RUN(non_finite_is_refused_by_name);
    RUN(source_values);
    return tn_test_summary("judge_stream");
}
