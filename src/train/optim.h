/* optim.h - AdamW with decoupled weight decay, and clipping by global norm.
 *
 * The update is PyTorch's torch.optim.AdamW to the operation:
 *   p  *= 1 - lr * wd                     (decoupled decay, if p decays)
 *   m   = b1 m + (1 - b1) g
 *   v   = b2 v + (1 - b2) g^2
 *   p  -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * Weight decay applies to matrices and embeddings (ndim >= 2) only, not to
 * biases and norm weights: HF Trainer's and axolotl's default grouping.
 */
#ifndef TN_OPTIM_H
#define TN_OPTIM_H

#include "model/model.h"
#include "train/train.h"

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    int64_t t;     /* steps taken */
    size_t n;
    float *m, *v;  /* moments, same layout as the model's gradient arena */
    uint8_t *decay; /* per float: 1 if weight decay applies */
} tn_adamw;

/* AdamW over numel floats laid out by a parameter table (a model's or a LoRA
 * adapter's): the table says which floats decay (ndim >= 2). */
int tn_adamw_init_params(tn_adamw *o, const tn_param *params, int nparams, size_t numel, float lr, float beta1,
                         float beta2, float eps, float weight_decay);
/* The same over a whole model's table. */
int tn_adamw_init(tn_adamw *o, const tn_model *model, float lr, float beta1, float beta2, float eps,
                  float weight_decay);
void tn_adamw_free(tn_adamw *o);
/* One step over the whole arena with learning rate lr (the schedule's value). */
void tn_adamw_step(tn_adamw *o, float *w, const float *g, float lr);
/* The same step with the gradient g * gscale (g itself is not written): the
 * clipping factor and the average over micro-batches folded into the update,
 * instead of one more pass over the gradient each. */
void tn_adamw_step_scaled(tn_adamw *o, float *w, const float *g, float gscale, float lr);

/* Global L2 norm of g (computed in double). */
double tn_grad_norm(const float *g, size_t n);
/* torch.nn.utils.clip_grad_norm_'s factor for a gradient of that norm:
 * min(1, max_norm / (norm + 1e-6)). */
float tn_clip_coef(double norm, double max_norm);
/* torch.nn.utils.clip_grad_norm_: scales g by tn_clip_coef(norm, max_norm).
 * Returns the norm before clipping. */
double tn_clip_grad_norm(float *g, size_t n, double max_norm);

/* ---- learning-rate schedules ---- */

typedef struct {
    tn_sched_kind kind;
    double peak;     /* the learning rate after warmup */
    int64_t warmup;  /* steps of linear warmup */
} tn_lr_schedule;

/* The learning rate at `step` (0-based), with `progress` in [0, 1] (clamped)
 * the fraction of the decay done, which the caller measures (steps, or time
 * against a budget). After warmup steps of linear warmup:
 *   TN_SCHED_COSINE    peak * 0.5 (1 + cos(pi progress))   (HF's schedulers:
 *   TN_SCHED_LINEAR    peak * (1 - progress)                warmup from 0 at
 *   TN_SCHED_CONSTANT  peak                                 step 0)
 *   TN_SCHED_PRETRAIN  peak * (0.1 + 0.9 * 0.5 (1 + cos(pi progress))), the
 *                      warmup from peak / warmup at step 0 (no step is
 *                      wasted on a zero rate); computed in single precision,
 *                      as pretraining always did: its weights depend on
 *                      these bits (tools/identity_check.sh). */
double tn_lr_at(const tn_lr_schedule *s, int64_t step, double progress);

#endif
