/* random_model.c - small random models (see random_model.h). */
#include "train/random_model.h"
#include "base/err.h"

#include <string.h>

int tn_model_random_json(tn_model *m, json_t *config, const char *what, uint64_t seed) {
    tn_config cfg;
    if (!config) return tn_fail("%s: out of memory", what);
    if (tn_config_from_json(&cfg, config, what)) return -1;
    int rc = tn_model_create(m, &cfg);
    tn_config_free(&cfg);
    if (rc) return -1;
    tn_model_init_random(m, seed);
    return 0;
}

int tn_model_random(tn_model *m, const tn_model_shape *s, const char *what, uint64_t seed) {
    json_t *j;
    if (!strcmp(s->model_type, "gpt2")) {
        j = json_pack("{s:s, s:i, s:i, s:i, s:i}", "model_type", "gpt2", "vocab_size", s->vocab, "n_embd", s->dim,
                      "n_layer", s->layers, "n_head", s->heads);
        if (j && s->hidden > 0) json_object_set_new(j, "n_inner", json_integer(s->hidden));
        if (j && s->positions > 0) json_object_set_new(j, "n_positions", json_integer(s->positions));
    } else {
        j = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:b}", "model_type", s->model_type, "vocab_size", s->vocab,
                      "hidden_size", s->dim, "intermediate_size", s->hidden, "num_hidden_layers", s->layers,
                      "num_attention_heads", s->heads, "num_key_value_heads", s->kv_heads > 0 ? s->kv_heads : s->heads,
                      "tie_word_embeddings", s->tied);
        if (j && s->positions > 0) json_object_set_new(j, "max_position_embeddings", json_integer(s->positions));
    }
    int rc = tn_model_random_json(m, j, what, seed);
    json_decref(j);
    return rc;
}
