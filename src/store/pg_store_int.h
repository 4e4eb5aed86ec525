/* pg_store_int.h - what the PostgreSQL store's files share (private to src/store).
 *
 * Same split as the SQLite backend: pg_store.c (libpq helpers, transactions,
 * open/migrate/close), pg_catalog.c (miners, models, datasets), pg_tasks.c
 * (tasks, events, offers), pg_results.c (submissions, rule results, scores,
 * flags, settings); the schema is pg_migrations.c. Every query is
 * PQexecParams with typed parameters ($1, $2, ...): values never become SQL
 * text. Every operation that writes is one SERIALIZABLE transaction run by
 * PG_TX, which retries it when PostgreSQL reports a serialization failure
 * (docs/store.md, "PostgreSQL backend").
 */
#ifndef TN_STORE_PG_STORE_INT_H
#define TN_STORE_PG_STORE_INT_H

#include "store/store_int.h"
#include "base/err.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* The operations of store_int.h's TN_STORE_OPS, prefixed pgs_. */
#define PGS_DECLARE(name, params, args) int pgs_##name params;
TN_STORE_OPS(PGS_DECLARE)

/* Parameters are described by fmt, one letter each: 'i' int64_t, 't' text
 * (const char *, NULL = SQL NULL), 'd' double (NaN = SQL NULL). */

/* Runs a query; NULL on failure (message set, serialization failures marked
 * for retry). The caller PQclear()s the result. */
PGresult *pgq_exec(tn_store *s, const char *what, const char *sql, const char *fmt, ...);
/* Runs a statement: 0, TN_STORE_EXISTS on a unique violation (SQLSTATE
 * 23505), else TN_STORE_ERROR. *changed (may be NULL) = rows affected. */
int pgq_run(tn_store *s, const char *what, int64_t *changed, const char *sql, const char *fmt, ...);
/* First column of the first row: 0, TN_STORE_NOT_FOUND when no row (no
 * message), or pgq_run's codes (so INSERT ... RETURNING id can give EXISTS).
 * SQL NULL reads as 0. */
int pgq_scalar(tn_store *s, int64_t *out, const char *sql, const char *fmt, ...);

typedef int (*pgq_row_fn)(const PGresult *r, int row, void *out);
/* Exactly one row of r (consumed; NULL = the query failed) into *out, zeroed
 * first: NOT_FOUND with "store: <what>" when none. */
int pgq_fetch_one(tn_store *s, PGresult *r, size_t size, pgq_row_fn fn, void *out, const char *what);
/* Every row of r (consumed) into a new array *v of *n elements (NULL, 0 when none). */
int pgq_fetch_all(tn_store *s, PGresult *r, size_t size, pgq_row_fn fn, void (*clear)(void *),
                  void **v, size_t *n);

/* Column readers (SQL NULL: NULL string, 0, NaN). */
char *pgq_str(const PGresult *r, int row, int col);
int64_t pgq_i64(const PGresult *r, int row, int col);
double pgq_dbl(const PGresult *r, int row, int col);
int pgq_is_null(const PGresult *r, int row, int col);
/* Column as one of names[0..n) (an unknown value is an error). */
int pgq_enum(const PGresult *r, int row, int col, const char *const *names, int n, int *out);

/* Transactions: take the mutex (pgs_enter), then PG_TX(s, rc, body) runs
 * `body` (an expression giving a TN_STORE_* code, using only s) between
 * BEGIN ISOLATION LEVEL SERIALIZABLE and COMMIT (ROLLBACK when it is not 0),
 * again from the start when PostgreSQL reports a serialization failure or a
 * deadlock (SQLSTATE 40001, 40P01): the retry re-reads what changed, so a
 * lost compare-and-set becomes TN_STORE_CONFLICT, never a silent overwrite. */
int pgs_enter(tn_store *s);
int pgq_begin(tn_store *s);
int pgq_finish(tn_store *s, int rc);
int pgq_again(tn_store *s, int rc, int attempt);
/* For an INSERT whose key the transaction checked was free (a first upload,
 * the next settings version): a unique violation means a concurrent
 * transaction took it after our snapshot. PostgreSQL may report that as
 * 23505 rather than 40001; either way the answer is to run again and see the
 * winner's row, so EXISTS becomes a retry. Returns rc. */
int pgs_race_is_retry(tn_store *s, int rc);
#define PG_TX(s, rc, body)                                                                        \
    for (int pg_try_ = 0;; pg_try_++) {                                                           \
        (rc) = pgq_begin(s);                                                                      \
        if ((rc) == 0) (rc) = pgq_finish((s), (body));                                            \
        if (!pgq_again((s), (rc), pg_try_)) break;                                                \
    }

/* Offers' columns and row reader (pg_tasks.c), also read by uploads. */
#define PG_OFFER_COLS "task_id, miner_id, status, token, offered_at, answered_at, updated_at, message"
int pgs_row_offer(const PGresult *r, int row, void *out);

#endif
