/* config.c - HF config.json parsing and validation (see config.h). */
#include "model/config.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"

#include <string.h>

/* Generous upper bounds: they exist to turn a lying config into an error
 * before it turns into a multi-terabyte allocation. */
#define MAX_VOCAB (4 << 20)
#define MAX_DIM (1 << 16)
#define MAX_LAYERS 1024
#define MAX_POS (1 << 22)

static int get_dim(const json_t *j, const char *key, const char *what, int64_t def, int64_t max,
                   int *out) {
    int64_t v;
    if (def < 0) {
        if (tn_json_int(j, key, what, &v)) return -1;
    } else if (tn_json_int_opt(j, key, what, def, &v)) {
        return -1;
    }
    if (v <= 0 || v > max)
        return tn_fail("%s: field %s: %lld is out of range (1..%lld)", what, key, (long long)v,
                       (long long)max);
    *out = (int)v;
    return 0;
}

static int parse_rope_scaling(tn_config *c, const json_t *j, const char *what) {
    json_t *rs = json_object_get(j, "rope_scaling");
    if (!rs || json_is_null(rs)) return 0;
    if (!json_is_object(rs))
        return tn_fail("%s: field rope_scaling: expected an object, got %s", what, tn_json_type_name(rs));
    const char *type = NULL;
    if (tn_json_str_opt(rs, "rope_type", what, NULL, &type)) return -1;
    if (!type && tn_json_str_opt(rs, "type", what, NULL, &type)) return -1;
    if (!type) return tn_fail("%s: field rope_scaling: missing rope_type", what);
    if (!strcmp(type, "default")) return 0;
    if (strcmp(type, "llama3") != 0)
        return tn_fail("%s: field rope_scaling.rope_type: \"%s\" is not supported (supported: llama3)",
                       what, type);
    int64_t orig;
    if (tn_json_num_opt(rs, "factor", what, -1, &c->rope_factor) ||
        tn_json_num_opt(rs, "low_freq_factor", what, -1, &c->rope_low_freq_factor) ||
        tn_json_num_opt(rs, "high_freq_factor", what, -1, &c->rope_high_freq_factor) ||
        tn_json_int_opt(rs, "original_max_position_embeddings", what, -1, &orig))
        return tn_err_prefix("rope_scaling");
    if (c->rope_factor <= 0 || c->rope_low_freq_factor <= 0 || c->rope_high_freq_factor <= 0 || orig <= 0)
        return tn_fail("%s: field rope_scaling: llama3 needs positive factor, low_freq_factor, "
                       "high_freq_factor and original_max_position_embeddings", what);
    if (c->rope_high_freq_factor == c->rope_low_freq_factor)
        return tn_fail("%s: field rope_scaling: high_freq_factor must differ from low_freq_factor", what);
    c->rope_llama3 = 1;
    c->rope_original_max_positions = (int)orig;
    return 0;
}

static int parse_llama(tn_config *c, const json_t *j, const char *what) {
    int64_t hd = 0;
    double eps, theta;
    int tie, attn_bias, mlp_bias;
    if (get_dim(j, "vocab_size", what, -1, MAX_VOCAB, &c->vocab_size) ||
        get_dim(j, "hidden_size", what, -1, MAX_DIM, &c->hidden_size) ||
        get_dim(j, "num_hidden_layers", what, -1, MAX_LAYERS, &c->n_layers) ||
        get_dim(j, "num_attention_heads", what, -1, MAX_DIM, &c->n_heads) ||
        get_dim(j, "num_key_value_heads", what, c->n_heads, MAX_DIM, &c->n_kv_heads) ||
        get_dim(j, "intermediate_size", what, -1, 1 << 20, &c->intermediate_size) ||
        get_dim(j, "max_position_embeddings", what, 2048, MAX_POS, &c->max_positions) ||
        tn_json_int_opt(j, "head_dim", what, 0, &hd) ||
        tn_json_num_opt(j, "rms_norm_eps", what, 1e-6, &eps) ||
        tn_json_num_opt(j, "rope_theta", what, 10000.0, &theta) ||
        tn_json_bool_opt(j, "tie_word_embeddings", what, 0, &tie) ||
        tn_json_bool_opt(j, "attention_bias", what, 0, &attn_bias) ||
        tn_json_bool_opt(j, "mlp_bias", what, 0, &mlp_bias))
        return -1;
    if (hd == 0) {
        if (c->hidden_size % c->n_heads)
            return tn_fail("%s: hidden_size %d is not a multiple of num_attention_heads %d (and no head_dim)",
                           what, c->hidden_size, c->n_heads);
        hd = c->hidden_size / c->n_heads;
    }
    if (hd <= 0 || hd > MAX_DIM || hd % 2)
        return tn_fail("%s: field head_dim: %lld must be a positive even number", what, (long long)hd);
    if (c->n_heads % c->n_kv_heads)
        return tn_fail("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", what,
                       c->n_heads, c->n_kv_heads);
    if (!(eps > 0 && eps < 1)) return tn_fail("%s: field rms_norm_eps: %g is out of range", what, eps);
    if (!(theta > 0)) return tn_fail("%s: field rope_theta: %g must be positive", what, theta);
    c->head_dim = (int)hd;
    c->norm_eps = (float)eps;
    c->rope_theta = theta;
    c->tie_embeddings = tie;
    c->qkv_bias = attn_bias || !strcmp(c->model_type, "qwen2");
    c->o_bias = attn_bias;
    c->mlp_bias = mlp_bias;
    if (!strcmp(c->model_type, "mistral") || !strcmp(c->model_type, "qwen2")) {
        int64_t sw = 0;
        int use_sw = !strcmp(c->model_type, "mistral");
        if (!strcmp(c->model_type, "qwen2") && tn_json_bool_opt(j, "use_sliding_window", what, 0, &use_sw))
            return -1;
        if (use_sw && tn_json_int_opt(j, "sliding_window", what, 0, &sw)) return -1;
        if (sw < 0) return tn_fail("%s: field sliding_window: must not be negative", what);
        c->sliding_window = use_sw ? (int)sw : 0;
    }
    return parse_rope_scaling(c, j, what);
}

static int parse_gpt2(tn_config *c, const json_t *j, const char *what) {
    double eps;
    int tie;
    const char *act = NULL;
    if (get_dim(j, "vocab_size", what, -1, MAX_VOCAB, &c->vocab_size) ||
        get_dim(j, "n_embd", what, -1, MAX_DIM, &c->hidden_size) ||
        get_dim(j, "n_layer", what, -1, MAX_LAYERS, &c->n_layers) ||
        get_dim(j, "n_head", what, -1, MAX_DIM, &c->n_heads) ||
        get_dim(j, "n_positions", what, 1024, MAX_POS, &c->max_positions) ||
        tn_json_num_opt(j, "layer_norm_epsilon", what, 1e-5, &eps) ||
        tn_json_bool_opt(j, "tie_word_embeddings", what, 1, &tie) ||
        tn_json_str_opt(j, "activation_function", what, "gelu_new", &act))
        return -1;
    if (get_dim(j, "n_inner", what, 4 * (int64_t)c->hidden_size, 1 << 20, &c->intermediate_size)) return -1;
    if (c->hidden_size % c->n_heads)
        return tn_fail("%s: n_embd %d is not a multiple of n_head %d", what, c->hidden_size, c->n_heads);
    if (!tie) return tn_fail("%s: field tie_word_embeddings: untied GPT-2 heads are not supported", what);
    if (strcmp(act, "gelu_new") && strcmp(act, "gelu_pytorch_tanh"))
        return tn_fail("%s: field activation_function: \"%s\" is not supported (gelu_new)", what, act);
    if (!(eps > 0 && eps < 1)) return tn_fail("%s: field layer_norm_epsilon: %g is out of range", what, eps);
    /* Features of HF's GPT2 we do not implement must not be silently ignored. */
    int flag;
    if (tn_json_bool_opt(j, "scale_attn_by_inverse_layer_idx", what, 0, &flag)) return -1;
    if (flag) return tn_fail("%s: field scale_attn_by_inverse_layer_idx: not supported", what);
    if (tn_json_bool_opt(j, "reorder_and_upcast_attn", what, 0, &flag)) return -1;
    if (tn_json_bool_opt(j, "scale_attn_weights", what, 1, &flag)) return -1;
    if (!flag) return tn_fail("%s: field scale_attn_weights: false is not supported", what);
    c->n_kv_heads = c->n_heads;
    c->head_dim = c->hidden_size / c->n_heads;
    c->norm_eps = (float)eps;
    c->tie_embeddings = 1;
    c->qkv_bias = c->o_bias = c->mlp_bias = 1;
    return 0;
}

int tn_config_from_json(tn_config *c, json_t *j, const char *what) {
    memset(c, 0, sizeof *c);
    if (!json_is_object(j)) return tn_fail("%s: expected a JSON object", what);
    const char *mt = NULL;
    if (tn_json_str_opt(j, "model_type", what, NULL, &mt)) return -1;
    if (!mt) return tn_fail("%s: missing required field model_type", what);
    if (strlen(mt) >= sizeof c->model_type)
        return tn_fail("%s: field model_type: \"%.40s...\" is not supported", what, mt);
    strcpy(c->model_type, mt);
    int rc;
    if (!strcmp(mt, "llama") || !strcmp(mt, "mistral") || !strcmp(mt, "qwen2")) {
        c->arch = TN_ARCH_LLAMA;
        rc = parse_llama(c, j, what);
    } else if (!strcmp(mt, "gpt2")) {
        c->arch = TN_ARCH_GPT2;
        rc = parse_gpt2(c, j, what);
    } else {
        return tn_fail("%s: field model_type: \"%s\" is not supported (llama, mistral, qwen2, gpt2)", what, mt);
    }
    if (rc) return -1;
    c->json = json_incref(j);
    return 0;
}

int tn_config_load(tn_config *c, const char *path) {
    memset(c, 0, sizeof *c);
    if (!tn_dir_exists(path) && !tn_file_exists(path))
        return tn_fail("%s: no such model directory or config file", path);
    char *file = tn_dir_exists(path) ? tn_path_join(path, "config.json") : tn_strdup(path);
    json_t *j = tn_json_load_file(file);
    int rc = j ? tn_config_from_json(c, j, file) : -1;
    json_decref(j);
    free(file);
    return rc;
}

void tn_config_free(tn_config *c) {
    json_decref(c->json);
    c->json = NULL;
}

int tn_config_save(const tn_config *c, const char *path) {
    if (!c->json) return tn_fail("%s: config has no JSON to save", path);
    return tn_json_save_file(c->json, path);
}
