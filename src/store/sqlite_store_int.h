/* sqlite_store_int.h - what the SQLite store's files share (private to src/store).
 *
 * The backend is split by table family: sqlite_store.c (names of states,
 * locking and transactions, row helpers, open/migrate/close),
 * sqlite_catalog.c (miners, models, datasets), sqlite_tasks.c (tasks, their
 * events, offers) and sqlite_results.c (submissions, rule results, scores,
 * flags, settings). Every public function takes the handle's mutex through
 * ss_enter/ss_enter_tx and gives it back through ss_leave/ss_leave_tx.
 */
#ifndef TN_STORE_SQLITE_STORE_INT_H
#define TN_STORE_SQLITE_STORE_INT_H

#include "store/store.h"
#include "store/sqlite.h"
#include "base/err.h"

#include <pthread.h>
#include <sqlite3.h>
#include <sys/types.h>

struct tn_store {
    tn_sqlite h; /* the connection (sqlite.h) */
    char *path;
    pthread_mutex_t mu;
    pid_t pid; /* the process that opened it; a forked child must not use it */
    int max_total, max_per_owner;
    tn_store_crash_hook hook;
    void *hook_arg;
};

/* Names of the enumerations as stored (their order is the enums'). */
extern const char *const ss_task_states[TN_TASK_NSTATES];
extern const char *const ss_offer_statuses[TN_OFFER_NSTATUS];
extern const char *const ss_decisions[3];
extern const char *const ss_sub_kinds[2];
/* The offer life cycle's edges (tn_store_offer_update). */
int ss_offer_edge_allowed(tn_offer_status from, tn_offer_status to);

/* Sets the error message and returns `code` (a TN_STORE_* status). */
int ss_fail_code(int code, const char *fmt, ...) TN_PRINTF(2, 3);
/* Take the handle's mutex (refused in a forked child) / give it back, passing rc through. */
int ss_enter(tn_store *s);
int ss_leave(tn_store *s, int rc);
/* enter + BEGIN IMMEDIATE; on failure the mutex is released. */
int ss_enter_tx(tn_store *s);
/* COMMIT when rc is 0, else ROLLBACK; then leave. */
int ss_leave_tx(tn_store *s, int rc);
/* Calls the crash hook (tests) at a named point inside a transaction. */
void ss_hook(tn_store *s, const char *point);

/* Column i as one of names[0..n) (an unknown value is an error). */
int ss_col_enum(sqlite3_stmt *st, int i, const char *const *names, int n, int *out);
/* Exactly one row into *out (zeroed first): NOT_FOUND with `what` when none. */
int ss_fetch_one(tn_store *s, sqlite3_stmt *st, size_t size, tn_sqlite_row_fn row, void *out, const char *what);
/* One text column of the row with this id, into buf. */
int ss_read_text(tn_store *s, const char *sql, int64_t id, char *buf, size_t cap);

/* Argument checks. */
int ss_nonempty(const char *v, const char *what);
int ss_is_hex64(const char *v);
const char *ss_json_or_empty(const char *j);

/* Offers' columns and row reader (sqlite_tasks.c), also read by uploads. */
#define OFFER_COLS "task_id, miner_id, status, token, offered_at, answered_at, updated_at, message"
int ss_row_offer(sqlite3_stmt *st, void *out);

#endif
