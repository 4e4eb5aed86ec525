/* sqlite_store.c - the SQLite backend of store.h.
 *
 * Durability (docs/store.md has the full argument):
 *  - WAL journal: readers (dashboard, API) never block the writer and a
 *    commit is one append to the log; after kill -9 the next open replays or
 *    discards the log, so the database is always at a transaction boundary.
 *  - synchronous=FULL by default: the WAL is fsync'ed at every commit, so a
 *    commit the validator acknowledged (a miner's upload receipt) also
 *    survives power loss. The validator writes a few transactions a second
 *    at most, so the fsync costs nothing that matters. NORMAL (opts) is
 *    still safe against kill -9 and used by bulk jobs.
 *  - Every operation that writes runs in BEGIN IMMEDIATE ... COMMIT: the
 *    write lock is taken at BEGIN, so checks made inside the transaction
 *    (miner limits, compare-and-set states, deadlines) cannot be raced by
 *    another process; busy_timeout makes the loser wait instead of failing.
 *
 * Threads: one connection per tn_store, serialized by a mutex, because a
 * transaction is several statements on one connection and another thread's
 * statement must not land inside it. Processes open their own tn_store.
 */
#include "store/store.h"
#include "store/migrations.h"
#include "store/sqlite.h"
#include "base/err.h"
#include "base/mem.h"

#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct tn_store {
    tn_sqlite h; /* the connection (sqlite.h) */
    char *path;
    pthread_mutex_t mu;
    pid_t pid; /* the process that opened it; a forked child must not use it */
    int max_total, max_per_owner;
    tn_store_crash_hook hook;
    void *hook_arg;
};

/* ---- names of enumerations ------------------------------------------------ */

static const char *const task_states[TN_TASK_NSTATES] = {
    "pending", "preparing", "offering", "training", "evaluating", "scored", "failed"};
static const char *const offer_statuses[TN_OFFER_NSTATUS] = {
    "offered", "accepted", "rejected", "timeout", "started", "submitted", "evaluated"};
static const char *const decisions[] = {"pass", "fail", "flag"};
static const char *const sub_kinds[] = {"full", "adapter"};

static int parse_name(const char *const *names, int n, const char *s, int *out) {
    for (int i = 0; s && i < n; i++)
        if (!strcmp(names[i], s)) {
            *out = i;
            return 0;
        }
    return -1;
}

const char *tn_task_state_name(tn_task_state st) {
    return (unsigned)st < TN_TASK_NSTATES ? task_states[st] : "?";
}

int tn_task_state_parse(const char *name, tn_task_state *out) {
    int v;
    if (parse_name(task_states, TN_TASK_NSTATES, name, &v) != 0)
        return tn_fail("unknown task state '%s'", name ? name : "(null)");
    *out = (tn_task_state)v;
    return 0;
}

const char *tn_offer_status_name(tn_offer_status st) {
    return (unsigned)st < TN_OFFER_NSTATUS ? offer_statuses[st] : "?";
}

int tn_offer_status_parse(const char *name, tn_offer_status *out) {
    int v;
    if (parse_name(offer_statuses, TN_OFFER_NSTATUS, name, &v) != 0)
        return tn_fail("unknown offer status '%s'", name ? name : "(null)");
    *out = (tn_offer_status)v;
    return 0;
}

const char *tn_decision_name(tn_decision d) { return (unsigned)d < 3 ? decisions[d] : "?"; }

/* The task life cycle. `failed` is terminal; `scored -> evaluating` is a
 * rescore (new rules applied to old submissions). */
int tn_task_transition_allowed(tn_task_state from, tn_task_state to) {
    if ((unsigned)from >= TN_TASK_NSTATES || (unsigned)to >= TN_TASK_NSTATES) return 0;
    switch (from) {
    case TN_TASK_PENDING: return to == TN_TASK_PREPARING || to == TN_TASK_FAILED;
    case TN_TASK_PREPARING: return to == TN_TASK_OFFERING || to == TN_TASK_FAILED;
    case TN_TASK_OFFERING: return to == TN_TASK_TRAINING || to == TN_TASK_FAILED;
    case TN_TASK_TRAINING: return to == TN_TASK_EVALUATING || to == TN_TASK_FAILED;
    case TN_TASK_EVALUATING: return to == TN_TASK_SCORED || to == TN_TASK_FAILED;
    case TN_TASK_SCORED: return to == TN_TASK_EVALUATING;
    default: return 0;
    }
}

/* Offers: `timeout` means no answer to the offer in time. A miner that
 * accepted and never uploads stays accepted/started and scores r = 0.
 * Uploads move an offer to `submitted` through tn_store_submission_put. */
static int offer_edge_allowed(tn_offer_status from, tn_offer_status to) {
    switch (from) {
    case TN_OFFER_OFFERED:
        return to == TN_OFFER_ACCEPTED || to == TN_OFFER_REJECTED || to == TN_OFFER_TIMEOUT;
    case TN_OFFER_ACCEPTED: return to == TN_OFFER_STARTED;
    case TN_OFFER_SUBMITTED: return to == TN_OFFER_EVALUATED;
    default: return 0;
    }
}

/* ---- errors, locking, transactions ------------------------------------------ */

static int fail_code(int code, const char *fmt, ...) TN_PRINTF(2, 3);
static int fail_code(int code, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    tn_fail("%s", buf);
    return code;
}

static int enter(tn_store *s) {
    if (!s) return tn_fail("store: NULL handle");
    if (getpid() != s->pid)
        return tn_fail("store %s: handle used in a forked child; open a new one", s->path);
    pthread_mutex_lock(&s->mu);
    return 0;
}

static int leave(tn_store *s, int rc) {
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void hook(tn_store *s, const char *point) {
    if (s->hook) s->hook(point, s->hook_arg);
}

/* enter + begin; on failure the mutex is released. */
static int enter_tx(tn_store *s) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_begin(&s->h);
    if (rc != 0) leave(s, rc);
    return rc;
}

static int leave_tx(tn_store *s, int rc) { return leave(s, tn_sqlite_finish(&s->h, rc)); }

/* ---- reading rows ------------------------------------------------------------- */

static int col_enum(sqlite3_stmt *st, int i, const char *const *names, int n, int *out) {
    const char *v = (const char *)sqlite3_column_text(st, i);
    if (parse_name(names, n, v, out) != 0)
        return tn_fail("store: column %s holds unknown value '%s'", sqlite3_column_name(st, i),
                       v ? v : "NULL");
    return 0;
}

/* Exactly one row into *out (zeroed first): NOT_FOUND with `what` when none. */
static int fetch_one(tn_store *s, sqlite3_stmt *st, size_t size, tn_sqlite_row_fn row, void *out,
                     const char *what) {
    int rc = tn_sqlite_fetch_one(&s->h, st, size, row, out);
    return rc == TN_STORE_NOT_FOUND ? fail_code(rc, "store: %s", what) : rc;
}

/* ---- open, migrate, close ------------------------------------------------------- */

/* Brings the schema to `target`, all pending migrations in one transaction:
 * a crash mid-way leaves the old version, never half of a new one. */
static int migrate(tn_store *s, int target) {
    int rc = tn_sqlite_begin(&s->h);
    if (rc != 0) return rc;
    int64_t cur = 0, ntables = 0;
    rc = tn_sqlite_scalar(&s->h, &ntables,
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
                NULL);
    if (rc == 0 && ntables == 0) {
        int64_t others = 0;
        rc = tn_sqlite_scalar(&s->h, &others, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'", NULL);
        if (rc == 0 && others > 0)
            rc = fail_code(TN_STORE_ERROR,
                           "store %s: not a tuna store (it has tables but no schema_version)",
                           s->path);
        if (rc == 0)
            rc = tn_sqlite_exec(&s->h,
                          "CREATE TABLE schema_version (\n"
                          "  version    INTEGER PRIMARY KEY,\n"
                          "  what       TEXT NOT NULL,\n"
                          "  applied_at INTEGER NOT NULL\n"
                          ")",
                          "creating schema_version");
    }
    if (rc == 0) rc = tn_sqlite_scalar(&s->h, &cur, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL);
    if (rc == 0 && cur > TN_STORE_SCHEMA_VERSION)
        rc = fail_code(TN_STORE_ERROR,
                       "store %s: database schema version %lld is newer than this build of tuna "
                       "understands (%d); upgrade tuna, do not downgrade a live database",
                       s->path, (long long)cur, TN_STORE_SCHEMA_VERSION);
    /* applied_at is the only time the store reads the clock itself: it is
     * informational and has no validator clock to come from. */
    int64_t now = (int64_t)time(NULL) * 1000;
    for (int i = 0; rc == 0 && i < tn_store_nmigrations; i++) {
        const tn_migration *m = &tn_store_migrations[i];
        if (m->version <= cur || m->version > target) continue;
        char what[64];
        snprintf(what, sizeof what, "migration %d", m->version);
        rc = tn_sqlite_exec(&s->h, m->sql, what);
        if (rc == 0)
            rc = tn_sqlite_run(&s->h, what, "INSERT INTO schema_version (version, what, applied_at) VALUES (?, ?, ?)",
                     "iti", (int64_t)m->version, m->what, now);
    }
    return tn_sqlite_finish(&s->h, rc);
}

tn_store *tn_store_open(const char *url, const tn_store_opts *opts) {
    if (!url || !*url) {
        tn_fail("store: empty location");
        return NULL;
    }
    if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13)) {
        tn_fail("store %s: the PostgreSQL backend is not built in this version; use sqlite:PATH",
                url);
        return NULL;
    }
    const char *path = !strncmp(url, "sqlite:", 7) ? url + 7 : url;
    if (sodium_init() < 0) { /* tokens come from randombytes_buf */
        tn_fail("store: libsodium initialisation failed");
        return NULL;
    }
    tn_store_opts o = opts ? *opts : (tn_store_opts){0};
    tn_store *s = tn_calloc(1, sizeof *s);
    s->path = tn_strdup(path);
    s->pid = getpid();
    s->max_total = o.max_miners_total > 0 ? o.max_miners_total : 20;
    s->max_per_owner = o.max_miners_per_owner > 0 ? o.max_miners_per_owner : 5;
    pthread_mutex_init(&s->mu, NULL);
    int target = o.migrate_to > 0 && o.migrate_to < TN_STORE_SCHEMA_VERSION ? o.migrate_to
                                                                             : TN_STORE_SCHEMA_VERSION;

    char *name = tn_sprintf("store %s", path);
    tn_sqlite_opts so = {.create = 1, .busy_ms = o.busy_timeout_ms > 0 ? o.busy_timeout_ms : 10000,
                         .full_sync = !o.relaxed_sync, .foreign_keys = 1, .require_wal = 1};
    int rc = tn_sqlite_open(&s->h, path, name, &so);
    free(name);
    if (rc != 0) goto fail;
    if (migrate(s, target) != 0) goto fail;
    return s;
fail:
    tn_store_close(s);
    return NULL;
}

void tn_store_close(tn_store *s) {
    if (!s) return;
    /* In a forked child the connection belongs to the parent (SQLite forbids
     * using it across fork); closing it here could disturb the parent's
     * locks, so only our own memory is released. */
    if (getpid() == s->pid)
        tn_sqlite_close(&s->h);
    else
        tn_sqlite_forget(&s->h);
    pthread_mutex_destroy(&s->mu);
    free(s->path);
    free(s);
}

int tn_store_schema_version(tn_store *s, int *out) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int64_t v = 0;
    int rc = tn_sqlite_scalar(&s->h, &v, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL);
    if (rc == 0) *out = (int)v;
    return leave(s, rc);
}

int tn_store_check(tn_store *s) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    char res[256] = "";
    int rc = tn_sqlite_pragma_text(&s->h, "PRAGMA integrity_check", res, sizeof res);
    if (rc == 0 && strcmp(res, "ok") != 0)
        rc = fail_code(TN_STORE_ERROR, "store %s: integrity check: %s", s->path, res);
    if (rc == 0) {
        res[0] = 0;
        rc = tn_sqlite_pragma_text(&s->h, "PRAGMA foreign_key_check", res, sizeof res);
        if (rc == 0 && res[0])
            rc = fail_code(TN_STORE_ERROR, "store %s: foreign key violation in table %s", s->path,
                           res);
    }
    return leave(s, rc);
}

void tn_store_set_crash_hook(tn_store *s, tn_store_crash_hook h, void *arg) {
    s->hook = h;
    s->hook_arg = arg;
}

static int nonempty(const char *v, const char *what) {
    if (!v || !*v) return tn_fail("store: %s is required", what);
    return 0;
}

static int is_hex64(const char *v) {
    if (!v || strlen(v) != 64) return 0;
    for (const char *p = v; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

static const char *json_or_empty(const char *j) { return j && *j ? j : "{}"; }

/* ---- miners ------------------------------------------------------------------------- */

#define MINER_COLS "id, name, owner, endpoint, pubkey, enabled, created_at"

static int row_miner(sqlite3_stmt *st, void *out) {
    tn_miner *m = out;
    m->id = tn_sqlite_col_i64(st, 0);
    m->name = tn_sqlite_col_str(st, 1);
    m->owner = tn_sqlite_col_str(st, 2);
    m->endpoint = tn_sqlite_col_str(st, 3);
    m->pubkey_hex = tn_sqlite_col_str(st, 4);
    m->enabled = (int)tn_sqlite_col_i64(st, 5);
    m->created_at = tn_sqlite_col_i64(st, 6);
    return 0;
}

void tn_miner_clear(tn_miner *m) {
    if (!m) return;
    free(m->name);
    free(m->owner);
    free(m->endpoint);
    free(m->pubkey_hex);
    memset(m, 0, sizeof *m);
}

static void clear_miner(void *p) { tn_miner_clear(p); }

void tn_miners_free(tn_miner *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) tn_miner_clear(&v[i]);
    free(v);
}

int tn_store_miner_add(tn_store *s, const tn_miner *in, int64_t *id_out) {
    if (nonempty(in->name, "miner name") || nonempty(in->owner, "miner owner") ||
        nonempty(in->endpoint, "miner endpoint"))
        return TN_STORE_ERROR;
    if (!is_hex64(in->pubkey_hex))
        return tn_fail("store: miner '%s': public key must be 64 lowercase hex characters",
                       in->name);
    int rc = enter_tx(s);
    if (rc != 0) return rc;
    int64_t v = 0;
    if ((rc = tn_sqlite_scalar(&s->h, &v, "SELECT id FROM miners WHERE name = ?", "t", in->name)) == 0) {
        rc = fail_code(TN_STORE_EXISTS, "store: a miner named '%s' is already registered",
                       in->name);
        goto out;
    }
    if (rc != TN_STORE_NOT_FOUND) goto out;
    if ((rc = tn_sqlite_scalar(&s->h, &v, "SELECT id FROM miners WHERE pubkey = ?", "t", in->pubkey_hex)) == 0) {
        rc = fail_code(TN_STORE_EXISTS,
                       "store: miner '%s': public key already registered to miner id %lld",
                       in->name, (long long)v);
        goto out;
    }
    if (rc != TN_STORE_NOT_FOUND) goto out;
    /* Counted inside the write transaction: two concurrent registrations
     * cannot both see room for one more. */
    if ((rc = tn_sqlite_scalar(&s->h, &v, "SELECT COUNT(*) FROM miners WHERE owner = ?", "t", in->owner)) != 0)
        goto out;
    if (v >= s->max_per_owner) {
        rc = fail_code(TN_STORE_LIMIT,
                       "store: participant '%s' already has %lld miners (at most %d per participant)",
                       in->owner, (long long)v, s->max_per_owner);
        goto out;
    }
    if ((rc = tn_sqlite_scalar(&s->h, &v, "SELECT COUNT(*) FROM miners", NULL)) != 0) goto out;
    if (v >= s->max_total) {
        rc = fail_code(TN_STORE_LIMIT,
                       "store: %lld miners already registered (at most %d in this competition)",
                       (long long)v, s->max_total);
        goto out;
    }
    rc = tn_sqlite_run(&s->h, "adding miner",
             "INSERT INTO miners (name, owner, endpoint, pubkey, enabled, created_at) "
             "VALUES (?, ?, ?, ?, ?, ?)",
             "ttttii", in->name, in->owner, in->endpoint, in->pubkey_hex,
             (int64_t)(in->enabled ? 1 : 0), in->created_at);
    if (rc == 0 && id_out) *id_out = sqlite3_last_insert_rowid(s->h.db);
out:
    return leave_tx(s, rc);
}

int tn_store_miner_get(tn_store *s, int64_t id, tn_miner *out) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    char what[64];
    snprintf(what, sizeof what, "no miner with id %lld", (long long)id);
    int rc = fetch_one(s, tn_sqlite_q(&s->h, "SELECT " MINER_COLS " FROM miners WHERE id = ?", "i", id),
                       sizeof *out, row_miner, out, what);
    return leave(s, rc);
}

int tn_store_miner_by_name(tn_store *s, const char *name, tn_miner *out) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    char what[256];
    snprintf(what, sizeof what, "no miner named '%s'", name ? name : "");
    int rc = fetch_one(s, tn_sqlite_q(&s->h, "SELECT " MINER_COLS " FROM miners WHERE name = ?", "t", name),
                       sizeof *out, row_miner, out, what);
    return leave(s, rc);
}

int tn_store_miner_by_key(tn_store *s, const char *pubkey_hex, tn_miner *out) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = fetch_one(s, tn_sqlite_q(&s->h, "SELECT " MINER_COLS " FROM miners WHERE pubkey = ?", "t", pubkey_hex),
                       sizeof *out, row_miner, out, "no miner with this public key");
    return leave(s, rc);
}

int tn_store_miner_list(tn_store *s, int enabled_only, tn_miner **v, size_t *n) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    sqlite3_stmt *st = tn_sqlite_q(&s->h, "SELECT " MINER_COLS " FROM miners WHERE enabled >= ? ORDER BY id", "i",
                         (int64_t)(enabled_only ? 1 : 0));
    int rc = tn_sqlite_fetch_all(&s->h, st, sizeof **v, row_miner, clear_miner, (void **)v, n);
    return leave(s, rc);
}

int tn_store_miner_set_enabled(tn_store *s, const char *name, int enabled) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_run(&s->h, "enabling miner", "UPDATE miners SET enabled = ? WHERE name = ?", "it",
                 (int64_t)(enabled ? 1 : 0), name);
    if (rc == 0 && sqlite3_changes(s->h.db) == 0)
        rc = fail_code(TN_STORE_NOT_FOUND, "store: no miner named '%s'", name ? name : "");
    return leave(s, rc);
}

/* ---- catalog ------------------------------------------------------------------------- */

#define MODEL_COLS "id, name, manifest_hash, arch_json, created_at"
#define DATASET_COLS "id, name, blob_hash, mapping_json, row_count, created_at"

static int row_model(sqlite3_stmt *st, void *out) {
    tn_catalog_model *m = out;
    m->id = tn_sqlite_col_i64(st, 0);
    m->name = tn_sqlite_col_str(st, 1);
    m->manifest_hash = tn_sqlite_col_str(st, 2);
    m->arch_json = tn_sqlite_col_str(st, 3);
    m->created_at = tn_sqlite_col_i64(st, 4);
    return 0;
}

void tn_catalog_model_clear(tn_catalog_model *m) {
    if (!m) return;
    free(m->name);
    free(m->manifest_hash);
    free(m->arch_json);
    memset(m, 0, sizeof *m);
}

static void clear_model(void *p) { tn_catalog_model_clear(p); }

void tn_catalog_models_free(tn_catalog_model *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) tn_catalog_model_clear(&v[i]);
    free(v);
}

static int row_dataset(sqlite3_stmt *st, void *out) {
    tn_catalog_dataset *d = out;
    d->id = tn_sqlite_col_i64(st, 0);
    d->name = tn_sqlite_col_str(st, 1);
    d->blob_hash = tn_sqlite_col_str(st, 2);
    d->mapping_json = tn_sqlite_col_str(st, 3);
    d->row_count = tn_sqlite_col_i64(st, 4);
    d->created_at = tn_sqlite_col_i64(st, 5);
    return 0;
}

void tn_catalog_dataset_clear(tn_catalog_dataset *d) {
    if (!d) return;
    free(d->name);
    free(d->blob_hash);
    free(d->mapping_json);
    memset(d, 0, sizeof *d);
}

static void clear_dataset(void *p) { tn_catalog_dataset_clear(p); }

void tn_catalog_datasets_free(tn_catalog_dataset *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) tn_catalog_dataset_clear(&v[i]);
    free(v);
}

/* Shared by models and datasets: same name + same hash is a no-op. */
static int catalog_check(tn_store *s, const char *what, const char *sql, const char *name,
                         const char *hash, int *exists) {
    *exists = 0;
    sqlite3_stmt *st = tn_sqlite_q(&s->h, sql, "t", name);
    if (!st) return TN_STORE_ERROR;
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW) {
        const char *old = (const char *)sqlite3_column_text(st, 0);
        if (old && !strcmp(old, hash))
            *exists = 1;
        else
            ret = fail_code(TN_STORE_EXISTS,
                            "store: %s '%s' already exists with different content (%.12s...); "
                            "catalog names never change content, pick a new name",
                            what, name, old ? old : "");
    } else if (rc != SQLITE_DONE) {
        ret = tn_sqlite_fail(&s->h, what);
    }
    tn_sqlite_done(st);
    return ret;
}

int tn_store_model_add(tn_store *s, const tn_catalog_model *in) {
    if (nonempty(in->name, "model name")) return TN_STORE_ERROR;
    if (!is_hex64(in->manifest_hash))
        return tn_fail("store: model '%s': manifest hash must be 64 lowercase hex", in->name);
    int rc = enter_tx(s), exists = 0;
    if (rc != 0) return rc;
    rc = catalog_check(s, "model", "SELECT manifest_hash FROM models WHERE name = ?", in->name,
                       in->manifest_hash, &exists);
    if (rc == 0 && !exists)
        rc = tn_sqlite_run(&s->h, "adding model",
                 "INSERT INTO models (name, manifest_hash, arch_json, created_at) VALUES (?, ?, ?, ?)",
                 "ttti", in->name, in->manifest_hash, json_or_empty(in->arch_json), in->created_at);
    return leave_tx(s, rc);
}

int tn_store_model_get(tn_store *s, const char *name, tn_catalog_model *out) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    char what[256];
    snprintf(what, sizeof what, "no model named '%s'", name ? name : "");
    int rc = fetch_one(s, tn_sqlite_q(&s->h, "SELECT " MODEL_COLS " FROM models WHERE name = ?", "t", name),
                       sizeof *out, row_model, out, what);
    return leave(s, rc);
}

int tn_store_model_list(tn_store *s, tn_catalog_model **v, size_t *n) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h, tn_sqlite_q(&s->h, "SELECT " MODEL_COLS " FROM models ORDER BY name", NULL),
        sizeof **v, row_model, clear_model, (void **)v, n);
    return leave(s, rc);
}

int tn_store_dataset_add(tn_store *s, const tn_catalog_dataset *in) {
    if (nonempty(in->name, "dataset name")) return TN_STORE_ERROR;
    if (!is_hex64(in->blob_hash))
        return tn_fail("store: dataset '%s': blob hash must be 64 lowercase hex", in->name);
    if (in->row_count < 0) return tn_fail("store: dataset '%s': negative row count", in->name);
    int rc = enter_tx(s), exists = 0;
    if (rc != 0) return rc;
    rc = catalog_check(s, "dataset", "SELECT blob_hash FROM datasets WHERE name = ?", in->name,
                       in->blob_hash, &exists);
    if (rc == 0 && !exists)
        rc = tn_sqlite_run(&s->h, "adding dataset",
                 "INSERT INTO datasets (name, blob_hash, mapping_json, row_count, created_at) "
                 "VALUES (?, ?, ?, ?, ?)",
                 "tttii", in->name, in->blob_hash, json_or_empty(in->mapping_json), in->row_count,
                 in->created_at);
    return leave_tx(s, rc);
}

int tn_store_dataset_get(tn_store *s, const char *name, tn_catalog_dataset *out) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    char what[256];
    snprintf(what, sizeof what, "no dataset named '%s'", name ? name : "");
    int rc = fetch_one(s, tn_sqlite_q(&s->h, "SELECT " DATASET_COLS " FROM datasets WHERE name = ?", "t", name),
                       sizeof *out, row_dataset, out, what);
    return leave(s, rc);
}

int tn_store_dataset_list(tn_store *s, tn_catalog_dataset **v, size_t *n) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h, tn_sqlite_q(&s->h, "SELECT " DATASET_COLS " FROM datasets ORDER BY name", NULL),
        sizeof **v, row_dataset, clear_dataset, (void **)v, n);
    return leave(s, rc);
}

/* ---- tasks ------------------------------------------------------------------------- */

/* `minutes` holds tn_task.time_limit_ms (milliseconds; store.h says why the
 * column keeps its first name). */
#define TASK_COLS                                                                              \
    "id, model, dataset, state, failure_reason, created_at, updated_at, deadline, minutes, "   \
    "split_seed, train_hash, test_hash, synth_hash, params_json"

static int row_task(sqlite3_stmt *st, void *out) {
    tn_task *t = out;
    int state;
    if (col_enum(st, 3, task_states, TN_TASK_NSTATES, &state) != 0) return -1;
    t->id = tn_sqlite_col_i64(st, 0);
    t->model = tn_sqlite_col_str(st, 1);
    t->dataset = tn_sqlite_col_str(st, 2);
    t->state = (tn_task_state)state;
    t->failure_reason = tn_sqlite_col_str(st, 4);
    t->created_at = tn_sqlite_col_i64(st, 5);
    t->updated_at = tn_sqlite_col_i64(st, 6);
    t->deadline = tn_sqlite_col_i64(st, 7);
    t->time_limit_ms = tn_sqlite_col_i64(st, 8);
    t->split_seed = tn_sqlite_col_i64(st, 9);
    t->train_hash = tn_sqlite_col_str(st, 10);
    t->test_hash = tn_sqlite_col_str(st, 11);
    t->synth_hash = tn_sqlite_col_str(st, 12);
    t->params_json = tn_sqlite_col_str(st, 13);
    return 0;
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

static void clear_task(void *p) { tn_task_clear(p); }

void tn_tasks_free(tn_task *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) tn_task_clear(&v[i]);
    free(v);
}

static int add_event(tn_store *s, int64_t task_id, const char *from, const char *to,
                     const char *reason, int64_t now) {
    return tn_sqlite_run(&s->h, "recording task event",
               "INSERT INTO task_events (task_id, from_state, to_state, reason, at) "
               "VALUES (?, ?, ?, ?, ?)",
               "ittti", task_id, from, to, reason, now);
}

int tn_store_task_create(tn_store *s, const tn_task *in, int64_t *id_out) {
    if (in->time_limit_ms <= 0) return tn_fail("store: task needs a positive time limit (time_limit_ms)");
    int rc = enter_tx(s);
    if (rc != 0) return rc;
    int64_t v;
    /* Explicit checks give a better message than a foreign key failure. */
    rc = tn_sqlite_scalar(&s->h, &v, "SELECT id FROM models WHERE name = ?", "t", in->model);
    if (rc == TN_STORE_NOT_FOUND)
        rc = fail_code(TN_STORE_NOT_FOUND, "store: task: no model named '%s' in the catalog",
                       in->model ? in->model : "");
    if (rc == 0) {
        rc = tn_sqlite_scalar(&s->h, &v, "SELECT id FROM datasets WHERE name = ?", "t", in->dataset);
        if (rc == TN_STORE_NOT_FOUND)
            rc = fail_code(TN_STORE_NOT_FOUND, "store: task: no dataset named '%s' in the catalog",
                           in->dataset ? in->dataset : "");
    }
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "creating task",
                 "INSERT INTO tasks (model, dataset, state, created_at, updated_at, deadline, "
                 "minutes, split_seed, train_hash, test_hash, synth_hash, params_json) "
                 "VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 "ttiiiiitttt", in->model, in->dataset, in->created_at, in->created_at,
                 in->deadline, in->time_limit_ms, in->split_seed, in->train_hash, in->test_hash,
                 in->synth_hash, json_or_empty(in->params_json));
    int64_t id = rc == 0 ? sqlite3_last_insert_rowid(s->h.db) : 0;
    if (rc == 0) rc = add_event(s, id, NULL, "pending", "created", in->created_at);
    if (rc == 0 && id_out) *id_out = id;
    return leave_tx(s, rc);
}

int tn_store_task_get(tn_store *s, int64_t id, tn_task *out) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    char what[64];
    snprintf(what, sizeof what, "no task with id %lld", (long long)id);
    int rc = fetch_one(s, tn_sqlite_q(&s->h, "SELECT " TASK_COLS " FROM tasks WHERE id = ?", "i", id), sizeof *out,
                       row_task, out, what);
    return leave(s, rc);
}

int tn_store_task_list(tn_store *s, int state, tn_task **v, size_t *n) {
    if (state >= TN_TASK_NSTATES) return tn_fail("store: unknown task state %d", state);
    if (enter(s) != 0) return TN_STORE_ERROR;
    sqlite3_stmt *st =
        state < 0 ? tn_sqlite_q(&s->h, "SELECT " TASK_COLS " FROM tasks ORDER BY id", NULL)
                  : tn_sqlite_q(&s->h, "SELECT " TASK_COLS " FROM tasks WHERE state = ? ORDER BY id", "t",
                      task_states[state]);
    int rc = tn_sqlite_fetch_all(&s->h, st, sizeof **v, row_task, clear_task, (void **)v, n);
    return leave(s, rc);
}

int tn_store_task_transition(tn_store *s, int64_t id, tn_task_state from, tn_task_state to,
                             const char *reason, int64_t now) {
    return tn_store_task_transition_ex(s, id, from, to, reason, now, NULL);
}

/* Reads a text column of one row by id into buf ("" for NULL). */
static int read_text(tn_store *s, const char *sql, int64_t id, char *buf, size_t cap) {
    sqlite3_stmt *st = tn_sqlite_q(&s->h, sql, "i", id);
    if (!st) return TN_STORE_ERROR;
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        snprintf(buf, cap, "%s", v ? (const char *)v : "");
    } else {
        ret = rc == SQLITE_DONE ? TN_STORE_NOT_FOUND : tn_sqlite_fail(&s->h, "query");
    }
    tn_sqlite_done(st);
    return ret;
}

int tn_store_task_transition_ex(tn_store *s, int64_t id, tn_task_state from, tn_task_state to,
                                const char *reason, int64_t now, const tn_task_patch *patch) {
    if (!tn_task_transition_allowed(from, to))
        return tn_fail("store: task %lld: transition %s -> %s is not allowed", (long long)id,
                       tn_task_state_name(from), tn_task_state_name(to));
    tn_task_patch p = patch ? *patch : (tn_task_patch){0};
    int rc = enter_tx(s);
    if (rc != 0) return rc;
    char cur[32];
    rc = read_text(s, "SELECT state FROM tasks WHERE id = ?", id, cur, sizeof cur);
    if (rc == TN_STORE_NOT_FOUND) {
        rc = fail_code(TN_STORE_NOT_FOUND, "store: no task with id %lld", (long long)id);
        goto out;
    }
    if (rc != 0) goto out;
    if (strcmp(cur, task_states[from]) != 0) {
        rc = fail_code(TN_STORE_CONFLICT,
                       "store: task %lld is '%s', not '%s': its state changed under you "
                       "(another worker moved it); re-read it",
                       (long long)id, cur, task_states[from]);
        goto out;
    }
    /* The WHERE on state repeats the compare-and-set in the statement itself,
     * which is what a backend without IMMEDIATE transactions relies on. */
    rc = tn_sqlite_run(&s->h, "moving task",
             "UPDATE tasks SET state = ?, updated_at = ?, "
             "  failure_reason = CASE WHEN ? = 'failed' THEN ? ELSE failure_reason END, "
             "  deadline = CASE WHEN ? > 0 THEN ? ELSE deadline END, "
             "  train_hash = COALESCE(?, train_hash), test_hash = COALESCE(?, test_hash), "
             "  synth_hash = COALESCE(?, synth_hash) "
             "WHERE id = ? AND state = ?",
             "tittiitttit", task_states[to], now, task_states[to], reason, p.deadline, p.deadline,
             p.train_hash, p.test_hash, p.synth_hash, id, task_states[from]);
    if (rc == 0 && sqlite3_changes(s->h.db) != 1)
        rc = fail_code(TN_STORE_CONFLICT, "store: task %lld changed under you", (long long)id);
    if (rc == 0) rc = add_event(s, id, task_states[from], task_states[to], reason, now);
    if (rc == 0) hook(s, "task_transition:before_commit");
out:
    return leave_tx(s, rc);
}

static int row_event(sqlite3_stmt *st, void *out) {
    tn_task_event *e = out;
    int from = -1, to;
    if (sqlite3_column_type(st, 2) != SQLITE_NULL &&
        col_enum(st, 2, task_states, TN_TASK_NSTATES, &from) != 0)
        return -1;
    if (col_enum(st, 3, task_states, TN_TASK_NSTATES, &to) != 0) return -1;
    e->id = tn_sqlite_col_i64(st, 0);
    e->task_id = tn_sqlite_col_i64(st, 1);
    e->from = (tn_task_state)from;
    e->to = (tn_task_state)to;
    e->reason = tn_sqlite_col_str(st, 4);
    e->at = tn_sqlite_col_i64(st, 5);
    return 0;
}

static void clear_event(void *p) {
    tn_task_event *e = p;
    free(e->reason);
    memset(e, 0, sizeof *e);
}

void tn_task_events_free(tn_task_event *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) clear_event(&v[i]);
    free(v);
}

int tn_store_task_events(tn_store *s, int64_t task_id, tn_task_event **v, size_t *n) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h,
                    "SELECT id, task_id, from_state, to_state, reason, at FROM task_events "
                    "WHERE task_id = ? ORDER BY id",
                    "i", task_id),
        sizeof **v, row_event, clear_event, (void **)v, n);
    return leave(s, rc);
}

/* ---- offers ------------------------------------------------------------------------- */

#define OFFER_COLS "task_id, miner_id, status, token, offered_at, answered_at, updated_at, message"

static int row_offer(sqlite3_stmt *st, void *out) {
    tn_offer *o = out;
    int status;
    if (col_enum(st, 2, offer_statuses, TN_OFFER_NSTATUS, &status) != 0) return -1;
    o->task_id = tn_sqlite_col_i64(st, 0);
    o->miner_id = tn_sqlite_col_i64(st, 1);
    o->status = (tn_offer_status)status;
    const unsigned char *tok = sqlite3_column_text(st, 3);
    snprintf(o->token, sizeof o->token, "%s", tok ? (const char *)tok : "");
    o->offered_at = tn_sqlite_col_i64(st, 4);
    o->answered_at = tn_sqlite_col_i64(st, 5);
    o->updated_at = tn_sqlite_col_i64(st, 6);
    o->message = tn_sqlite_col_str(st, 7);
    return 0;
}

void tn_offer_clear(tn_offer *o) {
    if (!o) return;
    free(o->message);
    memset(o, 0, sizeof *o);
}

static void clear_offer(void *p) { tn_offer_clear(p); }

void tn_offers_free(tn_offer *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) tn_offer_clear(&v[i]);
    free(v);
}

int tn_store_offer_create(tn_store *s, int64_t task_id, int64_t miner_id, int64_t now,
                          char token_out[TN_TOKEN_HEX + 1]) {
    /* 128 random bits: unguessable, so the token also authorises the upload
     * path together with the miner's signature. */
    unsigned char raw[TN_TOKEN_HEX / 2];
    char token[TN_TOKEN_HEX + 1];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(token, sizeof token, raw, sizeof raw);
    int rc = enter_tx(s);
    if (rc != 0) return rc;
    int64_t v;
    rc = tn_sqlite_scalar(&s->h, &v, "SELECT id FROM tasks WHERE id = ?", "i", task_id);
    if (rc == TN_STORE_NOT_FOUND)
        rc = fail_code(rc, "store: offer: no task with id %lld", (long long)task_id);
    if (rc == 0) {
        rc = tn_sqlite_scalar(&s->h, &v, "SELECT enabled FROM miners WHERE id = ?", "i", miner_id);
        if (rc == TN_STORE_NOT_FOUND)
            rc = fail_code(rc, "store: offer: no miner with id %lld", (long long)miner_id);
        else if (rc == 0 && !v)
            rc = fail_code(TN_STORE_REFUSED, "store: offer: miner %lld is disabled",
                           (long long)miner_id);
    }
    if (rc == 0 && tn_sqlite_scalar(&s->h, &v, "SELECT 1 FROM offers WHERE task_id = ? AND miner_id = ?", "ii",
                          task_id, miner_id) == 0)
        rc = fail_code(TN_STORE_EXISTS, "store: miner %lld already has an offer for task %lld",
                       (long long)miner_id, (long long)task_id);
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "recording offer",
                 "INSERT INTO offers (task_id, miner_id, status, token, offered_at, updated_at) "
                 "VALUES (?, ?, 'offered', ?, ?, ?)",
                 "iitii", task_id, miner_id, token, now, now);
    if (rc == 0 && token_out) memcpy(token_out, token, sizeof token);
    return leave_tx(s, rc);
}

int tn_store_offer_update(tn_store *s, int64_t task_id, int64_t miner_id, tn_offer_status from,
                          tn_offer_status to, const char *message, int64_t now) {
    if ((unsigned)from >= TN_OFFER_NSTATUS || (unsigned)to >= TN_OFFER_NSTATUS ||
        !offer_edge_allowed(from, to))
        return tn_fail("store: offer (task %lld, miner %lld): %s -> %s is not allowed",
                       (long long)task_id, (long long)miner_id, tn_offer_status_name(from),
                       tn_offer_status_name(to));
    int rc = enter_tx(s);
    if (rc != 0) return rc;
    sqlite3_stmt *st = tn_sqlite_q(&s->h, "SELECT status FROM offers WHERE task_id = ? AND miner_id = ?", "ii",
                         task_id, miner_id);
    char cur[32] = "";
    if (!st) {
        rc = TN_STORE_ERROR;
        goto out;
    }
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        snprintf(cur, sizeof cur, "%s", (const char *)sqlite3_column_text(st, 0));
    else if (step == SQLITE_DONE)
        rc = fail_code(TN_STORE_NOT_FOUND, "store: no offer of task %lld to miner %lld",
                       (long long)task_id, (long long)miner_id);
    else
        rc = tn_sqlite_fail(&s->h, "reading offer");
    tn_sqlite_done(st);
    if (rc == 0 && strcmp(cur, offer_statuses[from]) != 0)
        rc = fail_code(TN_STORE_CONFLICT,
                       "store: offer of task %lld to miner %lld is '%s', not '%s': it changed "
                       "under you",
                       (long long)task_id, (long long)miner_id, cur, offer_statuses[from]);
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "updating offer",
                 "UPDATE offers SET status = ?, updated_at = ?, message = COALESCE(?, message), "
                 "  answered_at = CASE WHEN ? = 'offered' THEN ? ELSE answered_at END "
                 "WHERE task_id = ? AND miner_id = ? AND status = ?",
                 "tittiiit", offer_statuses[to], now, message,
                 offer_statuses[from], now, task_id, miner_id, offer_statuses[from]);
    if (rc == 0) hook(s, "offer_update:before_commit");
out:
    return leave_tx(s, rc);
}

int tn_store_offer_get(tn_store *s, int64_t task_id, int64_t miner_id, tn_offer *out) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    char what[96];
    snprintf(what, sizeof what, "no offer of task %lld to miner %lld", (long long)task_id,
             (long long)miner_id);
    int rc = fetch_one(
        s, tn_sqlite_q(&s->h, "SELECT " OFFER_COLS " FROM offers WHERE task_id = ? AND miner_id = ?", "ii", task_id,
             miner_id),
        sizeof *out, row_offer, out, what);
    return leave(s, rc);
}

int tn_store_offer_by_token(tn_store *s, const char *token, tn_offer *out) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = fetch_one(s, tn_sqlite_q(&s->h, "SELECT " OFFER_COLS " FROM offers WHERE token = ?", "t", token),
                       sizeof *out, row_offer, out, "unknown submission token");
    return leave(s, rc);
}

int tn_store_offers_for_task(tn_store *s, int64_t task_id, tn_offer **v, size_t *n) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h, "SELECT " OFFER_COLS " FROM offers WHERE task_id = ? ORDER BY miner_id",
                    "i", task_id),
        sizeof **v, row_offer, clear_offer, (void **)v, n);
    return leave(s, rc);
}

int tn_store_offers_for_miner(tn_store *s, int64_t miner_id, tn_offer **v, size_t *n) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h, "SELECT " OFFER_COLS " FROM offers WHERE miner_id = ? ORDER BY task_id",
                    "i", miner_id),
        sizeof **v, row_offer, clear_offer, (void **)v, n);
    return leave(s, rc);
}

/* ---- submissions --------------------------------------------------------------------- */

#define SUB_COLS                                                                               \
    "id, task_id, miner_id, token, received_at, kind, manifest_json, content_hash, strategy, " \
    "files_dir, uploads"

static int row_submission(sqlite3_stmt *st, void *out) {
    tn_submission *b = out;
    int kind;
    if (col_enum(st, 5, sub_kinds, 2, &kind) != 0) return -1;
    b->id = tn_sqlite_col_i64(st, 0);
    b->task_id = tn_sqlite_col_i64(st, 1);
    b->miner_id = tn_sqlite_col_i64(st, 2);
    b->token = tn_sqlite_col_str(st, 3);
    b->received_at = tn_sqlite_col_i64(st, 4);
    b->kind = (tn_submission_kind)kind;
    b->manifest_json = tn_sqlite_col_str(st, 6);
    b->content_hash = tn_sqlite_col_str(st, 7);
    b->strategy = tn_sqlite_col_str(st, 8);
    b->files_dir = tn_sqlite_col_str(st, 9);
    b->uploads = tn_sqlite_col_i64(st, 10);
    return 0;
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

static void clear_submission(void *p) { tn_submission_clear(p); }

void tn_submissions_free(tn_submission *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) tn_submission_clear(&v[i]);
    free(v);
}

/* The checks of an upload, made inside its transaction. */
static int upload_allowed(tn_store *s, const tn_submission *in) {
    tn_offer o;
    int rc = fetch_one(s, tn_sqlite_q(&s->h, "SELECT " OFFER_COLS " FROM offers WHERE token = ?", "t", in->token),
                       sizeof o, row_offer, &o, "upload: unknown submission token");
    if (rc != 0) return rc;
    tn_offer_status st = o.status;
    int64_t task_id = o.task_id, miner_id = o.miner_id;
    tn_offer_clear(&o);
    if (miner_id != in->miner_id || task_id != in->task_id)
        return fail_code(TN_STORE_REFUSED,
                         "store: upload: the submission token belongs to another miner or task");
    if (st != TN_OFFER_ACCEPTED && st != TN_OFFER_STARTED && st != TN_OFFER_SUBMITTED)
        return fail_code(TN_STORE_REFUSED,
                         "store: upload: the offer of task %lld to miner %lld is '%s', not accepted",
                         (long long)task_id, (long long)miner_id, offer_statuses[st]);
    char state[32];
    if ((rc = read_text(s, "SELECT state FROM tasks WHERE id = ?", task_id, state, sizeof state)))
        return rc == TN_STORE_NOT_FOUND ? fail_code(rc, "store: upload: task vanished") : rc;
    if (strcmp(state, "training") != 0)
        return fail_code(TN_STORE_REFUSED,
                         "store: upload: task %lld is '%s' and no longer accepts uploads",
                         (long long)task_id, state);
    int64_t deadline = 0;
    if ((rc = tn_sqlite_scalar(&s->h, &deadline, "SELECT deadline FROM tasks WHERE id = ?", "i", task_id)))
        return rc;
    if (deadline <= 0)
        return fail_code(TN_STORE_REFUSED, "store: upload: task %lld has no deadline set",
                         (long long)task_id);
    if (in->received_at > deadline)
        return fail_code(TN_STORE_REFUSED,
                         "store: upload: received %.3f s after the deadline of task %lld",
                         (double)(in->received_at - deadline) / 1000.0, (long long)task_id);
    return 0;
}

int tn_store_submission_put(tn_store *s, const tn_submission *in, int64_t *id_out) {
    if (nonempty(in->token, "submission token") || nonempty(in->manifest_json, "manifest") ||
        nonempty(in->files_dir, "files directory"))
        return TN_STORE_ERROR;
    if (!is_hex64(in->content_hash))
        return tn_fail("store: upload: content hash must be 64 lowercase hex");
    if ((unsigned)in->kind > TN_SUB_ADAPTER) return tn_fail("store: upload: unknown kind");
    const char *kind = sub_kinds[in->kind];
    const char *strategy = in->strategy ? in->strategy : "";
    int rc = enter_tx(s);
    if (rc != 0) return rc;
    if ((rc = upload_allowed(s, in)) != 0) goto out;
    int64_t id = 0, n = 0;
    rc = tn_sqlite_scalar(&s->h, &id, "SELECT id FROM submissions WHERE task_id = ? AND miner_id = ?", "ii",
                in->task_id, in->miner_id);
    if (rc == TN_STORE_NOT_FOUND) {
        rc = tn_sqlite_run(&s->h, "recording submission",
                 "INSERT INTO submissions (task_id, miner_id, token, received_at, kind, "
                 "manifest_json, content_hash, strategy, files_dir, uploads) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                 "iitittttt", in->task_id, in->miner_id, in->token, in->received_at, kind,
                 in->manifest_json, in->content_hash, strategy, in->files_dir);
        id = sqlite3_last_insert_rowid(s->h.db);
        n = 1;
    } else if (rc == 0) {
        /* A re-upload replaces the content; results computed on the old
         * content are no longer about this submission. */
        rc = tn_sqlite_run(&s->h, "replacing submission",
                 "UPDATE submissions SET received_at = ?, kind = ?, manifest_json = ?, "
                 "content_hash = ?, strategy = ?, files_dir = ?, uploads = uploads + 1 WHERE id = ?",
                 "ittttti", in->received_at, kind, in->manifest_json, in->content_hash, strategy,
                 in->files_dir, id);
        if (rc == 0)
            rc = tn_sqlite_run(&s->h, "dropping stale results", "DELETE FROM rule_results WHERE submission_id = ?",
                     "i", id);
        if (rc == 0) rc = tn_sqlite_scalar(&s->h, &n, "SELECT uploads FROM submissions WHERE id = ?", "i", id);
    }
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "recording upload",
                 "INSERT INTO uploads (submission_id, n, received_at, kind, manifest_json, "
                 "content_hash, strategy, files_dir) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 "iiittttt", id, n, in->received_at, kind, in->manifest_json, in->content_hash,
                 strategy, in->files_dir);
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "marking offer submitted",
                 "UPDATE offers SET status = 'submitted', updated_at = ? "
                 "WHERE task_id = ? AND miner_id = ?",
                 "iii", in->received_at, in->task_id, in->miner_id);
    if (rc == 0) hook(s, "submission_put:before_commit");
    if (rc == 0 && id_out) *id_out = id;
out:
    return leave_tx(s, rc);
}

int tn_store_submission_get(tn_store *s, int64_t id, tn_submission *out) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    char what[64];
    snprintf(what, sizeof what, "no submission with id %lld", (long long)id);
    int rc = fetch_one(s, tn_sqlite_q(&s->h, "SELECT " SUB_COLS " FROM submissions WHERE id = ?", "i", id),
                       sizeof *out, row_submission, out, what);
    return leave(s, rc);
}

int tn_store_submission_for(tn_store *s, int64_t task_id, int64_t miner_id, tn_submission *out) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    char what[96];
    snprintf(what, sizeof what, "no submission of miner %lld for task %lld", (long long)miner_id,
             (long long)task_id);
    int rc = fetch_one(s,
                       tn_sqlite_q(&s->h, "SELECT " SUB_COLS " FROM submissions WHERE task_id = ? AND miner_id = ?",
                         "ii", task_id, miner_id),
                       sizeof *out, row_submission, out, what);
    return leave(s, rc);
}

int tn_store_submissions_for_task(tn_store *s, int64_t task_id, tn_submission **v, size_t *n) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h,
                    "SELECT " SUB_COLS
                    " FROM submissions WHERE task_id = ? ORDER BY received_at, id",
                    "i", task_id),
        sizeof **v, row_submission, clear_submission, (void **)v, n);
    return leave(s, rc);
}

int tn_store_submissions_by_hash(tn_store *s, const char *content_hash, tn_submission **v,
                                 size_t *n) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h,
                    "SELECT " SUB_COLS
                    " FROM submissions WHERE content_hash = ? ORDER BY received_at, id",
                    "t", content_hash),
        sizeof **v, row_submission, clear_submission, (void **)v, n);
    return leave(s, rc);
}

int tn_store_upload_history(tn_store *s, int64_t submission_id, tn_submission **v, size_t *n) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(
            &s->h,
            "SELECT u.id, b.task_id, b.miner_id, b.token, u.received_at, u.kind, u.manifest_json, "
            "u.content_hash, u.strategy, u.files_dir, u.n FROM uploads u "
            "JOIN submissions b ON b.id = u.submission_id WHERE u.submission_id = ? ORDER BY u.n",
            "i", submission_id),
        sizeof **v, row_submission, clear_submission, (void **)v, n);
    return leave(s, rc);
}

/* ---- evaluations ---------------------------------------------------------------------- */

static int row_rule(sqlite3_stmt *st, void *out) {
    tn_rule_result *r = out;
    int d;
    if (col_enum(st, 2, decisions, 3, &d) != 0) return -1;
    r->submission_id = tn_sqlite_col_i64(st, 0);
    r->rule = tn_sqlite_col_str(st, 1);
    r->decision = (tn_decision)d;
    r->numbers_json = tn_sqlite_col_str(st, 3);
    r->reason = tn_sqlite_col_str(st, 4);
    r->evaluated_at = tn_sqlite_col_i64(st, 5);
    return 0;
}

static void clear_rule(void *p) {
    tn_rule_result *r = p;
    free(r->rule);
    free(r->numbers_json);
    free(r->reason);
    memset(r, 0, sizeof *r);
}

void tn_rule_results_free(tn_rule_result *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) clear_rule(&v[i]);
    free(v);
}

int tn_store_rule_result_put(tn_store *s, const tn_rule_result *in) {
    if (nonempty(in->rule, "rule name")) return TN_STORE_ERROR;
    if ((unsigned)in->decision > TN_DECISION_FLAG) return tn_fail("store: unknown rule decision");
    if (enter(s) != 0) return TN_STORE_ERROR;
    int64_t v;
    int rc = tn_sqlite_scalar(&s->h, &v, "SELECT id FROM submissions WHERE id = ?", "i", in->submission_id);
    if (rc == TN_STORE_NOT_FOUND)
        rc = fail_code(rc, "store: rule result: no submission with id %lld",
                       (long long)in->submission_id);
    /* One statement, so it is atomic on its own. */
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "recording rule result",
                 "INSERT INTO rule_results (submission_id, rule, decision, numbers_json, reason, "
                 "evaluated_at) VALUES (?, ?, ?, ?, ?, ?) "
                 "ON CONFLICT (submission_id, rule) DO UPDATE SET decision = excluded.decision, "
                 "numbers_json = excluded.numbers_json, reason = excluded.reason, "
                 "evaluated_at = excluded.evaluated_at",
                 "itttti", in->submission_id, in->rule, decisions[in->decision],
                 json_or_empty(in->numbers_json), in->reason ? in->reason : "", in->evaluated_at);
    return leave(s, rc);
}

int tn_store_rule_results(tn_store *s, int64_t submission_id, tn_rule_result **v, size_t *n) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h,
                    "SELECT submission_id, rule, decision, numbers_json, reason, evaluated_at "
                    "FROM rule_results WHERE submission_id = ? ORDER BY rule",
                    "i", submission_id),
        sizeof **v, row_rule, clear_rule, (void **)v, n);
    return leave(s, rc);
}

int tn_store_rule_results_delete(tn_store *s, int64_t submission_id, const char *rule) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = rule ? tn_sqlite_run(&s->h, "deleting rule result",
                        "DELETE FROM rule_results WHERE submission_id = ? AND rule = ?", "it",
                        submission_id, rule)
                  : tn_sqlite_run(&s->h, "deleting rule results", "DELETE FROM rule_results WHERE submission_id = ?",
                        "i", submission_id);
    return leave(s, rc);
}

#define SCORE_COLS                                                                              \
    "task_id, miner_id, submission_id, test_loss, synth_loss, weighted_loss, quality, score, "  \
    "valid, invalid_reason, scored_at"

static int row_score(sqlite3_stmt *st, void *out) {
    tn_score *c = out;
    c->task_id = tn_sqlite_col_i64(st, 0);
    c->miner_id = tn_sqlite_col_i64(st, 1);
    c->submission_id = tn_sqlite_col_i64(st, 2); /* NULL reads as 0 */
    c->test_loss = tn_sqlite_col_dbl(st, 3);
    c->synth_loss = tn_sqlite_col_dbl(st, 4);
    c->weighted_loss = tn_sqlite_col_dbl(st, 5);
    c->quality = tn_sqlite_col_dbl(st, 6);
    c->score = tn_sqlite_col_dbl(st, 7);
    c->valid = (int)tn_sqlite_col_i64(st, 8);
    c->invalid_reason = tn_sqlite_col_str(st, 9);
    c->scored_at = tn_sqlite_col_i64(st, 10);
    return 0;
}

static void clear_score(void *p) {
    tn_score *c = p;
    free(c->invalid_reason);
    memset(c, 0, sizeof *c);
}

void tn_scores_free(tn_score *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) clear_score(&v[i]);
    free(v);
}

int tn_store_scores_replace(tn_store *s, int64_t task_id, const tn_score *v, size_t n, int64_t now) {
    for (size_t i = 0; i < n; i++) {
        if (v[i].task_id != task_id)
            return tn_fail("store: scores of task %lld: row %zu is for task %lld", (long long)task_id,
                           i, (long long)v[i].task_id);
        if (!isfinite(v[i].quality) || !isfinite(v[i].score))
            return tn_fail("store: scores of task %lld: row %zu has a non-finite r or s",
                           (long long)task_id, i);
    }
    int rc = enter_tx(s);
    if (rc != 0) return rc;
    rc = tn_sqlite_run(&s->h, "clearing scores", "DELETE FROM scores WHERE task_id = ?", "i", task_id);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const tn_score *c = &v[i];
        /* submission 0 = none: bind NULL so the foreign key is not checked */
        rc = c->submission_id > 0
                 ? tn_sqlite_run(&s->h, "recording score",
                       "INSERT INTO scores (" SCORE_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       "iiiddddditi", task_id, c->miner_id, c->submission_id, c->test_loss,
                       c->synth_loss, c->weighted_loss, c->quality, c->score,
                       (int64_t)(c->valid ? 1 : 0), c->valid ? NULL : c->invalid_reason, now)
                 : tn_sqlite_run(&s->h, "recording score",
                       "INSERT INTO scores (" SCORE_COLS ") VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
                       "iiddddditi", task_id, c->miner_id, c->test_loss, c->synth_loss,
                       c->weighted_loss, c->quality, c->score, (int64_t)(c->valid ? 1 : 0),
                       c->valid ? NULL : c->invalid_reason, now);
        if (rc != 0) tn_err_prefix("row %zu (miner %lld)", i, (long long)c->miner_id);
    }
    if (rc == 0) hook(s, "scores_replace:before_commit");
    return leave_tx(s, rc);
}

int tn_store_scores_for_task(tn_store *s, int64_t task_id, tn_score **v, size_t *n) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h, "SELECT " SCORE_COLS " FROM scores WHERE task_id = ? ORDER BY miner_id",
                    "i", task_id),
        sizeof **v, row_score, clear_score, (void **)v, n);
    return leave(s, rc);
}

int tn_store_scores_for_miner(tn_store *s, int64_t miner_id, tn_score **v, size_t *n) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h, "SELECT " SCORE_COLS " FROM scores WHERE miner_id = ? ORDER BY task_id",
                    "i", miner_id),
        sizeof **v, row_score, clear_score, (void **)v, n);
    return leave(s, rc);
}

int tn_store_scores_all(tn_store *s, tn_score **v, size_t *n) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h, "SELECT " SCORE_COLS " FROM scores ORDER BY miner_id, task_id", NULL),
        sizeof **v, row_score, clear_score, (void **)v, n);
    return leave(s, rc);
}

/* ---- flags ------------------------------------------------------------------------------ */

static int row_flag(sqlite3_stmt *st, void *out) {
    tn_flag *f = out;
    f->id = tn_sqlite_col_i64(st, 0);
    f->task_id = tn_sqlite_col_i64(st, 1);
    f->miner_id = tn_sqlite_col_i64(st, 2);
    f->rule = tn_sqlite_col_str(st, 3);
    f->reason = tn_sqlite_col_str(st, 4);
    f->created_at = tn_sqlite_col_i64(st, 5);
    return 0;
}

static void clear_flag(void *p) {
    tn_flag *f = p;
    free(f->rule);
    free(f->reason);
    memset(f, 0, sizeof *f);
}

void tn_flags_free(tn_flag *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) clear_flag(&v[i]);
    free(v);
}

int tn_store_flag_raise(tn_store *s, const tn_flag *in, int64_t *id_out) {
    if (nonempty(in->rule, "flag rule")) return TN_STORE_ERROR;
    int rc = enter_tx(s);
    if (rc != 0) return rc;
    rc = tn_sqlite_run(&s->h, "raising flag",
             "INSERT INTO flags (task_id, miner_id, rule, reason, created_at) VALUES (?, ?, ?, ?, ?) "
             "ON CONFLICT (task_id, miner_id, rule) DO UPDATE SET reason = excluded.reason",
             "iitti", in->task_id, in->miner_id, in->rule, in->reason ? in->reason : "",
             in->created_at);
    int64_t id = 0;
    if (rc == 0)
        rc = tn_sqlite_scalar(&s->h, &id, "SELECT id FROM flags WHERE task_id = ? AND miner_id = ? AND rule = ?",
                    "iit", in->task_id, in->miner_id, in->rule);
    if (rc == 0 && id_out) *id_out = id;
    return leave_tx(s, rc);
}

int tn_store_flag_list(tn_store *s, int64_t task_id, int64_t miner_id, tn_flag **v, size_t *n) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h,
                    "SELECT id, task_id, miner_id, rule, reason, created_at FROM flags "
                    "WHERE (? = 0 OR task_id = ?) AND (? = 0 OR miner_id = ?) "
                    "ORDER BY created_at DESC, id DESC",
                    "iiii", task_id, task_id, miner_id, miner_id),
        sizeof **v, row_flag, clear_flag, (void **)v, n);
    return leave(s, rc);
}

/* ---- settings ------------------------------------------------------------------------------ */

int tn_store_setting_set(tn_store *s, const char *key, const char *value, int64_t expected_version,
                         int64_t now, int64_t *version_out) {
    if (nonempty(key, "setting key")) return TN_STORE_ERROR;
    int rc = enter_tx(s);
    if (rc != 0) return rc;
    int64_t cur = 0, next = 0;
    rc = tn_sqlite_scalar(&s->h, &cur, "SELECT version FROM settings WHERE key = ?", "t", key);
    if (rc == TN_STORE_NOT_FOUND) {
        cur = 0;
        rc = 0;
    }
    if (rc == 0 && expected_version >= 0 && expected_version != cur)
        rc = fail_code(TN_STORE_CONFLICT,
                       "store: setting '%s' is at version %lld, not %lld: another admin changed "
                       "it; re-read it",
                       key, (long long)cur, (long long)expected_version);
    if (rc == 0)
        rc = tn_sqlite_scalar(&s->h, &next, "SELECT COALESCE(MAX(version), 0) + 1 FROM settings_history", NULL);
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "recording setting history",
                 "INSERT INTO settings_history (version, key, value, updated_at) VALUES (?, ?, ?, ?)",
                 "itti", next, key, value, now);
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "setting",
                 "INSERT INTO settings (key, value, version, updated_at) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                 "version = excluded.version, updated_at = excluded.updated_at",
                 "ttii", key, value, next, now);
    if (rc == 0) hook(s, "setting_set:before_commit");
    if (rc == 0 && version_out) *version_out = next;
    return leave_tx(s, rc);
}

int tn_store_setting_get(tn_store *s, const char *key, char **value_out, int64_t *version_out) {
    *value_out = NULL;
    if (version_out) *version_out = 0;
    if (enter(s) != 0) return TN_STORE_ERROR;
    sqlite3_stmt *st = tn_sqlite_q(&s->h, "SELECT value, version FROM settings WHERE key = ?", "t", key);
    int rc = TN_STORE_ERROR;
    if (st) {
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            /* the version is reported even for an unset key, for compare-and-set */
            if (version_out) *version_out = tn_sqlite_col_i64(st, 1);
            *value_out = tn_sqlite_col_str(st, 0);
            rc = *value_out ? 0 : fail_code(TN_STORE_NOT_FOUND, "store: setting '%s' is unset", key);
        } else if (step == SQLITE_DONE) {
            rc = fail_code(TN_STORE_NOT_FOUND, "store: setting '%s' was never set", key ? key : "");
        } else {
            rc = tn_sqlite_fail(&s->h, "reading setting");
        }
        tn_sqlite_done(st);
    }
    return leave(s, rc);
}

int tn_store_setting_get_at(tn_store *s, const char *key, int64_t version, char **value_out) {
    *value_out = NULL;
    if (enter(s) != 0) return TN_STORE_ERROR;
    sqlite3_stmt *st = tn_sqlite_q(&s->h,
                         "SELECT value FROM settings_history WHERE key = ? AND version <= ? "
                         "ORDER BY version DESC LIMIT 1",
                         "ti", key, version);
    int rc = TN_STORE_ERROR;
    if (st) {
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) *value_out = tn_sqlite_col_str(st, 0);
        if (step == SQLITE_ROW || step == SQLITE_DONE)
            rc = *value_out ? 0
                            : fail_code(TN_STORE_NOT_FOUND, "store: setting '%s' unset at version %lld",
                                        key ? key : "", (long long)version);
        else
            rc = tn_sqlite_fail(&s->h, "reading setting history");
        tn_sqlite_done(st);
    }
    return leave(s, rc);
}

int tn_store_settings_version(tn_store *s, int64_t *out) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_scalar(&s->h, out, "SELECT COALESCE(MAX(version), 0) FROM settings_history", NULL);
    return leave(s, rc);
}

static int row_setting(sqlite3_stmt *st, void *out) {
    tn_setting *x = out;
    x->key = tn_sqlite_col_str(st, 0);
    x->value = tn_sqlite_col_str(st, 1);
    x->version = tn_sqlite_col_i64(st, 2);
    x->updated_at = tn_sqlite_col_i64(st, 3);
    return 0;
}

static void clear_setting(void *p) {
    tn_setting *x = p;
    free(x->key);
    free(x->value);
    memset(x, 0, sizeof *x);
}

void tn_settings_free(tn_setting *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) clear_setting(&v[i]);
    free(v);
}

int tn_store_setting_list(tn_store *s, tn_setting **v, size_t *n) {
    if (enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(&s->h,
                                 tn_sqlite_q(&s->h,
                                             "SELECT key, value, version, updated_at FROM settings "
                                             "WHERE value IS NOT NULL ORDER BY key",
                                             NULL),
                                 sizeof **v, row_setting, clear_setting, (void **)v, n);
    return leave(s, rc);
}
