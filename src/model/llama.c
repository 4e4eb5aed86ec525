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
 */
#include "model/model.h"

#include <string.h>

static float *next_residual(tn_model *m, int l) {
    return l + 1 < m->cfg.n_layers ? m->acts.res[l + 1] : m->acts.res_final;
}

static tn_attn_shape attn_shape(const tn_model *m) {
    const tn_config *c = &m->cfg;
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    tn_attn_shape s = {m->acts.B, m->acts.T, c->n_heads, c->n_kv_heads, c->head_dim, qd, kvd, kvd,
                       c->sliding_window};
    return s;
}

void tn_llama_forward(tn_model *m) {
    const tn_config *c = &m->cfg;
    tn_acts *a = &m->acts;
    const int B = a->B, T = a->T, N = B * T, D = c->hidden_size, I = c->intermediate_size;
    const int H = c->n_heads, KV = c->n_kv_heads, hd = c->head_dim;
    const size_t qd = (size_t)H * hd, kvd = (size_t)KV * hd;
    tn_attn_shape as = attn_shape(m);

    /* embedding lookup: res[0][i] = embed[ids[i]] */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) memcpy(a->res[0] + (size_t)i * D, m->embed + (size_t)a->ids[i] * D, sizeof(float) * D);

    for (int l = 0; l < c->n_layers; l++) {
        tn_block *bk = &m->blocks[l];
        float *x = a->res[l], *q = a->qkv[l], *k = q + (size_t)N * qd, *v = k + (size_t)N * kvd;
        tn_rmsnorm_forward(a->ln1[l], a->ln1_rstd[l], x, bk->ln1_w, N, D, c->norm_eps);
        tn_linear_forward(&bk->q, a->ln1[l], q, N);
        tn_linear_forward(&bk->k, a->ln1[l], k, N);
        tn_linear_forward(&bk->v, a->ln1[l], v, N);
        tn_rope_forward(q, m->rope_cos, m->rope_sin, B, T, H, hd, (int)qd);
        tn_rope_forward(k, m->rope_cos, m->rope_sin, B, T, KV, hd, (int)kvd);
        tn_attention_forward(a->att[l], a->lse[l], q, k, v, &as, a->scratch);
        tn_linear_forward(&bk->o, a->att[l], a->res2[l], N);
        tn_add_inplace(a->res2[l], x, (size_t)N * D);
        tn_rmsnorm_forward(a->ln2[l], a->ln2_rstd[l], a->res2[l], bk->ln2_w, N, D, c->norm_eps);
        tn_linear_forward(&bk->gate, a->ln2[l], a->gate[l], N);
        tn_linear_forward(&bk->up, a->ln2[l], a->up[l], N);
        tn_swiglu_forward(a->mlp[l], a->gate[l], a->up[l], (size_t)N * I);
        float *out = next_residual(m, l);
        tn_linear_forward(&bk->down, a->mlp[l], out, N);
        tn_add_inplace(out, a->res2[l], (size_t)N * D);
    }
    tn_rmsnorm_forward(a->lnf, a->lnf_rstd, a->res_final, m->lnf_w, N, D, c->norm_eps);
}

void tn_llama_backward(tn_model *m) {
    const tn_config *c = &m->cfg;
    tn_acts *a = &m->acts;
    const int B = a->B, T = a->T, N = B * T, D = c->hidden_size, I = c->intermediate_size;
    const int H = c->n_heads, KV = c->n_kv_heads, hd = c->head_dim;
    const size_t qd = (size_t)H * hd, kvd = (size_t)KV * hd;
    tn_attn_shape as = attn_shape(m);

    /* a->dln holds dloss/dlnf [N, D], from the training forward's fused head */
    tn_rmsnorm_backward(a->dres, m->dlnf_w, a->dln, a->res_final, m->lnf_w, a->lnf_rstd, N, D, 0, a->scratch);

    for (int l = c->n_layers - 1; l >= 0; l--) {
        tn_block *bk = &m->blocks[l];
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
