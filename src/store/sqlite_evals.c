/* sqlite_evals.c - evaluation jobs leased to workers, on SQLite (store.h,
 * docs/store.md "Evaluation jobs"). Every operation that writes is one
 * BEGIN IMMEDIATE transaction: the write lock taken at BEGIN is what makes
 * a claim exclusive (no other process can pick the same row between our
 * SELECT and our UPDATE), where PostgreSQL uses a row lock (pg_evals.c). */
#include "store/sqlite_store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int row_eval(sqlite3_stmt *st, void *out) {
    tn_eval *e = out;
    e->id = tn_sqlite_col_i64(st, 0);
    e->task_id = tn_sqlite_col_i64(st, 1);
    e->submission_id = tn_sqlite_col_i64(st, 2);
    int v = 0;
    if (ss_col_enum(st, 3, ss_eval_states, TN_EVAL_NSTATES, &v)) return -1;
    e->state = (tn_eval_state)v;
    e->job_json = tn_sqlite_col_str(st, 4);
    e->lease_owner = tn_sqlite_col_str(st, 5);
    e->lease_expires = tn_sqlite_col_i64(st, 6);
    e->attempts = tn_sqlite_col_i64(st, 7);
    e->result_json = tn_sqlite_col_str(st, 8);
    e->error = tn_sqlite_col_str(st, 9);
    e->created_at = tn_sqlite_col_i64(st, 10);
    e->updated_at = tn_sqlite_col_i64(st, 11);
    return 0;
}

static int get_eval(tn_store *s, int64_t id, tn_eval *out) {
    char what[64];
    snprintf(what, sizeof what, "no evaluation %lld", (long long)id);
    return ss_fetch_one(s, tn_sqlite_q(&s->h, "SELECT " SS_EVAL_COLS " FROM evaluations WHERE id = ?", "i", id),
                        sizeof *out, row_eval, out, what);
}

int sqs_eval_enqueue(tn_store *s, int64_t task_id, int64_t submission_id, const char *job_json, int64_t now,
                     int64_t *id_out) {
    if (submission_id < 0) return ss_fail_code(TN_STORE_ERROR, "store: submission id %lld", (long long)submission_id);
    int rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    rc = tn_sqlite_run(&s->h, "queueing evaluation",
                       "INSERT INTO evaluations (task_id, submission_id, state, job_json, created_at, updated_at) "
                       "VALUES (?, ?, 'queued', ?, ?, ?) ON CONFLICT (task_id, submission_id) DO NOTHING",
                       "iitii", task_id, submission_id, ss_json_or_empty(job_json), now, now);
    int64_t id = 0;
    if (rc == 0)
        rc = tn_sqlite_scalar(&s->h, &id, "SELECT id FROM evaluations WHERE task_id = ? AND submission_id = ?", "ii",
                              task_id, submission_id);
    if (rc == 0 && id_out) *id_out = id;
    return ss_leave_tx(s, rc);
}

/* The claim's transaction: 0 with *out, or NOT_FOUND (nothing to claim;
 * the jobs it gave up on are still committed). */
static int claim_tx(tn_store *s, const char *owner, int64_t now, int64_t lease_ms, tn_eval *out) {
    for (;;) {
        int64_t id = 0, attempts = 0;
        sqlite3_stmt *st = tn_sqlite_q(&s->h,
                                       "SELECT id, attempts FROM evaluations WHERE state IN ('queued', 'running') "
                               "AND lease_expires <= ? ORDER BY id LIMIT 1",
                                       "i", now);
        if (!st) return TN_STORE_ERROR;
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            id = tn_sqlite_col_i64(st, 0);
            attempts = tn_sqlite_col_i64(st, 1);
        }
        tn_sqlite_done(st);
        if (step == SQLITE_DONE) return TN_STORE_NOT_FOUND;
        if (step != SQLITE_ROW) return tn_sqlite_fail(&s->h, "finding an evaluation to claim");
        int rc;
        if (attempts >= TN_EVAL_MAX_ATTEMPTS) {
            /* only a running job gets here with its attempts used up (fail()
             * leaves it failed at once): its last worker died too */
            rc = tn_sqlite_run(&s->h, "giving up an evaluation",
                               "UPDATE evaluations SET state = 'failed', updated_at = ?, "
                               "error = 'lease of ' || lease_owner || ' expired on attempt ' || attempts "
                               "WHERE id = ?",
                               "ii", now, id);
            if (rc != 0) return rc;
            continue;
        }
        rc = tn_sqlite_run(&s->h, "claiming evaluation",
                           "UPDATE evaluations SET error = CASE WHEN state = 'running' THEN 'lease of ' || "
                           "lease_owner || ' expired at ' || lease_expires ELSE error END, state = 'running', "
                           "lease_owner = ?, lease_expires = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
                           "tiii", owner, now + lease_ms, now, id);
        if (rc == 0) ss_hook(s, "eval_claim:before_commit");
        return rc ? rc : get_eval(s, id, out);
    }
}

int sqs_eval_claim(tn_store *s, const char *owner, int64_t now, int64_t lease_ms, tn_eval *out) {
    memset(out, 0, sizeof *out);
    if (ss_check_lease(owner, lease_ms, 1)) return TN_STORE_ERROR;
    int rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    rc = claim_tx(s, owner, now, lease_ms, out);
    int none = rc == TN_STORE_NOT_FOUND;
    rc = ss_leave_tx(s, none ? 0 : rc);
    if (rc != 0) tn_eval_clear(out);
    return rc == 0 && none ? TN_STORE_NOT_FOUND : rc;
}

/* After a lease operation's UPDATE: 0 when it changed the row, else why not. */
static int lease_verdict(tn_store *s, int rc, int64_t id, const char *owner, int64_t now, const char *what) {
    if (rc != 0 || sqlite3_changes(s->h.db) == 1) return rc;
    tn_eval e = {0};
    rc = get_eval(s, id, &e);
    if (rc == 0 || rc == TN_STORE_NOT_FOUND)
        rc = ss_lease_lost(id, owner, rc == 0, tn_eval_state_name(e.state), e.lease_owner, e.lease_expires, now,
                           what);
    tn_eval_clear(&e);
    return rc;
}

/* the WHERE of every lease operation: still ours, and not expired */
#define HELD "WHERE id = ? AND state = 'running' AND lease_owner = ? AND lease_expires > ?"

int sqs_eval_renew(tn_store *s, int64_t id, const char *owner, int64_t now, int64_t lease_ms) {
    if (ss_check_lease(owner, lease_ms, 1)) return TN_STORE_ERROR;
    int rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    rc = tn_sqlite_run(&s->h, "renewing lease", "UPDATE evaluations SET lease_expires = ?, updated_at = ? " HELD,
                       "iiiti", now + lease_ms, now, id, owner, now);
    return ss_leave_tx(s, lease_verdict(s, rc, id, owner, now, "renewal"));
}

int sqs_eval_complete(tn_store *s, int64_t id, const char *owner, const char *result_json, int64_t now) {
    if (ss_check_lease(owner, 0, 0)) return TN_STORE_ERROR;
    int rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    rc = tn_sqlite_run(&s->h, "recording evaluation result",
                       "UPDATE evaluations SET state = 'done', result_json = ?, updated_at = ? " HELD,
                       "tiiti", ss_json_or_empty(result_json), now, id, owner, now);
    if (rc == 0) ss_hook(s, "eval_complete:before_commit");
    return ss_leave_tx(s, lease_verdict(s, rc, id, owner, now, "result"));
}

int sqs_eval_fail(tn_store *s, int64_t id, const char *owner, const char *error, int64_t now) {
    if (ss_check_lease(owner, 0, 0)) return TN_STORE_ERROR;
    int rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    rc = tn_sqlite_run(&s->h, "failing evaluation",
                       "UPDATE evaluations SET state = CASE WHEN attempts >= ? THEN 'failed' ELSE 'queued' END, "
                       "lease_owner = CASE WHEN attempts >= ? THEN lease_owner END, lease_expires = ?, "
                       "error = ?, updated_at = ? " HELD,
                       "iiitiiti", (int64_t)TN_EVAL_MAX_ATTEMPTS, (int64_t)TN_EVAL_MAX_ATTEMPTS,
                       now + TN_EVAL_RETRY_MS, error ? error : "(no reason given)", now, id, owner, now);
    return ss_leave_tx(s, lease_verdict(s, rc, id, owner, now, "failure report"));
}

int sqs_eval_get(tn_store *s, int64_t id, tn_eval *out) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    return ss_leave(s, get_eval(s, id, out));
}

int sqs_eval_list(tn_store *s, int64_t task_id, tn_eval **v, size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(&s->h,
                                 tn_sqlite_q(&s->h,
                                             "SELECT " SS_EVAL_COLS " FROM evaluations "
                                             "WHERE (? = 0 OR task_id = ?) ORDER BY id",
                                             "ii", task_id, task_id),
                                 sizeof **v, row_eval, ss_clear_eval, (void **)v, n);
    return ss_leave(s, rc);
}

/* ---- leases of a role (migration 5) ------------------------------------------------ */

/* Who holds lease `name` after a take that changed nothing: CONFLICT. */
static int lease_held(tn_store *s, const char *name, int64_t now, char **holder_out) {
    sqlite3_stmt *st = tn_sqlite_q(&s->h, "SELECT owner, expires FROM leases WHERE name = ?", "t", name);
    if (!st) return TN_STORE_ERROR;
    int step = sqlite3_step(st);
    char *owner = step == SQLITE_ROW ? tn_sqlite_col_str(st, 0) : NULL;
    int64_t expires = step == SQLITE_ROW ? tn_sqlite_col_i64(st, 1) : 0;
    tn_sqlite_done(st);
    if (step != SQLITE_ROW) {
        free(owner);
        return tn_sqlite_fail(&s->h, "reading lease");
    }
    int rc = ss_fail_code(TN_STORE_CONFLICT, "store: lease '%s' is held by '%s' for %lld ms more", name, owner,
                          (long long)(expires - now));
    if (holder_out) *holder_out = owner;
    else free(owner);
    return rc;
}

int sqs_lease_take(tn_store *s, const char *name, const char *owner, int64_t now, int64_t lease_ms,
                   char **holder_out) {
    if (holder_out) *holder_out = NULL;
    if (ss_nonempty(name, "lease name") || ss_check_lease(owner, lease_ms, 1)) return TN_STORE_ERROR;
    int rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    /* free, expired, or ours: taken; else the row is left alone (no change) */
    rc = tn_sqlite_run(&s->h, "taking lease",
                       "INSERT INTO leases (name, owner, expires, since) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires, "
                       "since = CASE WHEN leases.owner = excluded.owner THEN leases.since ELSE excluded.since END "
                       "WHERE leases.owner = excluded.owner OR leases.expires <= excluded.since",
                       "ttii", name, owner, now + lease_ms, now);
    if (rc == 0 && sqlite3_changes(s->h.db) != 1) rc = lease_held(s, name, now, holder_out);
    return ss_leave_tx(s, rc);
}

int sqs_lease_release(tn_store *s, const char *name, const char *owner) {
    if (ss_nonempty(name, "lease name") || ss_check_lease(owner, 0, 0)) return TN_STORE_ERROR;
    int rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    rc = tn_sqlite_run(&s->h, "releasing lease", "DELETE FROM leases WHERE name = ? AND owner = ?", "tt", name,
                       owner);
    return ss_leave_tx(s, rc);
}
