/* train.h - fine-tuning options and the trainer (tuna train).
 *
 * The options mirror axolotl's config keys where they exist (names in
 * comments) so that `tuna train config.yml` reads configs miners already have
 * (src/train/config_yaml.c), and the CLI flags map to the same fields.
 */
#ifndef TN_TRAIN_H
#define TN_TRAIN_H

#include "data/format.h"

#include <stdint.h>

/* Learning-rate schedules (tn_lr_at, optim.h). The first three are HF's and
 * the trainer's (lr_scheduler:); TN_SCHED_PRETRAIN is the built-in base
 * model's (train/pretrain.c), not a config choice. */
typedef enum { TN_SCHED_COSINE = 0, TN_SCHED_LINEAR, TN_SCHED_CONSTANT, TN_SCHED_PRETRAIN } tn_sched_kind;

#define TN_LORA_MAX_TARGETS 16

typedef struct {
    /* what */
    char *base_model;            /* base_model: HF directory */
    char *dataset;               /* datasets[0].path */
    char *dataset_format;        /* "json" | "jsonl" | "csv"; NULL = by extension */
    tn_data_spec spec;           /* datasets[0].type / field_* / chat template; strings owned by `owned` */
    char *chat_template;         /* chat_template: name, or NULL = from tokenizer_config.json */
    char *output_dir;            /* output_dir */
    /* shape of the work */
    int seq_len;                 /* sequence_len (default 512) */
    int micro_batch;             /* micro_batch_size (default 1) */
    int grad_accum;              /* gradient_accumulation_steps (default 1) */
    int epochs;                  /* num_epochs (default 1); 0 = until time/steps end */
    int64_t max_steps;           /* max_steps (0 = none) */
    double time_budget_s;        /* --time (0 = none) */
    int train_on_inputs;         /* train_on_inputs (default false) */
    int packing;                 /* sample_packing (default false) */
    int bf16;                    /* bf16: matmuls with bf16 inputs, fp32 accumulation (tn_gemm_set_bf16);
                                  * default false, "auto" = false */
    int checkpoint_blocks;       /* gradient_checkpointing: keep only each block's input and recompute the
                                  * rest in the backward (activations ~L times smaller, ~1/3 more work) */
    /* optimizer and schedule */
    double lr;                   /* learning_rate (default 2e-4 LoRA / 2e-5 full) */
    tn_sched_kind sched;         /* lr_scheduler: cosine | linear | constant */
    int warmup_steps;            /* warmup_steps (default 0) */
    double warmup_ratio;         /* warmup_ratio (used when warmup_steps is 0) */
    double weight_decay;         /* weight_decay (default 0.0) */
    double adam_beta1, adam_beta2, adam_eps; /* adam_beta1/2, adam_epsilon */
    double max_grad_norm;        /* max_grad_norm (default 1.0; 0 = no clipping) */
    uint64_t seed;               /* seed (default 42) */
    /* LoRA */
    int lora;                    /* adapter: lora */
    int lora_r;                  /* lora_r (default 8) */
    double lora_alpha;           /* lora_alpha (default 16) */
    double lora_dropout;         /* lora_dropout (default 0.05) */
    int lora_target_linear;      /* lora_target_linear: all linear layers */
    int n_lora_targets;          /* lora_target_modules: q_proj, v_proj, ... */
    char *lora_targets[TN_LORA_MAX_TARGETS];
    /* validation, checkpoints */
    double val_size;             /* val_set_size: fraction (<1) or row count (>=1); 0 = none */
    int eval_every;              /* eval_steps (default: 10 evaluations per run) */
    int early_stop_patience;     /* early_stopping_patience (0 = off) */
    int save_every;              /* save_steps for resumable checkpoints (0 = on signal/end only) */
    char *resume;                /* --resume DIR (a checkpoint written by tuna train) */
    /* reporting */
    int quiet;                   /* no progress bar */
    /* set by tn_train_run: the run was stopped by SIGINT/SIGTERM (a
     * checkpoint was written to output_dir/checkpoint) */
    int interrupted;
    /* strings the struct owns, freed by tn_train_opts_free */
    char **owned;
    int n_owned;
} tn_train_opts;

void tn_train_opts_defaults(tn_train_opts *o);
void tn_train_opts_free(tn_train_opts *o);
/* Keeps a copy of s in o->owned and returns it (for borrowed strings in spec). */
const char *tn_train_opts_own(tn_train_opts *o, const char *s);

/* Runs a whole fine-tuning job; returns 0 when an output was written. */
int tn_train_run(tn_train_opts *o);

#endif
