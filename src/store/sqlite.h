/* sqlite.h - the SQLite helpers the validator's store (sqlite_store.c) and
 * the miner's state (miner/db.c) share: opening with the pragmas both rely
 * on, prepared statements cached and bound from a format string, statements
 * run in one call, transactions, and error messages that name the database
 * and what was being done.
 *
 * A tn_sqlite is one connection, opened without SQLite's own mutex: the
 * caller serializes every use of it (both callers hold their own mutex
 * around each operation, because a transaction is several statements and
 * another thread's statement must not land inside it).
 *
 * Return codes are those of store.h: 0, -1 (TN_STORE_ERROR), and where
 * noted TN_STORE_NOT_FOUND or TN_STORE_EXISTS; the message is in tn_errmsg().
 */
#ifndef TN_STORE_SQLITE_H
#define TN_STORE_SQLITE_H

#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *sql; /* a string literal: compared by address, then by text */
    sqlite3_stmt *st;
} tn_sqlite_cached;

typedef struct {
    sqlite3 *db;
    char *name; /* how messages name the database: "store PATH", "miner.sqlite" */
    int busy_ms;
    tn_sqlite_cached *cache;
    size_t ncache, capcache;
} tn_sqlite;

typedef struct {
    int create;       /* create the file when it is missing */
    int busy_ms;      /* wait this long for another process's write lock */
    int full_sync;    /* synchronous = FULL (fsync at every commit), else NORMAL */
    int foreign_keys; /* PRAGMA foreign_keys = ON */
    int require_wal;  /* fail when the WAL journal cannot be had */
} tn_sqlite_opts;

/* Opens `path` into *h (zeroed first) in WAL mode with extended result codes
 * and the options' busy timeout and pragmas. On failure *h is closed again. */
int tn_sqlite_open(tn_sqlite *h, const char *path, const char *name, const tn_sqlite_opts *o);
/* Finalizes the cached statements and closes the connection. */
void tn_sqlite_close(tn_sqlite *h);
/* Frees only this process's memory: for a forked child, where the
 * connection belongs to the parent (SQLite forbids using it across fork). */
void tn_sqlite_forget(tn_sqlite *h);

/* The connection's last error as a code and message "NAME: WHAT: why".
 * Unique violations are TN_STORE_EXISTS, so that a race that explicit checks
 * missed still maps to the right code; a busy lock says how long it waited. */
int tn_sqlite_fail(tn_sqlite *h, const char *what);

/* Prepares `sql` once per connection (cached) and binds the parameters.
 * fmt: one letter per parameter: i int64_t, t text (NULL binds NULL), d
 * double (NaN binds NULL); a format that does not match the statement's
 * parameter count fails. NULL on failure. Release with tn_sqlite_done. */
sqlite3_stmt *tn_sqlite_q(tn_sqlite *h, const char *sql, const char *fmt, ...);
sqlite3_stmt *tn_sqlite_vq(tn_sqlite *h, const char *sql, const char *fmt, va_list ap);
/* Resets a statement from tn_sqlite_q for its next use (NULL is fine). */
void tn_sqlite_done(sqlite3_stmt *st);

/* Runs a statement that returns no rows (a row is ignored). */
int tn_sqlite_run(tn_sqlite *h, const char *what, const char *sql, const char *fmt, ...);
/* First column of the first row as int64: 0, or TN_STORE_NOT_FOUND (no row;
 * *out untouched, no message), or an error. */
int tn_sqlite_scalar(tn_sqlite *h, int64_t *out, const char *sql, const char *fmt, ...);
/* sqlite3_exec of one or more statements (schemas, pragmas), uncached. */
int tn_sqlite_exec(tn_sqlite *h, const char *sql, const char *what);
/* The first column of a one-row pragma as text ("" when none), uncached. */
int tn_sqlite_pragma_text(tn_sqlite *h, const char *sql, char *out, size_t cap);

/* BEGIN IMMEDIATE: the write lock is taken now, so that what is read inside
 * the transaction is still true when it writes. */
int tn_sqlite_begin(tn_sqlite *h);
/* Ends a transaction: commits when rc == 0, else rolls back and keeps rc
 * and its message. A failed COMMIT is rolled back too. */
int tn_sqlite_finish(tn_sqlite *h, int rc);

/* Column readers: a heap copy of a text column (NULL for NULL), an int64,
 * a double (NaN for NULL). */
char *tn_sqlite_col_str(sqlite3_stmt *st, int i);
int64_t tn_sqlite_col_i64(sqlite3_stmt *st, int i);
double tn_sqlite_col_dbl(sqlite3_stmt *st, int i);

/* Reads one row into an element (0 or -1 with a message). */
typedef int (*tn_sqlite_row_fn)(sqlite3_stmt *st, void *out);
typedef void (*tn_sqlite_clear_fn)(void *item);

/* Steps `st` (from tn_sqlite_q, NULL fails) to its end, appending one
 * zeroed element of `size` bytes per row to a heap array; on failure
 * nothing is returned and the rows read so far are cleared. */
int tn_sqlite_fetch_all(tn_sqlite *h, sqlite3_stmt *st, size_t size, tn_sqlite_row_fn row,
                        tn_sqlite_clear_fn clear, void **v_out, size_t *n_out);
/* The first row into *out (zeroed first): TN_STORE_NOT_FOUND without a
 * message when there is none. */
int tn_sqlite_fetch_one(tn_sqlite *h, sqlite3_stmt *st, size_t size, tn_sqlite_row_fn row, void *out);

#endif
