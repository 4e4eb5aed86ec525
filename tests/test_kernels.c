/* test_kernels.c - single kernels against PyTorch at shapes the model tests
 * do not reach.
 *
 * tools/kernels_ref.py computes, in float64 from float32 inputs:
 *  - causal attention with GQA and sliding windows over 64..200 positions, so
 *    that src/nn/attention.c runs several 64-row tiles, skips blocks above the
 *    diagonal and cuts windows across tile edges (the model fixtures use T = 9,
 *    a single partial tile);
 *  - the classifier fused with HF's causal-LM cross-entropy
 *    (tn_head_xent), whose row chunks must add up to the loss
 *    and gradients of the whole batch.
 * The attention inputs are laid out as one fused q|k|v row per token, as the
 * model stores them, so the strided addressing is exercised too.
 */
#include "harness.h"
#include "base/err.h"
#include "base/mem.h"
#include "io/safetensors.h"
#include "nn/nn.h"

#include <omp.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *fixtures(void) {
    const char *f = getenv("FIXTURES");
    return f ? f : "build/fixtures";
}

/* Opens FIXTURES/kernels/<file>; when it is missing, marks the test skipped
 * and returns 0 (the caller returns). */
static int open_fixture(tn_st_file *f, const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/kernels/%s", fixtures(), file);
    if (tn_st_open(f, path) == 0) return 1;
    fprintf(stderr, "  %s: %s (run make fixtures)\n", file, tn_errmsg());
    tn_t_skipped = 1;
    snprintf(tn_t_skip_reason, sizeof tn_t_skip_reason, "kernel fixtures missing (make fixtures)");
    return 0;
}

static int meta_int(const tn_st_file *f, const char *key) {
    json_t *v = f->metadata ? json_object_get(f->metadata, key) : NULL;
    return v && json_is_string(v) ? atoi(json_string_value(v)) : -1;
}

static float *read_tensor(const tn_st_file *f, const char *name, size_t *n) {
    const tn_st_tensor *t = tn_st_find(f, name);
    if (!t) return NULL;
    float *x = tn_malloc(sizeof(float) * t->numel);
    if (tn_st_read_f32(t, x, t->numel, 1)) {
        free(x);
        return NULL;
    }
    if (n) *n = t->numel;
    return x;
}

/* Copies a [rows, w] block into (or out of) column `col` of a [rows, stride] buffer. */
static void scatter(float *dst, int stride, int col, const float *src, size_t rows, int w) {
    for (size_t r = 0; r < rows; r++) memcpy(dst + r * stride + col, src + r * w, sizeof(float) * w);
}
static void gather(float *dst, const float *src, int stride, int col, size_t rows, int w) {
    for (size_t r = 0; r < rows; r++) memcpy(dst + r * w, src + r * stride + col, sizeof(float) * w);
}

static void attention_case(const char *file) {
    tn_st_file f;
    if (!open_fixture(&f, file)) return;
    const int B = meta_int(&f, "B"), T = meta_int(&f, "T"), H = meta_int(&f, "H"), KV = meta_int(&f, "KV"),
              hd = meta_int(&f, "hd"), window = meta_int(&f, "window");
    CHECK(B > 0 && T > 0 && H > 0 && KV > 0 && hd > 0 && window >= 0);
    const size_t N = (size_t)B * T;
    const int qd = H * hd, kvd = KV * hd, w = qd + 2 * kvd;
    float *q = read_tensor(&f, "q", NULL), *k = read_tensor(&f, "k", NULL), *v = read_tensor(&f, "v", NULL);
    float *dout = read_tensor(&f, "dout", NULL), *want_out = read_tensor(&f, "out", NULL);
    float *want_dq = read_tensor(&f, "dq", NULL), *want_dk = read_tensor(&f, "dk", NULL);
    float *want_dv = read_tensor(&f, "dv", NULL);
    CHECK(q && k && v && dout && want_out && want_dq && want_dk && want_dv);
    if (q && k && v && dout && want_out && want_dq && want_dk && want_dv) {
        /* one fused row per token: q | k | v, as the model's qkv buffer */
        float *qkv = tn_malloc(sizeof(float) * N * w), *dqkv = tn_malloc(sizeof(float) * N * w);
        float *out = tn_malloc(sizeof(float) * N * qd), *lse = tn_malloc(sizeof(float) * (size_t)B * H * T);
        float *got = tn_malloc(sizeof(float) * N * qd);
        scatter(qkv, w, 0, q, N, qd);
        scatter(qkv, w, qd, k, N, kvd);
        scatter(qkv, w, qd + kvd, v, N, kvd);
        for (size_t i = 0; i < N * w; i++) dqkv[i] = NAN; /* every element must be written */
        tn_attn_shape s = {B, T, H, KV, hd, w, w, w, window};
        int nt = omp_get_max_threads();
        tn_scratch sc = {tn_try_alloc_floats(tn_attention_scratch(T, nt, 1), "attention scratch"), nt};
        CHECK(sc.p != NULL);
        tn_attention_forward(out, lse, qkv, qkv + qd, qkv + qd + kvd, &s, sc);
        char what[160];
        snprintf(what, sizeof what, "%s out", file);
        CHECK(tn_t_allclose(what, out, want_out, N * qd, 1e-5));
        tn_attention_backward(dqkv, dqkv + qd, dqkv + qd + kvd, dout, out, lse, qkv, qkv + qd, qkv + qd + kvd, &s, sc);
        tn_free_aligned(sc.p);
        gather(got, dqkv, w, 0, N, qd);
        snprintf(what, sizeof what, "%s dq", file);
        CHECK(tn_t_allclose(what, got, want_dq, N * qd, 1e-5));
        gather(got, dqkv, w, qd, N, kvd);
        snprintf(what, sizeof what, "%s dk", file);
        CHECK(tn_t_allclose(what, got, want_dk, N * kvd, 1e-5));
        gather(got, dqkv, w, qd + kvd, N, kvd);
        snprintf(what, sizeof what, "%s dv", file);
        CHECK(tn_t_allclose(what, got, want_dv, N * kvd, 1e-5));
        free(qkv);
        free(dqkv);
        free(out);
        free(lse);
        free(got);
    }
    free(q);
    free(k);
    free(v);
    free(dout);
    free(want_out);
    free(want_dq);
    free(want_dk);
    free(want_dv);
    tn_st_close(&f);
}

TEST(attention_gqa_several_tiles) { attention_case("attention_gqa_t150.safetensors"); }
TEST(attention_window_across_tiles) { attention_case("attention_window_t200.safetensors"); }
TEST(attention_exactly_one_tile) { attention_case("attention_one_tile_t64.safetensors"); }
TEST(attention_mha_one_row_past_two_tiles) { attention_case("attention_mha_t129.safetensors"); }
TEST(attention_small_window) { attention_case("attention_window_small_t100.safetensors"); }

/* The fused classifier + loss at several chunk sizes: 7 rows (many chunks,
 * the last one partial), 64, and all rows at once. */
static void head_xent_case(const char *file) {
    tn_st_file f;
    if (!open_fixture(&f, file)) return;
    const int B = meta_int(&f, "B"), T = meta_int(&f, "T"), D = meta_int(&f, "D"), V = meta_int(&f, "V");
    const int N = B * T;
    const tn_st_tensor *lt = tn_st_find(&f, "labels");
    size_t nl = lt && lt->dtype == TN_DT_I32 ? lt->numel : 0;
    float *x = read_tensor(&f, "x", NULL), *w = read_tensor(&f, "w", NULL);
    float *want_loss = read_tensor(&f, "loss", NULL), *want_dx = read_tensor(&f, "dx", NULL);
    float *want_dw = read_tensor(&f, "dw", NULL), *want_pos = read_tensor(&f, "pos_loss", NULL);
    CHECK(x && w && want_loss && want_dx && want_dw && want_pos && nl == (size_t)N);
    if (x && w && want_loss && want_dx && want_dw && want_pos && nl == (size_t)N) {
        int32_t *labels = tn_malloc(sizeof(int32_t) * N), *targets = tn_malloc(sizeof(int32_t) * N);
        memcpy(labels, lt->data, sizeof(int32_t) * N);
        int64_t scored = tn_causal_targets(targets, labels, B, T), count = -1;
        float *dw = tn_malloc(sizeof(float) * (size_t)V * D), *dx = tn_malloc(sizeof(float) * (size_t)N * D);
        tn_linear head = {.w = w, .dw = dw, .in = D, .out = V};
        const int chunks[] = {7, 64, N};
        for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
            float *scratch = tn_malloc(sizeof(float) * tn_head_xent_scratch(chunks[c], D, V));
            memset(dw, 0, sizeof(float) * (size_t)V * D);
            for (size_t i = 0; i < (size_t)N * D; i++) dx[i] = NAN; /* must be written, zero rows too */
            double loss = tn_head_xent(&head, x, targets, N, dx, scratch, chunks[c], &count, NULL);
            char what[160];
            snprintf(what, sizeof what, "%s chunk %d loss", file, chunks[c]);
            float l = (float)loss;
            CHECK(tn_t_allclose(what, &l, want_loss, 1, 1e-5));
            CHECK(count == scored);
            snprintf(what, sizeof what, "%s chunk %d dx", file, chunks[c]);
            CHECK(tn_t_allclose(what, dx, want_dx, (size_t)N * D, 1e-5));
            snprintf(what, sizeof what, "%s chunk %d dw", file, chunks[c]);
            CHECK(tn_t_allclose(what, dw, want_dw, (size_t)V * D, 1e-5));
            /* evaluation (vocabulary slices, online logsumexp): the same loss
             * up to rounding, against PyTorch and against the training path */
            memset(dw, 0, sizeof(float) * (size_t)V * D);
            head.dw = NULL;
            double *pos = tn_malloc(sizeof(double) * N);
            float *posf = tn_malloc(sizeof(float) * N);
            double eval = tn_head_xent(&head, x, targets, N, NULL, scratch, chunks[c], NULL, NULL);
            snprintf(what, sizeof what, "%s chunk %d eval loss", file, chunks[c]);
            float le = (float)eval;
            CHECK(tn_t_allclose(what, &le, want_loss, 1, 1e-5));
            CHECK_NEAR(eval, loss, 1e-6, 0);
            /* each position's own loss, on the evaluation path and on the
             * general one (a bias forces it), against PyTorch's reduction="none" */
            for (int pass = 0; pass < 2; pass++) {
                float *zero_b = pass ? tn_calloc((size_t)V, sizeof(float)) : NULL;
                head.b = zero_b;
                for (int i = 0; i < N; i++) pos[i] = NAN;
                tn_head_xent(&head, x, targets, N, NULL, scratch, chunks[c], NULL, pos);
                for (int i = 0; i < N; i++) posf[i] = (float)pos[i];
                snprintf(what, sizeof what, "%s chunk %d %s per-position loss", file, chunks[c],
                         pass ? "general" : "eval");
                CHECK(tn_t_allclose(what, posf, want_pos, (size_t)N, 1e-5));
                head.b = NULL;
                free(zero_b);
            }
            head.dw = dw;
            free(pos);
            free(posf);
            free(scratch);
        }
        free(labels);
        free(targets);
        free(dw);
        free(dx);
    }
    free(x);
    free(w);
    free(want_loss);
    free(want_dx);
    free(want_dw);
    free(want_pos);
    tn_st_close(&f);
}

TEST(head_xent_ignored_labels) { head_xent_case("head_xent_v1000.safetensors"); }
TEST(head_xent_odd_vocab_long_rows) { head_xent_case("head_xent_v3001_t300.safetensors"); }

TEST(head_xent_nothing_scored) {
    enum { N = 5, D = 4, V = 9 };
    float x[N * D], w[V * D], dw[V * D], dx[N * D];
    for (int i = 0; i < N * D; i++) x[i] = (float)i;
    for (int i = 0; i < V * D; i++) w[i] = 0.1f * (float)i;
    memset(dw, 0, sizeof dw);
    for (int i = 0; i < N * D; i++) dx[i] = NAN;
    int32_t targets[N] = {-100, -100, -100, -100, -100};
    float scratch[64 * (V + 2 * D + 2)];
    CHECK(tn_head_xent_scratch(64, D, V) <= sizeof scratch / sizeof *scratch);
    tn_linear head = {.w = w, .dw = dw, .in = D, .out = V};
    int64_t count = -1;
    CHECK(tn_head_xent(&head, x, targets, N, dx, scratch, 64, &count, NULL) == 0.0);
    CHECK(count == 0);
    for (int i = 0; i < N * D; i++) CHECK(dx[i] == 0.0f);
    for (int i = 0; i < V * D; i++) CHECK(dw[i] == 0.0f);
}

int main(void) {
    RUN(attention_gqa_several_tiles);
    RUN(attention_window_across_tiles);
    RUN(attention_exactly_one_tile);
    RUN(attention_mha_one_row_past_two_tiles);
    RUN(attention_small_window);
    RUN(head_xent_ignored_labels);
    RUN(head_xent_odd_vocab_long_rows);
    RUN(head_xent_nothing_scored);
    return tn_test_summary("kernels");
}
