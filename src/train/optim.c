/* optim.c - AdamW and gradient clipping (see optim.h). */
#include "train/optim.h"
#include "base/err.h"
#include "base/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int tn_adamw_init(tn_adamw *o, const tn_model *model, float lr, float beta1, float beta2, float eps,
                  float weight_decay) {
    memset(o, 0, sizeof *o);
    o->lr = lr;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    o->n = model->numel;
    o->m = tn_try_alloc_floats(o->n, "AdamW first moment");
    o->v = o->m ? tn_try_alloc_floats(o->n, "AdamW second moment") : NULL;
    if (!o->v) {
        tn_adamw_free(o);
        return -1;
    }
    o->decay = tn_calloc(o->n, 1);
    for (int i = 0; i < model->nparams; i++) {
        const tn_param *p = &model->params[i];
        if (p->ndim >= 2) memset(o->decay + p->offset, 1, p->numel);
    }
    return 0;
}

void tn_adamw_free(tn_adamw *o) {
    tn_free_aligned(o->m);
    tn_free_aligned(o->v);
    free(o->decay);
    memset(o, 0, sizeof *o);
}

void tn_adamw_step(tn_adamw *o, float *w, const float *g, float lr) {
    o->t++;
    const float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    const float bc1 = 1.0f - (float)pow(b1, (double)o->t);
    const float bc2_sqrt = sqrtf(1.0f - (float)pow(b2, (double)o->t));
    const float step = lr / bc1, shrink = 1.0f - lr * o->weight_decay;
    float *m = o->m, *v = o->v;
    const uint8_t *decay = o->decay;
    const size_t n = o->n;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        if (decay[i]) w[i] *= shrink;
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        w[i] -= step * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
    }
}

double tn_grad_norm(const float *g, size_t n) {
    double s = 0.0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

double tn_clip_grad_norm(float *g, size_t n, double max_norm) {
    double norm = tn_grad_norm(g, n);
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
        float c = (float)coef;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) g[i] *= c;
    }
    return norm;
}
