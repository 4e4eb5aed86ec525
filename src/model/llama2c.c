/* llama2c.c - llama2.c checkpoint import (see llama2c.h). */
#include "model/llama2c.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "tok/tokenizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* HF's convert_llama_weights_to_hf permute(): llama2.c (like Meta's code)
 * rotates interleaved pairs (2i, 2i+1) of each head; HF Llama rotates
 * (i, i + hd/2). Reordering the rows of wq and wk within each head makes the
 * HF form compute exactly the same attention:
 *   new row h*hd + p*(hd/2) + i  <-  old row h*hd + 2*i + p   (p = 0, 1) */
static void permute_rows(float *dst, const float *src, int n_heads, int hd, int cols) {
    int half = hd / 2;
    for (int h = 0; h < n_heads; h++)
        for (int p = 0; p < 2; p++)
            for (int i = 0; i < half; i++) {
                const float *from = src + ((size_t)h * hd + 2 * i + p) * cols;
                float *to = dst + ((size_t)h * hd + p * half + i) * cols;
                memcpy(to, from, sizeof(float) * (size_t)cols);
            }
}

static json_t *make_config(const int32_t hdr[7]) {
    int dim = hdr[0], hidden = hdr[1], layers = hdr[2], heads = hdr[3], kv = hdr[4], seq = hdr[6];
    int vocab = abs(hdr[5]);
    return json_pack("{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:b, s:s, s:i, s:i, s:s}",
                     "architectures", "LlamaForCausalLM", "model_type", "llama", "hidden_size", dim,
                     "intermediate_size", hidden, "num_hidden_layers", layers, "num_attention_heads", heads,
                     "num_key_value_heads", kv, "vocab_size", vocab, "max_position_embeddings", seq,
                     "rms_norm_eps", 1e-5, "rope_theta", 10000.0, "tie_word_embeddings", hdr[5] > 0,
                     "torch_dtype", "float32", "bos_token_id", 1, "eos_token_id", 2, "hidden_act", "silu");
}

int tn_llama2c_read(tn_model *m, const char *path) {
    size_t size;
    char *buf = tn_read_file(path, &size);
    if (!buf) return -1;
    int32_t hdr[7];
    if (size < sizeof hdr) {
        free(buf);
        return tn_fail("%s: %zu bytes is too short for a llama2.c header (28 bytes)", path, size);
    }
    memcpy(hdr, buf, sizeof hdr);
    static const char *names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
    for (int i = 0; i < 7; i++) {
        int32_t v = i == 5 ? abs(hdr[i]) : hdr[i];
        if (v <= 0 || v > (1 << 20)) {
            free(buf);
            return tn_fail("%s: header field %s = %d is not a plausible size (is this a llama2.c legacy "
                           "checkpoint?)", path, names[i], hdr[i]);
        }
    }
    if (hdr[0] % hdr[3] || hdr[3] % hdr[4] || (hdr[0] / hdr[3]) % 2) {
        free(buf);
        return tn_fail("%s: header: dim %d, n_heads %d, n_kv_heads %d do not divide into even heads", path, hdr[0],
                       hdr[3], hdr[4]);
    }
    json_t *cj = make_config(hdr);
    tn_config cfg;
    int rc = tn_config_from_json(&cfg, cj, path);
    json_decref(cj);
    if (rc) {
        free(buf);
        return -1;
    }
    const size_t D = (size_t)cfg.hidden_size, F = (size_t)cfg.intermediate_size, L = (size_t)cfg.n_layers;
    const size_t V = (size_t)cfg.vocab_size, hd = (size_t)cfg.head_dim, KVD = (size_t)cfg.n_kv_heads * hd;
    const size_t S = (size_t)hdr[6];
    size_t expect = V * D + L * D + L * D * D + 2 * L * KVD * D + L * D * D + L * D + 3 * L * F * D + D +
                    2 * S * (hd / 2) + (hdr[5] < 0 ? V * D : 0);
    if (size != sizeof hdr + expect * sizeof(float)) {
        tn_config_free(&cfg);
        free(buf);
        return tn_fail("%s: file is %zu bytes, but its header (dim %zu, hidden %zu, %zu layers, vocab %d, seq %zu) "
                       "needs exactly %zu: truncated or not a legacy llama2.c checkpoint",
                       path, size, D, F, L, hdr[5], S, sizeof hdr + expect * sizeof(float));
    }
    rc = tn_model_create(m, &cfg);
    tn_config_free(&cfg);
    if (rc) {
        free(buf);
        return -1;
    }
    const float *p = (const float *)(buf + sizeof hdr);
    /* buf comes from malloc, so the floats after the 28-byte header are
     * 4-byte aligned. Copy each array into the HF-named parameters. */
#define TAKE(n) (p += (n), p - (n))
    memcpy(m->embed, TAKE(V * D), sizeof(float) * V * D);
    for (size_t l = 0; l < L; l++) memcpy(m->blocks[l].ln1_w, TAKE(D), sizeof(float) * D);
    for (size_t l = 0; l < L; l++) permute_rows(m->blocks[l].q.w, TAKE(D * D), m->cfg.n_heads, (int)hd, (int)D);
    for (size_t l = 0; l < L; l++) permute_rows(m->blocks[l].k.w, TAKE(KVD * D), m->cfg.n_kv_heads, (int)hd, (int)D);
    for (size_t l = 0; l < L; l++) memcpy(m->blocks[l].v.w, TAKE(KVD * D), sizeof(float) * KVD * D);
    for (size_t l = 0; l < L; l++) memcpy(m->blocks[l].o.w, TAKE(D * D), sizeof(float) * D * D);
    for (size_t l = 0; l < L; l++) memcpy(m->blocks[l].ln2_w, TAKE(D), sizeof(float) * D);
    for (size_t l = 0; l < L; l++) memcpy(m->blocks[l].gate.w, TAKE(F * D), sizeof(float) * F * D);
    for (size_t l = 0; l < L; l++) memcpy(m->blocks[l].down.w, TAKE(D * F), sizeof(float) * D * F);
    for (size_t l = 0; l < L; l++) memcpy(m->blocks[l].up.w, TAKE(F * D), sizeof(float) * F * D);
    memcpy(m->lnf_w, TAKE(D), sizeof(float) * D);
    p += 2 * S * (hd / 2); /* RoPE tables: recomputed from rope_theta */
    if (hdr[5] < 0) memcpy(m->head.w, TAKE(V * D), sizeof(float) * V * D);
#undef TAKE
    free(buf);
    for (size_t i = 0; i < m->numel; i++)
        if (!isfinite(m->w[i])) {
            tn_model_free(m);
            return tn_fail("%s: weight %zu is not finite", path, i);
        }
    return 0;
}

int tn_llama2c_import(const char *ckpt_path, const char *tokenizer_bin, const char *out_dir) {
    tn_model m;
    if (tn_llama2c_read(&m, ckpt_path)) return -1;
    int rc = tn_model_save(&m, out_dir, NULL);
    tn_model_free(&m);
    if (rc || !tokenizer_bin) return rc;
    if (tn_tok_llama2c_to_hf(tokenizer_bin, out_dir)) return tn_err_prefix("converting %s", tokenizer_bin);
    char *dst = tn_path_join(out_dir, "tokenizer.bin");
    rc = tn_copy_file(tokenizer_bin, dst);
    free(dst);
    return rc;
}
