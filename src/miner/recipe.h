/* recipe.h - how the miner fine-tunes a task (docs/miner.md, "Recipe").
 *
 * Chosen once per job from the model's size, the data's size and the time,
 * stored with the job (so that a resumed run uses the same settings, which
 * `tuna train --resume` requires) and written to the ledger:
 *   - LoRA (r 16, alpha 32, all linear layers) or full fine-tuning, by
 *     tn_policy_use_lora (size, memory, time);
 *   - learning rate, micro-batch, gradient accumulation and sequence length
 *     from a table by parameter count (smaller models: bigger steps and
 *     batches; bigger: smaller steps, accumulation, longer context);
 *   - epochs 0 with --time: as many passes as fit the budget; the trainer's
 *     cosine schedule ends with the budget;
 *   - 5% of the rows held out for validation (one row for 4..19 rows, none
 *     below), so the output is the best model seen, written at each new best.
 */
#ifndef TN_MINER_RECIPE_H
#define TN_MINER_RECIPE_H

#include "miner/policy.h"

#include <jansson.h>
#include <stdint.h>

typedef struct {
    int lora;
    int lora_r;
    double lora_alpha;
    double lr;
    int batch, grad_accum, seq_len;
    int checkpoint;  /* gradient checkpointing: recompute each block in backward */
    double val_size; /* fraction (< 1) or rows (>= 1), as tuna train's --val-size */
    int64_t seed;
} tn_recipe;

/* The recipe's batch (per step, before accumulation), sequence length and
 * gradient checkpointing for a model of this size: what the policy's memory
 * estimate assumes. */
void tn_recipe_batch(int64_t params, int *batch, int *seq_len, int *checkpoint);
void tn_recipe_choose(const tn_policy *p, int64_t params, int64_t rows, double budget_s, tn_recipe *r);
json_t *tn_recipe_json(const tn_recipe *r);
int tn_recipe_from_json(const json_t *j, tn_recipe *r);

#endif
