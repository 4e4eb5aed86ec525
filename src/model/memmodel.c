/* memmodel.c - the memory a job needs (memmodel.h). */
#include "model/memmodel.h"

#include "base/err.h"
#include "model/model.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

const char *tn_mem_job_name(tn_mem_job j) {
    switch (j) {
    case TN_MEM_EVAL: return "eval";
    case TN_MEM_LORA: return "lora";
    case TN_MEM_FULL: return "full";
    case TN_MEM_CHECK: return "check";
    }
    return "?";
}

/* The parameters outside matrices (norms, biases): kept in fp32 even when the
 * matrices stay bf16. */
static double vector_params(const tn_config *c) {
    double D = c->hidden_size, qd = (double)c->n_heads * c->head_dim, kvd = (double)c->n_kv_heads * c->head_dim;
    double per = 2 * D;
    if (c->qkv_bias) per += qd + 2 * kvd;
    if (c->o_bias) per += D;
    if (c->mlp_bias) per += 2 * (double)c->intermediate_size + D;
    return c->n_layers * per + D;
}

/* The adapter's parameters: rank r on q, k, v, o, gate, up, down of every block. */
static double lora_params(const tn_config *c, int r) {
    double D = c->hidden_size, I = c->intermediate_size;
    double qd = (double)c->n_heads * c->head_dim, kvd = (double)c->n_kv_heads * c->head_dim;
    double per = (D + qd) * 2 + (D + kvd) * 2 + (D + I) * 3;
    return (double)r * per * c->n_layers;
}

static double largest_tensor(const tn_config *c) {
    double D = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    double qd = (double)c->n_heads * c->head_dim, big = V * D;
    if (I * D > big) big = I * D;
    if (qd * D > big) big = qd * D;
    return big;
}

int tn_mem_estimate_config(const tn_config *c, const tn_mem_req *r, tn_mem_estimate *out) {
    memset(out, 0, sizeof *out);
    if (r->weight_bytes != 2 && r->weight_bytes != 4)
        return tn_fail("memory model: %d bytes per weight (2 for bf16, 4 for fp32)", r->weight_bytes);
    int runs = r->job != TN_MEM_CHECK;
    if (runs && (r->batch < 1 || r->seq_len < 1))
        return tn_fail("memory model: batch %d x seq_len %d for a %s job", r->batch, r->seq_len,
                       tn_mem_job_name(r->job));
    double P = (double)tn_config_param_count(c);
    if (!(P > 0)) return tn_fail("memory model: model_type %s has no parameter layout", c->model_type);
    double vec = vector_params(c), W = r->weight_bytes;
    int nt = r->threads > 0 ? r->threads : 1;
    switch (r->job) {
    case TN_MEM_EVAL:
    case TN_MEM_LORA:
        out->weights = W == 2 ? (P - vec) * 2 + vec * 4 : P * 4;
        break;
    case TN_MEM_FULL:
        out->weights = P * 4;
        out->train = P * 12;
        break;
    case TN_MEM_CHECK:
        out->weights = (r->n_models > 0 ? r->n_models : 2) * largest_tensor(c) * (4 + W);
        break;
    }
    if (r->job == TN_MEM_LORA) out->train = lora_params(c, r->lora_rank > 0 ? r->lora_rank : 16) * 16;
    if (runs) {
        int keep = r->job == TN_MEM_EVAL ? TN_ACTS_SHARED : r->checkpoint ? TN_ACTS_KEEP_INPUTS : TN_ACTS_KEEP_ALL;
        out->acts = 4.0 * (double)tn_acts_floats(c, r->batch, r->seq_len, keep, nt) + (W == 2 ? 4.0 * 1048576 : 0);
    }
    out->runtime = TN_MEM_RUNTIME_BYTES;
    out->total = out->weights + out->train + out->acts + out->runtime;
    return 0;
}

/* A llama config with Llama 3.2's proportions and L layers of hidden D. */
static int synth_config(int D, int L, tn_config *c) {
    int heads = D / 128 > 0 ? D / 128 : 1, I = (int)(ceil(8.0 * D / 3 / 128) * 128), kv = heads;
    for (int k = 8; k > 0; k--) /* grouped-query attention: up to 8 KV heads that divide the heads */
        if (heads % k == 0) {
            kv = k;
            break;
        }
    json_t *j = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b}", "model_type", "llama", "vocab_size",
                          128256, "hidden_size", D, "intermediate_size", I, "num_hidden_layers", L,
                          "num_attention_heads", heads, "num_key_value_heads", kv, "head_dim",
                          128, "max_position_embeddings", 131072, "tie_word_embeddings", 1);
    int rc = tn_config_from_json(c, j, "memory model");
    json_decref(j);
    return rc;
}

int tn_mem_estimate_params(int64_t params, const tn_mem_req *r, tn_mem_estimate *out) {
    memset(out, 0, sizeof *out);
    if (params <= 0) return tn_fail("memory model: %lld parameters", (long long)params);
    /* the widest hidden size whose ~D/110 layers still fit the count, then
     * as many layers as the count holds */
    int D = 256;
    for (int d = 256; d <= 32768; d += 128) {
        tn_config c;
        int L = d / 110 > 0 ? d / 110 : 1;
        if (synth_config(d, L, &c)) return -1;
        int64_t n = tn_config_param_count(&c);
        tn_config_free(&c);
        if (n > params) break;
        D = d;
    }
    tn_config one, c;
    if (synth_config(D, 1, &one)) return -1;
    int64_t n1 = tn_config_param_count(&one), embed = (int64_t)128256 * D;
    tn_config_free(&one);
    int64_t per = n1 - embed - D; /* one block (the final norm aside) */
    int64_t L = per > 0 ? (params - embed - D + per / 2) / per : 1;
    if (L < 1) L = 1;
    if (synth_config(D, (int)L, &c)) return -1;
    int rc = tn_mem_estimate_config(&c, r, out);
    tn_config_free(&c);
    return rc;
}
