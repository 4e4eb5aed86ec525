/* job_upload.c - send a job's result to the validator (docs/protocol.md,
 * "Submissions"; docs/miner.md, "Uploads") and record it in the ledger.
 *
 *   PUT  {upload_url}/files/{name}   each file (signed), 201 {"sha256", "size"}
 *   POST {upload_url}/complete       the manifest {"kind", "files", "strategy", "note"}
 *   GET  {upload_url}                the validator's record, to confirm
 *
 * Transport failures, 408, 429 and 5xx are retried with exponential backoff
 * (retry_base_s * 2^k, at most retry_max_s) until the deadline, plus one
 * last try after it so that the validator's own answer (410) is what the
 * ledger records. Any other status is the validator's decision and ends the
 * job: submitted on 200 from /complete, failed otherwise, in both cases with
 * a ledger entry holding the answer.
 */
#include "miner/job_steps.h"
#include "miner/spec.h"

#include "net/http_client.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* What a training run writes beside the model: never uploaded. */
static const char *const NOT_UPLOADED[] = {"metrics.jsonl", "loss.svg", "train_summary.json", "train.log"};

static int uploadable(const char *dir, const char *name) {
    if (!tn_miner_safe_name(name) || strstr(name, ".part.")) return 0;
    for (size_t i = 0; i < sizeof NOT_UPLOADED / sizeof NOT_UPLOADED[0]; i++)
        if (!strcmp(name, NOT_UPLOADED[i])) return 0;
    char *p = tn_path_join(dir, name);
    struct stat st;
    int ok = stat(p, &st) == 0 && S_ISREG(st.st_mode);
    free(p);
    return ok;
}

/* {name: sha256hex} of the files to upload, sorted by name */
static json_t *manifest(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        tn_fail_errno("%s", dir);
        return NULL;
    }
    json_t *files = json_object();
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (!uploadable(dir, e->d_name)) continue;
        char *p = tn_path_join(dir, e->d_name);
        unsigned char sha[TN_SHA256_BYTES];
        char hex[2 * TN_SHA256_BYTES + 1];
        rc = tn_sha256_file(p, sha, NULL);
        free(p);
        if (rc == 0) {
            tn_hex_encode(sha, sizeof sha, hex);
            json_object_set_new(files, e->d_name, json_string(hex));
        }
    }
    closedir(d);
    if (rc == 0 && json_object_size(files) == 0) rc = tn_fail("nothing to upload in %s", dir);
    if (rc) {
        json_decref(files);
        return NULL;
    }
    return files;
}

/* ---- requests with retries ------------------------------------------------- */

typedef enum { REQ_PUT_FILE, REQ_COMPLETE, REQ_CONFIRM } req_kind;

typedef struct {
    req_kind kind;
    const char *url;
    const char *path;         /* REQ_PUT_FILE */
    const char *sha;          /* REQ_PUT_FILE: expected hash in the reply */
    const json_t *body;       /* REQ_COMPLETE */
} req;

static int retryable(long status) { return status == 408 || status == 429 || status >= 500; }

/* The last moment worth trying: the deadline, or for a late submission a
 * minute after the planned upload. */
static double give_up_at(tn_job *j) {
    double d = (double)j->row.deadline_ms / 1000.0;
    tn_strategy s = TN_STRAT_FAIR;
    tn_strategy_parse(j->row.strategy, &s);
    return s == TN_STRAT_LATE ? d + j->m->cfg->late_s + 60 : d;
}

static int send_once(tn_job *j, const req *q, tn_http_resp *r) {
    double left = give_up_at(j) - tn_wall_now();
    tn_http_opts o = {.key = &j->m->key, .connect_timeout_ms = 3000,
                      .timeout_ms = left > 10 ? (long)(left * 1000) : 10000};
    switch (q->kind) {
    case REQ_PUT_FILE: return tn_http_upload_file(&o, "PUT", q->url, q->path, r);
    case REQ_COMPLETE: return tn_http_json(&o, "POST", q->url, q->body, r);
    default: return tn_http_json(&o, "GET", q->url, NULL, r);
    }
}

/* 0: an answer is in *r (success or a final refusal), 1: stopping, -1: gave
 * up (error set) */
static int send_retrying(tn_job *j, const req *q, const char *what, tn_http_resp *r) {
    double wait = j->m->cfg->retry_base_s;
    int last_try = 0;
    for (int attempt = 1;; attempt++) {
        j->upload_attempts++;
        memset(r, 0, sizeof *r);
        int rc = send_once(j, q, r);
        char why[512];
        if (rc == 0 && r->status / 100 == 2 && q->kind == REQ_PUT_FILE) {
            /* the validator hashed what it stored: it must be what we sent */
            const char *got = r->json ? json_string_value(json_object_get(r->json, "sha256")) : NULL;
            if (got && !strcasecmp(got, q->sha)) return 0;
            snprintf(why, sizeof why, "validator stored sha256 %s, sent %s", got ? got : "(none)", q->sha);
        } else if (rc == 0 && !retryable(r->status)) {
            return 0;
        } else if (rc == 0) {
            snprintf(why, sizeof why, "HTTP %ld: %s", r->status, tn_http_resp_error(r));
        } else {
            snprintf(why, sizeof why, "%s", tn_errmsg());
        }
        tn_http_resp_free(r);
        if (last_try) return tn_fail("%s: %s (gave up after %d attempts)", what, why, attempt);
        double left = give_up_at(j) - tn_wall_now();
        if (left <= wait) {
            /* one more try at the end, so that the validator has the last word */
            wait = left > 0 ? left + 0.5 : 0;
            last_try = 1;
        }
        tn_job_event(j, "%s: attempt %d failed: %s; retrying in %.1f s", what, attempt, why, wait);
        if (tn_miner_sleep(j->m, wait)) return 1;
        wait = wait * 2 > j->m->cfg->retry_max_s ? j->m->cfg->retry_max_s : wait * 2;
    }
}

/* ---- the ledger ------------------------------------------------------------- */

static void summary_losses(const char *dir, json_t *entry) {
    char *p = tn_path_join(dir, "train_summary.json");
    json_t *s = tn_file_exists(p) ? tn_json_load_file(p) : NULL;
    free(p);
    json_object_set(entry, "val_loss", s ? json_object_get(s, "best_val_loss") : json_null());
    json_object_set(entry, "base_val_loss", s ? json_object_get(s, "base_val_loss") : json_null());
    json_object_set(entry, "train_steps", s ? json_object_get(s, "steps") : json_null());
    if (!json_object_get(entry, "val_loss")) json_object_set_new(entry, "val_loss", json_null());
    if (!json_object_get(entry, "base_val_loss")) json_object_set_new(entry, "base_val_loss", json_null());
    if (!json_object_get(entry, "train_steps")) json_object_set_new(entry, "train_steps", json_null());
    json_decref(s);
}

static json_t *ledger_entry(tn_job *j, const char *kind, json_t *files) {
    char *base = tn_path_join(j->dir, "base");
    json_t *e = json_pack("{s:I, s:s, s:s?, s:s?, s:s, s:s, s:O, s:s?, s:I}", "task_id", (json_int_t)j->row.task_id,
                          "submission_id", j->row.submission_id, "base_model",
                          json_string_value(json_object_get(json_object_get(j->spec, "model"), "name")),
                          "dataset_sha256",
                          json_string_value(json_object_get(json_object_get(j->spec, "dataset"), "sha256")),
                          "strategy", j->row.strategy, "kind", kind, "files", files, "src_dir", j->row.src_dir,
                          "deadline_ms", (json_int_t)j->row.deadline_ms);
    json_t *hp = j->row.recipe ? json_loads(j->row.recipe, 0, NULL) : NULL;
    json_object_set_new(e, "hyperparameters", hp ? hp : json_null());
    json_t *shape = tn_job_shape(base);
    json_object_set_new(e, "shape", shape ? shape : json_null());
    summary_losses(j->row.src_dir, e);
    free(base);
    return e;
}

static char *upload_note(tn_job *j, json_t *entry) {
    const json_t *hp = json_object_get(entry, "hyperparameters");
    char *hps = json_is_object(hp) ? json_dumps(hp, JSON_COMPACT | JSON_SORT_KEYS) : tn_strdup("none");
    json_t *vl = json_object_get(entry, "val_loss"), *bl = json_object_get(entry, "base_val_loss");
    char *n = tn_sprintf("strategy %s; recipe %s; val loss %s%.4g (base %.4g); %s", j->row.strategy, hps,
                         json_is_number(vl) ? "" : "n/a ", json_is_number(vl) ? json_number_value(vl) : 0.0,
                         json_is_number(bl) ? json_number_value(bl) : 0.0, j->note[0] ? j->note : "tuna miner");
    free(hps);
    return n;
}

/* Ends the job with the validator's answer recorded. */
static void finish(tn_job *j, json_t *entry, long status, const tn_http_resp *r, const char *step) {
    json_object_set_new(entry, "http_status", json_integer(status));
    json_object_set_new(entry, "answer", r->json ? json_deep_copy(r->json) : json_string(r->body ? r->body : ""));
    json_object_set_new(entry, "refused_at", json_string(step));
    json_object_set_new(entry, "attempts", json_integer(j->upload_attempts));
    json_object_set_new(entry, "uploaded_at_ms", json_integer(tn_wall_ms()));
    if (tn_mdb_ledger_add(j->m->db, entry)) tn_warn("miner: task %lld: %s", (long long)j->row.task_id, tn_errmsg());
    tn_job_state(j, JOB_FAILED, "validator refused %s: HTTP %ld: %s", step, status, tn_http_resp_error(r));
}

int tn_job_upload(tn_job *j) {
    tn_miner *m = j->m;
    tn_strategy s = TN_STRAT_FAIR;
    tn_strategy_parse(j->row.strategy, &s);
    if (s == TN_STRAT_LATE) {
        double wait = (double)j->row.deadline_ms / 1000.0 + m->cfg->late_s - tn_wall_now();
        if (wait > 0) {
            tn_job_event(j, "late: waiting %.1f s, until %.0f s after the deadline", wait, m->cfg->late_s);
            if (tn_miner_sleep(m, wait)) return 1;
        }
    }
    if (!j->row.src_dir) return tn_fail("no source directory recorded");
    json_t *files = manifest(j->row.src_dir);
    if (!files) return -1;
    char *cfg = tn_path_join(j->row.src_dir, "adapter_config.json");
    const char *kind = tn_file_exists(cfg) ? "adapter" : "full";
    free(cfg);
    json_t *entry = ledger_entry(j, kind, files);
    const char *up = json_string_value(json_object_get(j->spec, "upload_url"));
    tn_http_resp r = {0};
    int rc = 0;
    const char *name;
    json_t *v;
    json_object_foreach(files, name, v) {
        char *url = tn_sprintf("%s/files/%s", up, name), *path = tn_path_join(j->row.src_dir, name);
        char what[256];
        snprintf(what, sizeof what, "upload %s", name);
        req q = {.kind = REQ_PUT_FILE, .url = url, .path = path, .sha = json_string_value(v)};
        rc = send_retrying(j, &q, what, &r);
        free(url);
        free(path);
        if (rc) goto out;
        if (r.status / 100 != 2) {
            finish(j, entry, r.status, &r, what);
            goto out;
        }
        tn_http_resp_free(&r);
    }
    tn_job_event(j, "%zu files uploaded (%s)", json_object_size(files), kind);
    char *note = upload_note(j, entry);
    json_t *body = json_pack("{s:s, s:O, s:s, s:s}", "kind", kind, "files", files, "strategy", j->row.strategy,
                             "note", note);
    json_object_set_new(entry, "note", json_string(note));
    free(note);
    char *url = tn_sprintf("%s/complete", up);
    req q = {.kind = REQ_COMPLETE, .url = url, .body = body};
    rc = send_retrying(j, &q, "complete", &r);
    free(url);
    json_decref(body);
    if (rc) goto out;
    if (r.status != 200) {
        finish(j, entry, r.status, &r, "complete");
        goto out;
    }
    json_object_set_new(entry, "http_status", json_integer(r.status));
    json_object_set_new(entry, "answer", r.json ? json_deep_copy(r.json) : json_string(r.body));
    json_object_set_new(entry, "uploaded_at_ms", json_integer(tn_wall_ms()));
    tn_http_resp_free(&r);
    /* confirm: the validator's record of the submission */
    req c = {.kind = REQ_CONFIRM, .url = up};
    if (send_retrying(j, &c, "confirm", &r) == 0) {
        json_object_set_new(entry, "confirmed", r.json ? json_deep_copy(r.json) : json_string(r.body));
        tn_http_resp_free(&r);
    } else {
        json_object_set_new(entry, "confirmed", json_null());
    }
    json_object_set_new(entry, "attempts", json_integer(j->upload_attempts));
    if (tn_mdb_ledger_add(m->db, entry)) tn_warn("miner: task %lld: %s", (long long)j->row.task_id, tn_errmsg());
    tn_job_state(j, JOB_SUBMITTED, "validator received the submission (%s, %zu files)", kind,
                 json_object_size(files));
    /* work_dir/latest -> the last accepted output (replaced atomically), so
     * an operator, or the arena's copy strategy, can find it */
    {
        char *lnk = tn_path_join(m->cfg->work_dir, "latest"), *tmp = tn_sprintf("%s.tmp", lnk);
        char *abs = realpath(j->row.src_dir, NULL);
        unlink(tmp);
        if (abs && symlink(abs, tmp) == 0 && rename(tmp, lnk) != 0) unlink(tmp);
        free(abs);
        free(lnk);
        free(tmp);
    }
out:
    tn_http_resp_free(&r);
    json_decref(entry);
    json_decref(files);
    return rc;
}
