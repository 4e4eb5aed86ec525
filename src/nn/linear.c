/* linear.c - fully connected layer through tn_sgemm (src/nn/gemm.c), forward and backward.
 *
 * Both of HF's layouts are served without copying weights:
 *   nn.Linear: W [out, in],  y = x W^T     (llama family, lm_head)
 *   Conv1D:    W [in, out],  y = x W       (GPT-2 c_attn, c_proj, c_fc)
 * so checkpoints load and save as plain memcpy.
 */
#include "nn/nn.h"

#include "nn/gemm.h"

void tn_linear_forward(const tn_linear *L, const float *x, float *y, int N) {
    /* y[N,out] = x[N,in] @ (W^T or W) */
    int ld = L->in_out_layout ? L->out : L->in;
    if (!L->w) /* bf16 as stored */
        tn_sgemm_bf16w(!L->in_out_layout, N, L->out, L->in, 1.0f, x, L->in, L->wh, ld, 0.0f, y, L->out);
    else
        tn_sgemm(0, !L->in_out_layout, N, L->out, L->in, 1.0f, x, L->in, L->w, ld, 0.0f, y, L->out);
    if (L->b) {
        const float *b = L->b;
        int out = L->out;
#pragma omp parallel for schedule(static)
        for (int i = 0; i < N; i++) {
            float *row = y + (size_t)i * out;
            for (int j = 0; j < out; j++) row[j] += b[j];
        }
    }
    if (L->adapter) L->adapter->forward(L->adapter, x, y, L->in, L->out, N);
}

void tn_linear_backward(const tn_linear *L, const float *x, const float *dy, float *dx, int N,
                        int accumulate_dx) {
    if (L->dw) {
        if (L->in_out_layout) /* dW[in,out] += x^T[in,N] @ dy[N,out] */
            tn_sgemm(1, 0, L->in, L->out, N, 1.0f, x, L->in, dy, L->out, 1.0f, L->dw, L->out);
        else /* dW[out,in] += dy^T[out,N] @ x[N,in] */
            tn_sgemm(1, 0, L->out, L->in, N, 1.0f, dy, L->out, x, L->in, 1.0f, L->dw, L->in);
    }
    if (L->db) {
        /* db[out] += sum over rows of dy: parallel over output columns so that
         * no two threads write the same element. */
        float *db = L->db;
        int out = L->out;
#pragma omp parallel for schedule(static)
        for (int j = 0; j < out; j++) {
            float s = 0.0f;
            for (int i = 0; i < N; i++) s += dy[(size_t)i * out + j];
            db[j] += s;
        }
    }
    if (dx) {
        float beta = accumulate_dx ? 1.0f : 0.0f;
        /* in_out: dx[N,in] = dy[N,out] @ W^T[out,in]; else dx = dy[N,out] @ W[out,in] */
        int ld = L->in_out_layout ? L->out : L->in;
        if (!L->w)
            tn_sgemm_bf16w(L->in_out_layout, N, L->in, L->out, 1.0f, dy, L->out, L->wh, ld, beta, dx, L->in);
        else
            tn_sgemm(0, L->in_out_layout, N, L->in, L->out, 1.0f, dy, L->out, L->w, ld, beta, dx, L->in);
    }
    if (L->adapter) L->adapter->backward(L->adapter, x, dy, dx, L->in, L->out, N);
}

void tn_linear_rows(const tn_linear *L, const float *x, float *y, int N, int o0, int nout) {
    if (!L->w)
        tn_sgemm_bf16w(1, N, nout, L->in, 1.0f, x, L->in, L->wh + (size_t)o0 * L->in, L->in, 0.0f, y, nout);
    else
        tn_sgemm(0, 1, N, nout, L->in, 1.0f, x, L->in, L->w + (size_t)o0 * L->in, L->in, 0.0f, y, nout);
}

void tn_add_inplace(float *y, const float *x, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}
