/* test_lora.c - LoRA adapters.
 *
 * Gradients are checked without trusting the LoRA backward: for a layer
 * W' = W + s B A, the chain rule gives dL/dB = s (dL/dW') A^T and
 * dL/dA = s B^T (dL/dW'), and dL/dW' is what the full-model backward computes
 * on the merged weights (itself checked against PyTorch in test_model.c).
 * Forward: the adapter's output equals the merged model's. Plus PEFT
 * save/load, dropout determinism, and adapters that do not fit. */
#include "harness.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"
#include "io/safetensors.h"
#include "model/lora.h"
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static json_t *llama_cfg(void) {
    return json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b}", "model_type", "qwen2", "vocab_size", 23,
                     "hidden_size", 16, "intermediate_size", 24, "num_hidden_layers", 2, "num_attention_heads", 4,
                     "num_key_value_heads", 2, "max_position_embeddings", 32, "tie_word_embeddings", 0);
}

static json_t *gpt2_cfg(void) {
    return json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "model_type", "gpt2", "vocab_size", 23, "n_embd", 16, "n_layer",
                     2, "n_head", 2, "n_positions", 16);
}

static int make_model(tn_model *m, json_t *j, uint64_t seed) {
    tn_config c;
    int rc = tn_config_from_json(&c, j, "test");
    json_decref(j);
    if (rc) return -1;
    rc = tn_model_create(m, &c);
    tn_config_free(&c);
    if (rc) return -1;
    tn_model_init_random(m, seed);
    /* larger weights than HF's init so that every path matters */
    for (size_t i = 0; i < m->numel; i++) m->w[i] *= 5.0f;
    return 0;
}

static void fill_random(float *x, size_t n, uint64_t seed, float scale) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = ((float)(seed >> 40) / (float)(1 << 24) - 0.5f) * 2.0f * scale;
    }
}

enum { B = 2, T = 7 };
static int32_t IDS[B * T], LABELS[B * T];

static void make_batch(int V) {
    for (int i = 0; i < B * T; i++) {
        IDS[i] = (i * 5 + 3) % V;
        LABELS[i] = i % 5 == 0 ? -100 : IDS[i];
    }
}

static void check_family(json_t *(*cfg)(void), const char *what) {
    tn_model m, ref;
    CHECK(make_model(&m, cfg(), 1) == 0 && make_model(&ref, cfg(), 1) == 0);
    make_batch(m.cfg.vocab_size);
    const char **targets;
    int nt = tn_lora_default_targets(&m, &targets);
    tn_lora lo;
    CHECKF(tn_lora_attach(&m, &lo, 4, 8.0f, 0.0f, targets, nt, 9) == 0, "%s", tn_errmsg());
    if (tn_t_failed_checks) return;
    /* B starts at zero (PEFT): give it values so the adapter matters */
    for (int i = 0; i < lo.nslots; i++) fill_random(lo.slots[i].B, lo.params[2 * i + 1].numel, 100 + i, 0.3f);
    m.frozen = 1;
    CHECK(tn_lora_enable_grads(&lo) == 0);
    tn_lora_zero_grads(&lo);
    lo.training = 1;
    float loss_lora, loss_merged;
    CHECKF(tn_model_forward(&m, IDS, NULL, B, T, NULL) == 0, "%s", tn_errmsg());
    size_t nlog = (size_t)B * T * m.cfg.vocab_size;
    float *logits = tn_malloc(sizeof(float) * nlog);
    memcpy(logits, m.acts.logits, sizeof(float) * nlog);
    CHECKF(tn_model_forward_train(&m, IDS, LABELS, B, T, &loss_lora) == 0, "%s", tn_errmsg());
    CHECKF(tn_model_backward(&m) == 0, "%s", tn_errmsg());
    CHECK(m.g == NULL); /* frozen: the base never allocated gradients */

    /* the same weights merged into a plain model */
    memcpy(ref.w, m.w, sizeof(float) * m.numel);
    tn_lora copy;
    CHECK(tn_lora_attach(&ref, &copy, 4, 8.0f, 0.0f, targets, nt, 9) == 0);
    memcpy(copy.w, lo.w, sizeof(float) * lo.numel);
    tn_lora_merge(&ref, &copy);
    CHECK(ref.lora == NULL);
    CHECK(tn_model_forward(&ref, IDS, NULL, B, T, NULL) == 0);
    CHECK(tn_t_allclose("logits lora vs merged", logits, ref.acts.logits, nlog, 1e-5));
    CHECK(tn_model_enable_grads(&ref) == 0);
    tn_model_zero_grads(&ref);
    CHECK(tn_model_forward_train(&ref, IDS, LABELS, B, T, &loss_merged) == 0);
    CHECK_NEAR(loss_lora, loss_merged, 1e-5, 0);
    CHECK(tn_model_backward(&ref) == 0);

    /* chain rule: dB = s dW' A^T, dA = s B^T dW' (dW' in [out,in]) */
    for (int i = 0; i < lo.nslots; i++) {
        tn_lora_slot *s = &lo.slots[i];
        tn_linear *L = lo.linears[i];
        size_t off = (size_t)(L->w - m.w);
        const float *dW = ref.g + off;
        int in = L->in, out = L->out, r = s->r;
        float *eA = tn_calloc((size_t)r * in, sizeof(float)), *eB = tn_calloc((size_t)out * r, sizeof(float));
        for (int o = 0; o < out; o++)
            for (int k = 0; k < in; k++) {
                /* dW'[o][k] whatever the storage layout */
                float g = L->in_out_layout ? dW[(size_t)k * out + o] : dW[(size_t)o * in + k];
                for (int j = 0; j < r; j++) {
                    eB[(size_t)o * r + j] += s->scale * g * s->A[(size_t)j * in + k];
                    eA[(size_t)j * in + k] += s->scale * s->B[(size_t)o * r + j] * g;
                }
            }
        char name[160];
        snprintf(name, sizeof name, "%s dA %s", what, lo.modules[i]);
        CHECK(tn_t_allclose(name, s->dA, eA, (size_t)r * in, 1e-4));
        snprintf(name, sizeof name, "%s dB %s", what, lo.modules[i]);
        CHECK(tn_t_allclose(name, s->dB, eB, (size_t)out * r, 1e-4));
        free(eA);
        free(eB);
    }
    free(logits);
    tn_lora_free(&copy);
    tn_lora_detach(&m, &lo);
    tn_lora_free(&lo);
    tn_model_free(&m);
    tn_model_free(&ref);
}

TEST(llama_grads_by_chain_rule) { check_family(llama_cfg, "qwen2"); }
TEST(gpt2_conv1d_grads_by_chain_rule) { check_family(gpt2_cfg, "gpt2"); }

TEST(dropout_is_deterministic_per_step) {
    tn_model m;
    CHECK(make_model(&m, llama_cfg(), 2) == 0);
    make_batch(m.cfg.vocab_size);
    const char *targets[] = {"q_proj", "v_proj"};
    tn_lora lo;
    CHECK(tn_lora_attach(&m, &lo, 2, 4.0f, 0.5f, targets, 2, 3) == 0);
    CHECK(lo.nslots == 4);
    for (int i = 0; i < lo.nslots; i++) fill_random(lo.slots[i].B, lo.params[2 * i + 1].numel, 7 + i, 0.5f);
    m.frozen = 1;
    float a, b, c, e1, e2;
    lo.training = 1;
    lo.step = 5;
    CHECK(tn_model_forward(&m, IDS, LABELS, B, T, &a) == 0);
    CHECK(tn_model_forward(&m, IDS, LABELS, B, T, &b) == 0);
    lo.step = 6;
    CHECK(tn_model_forward(&m, IDS, LABELS, B, T, &c) == 0);
    lo.training = 0;
    CHECK(tn_model_forward(&m, IDS, LABELS, B, T, &e1) == 0);
    lo.step = 99;
    CHECK(tn_model_forward(&m, IDS, LABELS, B, T, &e2) == 0);
    CHECK(a == b);   /* same step, same mask */
    CHECK(a != c);   /* another step, another mask */
    CHECK(e1 == e2); /* eval: no dropout */
    CHECK(a != e1);
    tn_lora_detach(&m, &lo);
    tn_lora_free(&lo);
    tn_model_free(&m);
}

TEST(peft_save_load_and_bad_adapters) {
    tn_model m;
    CHECK(make_model(&m, llama_cfg(), 3) == 0);
    make_batch(m.cfg.vocab_size);
    const char **targets;
    int nt = tn_lora_default_targets(&m, &targets);
    tn_lora lo, back;
    CHECK(tn_lora_attach(&m, &lo, 4, 16.0f, 0.05f, targets, nt, 1) == 0);
    for (int i = 0; i < lo.nslots; i++) fill_random(lo.slots[i].B, lo.params[2 * i + 1].numel, 50 + i, 0.2f);
    char *dir = tn_sprintf("%s/adapter", tn_t_tmpdir());
    CHECKF(tn_lora_save(&lo, &m, dir, "some/base") == 0, "%s", tn_errmsg());
    float l1, l2;
    CHECK(tn_model_forward(&m, IDS, LABELS, B, T, &l1) == 0);
    tn_lora_detach(&m, &lo);
    CHECKF(tn_lora_load(&m, &back, dir) == 0, "%s", tn_errmsg());
    CHECK(back.nslots == lo.nslots && back.r == 4 && back.scale == 4.0f);
    CHECK(back.numel == lo.numel && memcmp(back.w, lo.w, sizeof(float) * lo.numel) == 0);
    CHECK(tn_model_forward(&m, IDS, LABELS, B, T, &l2) == 0);
    CHECK(l1 == l2);
    /* PEFT's own file names and config keys */
    char *cfgp = tn_path_join(dir, "adapter_config.json");
    json_t *cj = tn_json_load_file(cfgp);
    CHECK(cj && json_integer_value(json_object_get(cj, "r")) == 4 &&
          !strcmp(json_string_value(json_object_get(cj, "peft_type")), "LORA") &&
          json_array_size(json_object_get(cj, "target_modules")) == 7);
    json_decref(cj);
    tn_lora_detach(&m, &back);
    tn_lora_free(&back);

    /* an adapter made for another model's shapes */
    tn_model other;
    json_t *oj = llama_cfg();
    json_object_set_new(oj, "hidden_size", json_integer(32));
    CHECK(make_model(&other, oj, 4) == 0);
    CHECK_ERR(tn_lora_load(&other, &back, dir), "an adapter for another model's shapes");
    CHECK(other.lora == NULL);
    tn_model_free(&other);
    /* an adapter for another architecture */
    CHECK(make_model(&other, gpt2_cfg(), 4) == 0);
    CHECK_ERR(tn_lora_load(&other, &back, dir), "the model has no linear layer model.layers.0.self_attn.q_proj");
    tn_model_free(&other);
    /* not LoRA */
    const char *ia3 = "{\"peft_type\": \"IA3\", \"r\": 4}";
    tn_write_file_atomic(cfgp, ia3, strlen(ia3));
    CHECK_ERR(tn_lora_load(&m, &back, dir), "peft_type: \"IA3\" is not supported");
    /* a missing half */
    const char *lora_cfg = "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 16}";
    tn_write_file_atomic(cfgp, lora_cfg, strlen(lora_cfg));
    char *wp = tn_path_join(dir, "adapter_model.safetensors");
    tn_st_entry e = {"base_model.model.model.layers.0.mlp.up_proj.lora_A.weight", TN_DT_F32, 2, {4, 16}, lo.w};
    CHECK(tn_st_write(wp, &e, 1, NULL) == 0);
    CHECK_ERR(tn_lora_load(&m, &back, dir), "has lora_A but not lora_B");
    tn_st_entry junk = {"base_model.model.lm_head.modules_to_save.weight", TN_DT_F32, 2, {4, 16}, lo.w};
    CHECK(tn_st_write(wp, &junk, 1, NULL) == 0);
    CHECK_ERR(tn_lora_load(&m, &back, dir), "is not a LoRA weight");
    CHECK(m.lora == NULL);
    /* targets that match nothing */
    const char *none[] = {"wq"};
    CHECK_ERR(tn_lora_attach(&m, &back, 4, 8, 0, none, 1, 1), "no linear layer");
    free(wp);
    free(cfgp);
    free(dir);
    tn_lora_free(&lo);
    tn_model_free(&m);
}

int main(void) {
    RUN(llama_grads_by_chain_rule);
    RUN(gpt2_conv1d_grads_by_chain_rule);
    RUN(dropout_is_deterministic_per_step);
    RUN(peft_save_load_and_bad_adapters);
    return tn_test_summary("test_lora");
}
