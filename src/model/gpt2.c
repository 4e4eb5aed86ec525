/* gpt2.c - GPT-2: forward and backward.
 *
 * One block, N = B*T tokens (HF Conv1D weights, y = x W + b):
 *   ln1  = layernorm(x)                      [N, D]
 *   qkv  = ln1 Wattn + b                     [N, 3D]  (q | k | v)
 *   att  = causal_attention(q, k, v)         [N, D]
 *   res2 = x + att Wproj + b
 *   ln2  = layernorm(res2)
 *   h    = gelu_tanh(ln2 Wfc + b)            [N, I]
 *   out  = res2 + h Wproj2 + b
 * input: x0 = wte[ids] + wpe[t]; lnf = layernorm(out_L), whose classifier
 * (wte^T, tied) and loss live in model.c.
 * Generation runs this same forward over a KV cache (tn_model_forward_cached).
 */
#include "model/model.h"
#include "nn/gemm.h"

#include <stdio.h>
#include <string.h>

/* HF GPT2LMHeadModel's tensors (Conv1D weights [in, out]), in checkpoint order. */
static void layout(tn_walker *wk) {
    tn_model *m = tn_walker_model(wk);
    const tn_config *c = &m->cfg;
    int D = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    char n[96];
    m->embed = tn_walk_param(wk, &m->dembed, V, D, "transformer.wte.weight");
    m->embed_h = tn_walk_keep_stored(wk);
    m->pos = tn_walk_param(wk, &m->dpos, c->max_positions, D, "transformer.wpe.weight");
    for (int l = 0; l < c->n_layers; l++) {
        tn_block *bk = &m->blocks[l];
        bk->ln1_w = tn_walk_param(wk, &bk->dln1_w, D, 0, "transformer.h.%d.ln_1.weight", l);
        bk->ln1_b = tn_walk_param(wk, &bk->dln1_b, D, 0, "transformer.h.%d.ln_1.bias", l);
        snprintf(n, sizeof n, "transformer.h.%d.attn.c_attn", l);
        tn_walk_linear(wk, &bk->qkv, D, 3 * D, 1, 1, n);
        snprintf(n, sizeof n, "transformer.h.%d.attn.c_proj", l);
        tn_walk_linear(wk, &bk->o, D, D, 1, 1, n);
        bk->ln2_w = tn_walk_param(wk, &bk->dln2_w, D, 0, "transformer.h.%d.ln_2.weight", l);
        bk->ln2_b = tn_walk_param(wk, &bk->dln2_b, D, 0, "transformer.h.%d.ln_2.bias", l);
        snprintf(n, sizeof n, "transformer.h.%d.mlp.c_fc", l);
        tn_walk_linear(wk, &bk->up, D, I, 1, 1, n);
        snprintf(n, sizeof n, "transformer.h.%d.mlp.c_proj", l);
        tn_walk_linear(wk, &bk->down, I, D, 1, 1, n);
    }
    m->lnf_w = tn_walk_param(wk, &m->dlnf_w, D, 0, "transformer.ln_f.weight");
    m->lnf_b = tn_walk_param(wk, &m->dlnf_b, D, 0, "transformer.ln_f.bias");
    m->head.w = m->embed;
    m->head.wh = m->embed_h;
    m->head.dw = m->dembed;
    m->head.in = D;
    m->head.out = V;
}

static tn_attn_shape attn_shape(const tn_model *m, const tn_acts *a) {
    const tn_config *c = &m->cfg;
    int D = c->hidden_size;
    tn_attn_shape s = {a->B, a->T, c->n_heads, c->n_heads, c->head_dim, 3 * D, 3 * D, 3 * D, 0};
    return s;
}

/* Block l over a->res[l] into its output (tn_block_out). */
static void block_forward(tn_model *m, tn_acts *a, tn_kv_cache *kv, int p0, int l) {
    const tn_config *c = &m->cfg;
    const int N = a->B * a->T, D = c->hidden_size, I = c->intermediate_size;
    tn_attn_shape as = attn_shape(m, a);
    tn_block *bk = &m->blocks[l];
    float *x = a->res[l], *qkv = a->qkv[l];
    tn_layernorm_forward(a->ln1[l], a->ln1_mean[l], a->ln1_rstd[l], x, bk->ln1_w, bk->ln1_b, N, D, c->norm_eps);
    tn_linear_forward(&bk->qkv, a->ln1[l], qkv, N);
    tn_model_attention(a, kv, p0, l, qkv, qkv + D, qkv + 2 * D, &as);
    tn_linear_forward(&bk->o, a->att[l], a->res2[l], N);
    tn_add_inplace(a->res2[l], x, (size_t)N * D);
    tn_layernorm_forward(a->ln2[l], a->ln2_mean[l], a->ln2_rstd[l], a->res2[l], bk->ln2_w, bk->ln2_b, N, D,
                         c->norm_eps);
    tn_linear_forward(&bk->up, a->ln2[l], a->gate[l], N);
    tn_gelu_forward(a->mlp[l], a->gate[l], (size_t)N * I);
    float *out = tn_block_out(m, a, l);
    tn_linear_forward(&bk->down, a->mlp[l], out, N);
    tn_add_inplace(out, a->res2[l], (size_t)N * D);
}

static void forward(tn_model *m, tn_acts *a, tn_kv_cache *kv, int p0) {
    const tn_config *c = &m->cfg;
    const int T = a->T, N = a->B * T, D = c->hidden_size;

#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        float *x = a->res[0] + (size_t)i * D;
        const float *pe = m->pos + (size_t)(p0 + i % T) * D;
        if (m->embed) {
            const float *te = m->embed + (size_t)a->ids[i] * D;
            for (int d = 0; d < D; d++) x[d] = te[d] + pe[d];
        } else { /* wte stored in bf16 (tn_model_load_frozen) */
            tn_bf16_expand(x, m->embed_h + (size_t)a->ids[i] * D, (size_t)D);
            for (int d = 0; d < D; d++) x[d] += pe[d];
        }
    }
    for (int l = 0; l < c->n_layers; l++) block_forward(m, a, kv, p0, l);
    tn_layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, a->res_final, m->lnf_w, m->lnf_b, N, D, c->norm_eps);
}

static void backward(tn_model *m) {
    const tn_config *c = &m->cfg;
    tn_acts *a = &m->acts;
    const int T = a->T, N = a->B * T, D = c->hidden_size, I = c->intermediate_size;
    tn_attn_shape as = attn_shape(m, a);

    /* a->dln holds dloss/dlnf [N, D], from the training forward's fused head */
    tn_layernorm_backward(a->dres, m->dlnf_w, m->dlnf_b, a->dln, a->res_final, m->lnf_w, a->lnf_mean, a->lnf_rstd,
                          N, D, 0, a->scratch);
    for (int l = c->n_layers - 1; l >= 0; l--) {
        tn_block *bk = &m->blocks[l];
        /* gradient checkpointing: this block's activations again, from its
         * input (the last block's are still there from the forward) */
        if (a->keep == TN_ACTS_KEEP_INPUTS && l + 1 < c->n_layers) block_forward(m, a, NULL, 0, l);
        float *dh = a->dbig1, *dfc = a->dbig2;
        tn_linear_backward(&bk->down, a->mlp[l], a->dres, dh, N, 0);
        tn_gelu_backward(dfc, dh, a->gate[l], (size_t)N * I);
        tn_linear_backward(&bk->up, a->ln2[l], dfc, a->dln, N, 0);
        tn_layernorm_backward(a->dres, bk->dln2_w, bk->dln2_b, a->dln, a->res2[l], bk->ln2_w, a->ln2_mean[l],
                              a->ln2_rstd[l], N, D, 1, a->scratch);
        tn_linear_backward(&bk->o, a->att[l], a->dres, a->datt, N, 0);
        float *qkv = a->qkv[l], *dqkv = a->dqkv;
        tn_attention_backward(dqkv, dqkv + D, dqkv + 2 * D, a->datt, a->att[l], a->lse[l], qkv, qkv + D,
                              qkv + 2 * D, &as, a->scratch);
        /* the first block's input gradient only feeds the embeddings: skip
         * it when they are frozen (LoRA) */
        float *dln = l == 0 && !m->dembed ? NULL : a->dln;
        tn_linear_backward(&bk->qkv, a->ln1[l], dqkv, dln, N, 0);
        if (dln)
            tn_layernorm_backward(a->dres, bk->dln1_w, bk->dln1_b, dln, a->res[l], bk->ln1_w, a->ln1_mean[l],
                                  a->ln1_rstd[l], N, D, 1, a->scratch);
    }
    for (int i = 0; i < N && m->dembed; i++) {
        float *te = m->dembed + (size_t)a->ids[i] * D, *pe = m->dpos + (size_t)(i % T) * D;
        const float *src = a->dres + (size_t)i * D;
        for (int d = 0; d < D; d++) {
            te[d] += src[d];
            pe[d] += src[d];
        }
    }
}

static const char *const IGNORED[] = {".attn.bias", ".attn.masked_bias", NULL}; /* HF's causal-mask buffers */
static const char *LORA_TARGETS[] = {"c_attn", "c_proj", "c_fc", NULL};

const tn_arch_ops tn_arch_gpt2 = {
    .name = "gpt2",
    .layout = layout,
    .forward = forward,
    .backward = backward,
    .learned_positions = 1,
    .prefix = "transformer.",
    .ignored = IGNORED,
    .lora_targets = LORA_TARGETS,
    .conv1d = 1,
};
