/* evalqueue.c - evaluations handed to `tuna worker` processes through the
 * store's evaluation jobs (setting eval.workers = 1; docs/operations.md,
 * "Running workers"). The scheduler never waits here: a tick enqueues what
 * is missing and reads what the workers finished, exactly as it collects its
 * own children's results from the pool (evalsubmit.c, v_eval_job's answer).
 *
 * A job names blobs only (worker.h): the base model's manifest, the test
 * and synthetic sets, the submission's manifest (its files are put in the
 * blob store here, since uploads live in a plain directory), and the URL
 * signature of each, valid for eval.url_ttl_s seconds (default 7 days). */
#include "validator/vstate.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

#include <stdio.h>
#include <string.h>

static void sign(vstate *v, json_t *sigs, const char *hash, long long exp) {
    char mac[65];
    v_url_mac(v, hash, exp, mac);
    json_object_set_new(sigs, hash, json_pack("{s:I, s:s}", "exp", (json_int_t)exp, "sig", mac));
}

static void sign_manifest(vstate *v, json_t *sigs, const json_t *manifest, long long exp) {
    const char *name;
    json_t *f;
    json_object_foreach(json_object_get(manifest, "files"), name, f)
        sign(v, sigs, json_string_value(json_object_get(f, "sha256")), exp);
}

/* The job of worker.h for the task's base model (sub_dir NULL) or one
 * submission; NULL with the error set. */
static json_t *build_job(vstate *v, const tn_task *t, const char *sub_dir, json_t *local) {
    tn_catalog_model cm;
    memset(&cm, 0, sizeof cm);
    LOCK(v);
    int rc = tn_store_model_get(v->store, t->model, &cm);
    UNLOCK(v);
    json_t *bman = rc < 0 ? NULL : tn_blobs_load_manifest(v->blobs, cm.manifest_hash);
    json_t *sman = NULL, *job = NULL;
    char shash[TN_HASH_HEX + 1];
    double ttl;
    if (!bman || v_setting_num(v, "eval.url_ttl_s", 7 * 86400, &ttl)) goto out;
    /* the upload's files become blobs (content-addressed: a file two
     * submissions share is stored once) so that a worker can fetch them */
    if (sub_dir && tn_blobs_put_dir(v->blobs, sub_dir, &sman, shash)) {
        tn_err_prefix("submission files %s", sub_dir);
        goto out;
    }
    long long exp = (long long)(tn_wall_ms() / 1000 + (ttl >= 60 ? (int64_t)ttl : 60));
    json_t *sigs = json_object();
    sign(v, sigs, cm.manifest_hash, exp);
    sign(v, sigs, t->test_hash, exp);
    sign(v, sigs, t->synth_hash, exp);
    sign_manifest(v, sigs, bman, exp);
    if (sman) sign_manifest(v, sigs, sman, exp);
    job = json_pack("{s:s, s:s, s:s, s:o, s:O, s:O, s:b, s:O}", "base", cm.manifest_hash, "test", t->test_hash,
                    "synth", t->synth_hash, "signatures", sigs, "dataset_type",
                    json_object_get(local, "dataset_type"), "seq_len", json_object_get(local, "seq_len"),
                    "base_only", sub_dir == NULL, "rules", json_object_get(local, "rules"));
    if (job && sman) json_object_set(job, "submission", sman);
    if (!job) tn_fail("evaluation job: cannot build its JSON");
out:
    json_decref(bman);
    json_decref(sman);
    tn_catalog_model_clear(&cm);
    return job;
}

/* The job of (task, sub_id) when there is one: 1 and *e filled, 0 none,
 * -1 the store failed. */
static int find_job(vstate *v, int64_t task_id, int64_t sub_id, tn_eval *e) {
    tn_eval *all = NULL;
    size_t n = 0;
    LOCK(v);
    int rc = tn_store_eval_list(v->store, task_id, &all, &n);
    UNLOCK(v);
    if (rc < 0) return -1;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++)
        if (all[i].submission_id == sub_id) {
            *e = all[i];
            memset(&all[i], 0, sizeof all[i]);
            found = 1;
        }
    tn_evals_free(all, n);
    return found;
}

int v_eval_queued(vstate *v, const tn_task *t, int64_t sub_id, const char *sub_dir, json_t *local,
                  const char *result_path, tn_evalpool_done *d) {
    tn_eval e;
    memset(&e, 0, sizeof e);
    memset(d, 0, sizeof *d);
    int st = find_job(v, t->id, sub_id, &e);
    if (st < 0) return -1;
    if (st == 0) {
        json_t *job = build_job(v, t, sub_dir, local);
        char *text = job ? json_dumps(job, JSON_COMPACT) : NULL;
        int64_t id = 0;
        int rc = -1;
        if (text) {
            LOCK(v);
            rc = tn_store_eval_enqueue(v->store, t->id, sub_id, text, tn_wall_ms(), &id);
            UNLOCK(v);
        }
        if (rc == 0)
            tn_info("task %lld: %s%.0lld queued for the workers (job %lld)", (long long)t->id,
                    sub_id ? "submission " : "the base model", (long long)sub_id, (long long)id);
        free(text);
        json_decref(job);
        return rc < 0 ? -1 : 0;
    }
    int out = 0;
    if (e.state == TN_EVAL_DONE || e.state == TN_EVAL_FAILED) {
        out = 1;
        d->attempts = (int)e.attempts;
        d->started_ms = e.created_at; /* queued, not claimed: the workers' wait counts */
        d->ended_ms = e.updated_at;
        json_t *res = e.state == TN_EVAL_DONE ? json_loads(e.result_json ? e.result_json : "", 0, NULL) : NULL;
        const char *err = json_string_value(json_object_get(res, "error"));
        if (e.state == TN_EVAL_FAILED) {
            /* the workers could not run it (downloads, their disks) TN_EVAL_MAX_ATTEMPTS times */
            d->rc = 1;
            snprintf(d->why, sizeof d->why, "evaluation job %lld failed after %lld attempts: %s", (long long)e.id,
                     (long long)e.attempts, e.error ? e.error : "no reason recorded");
        } else if (!json_is_object(res) || err) {
            d->rc = 1; /* the evaluator failed through the submission's fault, on the worker */
            snprintf(d->why, sizeof d->why, "%s", err ? err : "the worker's result does not parse");
        } else {
            d->result = json_incref(res);
            /* where the validator's own child would have put it (a later
             * tick reads the base model's result from there) */
            if (tn_json_save_file(res, result_path))
                tn_warn("task %lld: %s (the result stays in job %lld)", (long long)t->id, tn_errmsg(), (long long)e.id);
        }
        json_decref(res);
    }
    tn_eval_clear(&e);
    return out;
}
