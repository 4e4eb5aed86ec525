/* policy.h - should the miner accept a task offer? (docs/miner.md, "Policy")
 *
 * A pure function of the offer, the miner's measured speed and its settings,
 * so that it can be tested as a table. In order, an offer is refused for:
 *   1. a model_type the engine does not train (llama, mistral, qwen2, gpt2),
 *   2. a task_type other than instruct, text, chat,
 *   3. a missing parameter count, or more parameters than max_params (when
 *      the operator sets one; none by default),
 *   4. more memory than the budget, as the memory model estimates it
 *      (model/memmodel.h) at the recipe's batch and sequence length: fp32
 *      weights, gradients and two AdamW moments plus every layer's
 *      activations for full fine-tuning; the base, a rank-16 adapter with
 *      its optimizer and the activations with LoRA,
 *   5. no free slot,
 *   6. too little time: the time given minus a margin (startup + download +
 *      upload of the weights) must hold min_train_s and min_epochs passes over
 *      the data at the measured FLOP/s, where one pass costs
 *      k * params * ds_size * tokens_per_row FLOPs, k = 6 for full
 *      fine-tuning (forward 2, backward 4) and 4 for LoRA (no weight
 *      gradients for the frozen base).
 * The reply's message says why, with the numbers.
 */
#ifndef TN_MINER_POLICY_H
#define TN_MINER_POLICY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    double flops;             /* measured FLOP/s of one job's threads (profile.json) */
    int64_t max_params;       /* refuse bigger models; 0 (default): no cap, the memory estimate decides */
    double memory_bytes;      /* memory one job may use (default 16 GiB) */
    double tokens_per_row;    /* estimated tokens per dataset row (default 200) */
    double min_epochs;        /* passes over the data that must fit (default 1) */
    double startup_s;         /* process start, model load, evaluation (default 30) */
    double bandwidth_bps;     /* bytes/s for downloads and uploads (default 20 MB/s) */
    double min_train_s;       /* training time worth starting for (default 60) */
    int64_t lora_above_params; /* LoRA instead of full fine-tuning above this (default 1e9) */
} tn_policy;

void tn_policy_defaults(tn_policy *p);

/* The fields of a POST /task_offer body that the decision uses. */
typedef struct {
    int64_t task_id;
    char model[256];
    char model_type[32]; /* architecture.model_type ("" when absent) */
    int64_t params;      /* model_params_count */
    int64_t ds_size;     /* rows the policy assumes: the top of ds_size_bucket (or an exact ds_size) */
    char ds_rows[48];    /* what the offer said, for messages: "2k-5k" or "1234" */
    double hours;        /* hours_to_complete */
    char task_type[16];
} tn_offer;

/* Parses an offer body; -1 with a message naming the field when it is
 * malformed (the server answers 400 with it). The dataset's size comes as
 * ds_size_bucket, a row range ("2k-5k", net/rows_bucket.h), whose top the
 * policy assumes, so that a task it takes fits whatever the count in the
 * range; an exact ds_size (G.O.D's field, older validators) is read too. */
int tn_offer_parse(const json_t *body, tn_offer *o);

typedef struct {
    int accept;
    int lora;          /* the recipe the estimate assumed */
    double margin_s;   /* startup + transfers */
    double avail_s;    /* time left for training */
    double work_s;     /* min_epochs passes at the measured speed */
    double mem_bytes;  /* estimated memory of the job */
    char message[320];
} tn_policy_decision;

/* Whether the model is supported (model_type). */
int tn_policy_arch_supported(const char *model_type);
/* Seconds to download the base model and upload a result (fp32 weights). */
double tn_policy_transfer_s(const tn_policy *p, int64_t params);
/* The recipe's switch between full fine-tuning and LoRA (docs/miner.md,
 * "Recipe"): LoRA above lora_above_params, when full fine-tuning does not fit
 * the memory budget, or when one full pass does not fit `avail_s` while one
 * LoRA pass does. */
int tn_policy_use_lora(const tn_policy *p, int64_t params, int64_t ds_size, double avail_s);
void tn_policy_decide(const tn_policy *p, const tn_offer *o, int free_slots, int slots, tn_policy_decision *d);

#endif
