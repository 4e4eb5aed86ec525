/* step.c - one training step (see step.h). */
#include "train/step.h"
#include "base/err.h"

#include <math.h>
#include <string.h>

int tn_stepper_init(tn_stepper *s, tn_model *m, tn_lora *lora, float lr, float beta1, float beta2, float eps,
                    float weight_decay, double max_grad_norm) {
    memset(s, 0, sizeof *s);
    s->m = m;
    s->lora = lora;
    s->max_grad_norm = max_grad_norm;
    if (lora) {
        m->frozen = 1;
        if (tn_lora_enable_grads(lora)) return -1;
        s->w = lora->w;
        s->g = lora->g;
        s->n = lora->numel;
        /* the adapter's matrices all decay, as PEFT's do under HF Trainer */
        return tn_adamw_init_params(&s->opt, lora->params, lora->nparams, lora->numel, lr, beta1, beta2, eps,
                                    weight_decay);
    }
    if (tn_model_enable_grads(m)) return -1;
    s->w = m->w;
    s->g = m->g;
    s->n = m->numel;
    return tn_adamw_init(&s->opt, m, lr, beta1, beta2, eps, weight_decay);
}

void tn_stepper_free(tn_stepper *s) { tn_adamw_free(&s->opt); }

void tn_stepper_zero(tn_stepper *s) {
    memset(s->g, 0, sizeof(float) * s->n);
    s->micro = 0;
    s->loss_sum = 0.0;
}

int tn_stepper_accumulate(tn_stepper *s, const int32_t *ids, const int32_t *labels, int B, int T, float *loss) {
    if (tn_model_forward_train(s->m, ids, labels, B, T, loss) || tn_model_backward(s->m)) return -1;
    s->loss_sum += *loss;
    s->micro++;
    return 0;
}

int tn_stepper_update(tn_stepper *s, float lr) {
    if (s->micro < 1) return tn_fail("training step: no micro-batch to update from");
    /* Each micro-batch gradient is of its own mean loss: the step's gradient
     * is their average, clipped to max_grad_norm. Both factors go into the
     * update as one scale (one pass over the gradient for its norm, one for
     * AdamW) rather than two more passes that rewrite it. */
    float inv = 1.0f / (float)s->micro;
    s->grad_norm = tn_grad_norm(s->g, s->n) * inv;
    if (!isfinite(s->grad_norm))
        return tn_fail("step %lld: the gradient is not finite (loss %g): lower the learning rate",
                       (long long)s->opt.t + 1, s->loss_sum / s->micro);
    float clip = s->max_grad_norm > 0 ? tn_clip_coef(s->grad_norm, s->max_grad_norm) : 1.0f;
    tn_adamw_step_scaled(&s->opt, s->w, s->g, inv * clip, lr);
    if (s->lora) s->lora->step++; /* a new dropout mask for the next step */
    return 0;
}

int tn_stepper_step(tn_stepper *s, const int32_t *ids, const int32_t *labels, int B, int T, float lr, float *loss) {
    tn_stepper_zero(s);
    return tn_stepper_accumulate(s, ids, labels, B, T, loss) || tn_stepper_update(s, lr) ? -1 : 0;
}
