/* test_grad_ckpt.c - gradient checkpointing (tn_model.checkpoint_blocks,
 * `tuna train --gradient-checkpointing`, gradient_checkpointing: in YAML).
 *
 * The backward that recomputes each block from its saved input runs the same
 * kernels on the same inputs with the same thread count, so the loss and
 * every gradient must be the same bit for bit as with every activation kept:
 * full fine-tuning (fp32) and LoRA with dropout on a frozen bf16 base, on
 * every engine fixture (GPT-2's Conv1D, qwen2's biases, GQA, a tied head,
 * mistral, llama3 rope), and `tuna train` writes the same model either way.
 */
#include "harness.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/rng.h"
#include "model/lora.h"
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *fixtures(void) { return getenv("FIXTURES") ? getenv("FIXTURES") : "build/fixtures"; }

static const char *FAMILIES[] = {"gpt2", "qwen2", "mistral", "llama_gqa", "llama_tied_rope3"};
enum { N_FAMILIES = sizeof FAMILIES / sizeof *FAMILIES, B = 2, TMAX = 16 };

static void batch(const tn_model *m, int T, uint64_t seed, int32_t *ids, int32_t *labels) {
    for (int i = 0; i < B * T; i++) {
        ids[i] = (int32_t)(tn_splitmix64(&seed) % (uint64_t)m->cfg.vocab_size);
        labels[i] = i % T < 2 ? -100 : ids[i];
    }
}

/* One training forward + backward with checkpointing off or on; the loss and
 * a copy of the gradient (n floats at g). */
static float *grads_of(tn_model *m, float *g, size_t n, int ckpt, const int32_t *ids, const int32_t *labels, int T,
                       float *loss) {
    memset(g, 0, sizeof(float) * n);
    m->checkpoint_blocks = ckpt;
    CHECKF(tn_model_forward_train(m, ids, labels, B, T, loss) == 0 && tn_model_backward(m) == 0, "%s", tn_errmsg());
    CHECK(m->acts.keep == (ckpt ? TN_ACTS_KEEP_INPUTS : TN_ACTS_KEEP_ALL));
    float *copy = tn_malloc(sizeof(float) * n);
    memcpy(copy, g, sizeof(float) * n);
    return copy;
}

static void same_bits(const char *what, const float *a, const float *b, size_t n, float la, float lb) {
    CHECKF(memcmp(&la, &lb, sizeof la) == 0, "%s: loss %.9g vs %.9g", what, (double)la, (double)lb);
    size_t diff = 0, first = n;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0 && diff++ == 0) first = i;
    CHECKF(diff == 0, "%s: %zu of %zu gradient elements differ (first [%zu]: %.9g vs %.9g)", what, diff, n, first,
           first < n ? (double)a[first] : 0.0, first < n ? (double)b[first] : 0.0);
}

TEST(full_finetune_gradients_identical_every_family) {
    char *probe = tn_sprintf("%s/engine/gpt2/model/config.json", fixtures());
    int have = tn_file_exists(probe);
    free(probe);
    if (!have) SKIP("%s/engine missing (make fixtures)", fixtures());
    for (size_t f = 0; f < N_FAMILIES; f++) {
        char *dir = tn_sprintf("%s/engine/%s/model", fixtures(), FAMILIES[f]);
        tn_model m;
        CHECKF(tn_model_load(&m, dir, 1) == 0, "%s", tn_errmsg());
        CHECK(tn_model_enable_grads(&m) == 0);
        int T = m.cfg.max_positions < TMAX ? m.cfg.max_positions : TMAX;
        int32_t ids[B * TMAX], labels[B * TMAX];
        /* two shapes in turn: the arena is re-sliced between modes and lengths */
        for (int round = 0; round < 2; round++) {
            int t = T - 3 * round;
            batch(&m, t, 5 + round, ids, labels);
            float l0, l1;
            float *g0 = grads_of(&m, m.g, m.numel, 0, ids, labels, t, &l0);
            float *g1 = grads_of(&m, m.g, m.numel, 1, ids, labels, t, &l1);
            char what[96];
            snprintf(what, sizeof what, "%s full, T=%d", FAMILIES[f], t);
            same_bits(what, g1, g0, m.numel, l1, l0);
            double norm = 0;
            for (size_t i = 0; i < m.numel; i++) norm += (double)g0[i] * g0[i];
            CHECKF(norm > 0, "%s: zero gradient", what);
            if (round == 0) printf("  %s: loss %.9g, |grad| %.6g, identical\n", what, (double)l0, sqrt(norm));
            free(g0);
            free(g1);
        }
        tn_model_free(&m);
        free(dir);
    }
}

/* LoRA with dropout (the mask is regenerated in the recomputed forward) on
 * the base loaded frozen (bf16 matrices as stored). */
TEST(lora_on_frozen_bf16_gradients_identical_every_family) {
    if (!tn_file_exists("/usr/bin/python3")) SKIP("/usr/bin/python3 missing");
    char *probe = tn_sprintf("%s/engine/gpt2/model/config.json", fixtures());
    int have = tn_file_exists(probe);
    free(probe);
    if (!have) SKIP("%s/engine missing (make fixtures)", fixtures());
    for (size_t f = 0; f < N_FAMILIES; f++) {
        const char *fam = FAMILIES[f];
        char *src = tn_sprintf("%s/engine/%s/model", fixtures(), fam), *dir = tn_sprintf("%s/bf_%s", tn_t_tmpdir(), fam);
        CHECK(tn_t_bf16_model(src, dir) == 0);
        tn_model m;
        tn_lora lo;
        CHECKF(tn_model_load_frozen(&m, dir, 1) == 0, "%s", tn_errmsg());
        CHECK(m.nstored > 0);
        const char **targets;
        int nt = tn_lora_default_targets(&m, &targets);
        CHECK(tn_lora_attach(&m, &lo, 4, 8.0f, 0.1f, targets, nt, 3) == 0);
        uint64_t r = 21; /* B != 0 so that every path carries gradient */
        for (size_t i = 0; i < lo.numel; i++)
            if (lo.w[i] == 0.0f) lo.w[i] = (float)(tn_unit_double(tn_splitmix64(&r)) - 0.5) * 0.2f;
        m.frozen = 1;
        lo.training = 1;
        lo.step = 4;
        CHECK(tn_lora_enable_grads(&lo) == 0);
        int T = m.cfg.max_positions < TMAX ? m.cfg.max_positions : TMAX;
        int32_t ids[B * TMAX], labels[B * TMAX];
        batch(&m, T, 8, ids, labels);
        float l0, l1;
        float *g0 = grads_of(&m, lo.g, lo.numel, 0, ids, labels, T, &l0);
        float *g1 = grads_of(&m, lo.g, lo.numel, 1, ids, labels, T, &l1);
        char what[96];
        snprintf(what, sizeof what, "%s LoRA (dropout 0.1) on bf16", fam);
        same_bits(what, g1, g0, lo.numel, l1, l0);
        printf("  %s: loss %.9g, identical\n", what, (double)l0);
        free(g0);
        free(g1);
        tn_lora_detach(&m, &lo);
        tn_lora_free(&lo);
        tn_model_free(&m);
        free(src);
        free(dir);
    }
}

/* The activation arena with checkpointing holds L block inputs and one
 * layer, not L layers: for the fixtures' 2 layers less, and for a deep model
 * far less (only res is per layer). */
TEST(arena_keeps_only_block_inputs) {
    json_t *j = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "model_type", "llama", "vocab_size", 64,
                          "hidden_size", 32, "intermediate_size", 96, "num_hidden_layers", 12, "num_attention_heads",
                          4, "num_key_value_heads", 2, "max_position_embeddings", 64);
    tn_config c;
    CHECK(tn_config_from_json(&c, j, "test") == 0);
    json_decref(j);
    tn_model m;
    CHECK(tn_model_create(&m, &c) == 0);
    tn_config_free(&c);
    tn_model_init_random(&m, 1);
    int32_t ids[B * 64], labels[B * 64];
    batch(&m, 64, 1, ids, labels);
    size_t n[2];
    float loss[2];
    for (int k = 0; k < 2; k++) {
        tn_model m2;
        CHECK(tn_model_create(&m2, &m.cfg) == 0);
        memcpy(m2.w, m.w, sizeof(float) * m.numel);
        m2.checkpoint_blocks = k;
        CHECK(tn_model_forward_train(&m2, ids, labels, B, 64, &loss[k]) == 0 && tn_model_backward(&m2) == 0);
        n[k] = m2.acts.nfloats;
        tn_model_free(&m2);
    }
    /* per token and layer: all kept = res, ln1, qkv, att, res2, ln2, 3 x I
     * and the norms' statistics (~20 x 32 + 3 x 96); with checkpointing only
     * res (32) per layer */
    CHECKF(n[1] * 3 < n[0], "activations %zu floats with checkpointing, %zu without", n[1], n[0]);
    CHECK(memcmp(&loss[0], &loss[1], sizeof(float)) == 0);
    printf("  12 layers, 2 x 64 tokens: %zu floats of activations kept all, %zu checkpointed\n", n[0], n[1]);
    tn_model_free(&m);
}

/* `tuna train` with and without the flag, and with the YAML key: the same
 * model, byte for byte. */
TEST(tuna_train_same_output_with_flag_and_yaml_key) {
    const char *data = tn_t_shared_data();
    if (!data) SKIP("../shared/data is missing (set TUNA_SHARED_DATA)");
    char *model = tn_sprintf("%s/stories260K", tn_t_tmpdir());
    CHECKF(tn_t_stories260k(model) == 0, "tuna convert of stories260K failed");
    char *rows = tn_sprintf("%s/gsm20.jsonl", tn_t_tmpdir());
    char *cmd = tn_sprintf("head -n 20 %s/datasets/gsm8k_train.jsonl > %s", data, rows);
    CHECK(system(cmd) == 0);
    free(cmd);
    char *yml = tn_sprintf("%s/ckpt.yml", tn_t_tmpdir());
    FILE *f = fopen(yml, "w");
    CHECK(f != NULL);
    if (f) {
        fprintf(f, "gradient_checkpointing: true\n");
        fclose(f);
    }
    const char *variants[3] = {"", "--gradient-checkpointing", yml};
    char *outs[3];
    for (int k = 0; k < 3; k++) {
        outs[k] = tn_sprintf("%s/ckpt_out%d", tn_t_tmpdir(), k);
        cmd = tn_sprintf("%s train %s --model %s --data %s --out %s --field-instruction question --field-output answer "
                         "--max-steps 3 --batch 2 --seq-len 128 --lr 1e-3 --quiet 2>/dev/null",
                         tn_t_tuna(), k == 2 ? yml : variants[k], model, rows, outs[k]);
        CHECKF(system(cmd) == 0, "%s", cmd);
        free(cmd);
    }
    size_t n0 = 0, n1 = 0, n2 = 0;
    char *p0 = tn_sprintf("%s/model.safetensors", outs[0]), *p1 = tn_sprintf("%s/model.safetensors", outs[1]),
         *p2 = tn_sprintf("%s/model.safetensors", outs[2]);
    char *a = tn_read_file(p0, &n0), *b = tn_read_file(p1, &n1), *c = tn_read_file(p2, &n2);
    CHECK(a && b && c && n0 > 1000);
    CHECKF(a && b && n0 == n1 && memcmp(a, b, n0) == 0, "--gradient-checkpointing changed the trained model");
    CHECKF(a && c && n0 == n2 && memcmp(a, c, n0) == 0, "gradient_checkpointing: true changed the trained model");
    free(a);
    free(b);
    free(c);
    free(p0);
    free(p1);
    free(p2);
    for (int k = 0; k < 3; k++) free(outs[k]);
    free(yml);
    free(rows);
    free(model);
}

int main(void) {
    RUN(full_finetune_gradients_identical_every_family);
    RUN(lora_on_frozen_bf16_gradients_identical_every_family);
    RUN(arena_keeps_only_block_inputs);
    RUN(tuna_train_same_output_with_flag_and_yaml_key);
    return tn_test_summary("test_grad_ckpt");
}
