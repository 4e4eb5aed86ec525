/* attention.c - causal multi-head self-attention with GQA, forward and backward.
 *
 * Memory: no T x T matrix is kept between forward and backward. The forward
 * stores only the log-sum-exp of each query row; the backward recomputes each
 * row's probabilities p_j = exp(s_j - lse) from q and k. One row of scratch
 * (T floats) per thread is all the extra memory needed.
 *
 * Work split: forward over (b, h) pairs; backward over (b, kv head) pairs,
 * because the query heads of one GQA group all add into the same dk/dv rows
 * and must therefore run on one thread.
 */
#include "nn/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline float dot(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline int first_key(const tn_attn_shape *s, int t) {
    return (s->window > 0 && t - s->window + 1 > 0) ? t - s->window + 1 : 0;
}

void tn_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                          const tn_attn_shape *s) {
    /* out[B,T,H,hd], lse[B,H,T]; q[B,T,H,hd], k,v[B,T,KV,hd] (strided rows) */
    const int B = s->B, T = s->T, H = s->H, hd = s->hd, group = s->H / s->KV;
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel
    {
        float *p = malloc(sizeof(float) * (size_t)T);
#pragma omp for schedule(dynamic, 1)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H, g = h / group;
            const float *kb = k + (size_t)b * T * s->k_stride + (size_t)g * hd;
            const float *vb = v + (size_t)b * T * s->v_stride + (size_t)g * hd;
            for (int t = 0; t < T; t++) {
                const float *qt = q + ((size_t)b * T + t) * s->q_stride + (size_t)h * hd;
                int j0 = first_key(s, t);
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
                float *o = out + ((size_t)b * T + t) * H * hd + (size_t)h * hd;
                memset(o, 0, sizeof(float) * (size_t)hd);
                for (int j = j0; j <= t; j++) {
                    const float *vj = vb + (size_t)j * s->v_stride;
                    float w = p[j] * inv;
                    for (int i = 0; i < hd; i++) o[i] += w * vj[i];
                }
                lse[((size_t)b * H + h) * T + t] = mx + logf(sum);
            }
        }
        free(p);
    }
}

void tn_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                           const float *lse, const float *q, const float *k, const float *v,
                           const tn_attn_shape *s) {
    /* For one query row with probabilities p (recomputed from lse):
     *   dp_j = dout . v_j,  ds_j = p_j (dp_j - sum_i p_i dp_i)
     *   dq  = scale * sum_j ds_j k_j
     *   dk_j += scale * ds_j q,   dv_j += p_j dout                         */
    (void)out;
    const int B = s->B, T = s->T, H = s->H, KV = s->KV, hd = s->hd, group = s->H / s->KV;
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel
    {
        float *p = malloc(sizeof(float) * (size_t)T * 2);
        float *dp = p + T;
#pragma omp for schedule(dynamic, 1)
        for (int bg = 0; bg < B * KV; bg++) {
            int b = bg / KV, g = bg % KV;
            const float *kb = k + (size_t)b * T * s->k_stride + (size_t)g * hd;
            const float *vb = v + (size_t)b * T * s->v_stride + (size_t)g * hd;
            float *dkb = dk + (size_t)b * T * s->k_stride + (size_t)g * hd;
            float *dvb = dv + (size_t)b * T * s->v_stride + (size_t)g * hd;
            for (int j = 0; j < T; j++) {
                memset(dkb + (size_t)j * s->k_stride, 0, sizeof(float) * (size_t)hd);
                memset(dvb + (size_t)j * s->v_stride, 0, sizeof(float) * (size_t)hd);
            }
            for (int h = g * group; h < (g + 1) * group; h++) {
                for (int t = 0; t < T; t++) {
                    size_t row = (size_t)b * T + t;
                    const float *qt = q + row * s->q_stride + (size_t)h * hd;
                    const float *dot_ = dout + row * H * hd + (size_t)h * hd;
                    float *dqt = dq + row * s->q_stride + (size_t)h * hd;
                    float l = lse[((size_t)b * H + h) * T + t];
                    int j0 = first_key(s, t);
                    float D = 0.0f;
                    for (int j = j0; j <= t; j++) {
                        p[j] = expf(dot(qt, kb + (size_t)j * s->k_stride, hd) * scale - l);
                        dp[j] = dot(dot_, vb + (size_t)j * s->v_stride, hd);
                        D += p[j] * dp[j];
                    }
                    memset(dqt, 0, sizeof(float) * (size_t)hd);
                    for (int j = j0; j <= t; j++) {
                        float ds = p[j] * (dp[j] - D) * scale;
                        const float *kj = kb + (size_t)j * s->k_stride;
                        float *dkj = dkb + (size_t)j * s->k_stride;
                        float *dvj = dvb + (size_t)j * s->v_stride;
                        for (int i = 0; i < hd; i++) {
                            dqt[i] += ds * kj[i];
                            dkj[i] += ds * qt[i];
                            dvj[i] += p[j] * dot_[i];
                        }
                    }
                }
            }
        }
        free(p);
    }
}
