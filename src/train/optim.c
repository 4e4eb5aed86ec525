/* optim.c - AdamW and gradient clipping (see optim.h). */
#include "train/optim.h"
#include "base/err.h"
#include "base/mem.h"

#include <math.h>
#include <stdint.h>
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#define TN_ADAMW_AVX512 1
#else
#define TN_ADAMW_AVX512 0
#endif
#include <stdlib.h>
#include <string.h>

int tn_adamw_init_params(tn_adamw *o, const tn_param *params, int nparams, size_t numel, float lr, float beta1,
                         float beta2, float eps, float weight_decay) {
    memset(o, 0, sizeof *o);
    o->lr = lr;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    o->n = numel;
    o->m = tn_try_alloc_floats(o->n, "AdamW first moment");
    o->v = o->m ? tn_try_alloc_floats(o->n, "AdamW second moment") : NULL;
    if (!o->v) {
        tn_adamw_free(o);
        return -1;
    }
    o->decay = tn_calloc(o->n, 1);
    for (int i = 0; i < nparams; i++) {
        const tn_param *p = &params[i];
        if (p->ndim >= 2) memset(o->decay + p->offset, 1, p->numel);
    }
    return 0;
}

int tn_adamw_init(tn_adamw *o, const tn_model *model, float lr, float beta1, float beta2, float eps,
                  float weight_decay) {
    return tn_adamw_init_params(o, model->params, model->nparams, model->numel, lr, beta1, beta2, eps, weight_decay);
}

void tn_adamw_free(tn_adamw *o) {
    tn_free_aligned(o->m);
    tn_free_aligned(o->v);
    free(o->decay);
    memset(o, 0, sizeof *o);
}

/* One element of the update, in the order of the scalar expressions below;
 * the AVX-512 body does the same operations (no fused multiply-adds), so a
 * parameter's trajectory does not depend on where the vector tail falls. */
static inline void adamw_one(float *w, float *m, float *v, float g, int decays, float b1, float b2, float step,
                             float shrink, float bc2_sqrt, float eps) {
    if (decays) *w *= shrink;
    *m = b1 * *m + (1.0f - b1) * g;
    *v = b2 * *v + (1.0f - b2) * g * g;
    *w -= step * *m / (sqrtf(*v) / bc2_sqrt + eps);
}

void tn_adamw_step_scaled(tn_adamw *o, float *w, const float *g, float gscale, float lr) {
    o->t++;
    const float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    const float bc1 = 1.0f - (float)pow(b1, (double)o->t);
    const float bc2_sqrt = sqrtf(1.0f - (float)pow(b2, (double)o->t));
    const float step = lr / bc1, shrink = 1.0f - lr * o->weight_decay;
    float *m = o->m, *v = o->v;
    const uint8_t *decay = o->decay;
    const size_t n = o->n;
    /* Memory-bound once vectorised (7 floats of traffic per parameter); the
     * scalar loop was not (a square root and two divisions per element:
     * 8% of a stories42M step). Blocks of 16 elements per thread. */
    const size_t nb = n / 16;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < nb; b++) {
        size_t i = b * 16;
#if TN_ADAMW_AVX512
        const __m512 vb1 = _mm512_set1_ps(b1), vb2 = _mm512_set1_ps(b2), vc1 = _mm512_set1_ps(1.0f - b1),
                     vc2 = _mm512_set1_ps(1.0f - b2);
        __m512 gi = _mm512_mul_ps(_mm512_loadu_ps(g + i), _mm512_set1_ps(gscale));
        __m512 wi = _mm512_loadu_ps(w + i);
        __m128i d8 = _mm_loadu_si128((const __m128i *)(decay + i));
        __mmask16 dk = _mm_test_epi8_mask(d8, d8); /* byte j -> lane j */
        wi = _mm512_mask_mul_ps(wi, dk, wi, _mm512_set1_ps(shrink));
        __m512 mi = _mm512_add_ps(_mm512_mul_ps(vb1, _mm512_loadu_ps(m + i)), _mm512_mul_ps(vc1, gi));
        __m512 vi = _mm512_add_ps(_mm512_mul_ps(vb2, _mm512_loadu_ps(v + i)), _mm512_mul_ps(_mm512_mul_ps(vc2, gi), gi));
        __m512 den = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), _mm512_set1_ps(bc2_sqrt)), _mm512_set1_ps(eps));
        wi = _mm512_sub_ps(wi, _mm512_div_ps(_mm512_mul_ps(_mm512_set1_ps(step), mi), den));
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
        _mm512_storeu_ps(w + i, wi);
#else
        for (size_t k = i; k < i + 16; k++)
            adamw_one(w + k, m + k, v + k, g[k] * gscale, decay[k], b1, b2, step, shrink, bc2_sqrt, eps);
#endif
    }
    for (size_t k = nb * 16; k < n; k++)
        adamw_one(w + k, m + k, v + k, g[k] * gscale, decay[k], b1, b2, step, shrink, bc2_sqrt, eps);
}

void tn_adamw_step(tn_adamw *o, float *w, const float *g, float lr) { tn_adamw_step_scaled(o, w, g, 1.0f, lr); }

double tn_grad_norm(const float *g, size_t n) {
    double s = 0.0;
#pragma omp parallel for simd reduction(+ : s) schedule(static)
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

float tn_clip_coef(double norm, double max_norm) {
    double coef = max_norm / (norm + 1e-6);
    return coef < 1.0 ? (float)coef : 1.0f;
}

double tn_clip_grad_norm(float *g, size_t n, double max_norm) {
    double norm = tn_grad_norm(g, n);
    float c = tn_clip_coef(norm, max_norm);
    if (c < 1.0f) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) g[i] *= c;
    }
    return norm;
}

double tn_lr_at(const tn_lr_schedule *s, int64_t step, double progress) {
    if (s->kind == TN_SCHED_PRETRAIN) {
        float peak = (float)s->peak;
        if (step < s->warmup) return peak * (float)(step + 1) / (float)s->warmup;
        if (progress > 1) progress = 1;
        return peak * (float)(0.1 + 0.9 * 0.5 * (1 + cos(M_PI * progress)));
    }
    if (step < s->warmup) return s->peak * (double)step / (double)s->warmup; /* HF: 0 at step 0 */
    if (progress > 1.0) progress = 1.0;
    switch (s->kind) {
    case TN_SCHED_COSINE: return s->peak * 0.5 * (1.0 + cos(M_PI * progress));
    case TN_SCHED_LINEAR: return s->peak * (1.0 - progress);
    case TN_SCHED_CONSTANT:
    case TN_SCHED_PRETRAIN: break;
    }
    return s->peak;
}
