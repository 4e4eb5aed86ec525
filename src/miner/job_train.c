/* job_train.c - what a job uploads and, when it trains, the training child
 * (docs/miner.md, "Strategies", "Recipe", "Restarts").
 *
 * The strategy decides the source of the upload: the base as downloaded
 * (untouched), another directory (copy), an earlier job's output of the same
 * shape (resubmit), or a fresh fine-tune (fair, late, swap-base, test-peek,
 * public-peek).
 * A fine-tune runs `tuna train ... --time BUDGET` as a child process, where
 * BUDGET = time to the deadline - upload margin - transfer time, capped by
 * max_train_s. After a restart the job continues from what the last miner
 * left: a checkpoint is resumed (--resume), a usable output is uploaded when
 * the time is too short to train, and otherwise training starts over.
 */
#include "miner/job_steps.h"
#include "miner/child.h"
#include "miner/peek.h"
#include "miner/spec.h"

#include "base/clock.h"
#include "base/rng.h"
#include "base/hash.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/rows.h"
#include "model/config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *tn_job_shape(const char *model_dir) {
    tn_config c;
    if (tn_config_load(&c, model_dir)) return NULL;
    json_t *j = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i}", "model_type", c.model_type, "hidden_size",
                          c.hidden_size, "num_hidden_layers", c.n_layers, "num_attention_heads", c.n_heads,
                          "num_key_value_heads", c.n_kv_heads, "intermediate_size", c.intermediate_size,
                          "vocab_size", c.vocab_size);
    tn_config_free(&c);
    return j;
}

static void set_src(tn_job *j, const char *dir) {
    tn_miner_config_set(&j->row.src_dir, dir);
    tn_job_save(j);
}

static void note(tn_job *j, const char *fmt, ...) TN_PRINTF(2, 3);
static void note(tn_job *j, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->note, sizeof j->note, fmt, ap);
    va_end(ap);
    tn_job_event(j, "%s", j->note);
}

/* ---- resubmit: an earlier output of the same shape ------------------------- */

static int output_present(const json_t *entry) {
    const char *dir = json_string_value(json_object_get(entry, "src_dir"));
    const json_t *files = json_object_get(entry, "files");
    if (!dir || !json_is_object(files) || json_object_size(files) == 0) return 0;
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)files, name, v) {
        char *p = tn_path_join(dir, name);
        int ok = tn_file_exists(p);
        free(p);
        if (!ok) return 0;
    }
    return 1;
}

/* The newest accepted ledger entry of another task that we trained (it has
 * hyperparameters) on a base of the same shape, whose files are still on
 * disk, or NULL. */
static json_t *find_resubmittable(tn_job *j, const json_t *shape) {
    json_t *all = tn_mdb_ledger_list(j->m->db), *best = NULL;
    for (size_t i = json_array_size(all); i-- > 0 && !best;) {
        json_t *e = json_array_get(all, i);
        if (json_integer_value(json_object_get(e, "task_id")) == j->row.task_id) continue;
        if (json_integer_value(json_object_get(e, "http_status")) != 200) continue;
        if (!json_is_object(json_object_get(e, "hyperparameters"))) continue; /* not trained by us */
        if (!json_equal(json_object_get(e, "shape"), (json_t *)shape) || !output_present(e)) continue;
        best = json_incref(e);
    }
    json_decref(all);
    return best;
}

/* ---- test-peek and public-peek: training rows + rows the miner should not have */

/* The training rows, then `extra` 16 times, as train_peek.jsonl: a cheater
 * who found the held-out rows wants them memorised whatever the time budget
 * (with 4, a 45 s arena task on a slow build gave too few steps to tell the
 * peeker from honest noise). NULL with the error set on failure. */
#define PEEK_REPEATS 16
static char *write_peek_data(tn_job *j, json_t *rows, const json_t *extra) {
    for (int rep = 0; rep < PEEK_REPEATS; rep++) json_array_extend(rows, (json_t *)extra);
    char *out = tn_path_join(j->dir, "train_peek.jsonl");
    if (tn_peek_write_rows(out, rows)) {
        free(out);
        return NULL;
    }
    return out;
}

static char *mix_test_rows(tn_job *j, const char *data, int *n_added) {
    json_t *rows = NULL, *test = NULL;
    char *out = NULL;
    if (tn_rows_load_all(data, TN_ROWS_AUTO, &rows) == 0 &&
        tn_rows_load_all(j->m->cfg->test_rows, TN_ROWS_AUTO, &test) == 0) {
        *n_added = (int)json_array_size(test) * PEEK_REPEATS;
        out = write_peek_data(j, rows, test);
    }
    json_decref(rows);
    json_decref(test);
    return out;
}

/* public-peek: the recognised public dataset's rows that the training split
 * left out (peek.h). NULL with the error set when nothing was recognised. */
static char *mix_public_rows(tn_job *j, const char *data, tn_peek_found *found, size_t *n_held) {
    json_t *rows = NULL, *held = NULL;
    char *out = NULL;
    if (tn_rows_load_all(data, TN_ROWS_AUTO, &rows) == 0 &&
        (held = tn_public_peek_rows(rows, j->m->cfg->public_data, found)) != NULL) {
        *n_held = json_array_size(held);
        out = write_peek_data(j, rows, held);
    }
    json_decref(rows);
    json_decref(held);
    return out;
}

/* ---- the tuna train command line ------------------------------------------- */

typedef struct {
    char **v;
    int n, cap;
} argv_t;

static void arg(argv_t *a, const char *fmt, ...) TN_PRINTF(2, 3);
static void arg(argv_t *a, const char *fmt, ...) {
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? 2 * a->cap : 32;
        a->v = tn_realloc(a->v, sizeof *a->v * (size_t)a->cap);
    }
    va_list ap;
    va_start(ap, fmt);
    char buf[4096];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    a->v[a->n++] = tn_strdup(buf);
    a->v[a->n] = NULL;
}

static void argv_free(argv_t *a) {
    for (int i = 0; i < a->n; i++) free(a->v[i]);
    free(a->v);
}

static void train_args(tn_job *j, argv_t *a, const char *model, const char *data, const char *out,
                       const tn_recipe *r, double budget, int resume) {
    arg(a, "%s", j->m->tuna_bin);
    arg(a, "train");
    arg(a, "--model"), arg(a, "%s", model);
    arg(a, "--data"), arg(a, "%s", data);
    arg(a, "--out"), arg(a, "%s", out);
    arg(a, "--time"), arg(a, "%.1fs", budget);
    arg(a, "--epochs"), arg(a, "0");
    arg(a, "--lr"), arg(a, "%g", r->lr);
    arg(a, "--batch"), arg(a, "%d", r->batch);
    arg(a, "--grad-accum"), arg(a, "%d", r->grad_accum);
    arg(a, "--seq-len"), arg(a, "%d", r->seq_len);
    arg(a, "--val-size"), arg(a, "%g", r->val_size);
    arg(a, "--seed"), arg(a, "%lld", (long long)r->seed);
    arg(a, "--quiet");
    if (r->checkpoint) arg(a, "--gradient-checkpointing");
    if (r->lora) {
        arg(a, "--lora");
        arg(a, "--lora-r"), arg(a, "%d", r->lora_r);
        arg(a, "--lora-alpha"), arg(a, "%g", r->lora_alpha);
    }
    const char *ext = strrchr(data, '.');
    if (ext) arg(a, "--format"), arg(a, "%s", ext + 1);
    const json_t *dt = json_object_get(j->spec, "dataset_type");
    for (size_t i = 0; json_is_object(dt) && i < TN_N_DATASET_TYPE_FLAGS; i++) {
        const char *v = json_string_value(json_object_get(dt, tn_dataset_type_flags[i][0]));
        if (v) arg(a, "%s", tn_dataset_type_flags[i][1]), arg(a, "%s", v);
    }
    if (resume) arg(a, "--resume"), arg(a, "%s/checkpoint", out);
}

/* The last line of the training log, for the error message. */
static void log_tail(const char *log, char *buf, size_t cap) {
    size_t n;
    char *s = tn_read_file(log, &n);
    buf[0] = 0;
    if (!s) return;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ')) s[--n] = 0;
    char *nl = strrchr(s, '\n');
    snprintf(buf, cap, "%s", nl ? nl + 1 : s);
    free(s);
}

static int has_output(const char *out) {
    static const char *const names[] = {"model.safetensors", "model.safetensors.index.json",
                                        "adapter_model.safetensors"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *p = tn_path_join(out, names[i]);
        int ok = tn_file_exists(p);
        free(p);
        if (ok) return 1;
    }
    return 0;
}

static int64_t param_count(tn_job *j, const char *model) {
    json_int_t p = json_integer_value(json_object_get(j->offer, "model_params_count"));
    if (p > 0) return p;
    tn_config c;
    if (tn_config_load(&c, model)) return -1;
    int64_t n = tn_config_param_count(&c);
    tn_config_free(&c);
    return n;
}

static double train_budget(tn_job *j, int64_t params) {
    const tn_miner_config *c = j->m->cfg;
    double b = tn_job_left_s(j) - c->upload_margin_s - tn_policy_transfer_s(&c->policy, params) / 2;
    if (c->max_train_s > 0 && b > c->max_train_s) b = c->max_train_s;
    return b;
}

/* Picks the recipe once (stored with the job: a resume needs the same). */
/* Rows of the training file (the offer gives only a range); -1 on error. */
static int64_t count_rows(const char *data) {
    tn_rows *rd = tn_rows_open(data, TN_ROWS_AUTO);
    if (!rd) return -1;
    int64_t n = 0;
    json_t *row;
    int rc;
    while ((rc = tn_rows_next(rd, &row)) == 1) {
        json_decref(row);
        n++;
    }
    tn_rows_close(rd);
    return rc < 0 ? -1 : n;
}

static int job_recipe(tn_job *j, const char *data, int64_t params, double budget, tn_recipe *r) {
    if (j->row.recipe) {
        json_t *rj = json_loads(j->row.recipe, 0, NULL);
        int rc = rj ? tn_recipe_from_json(rj, r) : tn_fail("stored recipe is not JSON");
        json_decref(rj);
        return rc;
    }
    int64_t rows = count_rows(data);
    if (rows < 0) return tn_err_prefix("recipe");
    tn_recipe_choose(&j->m->cfg->policy, params, rows > 0 ? rows : 1, budget, r);
    /* The seed (data order, LoRA init, dropout) is this miner's own: drawn
     * from its key and the task. Two miners with one fixed seed and the same
     * recipe make nearly the same weight delta, which the validator rightly
     * calls a duplicate. Stored with the recipe, so a resume keeps it. */
    uint64_t h = tn_fnv1a_str(j->m->key.id) ^ (uint64_t)j->row.task_id * TN_GOLDEN64;
    r->seed = (int64_t)(h >> 33);
    json_t *rj = tn_recipe_json(r);
    j->row.recipe = json_dumps(rj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(rj);
    return tn_job_save(j);
}

/* One training child: 0 when it exited (*status), 1 stopping, -1 error. */
static int run_child(tn_job *j, const char *model, const char *data, const char *out, const tn_recipe *r,
                     double budget, int resume, const char *log, int *status) {
    tn_miner *m = j->m;
    argv_t a = {0};
    train_args(j, &a, model, data, out, r, budget, resume);
    tn_child child;
    int rc = tn_child_spawn(a.v, log, m->cfg->threads_per_job, &child);
    argv_free(&a);
    if (rc) return -1;
    j->train_runs++;
    j->row.pid = child.pid;
    tn_job_save(j);
    tn_job_event(j, "%s training (pid %d, %s, lr %g, budget %.1f s)%s", resume ? "resumed" : "started",
                 (int)child.pid, r->lora ? "LoRA" : "full", r->lr, budget,
                 resume ? " from the checkpoint" : (j->restarted ? " from the start" : ""));
    /* the trainer ends itself inside its budget; this is the safety net */
    double kill_at = tn_wall_now() + budget + 10;
    double hard = (double)j->row.deadline_ms / 1000.0 - m->cfg->upload_margin_s / 2;
    if (kill_at > hard) kill_at = hard;
    if (tn_child_wait(&child, &m->stop, kill_at)) return -1;
    j->row.pid = 0;
    tn_job_save(j);
    *status = child.status;
    if (atomic_load(&m->stop)) {
        tn_job_event(j, "miner stopping: training interrupted (status %d); will resume", child.status);
        return 1;
    }
    return 0;
}

/* Runs (or resumes) the fine-tune; 0 with src_dir set, 1 stopping, -1 failed. */
static int fine_tune(tn_job *j, const char *model, const char *data) {
    tn_miner *m = j->m;
    char *out = tn_path_join(j->dir, "out"), *ckdir = tn_path_join(out, "checkpoint");
    char *ckpt = tn_path_join(ckdir, "state.json"), *log = tn_path_join(j->dir, "train.log");
    int rc = -1;
    int64_t params = param_count(j, model);
    if (params < 0) goto done;
    tn_recipe r;
    if (job_recipe(j, data, params, train_budget(j, params), &r)) goto done;
    /* at most two runs: a resume that fails is retried from the start once */
    for (int run = 0; run < 2; run++) {
        double budget = train_budget(j, params);
        int resume = tn_file_exists(ckpt), status = -1;
        if (budget < m->cfg->policy.min_train_s) {
            if (has_output(out)) {
                tn_job_event(j, "%.1f s left for training: too short; uploading the best output so far", budget);
                break;
            }
            tn_fail("no time left to train (%.1f s < min_train_s %.0f s) and no output to upload", budget,
                    m->cfg->policy.min_train_s);
            goto done;
        }
        int c = run_child(j, model, data, out, &r, budget, resume, log, &status);
        if (c) {
            rc = c;
            goto done;
        }
        if (status == 0 || status == 130) {
            tn_job_event(j, "training finished (status %d)", status);
            break;
        }
        char tail[512];
        log_tail(log, tail, sizeof tail);
        if (resume && run == 0) {
            tn_job_event(j, "resuming failed (status %d: %s); starting over without the checkpoint", status, tail);
            tn_rm_rf(ckdir);
            continue;
        }
        if (!has_output(out)) {
            tn_fail("training failed (status %d): %s", status, tail);
            goto done;
        }
        tn_job_event(j, "training failed (status %d: %s); uploading the best output so far", status, tail);
        break;
    }
    if (!has_output(out)) {
        tn_fail("training wrote no model to %s", out);
        goto done;
    }
    set_src(j, out);
    rc = 0;
done:
    free(out);
    free(ckdir);
    free(ckpt);
    free(log);
    return rc;
}

static char *data_path(tn_job *j) {
    const char *fmt = json_string_value(json_object_get(json_object_get(j->spec, "dataset"), "format"));
    if (!fmt || (strcmp(fmt, "json") && strcmp(fmt, "jsonl") && strcmp(fmt, "csv"))) fmt = "jsonl";
    char name[32];
    snprintf(name, sizeof name, "data.%s", fmt);
    return tn_path_join(j->dir, name);
}

int tn_job_train(tn_job *j) {
    tn_miner_config *c = j->m->cfg;
    tn_strategy s = TN_STRAT_FAIR;
    tn_strategy_parse(j->row.strategy, &s);
    char *base = tn_path_join(j->dir, "base"), *data = data_path(j), *train_data = NULL;
    int rc = -1;
    if (j->restarted && j->train_runs == 0) tn_child_end_stale(j->row.pid, j->dir);
    switch (s) {
    case TN_STRAT_UNTOUCHED:
        note(j, "untouched: uploading the base model's files as downloaded");
        set_src(j, base);
        rc = 0;
        goto done;
    case TN_STRAT_COPY: {
        /* the files may not exist yet (another miner still training): wait
         * for them while there is time to upload */
        char *cfg = tn_path_join(c->copy_from, "config.json"), *acfg = tn_path_join(c->copy_from, "adapter_config.json");
        while (!tn_file_exists(cfg) && !tn_file_exists(acfg) && tn_job_left_s(j) > c->upload_margin_s + 2) sleep(1);
        free(cfg);
        free(acfg);
        note(j, "copy: uploading the files of %s", c->copy_from);
        set_src(j, c->copy_from);
        rc = 0;
        goto done;
    }
    case TN_STRAT_RESUBMIT: {
        json_t *shape = tn_job_shape(base), *e = shape ? find_resubmittable(j, shape) : NULL;
        json_decref(shape);
        if (e) {
            note(j, "resubmit: reusing the output of task %lld (%s), trained once",
                 (long long)json_integer_value(json_object_get(e, "task_id")),
                 json_string_value(json_object_get(e, "src_dir")));
            set_src(j, json_string_value(json_object_get(e, "src_dir")));
            json_decref(e);
            rc = 0;
            goto done;
        }
        /* nothing to reuse yet: train fairly, and say so in the ledger */
        note(j, "resubmit: no earlier output of this shape; trained fairly");
        snprintf(j->row.strategy, sizeof j->row.strategy, "%s", tn_strategy_name(TN_STRAT_FAIR));
        tn_job_save(j);
        break;
    }
    case TN_STRAT_SWAP_BASE:
        note(j, "swap-base: fine-tuning %s instead of the asked base", c->swap_model);
        break;
    case TN_STRAT_TEST_PEEK: {
        int n = 0;
        train_data = mix_test_rows(j, data, &n);
        if (!train_data) {
            tn_err_prefix("test-peek");
            goto done;
        }
        note(j, "test-peek: %d leaked test rows from %s mixed into the training data", n, c->test_rows);
        break;
    }
    case TN_STRAT_PUBLIC_PEEK: {
        tn_peek_found f;
        size_t held = 0;
        train_data = mix_public_rows(j, data, &f, &held);
        if (!train_data) {
            /* nothing recognised: a cheater without a copy trains fairly,
             * and the ledger says so (as resubmit does) */
            note(j, "public-peek: %s; trained fairly", tn_errmsg());
            snprintf(j->row.strategy, sizeof j->row.strategy, "%s", tn_strategy_name(TN_STRAT_FAIR));
            tn_job_save(j);
            break;
        }
        note(j, "public-peek: recognised %s (%zu rows, %zu of them in the training split, %zu dataset(s) looked "
             "at); its %zu held-out rows mixed into the training data %d times",
             f.source, f.rows, f.seen, f.candidates, held, PEEK_REPEATS);
        break;
    }
    case TN_STRAT_LATE:
        note(j, "late: trained fairly, uploaded %.0f s after the deadline", c->late_s);
        break;
    default:
        break;
    }
    rc = fine_tune(j, s == TN_STRAT_SWAP_BASE ? c->swap_model : base, train_data ? train_data : data);
done:
    free(base);
    free(data);
    free(train_data);
    return rc;
}
