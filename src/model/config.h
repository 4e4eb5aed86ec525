/* config.h - a model's architecture, read from an HF config.json.
 *
 * Two families share one struct:
 *   TN_ARCH_LLAMA  model_type llama, mistral, qwen2: RMSNorm, RoPE, GQA, SwiGLU
 *   TN_ARCH_GPT2   model_type gpt2: learned positions, LayerNorm, GELU (tanh)
 * The original JSON is kept so that saving a fine-tune writes back every field
 * we do not interpret (generation settings, vendor keys) untouched.
 */
#ifndef TN_CONFIG_H
#define TN_CONFIG_H

#include <jansson.h>
#include <stdint.h>

/* One value per family; each has its tn_arch_ops (model.h) in model.c's
 * table, which a compile-time check keeps as long as this list. */
typedef enum { TN_ARCH_LLAMA = 1, TN_ARCH_GPT2 = 2, TN_ARCH_COUNT /* keep last */ } tn_arch;

typedef struct {
    tn_arch arch;
    char model_type[32];   /* "llama", "mistral", "qwen2", "gpt2" */
    int vocab_size;        /* V */
    int hidden_size;       /* D */
    int n_layers;          /* L */
    int n_heads;           /* H */
    int n_kv_heads;        /* KV (GPT-2: = H) */
    int head_dim;          /* hd (default D/H) */
    int intermediate_size; /* I (GPT-2: n_inner, default 4D) */
    int max_positions;     /* max_position_embeddings / n_positions */
    float norm_eps;        /* rms_norm_eps / layer_norm_epsilon */
    int tie_embeddings;    /* lm_head shares embed_tokens / wte */
    int qkv_bias;          /* q,k,v projections have biases (qwen2, attention_bias) */
    int o_bias;            /* o_proj has a bias (llama attention_bias) */
    int mlp_bias;          /* llama mlp_bias */
    int sliding_window;    /* mistral; 0 = none */
    /* RoPE (llama family) */
    double rope_theta;
    int rope_llama3;       /* rope_scaling.rope_type == "llama3" */
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_positions;
    json_t *json;          /* the original config.json (owned) */
} tn_config;

/* Parses and validates dir/config.json (or a file path). Errors name the file
 * and the field. Unsupported model types and rope scalings are refused. */
int tn_config_load(tn_config *c, const char *path);
/* Validates and fills derived values of a config built in code (json may be NULL). */
int tn_config_from_json(tn_config *c, json_t *j, const char *what);
void tn_config_free(tn_config *c);
/* Writes the config as config.json (the original JSON when there is one). */
int tn_config_save(const tn_config *c, const char *path);
/* Number of parameters the architecture has (what `tuna info` reports),
 * counted by its own parameter walk (model.c), so it cannot disagree with
 * what tn_model_create allocates. */
int64_t tn_config_param_count(const tn_config *c);

#endif
