/* sqlite_store_int.h - what the SQLite store's files share (private to src/store).
 *
 * The backend is split by table family: sqlite_store.c (transactions, row
 * helpers, open/migrate/close),
 * sqlite_catalog.c (miners, models, datasets), sqlite_tasks.c (tasks, their
 * events, offers) and sqlite_results.c (submissions, rule results, scores,
 * flags, settings). Every operation takes the handle's mutex through
 * ss_enter/ss_enter_tx and gives it back through ss_leave/ss_leave_tx;
 * store.c dispatches to them through tn_sqlite_store_ops.
 */
#ifndef TN_STORE_SQLITE_STORE_INT_H
#define TN_STORE_SQLITE_STORE_INT_H

#include "store/store.h"
#include "store/store_int.h"
#include "store/sqlite.h"
#include "base/err.h"

#include <sqlite3.h>

/* The operations of store_int.h's TN_STORE_OPS, prefixed sqs_. */
#define SQS_DECLARE(name, params, args) int sqs_##name params;
TN_STORE_OPS(SQS_DECLARE)

/* enter + BEGIN IMMEDIATE; on failure the mutex is released. */
int ss_enter_tx(tn_store *s);
/* COMMIT when rc is 0, else ROLLBACK; then leave. */
int ss_leave_tx(tn_store *s, int rc);
/* Column i as one of names[0..n) (an unknown value is an error). */
int ss_col_enum(sqlite3_stmt *st, int i, const char *const *names, int n, int *out);
/* Exactly one row into *out (zeroed first): NOT_FOUND with `what` when none. */
int ss_fetch_one(tn_store *s, sqlite3_stmt *st, size_t size, tn_sqlite_row_fn row, void *out, const char *what);
/* One text column of the row with this id, into buf. */
int ss_read_text(tn_store *s, const char *sql, int64_t id, char *buf, size_t cap);

/* Offers' columns and row reader (sqlite_tasks.c), also read by uploads. */
#define OFFER_COLS "task_id, miner_id, status, token, offered_at, answered_at, updated_at, message"
int ss_row_offer(sqlite3_stmt *st, void *out);

#endif
