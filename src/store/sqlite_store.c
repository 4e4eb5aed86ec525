/* sqlite_store.c - the SQLite backend of store.h (store.c dispatches to it).
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

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- transactions ------------------------------------------------------------ */

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
    if (ss_parse_name(names, n, v, out) != 0)
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

int sqs_open(tn_store *s, const char *path, const tn_store_opts *o, int target) {
    s->path = tn_strdup(path);
    char *name = tn_sprintf("store %s", path);
    tn_sqlite_opts so = {.create = 1, .busy_ms = o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 10000,
                         .full_sync = !o->relaxed_sync, .foreign_keys = 1, .require_wal = 1};
    int rc = tn_sqlite_open(&s->h, path, name, &so);
    free(name);
    if (rc != 0) return rc;
    return migrate(s, target);
}

static void sqs_close(tn_store *s) {
    /* In a forked child the connection belongs to the parent (SQLite forbids
     * using it across fork); closing it here could disturb the parent's
     * locks, so only our own memory is released. */
    if (getpid() == s->pid)
        tn_sqlite_close(&s->h);
    else
        tn_sqlite_forget(&s->h);
}

int sqs_schema_version(tn_store *s, int *out) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int64_t v = 0;
    int rc = tn_sqlite_scalar(&s->h, &v, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL);
    if (rc == 0) *out = (int)v;
    return ss_leave(s, rc);
}

int sqs_check(tn_store *s) {
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

#define SQS_OP(name, params, args) .name = sqs_##name,
const tn_store_ops tn_sqlite_store_ops = {
    .backend = "sqlite",
    .close = sqs_close,
    TN_STORE_OPS(SQS_OP)
};
