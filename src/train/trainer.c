/* trainer.c - the fine-tuning loop (tuna train).
 *
 * One step = grad_accum micro-batches of micro_batch rows, then clipping and
 * one AdamW update, over the whole model (full fine-tuning) or only the
 * adapter (LoRA, base frozen). Around it:
 *   schedule   warmup then cosine/linear/constant, as HF's schedulers; with a
 *              time budget the decay runs on elapsed time, so it ends when
 *              the budget does, whatever the speed of the machine
 *   budget     training stops when one more step would eat into the margin
 *              kept for the last evaluation and the final save
 *   validation every eval_every steps on a held-out split; each new best is
 *              written to the output directory at once, so the output always
 *              holds the best model so far (nothing lost if killed)
 *   signals    SIGINT/SIGTERM end the current step, write a resumable
 *              checkpoint (weights, optimizer moments, data position) and the
 *              output, then return; --resume continues from the checkpoint
 */
#include "train/trainer_internal.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/hygiene.h"
#include "nn/gemm.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { g_stop = sig; }

/* ---- setup ---------------------------------------------------------------- */

static int load_data(trainer *t) {
    tn_train_opts *o = t->o;
    tn_rows_fmt fmt = TN_ROWS_AUTO;
    if (o->dataset_format && tn_rows_fmt_parse(o->dataset_format, &fmt)) return -1;
    tn_examples_init(&t->ex);
    if (tn_examples_load(&t->ex, o->dataset, fmt, &o->spec, t->tok, o->seq_len, o->train_on_inputs)) return -1;
    size_t n = t->ex.n;
    double frac = o->val_size >= 1.0 ? o->val_size / (double)n : o->val_size;
    if (frac > 0) {
        if (n < 2) return tn_fail("%s: %zu usable row(s): too few to hold out a validation set", o->dataset, n);
        if (tn_data_split(n, frac, 0, o->seed, &t->train_idx, &t->n_train, &t->val_idx, &t->n_val)) return -1;
    } else {
        t->train_idx = tn_malloc(sizeof(size_t) * n);
        for (size_t i = 0; i < n; i++) t->train_idx[i] = i;
        t->n_train = n;
    }
    t->order = tn_malloc(sizeof(size_t) * t->n_train);
    tn_info("data: %zu rows read, %zu used (%zu train, %zu validation), %zu truncated to %d tokens, %zu dropped "
            "without a target; %zu tokens, %zu scored",
            t->ex.rows_read, n, t->n_train, t->n_val, t->ex.truncated, o->seq_len, t->ex.dropped_no_target,
            t->ex.tokens, t->ex.scored);
    return 0;
}

/* The order of the training rows in epoch e: a seeded shuffle, so a resumed
 * run sees exactly the rows it would have seen. */
static void shuffle_epoch(trainer *t, int epoch) {
    memcpy(t->order, t->train_idx, sizeof(size_t) * t->n_train);
    tn_shuffle(t->order, t->n_train, t->o->seed * 1000003u + (uint64_t)epoch);
}

/* The adapter's dropout lives in the adapter (saved in adapter_config.json)
 * and in each slot (what the forward reads); both change together. This
 * belongs beside tn_lora_build in model/lora.c, which copies it the same way. */
static int setup_model(trainer *t) {
    tn_train_opts *o = t->o;
    const char *weights = (o->resume && !o->lora) ? o->resume : o->base_model;
    /* LoRA trains no base weight: the base loads frozen, its bf16 matrices
     * staying as stored in the mapped file (half the memory of fp32, and
     * nothing read that a step does not touch); full fine-tuning needs the
     * fp32 arena it updates */
    if (o->lora ? tn_model_load_lora_base(&t->m, weights, 1) : tn_model_load(&t->m, weights, 1)) return -1;
    t->m.checkpoint_blocks = o->checkpoint_blocks;
    if (o->seq_len > t->m.cfg.max_positions) {
        tn_warn("sequence_len %d is beyond the model's %d positions; using %d", o->seq_len, t->m.cfg.max_positions,
                t->m.cfg.max_positions);
        o->seq_len = t->m.cfg.max_positions;
    }
    if (o->lora) {
        int rc;
        if (o->resume) {
            rc = tn_lora_load(&t->m, &t->lora, o->resume);
            if (rc == 0) tn_lora_set_dropout(&t->lora, (float)o->lora_dropout); /* this run's, not the saved one */
        } else if (o->n_lora_targets > 0 && !o->lora_target_linear) {
            rc = tn_lora_attach(&t->m, &t->lora, o->lora_r, (float)o->lora_alpha, (float)o->lora_dropout,
                                (const char *const *)o->lora_targets, o->n_lora_targets, o->seed);
        } else {
            const char **names;
            int n = tn_lora_default_targets(&t->m, &names);
            rc = tn_lora_attach(&t->m, &t->lora, o->lora_r, (float)o->lora_alpha, (float)o->lora_dropout, names, n,
                                o->seed);
        }
        if (rc) return -1;
        t->lora.seed = o->seed;
        tn_info("model: %s, %zu parameters (%d matrices kept as stored in bf16); LoRA r=%d alpha=%g on %d layers: "
                "%zu trainable",
                t->m.cfg.model_type, t->m.numel + t->m.stored_numel, t->m.nstored, t->lora.r, t->lora.alpha,
                t->lora.nslots, t->lora.numel);
    } else {
        tn_info("model: %s, %zu parameters, full fine-tuning", t->m.cfg.model_type, t->m.numel);
    }
    return tn_stepper_init(&t->st, &t->m, o->lora ? &t->lora : NULL, (float)o->lr, (float)o->adam_beta1,
                           (float)o->adam_beta2, (float)o->adam_eps, (float)o->weight_decay, o->max_grad_norm);
}

/* ---- schedule ------------------------------------------------------------- */

/* The decay runs over the steps after warmup, or over the time budget when
 * that ends first. */
static double lr_at(const trainer *t, double elapsed) {
    const tn_lr_schedule s = {t->o->sched, t->o->lr, t->warmup};
    double p = 0.0;
    if (t->total_steps > t->warmup) p = (double)(t->step - t->warmup) / (double)(t->total_steps - t->warmup);
    if (t->deadline > 0) p = fmax(p, elapsed / t->deadline);
    return tn_lr_at(&s, t->step, p);
}

/* ---- one step ------------------------------------------------------------- */

/* Fills the next micro-batch's row indices; moves to the next epoch (new
 * shuffle) at the end of the data. Returns the count (< B only at the end of
 * the last epoch), 0 when the epochs are used up. */
static int next_rows(trainer *t, size_t *sel) {
    int B = t->o->micro_batch, n = 0;
    while (n < B) {
        if (t->pos >= t->n_train) {
            if (n > 0) break; /* finish this batch short rather than mix epochs */
            if (t->o->epochs > 0 && t->epoch + 1 >= t->o->epochs) return 0;
            t->epoch++;
            t->pos = 0;
            shuffle_epoch(t, t->epoch);
        }
        sel[n++] = t->order[t->pos++];
    }
    return n;
}

/* Returns 1 after a step, 0 when the data is used up, -1 on error. */
static int train_step(trainer *t, double lr, double *loss_out, int64_t *tokens_out) {
    const tn_train_opts *o = t->o;
    size_t sel[1024];
    int64_t tokens = 0;
    tn_stepper_zero(&t->st);
    for (int k = 0; k < o->grad_accum; k++) {
        int cnt = next_rows(t, sel);
        if (cnt == 0) break;
        tn_batch_make(&t->batch, &t->ex, sel, cnt, cnt, o->seq_len, t->pad_id);
        float loss;
        if (tn_stepper_accumulate(&t->st, t->batch.ids, t->batch.labels, t->batch.B, t->batch.T, &loss)) return -1;
        tokens += (int64_t)t->batch.B * t->batch.T;
    }
    if (t->st.micro == 0) return 0;
    if (tn_stepper_update(&t->st, (float)lr)) return -1;
    t->last_grad_norm = t->st.grad_norm;
    t->step++;
    *loss_out = t->st.loss_sum / t->st.micro;
    *tokens_out = tokens;
    return 1;
}

/* ---- validation and outputs ----------------------------------------------- */

static void push_point(double **xs, double **ys, size_t *n, size_t *cap, double x, double y) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *xs = tn_realloc(*xs, sizeof(double) * *cap);
        *ys = tn_realloc(*ys, sizeof(double) * *cap);
    }
    (*xs)[*n] = x;
    (*ys)[(*n)++] = y;
}


static int validate(trainer *t, double *val) {
    tn_eval_result r;
    if (tn_evaluate(&t->m, &t->ex, t->val_idx, t->n_val, t->o->micro_batch, t->o->seq_len, t->pad_id, NULL, NULL, &r))
        return -1;
    t->val_seconds = r.seconds;
    *val = r.loss;
    return 0;
}

/* Writes the current weights as the run's output (model dir or adapter). */
static int save_output(trainer *t) {
    const tn_train_opts *o = t->o;
    double t0 = tn_now();
    int rc = o->lora ? tn_lora_save(&t->lora, &t->m, o->output_dir, o->base_model)
                     : tn_model_save(&t->m, o->output_dir, o->base_model);
    t->save_seconds = fmax(t->save_seconds, tn_now() - t0);
    t->saved_step = t->step;
    return rc;
}

static int evaluate_and_keep_best(trainer *t, double elapsed) {
    double val;
    if (validate(t, &val)) return -1;
    push_point(&t->vsteps, &t->vloss, &t->nv, &t->capv, (double)t->step, val);
    int better = val < t->best_val;
    if (better) {
        t->best_val = val;
        t->best_step = t->step;
        t->evals_since_best = 0;
        if (save_output(t)) return -1;
    } else {
        t->evals_since_best++;
    }
    tn_metrics_row row = tn_metrics_row_empty();
    row.step = t->step;
    row.epoch = t->epoch + (double)t->pos / (double)(t->n_train ? t->n_train : 1);
    row.val_loss = val;
    row.elapsed_s = elapsed;
    if (t->metrics) tn_metrics_write(t->metrics, &row);
    if (!t->o->quiet) {
        tn_progress_end(&t->prog);
        tn_info("step %lld: validation loss %.4f%s", (long long)t->step, val, better ? " (best, saved)" : "");
    }
    return 0;
}

/* ---- the run -------------------------------------------------------------- */

static void plan(trainer *t) {
    tn_train_opts *o = t->o;
    int64_t rows_per_step = (int64_t)o->micro_batch * o->grad_accum;
    int64_t per_epoch = ((int64_t)t->n_train + rows_per_step - 1) / rows_per_step;
    t->total_steps = 0;
    if (o->epochs > 0) t->total_steps = per_epoch * o->epochs;
    if (o->max_steps > 0 && (t->total_steps == 0 || o->max_steps < t->total_steps)) t->total_steps = o->max_steps;
    t->warmup = o->warmup_steps;
    if (t->warmup == 0 && o->warmup_ratio > 0 && t->total_steps > 0)
        t->warmup = (int64_t)ceil(o->warmup_ratio * (double)t->total_steps);
    if (o->eval_every <= 0 && t->n_val > 0) {
        /* ten evaluations over a known run; every 50 steps when only time bounds it */
        o->eval_every = t->total_steps > 0 ? (int)(t->total_steps / 10 > 0 ? t->total_steps / 10 : 1) : 50;
    }
    /* Keep back enough time for the final evaluation and the save: the
     * output is written inside the budget, not after it. Both are estimated
     * from sizes here and re-measured as the run goes. */
    if (o->time_budget_s > 0) {
        double bytes = (double)(o->lora ? t->lora.numel : t->m.numel) * 4.0;
        t->save_seconds = 0.5 + bytes / 100e6;
        t->deadline = o->time_budget_s;
    }
}

static double margin(const trainer *t) {
    /* one more save, one more validation, and 3% for the unexpected */
    return 2.0 * t->save_seconds + t->val_seconds + 0.03 * t->o->time_budget_s;
}

int tn_train_run(tn_train_opts *o) {
    trainer T;
    memset(&T, 0, sizeof T);
    trainer *t = &T;
    t->o = o;
    t->t0 = tn_now();
    t->best_val = INFINITY;
    int rc = -1;
    g_stop = 0;
    if (!o->base_model) return tn_fail("no base model (--model or base_model:)");
    if (!o->dataset) return tn_fail("no dataset (--data or datasets:)");
    if (!o->output_dir) return tn_fail("no output directory (--out or output_dir:)");
    if (o->seq_len < 2 || o->micro_batch < 1 || o->micro_batch > 1024 || o->grad_accum < 1)
        return tn_fail("sequence_len (>= 2), micro_batch_size (1..1024) and gradient_accumulation_steps (>= 1) "
                       "must be positive");
    if (!(o->lr > 0)) return tn_fail("learning_rate %g must be positive", o->lr);
    if (o->spec.kind == TN_DS_CHAT && o->spec.chat_template == TN_TMPL_NONE) {
        char *cfg = tn_path_join(o->base_model, "tokenizer_config.json");
        int bad = tn_chat_template_from_tokenizer_config(cfg, &o->spec.chat_template);
        free(cfg);
        if (bad) return tn_err_prefix("chat dataset: give --chat-template");
    }
    /* bf16 matmuls for this run only; the switch is put back at `out` */
    int bf16_before = tn_gemm_bf16();
    tn_gemm_set_bf16(o->bf16);
    if (o->bf16 && !tn_gemm_bf16()) tn_warn("bf16: this build has no AVX512_BF16; training in fp32");
    else if (o->bf16 && !o->quiet) tn_info("bf16 matmuls (bf16 inputs, fp32 accumulation and weights)");
    t->tok = tn_tok_load(o->base_model);
    if (!t->tok) {
        tn_gemm_set_bf16(bf16_before);
        return -1;
    }
    t->pad_id = tn_batch_pad_id(t->tok);
    if (tn_mkdir_p(o->output_dir) || load_data(t) || setup_model(t)) goto out;
    if (tn_tok_vocab_size(t->tok) > t->m.cfg.vocab_size) {
        tn_fail("%s: the tokenizer has %d ids but the model only %d embeddings", o->base_model,
                tn_tok_vocab_size(t->tok), t->m.cfg.vocab_size);
        goto out;
    }
    plan(t);
    shuffle_epoch(t, 0);
    if (o->resume && tn_trainer_load_state(t)) goto out;
    char *mpath = tn_path_join(o->output_dir, "metrics.jsonl");
    t->metrics = tn_metrics_open(mpath);
    free(mpath);
    if (!t->metrics) goto out;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    tn_progress_init(&t->prog, t->total_steps, o->time_budget_s);
    t->prog.quiet = o->quiet;
    if (o->lora) t->lora.training = 1;

    /* the starting point: the base model's validation loss (not saved as
     * output: an output must be trained) */
    if (t->n_val > 0 && t->step == 0) {
        double v0;
        if (validate(t, &v0)) goto restore;
        push_point(&t->vsteps, &t->vloss, &t->nv, &t->capv, 0.0, v0);
        tn_metrics_row row = tn_metrics_row_empty();
        row.step = 0;
        row.val_loss = v0;
        row.elapsed_s = tn_now() - t->t0;
        tn_metrics_write(t->metrics, &row);
        if (!o->quiet) tn_info("step 0: validation loss %.4f (base model)", v0);
    }
    const char *why = "done";
    double step_time = 0.0;
    int stepped = 0;
    for (;;) {
        double elapsed = tn_now() - t->t0;
        if (g_stop) { why = "interrupted"; break; }
        if (t->total_steps > 0 && t->step >= t->total_steps) { why = "all steps done"; break; }
        if (t->deadline > 0 && elapsed + step_time + margin(t) > t->deadline) { why = "time budget"; break; }
        double lr = lr_at(t, elapsed), loss = 0.0;
        int64_t tokens = 0;
        double s0 = tn_now();
        int r = train_step(t, lr, &loss, &tokens);
        if (r < 0) goto restore;
        if (r == 0) { why = "epochs done"; break; }
        stepped = 1;
        double dt = tn_now() - s0;
        step_time = step_time == 0 ? dt : 0.8 * step_time + 0.2 * dt; /* smoothed, for the budget check */
        elapsed = tn_now() - t->t0;
        push_point(&t->hsteps, &t->hloss, &t->nh, &t->caph, (double)t->step, loss);
        tn_metrics_row row = tn_metrics_row_empty();
        row.step = t->step;
        row.epoch = t->epoch + (double)t->pos / (double)t->n_train;
        row.loss = loss;
        row.lr = lr;
        row.grad_norm = t->last_grad_norm;
        row.tokens_per_s = (double)tokens / dt;
        row.elapsed_s = elapsed;
        tn_metrics_write(t->metrics, &row);
        tn_progress_update(&t->prog, t->step, loss, lr, row.tokens_per_s);
        if (t->n_val > 0 && o->eval_every > 0 && t->step % o->eval_every == 0) {
            if (evaluate_and_keep_best(t, elapsed)) goto restore;
            if (o->early_stop_patience > 0 && t->evals_since_best >= o->early_stop_patience) {
                why = "early stop";
                break;
            }
        }
        if (o->save_every > 0 && t->step % o->save_every == 0 && tn_trainer_save_checkpoint(t)) goto restore;
    }
    tn_progress_end(&t->prog);
    /* the output: with a validation set, the best model seen (evaluated once
     * more at the end when the last evaluation was before the last step);
     * without one, the last weights. */
    if (t->n_val > 0) {
        int last_evaluated = t->nv > 0 && t->vsteps[t->nv - 1] == (double)t->step;
        if (stepped && !last_evaluated && evaluate_and_keep_best(t, tn_now() - t->t0)) goto restore;
        if (t->best_step == 0 && t->saved_step == 0 && save_output(t)) goto restore; /* never improved */
    } else if (save_output(t)) {
        goto restore;
    }
    if (g_stop && tn_trainer_save_checkpoint(t)) goto restore;
    double elapsed = tn_now() - t->t0;
    json_t *sum = json_pack("{s:s, s:s, s:I, s:i, s:f, s:f, s:f, s:I, s:f, s:I, s:I, s:I, s:I, s:s}", "event", "end",
                            "reason", why, "steps", (json_int_t)t->step, "epoch", t->epoch, "last_loss",
                            t->nh ? t->hloss[t->nh - 1] : -1.0, "base_val_loss", t->nv ? t->vloss[0] : -1.0,
                            "best_val_loss", t->nv && isfinite(t->best_val) ? t->best_val : -1.0,
                            "best_step", (json_int_t)t->best_step, "elapsed_s", elapsed, "train_rows",
                            (json_int_t)t->n_train, "val_rows", (json_int_t)t->n_val, "dropped_rows",
                            (json_int_t)t->ex.dropped_no_target, "truncated_rows", (json_int_t)t->ex.truncated,
                            "output", o->output_dir);
    if (sum) {
        /* absent numbers are null, not a sentinel */
        if (!t->nh) json_object_set_new(sum, "last_loss", json_null());
        if (!t->nv) json_object_set_new(sum, "base_val_loss", json_null());
        if (!t->nv || !isfinite(t->best_val)) json_object_set_new(sum, "best_val_loss", json_null());
        json_object_set_new(sum, "bf16", json_boolean(tn_gemm_bf16()));
        tn_metrics_write_json(t->metrics, sum);
        char *spath = tn_path_join(o->output_dir, "train_summary.json");
        tn_json_save_file(sum, spath);
        free(spath);
        json_decref(sum);
    }
    char *svg = tn_path_join(o->output_dir, "loss.svg");
    if (tn_svg_loss_curve(svg, t->hsteps, t->hloss, t->nh, t->vsteps, t->vloss, t->nv, "tuna train: loss"))
        tn_warn("%s", tn_errmsg());
    free(svg);
    tn_info("%s after %lld steps in %.1fs: last loss %.4f; output in %s", why, (long long)t->step, elapsed,
            t->nh ? t->hloss[t->nh - 1] : NAN, o->output_dir);
    if (t->nv) tn_info("best validation loss %.4f at step %lld", t->best_val, (long long)t->best_step);
    o->interrupted = g_stop != 0;
    rc = 0;
restore:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
out:
    if (t->metrics && tn_metrics_close(t->metrics) && rc == 0) rc = -1;
    tn_batch_free(&t->batch);
    tn_stepper_free(&t->st);
    if (o->lora) {
        tn_lora_detach(&t->m, &t->lora);
        tn_lora_free(&t->lora);
    }
    tn_model_free(&t->m);
    tn_examples_free(&t->ex);
    tn_tok_free(t->tok);
    free(t->train_idx);
    free(t->val_idx);
    free(t->order);
    free(t->hsteps);
    free(t->hloss);
    free(t->vsteps);
    free(t->vloss);
    tn_gemm_set_bf16(bf16_before);
    return rc;
}
