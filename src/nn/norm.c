/* norm.c - RMSNorm (llama family) and LayerNorm (GPT-2), forward and backward.
 *
 * Statistics are accumulated in double: rows are short (D <= a few thousand)
 * and this keeps the result within fp32 rounding of PyTorch's own kernels.
 * The RMSNorm sums are `omp simd` reductions (eight double lanes, then added
 * up): the order of a double sum of at most a few thousand float products
 * does not reach the float result.
 * Weight gradients are reduced through per-thread partial sums (in the
 * caller's scratch) so that the row loop can run in parallel without atomics.
 */
#include "nn/nn.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* Per thread: two [D] double rows (LayerNorm's dw and db; RMSNorm uses one). */
size_t tn_norm_scratch(int D, int nt) { return (size_t)nt * D * 2 * (sizeof(double) / sizeof(float)); }

/* The scratch as zeroed per-thread partials of `per` doubles each; *nt gets
 * the number of threads that have room. */
static double *partials(tn_scratch sc, size_t per, int *nt) {
    if (*nt > sc.nt) *nt = sc.nt;
    double *part = (double *)(void *)sc.p;
    memset(part, 0, sizeof *part * per * (size_t)*nt);
    return part;
}

/* Adds the per-thread partials [nt, D] into dst[D]. */
static void reduce_partials(float *dst, const double *part, int nt, int D) {
    for (int d = 0; d < D; d++) {
        double s = 0.0;
        for (int t = 0; t < nt; t++) s += part[(size_t)t * D + d];
        dst[d] += (float)s;
    }
}

/* ---- RMSNorm ---- */

void tn_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int N, int D, float eps) {
    /* y[N,D] = x * rstd * w,  rstd[N] = 1/sqrt(mean(x^2) + eps) */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * D;
        float *yi = y + (size_t)i * D;
        double ss = 0.0;
#pragma omp simd reduction(+ : ss)
        for (int d = 0; d < D; d++) ss += (double)xi[d] * xi[d];
        float r = (float)(1.0 / sqrt(ss / D + eps));
        rstd[i] = r;
        for (int d = 0; d < D; d++) yi[d] = (xi[d] * r) * w[d];
    }
}

void tn_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                         const float *rstd, int N, int D, int accumulate, tn_scratch scratch) {
    /* With g = dy * w and r = rstd:
     *   dx = r * g - x * r^3 * sum(g * x) / D
     *   dw += sum over rows of dy * x * r                                   */
    int nt = omp_get_max_threads();
    double *part = dw ? partials(scratch, (size_t)D, &nt) : NULL;
#pragma omp parallel num_threads(nt)
    {
        double *my = part ? part + (size_t)omp_get_thread_num() * D : NULL;
#pragma omp for schedule(static)
        for (int i = 0; i < N; i++) {
            const float *xi = x + (size_t)i * D, *dyi = dy + (size_t)i * D;
            float *dxi = dx + (size_t)i * D;
            float r = rstd[i];
            double gx = 0.0;
#pragma omp simd reduction(+ : gx)
            for (int d = 0; d < D; d++) gx += (double)dyi[d] * w[d] * xi[d];
            float c = (float)(gx / D) * r * r * r;
            for (int d = 0; d < D; d++) {
                float v = r * dyi[d] * w[d] - xi[d] * c;
                dxi[d] = accumulate ? dxi[d] + v : v;
            }
            if (my)
                for (int d = 0; d < D; d++) my[d] += (double)dyi[d] * xi[d] * r;
        }
    }
    if (part) reduce_partials(dw, part, nt, D);
}

/* ---- LayerNorm ---- */

void tn_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w,
                          const float *b, int N, int D, float eps) {
    /* y[N,D] = (x - mean) * rstd * w + b */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * D;
        float *yi = y + (size_t)i * D;
        double m = 0.0, v = 0.0;
        for (int d = 0; d < D; d++) m += xi[d];
        m /= D;
        for (int d = 0; d < D; d++) v += ((double)xi[d] - m) * ((double)xi[d] - m);
        v /= D; /* biased variance, as torch.nn.LayerNorm */
        float r = (float)(1.0 / sqrt(v + eps));
        float mf = (float)m;
        mean[i] = mf;
        rstd[i] = r;
        for (int d = 0; d < D; d++) yi[d] = (xi[d] - mf) * r * w[d] + b[d];
    }
}

void tn_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                           const float *w, const float *mean, const float *rstd, int N, int D,
                           int accumulate, tn_scratch scratch) {
    /* xhat = (x - mean) * r; g = dy * w
     *   dx = r * (g - mean(g) - xhat * mean(g * xhat))
     *   dw += sum dy * xhat;  db += sum dy                                  */
    int nt = omp_get_max_threads();
    int want_dw = dw != NULL; /* frozen (LoRA): only dx is needed */
    double *part = want_dw ? partials(scratch, (size_t)D * 2, &nt) : NULL;
#pragma omp parallel num_threads(nt)
    {
        double *pw = part ? part + (size_t)omp_get_thread_num() * D * 2 : NULL, *pb = pw ? pw + D : NULL;
#pragma omp for schedule(static)
        for (int i = 0; i < N; i++) {
            const float *xi = x + (size_t)i * D, *dyi = dy + (size_t)i * D;
            float *dxi = dx + (size_t)i * D;
            float m = mean[i], r = rstd[i];
            double sg = 0.0, sgx = 0.0;
            for (int d = 0; d < D; d++) {
                float xh = (xi[d] - m) * r;
                float g = dyi[d] * w[d];
                sg += g;
                sgx += (double)g * xh;
                if (want_dw) {
                    pw[d] += (double)dyi[d] * xh;
                    pb[d] += dyi[d];
                }
            }
            float mg = (float)(sg / D), mgx = (float)(sgx / D);
            for (int d = 0; d < D; d++) {
                float xh = (xi[d] - m) * r;
                float v = r * (dyi[d] * w[d] - mg - xh * mgx);
                dxi[d] = accumulate ? dxi[d] + v : v;
            }
        }
    }
    for (int t = 0; t < nt && want_dw; t++) {
        for (int d = 0; d < D; d++) {
            dw[d] += (float)part[(size_t)t * D * 2 + d];
            db[d] += (float)part[(size_t)t * D * 2 + D + d];
        }
    }
}
