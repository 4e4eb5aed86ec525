/* evaljob.c - a submission's evaluation in a sandboxed child (see evaljob.h). */
#include "validator/evaljob.h"
#include "judge/provenance.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/spawn.h"
#include "data/format.h"
#include "tok/tokenizer.h"
#include "train/evaluate.h"
#include "train/examples.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- the child's side ------------------------------------------------------ */

static int eval_file(tn_model *m, const tn_tokenizer *tok, const char *path, const tn_data_spec *spec, int seq_len,
                     double *loss, int64_t *tokens) {
    tn_examples ex;
    tn_examples_init(&ex);
    int rc = tn_examples_load(&ex, path, TN_ROWS_JSONL, spec, tok, seq_len, 0);
    tn_eval_result r = {0};
    if (rc == 0) {
        rc = tn_evaluate(m, &ex, NULL, 0, 4, seq_len, tn_batch_pad_id(tok), NULL, &r);
    }
    tn_examples_free(&ex);
    *loss = r.loss;
    *tokens = r.tokens;
    return rc;
}

static void rules_from_json(const json_t *j, tn_check_rules *r) {
    tn_check_rules_default(r);
    if (!json_is_object(j)) return;
    json_t *v;
    if ((v = json_object_get(j, "min_cosine")) && json_is_number(v)) r->min_cosine = json_number_value(v);
    if ((v = json_object_get(j, "max_rel_distance")) && json_is_number(v)) r->max_rel_distance = json_number_value(v);
    if ((v = json_object_get(j, "untouched_rel_eps")) && json_is_number(v)) r->untouched_rel_eps = json_number_value(v);
    if ((v = json_object_get(j, "sketch_k")) && json_is_integer(v)) r->sketch_k = (int)json_integer_value(v);
    if ((v = json_object_get(j, "sketch_seed")) && json_is_integer(v)) r->sketch_seed = (uint64_t)json_integer_value(v);
}

int tn_evaljob_run(const char *job_path, const char *result_path) {
    double t0 = tn_now();
    json_t *job = tn_json_load_file(job_path);
    if (!job) return -1;
    const char *base_dir = json_string_value(json_object_get(job, "base_dir"));
    const char *sub_dir = json_string_value(json_object_get(job, "submission_dir"));
    const char *test_file = json_string_value(json_object_get(job, "test_file"));
    const char *synth_file = json_string_value(json_object_get(job, "synth_file"));
    int base_only = json_is_true(json_object_get(job, "base_only"));
    int seq_len = (int)json_integer_value(json_object_get(job, "seq_len"));
    tn_data_spec spec;
    tn_check_rules rules;
    rules_from_json(json_object_get(job, "rules"), &rules);
    if (!base_dir || (!sub_dir && !base_only) || !test_file || !synth_file || seq_len <= 0 ||
        tn_data_spec_from_json(json_object_get(job, "dataset_type"), "job dataset_type", &spec)) {
        json_decref(job);
        return tn_fail("%s: incomplete job (%s)", job_path, tn_errmsg());
    }
    tn_model base, sub;
    int have_sub = 0, is_adapter = 0, rc = -1;
    tn_check_result cr;
    memset(&cr, 0, sizeof cr);
    tn_tokenizer *tok = NULL;
    json_t *res = json_object();
    if (tn_model_load(&base, base_dir, 1)) goto out_job;
    if (!(tok = tn_tok_load(base_dir))) goto out_base;
    tn_model *scored = &base;
    if (!base_only) {
        /* anything wrong with the files themselves is a verdict, not a crash */
        if (tn_load_submission(&base, sub_dir, &sub, &is_adapter)) {
            json_object_set_new(res, "verdict", json_string("invalid"));
            json_object_set_new(res, "reason", json_string(tn_errmsg()));
            rc = 0;
            goto write;
        }
        have_sub = 1;
        if (tn_check_models(&base, &sub, NULL, 0, &rules, &cr)) goto out_base;
        char hex[65];
        tn_sha256_hex(cr.fp.sha256, hex);
        json_t *sk = json_array();
        for (int i = 0; i < cr.fp.k; i++) json_array_append_new(sk, json_real(cr.fp.sketch[i]));
        json_object_set_new(res, "verdict", json_string(tn_verdict_name(cr.verdict)));
        json_object_set_new(res, "reason", json_string(cr.reason));
        json_object_set_new(res, "is_adapter", json_boolean(is_adapter));
        json_object_set_new(res, "sha256", json_string(hex));
        json_object_set_new(res, "sketch", sk);
        json_object_set_new(res, "provenance",
                            json_pack("{s:f, s:f, s:f, s:f, s:i, s:i}", "min_cosine", cr.prov.min_cosine,
                                      "max_rel_distance", cr.prov.max_rel_distance, "median_rel_distance",
                                      cr.prov.median_rel_distance, "global_cosine", cr.prov.global_cosine,
                                      "n_tensors", cr.prov.n_tensors, "n_changed", cr.prov.n_changed));
        if (cr.verdict != TN_VERDICT_FINE_TUNE) {
            rc = 0;
            goto write;
        }
        scored = &sub;
    } else {
        json_object_set_new(res, "verdict", json_string("base"));
    }
    double tl, sl;
    int64_t tt, st;
    if (eval_file(scored, tok, test_file, &spec, seq_len, &tl, &tt) ||
        eval_file(scored, tok, synth_file, &spec, seq_len, &sl, &st))
        goto out_base;
    json_object_set_new(res, "test_loss", json_real(tl));
    json_object_set_new(res, "synth_loss", json_real(sl));
    json_object_set_new(res, "test_tokens", json_integer(tt));
    json_object_set_new(res, "synth_tokens", json_integer(st));
    rc = 0;
write:
    json_object_set_new(res, "seconds", json_real(tn_now() - t0));
    if (rc == 0) rc = tn_json_save_file(res, result_path);
out_base:
    if (have_sub) tn_model_free(&sub);
    tn_check_result_free(&cr);
    tn_tok_free(tok);
    tn_model_free(&base);
out_job:
    json_decref(res);
    json_decref(job);
    return rc;
}

/* ---- the parent's side ----------------------------------------------------- */

json_t *tn_evaljob_spawn(const json_t *job, const char *job_path, const char *result_path,
                         const tn_evaljob_limits *lim) {
    if (tn_json_save_file(job, job_path)) return NULL;
    unlink(result_path);
    char *errlog = tn_sprintf("%s.stderr", result_path);
    char *bin = (char *)(lim->tuna ? lim->tuna : "/proc/self/exe");
    char *argv[] = {bin, "eval-submission", "--job", (char *)job_path, "--out", (char *)result_path, NULL};
    /* limits, stderr to a fresh log, then the evaluator binary */
    tn_spawn_opts o = {.err_path = errlog, .truncate = 1};
#if !defined(__SANITIZE_ADDRESS__)
    /* (sanitizer builds reserve terabytes of shadow address space at
     * start: an address-space limit would stop the child before main) */
    if (lim->mem_mb > 0)
        o.rlimits[o.n_rlimits++] = (tn_spawn_rlimit){RLIMIT_AS, (unsigned long long)lim->mem_mb << 20,
                                                     (unsigned long long)lim->mem_mb << 20};
#endif
    if (lim->cpu_s > 0)
        o.rlimits[o.n_rlimits++] = (tn_spawn_rlimit){RLIMIT_CPU, (unsigned long long)lim->cpu_s,
                                                     (unsigned long long)lim->cpu_s + 5};
    o.rlimits[o.n_rlimits++] = (tn_spawn_rlimit){RLIMIT_CORE, 0, 0};
    pid_t pid;
    if (tn_spawn(argv, &o, &pid)) {
        free(errlog);
        tn_err_prefix("evaluation");
        return NULL;
    }
    tn_spawn_watch w = {.timeout_s = lim->wall_s, .sig = SIGKILL};
    tn_spawn_end end;
    if (tn_spawn_supervise(pid, &w, &end)) {
        free(errlog);
        tn_err_prefix("evaluation");
        return NULL;
    }
    json_t *res = NULL;
    if (end.timed_out) {
        tn_fail("evaluation: killed after the %.0f s wall-clock limit", lim->wall_s);
    } else if (end.signal) {
        tn_fail("evaluation: the evaluator died of signal %d%s", end.signal,
                end.signal == SIGXCPU ? " (CPU-time limit)" : "");
    } else if (end.code != 0) {
        char *log = tn_read_file(errlog, NULL);
        /* the child's last line says why (e.g. out of memory under the limit) */
        char *last = log ? strrchr(log, '\n') : NULL;
        while (last && last > log && (last[1] == 0)) {
            *last = 0;
            last = strrchr(log, '\n');
        }
        tn_fail("evaluation: the evaluator failed (status %d): %s", end.code,
                log ? (last ? last + 1 : log) : "no message");
        free(log);
    } else {
        res = tn_json_load_file(result_path);
    }
    free(errlog);
    return res;
}
