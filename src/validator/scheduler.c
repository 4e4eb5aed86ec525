/* scheduler.c - moving tasks through their states (called every tick).
 *
 * Each state has one step function; each step is written to be safe to run
 * again after a crash at any point in it:
 *   pending    -> preparing  (nothing to undo)
 *   preparing  -> offering   the split is deterministic (secret seed): redone
 *                            whole; blobs are content-addressed
 *   offering   -> training   offers are created once (the pool is the set of
 *                            offer rows); each offer's status says which
 *                            call is still owed (offer, then start)
 *   training   -> evaluating at the deadline, by the validator's clock; the
 *                            synthetic set is made now, after training ended
 *   evaluating -> scored     scorer.c; results are upserted per rule
 */
#include "net/http_client.h"
#include "judge/transform.h"
#include "net/rows_bucket.h"
#include "validator/synthset.h"
#include "validator/prepare.h"
#include "validator/competition.h"
#include "validator/vstate.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/rows.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>


static int transition(vstate *v, const tn_task *t, tn_task_state to, const char *reason, const tn_task_patch *p) {
    LOCK(v);
    int rc = tn_store_task_transition_ex(v->store, t->id, t->state, to, reason, tn_wall_ms(), p);
    UNLOCK(v);
    if (rc == 0) tn_info("task %lld: %s -> %s%s%s", (long long)t->id, tn_task_state_name(t->state),
                         tn_task_state_name(to), reason ? ": " : "", reason ? reason : "");
    return rc;
}

static int fail_task(vstate *v, const tn_task *t, const char *why) {
    tn_warn("task %lld failed: %s", (long long)t->id, why);
    return transition(v, t, TN_TASK_FAILED, why, NULL);
}

/* The dataset type of a catalog dataset as a data spec. Strings borrow from
 * *holder, which the caller decrefs. */
static int v_spec_of(const char *mapping_json, tn_data_spec *spec, json_t **holder) {
    memset(spec, 0, sizeof *spec);
    *holder = tn_json_loadb(mapping_json, strlen(mapping_json), "dataset_type");
    return *holder ? tn_data_spec_from_json(*holder, "dataset_type", spec) : -1;
}

/* ---- preparing ------------------------------------------------------------------ */

static int step_prepare(vstate *v, const tn_task *t) {
    tn_catalog_dataset d;
    memset(&d, 0, sizeof d);
    LOCK(v);
    int rc = tn_store_dataset_get(v->store, t->dataset, &d);
    UNLOCK(v);
    if (rc < 0) return fail_task(v, t, tn_errmsg());
    char *dir = v_path(v, "tasks/%lld", (long long)t->id);
    char *train = tn_path_join(dir, "train.jsonl"), *test = tn_path_join(dir, "test.jsonl");
    char *synsrc = tn_path_join(dir, "synth_source.jsonl");
    char *src = tn_blobs_path(v->blobs, d.blob_hash);
    tn_data_spec spec;
    json_t *holder = NULL;
    tn_prepare_opts po;
    tn_prepare_opts_default(&po);
    tn_prepare_stats st;
    char th[TN_HASH_HEX + 1], eh[TN_HASH_HEX + 1];
    if (tn_mkdir_p(dir) || v_spec_of(d.mapping_json, &spec, &holder) ||
        tn_prepare_split(src, &spec, (uint64_t)t->split_seed, &po, train, test, synsrc, &st) ||
        tn_blobs_put_file(v->blobs, train, NULL, th) || tn_blobs_put_file(v->blobs, test, NULL, eh)) {
        char why[1024];
        snprintf(why, sizeof why, "preparation: %s", tn_errmsg());
        rc = fail_task(v, t, why);
    } else {
        tn_task_patch p = {0};
        p.train_hash = th;
        p.test_hash = eh;
        char why[256];
        snprintf(why, sizeof why, "%zu rows: %zu train, %zu test, %zu synthetic source (%zu empty, %zu duplicates "
                 "dropped)", st.rows, st.train, st.test, st.synth, st.empty, st.duplicates);
        rc = transition(v, t, TN_TASK_OFFERING, why, &p);
    }
    json_decref(holder);
    free(dir);
    free(train);
    free(test);
    free(synsrc);
    free(src);
    tn_catalog_dataset_clear(&d);
    return rc;
}

/* ---- offering --------------------------------------------------------------------- */

typedef struct {
    vstate *v;
    const tn_task *t;
    tn_miner miner;
    tn_offer offer;
    json_t *offer_body, *start_body;
    int may_start; /* the task is in `training`: accepted offers get /start_training */
    int done;
} offer_job;

static tn_http_opts client_opts(vstate *v, long timeout_ms) {
    tn_http_opts o = {0};
    o.key = &v->key;
    o.connect_timeout_ms = timeout_ms;
    o.timeout_ms = timeout_ms;
    return o;
}

/* The message of an offer closed unsent: its miner was disabled first. */
#define V_OFFER_NOT_SENT "not asked: the miner was disabled before the offer went out"

/* One miner: the offer (if not answered yet), then start_training (if
 * accepted and not started). Runs on its own thread; network calls never
 * hold the store lock. */
static void *offer_thread(void *arg) {
    offer_job *j = arg;
    vstate *v = j->v;
    char url[600];
    tn_http_resp resp;
    tn_http_opts o = client_opts(v, v->o.offer_timeout_ms);
    tn_offer_status st = j->offer.status;
    if (st == TN_OFFER_OFFERED && !j->miner.enabled) {
        /* disabled since its offer row was made (between a round's rows and
         * their sending, or before a crash): not asked, and not counted as
         * asked (reoffer) */
        LOCK(v);
        int rc = tn_store_offer_update(v->store, j->t->id, j->miner.id, TN_OFFER_OFFERED, TN_OFFER_REJECTED,
                                       V_OFFER_NOT_SENT, tn_wall_ms());
        UNLOCK(v);
        if (rc < 0) tn_warn("task %lld: offer to disabled miner %s not closed: %s", (long long)j->t->id,
                            j->miner.name, tn_errmsg());
        else tn_info("task %lld: miner %s: %s", (long long)j->t->id, j->miner.name, V_OFFER_NOT_SENT);
        return NULL;
    }
    if (st == TN_OFFER_OFFERED) {
        snprintf(url, sizeof url, "%s/task_offer", j->miner.endpoint);
        memset(&resp, 0, sizeof resp);
        tn_offer_status to;
        char msg[300];
        if (tn_http_json(&o, "POST", url, j->offer_body, &resp) || resp.status != 200 || !resp.json) {
            to = TN_OFFER_TIMEOUT;
            snprintf(msg, sizeof msg, "%s", resp.status ? tn_http_resp_error(&resp) : tn_errmsg());
        } else {
            to = json_is_true(json_object_get(resp.json, "accepted")) ? TN_OFFER_ACCEPTED : TN_OFFER_REJECTED;
            const char *m = json_string_value(json_object_get(resp.json, "message"));
            snprintf(msg, sizeof msg, "%s", m ? m : "");
        }
        tn_http_resp_free(&resp);
        LOCK(v);
        int rc = tn_store_offer_update(v->store, j->t->id, j->miner.id, TN_OFFER_OFFERED, to, msg, tn_wall_ms());
        UNLOCK(v);
        if (rc < 0) {
            /* still `offered` in the store: the next tick asks again */
            tn_warn("task %lld: miner %s %s the offer, but it was not recorded: %s", (long long)j->t->id,
                    j->miner.name, tn_offer_status_name(to), tn_errmsg());
            return NULL;
        }
        tn_info("task %lld: miner %s %s the offer%s%s", (long long)j->t->id, j->miner.name, tn_offer_status_name(to),
                msg[0] ? ": " : "", msg);
        st = to;
    }
    if (st == TN_OFFER_ACCEPTED && j->may_start) {
        snprintf(url, sizeof url, "%s/start_training", j->miner.endpoint);
        char upload[256];
        snprintf(upload, sizeof upload, "%s/v1/submissions/%s", v->base_url, j->offer.token);
        json_object_set_new(j->start_body, "submission_id", json_string(j->offer.token));
        json_object_set_new(j->start_body, "upload_url", json_string(upload));
        memset(&resp, 0, sizeof resp);
        tn_http_opts so = client_opts(v, 10000);
        int ok = tn_http_json(&so, "POST", url, j->start_body, &resp) == 0 && resp.status == 202;
        char msg[300];
        snprintf(msg, sizeof msg, "%s", ok ? "training" : (resp.status ? tn_http_resp_error(&resp) : tn_errmsg()));
        tn_http_resp_free(&resp);
        LOCK(v);
        int rc = tn_store_offer_update(v->store, j->t->id, j->miner.id, TN_OFFER_ACCEPTED,
                                       ok ? TN_OFFER_STARTED : TN_OFFER_TIMEOUT, msg, tn_wall_ms());
        UNLOCK(v);
        /* still `accepted` in the store: step_training sends the start again */
        if (rc < 0)
            tn_warn("task %lld: start of miner %s not recorded: %s", (long long)j->t->id, j->miner.name,
                    tn_errmsg());
        if (!ok) tn_warn("task %lld: miner %s did not start: %s", (long long)j->t->id, j->miner.name, msg);
    }
    return NULL;
}

/* Chooses the pool: enabled miners, those with fewer offers so far first
 * (random order among equals), at most pool_size. */
static int choose_pool(vstate *v, const tn_task *t, tn_miner **pool, size_t *n) {
    tn_miner *ms = NULL;
    size_t nm = 0;
    LOCK(v);
    int rc = tn_store_miner_list(v->store, 1, &ms, &nm);
    /* a re-offer goes to miners not offered this task yet */
    for (size_t i = 0; rc >= 0 && i < nm;) {
        tn_offer o;
        memset(&o, 0, sizeof o);
        int orc = tn_store_offer_get(v->store, t->id, ms[i].id, &o);
        tn_offer_clear(&o);
        if (orc == TN_STORE_NOT_FOUND) {
            i++;
            continue;
        }
        if (orc < 0) rc = orc;
        tn_miner_clear(&ms[i]);
        ms[i] = ms[--nm];
    }
    size_t *load = tn_calloc(nm + 1, sizeof *load);
    for (size_t i = 0; rc >= 0 && i < nm; i++) {
        tn_offer *os = NULL;
        size_t no = 0;
        rc = tn_store_offers_for_miner(v->store, ms[i].id, &os, &no);
        load[i] = no;
        tn_offers_free(os, no);
    }
    UNLOCK(v);
    if (rc < 0) {
        free(load);
        tn_miners_free(ms, nm);
        return -1;
    }
    /* shuffle, then a stable sort by load */
    for (size_t i = nm; i > 1; i--) {
        size_t k = randombytes_uniform((uint32_t)i);
        tn_miner tm = ms[i - 1];
        ms[i - 1] = ms[k];
        ms[k] = tm;
        size_t tl = load[i - 1];
        load[i - 1] = load[k];
        load[k] = tl;
    }
    for (size_t i = 1; i < nm; i++)
        for (size_t k = i; k > 0 && load[k] < load[k - 1]; k--) {
            tn_miner tm = ms[k];
            ms[k] = ms[k - 1];
            ms[k - 1] = tm;
            size_t tl = load[k];
            load[k] = load[k - 1];
            load[k - 1] = tl;
        }
    free(load);
    size_t want = v->o.pool_size > 0 && (size_t)v->o.pool_size < nm ? (size_t)v->o.pool_size : nm;
    for (size_t i = want; i < nm; i++) tn_miner_clear(&ms[i]);
    *pool = ms;
    *n = want;
    return 0;
}

static json_t *dataset_type_json(const tn_catalog_dataset *d) {
    json_error_t e;
    json_t *j = json_loads(d->mapping_json, 0, &e);
    return j ? j : json_object();
}

/* Records offers to `pool` (freed) as offer rows and re-reads the task's
 * offers; *made: the rows made (a miner disabled since the pool was chosen
 * gets none). A failure part way leaves a smaller pool (the offer rows are
 * the pool), as a crash here would. */
static int add_offers(vstate *v, const tn_task *t, tn_miner *pool, size_t np, tn_offer **offers, size_t *n,
                      size_t *made) {
    int rc = 0;
    *made = 0;
    LOCK(v);
    for (size_t i = 0; rc >= 0 && i < np; i++) {
        char token[TN_TOKEN_HEX + 1];
        rc = tn_store_offer_create(v->store, t->id, pool[i].id, tn_wall_ms(), token);
        if (rc >= 0) (*made)++;
        /* disabled since the pool was chosen: left out */
        if (rc == TN_STORE_REFUSED) rc = 0;
    }
    if (rc >= 0) {
        tn_offers_free(*offers, *n);
        *offers = NULL;
        *n = 0;
        rc = tn_store_offers_for_task(v->store, t->id, offers, n);
    }
    UNLOCK(v);
    tn_miners_free(pool, np);
    return rc < 0 ? -1 : 0;
}

/* Too few takers: offer the task to miners not asked yet, at most
 * V_OFFER_ROUNDS rounds in all, each recorded as a task event (offering ->
 * offering). 1 when offers went out (the next tick sends them), 0 when the
 * pool is exhausted (why says so), -1 on a store failure. */
#define V_OFFER_ROUNDS 3
static int reoffer(vstate *v, const tn_task *t, size_t accepted, size_t asked, char *why, size_t cap) {
    tn_task_event *ev = NULL;
    size_t ne = 0, rounds = 1;
    LOCK(v);
    int rc = tn_store_task_events(v->store, t->id, &ev, &ne);
    UNLOCK(v);
    if (rc < 0) return -1;
    for (size_t i = 0; i < ne; i++) rounds += ev[i].from == TN_TASK_OFFERING && ev[i].to == TN_TASK_OFFERING;
    tn_task_events_free(ev, ne);
    tn_miner *pool = NULL;
    size_t np = 0, more = 0;
    if (rounds < V_OFFER_ROUNDS && choose_pool(v, t, &pool, &np)) return -1;
    if (np > 0) {
        tn_offer *os = NULL;
        size_t no = 0;
        if (add_offers(v, t, pool, np, &os, &no, &more)) return -1;
        tn_offers_free(os, no);
    } else {
        tn_miners_free(pool, np);
    }
    if (more == 0) { /* nobody chosen, or all disabled since */
        snprintf(why, cap, "no miner accepted the task: %zu miner(s) asked in %zu round(s) (%zu accepted), %s", asked,
                 rounds, accepted, rounds < V_OFFER_ROUNDS ? "no enabled miner left to ask" : "no rounds left");
        return 0;
    }
    char r[160];
    snprintf(r, sizeof r, "re-offered to %zu more miner(s), round %zu of %d: %zu of %zu asked accepted", more,
             rounds + 1, V_OFFER_ROUNDS, accepted, asked);
    if (transition(v, t, TN_TASK_OFFERING, r, NULL) < 0) return -1;
    return 1;
}

static int step_offer(vstate *v, const tn_task *t) {
    tn_offer *offers = NULL;
    size_t n = 0;
    LOCK(v);
    int rc = tn_store_offers_for_task(v->store, t->id, &offers, &n);
    UNLOCK(v);
    if (rc < 0) return -1;
    if (n == 0) {
        /* first pass: choose the pool and record it as offer rows */
        tn_miner *pool = NULL;
        size_t np = 0;
        if (choose_pool(v, t, &pool, &np)) return -1;
        size_t made = 0;
        if (np > 0 && add_offers(v, t, pool, np, &offers, &n, &made)) return -1;
        if (np == 0) tn_miners_free(pool, np);
        if (made == 0) {
            tn_offers_free(offers, n);
            return fail_task(v, t, "no enabled miner to offer the task to");
        }
    }
    /* what the miners are told: never the dataset's name, never test rows */
    tn_catalog_model cm;
    tn_catalog_dataset cd;
    memset(&cm, 0, sizeof cm);
    memset(&cd, 0, sizeof cd);
    LOCK(v);
    rc = tn_store_model_get(v->store, t->model, &cm);
    if (rc >= 0) rc = tn_store_dataset_get(v->store, t->dataset, &cd);
    UNLOCK(v);
    json_t *arch = rc >= 0 ? json_loads(cm.arch_json, 0, NULL) : NULL;
    json_t *manifest = rc >= 0 ? tn_blobs_load_manifest(v->blobs, cm.manifest_hash) : NULL;
    if (rc < 0 || !arch || !manifest) {
        json_decref(arch);
        json_decref(manifest);
        tn_catalog_model_clear(&cm);
        tn_catalog_dataset_clear(&cd);
        tn_offers_free(offers, n);
        return fail_task(v, t, "the task's model or dataset is not in the catalog");
    }
    double hours = tn_task_hours(t);
    int training = t->state == TN_TASK_TRAINING;
    int64_t deadline = training ? t->deadline : tn_wall_ms() + t->time_limit_ms;
    json_t *dtj = dataset_type_json(&cd);
    const char *kind = json_string_value(json_object_get(dtj, "kind"));
    /* a range, not the row count: the count helps find the public source (net/rows_bucket.h) */
    char bucket[48];
    tn_rows_bucket(cd.row_count, bucket, sizeof bucket);
    json_t *offer_body = json_pack("{s:I, s:s, s:O, s:O, s:s, s:f, s:s}", "task_id", (json_int_t)t->id, "model",
                                   t->model, "model_params_count", json_object_get(arch, "params"), "architecture",
                                   arch, "ds_size_bucket", bucket, "hours_to_complete", hours, "task_type",
                                   kind ? kind : "instruct");
    json_t *files = json_array();
    const char *fname;
    json_t *fe;
    json_object_foreach(json_object_get(manifest, "files"), fname, fe) {
        const char *h = json_string_value(json_object_get(fe, "sha256"));
        char *url = v_blob_url(v, h, t->time_limit_ms / 1000 + 3600);
        json_array_append_new(files, json_pack("{s:s, s:s, s:s, s:O}", "name", fname, "url", url, "sha256", h, "size",
                                               json_object_get(fe, "size")));
        free(url);
    }
    char *turl = v_blob_url(v, t->train_hash, t->time_limit_ms / 1000 + 3600);
    char *tpath = tn_blobs_path(v->blobs, t->train_hash);
    uint64_t tsize = 0;
    char tmp[TN_HASH_HEX + 1];
    tn_sha256_file_hex(tpath, tmp, &tsize);
    free(tpath);
    json_t *start_body = json_pack("{s:I, s:{s:s, s:o}, s:{s:s, s:s, s:I, s:s}, s:O, s:f, s:I}", "task_id",
                                   (json_int_t)t->id, "model", "name", t->model, "files", files, "dataset", "url",
                                   turl, "sha256", t->train_hash, "size", (json_int_t)tsize, "format", "jsonl",
                                   "dataset_type", dtj, "hours_to_complete", hours, "deadline_ms",
                                   (json_int_t)deadline);
    free(turl);
    json_decref(dtj);
    /* offers and starts in parallel: the validator waits a few seconds at most */
    offer_job *jobs = tn_calloc(n, sizeof *jobs);
    pthread_t *th = tn_calloc(n, sizeof *th);
    for (size_t i = 0; i < n; i++) {
        jobs[i].v = v;
        jobs[i].t = t;
        jobs[i].offer = offers[i];
        jobs[i].offer_body = offer_body;
        jobs[i].start_body = json_deep_copy(start_body);
        LOCK(v);
        int mrc = tn_store_miner_get(v->store, offers[i].miner_id, &jobs[i].miner);
        UNLOCK(v);
        /* that miner is skipped this tick; the next one tries again */
        if (mrc < 0) tn_warn("task %lld: offer to miner %lld: %s", (long long)t->id, (long long)offers[i].miner_id,
                             tn_errmsg());
        jobs[i].may_start = training;
        int owed = training ? offers[i].status == TN_OFFER_ACCEPTED : offers[i].status == TN_OFFER_OFFERED;
        if (mrc >= 0 && owed) jobs[i].done = pthread_create(&th[i], NULL, offer_thread, &jobs[i]) == 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].done) pthread_join(th[i], NULL);
        json_decref(jobs[i].start_body);
        tn_miner_clear(&jobs[i].miner);
    }
    free(jobs);
    free(th);
    json_decref(offer_body);
    json_decref(start_body);
    json_decref(arch);
    json_decref(manifest);
    tn_catalog_model_clear(&cm);
    tn_catalog_dataset_clear(&cd);
    tn_offers_free(offers, n);
    if (training) return 0; /* the starts were sent; step_training watches the deadline */
    /* The task moves to `training` (with its deadline) BEFORE any
     * /start_training goes out: a miner that uploads the moment it is started
     * must find the upload window open. The starts follow from
     * step_training, which also retries them after a crash. */
    LOCK(v);
    rc = tn_store_offers_for_task(v->store, t->id, &offers, &n);
    UNLOCK(v);
    if (rc < 0) return -1;
    size_t accepted = 0, open = 0, asked = 0;
    for (size_t i = 0; i < n; i++) {
        accepted += offers[i].status == TN_OFFER_ACCEPTED;
        open += offers[i].status == TN_OFFER_OFFERED; /* not recorded: asked again next tick */
        asked += !(offers[i].status == TN_OFFER_REJECTED && offers[i].message &&
                   !strcmp(offers[i].message, V_OFFER_NOT_SENT));
    }
    tn_offers_free(offers, n);
    if (open) return 0;
    if (accepted == 0) {
        char reason[300];
        rc = reoffer(v, t, accepted, asked, reason, sizeof reason);
        return rc == 0 ? fail_task(v, t, reason) : rc < 0 ? -1 : 0;
    }
    tn_task_patch p = {0};
    p.deadline = deadline;
    char why[128];
    snprintf(why, sizeof why, "%zu miner(s) accepted, deadline in %.1f min", accepted, tn_task_minutes(t));
    return transition(v, t, TN_TASK_TRAINING, why, &p);
}

/* ---- training -> evaluating -------------------------------------------------------- */

static int step_training(vstate *v, const tn_task *t) {
    if (tn_wall_ms() <= t->deadline) {
        /* accepted offers not started yet (just now, or before a crash) */
        tn_offer *os = NULL;
        size_t n = 0, owed = 0;
        LOCK(v);
        int rc = tn_store_offers_for_task(v->store, t->id, &os, &n);
        UNLOCK(v);
        for (size_t i = 0; rc >= 0 && i < n; i++) owed += os[i].status == TN_OFFER_ACCEPTED;
        tn_offers_free(os, n);
        if (rc < 0) return -1;
        return owed ? step_offer(v, t) : 0;
    }
    /* the synthetic set: made now, after training closed, from the held-out
     * synthetic-source rows (never the test rows: see prepare.h) and a seed
     * drawn now, so it did not exist while miners trained; synth.source picks
     * the generator (synthset.h) */
    tn_catalog_dataset d;
    memset(&d, 0, sizeof d);
    LOCK(v);
    int rc = tn_store_dataset_get(v->store, t->dataset, &d);
    UNLOCK(v);
    json_t *holder = NULL, *rows = NULL, *synth = NULL;
    tn_data_spec spec;
    char *test = v_path(v, "tasks/%lld/synth_source.jsonl", (long long)t->id);
    char *out = v_path(v, "tasks/%lld/synth.jsonl", (long long)t->id);
    char sh[TN_HASH_HEX + 1], *note = NULL;
    if (rc < 0 || v_spec_of(d.mapping_json, &spec, &holder) || tn_rows_load_all(test, TN_ROWS_JSONL, &rows) ||
        !(synth = v_synth_make(v, t->id, d.name, &spec, rows, &note))) {
        /* stopping mid-way is no failure: the next start goes on from the cache */
        rc = atomic_load(&v->stop) ? -1 : fail_task(v, t, tn_errmsg());
    } else {
        json_t *raw = synth; /* into the task's secret format, as train and test (prepare.h) */
        synth = tn_transform_task_rows((uint64_t)t->split_seed, &spec, raw, "synthetic set");
        json_decref(raw);
        FILE *f = synth ? fopen(out, "w") : NULL;
        size_t i;
        json_t *row;
        json_array_foreach(synth, i, row) {
            char *s = json_dumps(row, JSON_COMPACT);
            if (f) fprintf(f, "%s\n", s);
            free(s);
        }
        if (!synth) {
            rc = fail_task(v, t, tn_errmsg());
        } else if (!f || fclose(f) != 0 || tn_blobs_put_file(v->blobs, out, NULL, sh)) {
            rc = fail_task(v, t, "cannot write the synthetic set");
        } else {
            tn_task_patch p = {0};
            p.synth_hash = sh;
            char *why = note ? tn_sprintf("deadline passed; %s", note) : NULL;
            rc = transition(v, t, TN_TASK_EVALUATING, why ? why : "deadline passed", &p);
            free(why);
        }
    }
    json_decref(rows);
    json_decref(synth);
    json_decref(holder);
    free(note);
    free(test);
    free(out);
    tn_catalog_dataset_clear(&d);
    return rc;
}

int v_schedule_tick(vstate *v) {
    /* the schedule's task for this moment, if any (competition.h) */
    if (v_comp_tick(v)) tn_warn("competition: %s", tn_errmsg());
    tn_task *ts = NULL;
    size_t n = 0;
    LOCK(v);
    int rc = tn_store_task_list(v->store, -1, &ts, &n);
    UNLOCK(v);
    if (rc < 0) return -1;
    for (size_t i = 0; i < n && !v->stop; i++) {
        tn_task *t = &ts[i];
        int src = 0;
        switch (t->state) {
        case TN_TASK_PENDING: src = transition(v, t, TN_TASK_PREPARING, NULL, NULL); break;
        case TN_TASK_PREPARING: src = step_prepare(v, t); break;
        case TN_TASK_OFFERING: src = step_offer(v, t); break;
        case TN_TASK_TRAINING: src = step_training(v, t); break;
        case TN_TASK_EVALUATING: src = v_evaluate_task(v, t->id); break;
        default: break;
        }
        /* the task stays where it is and the next tick tries again; the
         * other tasks go on */
        if (src < 0)
            tn_warn("task %lld (%s): %s", (long long)t->id, tn_task_state_name(t->state), tn_errmsg());
    }
    tn_tasks_free(ts, n);
    return 0;
}
