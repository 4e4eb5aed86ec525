/* test_kernels.c - single kernels against PyTorch at shapes the model tests
 * do not reach.
 *
 * tools/kernels_ref.py computes, in float64 from float32 inputs:
 *  - causal attention with GQA and sliding windows over 64..200 positions, so
 *    that src/nn/attention.c runs several 64-row tiles, skips blocks above the
 *    diagonal and cuts windows across tile edges (the model fixtures use T = 9,
 *    a single partial tile);
 *  - the classifier fused with HF's causal-LM cross-entropy
 *    (tn_head_xent_forward_backward), whose row chunks must add up to the loss
 *    and gradients of the whole batch.
 * The attention inputs are laid out as one fused q|k|v row per token, as the
 * model stores them, so the strided addressing is exercised too.
 */
#include "harness.h"
#include "base/err.h"
#include "base/mem.h"
#include "io/safetensors.h"
#include "nn/nn.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *fixtures(void) {
    const char *f = getenv("FIXTURES");
    return f ? f : "build/fixtures";
}

/* Opens FIXTURES/kernels/<file>; 0 when missing (the caller skips). */
static int open_fixture(tn_st_file *f, const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/kernels/%s", fixtures(), file);
    return tn_st_open(f, path) == 0;
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
    if (!open_fixture(&f, file)) {
        fprintf(stderr, "  %s: %s (run make fixtures)\n", file, tn_errmsg());
        tn_t_skipped = 1;
        snprintf(tn_t_skip_reason, sizeof tn_t_skip_reason, "kernel fixtures missing (make fixtures)");
        return;
    }
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
        tn_attention_forward(out, lse, qkv, qkv + qd, qkv + qd + kvd, &s);
        char what[160];
        snprintf(what, sizeof what, "%s out", file);
        CHECK(tn_t_allclose(what, out, want_out, N * qd, 1e-5));
        tn_attention_backward(dqkv, dqkv + qd, dqkv + qd + kvd, dout, out, lse, qkv, qkv + qd, qkv + qd + kvd, &s);
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

int main(void) {
    RUN(attention_gqa_several_tiles);
    RUN(attention_window_across_tiles);
    RUN(attention_exactly_one_tile);
    RUN(attention_mha_one_row_past_two_tiles);
    RUN(attention_small_window);
    return tn_test_summary("kernels");
}
