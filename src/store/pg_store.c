/* pg_store.c - the PostgreSQL backend of store.h: libpq helpers,
 * transactions, open/migrate/close (see pg_store_int.h).
 *
 * Durability and isolation (docs/store.md, "PostgreSQL backend"):
 *  - Every operation that writes is one transaction at SERIALIZABLE: what it
 *    checks (miner limits, compare-and-set states, deadlines, versions) is
 *    still true at COMMIT or the server aborts it with SQLSTATE 40001, and
 *    PG_TX runs it again, when the re-read state gives the honest answer
 *    (usually TN_STORE_CONFLICT). Reads are single statements (autocommit).
 *  - synchronous_commit stays the server's (on by default: a COMMIT the
 *    validator acknowledged is on the server's disk); relaxed_sync sets it
 *    off for the session, which survives a client crash but may lose the
 *    last commits if the server machine crashes (as SQLite's NORMAL).
 *  - busy_timeout_ms becomes lock_timeout: a writer waits that long for a
 *    row another transaction holds, then fails instead of hanging.
 *  - A client killed mid-transaction closes its socket and the server rolls
 *    the transaction back: nothing half-done is ever visible.
 */
#include "store/pg_store_int.h"
#include "store/migrations.h"
#include "base/err.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Built-in type OIDs (fixed in PostgreSQL's catalog, pg_type.dat). */
enum { OID_INT8 = 20, OID_TEXT = 25, OID_FLOAT8 = 701 };
enum { PG_MAX_PARAMS = 16, PG_MAX_TRIES = 20 };

/* ---- errors ------------------------------------------------------------------ */

/* Sets the message from a failed result (or the connection) and returns the
 * TN_STORE_* code its SQLSTATE means; marks serialization failures and
 * deadlocks for a retry of the whole transaction. */
static int pgq_fail(tn_store *s, const PGresult *r, const char *what) {
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorMessage(r) : "";
    if (!msg || !*msg) msg = s->pg ? PQerrorMessage(s->pg) : "no connection";
    int len = (int)strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) len--;
    tn_fail("store %s: %s: %.*s", s->path, what, len, msg);
    if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01"))) s->pg_retry = 1;
    if (state && !strcmp(state, "23505")) return TN_STORE_EXISTS;
    return TN_STORE_ERROR;
}

/* ---- queries ----------------------------------------------------------------- */

/* Binds the parameters named by fmt and runs sql. On failure: NULL, with
 * *code the TN_STORE_* status (pgq_fail). */
static PGresult *pgq_vexec(tn_store *s, const char *what, const char *sql, const char *fmt,
                           va_list ap, int *code) {
    int np = fmt ? (int)strlen(fmt) : 0;
    *code = TN_STORE_ERROR;
    if (np > PG_MAX_PARAMS) {
        tn_fail("store: %s: %d parameters, at most %d", what, np, PG_MAX_PARAMS);
        return NULL;
    }
    char num[PG_MAX_PARAMS][32];
    const char *vals[PG_MAX_PARAMS];
    Oid types[PG_MAX_PARAMS];
    for (int k = 0; k < np; k++) {
        switch (fmt[k]) {
        case 'i':
            snprintf(num[k], sizeof num[k], "%lld", (long long)va_arg(ap, int64_t));
            vals[k] = num[k];
            types[k] = OID_INT8;
            break;
        case 't':
            vals[k] = va_arg(ap, const char *);
            types[k] = OID_TEXT;
            break;
        case 'd': {
            /* %.17g reads back as the same double */
            double v = va_arg(ap, double);
            vals[k] = NULL;
            if (!isnan(v)) {
                snprintf(num[k], sizeof num[k], "%.17g", v);
                vals[k] = num[k];
            }
            types[k] = OID_FLOAT8;
            break;
        }
        default: tn_fail("store: %s: bad parameter type '%c'", what, fmt[k]); return NULL;
        }
    }
    PGresult *r = PQexecParams(s->pg, sql, np, types, vals, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        *code = pgq_fail(s, r, what);
        PQclear(r);
        return NULL;
    }
    *code = 0;
    return r;
}

PGresult *pgq_exec(tn_store *s, const char *what, const char *sql, const char *fmt, ...) {
    va_list ap;
    int code;
    va_start(ap, fmt);
    PGresult *r = pgq_vexec(s, what, sql, fmt, ap, &code);
    va_end(ap);
    return r;
}

int pgq_run(tn_store *s, const char *what, int64_t *changed, const char *sql, const char *fmt, ...) {
    va_list ap;
    int code;
    va_start(ap, fmt);
    PGresult *r = pgq_vexec(s, what, sql, fmt, ap, &code);
    va_end(ap);
    if (r && changed) *changed = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return code;
}

int pgq_scalar(tn_store *s, int64_t *out, const char *sql, const char *fmt, ...) {
    va_list ap;
    int code;
    va_start(ap, fmt);
    PGresult *r = pgq_vexec(s, "query", sql, fmt, ap, &code);
    va_end(ap);
    if (!r) return code;
    int rc = TN_STORE_NOT_FOUND;
    if (PQntuples(r) > 0) {
        *out = pgq_i64(r, 0, 0);
        rc = 0;
    }
    PQclear(r);
    return rc;
}

/* ---- rows -------------------------------------------------------------------- */

int pgq_is_null(const PGresult *r, int row, int col) { return PQgetisnull(r, row, col); }

char *pgq_str(const PGresult *r, int row, int col) {
    return PQgetisnull(r, row, col) ? NULL : tn_strdup(PQgetvalue(r, row, col));
}

int64_t pgq_i64(const PGresult *r, int row, int col) {
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

double pgq_dbl(const PGresult *r, int row, int col) {
    /* PostgreSQL 12+ prints float8 in the shortest form that reads back exactly */
    return PQgetisnull(r, row, col) ? NAN : strtod(PQgetvalue(r, row, col), NULL);
}

int pgq_enum(const PGresult *r, int row, int col, const char *const *names, int n, int *out) {
    const char *v = PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
    if (ss_parse_name(names, n, v, out) != 0)
        return tn_fail("store: column %s holds unknown value '%s'", PQfname(r, col), v ? v : "NULL");
    return 0;
}

int pgq_fetch_one(tn_store *s, PGresult *r, size_t size, pgq_row_fn fn, void *out, const char *what) {
    memset(out, 0, size);
    if (!r) return TN_STORE_ERROR;
    int rc = PQntuples(r) == 0 ? ss_fail_code(TN_STORE_NOT_FOUND, "store: %s", what)
                               : fn(r, 0, out) != 0 ? TN_STORE_ERROR : 0;
    (void)s;
    PQclear(r);
    return rc;
}

int pgq_fetch_all(tn_store *s, PGresult *r, size_t size, pgq_row_fn fn, void (*clear)(void *),
                  void **v, size_t *n) {
    (void)s;
    *v = NULL;
    *n = 0;
    if (!r) return TN_STORE_ERROR;
    int rows = PQntuples(r);
    if (rows == 0) {
        PQclear(r);
        return 0;
    }
    char *arr = tn_calloc((size_t)rows, size);
    for (int i = 0; i < rows; i++)
        if (fn(r, i, arr + (size_t)i * size) != 0) {
            for (int j = 0; j <= i; j++) clear(arr + (size_t)j * size);
            free(arr);
            PQclear(r);
            return TN_STORE_ERROR;
        }
    PQclear(r);
    *v = arr;
    *n = (size_t)rows;
    return 0;
}

/* ---- connection and transactions ---------------------------------------------------- */

/* ss_enter, and one reconnection attempt when the server dropped us (it was
 * restarted): a long-running validator keeps working afterwards. */
int pgs_enter(tn_store *s) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    if (PQstatus(s->pg) != CONNECTION_OK) {
        PQreset(s->pg);
        if (PQstatus(s->pg) != CONNECTION_OK)
            return ss_leave(s, pgq_fail(s, NULL, "connection lost and could not be re-established"));
    }
    return 0;
}

static int pgq_cmd(tn_store *s, const char *sql) {
    PGresult *r = PQexec(s->pg, sql);
    int rc = r && PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : pgq_fail(s, r, sql);
    PQclear(r);
    return rc;
}

int pgq_begin(tn_store *s) {
    s->pg_retry = 0;
    return pgq_cmd(s, "BEGIN ISOLATION LEVEL SERIALIZABLE");
}

int pgq_finish(tn_store *s, int rc) {
    if (rc == 0) return pgq_cmd(s, "COMMIT");
    /* keep the first error's message: ROLLBACK's own failure adds nothing */
    PGresult *r = PQexec(s->pg, "ROLLBACK");
    PQclear(r);
    return rc;
}

int pgq_again(tn_store *s, int rc, int attempt) {
    if (rc == 0 || !s->pg_retry || attempt + 1 >= PG_MAX_TRIES) return 0;
    /* back off a little, more each time, so that racing writers spread out */
    struct timespec ts = {0, (long)(1 + attempt) * (500000L + (long)(getpid() % 7) * 100000L)};
    nanosleep(&ts, NULL);
    return 1;
}

int pgs_race_is_retry(tn_store *s, int rc) {
    if (rc == TN_STORE_EXISTS) s->pg_retry = 1;
    return rc;
}

/* ---- open, migrate, close ------------------------------------------------------------ */

/* The URL for messages: a password in it (postgres://user:pw@host) is hidden. */
static char *redact(const char *url) {
    char *u = tn_strdup(url);
    char *p = strstr(u, "://");
    if (!p) return u;
    p += 3;
    char *at = strchr(p, '@'), *slash = strchr(p, '/');
    if (!at || (slash && slash < at)) return u;
    char *colon = memchr(p, ':', (size_t)(at - p));
    if (!colon) return u;
    char *r = tn_sprintf("%.*s:***%s", (int)(colon - u), u, at);
    free(u);
    return r;
}

static void quiet_notice(void *arg, const char *msg) {
    (void)arg;
    (void)msg; /* NOTICEs (e.g. "relation exists") are not errors; stay quiet */
}

/* One arbitrary 64-bit key for pg_advisory_xact_lock: "tuna migrations". */
#define PG_MIGRATE_LOCK 7382293410952814081LL

/* Applies the migrations after the current version up to `target`, each in
 * its own transaction together with its schema_version row. Each takes an
 * advisory lock first and re-reads the version under it, so two processes
 * opening a new database at once apply every migration exactly once. */
static int migrate(tn_store *s, int target) {
    int64_t now = (int64_t)time(NULL) * 1000; /* informational only, as in SQLite */
    for (;;) {
        int rc = pgq_cmd(s, "BEGIN");
        if (rc != 0) return rc;
        rc = pgq_run(s, "taking the migration lock", NULL, "SELECT pg_advisory_xact_lock($1)", "i",
                     (int64_t)PG_MIGRATE_LOCK);
        int64_t has = 0, cur = 0, others = 0;
        if (rc == 0)
            rc = pgq_scalar(s, &has,
                            "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() "
                            "AND tablename = 'schema_version'",
                            NULL);
        if (rc == 0 && has == 0) {
            rc = pgq_scalar(s, &others,
                            "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()", NULL);
            if (rc == 0 && others > 0)
                rc = ss_fail_code(TN_STORE_ERROR,
                                  "store %s: not a tuna store (it has tables but no schema_version)",
                                  s->path);
            if (rc == 0)
                rc = pgq_run(s, "creating schema_version", NULL,
                             "CREATE TABLE schema_version (\n"
                             "  version    INTEGER PRIMARY KEY,\n"
                             "  what       TEXT NOT NULL,\n"
                             "  applied_at BIGINT NOT NULL\n"
                             ")",
                             NULL);
        }
        if (rc == 0)
            rc = pgq_scalar(s, &cur, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL);
        if (rc == 0 && cur > TN_STORE_SCHEMA_VERSION)
            rc = ss_fail_code(TN_STORE_ERROR,
                              "store %s: database schema version %lld is newer than this build of "
                              "tuna understands (%d); upgrade tuna, do not downgrade a live database",
                              s->path, (long long)cur, TN_STORE_SCHEMA_VERSION);
        const tn_migration *m = NULL;
        for (int i = 0; rc == 0 && i < tn_store_pg_nmigrations; i++)
            if (tn_store_pg_migrations[i].version == cur + 1 && cur + 1 <= target)
                m = &tn_store_pg_migrations[i];
        if (rc == 0 && m) {
            char what[64];
            snprintf(what, sizeof what, "migration %d", m->version);
            PGresult *r = PQexec(s->pg, m->sql); /* several statements, no parameters */
            if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) rc = pgq_fail(s, r, what);
            PQclear(r);
            if (rc == 0)
                rc = pgq_run(s, what, NULL,
                             "INSERT INTO schema_version (version, what, applied_at) VALUES ($1, $2, $3)",
                             "iti", (int64_t)m->version, m->what, now);
        }
        rc = pgq_finish(s, rc);
        if (rc != 0 || !m) return rc;
    }
}

int pgs_open(tn_store *s, const char *url, const tn_store_opts *o, int target) {
    s->path = redact(url);
    s->pg = PQconnectdb(url);
    if (!s->pg) return ss_fail_code(TN_STORE_ERROR, "store %s: out of memory", s->path);
    if (PQstatus(s->pg) != CONNECTION_OK)
        return pgq_fail(s, NULL, "cannot connect to PostgreSQL");
    PQsetNoticeProcessor(s->pg, quiet_notice, NULL);
    if (PQsetClientEncoding(s->pg, "UTF8") != 0) return pgq_fail(s, NULL, "client encoding UTF8");
    char lock_ms[32];
    snprintf(lock_ms, sizeof lock_ms, "%d", o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 10000);
    int rc = pgq_run(s, "setting lock_timeout", NULL, "SELECT set_config('lock_timeout', $1, false)",
                     "t", lock_ms);
    if (rc == 0 && o->relaxed_sync) rc = pgq_cmd(s, "SET synchronous_commit = off");
    if (rc == 0) rc = migrate(s, target);
    return rc;
}

static void pgs_close(tn_store *s) {
    if (!s->pg) return;
    if (getpid() != s->pid) {
        /* A forked child shares the parent's socket: PQfinish would send the
         * server a Terminate message and end the parent's session. Point the
         * descriptor at /dev/null first, so only our memory is released. */
        int fd = PQsocket(s->pg), nul = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd >= 0 && nul >= 0) dup2(nul, fd);
        if (nul >= 0) close(nul);
    }
    PQfinish(s->pg);
    s->pg = NULL;
}

int pgs_schema_version(tn_store *s, int *out) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int64_t v = 0;
    int rc = pgq_scalar(s, &v, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL);
    if (rc == 0) *out = (int)v;
    return ss_leave(s, rc);
}

/* PostgreSQL enforces foreign keys and checks on every statement and has no
 * user-level integrity_check; what can be checked is that every table of
 * the schema is there and readable, and that no foreign key constraint was
 * left NOT VALID (added without checking old rows). */
int pgs_check(tn_store *s) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    static const char *const tables[] = {"miners", "models", "datasets", "tasks", "task_events",
                                         "offers", "submissions", "uploads", "rule_results",
                                         "scores", "flags", "settings", "settings_history", "evaluations"};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof tables / sizeof *tables; i++) {
        int64_t n = 0;
        rc = pgq_scalar(s, &n,
                        "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() "
                        "AND tablename = $1",
                        "t", tables[i]);
        if (rc == 0 && n != 1)
            rc = ss_fail_code(TN_STORE_ERROR, "store %s: table %s is missing", s->path, tables[i]);
    }
    int64_t bad = 0;
    if (rc == 0)
        rc = pgq_scalar(s, &bad,
                        "SELECT COUNT(*) FROM pg_constraint c JOIN pg_namespace n "
                        "ON n.oid = c.connamespace WHERE n.nspname = current_schema() "
                        "AND NOT c.convalidated",
                        NULL);
    if (rc == 0 && bad > 0)
        rc = ss_fail_code(TN_STORE_ERROR, "store %s: %lld constraints are not validated", s->path,
                          (long long)bad);
    return ss_leave(s, rc);
}

#define PGS_OP(name, params, args) .name = pgs_##name,
const tn_store_ops tn_pg_store_ops = {
    .backend = "postgres",
    .close = pgs_close,
    TN_STORE_OPS(PGS_OP)
};
