/* trainer_internal.h - the trainer's state, shared by trainer.c (the loop)
 * and checkpoint.c (resumable checkpoints). Not a public interface. */
#ifndef TN_TRAINER_INTERNAL_H
#define TN_TRAINER_INTERNAL_H

#include "model/lora.h"
#include "model/model.h"
#include "tok/tokenizer.h"
#include "train/evaluate.h"
#include "train/examples.h"
#include "train/optim.h"
#include "train/report.h"
#include "train/step.h"
#include "train/train.h"

typedef struct {
    tn_train_opts *o;
    tn_tokenizer *tok;
    tn_model m;
    tn_lora lora;
    tn_stepper st;        /* the trained arena (model or adapter), its gradient, AdamW */
    tn_examples ex;
    size_t *train_idx, n_train, *val_idx, n_val;
    size_t *order;        /* this epoch's order of train_idx */
    size_t pos;           /* next position in order */
    int epoch;
    int64_t step, total_steps, warmup, saved_step, best_step;
    int32_t pad_id;
    double deadline;      /* seconds from t0 at which training must stop (0: none) */
    double t0, best_val, last_grad_norm, val_seconds, save_seconds;
    int evals_since_best;
    tn_batch batch;
    tn_metrics *metrics;
    tn_progress prog;
    /* curve for the SVG */
    double *hsteps, *hloss, *vsteps, *vloss;
    size_t nh, nv, caph, capv;
} trainer;

/* checkpoint.c: a resumable checkpoint in output_dir/checkpoint:
 * the weights (model directory or adapter), optimizer.safetensors (moments
 * and step) and state.json (step, epoch, position, best validation). */
int tn_trainer_save_checkpoint(trainer *t);
/* Restores optimizer and loop state from o->resume (weights are loaded by the
 * model setup). */
int tn_trainer_load_state(trainer *t);

#endif
