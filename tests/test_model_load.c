/* test_model_load.c - model directories: round trips and every bad input the
 * loader must refuse with an error naming the file, field or tensor. The
 * models are built here in C (no fixtures needed). */
#include "harness.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"
#include "io/safetensors.h"
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static json_t *llama_json(void) {
    return json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b}", "model_type", "llama", "vocab_size", 20,
                     "hidden_size", 16, "intermediate_size", 24, "num_hidden_layers", 2, "num_attention_heads", 4,
                     "num_key_value_heads", 2, "max_position_embeddings", 32, "tie_word_embeddings", 0);
}

static json_t *gpt2_json(void) {
    return json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "model_type", "gpt2", "vocab_size", 20, "n_embd", 16,
                     "n_layer", 1, "n_head", 2, "n_positions", 8);
}

/* Creates a random model from JSON and saves it into tmp/<name>. */
static char *make_dir(const char *name, json_t *j) {
    char *dir = tn_sprintf("%s/%s", tn_t_tmpdir(), name);
    tn_config c;
    tn_model m;
    if (tn_config_from_json(&c, j, name) || tn_model_create(&m, &c)) {
        fprintf(stderr, "  make_dir %s: %s\n", name, tn_errmsg());
        exit(2);
    }
    tn_config_free(&c);
    json_decref(j);
    tn_model_init_random(&m, 7);
    if (tn_model_save(&m, dir, NULL)) {
        fprintf(stderr, "  save %s: %s\n", name, tn_errmsg());
        exit(2);
    }
    tn_model_free(&m);
    return dir;
}

/* Rewrites dir/model.safetensors through a callback that edits the entries. */
typedef void (*edit_fn)(tn_st_entry *e, int *n, float **bufs);
static void rewrite(const char *dir, edit_fn edit) {
    char *path = tn_path_join(dir, "model.safetensors");
    tn_st_file f;
    if (tn_st_open(&f, path)) {
        fprintf(stderr, "  %s\n", tn_errmsg());
        exit(2);
    }
    int n = f.n, nbufs = f.n + 1; /* edits may add one entry */
    tn_st_entry *e = tn_calloc((size_t)n + 1, sizeof *e);
    float **bufs = tn_calloc((size_t)n + 1, sizeof *bufs);
    for (int i = 0; i < n; i++) {
        const tn_st_tensor *t = &f.tensors[i];
        bufs[i] = tn_malloc(t->nbytes + 4);
        memcpy(bufs[i], t->data, t->nbytes);
        e[i].name = tn_strdup(t->name);
        e[i].dtype = t->dtype;
        e[i].ndim = t->ndim;
        memcpy(e[i].shape, t->shape, sizeof t->shape);
        e[i].data = bufs[i];
    }
    tn_st_close(&f);
    edit(e, &n, bufs);
    if (tn_st_write(path, e, n, NULL)) {
        fprintf(stderr, "  %s\n", tn_errmsg());
        exit(2);
    }
    for (int i = 0; i < n; i++) free((char *)e[i].name);
    for (int i = 0; i < nbufs; i++) free(bufs[i]);
    free(e);
    free(bufs);
    free(path);
}

static int find(tn_st_entry *e, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(e[i].name, name)) return i;
    return -1;
}

static void drop_up_proj(tn_st_entry *e, int *n, float **bufs) {
    (void)bufs;
    int i = find(e, *n, "model.layers.1.mlp.up_proj.weight");
    free((char *)e[i].name);
    e[i] = e[*n - 1]; /* the last entry moves into the hole */
    (*n)--;
}

static void shrink_k_proj(tn_st_entry *e, int *n, float **bufs) {
    (void)bufs;
    int i = find(e, *n, "model.layers.0.self_attn.k_proj.weight");
    e[i].shape[0] = 4; /* [8,16] -> [4,16]: a smaller byte range, still valid safetensors */
}

static void add_extra(tn_st_entry *e, int *n, float **bufs) {
    bufs[*n] = tn_calloc(4, sizeof(float));
    e[*n].name = tn_strdup("model.layers.0.self_attn.extra.weight");
    e[*n].dtype = TN_DT_F32;
    e[*n].ndim = 1;
    e[*n].shape[0] = 4;
    e[*n].data = bufs[*n];
    (*n)++;
}

static void put_nan(tn_st_entry *e, int *n, float **bufs) {
    int i = find(e, *n, "model.norm.weight");
    bufs[i][3] = NAN;
}

TEST(save_load_roundtrip) {
    char *dir = make_dir("rt", llama_json());
    char *tok = tn_path_join(dir, "tokenizer.json");
    tn_write_file_atomic(tok, "{\"model\":{}}", 12);
    tn_model a, b;
    CHECKF(tn_model_load(&a, dir, 1) == 0, "%s", tn_errmsg());
    char *dir2 = tn_sprintf("%s/rt2", tn_t_tmpdir());
    CHECKF(tn_model_save(&a, dir2, dir) == 0, "%s", tn_errmsg());
    CHECKF(tn_model_load(&b, dir2, 1) == 0, "%s", tn_errmsg());
    if (!tn_t_failed_checks) {
        CHECK(a.numel == b.numel && memcmp(a.w, b.w, a.numel * sizeof(float)) == 0);
        CHECK((int64_t)a.numel == tn_config_param_count(&a.cfg));
        char *tok2 = tn_path_join(dir2, "tokenizer.json");
        CHECK(tn_file_exists(tok2)); /* tokenizer files travel with the model */
        free(tok2);
        tn_model_free(&a);
        tn_model_free(&b);
    }
    free(tok);
    free(dir);
    free(dir2);
}

TEST(config_errors) {
    tn_config c;
    json_t *j = llama_json();
    json_object_set_new(j, "model_type", json_string("mamba"));
    CHECK_ERR(tn_config_from_json(&c, j, "x/config.json"), "field model_type: \"mamba\" is not supported");
    json_object_set_new(j, "model_type", json_string("llama"));
    json_object_set_new(j, "num_attention_heads", json_string("4"));
    CHECK_ERR(tn_config_from_json(&c, j, "x/config.json"), "x/config.json: field num_attention_heads: expected an integer, got a string");
    /* a real beyond int64 is refused, not cast (that cast is undefined behaviour) */
    json_object_set_new(j, "num_attention_heads", json_real(1e300));
    CHECK_ERR(tn_config_from_json(&c, j, "x/config.json"), "field num_attention_heads: expected an integer, got a real number");
    json_object_set_new(j, "num_attention_heads", json_real(9223372036854775808.0));
    CHECK_ERR(tn_config_from_json(&c, j, "x/config.json"), "field num_attention_heads: expected an integer, got a real number");
    json_object_set_new(j, "num_attention_heads", json_real(4.0)); /* an exporter's 4.0 is 4 */
    CHECK(tn_config_from_json(&c, j, "x/config.json") == 0);
    tn_config_free(&c);
    json_object_set_new(j, "num_attention_heads", json_integer(5));
    CHECK_ERR(tn_config_from_json(&c, j, "x/config.json"), "not a multiple of num_attention_heads");
    json_object_set_new(j, "num_attention_heads", json_integer(4));
    json_object_set_new(j, "num_key_value_heads", json_integer(3));
    CHECK_ERR(tn_config_from_json(&c, j, "x/config.json"), "num_key_value_heads 3");
    json_object_set_new(j, "num_key_value_heads", json_integer(2));
    json_object_set_new(j, "hidden_size", json_integer(-16));
    CHECK_ERR(tn_config_from_json(&c, j, "x/config.json"), "field hidden_size: -16 is out of range");
    json_object_set_new(j, "hidden_size", json_integer(16));
    json_object_del(j, "vocab_size");
    CHECK_ERR(tn_config_from_json(&c, j, "x/config.json"), "missing required field vocab_size");
    json_object_set_new(j, "vocab_size", json_integer(20));
    json_object_set_new(j, "rope_scaling", json_pack("{s:s, s:f}", "rope_type", "yarn", "factor", 4.0));
    CHECK_ERR(tn_config_from_json(&c, j, "x/config.json"), "rope_scaling.rope_type: \"yarn\" is not supported");
    json_object_set_new(j, "rope_scaling", json_pack("{s:s, s:f}", "rope_type", "llama3", "factor", 8.0));
    CHECK_ERR(tn_config_from_json(&c, j, "x/config.json"), "llama3 needs");
    json_decref(j);

    char *dir = tn_sprintf("%s/badjson", tn_t_tmpdir());
    tn_mkdir_p(dir);
    char *cfg = tn_path_join(dir, "config.json");
    tn_write_file_atomic(cfg, "{\n  \"model_type\": \"llama\",\n  oops\n}", 36);
    CHECK_ERR(tn_config_load(&c, dir), "config.json:3:");
    tn_model m;
    CHECK_ERR(tn_model_load(&m, "/nonexistent-model", 1), "/nonexistent-model: no such model directory");
    free(cfg);
    free(dir);
}

/* Issue 18 finding 7: a few hundred bytes of config.json claiming a huge
 * model (here ~1.2e12 parameters, 4.8 TB in fp32) beside a tiny weights file
 * must be refused for the tensors it lacks, before any weights arena is
 * allocated (the old order allocated first: "cannot allocate model weights",
 * or gigabytes zeroed when the claim was only a few billion). */
TEST(huge_config_refused_before_allocating) {
    char *dir = make_dir("huge", llama_json());
    json_t *j = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b}", "model_type", "llama", "vocab_size",
                          150000, "hidden_size", 32768, "intermediate_size", 131072, "num_hidden_layers", 96,
                          "num_attention_heads", 256, "num_key_value_heads", 8, "max_position_embeddings", 4096,
                          "tie_word_embeddings", 0);
    char *cfg = tn_path_join(dir, "config.json");
    CHECK(tn_json_save_file(j, cfg) == 0);
    json_decref(j);
    tn_model m;
    CHECK_ERR(tn_model_load(&m, dir, 1), "tensor model.embed_tokens.weight: shape [20, 16], expected [150000, 32768]");
    free(cfg);
    free(dir);
}

TEST(missing_tensor) {
    char *dir = make_dir("missing", llama_json());
    rewrite(dir, drop_up_proj);
    tn_model m;
    CHECK_ERR(tn_model_load(&m, dir, 1), "missing tensor model.layers.1.mlp.up_proj.weight");
    free(dir);
}

TEST(wrong_shape) {
    char *dir = make_dir("shape", llama_json());
    rewrite(dir, shrink_k_proj);
    tn_model m;
    CHECK_ERR(tn_model_load(&m, dir, 1), "tensor model.layers.0.self_attn.k_proj.weight: shape [4, 16], expected [8, 16]");
    free(dir);
}

TEST(unexpected_tensor) {
    char *dir = make_dir("extra", llama_json());
    rewrite(dir, add_extra);
    tn_model m;
    CHECK_ERR(tn_model_load(&m, dir, 1), "model.layers.0.self_attn.extra.weight is not part of a llama model");
    free(dir);
}

TEST(nan_weights) {
    char *dir = make_dir("nan", llama_json());
    rewrite(dir, put_nan);
    tn_model m;
    CHECK_ERR(tn_model_load(&m, dir, 1), "model.norm.weight");
    CHECK(strstr(tn_errmsg(), "NaN") != NULL);
    /* the check can be turned off (e.g. to inspect a broken checkpoint) */
    CHECKF(tn_model_load(&m, dir, 0) == 0, "%s", tn_errmsg());
    if (!tn_t_failed_checks) {
        CHECK(isnan(m.lnf_w[3]));
        tn_model_free(&m);
    }
    free(dir);
}

TEST(forward_refuses_bad_ids) {
    char *dir = make_dir("ids", gpt2_json());
    tn_model m;
    CHECKF(tn_model_load(&m, dir, 1) == 0, "%s", tn_errmsg());
    if (tn_t_failed_checks) return;
    int32_t ids[4] = {1, 2, 20, 3}, labels[4] = {1, 2, 3, 4};
    CHECK_ERR(tn_model_forward(&m, ids, labels, 1, 4, NULL), "token id 20 at position 2 is outside the vocabulary (20)");
    ids[2] = 5;
    labels[1] = -5;
    CHECK_ERR(tn_model_forward(&m, ids, labels, 1, 4, NULL), "label -5 at position 1");
    int32_t many[9] = {0};
    CHECK_ERR(tn_model_forward(&m, many, NULL, 1, 9, NULL), "exceeds the model's n_positions 8");
    CHECK_ERR(tn_model_backward(&m), "no forward with labels");
    tn_model_free(&m);
    free(dir);
}

/* HF GPT-2 checkpoints on the hub have no "transformer." prefix and carry the
 * causal-mask buffers attn.bias / attn.masked_bias: both must load. */
static void hub_style_gpt2(tn_st_entry *e, int *n, float **bufs) {
    for (int i = 0; i < *n; i++) {
        const char *name = e[i].name;
        if (!strncmp(name, "transformer.", 12)) {
            char *s = tn_strdup(name + 12);
            free((char *)e[i].name);
            e[i].name = s;
        }
    }
    bufs[*n] = tn_calloc(64, sizeof(float));
    e[*n].name = tn_strdup("h.0.attn.bias");
    e[*n].dtype = TN_DT_F32;
    e[*n].ndim = 4;
    e[*n].shape[0] = e[*n].shape[1] = 1;
    e[*n].shape[2] = e[*n].shape[3] = 8;
    e[*n].data = bufs[*n];
    (*n)++;
}

TEST(gpt2_hub_names) {
    char *dir = make_dir("gpt2hub", gpt2_json());
    tn_model ref, m;
    CHECKF(tn_model_load(&ref, dir, 1) == 0, "%s", tn_errmsg());
    rewrite(dir, hub_style_gpt2);
    CHECKF(tn_model_load(&m, dir, 1) == 0, "%s", tn_errmsg());
    if (!tn_t_failed_checks) {
        CHECK(memcmp(ref.w, m.w, ref.numel * sizeof(float)) == 0);
        tn_model_free(&m);
        tn_model_free(&ref);
    }
    free(dir);
}

/* Parameter counts of two published models, as their model cards give them
 * (the count is the layout walk's, so this checks the walk's shapes). */
static int64_t count_of(const char *js) {
    json_error_t e;
    json_t *j = json_loads(js, 0, &e);
    tn_config c;
    int64_t n = -1;
    if (j && tn_config_from_json(&c, j, "count") == 0) {
        n = tn_config_param_count(&c);
        tn_config_free(&c);
    }
    json_decref(j);
    return n;
}

TEST(param_count_published) {
    /* HF gpt2 (124M): 124,439,808 */
    CHECK(count_of("{\"model_type\":\"gpt2\",\"vocab_size\":50257,\"n_embd\":768,\"n_layer\":12,"
                   "\"n_head\":12,\"n_positions\":1024}") == 124439808);
    /* SmolLM-135M (tied, GQA 9/3): 134,515,008 */
    CHECK(count_of("{\"model_type\":\"llama\",\"vocab_size\":49152,\"hidden_size\":576,"
                   "\"num_hidden_layers\":30,\"num_attention_heads\":9,\"num_key_value_heads\":3,"
                   "\"intermediate_size\":1536,\"max_position_embeddings\":2048,"
                   "\"tie_word_embeddings\":true}") == 134515008);
}

int main(void) {
    RUN(param_count_published);
    RUN(save_load_roundtrip);
    RUN(config_errors);
    RUN(huge_config_refused_before_allocating);
    RUN(missing_tensor);
    RUN(wrong_shape);
    RUN(unexpected_tensor);
    RUN(nan_weights);
    RUN(forward_refuses_bad_ids);
    RUN(gpt2_hub_names);
    return tn_test_summary("test_model_load");
}
