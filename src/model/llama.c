/* llama.c - the llama family (llama, mistral, qwen2): forward and backward.
 *
 * One block, N = B*T tokens, qd = H*hd, kvd = KV*hd:
 *   ln1  = rmsnorm(x)                       [N, D]
 *   q,k,v = ln1 Wq, ln1 Wk, ln1 Wv (+ bias)  [N, qd], [N, kvd], [N, kvd]
 *   q,k  = rope(q), rope(k)
 *   att  = causal_attention(q, k, v)        [N, qd]
 *   res2 = x + att Wo                        [N, D]
 *   ln2  = rmsnorm(res2)
 *   mlp  = silu(ln2 Wgate) * (ln2 Wup)       [N, I]
 *   out  = res2 + mlp Wdown                  [N, D]
 * then lnf = rmsnorm(out_L); the classifier and the loss (model.c,
 * tn_head_xent) take it from there, and the backward starts from their dlnf.
 * Generation runs this same forward over a KV cache (tn_model_forward_cached).
 */
#include "model/model.h"
#include "nn/gemm.h"

#include <stdio.h>
#include <string.h>

/* HF LlamaForCausalLM's tensors, in checkpoint order (see tn_walk_param). */
static void layout(tn_walker *wk) {
    tn_model *m = tn_walker_model(wk);
    const tn_config *c = &m->cfg;
    int D = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    char n[96];
    m->embed = tn_walk_param(wk, &m->dembed, V, D, "model.embed_tokens.weight");
    m->embed_h = tn_walk_keep_stored(wk);
    for (int l = 0; l < c->n_layers; l++) {
        tn_block *bk = &m->blocks[l];
        bk->ln1_w = tn_walk_param(wk, &bk->dln1_w, D, 0, "model.layers.%d.input_layernorm.weight", l);
#define LIN(field, in, out, bias, sub)                                   \
    snprintf(n, sizeof n, "model.layers.%d.%s", l, sub);                 \
    tn_walk_linear(wk, &bk->field, in, out, bias, 0, n)
        LIN(q, D, qd, c->qkv_bias, "self_attn.q_proj");
        LIN(k, D, kvd, c->qkv_bias, "self_attn.k_proj");
        LIN(v, D, kvd, c->qkv_bias, "self_attn.v_proj");
        LIN(o, qd, D, c->o_bias, "self_attn.o_proj");
        bk->ln2_w = tn_walk_param(wk, &bk->dln2_w, D, 0, "model.layers.%d.post_attention_layernorm.weight", l);
        LIN(gate, D, I, c->mlp_bias, "mlp.gate_proj");
        LIN(up, D, I, c->mlp_bias, "mlp.up_proj");
        LIN(down, I, D, c->mlp_bias, "mlp.down_proj");
#undef LIN
    }
    m->lnf_w = tn_walk_param(wk, &m->dlnf_w, D, 0, "model.norm.weight");
    if (c->tie_embeddings) {
        m->head.w = m->embed;
        m->head.wh = m->embed_h;
        m->head.dw = m->dembed;
    } else {
        m->head.w = tn_walk_param(wk, &m->head.dw, V, D, "lm_head.weight");
        m->head.wh = tn_walk_keep_stored(wk);
    }
    m->head.in = D;
    m->head.out = V;
}

static tn_attn_shape attn_shape(const tn_model *m, const tn_acts *a) {
    const tn_config *c = &m->cfg;
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    tn_attn_shape s = {a->B, a->T, c->n_heads, c->n_kv_heads, c->head_dim, qd, kvd, kvd, c->sliding_window};
    return s;
}

/* Block l over a->res[l] into its output (tn_block_out). */
static void block_forward(tn_model *m, tn_acts *a, tn_kv_cache *kv, int p0, int l) {
    const tn_config *c = &m->cfg;
    const int B = a->B, T = a->T, N = B * T, D = c->hidden_size, I = c->intermediate_size;
    const int H = c->n_heads, KV = c->n_kv_heads, hd = c->head_dim;
    const size_t qd = (size_t)H * hd, kvd = (size_t)KV * hd;
    tn_attn_shape as = attn_shape(m, a);
    /* the kernel rotates row t of each sequence by table row t: offset the
     * tables by p0 so that row t gets position p0 + t */
    const float *cos_t = m->rope_cos + (size_t)p0 * (hd / 2), *sin_t = m->rope_sin + (size_t)p0 * (hd / 2);
    tn_block *bk = &m->blocks[l];
    float *x = a->res[l], *q = a->qkv[l], *k = q + (size_t)N * qd, *v = k + (size_t)N * kvd;
    tn_rmsnorm_forward(a->ln1[l], a->ln1_rstd[l], x, bk->ln1_w, N, D, c->norm_eps);
    tn_linear_forward(&bk->q, a->ln1[l], q, N);
    tn_linear_forward(&bk->k, a->ln1[l], k, N);
    tn_linear_forward(&bk->v, a->ln1[l], v, N);
    tn_rope_forward(q, cos_t, sin_t, B, T, H, hd, (int)qd);
    tn_rope_forward(k, cos_t, sin_t, B, T, KV, hd, (int)kvd);
    tn_model_attention(a, kv, p0, l, q, k, v, &as);
    tn_linear_forward(&bk->o, a->att[l], a->res2[l], N);
    tn_add_inplace(a->res2[l], x, (size_t)N * D);
    tn_rmsnorm_forward(a->ln2[l], a->ln2_rstd[l], a->res2[l], bk->ln2_w, N, D, c->norm_eps);
    tn_linear_forward(&bk->gate, a->ln2[l], a->gate[l], N);
    tn_linear_forward(&bk->up, a->ln2[l], a->up[l], N);
    tn_swiglu_forward(a->mlp[l], a->gate[l], a->up[l], (size_t)N * I);
    float *out = tn_block_out(m, a, l);
    tn_linear_forward(&bk->down, a->mlp[l], out, N);
    tn_add_inplace(out, a->res2[l], (size_t)N * D);
}

static void forward(tn_model *m, tn_acts *a, tn_kv_cache *kv, int p0) {
    const tn_config *c = &m->cfg;
    const int N = a->B * a->T, D = c->hidden_size;

    /* embedding lookup: res[0][i] = embed[ids[i]] */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        float *x = a->res[0] + (size_t)i * D;
        if (m->embed)
            memcpy(x, m->embed + (size_t)a->ids[i] * D, sizeof(float) * D);
        else /* stored in bf16 (tn_model_load_frozen) */
            tn_bf16_expand(x, m->embed_h + (size_t)a->ids[i] * D, (size_t)D);
    }
    for (int l = 0; l < c->n_layers; l++) block_forward(m, a, kv, p0, l);
    tn_rmsnorm_forward(a->lnf, a->lnf_rstd, a->res_final, m->lnf_w, N, D, c->norm_eps);
}

static void backward(tn_model *m) {
    const tn_config *c = &m->cfg;
    tn_acts *a = &m->acts;
    const int B = a->B, T = a->T, N = B * T, D = c->hidden_size, I = c->intermediate_size;
    const int H = c->n_heads, KV = c->n_kv_heads, hd = c->head_dim;
    const size_t qd = (size_t)H * hd, kvd = (size_t)KV * hd;
    tn_attn_shape as = attn_shape(m, a);

    /* a->dln holds dloss/dlnf [N, D], from the training forward's fused head */
    tn_rmsnorm_backward(a->dres, m->dlnf_w, a->dln, a->res_final, m->lnf_w, a->lnf_rstd, N, D, 0, a->scratch);

    for (int l = c->n_layers - 1; l >= 0; l--) {
        tn_block *bk = &m->blocks[l];
        /* gradient checkpointing: this block's activations again, from its
         * input (the last block's are still there from the forward) */
        if (a->keep == TN_ACTS_KEEP_INPUTS && l + 1 < c->n_layers) block_forward(m, a, NULL, 0, l);
        /* dres = d(block output) */
        float *dmlp = a->dbig1, *dgate = a->dbig2, *dup = a->dbig1;
        tn_linear_backward(&bk->down, a->mlp[l], a->dres, dmlp, N, 0);
        tn_swiglu_backward(dgate, dup, dmlp, a->gate[l], a->up[l], (size_t)N * I);
        tn_linear_backward(&bk->gate, a->ln2[l], dgate, a->dln, N, 0);
        tn_linear_backward(&bk->up, a->ln2[l], dup, a->dln, N, 1);
        tn_rmsnorm_backward(a->dres, bk->dln2_w, a->dln, a->res2[l], bk->ln2_w, a->ln2_rstd[l], N, D, 1,
                            a->scratch);
        /* dres = d(res2) */
        tn_linear_backward(&bk->o, a->att[l], a->dres, a->datt, N, 0);
        float *q = a->qkv[l], *k = q + (size_t)N * qd, *v = k + (size_t)N * kvd;
        float *dq = a->dqkv, *dk = dq + (size_t)N * qd, *dv = dk + (size_t)N * kvd;
        tn_attention_backward(dq, dk, dv, a->datt, a->att[l], a->lse[l], q, k, v, &as, a->scratch);
        tn_rope_backward(dq, m->rope_cos, m->rope_sin, B, T, H, hd, (int)qd);
        tn_rope_backward(dk, m->rope_cos, m->rope_sin, B, T, KV, hd, (int)kvd);
        /* the first block's input gradient only feeds the embedding: skip it
         * when that is frozen (LoRA) */
        float *dln = l == 0 && !m->dembed ? NULL : a->dln;
        tn_linear_backward(&bk->q, a->ln1[l], dq, dln, N, 0);
        tn_linear_backward(&bk->k, a->ln1[l], dk, dln, N, 1);
        tn_linear_backward(&bk->v, a->ln1[l], dv, dln, N, 1);
        if (dln)
            tn_rmsnorm_backward(a->dres, bk->dln1_w, dln, a->res[l], bk->ln1_w, a->ln1_rstd[l], N, D, 1,
                                a->scratch);
        /* dres = d(block input) */
    }
    /* embedding: rows of the same token add up, so this stays serial */
    for (int i = 0; i < N && m->dembed; i++) {
        float *dst = m->dembed + (size_t)a->ids[i] * D;
        const float *src = a->dres + (size_t)i * D;
        for (int d = 0; d < D; d++) dst[d] += src[d];
    }
}

static const char *LORA_TARGETS[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
                                           NULL};

/* llama, mistral, qwen2 (config.c) */
const tn_arch_ops tn_arch_llama = {
    .name = "llama",
    .layout = layout,
    .forward = forward,
    .backward = backward,
    .rope = 1,
    .lora_targets = LORA_TARGETS,
};
