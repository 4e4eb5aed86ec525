/* sqlite.c - SQLite helpers shared by the store and the miner (see sqlite.h). */
#include "store/sqlite.h"
#include "store/store.h"
#include "base/err.h"
#include "base/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tn_sqlite_fail(tn_sqlite *h, const char *what) {
    int ext = sqlite3_extended_errcode(h->db);
    const char *msg = sqlite3_errmsg(h->db);
    if ((ext & 0xff) == SQLITE_BUSY)
        return tn_fail("%s: %s: database locked by another process for more than %d ms", h->name, what,
                       h->busy_ms);
    tn_fail("%s: %s: %s", h->name, what, msg);
    return ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY ? TN_STORE_EXISTS : TN_STORE_ERROR;
}

/* ---- open, close -------------------------------------------------------------- */

int tn_sqlite_open(tn_sqlite *h, const char *path, const char *name, const tn_sqlite_opts *o) {
    memset(h, 0, sizeof *h);
    h->name = tn_strdup(name);
    h->busy_ms = o->busy_ms;
    /* NOMUTEX: the caller's mutex already serializes use of the connection. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (o->create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &h->db, flags, NULL) != SQLITE_OK) {
        tn_fail("%s: cannot open: %s", name, h->db ? sqlite3_errmsg(h->db) : "out of memory");
        tn_sqlite_close(h);
        return TN_STORE_ERROR;
    }
    sqlite3_extended_result_codes(h->db, 1);
    sqlite3_busy_timeout(h->db, h->busy_ms);
    char mode[32] = "";
    int rc = tn_sqlite_pragma_text(h, "PRAGMA journal_mode = WAL", mode, sizeof mode);
    if (rc == 0 && o->require_wal && strcmp(mode, "wal") != 0)
        /* e.g. a filesystem without shared memory: refuse rather than run
         * with different crash and concurrency behaviour than documented. */
        rc = tn_fail("%s: cannot use WAL journal mode (got '%s')", name, mode);
    if (rc == 0 && o->foreign_keys) rc = tn_sqlite_exec(h, "PRAGMA foreign_keys = ON", "enabling foreign keys");
    if (rc == 0)
        rc = tn_sqlite_exec(h, o->full_sync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
                            "setting synchronous");
    if (rc != 0) tn_sqlite_close(h);
    return rc;
}

void tn_sqlite_close(tn_sqlite *h) {
    for (size_t i = 0; i < h->ncache; i++) sqlite3_finalize(h->cache[i].st);
    if (h->db) sqlite3_close(h->db);
    tn_sqlite_forget(h);
}

void tn_sqlite_forget(tn_sqlite *h) {
    free(h->cache);
    free(h->name);
    memset(h, 0, sizeof *h);
}

/* ---- statements ------------------------------------------------------------------ */

static sqlite3_stmt *prep(tn_sqlite *h, const char *sql) {
    for (size_t i = 0; i < h->ncache; i++)
        if (h->cache[i].sql == sql || !strcmp(h->cache[i].sql, sql)) return h->cache[i].st;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(h->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        tn_sqlite_fail(h, "prepare");
        tn_err_prefix("%s", sql); /* a bug in the caller: show the statement */
        return NULL;
    }
    if (h->ncache == h->capcache) {
        h->capcache = h->capcache ? 2 * h->capcache : 64;
        h->cache = tn_realloc(h->cache, h->capcache * sizeof *h->cache);
    }
    h->cache[h->ncache++] = (tn_sqlite_cached){sql, st};
    return st;
}

void tn_sqlite_done(sqlite3_stmt *st) {
    if (!st) return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

sqlite3_stmt *tn_sqlite_vq(tn_sqlite *h, const char *sql, const char *fmt, va_list ap) {
    sqlite3_stmt *st = prep(h, sql);
    if (!st) return NULL;
    /* A format that does not match the statement is a bug in the caller;
     * catch it before it binds a value to the wrong column. */
    int want = sqlite3_bind_parameter_count(st), have = fmt ? (int)strlen(fmt) : 0;
    if (want != have) {
        tn_fail("%s: internal: statement takes %d parameters, %d given: %s", h->name, want, have, sql);
        return NULL;
    }
    int rc = SQLITE_OK;
    for (int i = 0; fmt && fmt[i] && rc == SQLITE_OK; i++) {
        int k = i + 1;
        switch (fmt[i]) {
        case 'i': rc = sqlite3_bind_int64(st, k, va_arg(ap, int64_t)); break;
        case 't': {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(st, k, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, k);
            break;
        }
        case 'd': {
            double v = va_arg(ap, double);
            rc = isnan(v) ? sqlite3_bind_null(st, k) : sqlite3_bind_double(st, k, v);
            break;
        }
        default: rc = SQLITE_MISUSE;
        }
    }
    if (rc != SQLITE_OK) {
        tn_sqlite_fail(h, "bind");
        tn_sqlite_done(st);
        return NULL;
    }
    return st;
}

sqlite3_stmt *tn_sqlite_q(tn_sqlite *h, const char *sql, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *st = tn_sqlite_vq(h, sql, fmt, ap);
    va_end(ap);
    return st;
}

int tn_sqlite_run(tn_sqlite *h, const char *what, const char *sql, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *st = tn_sqlite_vq(h, sql, fmt, ap);
    va_end(ap);
    if (!st) return TN_STORE_ERROR;
    int rc = sqlite3_step(st);
    int out = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : tn_sqlite_fail(h, what);
    tn_sqlite_done(st);
    return out;
}

int tn_sqlite_scalar(tn_sqlite *h, int64_t *out, const char *sql, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *st = tn_sqlite_vq(h, sql, fmt, ap);
    va_end(ap);
    if (!st) return TN_STORE_ERROR;
    int rc = sqlite3_step(st), ret;
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        ret = 0;
    } else if (rc == SQLITE_DONE) {
        ret = TN_STORE_NOT_FOUND;
    } else {
        ret = tn_sqlite_fail(h, "query");
    }
    tn_sqlite_done(st);
    return ret;
}

int tn_sqlite_exec(tn_sqlite *h, const char *sql, const char *what) {
    char *msg = NULL;
    if (sqlite3_exec(h->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        tn_fail("%s: %s: %s", h->name, what, msg ? msg : sqlite3_errmsg(h->db));
        sqlite3_free(msg);
        return TN_STORE_ERROR;
    }
    return 0;
}

int tn_sqlite_pragma_text(tn_sqlite *h, const char *sql, char *out, size_t cap) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK) return tn_sqlite_fail(h, sql);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        snprintf(out, cap, "%s", v ? (const char *)v : "");
    }
    int ret = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : tn_sqlite_fail(h, sql);
    sqlite3_finalize(st);
    return ret;
}

/* ---- transactions ------------------------------------------------------------------ */

int tn_sqlite_begin(tn_sqlite *h) { return tn_sqlite_run(h, "begin", "BEGIN IMMEDIATE", NULL); }

int tn_sqlite_finish(tn_sqlite *h, int rc) {
    if (rc == 0) {
        rc = tn_sqlite_run(h, "commit", "COMMIT", NULL);
        if (rc == 0) return 0;
    }
    if (!sqlite3_get_autocommit(h->db)) {
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", tn_errmsg());
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
        tn_fail("%s", saved);
    }
    return rc;
}

/* ---- rows --------------------------------------------------------------------------- */

char *tn_sqlite_col_str(sqlite3_stmt *st, int i) {
    const unsigned char *v = sqlite3_column_text(st, i);
    return v ? tn_strdup((const char *)v) : NULL;
}

int64_t tn_sqlite_col_i64(sqlite3_stmt *st, int i) { return sqlite3_column_int64(st, i); }

double tn_sqlite_col_dbl(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

int tn_sqlite_fetch_all(tn_sqlite *h, sqlite3_stmt *st, size_t size, tn_sqlite_row_fn row,
                        tn_sqlite_clear_fn clear, void **v_out, size_t *n_out) {
    *v_out = NULL;
    *n_out = 0;
    if (!st) return TN_STORE_ERROR;
    char *v = NULL;
    size_t n = 0, cap = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            v = tn_realloc(v, cap * size);
        }
        memset(v + n * size, 0, size);
        if (row(st, v + n * size) != 0) {
            clear(v + n * size);
            ret = TN_STORE_ERROR;
            break;
        }
        n++;
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = tn_sqlite_fail(h, "query");
    tn_sqlite_done(st);
    if (ret != 0) {
        for (size_t i = 0; i < n; i++) clear(v + i * size);
        free(v);
        return ret;
    }
    *v_out = v;
    *n_out = n;
    return 0;
}

int tn_sqlite_fetch_one(tn_sqlite *h, sqlite3_stmt *st, size_t size, tn_sqlite_row_fn row, void *out) {
    memset(out, 0, size);
    if (!st) return TN_STORE_ERROR;
    int rc = sqlite3_step(st), ret;
    if (rc == SQLITE_ROW)
        ret = row(st, out) == 0 ? 0 : TN_STORE_ERROR;
    else if (rc == SQLITE_DONE)
        ret = TN_STORE_NOT_FOUND;
    else
        ret = tn_sqlite_fail(h, "query");
    tn_sqlite_done(st);
    return ret;
}
