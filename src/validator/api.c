/* api.c - the validator's HTTP API (see docs/validator.md for the contract).
 *
 *   public     GET /v1/health, /v1/miners, /v1/tasks, /v1/tasks/{id},
 *              /v1/leaderboard, /v1/flags, /v1/report[?task=ID]
 *   organiser  POST /v1/admin/{miners,miners/enable,models,datasets,tasks,
 *              task_detail,rescore,settings,report}  (signed by the admin key)
 *   miners     PUT  /v1/submissions/{token}/files/{name}  (streamed upload)
 *              POST /v1/submissions/{token}/complete       (manifest + note)
 *              GET  /v1/submissions/{token}                (receipt)
 *              (all signed by the miner the token was issued to)
 *   downloads  GET /blobs/{hash}?exp=..&sig=..  (URLs signed by the validator)
 * Errors are {"error": "..."} with the matching status.
 */
#include "validator/dashboard.h"
#include "validator/vstate.h"
#include "validator/competition.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/num.h"
#include "data/rows.h"
#include "model/config.h"

#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void h_blob(tn_http_req *r, void *ud) {
    vstate *v = ud;
    const char *hash = r->path + strlen("/blobs/");
    const char *exp = tn_http_query(r, "exp"), *sig = tn_http_query(r, "sig");
    if (!tn_hash_hex_ok(hash)) {
        tn_http_reply_error(r, 404, "no such blob");
        return;
    }
    if (!exp || !sig) {
        tn_http_reply_error(r, 401, "download URLs need exp and sig (ask the validator for a signed URL)");
        return;
    }
    char want[65];
    v_url_mac(v, hash, atoll(exp), want);
    if (strlen(sig) != 64 || sodium_memcmp(want, sig, 64) != 0) {
        tn_http_reply_error(r, 403, "bad URL signature");
        return;
    }
    if (atoll(exp) < tn_wall_ms() / 1000) {
        tn_http_reply_error(r, 410, "download URL expired");
        return;
    }
    char *p = tn_blobs_path(v->blobs, hash);
    if (!tn_file_exists(p))
        tn_http_reply_error(r, 404, "no such blob");
    else
        tn_http_reply_file(r, 200, p, "application/octet-stream");
    free(p);
}

/* ---- public reads -------------------------------------------------------------- */

static void h_health(tn_http_req *r, void *ud) {
    vstate *v = ud;
    tn_http_reply_json(r, 200, json_pack("{s:s, s:s, s:I}", "status", "ok", "public_key", v->key.id, "time_ms",
                                         (json_int_t)tn_wall_ms()));
}

static json_t *miner_json(const tn_miner *m) {
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:b}", "id", (json_int_t)m->id, "name", m->name, "owner", m->owner,
                     "endpoint", m->endpoint, "public_key", m->pubkey_hex, "enabled", m->enabled);
}

static void h_miners(tn_http_req *r, void *ud) {
    vstate *v = ud;
    tn_miner *ms = NULL;
    size_t n = 0;
    LOCK(v);
    int rc = tn_store_miner_list(v->store, 0, &ms, &n);
    UNLOCK(v);
    if (rc < 0) {
        tn_http_reply_error(r, 500, "%s", tn_errmsg());
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, miner_json(&ms[i]));
    tn_miners_free(ms, n);
    tn_http_reply_json(r, 200, json_pack("{s:o}", "miners", a));
}

static int store_status(int rc) {
    switch (rc) {
    case TN_STORE_NOT_FOUND: return 404;
    case TN_STORE_EXISTS: return 409;
    case TN_STORE_CONFLICT: return 409;
    case TN_STORE_LIMIT: return 409;
    case TN_STORE_REFUSED: return 403;
    default: return 500;
    }
}

/* One task as `view` shows it (vstate.h: V_PUBLIC_DETAIL or V_ADMIN_DETAIL). */
static void reply_task(vstate *v, tn_http_req *r, int64_t id, int view) {
    tn_task t;
    memset(&t, 0, sizeof t);
    LOCK(v);
    int rc = tn_store_task_get(v->store, id, &t);
    UNLOCK(v);
    if (rc < 0) {
        tn_http_reply_error(r, store_status(rc), "%s", tn_errmsg());
        return;
    }
    json_t *j = v_task_json(v, &t, view);
    tn_task_clear(&t);
    if (!j)
        tn_http_reply_error(r, 500, "%s", tn_errmsg());
    else
        tn_http_reply_json(r, 200, j);
}

static void h_tasks(tn_http_req *r, void *ud) {
    vstate *v = ud;
    const char *rest = r->path + strlen("/v1/tasks");
    if (*rest == '/' && rest[1]) {
        char *end;
        long long id = strtoll(rest + 1, &end, 10);
        if (*end || id <= 0) {
            tn_http_reply_error(r, 404, "no such task");
            return;
        }
        reply_task(v, r, id, V_PUBLIC_DETAIL);
        return;
    }
    tn_task *ts = NULL;
    size_t n = 0;
    LOCK(v);
    int rc = tn_store_task_list(v->store, -1, &ts, &n);
    UNLOCK(v);
    if (rc < 0) {
        tn_http_reply_error(r, 500, "%s", tn_errmsg());
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, v_task_json(v, &ts[i], V_PUBLIC_LIST));
    tn_tasks_free(ts, n);
    tn_http_reply_json(r, 200, json_pack("{s:o}", "tasks", a));
}

static void h_leaderboard(tn_http_req *r, void *ud) {
    json_t *j = v_leaderboard_json(ud);
    if (!j)
        tn_http_reply_error(r, 500, "%s", tn_errmsg());
    else
        tn_http_reply_json(r, 200, j);
}

static void h_flags(tn_http_req *r, void *ud) {
    vstate *v = ud;
    tn_flag *fs = NULL;
    size_t n = 0;
    LOCK(v);
    int rc = tn_store_flag_list(v->store, 0, 0, &fs, &n);
    json_t *a = json_array();
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        tn_miner m;
        memset(&m, 0, sizeof m);
        tn_offer *os = NULL;
        size_t no = 0;
        if ((rc = tn_store_miner_get(v->store, fs[i].miner_id, &m)) < 0) break;
        /* public: no path and no submission id of the flag's task */
        if ((rc = tn_store_offers_for_task(v->store, fs[i].task_id, &os, &no)) < 0) {
            tn_miner_clear(&m);
            break;
        }
        const char **tokens = tn_calloc(no ? no : 1, sizeof *tokens);
        for (size_t k = 0; k < no; k++) tokens[k] = os[k].token;
        char *why = v_public_text(v, fs[i].reason, tokens, no);
        json_array_append_new(a, json_pack("{s:I, s:I, s:s?, s:s?, s:s, s:s?, s:I}", "id", (json_int_t)fs[i].id,
                                           "task_id", (json_int_t)fs[i].task_id, "miner", m.name, "owner", m.owner,
                                           "rule", fs[i].rule, "reason", why, "created_at",
                                           (json_int_t)fs[i].created_at));
        free(why);
        free(tokens);
        tn_offers_free(os, no);
        tn_miner_clear(&m);
    }
    UNLOCK(v);
    tn_flags_free(fs, n);
    if (rc < 0) {
        json_decref(a);
        tn_http_reply_error(r, 500, "%s", tn_errmsg());
        return;
    }
    tn_http_reply_json(r, 200, json_pack("{s:o}", "flags", a));
}

/* ---- organiser calls ------------------------------------------------------------- */


static const char *jstr(const json_t *j, const char *k) { return json_string_value(json_object_get(j, k)); }

static void admin_miner(vstate *v, tn_http_req *r, json_t *b) {
    tn_miner m = {0};
    m.name = (char *)jstr(b, "name");
    m.owner = (char *)jstr(b, "owner");
    m.endpoint = (char *)jstr(b, "endpoint");
    m.pubkey_hex = (char *)jstr(b, "public_key");
    m.enabled = 1;
    m.created_at = tn_wall_ms();
    unsigned char pub[TN_KEY_PUB_BYTES];
    if (!m.name || !m.owner || !m.endpoint || !m.pubkey_hex) {
        tn_http_reply_error(r, 422, "miner: name, owner, endpoint and public_key are required");
        return;
    }
    if (tn_key_id_parse(m.pubkey_hex, pub)) {
        tn_http_reply_error(r, 422, "miner %s: public_key: %s", m.name, tn_errmsg());
        return;
    }
    if (strncmp(m.endpoint, "http://", 7) && strncmp(m.endpoint, "https://", 8)) {
        tn_http_reply_error(r, 422, "miner %s: endpoint must be an http:// or https:// URL", m.name);
        return;
    }
    int64_t id;
    LOCK(v);
    int rc = tn_store_miner_add(v->store, &m, &id);
    UNLOCK(v);
    if (rc < 0)
        tn_http_reply_error(r, store_status(rc), "%s", tn_errmsg());
    else
        tn_http_reply_json(r, 201, json_pack("{s:I, s:s}", "id", (json_int_t)id, "name", m.name));
}

static void admin_enable(vstate *v, tn_http_req *r, json_t *b) {
    const char *name = jstr(b, "name");
    json_t *en = json_object_get(b, "enabled");
    if (!name || !json_is_boolean(en)) {
        tn_http_reply_error(r, 422, "enable: name and enabled (boolean) are required");
        return;
    }
    LOCK(v);
    int rc = tn_store_miner_set_enabled(v->store, name, json_is_true(en));
    UNLOCK(v);
    if (rc < 0)
        tn_http_reply_error(r, store_status(rc), "%s", tn_errmsg());
    else
        tn_http_reply_json(r, 200, json_pack("{s:s, s:b}", "name", name, "enabled", json_is_true(en)));
}

static void admin_model(vstate *v, tn_http_req *r, json_t *b) {
    const char *name = jstr(b, "name"), *path = jstr(b, "path");
    if (!name || !path) {
        tn_http_reply_error(r, 422, "model: name and path (a model directory on the validator's machine) are required");
        return;
    }
    tn_config cfg;
    if (tn_config_load(&cfg, path)) {
        tn_http_reply_error(r, 422, "model %s: %s", name, tn_errmsg());
        return;
    }
    json_t *arch = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:I}", "model_type", cfg.model_type, "hidden_size",
                             cfg.hidden_size, "num_hidden_layers", cfg.n_layers, "num_attention_heads", cfg.n_heads,
                             "vocab_size", cfg.vocab_size, "intermediate_size", cfg.intermediate_size,
                             "max_position_embeddings", cfg.max_positions, "params",
                             (json_int_t)tn_config_param_count(&cfg));
    tn_config_free(&cfg);
    json_t *manifest = NULL;
    char hash[TN_HASH_HEX + 1];
    if (tn_blobs_put_dir(v->blobs, path, &manifest, hash)) {
        json_decref(arch);
        tn_http_reply_error(r, 422, "model %s: %s", name, tn_errmsg());
        return;
    }
    json_decref(manifest);
    char *arch_s = json_dumps(arch, JSON_COMPACT);
    tn_catalog_model m = {0};
    m.name = (char *)name;
    m.manifest_hash = hash;
    m.arch_json = arch_s;
    m.created_at = tn_wall_ms();
    LOCK(v);
    int rc = tn_store_model_add(v->store, &m);
    UNLOCK(v);
    free(arch_s);
    if (rc < 0)
        tn_http_reply_error(r, store_status(rc), "%s", tn_errmsg());
    else
        tn_http_reply_json(r, 201, json_pack("{s:s, s:s, s:o}", "name", name, "manifest", hash, "architecture", arch));
    if (rc < 0) json_decref(arch);
}

static void admin_dataset(vstate *v, tn_http_req *r, json_t *b) {
    const char *name = jstr(b, "name"), *path = jstr(b, "path");
    json_t *dt = json_object_get(b, "dataset_type");
    if (!name || !path || !json_is_object(dt)) {
        tn_http_reply_error(r, 422, "dataset: name, path and dataset_type are required");
        return;
    }
    json_t *rows;
    if (tn_rows_load_all(path, TN_ROWS_AUTO, &rows)) {
        tn_http_reply_error(r, 422, "dataset %s: %s", name, tn_errmsg());
        return;
    }
    size_t nrows = json_array_size(rows);
    /* stored as JSONL whatever it came as: miners and evaluators read one format */
    char *tmp = v_path(v, "uploads/dataset-%s.jsonl", name);
    FILE *f = fopen(tmp, "w");
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        char *s = json_dumps(row, JSON_COMPACT);
        if (f && s) fprintf(f, "%s\n", s);
        free(s);
    }
    json_decref(rows);
    int wrote = f && fclose(f) == 0;
    char hash[TN_HASH_HEX + 1];
    if (!wrote || tn_blobs_put_file(v->blobs, tmp, NULL, hash)) {
        remove(tmp);
        free(tmp);
        tn_http_reply_error(r, 500, "dataset %s: %s", name, wrote ? tn_errmsg() : "cannot write");
        return;
    }
    remove(tmp);
    free(tmp);
    char *mapping = json_dumps(dt, JSON_COMPACT);
    tn_catalog_dataset d = {0};
    d.name = (char *)name;
    d.blob_hash = hash;
    d.mapping_json = mapping;
    d.row_count = (int64_t)nrows;
    d.created_at = tn_wall_ms();
    LOCK(v);
    int rc = tn_store_dataset_add(v->store, &d);
    UNLOCK(v);
    free(mapping);
    if (rc < 0)
        tn_http_reply_error(r, store_status(rc), "%s", tn_errmsg());
    else
        tn_http_reply_json(r, 201, json_pack("{s:s, s:s, s:I}", "name", name, "blob", hash, "rows", (json_int_t)nrows));
}

static void admin_task(vstate *v, tn_http_req *r, json_t *b) {
    const char *model = jstr(b, "model"), *dataset = jstr(b, "dataset");
    json_t *mins = json_object_get(b, "minutes");
    if (!model || !dataset || !json_is_number(mins) || json_number_value(mins) <= 0) {
        tn_http_reply_error(r, 422, "task: model, dataset and minutes (> 0) are required");
        return;
    }
    tn_task t = {0};
    t.model = (char *)model;
    t.dataset = (char *)dataset;
    t.state = TN_TASK_PENDING;
    t.created_at = tn_wall_ms();
    /* minutes may be fractional (short arena runs) */
    t.time_limit_ms = tn_task_ms_from_minutes(json_number_value(mins));
    if (t.time_limit_ms < 0) {
        tn_http_reply_error(r, 422, "task: minutes must be at most %.0f (a year)", TN_TASK_MAX_MINUTES);
        return;
    }
    uint64_t seed;
    randombytes_buf(&seed, sizeof seed);
    t.split_seed = (int64_t)(seed >> 1); /* secret: never leaves the validator */
    json_t *params = json_pack("{s:f}", "minutes", json_number_value(mins));
    json_t *sl = json_object_get(b, "seq_len");
    if (json_is_integer(sl)) json_object_set(params, "seq_len", sl);
    char *ps = json_dumps(params, JSON_COMPACT);
    json_decref(params);
    t.params_json = ps;
    int64_t id;
    LOCK(v);
    tn_catalog_model cm = {0};
    tn_catalog_dataset cd = {0};
    int rc = tn_store_model_get(v->store, model, &cm);
    if (rc >= 0) rc = tn_store_dataset_get(v->store, dataset, &cd);
    if (rc >= 0) rc = tn_store_task_create(v->store, &t, &id);
    UNLOCK(v);
    tn_catalog_model_clear(&cm);
    tn_catalog_dataset_clear(&cd);
    free(ps);
    if (rc < 0)
        tn_http_reply_error(r, store_status(rc), "task: %s", tn_errmsg());
    else
        tn_http_reply_json(r, 201, json_pack("{s:I, s:s}", "id", (json_int_t)id, "state", "pending"));
}

/* The participants' report (views.c) of every task, or of task id > 0 (404
 * when there is none), as `view` shows it. */
static void reply_report(vstate *v, tn_http_req *r, json_int_t id, int view) {
    if (id > 0) {
        tn_task t;
        memset(&t, 0, sizeof t);
        LOCK(v);
        int rc = tn_store_task_get(v->store, id, &t);
        UNLOCK(v);
        tn_task_clear(&t);
        if (rc < 0) {
            tn_http_reply_error(r, store_status(rc), "report: task %lld: %s", (long long)id, tn_errmsg());
            return;
        }
    }
    json_t *j = v_report_json(v, id, view);
    if (!j)
        tn_http_reply_error(r, 500, "report: %s", tn_errmsg());
    else
        tn_http_reply_json(r, 200, j);
}

static void h_report(tn_http_req *r, void *ud) {
    const char *q = tn_http_query(r, "task");
    int64_t id = 0;
    if (q && tn_parse_i64("task", q, 1, INT64_MAX, &id)) {
        tn_http_reply_error(r, 400, "report: %s", tn_errmsg());
        return;
    }
    reply_report(ud, r, id, V_PUBLIC_DETAIL);
}

/* The task as the organiser sees it: texts as stored, submission ids and
 * directories (the public GET /v1/tasks/{id} shows neither). */
static void admin_task_detail(vstate *v, tn_http_req *r, json_t *b) {
    reply_task(v, r, json_integer_value(json_object_get(b, "id")), V_ADMIN_DETAIL);
}

static void admin_rescore(vstate *v, tn_http_req *r, json_t *b) {
    json_int_t id = json_integer_value(json_object_get(b, "task_id"));
    tn_task *ts = NULL;
    size_t n = 0;
    LOCK(v);
    int rc = tn_store_task_list(v->store, TN_TASK_SCORED, &ts, &n);
    UNLOCK(v);
    if (rc < 0) {
        tn_http_reply_error(r, 500, "%s", tn_errmsg());
        return;
    }
    json_t *done = json_array();
    for (size_t i = 0; i < n; i++) {
        if (id > 0 && ts[i].id != id) continue;
        if (v_rescore_task(v, ts[i].id) == 0) json_array_append_new(done, json_integer(ts[i].id));
    }
    tn_tasks_free(ts, n);
    if (id > 0 && json_array_size(done) == 0) {
        json_decref(done);
        tn_http_reply_error(r, 409, "task %lld is not scored (or rescoring failed: %s)", (long long)id, tn_errmsg());
        return;
    }
    tn_http_reply_json(r, 200, json_pack("{s:o}", "rescored", done));
}

static void admin_setting(vstate *v, tn_http_req *r, json_t *b) {
    const char *key = jstr(b, "key");
    json_t *val = json_object_get(b, "value");
    if (!key || !val) {
        tn_http_reply_error(r, 422, "settings: key and value are required");
        return;
    }
    /* a value the views could not read would break the leaderboard: refuse it here */
    tn_score_weighting w;
    if (!strcmp(key, "score.weighting") && tn_score_weighting_parse(json_string_value(val), &w)) {
        tn_http_reply_error(r, 422, "settings: %s", tn_errmsg());
        return;
    }
    char *s = json_is_string(val) ? tn_strdup(json_string_value(val)) : json_dumps(val, JSON_ENCODE_ANY);
    int64_t ver;
    LOCK(v);
    int rc = tn_store_setting_set(v->store, key, s, -1, tn_wall_ms(), &ver);
    UNLOCK(v);
    free(s);
    if (rc < 0)
        tn_http_reply_error(r, store_status(rc), "%s", tn_errmsg());
    else
        tn_http_reply_json(r, 200, json_pack("{s:s, s:I}", "key", key, "version", (json_int_t)ver));
}

static void h_admin(tn_http_req *r, void *ud) {
    vstate *v = ud;
    if (!r->key_id || strcmp(r->key_id, v->o.admin_key) != 0) {
        tn_http_reply_error(r, 403, "admin calls must be signed by the organiser's key");
        return;
    }
    json_t *b = tn_http_body_json(r);
    if (!json_is_object(b)) {
        json_decref(b);
        tn_http_reply_error(r, 400, "expected a JSON object body");
        return;
    }
    const char *what = r->path + strlen("/v1/admin/");
    if (!strcmp(what, "miners")) admin_miner(v, r, b);
    else if (!strcmp(what, "miners/enable")) admin_enable(v, r, b);
    else if (!strcmp(what, "models")) admin_model(v, r, b);
    else if (!strcmp(what, "datasets")) admin_dataset(v, r, b);
    else if (!strcmp(what, "tasks")) admin_task(v, r, b);
    else if (!strcmp(what, "task_detail")) admin_task_detail(v, r, b);
    else if (!strcmp(what, "rescore")) admin_rescore(v, r, b);
    else if (!strcmp(what, "settings")) admin_setting(v, r, b);
    else if (!strncmp(what, "competition/", 12)) v_comp_admin(v, r, what + 12, b);
    else if (!strcmp(what, "report")) reply_report(v, r, json_integer_value(json_object_get(b, "task_id")), V_ADMIN_DETAIL);
    else tn_http_reply_error(r, 404, "no admin call %s", what);
    json_decref(b);
}

/* ---- submissions ------------------------------------------------------------------ */

/* The offer a token names, checked against the signer and the clock. Replies
 * and returns -1 when the request must be refused. */
static int check_token(vstate *v, tn_http_req *r, const char *token, tn_offer *of, tn_task *t, int need_training) {
    memset(of, 0, sizeof *of);
    memset(t, 0, sizeof *t);
    tn_miner m;
    memset(&m, 0, sizeof m);
    LOCK(v);
    int rc = tn_store_offer_by_token(v->store, token, of);
    if (rc >= 0) rc = tn_store_miner_get(v->store, of->miner_id, &m);
    if (rc >= 0) rc = tn_store_task_get(v->store, of->task_id, t);
    UNLOCK(v);
    int out = -1;
    if (rc < 0)
        tn_http_reply_error(r, 404, "unknown submission id");
    else if (!r->key_id || strcmp(r->key_id, m.pubkey_hex) != 0)
        tn_http_reply_error(r, 403, "submission %s belongs to another miner", token);
    else if (need_training && (t->state != TN_TASK_TRAINING || tn_wall_ms() > t->deadline)) {
        /* a late attempt is evidence too: it is flagged, and the miner's
         * accepted task scores as missing */
        if (t->deadline > 0 && tn_wall_ms() > t->deadline) {
            char why[160];
            snprintf(why, sizeof why, "upload attempted %.1f s after the deadline (refused)",
                     (double)(tn_wall_ms() - t->deadline) / 1000.0);
            tn_flag f = {0, t->id, of->miner_id, "late", why, tn_wall_ms()};
            int64_t fid;
            LOCK(v);
            int frc = tn_store_flag_raise(v->store, &f, &fid);
            UNLOCK(v);
            if (frc < 0) tn_warn("task %lld: cannot flag a late upload: %s", (long long)t->id, tn_errmsg());
        }
        tn_http_reply_error(r, 410, "task %lld: the deadline has passed (uploads close at the deadline, by the "
                            "validator's clock)", (long long)t->id);
    }
    else
        out = 0;
    tn_miner_clear(&m);
    if (out) {
        tn_offer_clear(of);
        tn_task_clear(t);
    }
    return out;
}

/* "/v1/submissions/{token}[/rest]" -> token (copied) and rest */
static int split_sub_path(const char *path, char *token, size_t cap, const char **rest) {
    const char *p = path + strlen("/v1/submissions/");
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0 || n >= cap) return -1;
    memcpy(token, p, n);
    token[n] = 0;
    *rest = slash ? slash + 1 : "";
    return 0;
}

static void h_upload(tn_http_req *r, void *ud) {
    vstate *v = ud;
    char token[80];
    const char *rest;
    if (split_sub_path(r->path, token, sizeof token, &rest) || strncmp(rest, "files/", 6) != 0) {
        tn_http_reply_error(r, 404, "upload to /v1/submissions/{id}/files/{name}");
        return;
    }
    /* judged before anything is stored: the name as sent, every byte of it */
    char name[1100], why[512];
    if (v_upload_name(r, name, sizeof name, why, sizeof why)) {
        tn_http_reply_error(r, 400, "%s", why);
        return;
    }
    if (tn_manifest_name_ok(name, strlen(name)) != 0 || strchr(name, '/')) {
        tn_http_reply_error(r, 422, "file name \"%s\" is not allowed (plain names only)", name);
        return;
    }
    tn_offer of;
    tn_task t;
    if (check_token(v, r, token, &of, &t, 1)) return;
    v_limits lim;
    if (v_upload_limits(v, &lim)) {
        tn_http_reply_error(r, 500, "%s", tn_errmsg());
        tn_offer_clear(&of);
        tn_task_clear(&t);
        return;
    }
    char *dir = v_path(v, "uploads/%s/staging", token);
    char *dst = tn_path_join(dir, name);
    /* the staging directory changes only under up_mu: a completion moves it
     * away in one rename, and no upload lands in it after that began */
    pthread_mutex_lock(&v->up_mu);
    int status = 0;
    if (v_gate_completing(v, token)) {
        status = 409;
        snprintf(why, sizeof why, "submission %s is being completed; upload again after the completion's reply",
                 token);
    } else if ((status = v_upload_quota(v, &lim, &of, dir, name, r->upload_size, why, sizeof why)) == 0) {
        if (tn_mkdir_p(dir) || rename(r->upload_path, dst) != 0) {
            status = 500;
            snprintf(why, sizeof why, "cannot store %.200s", name);
        }
    }
    pthread_mutex_unlock(&v->up_mu);
    if (status)
        tn_http_reply_error(r, status, "%s", why);
    else
        tn_http_reply_json(r, 201, json_pack("{s:s, s:s, s:I}", "name", name, "sha256", r->upload_sha256, "size",
                                             (json_int_t)r->upload_size));
    free(dir);
    free(dst);
    tn_offer_clear(&of);
    tn_task_clear(&t);
}

/* Removes from dir every file the manifest does not name: what is completed
 * is exactly what was hashed. */
static int keep_only(const char *dir, const json_t *mfiles) {
    DIR *d = opendir(dir);
    if (!d) return tn_fail_errno("%s", dir);
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || json_object_get(mfiles, e->d_name)) continue;
        char *p = tn_path_join(dir, e->d_name);
        if (tn_rm_rf(p)) rc = -1;
        free(p);
    }
    closedir(d);
    return rc;
}

/* Completion is atomic with respect to uploads: under up_mu the token is
 * marked as completing (uploads to it get 409 from then on) and its staging
 * directory becomes the submission's directory in one rename; the files are
 * hashed there, where nothing else writes. A refused completion puts the
 * directory back, so the miner can fix the manifest or re-upload a file. */
static void complete(vstate *v, tn_http_req *r, const char *token) {
    tn_offer of;
    tn_task t;
    if (check_token(v, r, token, &of, &t, 1)) return;
    json_t *b = tn_http_body_json(r);
    json_t *files = json_object_get(b, "files");
    const char *kind = jstr(b, "kind");
    char *staging = v_path(v, "uploads/%s/staging", token);
    char *parent = v_path(v, "submissions/%s", token);
    char *dest = v_path(v, "submissions/%s/%lld", token, (long long)tn_wall_ms());
    json_t *manifest = json_object(), *mfiles = json_object();
    json_object_set_new(manifest, "files", mfiles);
    int status = 0, gated = 0, moved = 0;
    char msg[512] = "";
    if (!json_is_object(files) || json_object_size(files) == 0 || !kind ||
        (strcmp(kind, "full") && strcmp(kind, "adapter"))) {
        status = 422;
        snprintf(msg, sizeof msg, "complete: kind (full|adapter) and files {name: sha256} are required");
    }
    if (!status) {
        pthread_mutex_lock(&v->up_mu);
        if (v_gate_enter(v, token)) {
            status = 409;
            snprintf(msg, sizeof msg, "submission %s: a completion is already under way", token);
        } else {
            gated = 1;
            if (!tn_dir_exists(staging)) {
                status = 422;
                snprintf(msg, sizeof msg, "manifest names %s, which was not uploaded", json_object_iter_key(
                                                                                      json_object_iter(files)));
            } else if (tn_mkdir_p(parent) || rename(staging, dest) != 0) {
                status = 500;
                tn_warn("submission %s: cannot move %s to %s", token, staging, dest);
            } else {
                moved = 1;
            }
        }
        pthread_mutex_unlock(&v->up_mu);
    }
    const char *name;
    json_t *h;
    json_object_foreach(files, name, h) {
        if (status) break;
        char *src = tn_path_join(dest, name);
        char got[TN_HASH_HEX + 1];
        uint64_t size = 0;
        if (tn_manifest_name_ok(name, strlen(name)) != 0 || strchr(name, '/') || !tn_file_exists(src)) {
            status = 422;
            snprintf(msg, sizeof msg, "manifest names %s, which was not uploaded", name);
        } else if (tn_sha256_file_hex(src, got, &size) || !json_is_string(h) || strcmp(got, json_string_value(h))) {
            status = 422;
            snprintf(msg, sizeof msg, "manifest: %s has sha256 %.16s..., the upload %.16s...", name,
                     json_is_string(h) ? json_string_value(h) : "?", got);
        } else {
            json_object_set_new(mfiles, name, json_pack("{s:s, s:I}", "sha256", got, "size", (json_int_t)size));
        }
        free(src);
    }
    if (!status) {
        int full = json_object_get(files, "config.json") &&
                   (json_object_get(files, "model.safetensors") || json_object_get(files, "model.safetensors.index.json"));
        int adapter = json_object_get(files, "adapter_config.json") && json_object_get(files, "adapter_model.safetensors");
        if (!strcmp(kind, "full") ? !full : !adapter) {
            status = 422;
            snprintf(msg, sizeof msg, "a %s submission needs %s", kind,
                     !strcmp(kind, "full") ? "config.json and model.safetensors" : "adapter_config.json and adapter_model.safetensors");
        }
    }
    if (!status && keep_only(dest, mfiles)) {
        status = 500;
        tn_warn("submission %s: %s", token, tn_errmsg());
    }
    if (!status) {
        char chash[TN_HASH_HEX + 1];
        tn_manifest_content_hash(manifest, chash);
        char *mjs = json_dumps(manifest, JSON_COMPACT);
        const char *note = jstr(b, "note"), *strategy = jstr(b, "strategy");
        char *strat = tn_sprintf("%s%s%s", strategy ? strategy : "", note ? ": " : "", note ? note : "");
        tn_submission s = {0};
        s.task_id = of.task_id;
        s.miner_id = of.miner_id;
        s.token = (char *)token; /* the store copies what it keeps */
        s.received_at = tn_wall_ms();
        s.kind = !strcmp(kind, "full") ? TN_SUB_FULL : TN_SUB_ADAPTER;
        s.manifest_json = mjs;
        s.content_hash = chash;
        s.strategy = strat;
        s.files_dir = dest;
        int64_t sid;
        LOCK(v);
        int rc = tn_store_submission_put(v->store, &s, &sid);
        /* tn_store_submission_put marks the offer `submitted` in the same
         * transaction: no second update here (it was one, from `started`,
         * an edge the offer table does not allow, and only logged a warning). */
        UNLOCK(v);
        if (rc < 0) {
            status = rc == TN_STORE_REFUSED ? 410 : store_status(rc);
            snprintf(msg, sizeof msg, "%s", tn_errmsg());
        } else {
            moved = 0; /* the submission's files now */
            tn_info("task %lld: submission from miner %lld received (%s, %zu files)", (long long)of.task_id,
                    (long long)of.miner_id, kind, json_object_size(mfiles));
            tn_http_reply_json(r, 200, json_pack("{s:s, s:I, s:I, s:s}", "status", "received", "received_at",
                                                 (json_int_t)s.received_at, "submission", (json_int_t)sid,
                                                 "content_hash", chash));
        }
        free(mjs);
        free(strat);
    }
    /* refused: the files go back to staging (nothing can have made a new
     * one while the gate was closed); if even that fails they are removed */
    if (moved && rename(dest, staging) != 0) {
        tn_warn("submission %s: cannot move %s back to %s; removing it", token, dest, staging);
        tn_rm_rf(dest);
    }
    if (moved) rmdir(parent); /* only when no earlier upload lives there */
    if (gated) v_gate_leave(v, token);
    if (status) tn_http_reply_error(r, status, "%s", msg[0] ? msg : "cannot store the submission");
    json_decref(manifest);
    json_decref(b);
    free(staging);
    free(parent);
    free(dest);
    tn_offer_clear(&of);
    tn_task_clear(&t);
}

static void receipt(vstate *v, tn_http_req *r, const char *token) {
    tn_offer of;
    tn_task t;
    if (check_token(v, r, token, &of, &t, 0)) return;
    tn_submission s;
    memset(&s, 0, sizeof s);
    LOCK(v);
    int rc = tn_store_submission_for(v->store, of.task_id, of.miner_id, &s);
    UNLOCK(v);
    if (rc < 0)
        tn_http_reply_json(r, 200, json_pack("{s:s, s:s}", "status", "nothing received", "task_state",
                                             tn_task_state_name(t.state)));
    else
        tn_http_reply_json(r, 200, json_pack("{s:s, s:I, s:I, s:s, s:s}", "status", "received", "received_at",
                                             (json_int_t)s.received_at, "uploads", (json_int_t)s.uploads,
                                             "content_hash", s.content_hash, "task_state", tn_task_state_name(t.state)));
    tn_submission_clear(&s);
    tn_offer_clear(&of);
    tn_task_clear(&t);
}

static void h_submission(tn_http_req *r, void *ud) {
    char token[80];
    const char *rest;
    if (split_sub_path(r->path, token, sizeof token, &rest)) {
        tn_http_reply_error(r, 404, "no such submission");
        return;
    }
    if (!strcmp(r->method, "POST") && !strcmp(rest, "complete"))
        complete(ud, r, token);
    else if (!strcmp(r->method, "GET") && !*rest)
        receipt(ud, r, token);
    else
        tn_http_reply_error(r, 404, "no such submission call");
}

int v_api_register(vstate *v) {
    char *tmp = v_path(v, "uploads/tmp");
    if (tn_mkdir_p(tmp)) {
        free(tmp);
        return -1;
    }
    tn_http_route routes[] = {
        {"GET", "/v1/health", TN_ROUTE_EXACT, 0, NULL, h_health, v},
        {"GET", "/v1/miners", TN_ROUTE_EXACT, 0, NULL, h_miners, v},
        {"GET", "/v1/tasks", TN_ROUTE_PREFIX, 0, NULL, h_tasks, v},
        {"GET", "/v1/leaderboard", TN_ROUTE_EXACT, 0, NULL, h_leaderboard, v},
        {"GET", "/v1/flags", TN_ROUTE_EXACT, 0, NULL, h_flags, v},
        {"GET", "/v1/report", TN_ROUTE_EXACT, 0, NULL, h_report, v},
        {"POST", "/v1/admin/", TN_ROUTE_PREFIX | TN_ROUTE_SIGNED, 1 << 20, NULL, h_admin, v},
        {"PUT", "/v1/submissions/", TN_ROUTE_PREFIX | TN_ROUTE_SIGNED | TN_ROUTE_UPLOAD, v->o.max_upload_bytes, tmp,
         h_upload, v},
        {"POST", "/v1/submissions/", TN_ROUTE_PREFIX | TN_ROUTE_SIGNED, 1 << 20, NULL, h_submission, v},
        {"GET", "/v1/submissions/", TN_ROUTE_PREFIX | TN_ROUTE_SIGNED, 0, NULL, h_submission, v},
        {"GET", "/blobs/", TN_ROUTE_PREFIX, 0, NULL, h_blob, v},
        {"GET", "/", TN_ROUTE_PREFIX, 0, NULL, v_dashboard, v},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof routes / sizeof *routes && rc == 0; i++)
        /* a scheduler-only process serves its blob downloads and its health (validator.h) */
        if (v->o.role != TN_VALIDATOR_SCHEDULER || !strcmp(routes[i].path, "/blobs/") ||
            !strcmp(routes[i].path, "/v1/health"))
            rc = tn_http_server_route(v->http, &routes[i]);
    free(tmp); /* the server copies a route's strings */
    return rc;
}
