/* memmodel.h - how much memory a job needs, from the model's shape, the
 * precision its weights are held in, and the job (docs/performance.md,
 * "Memory model"). Used where a job must be accepted or limited before it
 * runs: the miner's offer policy, the validator's evaluator limits.
 *
 * Parts, in bytes (P parameters, M of them in matrices, W bytes per weight
 * as held: 2 for bf16 kept as stored (tn_model_load_frozen), 4 for fp32):
 *   weights   eval / LoRA: M x W + (P - M) x 4 (norms, biases in fp32); the
 *             mapped pages count once touched, and every one is.
 *             full: P x 4.
 *             check: n_models x (largest tensor x (4 + W)): one tensor of
 *             each model converted to fp32 and its mapped pages
 *             (judge/weightpass.h).
 *   train     full: P x 12 (gradients, two AdamW moments);
 *             LoRA: the adapter's weights, gradients and moments (16 bytes
 *             per adapter parameter, rank r on every linear of the blocks).
 *   acts      tn_acts_floats x 4: the activation arena the engine allocates
 *             for batch x seq_len (every layer kept when training, only each
 *             block's input with gradient checkpointing), plus the
 *             4 MB block a bf16 product expands into.
 *   runtime   a measured constant: the binary, libraries, thread stacks,
 *             allocator, the tokenizer and the tokenized data
 *             (TN_MEM_RUNTIME_BYTES, checked by tests/test_memmodel.c).
 * The estimate is an upper-side figure for the engine as it allocates;
 * test_memmodel.c holds it within a stated margin of `tuna eval`'s measured
 * peak RSS on two shapes. */
#ifndef TN_MEMMODEL_H
#define TN_MEMMODEL_H

#include "model/config.h"

#include <stdint.h>

/* the process, a 150k-token tokenizer and the data: `tuna eval` of the
 * Qwen2.5-0.5B shape peaks 47 MiB above its weights and activations */
#define TN_MEM_RUNTIME_BYTES (64.0 * 1048576.0)

typedef enum { TN_MEM_EVAL, TN_MEM_LORA, TN_MEM_FULL, TN_MEM_CHECK } tn_mem_job;

typedef struct {
    tn_mem_job job;
    int weight_bytes; /* bytes per weight as held: 2 (bf16 as stored) or 4 (fp32) */
    int batch, seq_len;
    int lora_rank;    /* TN_MEM_LORA: the adapter's rank (default 16 when 0) */
    int threads;      /* the kernels' per-thread scratch (1 when 0) */
    int checkpoint;   /* LoRA / full: gradient checkpointing (each block's input kept) */
    int n_models;     /* TN_MEM_CHECK: models read side by side (2 when 0; 3 with an earlier submission) */
} tn_mem_req;

typedef struct {
    double weights, train, acts, runtime;
    double total;     /* their sum */
} tn_mem_estimate;

/* -1 (error set) on a request that makes no sense (weight_bytes not 2 or 4,
 * batch or seq_len < 1 for a job that runs the model). */
int tn_mem_estimate_config(const tn_config *c, const tn_mem_req *r, tn_mem_estimate *out);

/* When only a parameter count is known (a task offer): the estimate for a
 * llama-shaped model of that size (a 128256-token tied embedding, hidden
 * size a multiple of 128, about hidden / 110 layers, MLP 8/3 x hidden: the
 * Llama 3.2 proportions), whose parameter count is params within a layer. */
int tn_mem_estimate_params(int64_t params, const tn_mem_req *r, tn_mem_estimate *out);

const char *tn_mem_job_name(tn_mem_job j); /* "eval", "lora", "full", "check" */

#endif
