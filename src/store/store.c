/* store.c - the entry points of store.h: picks a backend by URL, dispatches
 * every operation through the handle's ops table, and holds what does not
 * depend on the database (names, life-cycle edges, argument checks, locking,
 * freeing output structs) once for both backends (store_int.h). */
#include "store/store_int.h"
#include "base/err.h"
#include "base/mem.h"

#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- names of enumerations ------------------------------------------------ */

const char *const ss_task_states[TN_TASK_NSTATES] = {
    "pending", "preparing", "offering", "training", "evaluating", "scored", "failed"};
const char *const ss_offer_statuses[TN_OFFER_NSTATUS] = {
    "offered", "accepted", "rejected", "timeout", "started", "submitted", "evaluated"};
const char *const ss_decisions[] = {"pass", "fail", "flag"};
const char *const ss_sub_kinds[] = {"full", "adapter"};
const char *const ss_eval_states[TN_EVAL_NSTATES] = {"queued", "running", "done", "failed"};

const char *tn_eval_state_name(tn_eval_state st) {
    return (unsigned)st < TN_EVAL_NSTATES ? ss_eval_states[st] : "?";
}

int ss_parse_name(const char *const *names, int n, const char *s, int *out) {
    for (int i = 0; s && i < n; i++)
        if (!strcmp(names[i], s)) {
            *out = i;
            return 0;
        }
    return -1;
}

const char *tn_task_state_name(tn_task_state st) {
    return (unsigned)st < TN_TASK_NSTATES ? ss_task_states[st] : "?";
}

int tn_task_state_parse(const char *name, tn_task_state *out) {
    int v;
    if (ss_parse_name(ss_task_states, TN_TASK_NSTATES, name, &v) != 0)
        return tn_fail("unknown task state '%s'", name ? name : "(null)");
    *out = (tn_task_state)v;
    return 0;
}

const char *tn_offer_status_name(tn_offer_status st) {
    return (unsigned)st < TN_OFFER_NSTATUS ? ss_offer_statuses[st] : "?";
}

int tn_offer_status_parse(const char *name, tn_offer_status *out) {
    int v;
    if (ss_parse_name(ss_offer_statuses, TN_OFFER_NSTATUS, name, &v) != 0)
        return tn_fail("unknown offer status '%s'", name ? name : "(null)");
    *out = (tn_offer_status)v;
    return 0;
}

const char *tn_decision_name(tn_decision d) { return (unsigned)d < 3 ? ss_decisions[d] : "?"; }

/* The task life cycle. `failed` is terminal; `scored -> evaluating` is a
 * rescore (new rules applied to old submissions). */
int tn_task_transition_allowed(tn_task_state from, tn_task_state to) {
    if ((unsigned)from >= TN_TASK_NSTATES || (unsigned)to >= TN_TASK_NSTATES) return 0;
    switch (from) {
    case TN_TASK_PENDING: return to == TN_TASK_PREPARING || to == TN_TASK_FAILED;
    case TN_TASK_PREPARING: return to == TN_TASK_OFFERING || to == TN_TASK_FAILED;
    /* offering -> offering: a re-offer to more miners (scheduler.c), recorded as an event */
    case TN_TASK_OFFERING: return to == TN_TASK_OFFERING || to == TN_TASK_TRAINING || to == TN_TASK_FAILED;
    case TN_TASK_TRAINING: return to == TN_TASK_EVALUATING || to == TN_TASK_FAILED;
    case TN_TASK_EVALUATING: return to == TN_TASK_SCORED || to == TN_TASK_FAILED;
    case TN_TASK_SCORED: return to == TN_TASK_EVALUATING;
    default: return 0;
    }
}

/* Offers: `timeout` means no answer to the offer in time. A miner that
 * accepted and never uploads stays accepted/started and scores r = 0.
 * Uploads move an offer to `submitted` through tn_store_submission_put. */
int ss_offer_edge_allowed(tn_offer_status from, tn_offer_status to) {
    switch (from) {
    case TN_OFFER_OFFERED:
        return to == TN_OFFER_ACCEPTED || to == TN_OFFER_REJECTED || to == TN_OFFER_TIMEOUT;
    case TN_OFFER_ACCEPTED: return to == TN_OFFER_STARTED;
    case TN_OFFER_SUBMITTED: return to == TN_OFFER_EVALUATED;
    default: return 0;
    }
}

/* ---- errors, locking ---------------------------------------------------------- */

int ss_fail_code(int code, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    tn_fail("%s", buf);
    return code;
}

int ss_enter(tn_store *s) {
    if (!s) return tn_fail("store: NULL handle");
    if (getpid() != s->pid)
        return tn_fail("store %s: handle used in a forked child; open a new one", s->path);
    pthread_mutex_lock(&s->mu);
    return 0;
}

int ss_leave(tn_store *s, int rc) {
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void ss_hook(tn_store *s, const char *point) {
    if (s->hook) s->hook(point, s->hook_arg);
}

void tn_store_set_crash_hook(tn_store *s, tn_store_crash_hook h, void *arg) {
    s->hook = h;
    s->hook_arg = arg;
}

/* ---- argument checks ------------------------------------------------------------- */

int ss_nonempty(const char *v, const char *what) {
    if (!v || !*v) return tn_fail("store: %s is required", what);
    return 0;
}

int ss_is_hex64(const char *v) {
    if (!v || strlen(v) != 64) return 0;
    for (const char *p = v; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

const char *ss_json_or_empty(const char *j) { return j && *j ? j : "{}"; }

int ss_check_miner(const tn_miner *in) {
    if (ss_nonempty(in->name, "miner name") || ss_nonempty(in->owner, "miner owner") ||
        ss_nonempty(in->endpoint, "miner endpoint"))
        return TN_STORE_ERROR;
    if (!ss_is_hex64(in->pubkey_hex))
        return tn_fail("store: miner '%s': public key must be 64 lowercase hex characters",
                       in->name);
    return 0;
}

int ss_check_model(const tn_catalog_model *in) {
    if (ss_nonempty(in->name, "model name")) return TN_STORE_ERROR;
    if (!ss_is_hex64(in->manifest_hash))
        return tn_fail("store: model '%s': manifest hash must be 64 lowercase hex", in->name);
    return 0;
}

int ss_check_dataset(const tn_catalog_dataset *in) {
    if (ss_nonempty(in->name, "dataset name")) return TN_STORE_ERROR;
    if (!ss_is_hex64(in->blob_hash))
        return tn_fail("store: dataset '%s': blob hash must be 64 lowercase hex", in->name);
    if (in->row_count < 0) return tn_fail("store: dataset '%s': negative row count", in->name);
    return 0;
}

int ss_check_upload(const tn_submission *in) {
    if (ss_nonempty(in->token, "submission token") || ss_nonempty(in->manifest_json, "manifest") ||
        ss_nonempty(in->files_dir, "files directory"))
        return TN_STORE_ERROR;
    if (!ss_is_hex64(in->content_hash))
        return tn_fail("store: upload: content hash must be 64 lowercase hex");
    if ((unsigned)in->kind > TN_SUB_ADAPTER) return tn_fail("store: upload: unknown kind");
    return 0;
}

int ss_check_scores(int64_t task_id, const tn_score *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (v[i].task_id != task_id)
            return tn_fail("store: scores of task %lld: row %zu is for task %lld", (long long)task_id,
                           i, (long long)v[i].task_id);
        if (!isfinite(v[i].quality) || !isfinite(v[i].score))
            return tn_fail("store: scores of task %lld: row %zu has a non-finite r or s",
                           (long long)task_id, i);
    }
    return 0;
}

int ss_check_offer_edge(int64_t task_id, int64_t miner_id, tn_offer_status from, tn_offer_status to) {
    if ((unsigned)from >= TN_OFFER_NSTATUS || (unsigned)to >= TN_OFFER_NSTATUS ||
        !ss_offer_edge_allowed(from, to))
        return tn_fail("store: offer (task %lld, miner %lld): %s -> %s is not allowed",
                       (long long)task_id, (long long)miner_id, tn_offer_status_name(from),
                       tn_offer_status_name(to));
    return 0;
}

int ss_check_task_edge(int64_t id, tn_task_state from, tn_task_state to) {
    if (!tn_task_transition_allowed(from, to))
        return tn_fail("store: task %lld: transition %s -> %s is not allowed", (long long)id,
                       tn_task_state_name(from), tn_task_state_name(to));
    return 0;
}

/* An upload's checks, made by each backend inside the upload's transaction
 * on what it read there: the token's offer ... */
int ss_upload_offer_ok(const tn_submission *in, const tn_offer *o) {
    if (o->miner_id != in->miner_id || o->task_id != in->task_id)
        return ss_fail_code(TN_STORE_REFUSED,
                            "store: upload: the submission token belongs to another miner or task");
    if (o->status != TN_OFFER_ACCEPTED && o->status != TN_OFFER_STARTED &&
        o->status != TN_OFFER_SUBMITTED)
        return ss_fail_code(TN_STORE_REFUSED,
                            "store: upload: the offer of task %lld to miner %lld is '%s', not accepted",
                            (long long)o->task_id, (long long)o->miner_id,
                            tn_offer_status_name(o->status));
    return 0;
}

/* ... and its task: training, and received by the deadline (exactly at it is in time). */
int ss_upload_task_ok(const tn_submission *in, const char *state, int64_t deadline) {
    if (strcmp(state, "training") != 0)
        return ss_fail_code(TN_STORE_REFUSED,
                            "store: upload: task %lld is '%s' and no longer accepts uploads",
                            (long long)in->task_id, state);
    if (deadline <= 0)
        return ss_fail_code(TN_STORE_REFUSED, "store: upload: task %lld has no deadline set",
                            (long long)in->task_id);
    if (in->received_at > deadline)
        return ss_fail_code(TN_STORE_REFUSED,
                            "store: upload: received %.3f s after the deadline of task %lld",
                            (double)(in->received_at - deadline) / 1000.0, (long long)in->task_id);
    return 0;
}

/* 128 random bits: unguessable, so the token also authorises the upload path
 * together with the miner's signature. */
void ss_new_token(char token[TN_TOKEN_HEX + 1]) {
    unsigned char raw[TN_TOKEN_HEX / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(token, TN_TOKEN_HEX + 1, raw, sizeof raw);
}

/* ---- open, close, dispatch --------------------------------------------------------- */

static int is_pg_url(const char *url) {
    return !strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13);
}

tn_store *tn_store_open(const char *url, const tn_store_opts *opts) {
    if (!url || !*url) {
        tn_fail("store: empty location");
        return NULL;
    }
    if (sodium_init() < 0) { /* tokens come from randombytes_buf */
        tn_fail("store: libsodium initialisation failed");
        return NULL;
    }
    tn_store_opts o = opts ? *opts : (tn_store_opts){0};
    tn_store *s = tn_calloc(1, sizeof *s);
    s->pid = getpid();
    s->max_total = o.max_miners_total > 0 ? o.max_miners_total : 20;
    s->max_per_owner = o.max_miners_per_owner > 0 ? o.max_miners_per_owner : 5;
    pthread_mutex_init(&s->mu, NULL);
    int target = o.migrate_to > 0 && o.migrate_to < TN_STORE_SCHEMA_VERSION ? o.migrate_to
                                                                             : TN_STORE_SCHEMA_VERSION;
    int rc;
    if (is_pg_url(url)) {
        s->ops = &tn_pg_store_ops;
        rc = pgs_open(s, url, &o, target);
    } else {
        s->ops = &tn_sqlite_store_ops;
        rc = sqs_open(s, !strncmp(url, "sqlite:", 7) ? url + 7 : url, &o, target);
    }
    if (rc != 0) {
        tn_store_close(s);
        return NULL;
    }
    return s;
}

void tn_store_close(tn_store *s) {
    if (!s) return;
    if (s->ops) s->ops->close(s);
    pthread_mutex_destroy(&s->mu);
    free(s->path);
    free(s);
}

#define TN_STORE_OP_WRAPPER(name, params, args)                                                   \
    int tn_store_##name params {                                                                  \
        if (!s) return tn_fail("store: NULL handle");                                             \
        return s->ops->name args;                                                                 \
    }
TN_STORE_OPS(TN_STORE_OP_WRAPPER)

int tn_store_task_transition(tn_store *s, int64_t id, tn_task_state from, tn_task_state to,
                             const char *reason, int64_t now) {
    return tn_store_task_transition_ex(s, id, from, to, reason, now, NULL);
}

/* ---- freeing output structs ------------------------------------------------------------ */

void tn_miner_clear(tn_miner *m) {
    if (!m) return;
    free(m->name);
    free(m->owner);
    free(m->endpoint);
    free(m->pubkey_hex);
    memset(m, 0, sizeof *m);
}

void tn_catalog_model_clear(tn_catalog_model *m) {
    if (!m) return;
    free(m->name);
    free(m->manifest_hash);
    free(m->arch_json);
    memset(m, 0, sizeof *m);
}

void tn_catalog_dataset_clear(tn_catalog_dataset *d) {
    if (!d) return;
    free(d->name);
    free(d->blob_hash);
    free(d->mapping_json);
    memset(d, 0, sizeof *d);
}

void tn_task_clear(tn_task *t) {
    if (!t) return;
    free(t->model);
    free(t->dataset);
    free(t->failure_reason);
    free(t->train_hash);
    free(t->test_hash);
    free(t->synth_hash);
    free(t->params_json);
    memset(t, 0, sizeof *t);
}

void tn_offer_clear(tn_offer *o) {
    if (!o) return;
    free(o->message);
    memset(o, 0, sizeof *o);
}

void tn_submission_clear(tn_submission *b) {
    if (!b) return;
    free(b->token);
    free(b->manifest_json);
    free(b->content_hash);
    free(b->strategy);
    free(b->files_dir);
    memset(b, 0, sizeof *b);
}

void ss_clear_miner(void *p) { tn_miner_clear(p); }
void ss_clear_model(void *p) { tn_catalog_model_clear(p); }
void ss_clear_dataset(void *p) { tn_catalog_dataset_clear(p); }
void ss_clear_task(void *p) { tn_task_clear(p); }
void ss_clear_offer(void *p) { tn_offer_clear(p); }
void ss_clear_submission(void *p) { tn_submission_clear(p); }

void ss_clear_event(void *p) {
    tn_task_event *e = p;
    free(e->reason);
    memset(e, 0, sizeof *e);
}

void ss_clear_rule(void *p) {
    tn_rule_result *r = p;
    free(r->rule);
    free(r->numbers_json);
    free(r->reason);
    memset(r, 0, sizeof *r);
}

void ss_clear_score(void *p) {
    tn_score *c = p;
    free(c->invalid_reason);
    memset(c, 0, sizeof *c);
}

void ss_clear_flag(void *p) {
    tn_flag *f = p;
    free(f->rule);
    free(f->reason);
    memset(f, 0, sizeof *f);
}

void ss_clear_setting(void *p) {
    tn_setting *x = p;
    free(x->key);
    free(x->value);
    memset(x, 0, sizeof *x);
}

void tn_eval_clear(tn_eval *e) {
    if (!e) return;
    free(e->job_json);
    free(e->lease_owner);
    free(e->result_json);
    free(e->error);
    memset(e, 0, sizeof *e);
}

void ss_clear_eval(void *p) { tn_eval_clear(p); }

int ss_check_lease(const char *owner, int64_t lease_ms, int need_lease) {
    if (ss_nonempty(owner, "lease owner")) return TN_STORE_ERROR;
    if (need_lease && lease_ms <= 0)
        return ss_fail_code(TN_STORE_ERROR, "store: a lease of %lld ms is not a lease", (long long)lease_ms);
    return 0;
}

int ss_lease_lost(int64_t id, const char *owner, int found, const char *state, const char *holder,
                  int64_t expires, int64_t now, const char *what) {
    if (!found) return ss_fail_code(TN_STORE_NOT_FOUND, "store: no evaluation %lld", (long long)id);
    int running = !strcmp(state, "running");
    if (!running || !holder || strcmp(holder, owner) != 0)
        return ss_fail_code(TN_STORE_CONFLICT, "store: %s of evaluation %lld by '%s' refused: it is %s%s%s",
                            what, (long long)id, owner, state, running && holder ? ", leased to " : "",
                            running && holder ? holder : "");
    return ss_fail_code(TN_STORE_CONFLICT,
                        "store: %s of evaluation %lld by '%s' refused: its lease expired at %lld, now is %lld",
                        what, (long long)id, owner, (long long)expires, (long long)now);
}

/* Arrays: clear each element, then the array. */
#define FREE_ARRAY(fn, type, clear)                                                                \
    void fn(type *v, size_t n) {                                                                   \
        for (size_t i = 0; v && i < n; i++) clear(&v[i]);                                          \
        free(v);                                                                                   \
    }
FREE_ARRAY(tn_miners_free, tn_miner, ss_clear_miner)
FREE_ARRAY(tn_catalog_models_free, tn_catalog_model, ss_clear_model)
FREE_ARRAY(tn_catalog_datasets_free, tn_catalog_dataset, ss_clear_dataset)
FREE_ARRAY(tn_tasks_free, tn_task, ss_clear_task)
FREE_ARRAY(tn_task_events_free, tn_task_event, ss_clear_event)
FREE_ARRAY(tn_offers_free, tn_offer, ss_clear_offer)
FREE_ARRAY(tn_submissions_free, tn_submission, ss_clear_submission)
FREE_ARRAY(tn_rule_results_free, tn_rule_result, ss_clear_rule)
FREE_ARRAY(tn_scores_free, tn_score, ss_clear_score)
FREE_ARRAY(tn_flags_free, tn_flag, ss_clear_flag)
FREE_ARRAY(tn_settings_free, tn_setting, ss_clear_setting)
FREE_ARRAY(tn_evals_free, tn_eval, ss_clear_eval)
