/* test_llama2c.c - the real stories260K model, imported with `tuna convert`,
 * against tools/llama2c_ref.py: a PyTorch reader of the original llama2.c file
 * written from llama2.c's published format (interleaved RoPE and all). Equal
 * logits at every position of several prompts prove the q/k permutation, the
 * weight order and the RoPE convention together. Also the importer's
 * bad-input errors. */
#include "harness.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "model/llama2c.h"
#include "io/safetensors.h"
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

static const char *fixtures(void) {
    const char *f = getenv("FIXTURES");
    return f ? f : "build/fixtures";
}

TEST(stories260k_logits_match_pytorch) {
    const char *data = tn_t_shared_data();
    if (!data) SKIP("../shared/data is missing (set TUNA_SHARED_DATA)");
    char *ref_path = tn_sprintf("%s/llama2c/ref.safetensors", fixtures());
    if (!tn_file_exists(ref_path)) {
        free(ref_path);
        SKIP("no %s/llama2c fixtures (run `make fixtures`; needs /usr/bin/python3 with torch)", fixtures());
    }
    char *out = tn_sprintf("%s/stories260K", tn_t_tmpdir());
    char *cmd = tn_sprintf("%s convert --from llama2c --tokenizer %s/models/stories260K/tok512.bin --out %s "
                           "%s/models/stories260K/stories260K.bin 2>&1",
                           tn_t_tuna(), data, out, data);
    CHECKF(system(cmd) == 0, "%s failed", cmd);
    tn_model m;
    tn_st_file ref;
    CHECKF(tn_model_load(&m, out, 1) == 0, "%s", tn_errmsg());
    CHECKF(tn_st_open(&ref, ref_path) == 0, "%s", tn_errmsg());
    if (!tn_t_failed_checks) {
        CHECK(m.cfg.vocab_size == 512 && m.cfg.n_layers == 5 && m.cfg.n_kv_heads == 4 && m.cfg.tie_embeddings);
        int prompts = 0;
        for (int i = 0;; i++) {
            char pn[32], ln[32];
            snprintf(pn, sizeof pn, "prompt.%d", i);
            snprintf(ln, sizeof ln, "logits.%d", i);
            const tn_st_tensor *p = tn_st_find(&ref, pn), *l = tn_st_find(&ref, ln);
            if (!p || !l) break;
            int T = (int)p->numel;
            int32_t *ids = tn_malloc(sizeof(int32_t) * (size_t)T);
            memcpy(ids, p->data, sizeof(int32_t) * (size_t)T);
            float *want = tn_malloc(sizeof(float) * l->numel);
            CHECK(tn_st_read_f32(l, want, l->numel, 1) == 0);
            CHECKF(tn_model_forward(&m, ids, NULL, 1, T, NULL) == 0, "%s", tn_errmsg());
            CHECK(l->numel == (size_t)T * 512);
            if (l->numel == (size_t)T * 512) CHECK(tn_t_allclose(ln, m.acts.logits, want, l->numel, 2e-5));
            free(ids);
            free(want);
            prompts++;
        }
        CHECKF(prompts >= 3, "only %d prompts in the reference", prompts);
        tn_st_close(&ref);
        tn_model_free(&m);
    }
    free(cmd);
    free(out);
    free(ref_path);
}

/* Writes a llama2.c file: header then `nfloats` floats (a ramp). */
static char *write_ckpt(const char *name, const int32_t hdr[7], size_t nfloats) {
    char *path = tn_sprintf("%s/%s", tn_t_tmpdir(), name);
    size_t bytes = 28 + nfloats * 4;
    char *buf = tn_calloc(1, bytes);
    memcpy(buf, hdr, 28);
    float *f = (float *)(buf + 28);
    for (size_t i = 0; i < nfloats; i++) f[i] = (float)((int)(i % 17) - 8) * 0.01f;
    tn_write_file_atomic(path, buf, bytes);
    free(buf);
    return path;
}

/* floats of a shared-classifier checkpoint with D=8, F=16, L=1, H=2, KV=1, V=10, S=4 */
static size_t tiny_floats(void) {
    size_t D = 8, F = 16, L = 1, KVD = 4, V = 10, S = 4, hd = 4;
    return V * D + L * D + L * D * D + 2 * L * KVD * D + L * D * D + L * D + 3 * L * F * D + D + 2 * S * (hd / 2);
}

TEST(import_tiny_roundtrip) {
    int32_t hdr[7] = {8, 16, 1, 2, 1, 10, 4};
    char *path = write_ckpt("tiny.bin", hdr, tiny_floats());
    char *out = tn_sprintf("%s/tiny_out", tn_t_tmpdir());
    CHECKF(tn_llama2c_import(path, NULL, out) == 0, "%s", tn_errmsg());
    tn_model m;
    CHECKF(tn_model_load(&m, out, 1) == 0, "%s", tn_errmsg());
    if (!tn_t_failed_checks) {
        CHECK(m.cfg.hidden_size == 8 && m.cfg.n_kv_heads == 1 && m.cfg.max_positions == 4);
        /* embeddings come first in the file, unpermuted */
        CHECK(m.embed[0] == (float)-8 * 0.01f && m.embed[9] == (float)1 * 0.01f);
        tn_model_free(&m);
    }
    /* an unshared classifier: negative vocab and V*D more floats */
    int32_t hdr2[7] = {8, 16, 1, 2, 1, -10, 4};
    char *path2 = write_ckpt("tiny_untied.bin", hdr2, tiny_floats() + 80);
    char *out2 = tn_sprintf("%s/tiny_untied_out", tn_t_tmpdir());
    CHECKF(tn_llama2c_import(path2, NULL, out2) == 0, "%s", tn_errmsg());
    CHECKF(tn_model_load(&m, out2, 1) == 0, "%s", tn_errmsg());
    if (!tn_t_failed_checks) {
        CHECK(!m.cfg.tie_embeddings && m.head.w != m.embed);
        tn_model_free(&m);
    }
    free(path);
    free(out);
    free(path2);
    free(out2);
}

TEST(import_bad_inputs) {
    tn_model m;
    int32_t hdr[7] = {8, 16, 1, 2, 1, 10, 4};
    char *trunc = write_ckpt("trunc.bin", hdr, tiny_floats() - 1);
    CHECK_ERR(tn_llama2c_read(&m, trunc), "trunc.bin: file is");
    CHECK_ERR(tn_llama2c_read(&m, trunc), "truncated");
    char *longer = write_ckpt("long.bin", hdr, tiny_floats() + 3);
    CHECK_ERR(tn_llama2c_read(&m, longer), "long.bin: file is");
    int32_t bad[7] = {8, 16, 1, 3, 1, 10, 4}; /* 8 is not a multiple of 3 heads */
    char *badh = write_ckpt("badheads.bin", bad, tiny_floats());
    CHECK_ERR(tn_llama2c_read(&m, badh), "do not divide");
    int32_t neg[7] = {8, -16, 1, 2, 1, 10, 4};
    char *negp = write_ckpt("neg.bin", neg, tiny_floats());
    CHECK_ERR(tn_llama2c_read(&m, negp), "hidden_dim = -16");
    char *shortf = tn_sprintf("%s/short.bin", tn_t_tmpdir());
    tn_write_file_atomic(shortf, "abc", 3);
    CHECK_ERR(tn_llama2c_read(&m, shortf), "too short");
    CHECK_ERR(tn_llama2c_read(&m, "/nonexistent/x.bin"), "/nonexistent/x.bin");
    /* NaN weights */
    char *nanp = write_ckpt("nan.bin", hdr, tiny_floats());
    size_t n;
    char *buf = tn_read_file(nanp, &n);
    float nanv = NAN;
    memcpy(buf + 28 + 4 * 100, &nanv, 4);
    tn_write_file_atomic(nanp, buf, n);
    free(buf);
    CHECK_ERR(tn_llama2c_read(&m, nanp), "not finite");
    free(trunc);
    free(longer);
    free(badh);
    free(negp);
    free(shortf);
    free(nanp);
}

int main(void) {
    RUN(stories260k_logits_match_pytorch);
    RUN(import_tiny_roundtrip);
    RUN(import_bad_inputs);
    return tn_test_summary("test_llama2c");
}
