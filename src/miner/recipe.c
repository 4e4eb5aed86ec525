/* recipe.c - the training recipe table (see recipe.h). */
#include "miner/recipe.h"

#include "base/err.h"
#include "base/json.h"

#include <string.h>

typedef struct {
    int64_t max_params; /* this row applies up to here */
    double lr_full, lr_lora;
    int batch, grad_accum, seq_len;
    int checkpoint; /* gradient checkpointing (tuna train --gradient-checkpointing) */
} size_row;

/* Smaller models tolerate (and need) larger steps; bigger ones get the usual
 * HF fine-tuning rates and an effective batch of 8 through accumulation so
 * that the activations fit. */
static const size_row SIZES[] = {
    {20000000LL, 1e-3, 2e-3, 8, 1, 512, 0},
    {200000000LL, 1e-4, 5e-4, 4, 1, 1024, 0},
    {2000000000LL, 2e-5, 2e-4, 2, 4, 1024, 0},
    /* past 2B at seq 2048 every layer's activations would outweigh a LoRA's
     * bf16 base (3B: ~11 GB of them): keep only each block's input and
     * recompute the block in backward, about a third more compute */
    {INT64_MAX, 1e-5, 1e-4, 1, 8, 2048, 1},
};

void tn_recipe_batch(int64_t params, int *batch, int *seq_len, int *checkpoint) {
    const size_row *s = &SIZES[0];
    while (params > s->max_params) s++;
    *batch = s->batch;
    *seq_len = s->seq_len;
    *checkpoint = s->checkpoint;
}

void tn_recipe_choose(const tn_policy *p, int64_t params, int64_t rows, double budget_s, tn_recipe *r) {
    memset(r, 0, sizeof *r);
    const size_row *s = &SIZES[0];
    while (params > s->max_params) s++;
    r->lora = tn_policy_use_lora(p, params, rows, budget_s);
    r->lora_r = 16;
    r->lora_alpha = 32;
    r->lr = r->lora ? s->lr_lora : s->lr_full;
    r->batch = s->batch;
    r->grad_accum = s->grad_accum;
    r->seq_len = s->seq_len;
    r->checkpoint = s->checkpoint;
    r->val_size = rows >= 20 ? 0.05 : rows >= 4 ? 1 : 0;
    r->seed = 42;
}

json_t *tn_recipe_json(const tn_recipe *r) {
    json_t *j = json_pack("{s:s, s:f, s:i, s:i, s:i, s:i, s:f, s:I}", "method", r->lora ? "lora" : "full", "lr", r->lr,
                          "batch", r->batch, "grad_accum", r->grad_accum, "seq_len", r->seq_len, "epochs", 0,
                          "val_size", r->val_size, "seed", (json_int_t)r->seed);
    if (j && r->lora) {
        json_object_set_new(j, "lora_r", json_integer(r->lora_r));
        json_object_set_new(j, "lora_alpha", json_real(r->lora_alpha));
    }
    if (j && r->checkpoint) json_object_set_new(j, "gradient_checkpointing", json_true());
    return j;
}

int tn_recipe_from_json(const json_t *j, tn_recipe *r) {
    const char *w = "job recipe", *method = NULL;
    int64_t b, ga, sl, lr_r, seed;
    memset(r, 0, sizeof *r);
    if (tn_json_str_opt(j, "method", w, "full", &method) || tn_json_num_opt(j, "lr", w, 1e-4, &r->lr) ||
        tn_json_int_opt(j, "batch", w, 1, &b) || tn_json_int_opt(j, "grad_accum", w, 1, &ga) ||
        tn_json_int_opt(j, "seq_len", w, 512, &sl) || tn_json_num_opt(j, "val_size", w, 0, &r->val_size) ||
        tn_json_int_opt(j, "seed", w, 42, &seed) || tn_json_int_opt(j, "lora_r", w, 16, &lr_r) ||
        tn_json_num_opt(j, "lora_alpha", w, 32, &r->lora_alpha))
        return -1;
    const json_t *ck = json_object_get(j, "gradient_checkpointing");
    if (ck && !json_is_boolean(ck)) return tn_fail("%s: gradient_checkpointing must be true or false", w);
    r->checkpoint = json_is_true(ck);
    r->lora = !strcmp(method, "lora");
    r->batch = (int)b;
    r->grad_accum = (int)ga;
    r->seq_len = (int)sl;
    r->lora_r = (int)lr_r;
    r->seed = seed;
    return 0;
}
