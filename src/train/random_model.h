/* random_model.h - small models with random weights, from a shape or a
 * config: what `tuna selfcheck`, `tuna bench`, the miner's calibration,
 * pretraining and the tests train. One builder, so a new architecture or a
 * new required config key is added in one place. */
#ifndef TN_RANDOM_MODEL_H
#define TN_RANDOM_MODEL_H

#include "model/model.h"

#include <jansson.h>
#include <stdint.h>

typedef struct {
    const char *model_type; /* "llama", "mistral", "qwen2" (one family) or "gpt2" */
    int vocab, dim, layers, heads;
    int kv_heads;           /* llama family; 0: heads (no GQA) */
    int hidden;             /* MLP size; llama family: required; gpt2: 0 = 4 dim */
    int positions;          /* 0: the config's default (llama 2048, gpt2 1024) */
    int tied;               /* llama family: tie_word_embeddings */
} tn_model_shape;

/* Builds m from an HF config (borrowed; kept as the config.json a save
 * writes) with tn_model_init_random(seed) weights. what names it in errors. */
int tn_model_random_json(tn_model *m, json_t *config, const char *what, uint64_t seed);
/* The same from a shape (the HF config keys of its family). */
int tn_model_random(tn_model *m, const tn_model_shape *s, const char *what, uint64_t seed);

#endif
