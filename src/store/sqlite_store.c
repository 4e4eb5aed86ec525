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
#include "store/sqlite_store_int.h"
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


/* ---- names of enumerations ------------------------------------------------ */

const char *const ss_task_states[TN_TASK_NSTATES] = {
    "pending", "preparing", "offering", "training", "evaluating", "scored", "failed"};
const char *const ss_offer_statuses[TN_OFFER_NSTATUS] = {
    "offered", "accepted", "rejected", "timeout", "started", "submitted", "evaluated"};
const char *const ss_decisions[] = {"pass", "fail", "flag"};
const char *const ss_sub_kinds[] = {"full", "adapter"};

static int parse_name(const char *const *names, int n, const char *s, int *out) {
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
    if (parse_name(ss_task_states, TN_TASK_NSTATES, name, &v) != 0)
        return tn_fail("unknown task state '%s'", name ? name : "(null)");
    *out = (tn_task_state)v;
    return 0;
}

const char *tn_offer_status_name(tn_offer_status st) {
    return (unsigned)st < TN_OFFER_NSTATUS ? ss_offer_statuses[st] : "?";
}

int tn_offer_status_parse(const char *name, tn_offer_status *out) {
    int v;
    if (parse_name(ss_offer_statuses, TN_OFFER_NSTATUS, name, &v) != 0)
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
int ss_offer_edge_allowed(tn_offer_status from, tn_offer_status to) {
    switch (from) {
    case TN_OFFER_OFFERED:
        return to == TN_OFFER_ACCEPTED || to == TN_OFFER_REJECTED || to == TN_OFFER_TIMEOUT;
    case TN_OFFER_ACCEPTED: return to == TN_OFFER_STARTED;
    case TN_OFFER_SUBMITTED: return to == TN_OFFER_EVALUATED;
    default: return 0;
    }
}

/* ---- errors, locking, transactions ------------------------------------------ */

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

/* ss_enter + begin; on failure the mutex is released. */
int ss_enter_tx(tn_store *s) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_begin(&s->h);
    if (rc != 0) ss_leave(s, rc);
    return rc;
}

int ss_leave_tx(tn_store *s, int rc) { return ss_leave(s, tn_sqlite_finish(&s->h, rc)); }

/* ---- reading rows ------------------------------------------------------------- */

int ss_col_enum(sqlite3_stmt *st, int i, const char *const *names, int n, int *out) {
    const char *v = (const char *)sqlite3_column_text(st, i);
    if (parse_name(names, n, v, out) != 0)
        return tn_fail("store: column %s holds unknown value '%s'", sqlite3_column_name(st, i),
                       v ? v : "NULL");
    return 0;
}

/* Exactly one row into *out (zeroed first): NOT_FOUND with `what` when none. */
int ss_fetch_one(tn_store *s, sqlite3_stmt *st, size_t size, tn_sqlite_row_fn row, void *out,
                     const char *what) {
    int rc = tn_sqlite_fetch_one(&s->h, st, size, row, out);
    return rc == TN_STORE_NOT_FOUND ? ss_fail_code(rc, "store: %s", what) : rc;
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
            rc = ss_fail_code(TN_STORE_ERROR,
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
        rc = ss_fail_code(TN_STORE_ERROR,
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
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int64_t v = 0;
    int rc = tn_sqlite_scalar(&s->h, &v, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL);
    if (rc == 0) *out = (int)v;
    return ss_leave(s, rc);
}

int tn_store_check(tn_store *s) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    char res[256] = "";
    int rc = tn_sqlite_pragma_text(&s->h, "PRAGMA integrity_check", res, sizeof res);
    if (rc == 0 && strcmp(res, "ok") != 0)
        rc = ss_fail_code(TN_STORE_ERROR, "store %s: integrity check: %s", s->path, res);
    if (rc == 0) {
        res[0] = 0;
        rc = tn_sqlite_pragma_text(&s->h, "PRAGMA foreign_key_check", res, sizeof res);
        if (rc == 0 && res[0])
            rc = ss_fail_code(TN_STORE_ERROR, "store %s: foreign key violation in table %s", s->path,
                           res);
    }
    return ss_leave(s, rc);
}

void tn_store_set_crash_hook(tn_store *s, tn_store_crash_hook h, void *arg) {
    s->hook = h;
    s->hook_arg = arg;
}

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
