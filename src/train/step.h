/* step.h - one training step, the one every training loop takes: the
 * trainer, pretraining, `tuna bench`, `tuna selfcheck` and the miner's
 * throughput calibration.
 *
 *   zero       the gradient
 *   accumulate forward with labels and backward, once per micro-batch (the
 *              gradients add up)
 *   update     the global norm of the mean gradient (a step whose norm is not
 *              finite fails: applying it would ruin the weights), then ONE
 *              AdamW update with the average over micro-batches and the
 *              clipping to max_grad_norm folded into the gradient's scale
 *              (tn_adamw_step_scaled: bit for bit clip-then-step), then a new
 *              LoRA dropout mask for the next step
 * The trained floats are the whole model's, or a LoRA adapter's with the
 * base frozen.
 */
#ifndef TN_STEP_H
#define TN_STEP_H

#include "model/lora.h"
#include "model/model.h"
#include "train/optim.h"

typedef struct {
    tn_model *m;
    tn_lora *lora;          /* the adapter that trains, or NULL: the whole model */
    float *w, *g;           /* the trained arena and its gradient */
    size_t n;
    tn_adamw opt;
    double max_grad_norm;   /* 0: no clipping */
    int micro;              /* micro-batches accumulated since the last zero */
    double loss_sum;        /* their losses */
    double grad_norm;       /* the last update's, of the mean gradient, before clipping */
} tn_stepper;

/* Enables the gradients (of lora, with m frozen, when lora is given, else of
 * m) and AdamW over them with these hyperparameters. */
int tn_stepper_init(tn_stepper *s, tn_model *m, tn_lora *lora, float lr, float beta1, float beta2, float eps,
                    float weight_decay, double max_grad_norm);
void tn_stepper_free(tn_stepper *s);

void tn_stepper_zero(tn_stepper *s);
/* Forward + backward of one micro-batch [B, T]; its mean loss into *loss. */
int tn_stepper_accumulate(tn_stepper *s, const int32_t *ids, const int32_t *labels, int B, int T, float *loss);
/* The update at learning rate lr over what was accumulated (at least one
 * micro-batch). */
int tn_stepper_update(tn_stepper *s, float lr);
/* zero + accumulate + update for a step of one micro-batch. */
int tn_stepper_step(tn_stepper *s, const int32_t *ids, const int32_t *labels, int B, int T, float lr, float *loss);

#endif
