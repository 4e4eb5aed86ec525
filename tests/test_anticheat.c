/* test_anticheat.c - the anti-cheat rules (docs/anticheat.md) on small models
 * built here: a random base, "fine-tunes" = base + small structured deltas
 * (a shared part, as runs on the same data share, plus a part of their own),
 * copies, noisy copies, another random network, the untouched base, a LoRA
 * adapter naming another base; then `tuna check` and bad inputs; then real
 * fine-tunes of stories260K when ../shared/data is there. */
#include "judge/provenance.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/half.h"
#include "base/json.h"
#include "base/mem.h"
#include "harness.h"
#include "model/lora.h"
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static json_t *cfg_json(int hidden) {
    return json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b}", "model_type", "llama", "vocab_size", 61,
                     "hidden_size", hidden, "intermediate_size", 48, "num_hidden_layers", 2, "num_attention_heads", 4,
                     "num_key_value_heads", 2, "max_position_embeddings", 64, "tie_word_embeddings", 0);
}

static void make_model(tn_model *m, int hidden, uint64_t seed) {
    tn_config c;
    json_t *j = cfg_json(hidden);
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

static uint64_t rng_next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t x = *s;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    return x ^ (x >> 33);
}

/* approximately standard normal (sum of 4 uniforms, scaled) */
static float gauss(uint64_t *s) {
    float t = 0;
    for (int i = 0; i < 4; i++) t += (float)(rng_next(s) >> 40) / (float)(1 << 24) - 0.5f;
    return t * 1.7320508f;
}

/* Adds to m a rank-2 delta per matrix (dense for vectors) whose norm is
 * `amount` x the base tensor's; half of its energy from `shared` (same for
 * every run: same data) and half from `own` (this run's seed). */
static void add_finetune(tn_model *m, const tn_model *base, uint64_t shared, uint64_t own, float amount) {
    float *d = tn_malloc(base->numel * sizeof(float));
    for (int t = 0; t < base->nparams; t++) {
        const tn_param *p = &base->params[t];
        const float *b = base->w + p->offset;
        float *dt = d + p->offset;
        memset(dt, 0, p->numel * sizeof(float));
        uint64_t seeds[2] = {shared * 1000 + (uint64_t)t, own * 1000 + (uint64_t)t};
        for (int part = 0; part < 2; part++) {
            uint64_t s = seeds[part];
            if (p->ndim == 1) {
                for (size_t i = 0; i < p->numel; i++) dt[i] += gauss(&s);
                continue;
            }
            size_t rows = (size_t)p->shape[0], cols = (size_t)p->shape[1];
            for (int r = 0; r < 2; r++) {
                float *u = tn_malloc(rows * sizeof(float)), *v = tn_malloc(cols * sizeof(float));
                for (size_t i = 0; i < rows; i++) u[i] = gauss(&s);
                for (size_t j = 0; j < cols; j++) v[j] = gauss(&s);
                for (size_t i = 0; i < rows; i++)
                    for (size_t j = 0; j < cols; j++) dt[i * cols + j] += u[i] * v[j];
                free(u);
                free(v);
            }
        }
        double bn = 0, dn = 0;
        for (size_t i = 0; i < p->numel; i++) {
            bn += (double)b[i] * b[i];
            dn += (double)dt[i] * dt[i];
        }
        float k = dn > 0 ? (float)(amount * sqrt(bn / dn)) : 0;
        for (size_t i = 0; i < p->numel; i++) m->w[p->offset + i] += k * dt[i];
    }
    free(d);
}

/* Gaussian noise with norm nu x the norm of (m - base), per tensor. */
static void add_noise(tn_model *m, const tn_model *base, float nu, uint64_t seed) {
    for (int t = 0; t < base->nparams; t++) {
        const tn_param *p = &base->params[t];
        double dn = 0;
        for (size_t i = 0; i < p->numel; i++) {
            double d = (double)m->w[p->offset + i] - base->w[p->offset + i];
            dn += d * d;
        }
        float sd = (float)(nu * sqrt(dn / (double)p->numel));
        for (size_t i = 0; i < p->numel; i++) m->w[p->offset + i] += sd * gauss(&seed);
    }
}

static tn_check_rules rules(void) {
    tn_check_rules r;
    tn_check_rules_default(&r);
    return r;
}

/* Builds the fingerprints of `n` earlier submissions. */
static tn_fingerprint *prints(const tn_model *base, const tn_model *const *subs, int n) {
    tn_fingerprint *fp = tn_calloc((size_t)n + 1, sizeof *fp);
    tn_check_rules r;
    tn_check_rules_default(&r);
    for (int i = 0; i < n; i++) CHECK(tn_fingerprint_compute(base, subs[i], r.sketch_k, r.sketch_seed, &fp[i]) == 0);
    return fp;
}

static void free_prints(tn_fingerprint *fp, int n) {
    for (int i = 0; i < n; i++) tn_fingerprint_free(&fp[i]);
    free(fp);
}

/* ---- in-memory rules ---- */

TEST(fine_tunes_pass_and_are_not_duplicates) {
    tn_model base, a, b, c;
    make_model(&base, 32, 1);
    clone(&a, &base);
    clone(&b, &base);
    clone(&c, &base);
    add_finetune(&a, &base, 77, 1, 0.05f);
    add_finetune(&b, &base, 77, 2, 0.05f);
    add_finetune(&c, &base, 77, 3, 0.2f);
    tn_check_rules r = rules();
    tn_check_result res;
    const tn_model *prior_m[2] = {&a, &b};
    tn_fingerprint *fp = prints(&base, prior_m, 2);
    CHECK(tn_check_models(&base, &c, fp, 2, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_FINE_TUNE, "%s: %s", tn_verdict_name(res.verdict), res.reason);
    CHECK(strstr(res.reason, "derived from the base") != NULL);
    CHECK(res.prov.min_cosine > 0.97 && res.prov.max_rel_distance < 0.21 && res.prov.max_rel_distance > 0.19);
    CHECK(res.prov.n_changed == res.prov.n_tensors);
    CHECK(res.duplicate_of == -1 && res.n_prior == 2);
    /* shared half of the energy: delta cosine 0.5, and the sketch estimates it */
    double exact = tn_delta_cosine(&base, &a, &c);
    CHECK_NEAR(exact, 0.5, 0, 0.1);
    CHECKF(fabs(res.similarity[0] - exact) < 0.15, "sketch %.3f vs exact %.3f", res.similarity[0], exact);
    CHECKF(strstr(res.reason, "independent delta") != NULL, "%s", res.reason); /* the evidence is named */
    tn_check_result_free(&res);
    free_prints(fp, 2);
    tn_model_free(&a);
    tn_model_free(&b);
    tn_model_free(&c);
    tn_model_free(&base);
}

TEST(copies_are_duplicates) {
    tn_model base, a, b, copy, noisy, scaled, loud;
    make_model(&base, 32, 1);
    clone(&a, &base);
    clone(&b, &base);
    add_finetune(&a, &base, 77, 1, 0.05f);
    add_finetune(&b, &base, 77, 2, 0.05f);
    clone(&copy, &a);
    clone(&noisy, &a);
    add_noise(&noisy, &base, 0.2f, 5);
    clone(&scaled, &base);
    for (size_t i = 0; i < base.numel; i++) scaled.w[i] += 0.7f * (a.w[i] - base.w[i]);
    clone(&loud, &a);
    add_noise(&loud, &base, 3.0f, 6); /* noise 3x the delta: no longer "the same run" by weights */
    const tn_model *prior_m[2] = {&b, &a};
    tn_fingerprint *fp = prints(&base, prior_m, 2);
    tn_check_rules r = rules();
    tn_check_result res;

    CHECK(tn_check_models(&base, &copy, fp, 2, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_DUPLICATE && res.exact_duplicate && res.duplicate_of == 1, "%s", res.reason);
    CHECK(strstr(res.reason, "identical weights to earlier submission #1") != NULL);
    tn_check_result_free(&res);

    CHECK(tn_check_models(&base, &noisy, fp, 2, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_DUPLICATE && !res.exact_duplicate && res.duplicate_of == 1, "%s", res.reason);
    CHECKF(strstr(res.reason, "near-duplicate of earlier submission #1") != NULL, "%s", res.reason);
    CHECK(res.max_sketch_similarity > 0.95);
    tn_check_result_free(&res);

    CHECK(tn_check_models(&base, &scaled, fp, 2, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_DUPLICATE && res.max_sketch_similarity > 0.999, "%s", res.reason);
    tn_check_result_free(&res);

    CHECK(tn_check_models(&base, &loud, fp, 2, &r, &res) == 0);
    /* the delta cosine sees little, the residual's flat spectrum gives it away */
    CHECKF(res.verdict == TN_VERDICT_DUPLICATE && res.max_sketch_similarity < 0.5 &&
               strstr(res.reason, "isotropic noise") != NULL,
           "%s", res.reason);
    tn_check_result_free(&res);

    /* sketches made with another k cannot be compared: an error, not a silent 0 */
    tn_fingerprint small;
    CHECK(tn_fingerprint_compute(&base, &b, 64, r.sketch_seed, &small) == 0);
    CHECK_ERR(tn_check_models(&base, &noisy, &small, 1, &r, &res), "k = 64");
    tn_fingerprint_free(&small);
    /* the earliest keeps its score: checked with no earlier submission, a is fine */
    CHECK(tn_check_models(&base, &a, NULL, 0, &r, &res) == 0);
    CHECK(res.verdict == TN_VERDICT_FINE_TUNE && res.most_similar == -1);
    tn_check_result_free(&res);
    free_prints(fp, 2);
    tn_model *all[] = {&a, &b, &copy, &noisy, &scaled, &loud, &base};
    for (int i = 0; i < 7; i++) tn_model_free(all[i]);
}

/* m rounded to bf16 (f16 = 0) or f16 in place, as a re-save in that type loads */
static void round_to(tn_model *m, int f16) {
    for (size_t i = 0; i < m->numel; i++)
        m->w[i] = f16 ? tn_f16_to_f32(tn_f32_to_f16(m->w[i])) : tn_bf16_to_f32(tn_f32_to_bf16(m->w[i]));
}

/* Re-saves in bf16 / f16: of a fine-tune, a duplicate by the rounded hash; of
 * the base, untouched. A base released in bf16 with light fine-tunes that
 * round back onto it: neither untouched nor duplicates of each other (the
 * rounded hash is then the base's and is not used). */
TEST(rounded_resaves) {
    tn_model base, a, b, a16, af, base16, light1, light2;
    make_model(&base, 32, 1);
    clone(&a, &base);
    clone(&b, &base);
    add_finetune(&a, &base, 77, 1, 0.05f);
    add_finetune(&b, &base, 77, 2, 0.05f);
    clone(&a16, &a);
    round_to(&a16, 0);
    clone(&af, &a);
    round_to(&af, 1);
    clone(&base16, &base);
    round_to(&base16, 0);
    const tn_model *prior_m[2] = {&b, &a};
    tn_fingerprint *fp = prints(&base, prior_m, 2);
    tn_check_rules r = rules();
    tn_check_result res;
    CHECK(tn_check_models(&base, &a16, fp, 2, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_DUPLICATE && res.exact_duplicate && res.exact_bf16 == 16 && res.duplicate_of == 1 &&
               strstr(res.reason, "after rounding to bf16"),
           "%s", res.reason);
    tn_check_result_free(&res);
    CHECK(tn_check_models(&base, &af, fp, 2, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_DUPLICATE && res.exact_bf16 == 1 && strstr(res.reason, "after rounding to f16"),
           "%s", res.reason);
    tn_check_result_free(&res);
    CHECK(tn_check_models(&base, &base16, fp, 2, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_UNTOUCHED_BASE && strstr(res.reason, "rounded to bf16"), "%s", res.reason);
    tn_check_result_free(&res);
    free_prints(fp, 2);
    /* base16 as a base released in bf16; two light fine-tunes saved in bf16
     * that differ from it in a few weights only */
    clone(&light1, &base16);
    clone(&light2, &base16);
    for (size_t i = 0; i < 40; i++) {
        light1.w[i * 97] = tn_bf16_to_f32((uint16_t)(tn_f32_to_bf16(light1.w[i * 97]) + 1));
        light2.w[i * 89 + 5] = tn_bf16_to_f32((uint16_t)(tn_f32_to_bf16(light2.w[i * 89 + 5]) + 1));
    }
    const tn_model *p1[1] = {&light1};
    fp = prints(&base16, p1, 1);
    CHECK(tn_check_models(&base16, &light2, fp, 1, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_FINE_TUNE, "%s", res.reason);
    tn_check_result_free(&res);
    free_prints(fp, 1);
    /* and a fine-tune whose every change vanishes in bf16 rounding of that base carries no bf16 hash */
    tn_fingerprint f;
    tn_model_free(&light1);
    clone(&light1, &base16);
    for (size_t i = 0; i < light1.numel; i++) light1.w[i] *= 1.0f + 1e-5f;
    CHECK(tn_fingerprint_compute(&base16, &light1, 256, 1, &f) == 0);
    CHECK(!(f.rounded & TN_FP_BF16));
    tn_fingerprint_free(&f);
    tn_model *all[] = {&base, &a, &b, &a16, &af, &base16, &light1, &light2};
    for (int i = 0; i < 8; i++) tn_model_free(all[i]);
}

TEST(other_network_and_untouched) {
    tn_model base, other, same, eps, far;
    make_model(&base, 32, 1);
    make_model(&other, 32, 2);
    clone(&same, &base);
    clone(&eps, &base);
    eps.w[5] = nextafterf(eps.w[5], 1.0f); /* one ulp: float noise, not training */
    clone(&far, &base);
    add_finetune(&far, &base, 1, 2, 1.2f); /* moved more than its own norm */
    tn_check_rules r = rules();
    tn_check_result res;

    CHECK(tn_check_models(&base, &other, NULL, 0, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_NOT_A_FINE_TUNE, "%s", res.reason);
    CHECK(strstr(res.reason, "not derived from the base") != NULL && strstr(res.reason, "cosine") != NULL);
    CHECK(fabs(res.prov.min_cosine) < 0.3);
    tn_check_result_free(&res);

    CHECK(tn_check_models(&base, &same, NULL, 0, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_UNTOUCHED_BASE, "%s", res.reason);
    CHECK(strstr(res.reason, "bit-identical") != NULL && res.prov.n_changed == 0);
    tn_check_result_free(&res);

    CHECK(tn_check_models(&base, &eps, NULL, 0, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_UNTOUCHED_BASE && res.prov.n_changed == 1, "%s", res.reason);
    CHECK(strstr(res.reason, "within") != NULL);
    tn_check_result_free(&res);

    CHECK(tn_check_models(&base, &far, NULL, 0, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_NOT_A_FINE_TUNE, "%s", res.reason);
    tn_check_result_free(&res);
    tn_model *all[] = {&base, &other, &same, &eps, &far};
    for (int i = 0; i < 5; i++) tn_model_free(all[i]);
}

TEST(architecture) {
    tn_model base, wide;
    make_model(&base, 32, 1);
    make_model(&wide, 16, 1);
    tn_check_rules r = rules();
    tn_check_result res;
    CHECK(tn_check_models(&base, &wide, NULL, 0, &r, &res) == 0);
    CHECK(res.verdict == TN_VERDICT_NOT_A_FINE_TUNE);
    CHECKF(!strcmp(res.reason, "architecture differs (hidden_size 32 vs 16)"), "%s", res.reason);
    tn_check_result_free(&res);
    char why[160];
    tn_config c = base.cfg;
    c.rope_theta = 500000;
    CHECK(tn_arch_differs(&base.cfg, &c, 1, why, sizeof why) == 1 && strstr(why, "rope_theta") != NULL);
    CHECK(tn_arch_differs(&base.cfg, &c, 0, why, sizeof why) == 0);
    c = base.cfg;
    c.n_kv_heads = 4;
    CHECK(tn_arch_differs(&base.cfg, &c, 0, why, sizeof why) == 1 && !strcmp(why, "num_key_value_heads 2 vs 4"));
    tn_model_free(&base);
    tn_model_free(&wide);
}

TEST(sketch_properties) {
    tn_model base, a;
    make_model(&base, 32, 1);
    clone(&a, &base);
    add_finetune(&a, &base, 3, 4, 0.1f);
    tn_fingerprint f1, f2, f3;
    CHECK(tn_fingerprint_compute(&base, &a, 256, 42, &f1) == 0);
    CHECK(tn_fingerprint_compute(&base, &a, 256, 42, &f2) == 0);
    CHECK(tn_fingerprint_compute(&base, &a, 256, 43, &f3) == 0);
    CHECK(memcmp(f1.sketch, f2.sketch, 256 * sizeof(float)) == 0); /* deterministic */
    CHECK(memcmp(f1.sha256, f3.sha256, 32) == 0);                   /* hash: weights only */
    CHECK(tn_sketch_similarity(&f1, &f3) < 0.5);                    /* another projection */
    /* ||S||^2 estimates ||D||^2 over the matrices (the buckets' weights, deltasketch.h) */
    double dd = 0, ss = 0;
    for (int t = 0; t < base.nparams; t++)
        if (base.params[t].ndim == 2)
            for (size_t i = base.params[t].offset; i < base.params[t].offset + base.params[t].numel; i++)
                dd += ((double)a.w[i] - base.w[i]) * ((double)a.w[i] - base.w[i]);
    for (int j = 0; j < f1.k; j++) ss += (double)f1.sketch[j] * f1.sketch[j];
    CHECK(f1.k == (int)tn_delta_sketch_len(&base, 256) && f1.block == 256);
    CHECK_NEAR(ss, dd, 0.3, 0);
    tn_fingerprint_free(&f2);
    CHECK_ERR(tn_fingerprint_compute(&base, &a, 100, 1, &f2), "multiple of 64");
    tn_fingerprint_free(&f1);
    tn_fingerprint_free(&f3);
    tn_check_rules r = rules();
    r.sketch_k = 100;
    CHECK_ERR(tn_check_rules_valid(&r), "sketch_k");
    r = rules();
    r.untouched_rel_eps = 2;
    CHECK_ERR(tn_check_rules_valid(&r), "untouched_rel_eps");
    tn_model_free(&a);
    tn_model_free(&base);
}

/* ---- directories, adapters, the CLI ---- */

static char g_dir[512];

static const char *sub_dir(const char *name) {
    static char buf[4][640];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static int run_cmd(const char *cmd, char **out) {
    char *o = tn_sprintf("%s/cmd.out", tn_t_tmpdir());
    char *full = tn_sprintf("%s >%s 2>&1", cmd, o);
    int st = system(full);
    *out = tn_read_file(o, NULL);
    if (!*out) *out = tn_strdup("");
    free(o);
    free(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(directories_and_adapters) {
    snprintf(g_dir, sizeof g_dir, "%s/ac", tn_t_tmpdir());
    tn_model base, ft, other, wide;
    make_model(&base, 32, 1);
    clone(&ft, &base);
    add_finetune(&ft, &base, 77, 1, 0.05f);
    make_model(&other, 32, 9);
    make_model(&wide, 16, 1);
    CHECK(tn_model_save(&base, sub_dir("base"), NULL) == 0);
    CHECK(tn_model_save(&ft, sub_dir("ft"), NULL) == 0);
    CHECK(tn_model_save(&base, sub_dir("untouched"), NULL) == 0);
    CHECK(tn_model_save(&other, sub_dir("other"), NULL) == 0);
    CHECK(tn_model_save(&wide, sub_dir("wide"), NULL) == 0);

    /* A LoRA adapter trained "on another model" (it names one) but fitting this base's shapes. */
    tn_model host;
    tn_lora lo;
    clone(&host, &base);
    const char **targets;
    int nt = tn_lora_default_targets(&host, &targets);
    CHECK(tn_lora_attach(&host, &lo, 4, 8.0f, 0.0f, targets, nt, 3) == 0);
    uint64_t s = 11;
    for (size_t i = 0; i < lo.numel; i++) lo.w[i] = 0.05f * gauss(&s); /* B != 0: a trained adapter */
    CHECK(tn_lora_save(&lo, &host, sub_dir("adapter"), "someone/another-base-7b") == 0);
    tn_lora_merge(&host, &lo);
    tn_lora_free(&lo);
    CHECK(tn_model_save(&host, sub_dir("merged"), NULL) == 0);
    tn_model_free(&host);

    tn_check_rules r = rules();
    tn_check_result res;
    char a_ft[640], a_merged[640];
    snprintf(a_ft, sizeof a_ft, "%s", sub_dir("ft"));
    snprintf(a_merged, sizeof a_merged, "%s", sub_dir("merged"));
    const char *against[2] = {a_ft, a_merged};
    CHECKF(tn_check(sub_dir("base"), sub_dir("adapter"), against, 1, &r, &res) == 0, "%s", tn_errmsg());
    CHECKF(res.verdict == TN_VERDICT_FINE_TUNE && res.is_adapter, "%s", res.reason);
    CHECK(res.prov.n_changed < res.prov.n_tensors); /* embeddings and norms untouched */
    tn_check_result_free(&res);
    /* the merged full model and the adapter are the same submission */
    CHECK(tn_check(sub_dir("base"), sub_dir("adapter"), against, 2, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_DUPLICATE && res.duplicate_of == 1, "%s", res.reason);
    CHECK(!strcmp(res.duplicate_dir, a_merged));
    CHECK(res.delta_cosine && res.delta_cosine[1] > 0.9999);
    tn_check_result_free(&res);
    CHECK(tn_check(sub_dir("base"), sub_dir("ft"), NULL, 0, &r, &res) == 0 && res.verdict == TN_VERDICT_FINE_TUNE);
    CHECK(!res.is_adapter);
    tn_check_result_free(&res);
    CHECK(tn_check(sub_dir("base"), sub_dir("untouched"), against, 1, &r, &res) == 0);
    CHECK(res.verdict == TN_VERDICT_UNTOUCHED_BASE);
    tn_check_result_free(&res);
    CHECK(tn_check(sub_dir("base"), sub_dir("other"), NULL, 0, &r, &res) == 0);
    CHECK(res.verdict == TN_VERDICT_NOT_A_FINE_TUNE);
    tn_check_result_free(&res);
    CHECK(tn_check(sub_dir("base"), sub_dir("wide"), against, 1, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_NOT_A_FINE_TUNE && strstr(res.reason, "hidden_size 32 vs 16"), "%s",
           res.reason);
    tn_check_result_free(&res);

    /* bad inputs: clear errors, no verdict */
    CHECK_ERR(tn_check(sub_dir("base"), sub_dir("missing"), NULL, 0, &r, &res), "missing: no such directory");
    CHECK_ERR(tn_check(sub_dir("nobase"), sub_dir("ft"), NULL, 0, &r, &res), "base");
    CHECK(tn_mkdir_p(sub_dir("empty")) == 0);
    CHECK_ERR(tn_check(sub_dir("base"), sub_dir("empty"), NULL, 0, &r, &res), "neither config.json");
    /* an adapter made for the wide model does not fit the base */
    clone(&host, &wide);
    nt = tn_lora_default_targets(&host, &targets);
    CHECK(tn_lora_attach(&host, &lo, 4, 8.0f, 0.0f, targets, nt, 3) == 0);
    CHECK(tn_lora_save(&lo, &host, sub_dir("wide_adapter"), "x") == 0);
    tn_lora_free(&lo);
    tn_model_free(&host);
    CHECK_ERR(tn_check(sub_dir("base"), sub_dir("wide_adapter"), NULL, 0, &r, &res), "does not apply to the requested base");
    /* NaN weights */
    tn_model nan_m;
    clone(&nan_m, &ft);
    nan_m.w[nan_m.numel / 2] = NAN;
    CHECK(tn_model_save(&nan_m, sub_dir("nan"), NULL) == 0);
    tn_model_free(&nan_m);
    CHECK_ERR(tn_check(sub_dir("base"), sub_dir("nan"), NULL, 0, &r, &res), "NaN");
    char a_nan[640];
    snprintf(a_nan, sizeof a_nan, "%s", sub_dir("nan"));
    const char *bad_against[1] = {a_nan};
    CHECK_ERR(tn_check(sub_dir("base"), sub_dir("ft"), bad_against, 1, &r, &res), "against");

    tn_model_free(&base);
    tn_model_free(&ft);
    tn_model_free(&other);
    tn_model_free(&wide);
}

TEST(cli) {
    if (!g_dir[0] || !tn_dir_exists(sub_dir("adapter"))) SKIP("directories_and_adapters did not run");
    if (access(tn_t_tuna(), X_OK) != 0) SKIP("%s not built", tn_t_tuna());
    char *out, *cmd;
    cmd = tn_sprintf("%s check --base %s --submission %s --against %s --against %s --json", tn_t_tuna(),
                     sub_dir("base"), sub_dir("adapter"), sub_dir("ft"), sub_dir("merged"));
    CHECK(run_cmd(cmd, &out) == 0);
    json_t *j = tn_json_loadb(out, strlen(out), "tuna check output");
    CHECKF(j != NULL, "%s", out);
    if (j) {
        CHECK(!strcmp(json_string_value(json_object_get(j, "verdict")), "duplicate"));
        CHECK(!strcmp(json_string_value(json_object_get(j, "duplicate_of")), sub_dir("merged")));
        CHECK(json_is_true(json_object_get(j, "is_adapter")));
        const char *keys[] = {"reason", "min_cosine", "max_rel_distance", "median_rel_distance",
                              "max_sketch_similarity", "sha256", "sketch_similarities", "delta_cosines"};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
            CHECKF(json_object_get(j, keys[i]) != NULL, "missing %s", keys[i]);
        CHECK(json_array_size(json_object_get(j, "sketch_similarities")) == 2);
        CHECK(json_real_value(json_object_get(j, "max_sketch_similarity")) > 0.999);
        json_decref(j);
    }
    free(out);
    free(cmd);
    cmd = tn_sprintf("%s check --base %s --submission %s --json --sketch", tn_t_tuna(), sub_dir("base"), sub_dir("other"));
    CHECK(run_cmd(cmd, &out) == 0); /* a verdict is not an error */
    j = tn_json_loadb(out, strlen(out), "tuna check output");
    if (j) {
        CHECK(!strcmp(json_string_value(json_object_get(j, "verdict")), "not-a-fine-tune"));
        CHECK(json_array_size(json_object_get(j, "sketch")) % (size_t)rules().sketch_k == 0);
        CHECK(json_is_null(json_object_get(j, "duplicate_of")));
        json_decref(j);
    }
    free(out);
    free(cmd);
    cmd = tn_sprintf("%s check --base %s --submission %s", tn_t_tuna(), sub_dir("base"), sub_dir("untouched"));
    CHECK(run_cmd(cmd, &out) == 0);
    CHECKF(strncmp(out, "untouched-base: ", 16) == 0, "%s", out);
    free(out);
    free(cmd);
    cmd = tn_sprintf("%s check --base %s --submission %s", tn_t_tuna(), sub_dir("base"), sub_dir("missing"));
    CHECK(run_cmd(cmd, &out) == 1);
    CHECKF(strstr(out, "tuna check: submission: ") && strstr(out, "no such directory"), "%s", out);
    free(out);
    free(cmd);
    cmd = tn_sprintf("%s check --base %s", tn_t_tuna(), sub_dir("base"));
    CHECK(run_cmd(cmd, &out) == 2);
    free(out);
    free(cmd);
    cmd = tn_sprintf("%s check --base %s --submission %s --dup-max-residual 1.5", tn_t_tuna(), sub_dir("base"),
                     sub_dir("ft"));
    CHECK(run_cmd(cmd, &out) == 2);
    CHECK(strstr(out, "dup_max_residual") != NULL);
    free(out);
    free(cmd);
}

/* The contract external checks rely on (issue 14): `tuna check --base B
 * --submission S [--against A]... --json` exits 0 with one JSON object
 * holding "verdict", one of the four names, and a non-empty "reason", for
 * every verdict; the duplicate rule's numbers are in "evidence". */
TEST(cli_json_contract) {
    if (!g_dir[0] || !tn_dir_exists(sub_dir("adapter"))) SKIP("directories_and_adapters did not run");
    if (access(tn_t_tuna(), X_OK) != 0) SKIP("%s not built", tn_t_tuna());
    static const char *names[] = {"fine-tune", "not-a-fine-tune", "untouched-base", "duplicate"};
    const struct {
        const char *sub, *against, *verdict;
    } cases[] = {{"ft", "", "fine-tune"},
                 {"other", "", "not-a-fine-tune"},
                 {"wide", "ft", "not-a-fine-tune"},
                 {"untouched", "ft", "untouched-base"},
                 {"adapter", "merged", "duplicate"},
                 {"ft", "ft", "duplicate"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *against = cases[i].against[0] ? tn_sprintf("--against %s", sub_dir(cases[i].against)) : tn_strdup("");
        char *cmd = tn_sprintf("%s check --base %s --submission %s %s --json", tn_t_tuna(), sub_dir("base"),
                               sub_dir(cases[i].sub), against),
             *out;
        CHECKF(run_cmd(cmd, &out) == 0, "%s: %s", cmd, out);
        json_t *j = tn_json_loadb(out, strlen(out), "tuna check --json");
        CHECKF(json_is_object(j), "%s: %s", cmd, out);
        const char *v = json_string_value(json_object_get(j, "verdict")),
                   *why = json_string_value(json_object_get(j, "reason"));
        int known = 0;
        for (size_t k = 0; v && k < 4; k++) known |= !strcmp(v, names[k]);
        CHECKF(known && !strcmp(v, cases[i].verdict), "%s: verdict %s, expected %s", cmd, v ? v : "(none)",
               cases[i].verdict);
        CHECKF(why && why[0], "%s: no reason", cmd);
        if (json_is_null(json_object_get(j, "architecture_differs"))) /* else nothing was compared */
            CHECKF(json_is_string(json_object_get(j, "evidence")), "%s: no evidence", cmd);
        json_decref(j);
        free(out);
        free(cmd);
        free(against);
    }
}

/* ---- real fine-tunes of stories260K ---- */

TEST(real_stories260k) {
    const char *data = tn_t_shared_data();
    if (!data) SKIP("../shared/data not found");
    if (access(tn_t_tuna(), X_OK) != 0) SKIP("%s not built", tn_t_tuna());
    char *d = tn_sprintf("%s/real", tn_t_tmpdir()), *out, *cmd;
    cmd = tn_sprintf("%s convert --from llama2c --tokenizer %s/models/stories260K/tok512.bin --out %s/base "
                     "%s/models/stories260K/stories260K.bin",
                     tn_t_tuna(), data, d, data);
    int rc = run_cmd(cmd, &out);
    free(cmd);
    if (rc != 0) {
        free(out);
        free(d);
        SKIP("stories260K conversion failed");
    }
    free(out);
    /* Two independent short runs (different seeds) and one LoRA run: one
     * thread each, the model is tiny and threads only contend. */
    const char *runs[3][2] = {{"ft1", "--seed 1"}, {"ft2", "--seed 2"}, {"lora", "--seed 3 --lora --lr 5e-3"}};
    for (int i = 0; i < 3; i++) {
        cmd = tn_sprintf("OMP_NUM_THREADS=1 %s train --model %s/base --data %s/datasets/alpaca_en_demo.json "
                         "--out %s/%s --max-steps 20 --batch 2 --seq-len 64 --lr 1e-3 --quiet %s",
                         tn_t_tuna(), d, data, d, runs[i][0], runs[i][1]);
        CHECKF(run_cmd(cmd, &out) == 0, "%s", out);
        free(out);
        free(cmd);
    }
    char *base = tn_sprintf("%s/base", d), *ft1 = tn_sprintf("%s/ft1", d), *ft2 = tn_sprintf("%s/ft2", d),
         *lora = tn_sprintf("%s/lora", d);
    tn_check_rules r = rules();
    tn_check_result res;
    const char *against[2] = {ft1, lora};
    CHECKF(tn_check(base, ft2, against, 2, &r, &res) == 0, "%s", tn_errmsg());
    CHECKF(res.verdict == TN_VERDICT_FINE_TUNE, "%s", res.reason);
    CHECK(res.prov.min_cosine > 0.95);
    tn_check_result_free(&res);
    CHECK(tn_check(base, lora, against, 1, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_FINE_TUNE && res.is_adapter, "%s", res.reason);
    tn_check_result_free(&res);
    CHECK(tn_check(base, ft1, against + 1, 1, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_FINE_TUNE, "%s", res.reason);
    tn_check_result_free(&res);
    /* --data: function-space evidence, reported beside the same verdict; its
     * losses are what tuna eval gives for the same rows */
    char *fsd = tn_sprintf("--data %s/datasets/alpaca_en_demo.json --seq-len 64 --batch 16", data);
    cmd = tn_sprintf("OMP_NUM_THREADS=1 %s check --base %s --submission %s --against %s --against %s %s --json",
                     tn_t_tuna(), base, ft2, ft1, lora, fsd);
    CHECK(run_cmd(cmd, &out) == 0);
    json_t *j = tn_json_loadb(out, strlen(out), "tuna check --data");
    json_t *fs = json_object_get(j, "function_space");
    CHECKF(j && !strcmp(json_string_value(json_object_get(j, "verdict")), "fine-tune") && json_is_object(fs), "%s",
           out);
    free(out);
    free(cmd);
    cmd = tn_sprintf("OMP_NUM_THREADS=1 %s eval --model %s %s --json", tn_t_tuna(), ft2, fsd);
    CHECK(run_cmd(cmd, &out) == 0);
    json_t *ev = tn_json_loadb(out, strlen(out), "tuna eval");
    if (fs && ev) {
        CHECK_NEAR(json_real_value(json_object_get(fs, "loss")), json_real_value(json_object_get(ev, "loss")), 1e-6, 0);
        CHECK(json_integer_value(json_object_get(fs, "rows")) == json_integer_value(json_object_get(ev, "rows")));
        CHECK(json_real_value(json_object_get(fs, "base_loss")) > json_real_value(json_object_get(fs, "loss")));
        json_t *ag = json_object_get(fs, "against");
        CHECK(json_array_size(ag) == 2);
        for (size_t i = 0; i < json_array_size(ag); i++) {
            double c = json_real_value(json_object_get(json_array_get(ag, i), "gain_correlation"));
            CHECKF(c > 0 && c <= 1, "gain correlation %g", c); /* same data: the gains agree */
        }
    }
    json_decref(ev);
    json_decref(j);
    free(out);
    free(cmd);
    free(fsd);
    /* cheats on the real model: copy + noise, the base, a random network */
    tn_model bm, noisy, rnd;
    CHECK(tn_model_load(&bm, base, 1) == 0);
    int ad;
    CHECK(tn_load_submission(&bm, ft1, &noisy, &ad) == 0);
    add_noise(&noisy, &bm, 0.3f, 17);
    char *noisy_dir = tn_sprintf("%s/noisy", d), *rnd_dir = tn_sprintf("%s/random", d);
    CHECK(tn_model_save(&noisy, noisy_dir, base) == 0);
    clone(&rnd, &bm);
    tn_model_init_random(&rnd, 5);
    CHECK(tn_model_save(&rnd, rnd_dir, base) == 0);
    const char *against3[3] = {ft2, lora, ft1};
    CHECK(tn_check(base, noisy_dir, against3, 3, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_DUPLICATE && res.duplicate_of == 2, "%s", res.reason);
    tn_check_result_free(&res);
    CHECK(tn_check(base, rnd_dir, NULL, 0, &r, &res) == 0);
    CHECKF(res.verdict == TN_VERDICT_NOT_A_FINE_TUNE, "%s", res.reason);
    tn_check_result_free(&res);
    CHECK(tn_check(base, base, NULL, 0, &r, &res) == 0);
    CHECK(res.verdict == TN_VERDICT_UNTOUCHED_BASE);
    tn_check_result_free(&res);
    /* re-saves and LoRA disguises, written by numpy (tools/dup_cheats.py) from
     * the real files: a bf16 safetensors of ft1; the LoRA adapter re-mixed
     * (A' = M A, B' = B M^-1: other factors, the same merged delta); that
     * adapter merged into full weights; the re-mixed one merged */
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        fprintf(stderr, "  (no numpy under /usr/bin/python3: re-saves and LoRA re-mixes not tried)\n");
    } else {
        const char *mk[6][2] = {{"bf16", "bf16 %s/ft1 %s/bf16"},
                                {"remix", "remix %s/lora %s/remix 5"},
                                {"f16", "f16 %s/ft1 %s/f16"},
                                {"base_bf16", "bf16 %s/base %s/base_bf16"},
                                {"merged", "merge %s/base %s/lora %s/merged"},
                                {"remix_merged", "merge %s/base %s/remix %s/remix_merged"}};
        for (int i = 0; i < 6; i++) {
            char *args = i < 4 ? tn_sprintf(mk[i][1], d, d) : tn_sprintf(mk[i][1], d, d, d);
            cmd = tn_sprintf("/usr/bin/python3 tools/dup_cheats.py %s", args);
            CHECKF(run_cmd(cmd, &out) == 0, "%s: %s", cmd, out);
            free(out);
            free(cmd);
            free(args);
        }
        const char *against4[4] = {ft2, ft1, lora, noisy_dir};
        char *bf = tn_sprintf("%s/bf16", d);
        CHECK(tn_check(base, bf, against4, 4, &r, &res) == 0);
        CHECKF(res.verdict == TN_VERDICT_DUPLICATE && res.exact_duplicate && res.exact_bf16 && res.duplicate_of == 1,
               "%s", res.reason);
        CHECK(strstr(res.reason, "after rounding to bf16") != NULL);
        tn_check_result_free(&res);
        char *f16 = tn_sprintf("%s/f16", d), *b16 = tn_sprintf("%s/base_bf16", d);
        CHECK(tn_check(base, f16, against4, 4, &r, &res) == 0);
        CHECKF(res.verdict == TN_VERDICT_DUPLICATE && res.exact_bf16 == 1 && res.duplicate_of == 1, "%s", res.reason);
        tn_check_result_free(&res);
        CHECK(tn_check(base, b16, against4, 4, &r, &res) == 0);
        CHECKF(res.verdict == TN_VERDICT_UNTOUCHED_BASE && strstr(res.reason, "re-saved"), "%s", res.reason);
        tn_check_result_free(&res);
        free(f16);
        free(b16);
        const char *lor[3] = {"remix", "merged", "remix_merged"};
        for (int i = 0; i < 3; i++) {
            char *dir = tn_sprintf("%s/%s", d, lor[i]);
            CHECK(tn_check(base, dir, against4, 3, &r, &res) == 0);
            CHECKF(res.verdict == TN_VERDICT_DUPLICATE && !res.exact_duplicate && res.duplicate_of == 2 &&
                       strstr(res.reason, "the same delta x 1 (residual") != NULL,
                   "%s: %s", lor[i], res.reason);
            CHECK(res.pairs && res.pairs[2].residual < 1e-4); /* float rounding only */
            tn_check_result_free(&res);
            free(dir);
        }
        /* and the honest runs against all of those: none of them a copy */
        const char *all[7] = {ft1, lora, noisy_dir, bf, NULL, NULL, NULL};
        char *rm = tn_sprintf("%s/remix", d), *mg = tn_sprintf("%s/merged", d);
        all[4] = rm;
        all[5] = mg;
        CHECK(tn_check(base, ft2, all, 6, &r, &res) == 0);
        CHECKF(res.verdict == TN_VERDICT_FINE_TUNE, "%s", res.reason);
        tn_check_result_free(&res);
        free(rm);
        free(mg);
        free(bf);
    }
    tn_model_free(&bm);
    tn_model_free(&noisy);
    tn_model_free(&rnd);
    free(noisy_dir);
    free(rnd_dir);
    free(base);
    free(ft1);
    free(ft2);
    free(lora);
    free(d);
}

int main(void) {
    RUN(fine_tunes_pass_and_are_not_duplicates);
    RUN(copies_are_duplicates);
    RUN(rounded_resaves);
    RUN(other_network_and_untouched);
    RUN(architecture);
    RUN(sketch_properties);
    RUN(directories_and_adapters);
    RUN(cli);
    RUN(cli_json_contract);
    RUN(real_stories260k);
    return tn_test_summary("anticheat");
}
