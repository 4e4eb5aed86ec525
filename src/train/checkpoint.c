/* checkpoint.c - resumable training checkpoints (see trainer_internal.h).
 *
 * output_dir/checkpoint/ holds the weights being trained (an HF model
 * directory, or a PEFT adapter), optimizer.safetensors with AdamW's moments,
 * and state.json with the loop's position. Every file is written atomically
 * and state.json last, so a checkpoint whose state.json exists is whole. */
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/hygiene.h"
#include "io/safetensors.h"
#include "train/trainer_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int tn_trainer_save_checkpoint(trainer *t) {
    const tn_train_opts *o = t->o;
    char *dir = tn_path_join(o->output_dir, "checkpoint");
    char *state = tn_path_join(dir, "state.json");
    char *optp = tn_path_join(dir, "optimizer.safetensors");
    int rc = tn_mkdir_p(dir);
    /* the old state goes first: a crash from here on leaves no checkpoint
     * that claims weights and moments of different steps */
    if (rc == 0 && tn_file_exists(state)) remove(state);
    if (rc == 0)
        rc = o->lora ? tn_lora_save(&t->lora, &t->m, dir, o->base_model) : tn_model_save(&t->m, dir, o->base_model);
    if (rc == 0) {
        tn_st_entry e[2] = {{"exp_avg", TN_DT_F32, 1, {(int64_t)t->st.n}, t->st.opt.m},
                            {"exp_avg_sq", TN_DT_F32, 1, {(int64_t)t->st.n}, t->st.opt.v}};
        rc = tn_st_write(optp, e, 2, NULL);
    }
    if (rc == 0) {
        json_t *j = json_pack("{s:I, s:i, s:I, s:f, s:I, s:i, s:I, s:I, s:I, s:b}", "step", (json_int_t)t->step,
                              "epoch", t->epoch, "pos", (json_int_t)t->pos, "best_val",
                              isfinite(t->best_val) ? t->best_val : -1.0, "best_step", (json_int_t)t->best_step,
                              "evals_since_best", t->evals_since_best, "adam_t", (json_int_t)t->st.opt.t, "n_train",
                              (json_int_t)t->n_train, "seed", (json_int_t)o->seed, "lora", o->lora);
        rc = j ? tn_json_save_file(j, state) : tn_fail("checkpoint: cannot build state.json");
        json_decref(j);
    }
    if (rc == 0) tn_info("checkpoint at step %lld written to %s (resume with --resume %s)", (long long)t->step, dir, dir);
    free(dir);
    free(state);
    free(optp);
    return rc;
}

int tn_trainer_load_state(trainer *t) {
    const tn_train_opts *o = t->o;
    char *state = tn_path_join(o->resume, "state.json");
    char *optp = tn_path_join(o->resume, "optimizer.safetensors");
    json_t *j = tn_json_load_file(state);
    tn_st_file f;
    memset(&f, 0, sizeof f);
    int rc = -1, lora = 0;
    int64_t step, epoch, pos, best_step, evals, adam_t, n_train, seed;
    double best_val;
    if (!j) goto out;
    if (tn_json_int(j, "step", state, &step) || tn_json_int(j, "epoch", state, &epoch) ||
        tn_json_int(j, "pos", state, &pos) || tn_json_num_opt(j, "best_val", state, -1, &best_val) ||
        tn_json_int_opt(j, "best_step", state, 0, &best_step) ||
        tn_json_int_opt(j, "evals_since_best", state, 0, &evals) || tn_json_int(j, "adam_t", state, &adam_t) ||
        tn_json_int(j, "n_train", state, &n_train) || tn_json_int(j, "seed", state, &seed) ||
        tn_json_bool_opt(j, "lora", state, 0, &lora))
        goto out;
    if (lora != o->lora) {
        tn_fail("%s: the checkpoint is %s training, this run %s", state, lora ? "LoRA" : "full",
                o->lora ? "LoRA" : "full");
        goto out;
    }
    if ((size_t)n_train != t->n_train || (uint64_t)seed != o->seed) {
        tn_fail("%s: the checkpoint was made with %lld training rows and seed %lld; this run has %zu and %llu "
                "(resume with the same data, validation size and seed)",
                state, (long long)n_train, (long long)seed, t->n_train, (unsigned long long)o->seed);
        goto out;
    }
    if (pos < 0 || (size_t)pos > t->n_train || epoch < 0 || step < 0) {
        tn_fail("%s: step, epoch or pos out of range", state);
        goto out;
    }
    if (tn_st_open(&f, optp)) goto out;
    const tn_st_tensor *m = tn_st_find(&f, "exp_avg"), *v = tn_st_find(&f, "exp_avg_sq");
    if (!m || !v || m->numel != t->st.n || v->numel != t->st.n) {
        tn_fail("%s: exp_avg / exp_avg_sq missing or not of %zu values", optp, t->st.n);
        goto out;
    }
    if (tn_st_read_f32(m, t->st.opt.m, t->st.n, 1) || tn_st_read_f32(v, t->st.opt.v, t->st.n, 1)) goto out;
    t->st.opt.t = adam_t;
    t->step = step;
    t->epoch = (int)epoch;
    t->pos = (size_t)pos;
    t->best_val = best_val >= 0 ? best_val : INFINITY;
    t->best_step = best_step;
    t->evals_since_best = (int)evals;
    if (o->lora) t->lora.step = (uint64_t)step;
    /* the data order of the epoch being resumed */
    memcpy(t->order, t->train_idx, sizeof(size_t) * t->n_train);
    tn_shuffle(t->order, t->n_train, o->seed * 1000003u + (uint64_t)t->epoch);
    tn_info("resumed from %s at step %lld (epoch %d)", o->resume, (long long)step, t->epoch);
    rc = 0;
out:
    tn_st_close(&f);
    json_decref(j);
    free(state);
    free(optp);
    return rc;
}
