/* nn.h - CPU kernels for transformer training, fp32.
 *
 * Each layer's forward and backward live side by side in one file, llm.c
 * style; shapes are given in comments with
 *   N = B*T rows (tokens), D = model width, H/KV = query/key-value heads,
 *   hd = head size, I = MLP width, V = vocabulary.
 * All tensors are row-major. Backward functions ACCUMULATE into parameter
 * gradients (+=), so gradient accumulation over micro-batches is free; input
 * gradients are written (=) unless the name or argument says accumulate.
 * Every kernel is checked against PyTorch through the model tests
 * (tests/test_model.c against tools/engine_ref.py).
 */
#ifndef TN_NN_H
#define TN_NN_H

#include <stddef.h>
#include <stdint.h>

/* ---- per-thread scratch ------------------------------------------------- */

/* Kernels that tile their work or reduce across threads take their per-thread
 * room from the caller (the model keeps it in its activation arena), so they
 * allocate nothing and cannot fail half way: `p` has room for `nt` threads
 * (as the kernel's tn_*_scratch(..., nt) says, in floats; 64-byte aligned),
 * and the kernel runs min(nt, omp_get_max_threads()) threads. */
typedef struct {
    float *p;
    int nt;
} tn_scratch;

/* ---- linear (matmul through tn_sgemm, gemm.h) --------------------------- */

/* A linear map y = x W^T + b (HF nn.Linear, W is [out, in]) or, with
 * in_out_layout, y = x W + b (HF GPT-2 Conv1D, W is [in, out]). The pointers
 * are views into the model's parameter and gradient arenas; b/db may be NULL. */
/* An adapter on one linear layer: a LoRA slot (src/model/lora.c) is one.
 * nn knows only these two calls, so the kernels stay below the model layer.
 * forward runs after the layer's own y = x W (+ b) and adds its part to y;
 * backward runs after the layer's own gradients and adds its part to dx
 * (dx may be NULL), accumulating its own parameters' gradients. */
typedef struct tn_linear_adapter tn_linear_adapter;
struct tn_linear_adapter {
    void (*forward)(tn_linear_adapter *a, const float *x, float *y, int in, int out, int N);
    void (*backward)(tn_linear_adapter *a, const float *x, const float *dy, float *dx, int in, int out, int N);
};

typedef struct {
    float *w, *b;    /* weights and bias */
    /* Or, with w == NULL, the weights as a checkpoint stored them in bf16
     * (frozen: no dw; tn_model_load_frozen). Same layout as w; products
     * expand them per block (tn_sgemm_bf16w, gemm.h). */
    const uint16_t *wh;
    float *dw, *db;  /* their gradients (NULL when frozen or not training) */
    int in, out;
    int in_out_layout;
    tn_linear_adapter *adapter; /* NULL, or e.g. LoRA: y += scale * dropout(x) A^T B^T */
} tn_linear;

/* y[N,out] = x[N,in] . W (+ b) */
void tn_linear_forward(const tn_linear *L, const float *x, float *y, int N);
/* dW += dy^T x, db += sum_rows dy, and dx[N,in] = dy W (accumulate_dx: +=).
 * dx may be NULL when the input needs no gradient; dw/db NULL are skipped
 * (frozen weights). An adapter gets its own gradients and adds its part of dx. */
void tn_linear_backward(const tn_linear *L, const float *x, const float *dy, float *dx, int N,
                        int accumulate_dx);
/* y[N, nout] = x[N, in] . (output columns [o0, o0 + nout) of W), no bias and
 * no adapter: a slice of a [out, in] layer (the classifier's vocabulary
 * slices), from w or wh. */
void tn_linear_rows(const tn_linear *L, const float *x, float *y, int N, int o0, int nout);

/* ---- normalisation ------------------------------------------------------ */

/* RMSNorm: y = x / sqrt(mean(x^2) + eps) * w.  x,y [N,D], w [D], rstd [N] saved. */
void tn_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int N, int D, float eps);
/* dx[N,D] = (accumulate ? += : =) d/dx, dw[D] += ... The weight gradients
 * are summed per thread in `scratch` (tn_norm_scratch floats, either norm). */
size_t tn_norm_scratch(int D, int nt);
void tn_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                         const float *rstd, int N, int D, int accumulate, tn_scratch scratch);

/* LayerNorm: y = (x - mean) * rstd * w + b.  mean, rstd [N] saved. */
void tn_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w,
                          const float *b, int N, int D, float eps);
void tn_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                           const float *w, const float *mean, const float *rstd, int N, int D,
                           int accumulate, tn_scratch scratch);

/* ---- rotary position embedding (HF "rotate_half" convention) ------------ */

/* cos/sin tables [T, hd/2] for positions 0..T-1, from inv_freq [hd/2]. */
void tn_rope_tables(float *cos_t, float *sin_t, const float *inv_freq, int T, int hd);
/* In place on x [B, T, nh, hd] with row stride `stride` floats per token:
 * pairs (i, i + hd/2) are rotated by angle pos*inv_freq[i]. Backward rotates
 * by the negative angle (the transpose of a rotation). */
void tn_rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int nh, int hd,
                     int stride);
void tn_rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int nh,
                      int hd, int stride);

/* ---- causal self-attention --------------------------------------------- */

/* Shapes of one attention call. q is [B, T, H, hd] with `q_stride` floats
 * between tokens (so q, k and v may be slices of one fused qkv buffer); k and
 * v are [B, T, KV, hd] with their strides; out is [B, T, H, hd] contiguous.
 * Query head h reads key/value head h / (H / KV) (GQA). window > 0 limits
 * each query to the `window` most recent keys (Mistral's sliding window). */
typedef struct {
    int B, T, H, KV, hd;
    int q_stride, k_stride, v_stride;
    int window;
} tn_attn_shape;

/* The T x T score matrix is never stored: the work runs in tiles of 64 query
 * rows of one (b, h) against the keys up to the tile's diagonal (S = Q K^T and
 * O = P V as sgemms into a 64 x T per-thread scratch). The forward keeps only
 * the log-sum-exp of each query row (lse [B, H, T]) and the backward recomputes
 * each tile's probabilities from it, as flash attention does; it also reads
 * the forward's output (rowsum(dout * out) is the softmax correction).
 * The tiles live in `scratch`: tn_attention_scratch(T, nt, backward) floats. */
size_t tn_attention_scratch(int T, int nt, int backward);
void tn_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                          const tn_attn_shape *s, tn_scratch scratch);
/* dq, dk, dv are written (=), with the same strides as q, k, v. */
void tn_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                           const float *lse, const float *q, const float *k, const float *v,
                           const tn_attn_shape *s, tn_scratch scratch);

/* Attention of T new rows (B = 1) at positions p0..p0+T-1 over cached keys
 * and values: K, V are [p0 + T, KV*hd] (s->k_stride and s->v_stride are their
 * row strides), with the new rows already in place; q is [T, H, hd] with
 * s->q_stride. The fp32 arithmetic (dot, max-subtracted exp, sum, one
 * reciprocal) is the tiled kernel's, without its sgemms: decoding one token
 * has one query row. Scratch: tn_attention_cached_scratch(max keys, nt). */
size_t tn_attention_cached_scratch(int max_keys, int nt);
void tn_attention_cached(float *out, const float *q, const float *K, const float *V, int p0,
                         const tn_attn_shape *s, tn_scratch scratch);

/* ---- activations -------------------------------------------------------- */

/* SwiGLU: h = silu(gate) * up, all [N, I]. In the backward, dup may alias dh. */
void tn_swiglu_forward(float *h, const float *gate, const float *up, size_t n);
void tn_swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate, const float *up,
                        size_t n);
/* GELU, tanh approximation (HF "gelu_new"). In place is allowed for forward. */
void tn_gelu_forward(float *y, const float *x, size_t n);
void tn_gelu_backward(float *dx, const float *dy, const float *x, size_t n);

/* ---- classifier + cross-entropy (xent.c) -------------------------------- */

/* HF's causal-LM label shift: targets[b, t] = labels[b, t + 1], and -100 (not
 * scored) at t = T - 1. Returns the number of scored positions. */
int64_t tn_causal_targets(int32_t *targets, const int32_t *labels, int B, int T);

/* Cross-entropy of n rows of logits [n, V] against targets[n] (all in
 * [0, V)): returns the SUM of the row losses; with dlogits != NULL also writes
 * grad_scale * (softmax - onehot) (dlogits may alias logits); with row_loss
 * != NULL, row_loss[n] receives each row's loss. */
double tn_xent_rows(float *dlogits, const float *logits, const int32_t *targets, int n, int V, float grad_scale,
                    double *row_loss);

/* The classifier `head` (x [N, D] -> logits [N, V]) fused with the mean
 * cross-entropy over the rows whose target is not -100, in chunks of `chunk`
 * scored rows, so that [N, V] logits are never held. Returns the mean loss (0
 * when nothing is scored) and the scored count in *count. With dx != NULL it
 * is also the head's backward: dx [N, D] = d(mean loss)/dx is written (zero
 * rows where not scored) and the head's weight gradients accumulate (+=), as
 * tn_linear_backward does. scratch holds tn_head_xent_scratch(chunk, D, V)
 * floats. With pos_loss != NULL, pos_loss[N] receives each position's own
 * loss (0 where not scored): what a per-row evaluation sums. */
size_t tn_head_xent_scratch(int chunk, int D, int V);
double tn_head_xent(const tn_linear *head, const float *x, const int32_t *targets, int N, float *dx,
                    float *scratch, int chunk, int64_t *count, double *pos_loss);

/* ---- small helpers ------------------------------------------------------ */
void tn_add_inplace(float *y, const float *x, size_t n); /* y += x */

#endif
