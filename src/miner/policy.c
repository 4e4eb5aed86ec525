/* policy.c - the accept/reject decision for task offers (see policy.h). */
#include "miner/policy.h"

#include "base/err.h"
#include "base/json.h"
#include "miner/recipe.h"
#include "model/memmodel.h"
#include "net/rows_bucket.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void tn_policy_defaults(tn_policy *p) {
    memset(p, 0, sizeof *p);
    p->flops = 0; /* unknown until calibrated: the time rule then assumes 1 GFLOP/s */
    p->max_params = 0; /* no cap: the memory estimate decides */
    p->memory_bytes = 16.0 * (1u << 30);
    p->tokens_per_row = 200;
    p->min_epochs = 1;
    p->startup_s = 30;
    p->bandwidth_bps = 20e6;
    p->min_train_s = 60;
    p->lora_above_params = 1000000000LL;
}

static const char *const ARCHS[] = {"llama", "mistral", "qwen2", "gpt2"};
static const char *const TASK_TYPES[] = {"instruct", "text", "chat"};

int tn_policy_arch_supported(const char *model_type) {
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (!strcmp(model_type, ARCHS[i])) return 1;
    return 0;
}

static int task_type_supported(const char *t) {
    for (size_t i = 0; i < sizeof TASK_TYPES / sizeof TASK_TYPES[0]; i++)
        if (!strcmp(t, TASK_TYPES[i])) return 1;
    return 0;
}

static void copy_str(char *dst, size_t cap, const char *src) {
    snprintf(dst, cap, "%s", src ? src : "");
}

int tn_offer_parse(const json_t *body, tn_offer *o) {
    memset(o, 0, sizeof *o);
    const char *w = "task_offer", *model = NULL, *type = NULL, *mt = NULL;
    if (!json_is_object(body)) return tn_fail("task_offer: expected a JSON object");
    if (tn_json_int(body, "task_id", w, &o->task_id)) return -1;
    if (tn_json_str_opt(body, "model", w, NULL, &model)) return -1;
    if (tn_json_int_opt(body, "model_params_count", w, 0, &o->params)) return -1;
    if (tn_json_int_opt(body, "ds_size", w, 0, &o->ds_size)) return -1;
    const char *bucket = NULL;
    if (tn_json_str_opt(body, "ds_size_bucket", w, NULL, &bucket)) return -1;
    if (tn_json_num_opt(body, "hours_to_complete", w, 0, &o->hours)) return -1;
    if (tn_json_str_opt(body, "task_type", w, "instruct", &type)) return -1;
    const json_t *arch = json_object_get(body, "architecture");
    if (arch && !json_is_null(arch)) {
        if (!json_is_object(arch))
            return tn_fail("task_offer: field architecture: expected an object, got %s", tn_json_type_name(arch));
        if (tn_json_str_opt(arch, "model_type", "task_offer.architecture", NULL, &mt)) return -1;
    }
    if (o->task_id < 0) return tn_fail("task_offer: field task_id: expected a non-negative integer");
    if (o->ds_size < 0) return tn_fail("task_offer: field ds_size: expected a non-negative integer");
    snprintf(o->ds_rows, sizeof o->ds_rows, "%lld", (long long)o->ds_size);
    if (bucket) {
        int64_t lo, hi;
        if (tn_rows_bucket_parse(bucket, "task_offer: field ds_size_bucket", &lo, &hi)) return -1;
        o->ds_size = hi; /* the range's top: a task taken fits whatever its count */
        snprintf(o->ds_rows, sizeof o->ds_rows, "%s", bucket);
    }
    copy_str(o->model, sizeof o->model, model);
    copy_str(o->model_type, sizeof o->model_type, mt);
    copy_str(o->task_type, sizeof o->task_type, type);
    return 0;
}

/* fp32 weights: what the validator serves and what a full fine-tune uploads */
double tn_policy_transfer_s(const tn_policy *p, int64_t params) {
    double bytes = 4.0 * (double)params;
    return p->bandwidth_bps > 0 ? 2 * bytes / p->bandwidth_bps : 0;
}

/* The memory model (model/memmodel.h) for a model of this many parameters at
 * the recipe's batch and sequence length: full fine-tuning holds fp32
 * weights, gradients and AdamW moments; LoRA its base as the trainer loads it
 * (tn_model_load_frozen: a bf16 checkpoint's matrices stay mapped as stored,
 * 2 bytes a weight; real-size bases come in bf16, and an fp32 one is a small
 * model) plus a rank-16 adapter; both keep every layer's activations, or
 * only each block's input where the recipe checkpoints (past 2B). */
enum { LORA_BASE_BYTES = 2 };
static double mem_bytes(int64_t params, int lora) {
    tn_mem_req r = {.job = lora ? TN_MEM_LORA : TN_MEM_FULL, .weight_bytes = lora ? LORA_BASE_BYTES : 4,
                    .lora_rank = 16, .threads = 1};
    tn_recipe_batch(params, &r.batch, &r.seq_len, &r.checkpoint);
    tn_mem_estimate e;
    /* only a non-positive count fails, which the policy refuses first */
    return tn_mem_estimate_params(params, &r, &e) ? INFINITY : e.total;
}

static double pass_s(const tn_policy *p, int64_t params, int64_t rows, int lora) {
    double flops = p->flops > 0 ? p->flops : 1e9;
    return (lora ? 4.0 : 6.0) * (double)params * (double)rows * p->tokens_per_row / flops;
}

int tn_policy_use_lora(const tn_policy *p, int64_t params, int64_t ds_size, double avail_s) {
    if (params > p->lora_above_params) return 1;
    if (mem_bytes(params, 0) > p->memory_bytes) return 1;
    double full = p->min_epochs * pass_s(p, params, ds_size, 0), lora = p->min_epochs * pass_s(p, params, ds_size, 1);
    return full > avail_s && lora <= avail_s;
}

/* "1.2B", "260.0K": parameter counts people can read */
static const char *human(double v, char *buf, size_t cap) {
    if (v >= 1e9) snprintf(buf, cap, "%.1fB", v / 1e9);
    else if (v >= 1e6) snprintf(buf, cap, "%.1fM", v / 1e6);
    else if (v >= 1e3) snprintf(buf, cap, "%.1fK", v / 1e3);
    else snprintf(buf, cap, "%.0f", v);
    return buf;
}

void tn_policy_decide(const tn_policy *p, const tn_offer *o, int free_slots, int slots, tn_policy_decision *d) {
    char a[32], b[32];
    memset(d, 0, sizeof *d);
    double given_s = o->hours * 3600.0;
    d->margin_s = p->startup_s + tn_policy_transfer_s(p, o->params);
    d->avail_s = given_s - d->margin_s;
    d->lora = tn_policy_use_lora(p, o->params, o->ds_size, d->avail_s);
    d->mem_bytes = mem_bytes(o->params, d->lora);
    d->work_s = p->min_epochs * pass_s(p, o->params, o->ds_size, d->lora);
#define REFUSE(...) do { snprintf(d->message, sizeof d->message, __VA_ARGS__); return; } while (0)
    if (!o->model_type[0])
        REFUSE("unsupported architecture: the offer has no architecture.model_type (supported: llama, mistral, "
               "qwen2, gpt2)");
    if (!tn_policy_arch_supported(o->model_type))
        REFUSE("unsupported architecture '%s' (supported: llama, mistral, qwen2, gpt2)", o->model_type);
    if (!task_type_supported(o->task_type))
        REFUSE("unsupported task_type '%s' (supported: instruct, text, chat)", o->task_type);
    if (o->params <= 0) REFUSE("model too big to judge: model_params_count is missing");
    if (p->max_params > 0 && o->params > p->max_params)
        REFUSE("model too big: %s parameters > this miner's cap of %s", human((double)o->params, a, sizeof a),
               human((double)p->max_params, b, sizeof b));
    if (d->mem_bytes > p->memory_bytes)
        REFUSE("model too big for memory: %s parameters need ~%.1f GiB (%s) > budget %.1f GiB",
               human((double)o->params, a, sizeof a), d->mem_bytes / (1u << 30), d->lora ? "LoRA" : "full",
               p->memory_bytes / (1u << 30));
    if (free_slots <= 0) REFUSE("no free slot (%d of %d busy)", slots - free_slots, slots);
    if (d->avail_s < p->min_train_s)
        REFUSE("too little time: %.0f s given - %.0f s margin (startup, transfers) = %.0f s < %.0f s minimum",
               given_s, d->margin_s, d->avail_s, p->min_train_s);
    if (d->work_s > d->avail_s)
        REFUSE("too little time: %.2g pass(es) over %lld rows (offered: %s) x %.0f tokens need ~%.0f s at %.3g "
               "FLOP/s (%s) > %.0f s available",
               p->min_epochs, (long long)o->ds_size, o->ds_rows[0] ? o->ds_rows : "?", p->tokens_per_row, d->work_s, p->flops > 0 ? p->flops : 1e9,
               d->lora ? "LoRA" : "full", d->avail_s);
#undef REFUSE
    d->accept = 1;
    snprintf(d->message, sizeof d->message, "accepted: %s fine-tuning, ~%.0f s of work in %.0f s available",
             d->lora ? "LoRA" : "full", d->work_s, d->avail_s);
}
