/* attention.c - causal multi-head self-attention with GQA, forward and backward.
 *
 * Blocked, flash-attention style: the work is cut into tiles of BQ query rows
 * of one (batch, head). A tile's scores against the keys it may see (up to its
 * diagonal; causal blocks beyond it are never computed) are one sgemm into a
 * per-thread scratch of BQ x T floats (the caller's), the softmax runs over the tile's rows
 * with vectorised exp, and P V is a second sgemm. No T x T matrix is kept
 * between forward and backward: the forward stores only the log-sum-exp of
 * each query row, and the backward recomputes each tile's probabilities
 * P = exp(S - lse) from q and k, then gets dP, dQ, dK, dV as sgemms.
 * The sgemms run inside our OpenMP region, so OpenBLAS runs them on the
 * calling thread (no nested pools).
 *
 * Work split: forward over (b, h, query tile); backward over (b, kv head)
 * pairs, because the query heads of one GQA group all add into the same dk/dv
 * rows and must therefore run on one thread.
 *
 * Inference (tn_attention_cached, at the end) attends a few new rows over a
 * KV cache with plain dot products: one query row is too thin for sgemm.
 */
#include "nn/nn.h"
#include "nn/simd.h"

#include "nn/gemm.h"
#include <math.h>
#include <omp.h>
#include <string.h>

enum { BQ = 64 }; /* query rows per tile */

/* Per thread: a tile's scores S [BQ, T]; the backward adds dP [BQ, T] and Di [BQ]. */
static size_t per_thread(int T, int backward) {
    return backward ? (size_t)BQ * T * 2 + BQ : (size_t)BQ * T;
}

size_t tn_attention_scratch(int T, int nt, int backward) { return (size_t)nt * per_thread(T, backward); }

static int team(tn_scratch sc) {
    int n = omp_get_max_threads();
    return n < sc.nt ? n : sc.nt;
}

static inline int first_key(const tn_attn_shape *s, int t) {
    return (s->window > 0 && t - s->window + 1 > 0) ? t - s->window + 1 : 0;
}

/* Turns scale-free scores S[nq, nk] (keys j0..j0+nk-1, rows t0..) into
 * probabilities in place, zero outside each row's window [first_key, t].
 * With lse_in == NULL the row statistics are computed and written to lse_out;
 * otherwise P = exp(S * scale - lse_in[r]). */
static void tile_probs(float *S, int nq, int nk, int t0, int j0, float scale, const tn_attn_shape *s,
                       const float *lse_in, float *lse_out) {
    for (int r = 0; r < nq; r++) {
        int t = t0 + r, a = first_key(s, t) - j0, b = t - j0 + 1; /* valid columns [a, b) */
        float *row = S + (size_t)r * nk;
        for (int j = 0; j < a; j++) row[j] = 0.0f;
        for (int j = b; j < nk; j++) row[j] = 0.0f;
        float *v = row + a;
        int n = b - a;
        for (int j = 0; j < n; j++) v[j] *= scale;
        if (lse_in) {
            tn_row_exp(v, v, n, lse_in[r], 1.0f);
        } else {
            float mx = tn_row_max(v, n);
            double sum = tn_row_exp(v, v, n, mx, 1.0f);
            float inv = (float)(1.0 / sum);
            for (int j = 0; j < n; j++) v[j] *= inv;
            lse_out[r] = mx + (float)log(sum);
        }
    }
}

void tn_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                          const tn_attn_shape *s, tn_scratch scratch) {
    /* out[B,T,H,hd], lse[B,H,T]; q[B,T,H,hd], k,v[B,T,KV,hd] (strided rows) */
    const int B = s->B, T = s->T, H = s->H, hd = s->hd, group = s->H / s->KV;
    const int ntile = (T + BQ - 1) / BQ, ld_o = H * hd;
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel num_threads(team(scratch))
    {
        float *S = scratch.p + (size_t)omp_get_thread_num() * per_thread(T, 0);
#pragma omp for schedule(dynamic, 1)
        for (int job = 0; job < B * H * ntile; job++) {
            /* largest tiles first: the last query tile sees the most keys */
            int tile = ntile - 1 - job / (B * H), bh = job % (B * H);
            int b = bh / H, h = bh % H, g = h / group;
            int t0 = tile * BQ, nq = T - t0 < BQ ? T - t0 : BQ;
            int j0 = first_key(s, t0), nk = t0 + nq - j0;
            const float *qt = q + ((size_t)b * T + t0) * s->q_stride + (size_t)h * hd;
            const float *kt = k + ((size_t)b * T + j0) * s->k_stride + (size_t)g * hd;
            const float *vt = v + ((size_t)b * T + j0) * s->v_stride + (size_t)g * hd;
            /* S[nq, nk] = Q K^T (scaled inside tile_probs) */
            tn_sgemm(0, 1, nq, nk, hd, 1.0f, qt, s->q_stride, kt, s->k_stride, 0.0f, S, nk);
            tile_probs(S, nq, nk, t0, j0, scale, s, NULL, lse + ((size_t)b * H + h) * T + t0);
            /* O[nq, hd] = P V */
            tn_sgemm(0, 0, nq, hd, nk, 1.0f, S, nk, vt, s->v_stride, 0.0f,
                     out + ((size_t)b * T + t0) * ld_o + (size_t)h * hd, ld_o);
        }
    }
}

void tn_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                           const float *lse, const float *q, const float *k, const float *v,
                           const tn_attn_shape *s, tn_scratch scratch) {
    /* Per tile, with P recomputed from lse:
     *   dP = dO V^T,  Di = rowsum(dO * O),  dS = P (dP - Di) * scale
     *   dQ = dS K,  dK += dS^T Q,  dV += P^T dO                              */
    const int B = s->B, T = s->T, H = s->H, KV = s->KV, hd = s->hd, group = s->H / s->KV;
    const int ntile = (T + BQ - 1) / BQ, ld_o = H * hd;
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel num_threads(team(scratch))
    {
        float *S = scratch.p + (size_t)omp_get_thread_num() * per_thread(T, 1);
        float *dP = S + (size_t)BQ * T, *Di = dP + (size_t)BQ * T;
#pragma omp for schedule(dynamic, 1)
        for (int bg = 0; bg < B * KV; bg++) {
            int b = bg / KV, g = bg % KV;
            float *dkb = dk + (size_t)b * T * s->k_stride + (size_t)g * hd;
            float *dvb = dv + (size_t)b * T * s->v_stride + (size_t)g * hd;
            for (int j = 0; j < T; j++) {
                memset(dkb + (size_t)j * s->k_stride, 0, sizeof(float) * (size_t)hd);
                memset(dvb + (size_t)j * s->v_stride, 0, sizeof(float) * (size_t)hd);
            }
            for (int h = g * group; h < (g + 1) * group; h++) {
                for (int tile = 0; tile < ntile; tile++) {
                    int t0 = tile * BQ, nq = T - t0 < BQ ? T - t0 : BQ;
                    int j0 = first_key(s, t0), nk = t0 + nq - j0;
                    size_t row0 = (size_t)b * T + t0;
                    const float *qt = q + row0 * s->q_stride + (size_t)h * hd;
                    const float *kt = k + ((size_t)b * T + j0) * s->k_stride + (size_t)g * hd;
                    const float *vt = v + ((size_t)b * T + j0) * s->v_stride + (size_t)g * hd;
                    const float *dot = dout + row0 * ld_o + (size_t)h * hd;
                    const float *ot = out + row0 * ld_o + (size_t)h * hd;
                    float *dqt = dq + row0 * s->q_stride + (size_t)h * hd;
                    float *dkt = dk + ((size_t)b * T + j0) * s->k_stride + (size_t)g * hd;
                    float *dvt = dv + ((size_t)b * T + j0) * s->v_stride + (size_t)g * hd;
                    tn_sgemm(0, 1, nq, nk, hd, 1.0f, qt, s->q_stride, kt, s->k_stride, 0.0f, S, nk);
                    tile_probs(S, nq, nk, t0, j0, scale, s, lse + ((size_t)b * H + h) * T + t0, NULL);
                    tn_sgemm(0, 1, nq, nk, hd, 1.0f, dot, ld_o, vt, s->v_stride, 0.0f, dP, nk);
                    for (int r = 0; r < nq; r++) {
                        const float *o = ot + (size_t)r * ld_o, *d = dot + (size_t)r * ld_o;
                        float acc = 0.0f;
                        for (int i = 0; i < hd; i++) acc += o[i] * d[i];
                        Di[r] = acc;
                    }
                    for (int r = 0; r < nq; r++) {
                        float *p = S + (size_t)r * nk, *dp = dP + (size_t)r * nk, di = Di[r];
                        for (int j = 0; j < nk; j++) dp[j] = p[j] * (dp[j] - di) * scale;
                    }
                    /* dV[nk, hd] += P^T dO ; dK += dS^T Q ; dQ = dS K */
                    tn_sgemm(1, 0, nk, hd, nq, 1.0f, S, nk, dot, ld_o, 1.0f, dvt, s->v_stride);
                    tn_sgemm(1, 0, nk, hd, nq, 1.0f, dP, nk, qt, s->q_stride, 1.0f, dkt, s->k_stride);
                    tn_sgemm(0, 0, nq, hd, nk, 1.0f, dP, nk, kt, s->k_stride, 0.0f, dqt, s->q_stride);
                }
            }
        }
    }
}

/* ---- new rows over a KV cache (inference) ------------------------------- */

size_t tn_attention_cached_scratch(int max_keys, int nt) { return (size_t)nt * max_keys; }

static inline float dot(const float *a, const float *b, int n) {
    float r = 0.0f;
    for (int i = 0; i < n; i++) r += a[i] * b[i];
    return r;
}

void tn_attention_cached(float *out, const float *q, const float *K, const float *V, int p0,
                         const tn_attn_shape *s, tn_scratch scratch) {
    /* out[n, H*hd] for the n new rows; row i attends over keys j0..p0+i */
    const int n = s->T, H = s->H, hd = s->hd, group = s->H / s->KV, window = s->window;
    const int nkeys = p0 + n;
    const float scale = 1.0f / sqrtf((float)hd);
    /* a thread team costs microseconds per layer; below ~64K multiply-adds
     * (a small model's single token) it costs more than it saves */
    const double work = (double)n * H * nkeys * hd;
#pragma omp parallel if (work > 65536.0) num_threads(team(scratch))
    {
        float *p = scratch.p + (size_t)omp_get_thread_num() * nkeys;
#pragma omp for schedule(dynamic, 1)
        for (int ih = 0; ih < n * H; ih++) {
            int i = ih / H, h = ih % H, g = h / group, t = p0 + i;
            /* Mistral's window: the `window` most recent keys, this one included */
            int j0 = (window > 0 && t - window + 1 > 0) ? t - window + 1 : 0;
            const float *qt = q + (size_t)i * s->q_stride + (size_t)h * hd;
            const float *kb = K + (size_t)g * hd, *vb = V + (size_t)g * hd;
            float mx = -INFINITY;
            for (int j = j0; j <= t; j++) {
                p[j] = dot(qt, kb + (size_t)j * s->k_stride, hd) * scale;
                if (p[j] > mx) mx = p[j];
            }
            float sum = 0.0f;
            for (int j = j0; j <= t; j++) {
                p[j] = expf(p[j] - mx);
                sum += p[j];
            }
            float inv = 1.0f / sum;
            float *o = out + (size_t)i * H * hd + (size_t)h * hd;
            memset(o, 0, sizeof(float) * (size_t)hd);
            for (int j = j0; j <= t; j++) {
                const float *vj = vb + (size_t)j * s->v_stride;
                float w = p[j] * inv;
                for (int d = 0; d < hd; d++) o[d] += w * vj[d];
            }
        }
    }
}
