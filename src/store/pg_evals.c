/* pg_evals.c - evaluation jobs leased to workers, on PostgreSQL (store.h,
 * docs/store.md "Evaluation jobs").
 *
 * A claim is the queue idiom of PostgreSQL: SELECT ... FOR UPDATE SKIP
 * LOCKED LIMIT 1 takes the oldest claimable row that no other claimer holds
 * and locks it, then the UPDATE marks it running, in one transaction. That
 * transaction runs at READ COMMITTED, not SERIALIZABLE as every other write
 * here: the row lock is what makes the claim exclusive (a row another
 * claimer committed meanwhile is re-checked against the WHERE and skipped),
 * and under SERIALIZABLE every pair of concurrent claims would read the
 * same predicate and one of them would be aborted and retried, which is
 * the contention SKIP LOCKED exists to avoid. Renewals, results and failures
 * are single-row compare-and-sets under SERIALIZABLE like the rest. */
#include "store/pg_store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int row_eval(const PGresult *r, int i, void *out) {
    tn_eval *e = out;
    e->id = pgq_i64(r, i, 0);
    e->task_id = pgq_i64(r, i, 1);
    e->submission_id = pgq_i64(r, i, 2);
    int v = 0;
    if (pgq_enum(r, i, 3, ss_eval_states, TN_EVAL_NSTATES, &v)) return -1;
    e->state = (tn_eval_state)v;
    e->job_json = pgq_str(r, i, 4);
    e->lease_owner = pgq_str(r, i, 5);
    e->lease_expires = pgq_i64(r, i, 6);
    e->attempts = pgq_i64(r, i, 7);
    e->result_json = pgq_str(r, i, 8);
    e->error = pgq_str(r, i, 9);
    e->created_at = pgq_i64(r, i, 10);
    e->updated_at = pgq_i64(r, i, 11);
    return 0;
}

static int get_eval(tn_store *s, int64_t id, tn_eval *out) {
    char what[64];
    snprintf(what, sizeof what, "no evaluation %lld", (long long)id);
    return pgq_fetch_one(s,
                         pgq_exec(s, "reading evaluation", "SELECT " SS_EVAL_COLS " FROM evaluations WHERE id = $1",
                                  "i", id),
                         sizeof *out, row_eval, out, what);
}

static int enqueue_tx(tn_store *s, int64_t task_id, int64_t submission_id, const char *job_json, int64_t now,
                      int64_t *id) {
    int rc = pgq_run(s, "queueing evaluation", NULL,
                     "INSERT INTO evaluations (task_id, submission_id, state, job_json, created_at, updated_at) "
                     "VALUES ($1, $2, 'queued', $3, $4, $4) ON CONFLICT (task_id, submission_id) DO NOTHING",
                     "iiti", task_id, submission_id, ss_json_or_empty(job_json), now);
    if (rc == 0)
        rc = pgq_scalar(s, id, "SELECT id FROM evaluations WHERE task_id = $1 AND submission_id = $2", "ii", task_id,
                        submission_id);
    return rc;
}

int pgs_eval_enqueue(tn_store *s, int64_t task_id, int64_t submission_id, const char *job_json, int64_t now,
                     int64_t *id_out) {
    if (submission_id < 0) return ss_fail_code(TN_STORE_ERROR, "store: submission id %lld", (long long)submission_id);
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc;
    int64_t id = 0;
    PG_TX(s, rc, enqueue_tx(s, task_id, submission_id, job_json, now, &id));
    if (rc == 0 && id_out) *id_out = id;
    return ss_leave(s, rc);
}

/* The claim's transaction: 0 with *out, or NOT_FOUND with *none set (the
 * jobs it gave up on are still committed). */
static int claim_tx(tn_store *s, const char *owner, int64_t now, int64_t lease_ms, tn_eval *out, int *none) {
    *none = 0;
    int rc = pgq_run(s, "claiming evaluation", NULL, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", NULL);
    while (rc == 0) {
        PGresult *r = pgq_exec(s, "finding an evaluation to claim",
                               "SELECT id, attempts FROM evaluations WHERE state IN ('queued', 'running') "
                               "AND lease_expires <= $1 ORDER BY id LIMIT 1 "
                               "FOR UPDATE SKIP LOCKED",
                               "i", now);
        if (!r) return TN_STORE_ERROR;
        int found = PQntuples(r) > 0;
        int64_t id = found ? pgq_i64(r, 0, 0) : 0, attempts = found ? pgq_i64(r, 0, 1) : 0;
        PQclear(r);
        if (!found) {
            *none = 1;
            return 0;
        }
        if (attempts >= TN_EVAL_MAX_ATTEMPTS) {
            /* only a running job gets here with its attempts used up (fail()
             * leaves it failed at once): its last worker died too */
            rc = pgq_run(s, "giving up an evaluation", NULL,
                         "UPDATE evaluations SET state = 'failed', updated_at = $1, "
                         "error = 'lease of ' || lease_owner || ' expired on attempt ' || attempts WHERE id = $2",
                         "ii", now, id);
            continue;
        }
        rc = pgq_run(s, "claiming evaluation", NULL,
                     "UPDATE evaluations SET error = CASE WHEN state = 'running' THEN 'lease of ' || "
                     "lease_owner || ' expired at ' || lease_expires ELSE error END, state = 'running', "
                     "lease_owner = $1, lease_expires = $2, attempts = attempts + 1, updated_at = $3 WHERE id = $4",
                     "tiii", owner, now + lease_ms, now, id);
        if (rc == 0) ss_hook(s, "eval_claim:before_commit");
        tn_eval_clear(out); /* (a retried transaction may have read it once) */
        return rc ? rc : get_eval(s, id, out);
    }
    return rc;
}

int pgs_eval_claim(tn_store *s, const char *owner, int64_t now, int64_t lease_ms, tn_eval *out) {
    memset(out, 0, sizeof *out);
    if (ss_check_lease(owner, lease_ms, 1)) return TN_STORE_ERROR;
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc, none = 0;
    PG_TX(s, rc, claim_tx(s, owner, now, lease_ms, out, &none));
    if (rc != 0) tn_eval_clear(out);
    return ss_leave(s, rc == 0 && none ? TN_STORE_NOT_FOUND : rc);
}

/* After a lease operation's UPDATE: 0 when it changed the row, else why not. */
static int lease_verdict(tn_store *s, int rc, int64_t changed, int64_t id, const char *owner, int64_t now,
                         const char *what) {
    if (rc != 0 || changed == 1) return rc;
    tn_eval e = {0};
    rc = get_eval(s, id, &e);
    if (rc == 0 || rc == TN_STORE_NOT_FOUND)
        rc = ss_lease_lost(id, owner, rc == 0, tn_eval_state_name(e.state), e.lease_owner, e.lease_expires, now,
                           what);
    tn_eval_clear(&e);
    return rc;
}

#define TN_STR_(x) #x
#define TN_STR(x) TN_STR_(x)

/* the WHERE of every lease operation: still ours, and not expired */
#define HELD "WHERE id = $3 AND state = 'running' AND lease_owner = $4 AND lease_expires > $2"

typedef struct {
    int64_t id, now, n;
    const char *owner, *text, *what, *sql, *hook;
} lease_op;

/* $1 the new value (int64 n, or text), $2 now, $3 id, $4 owner, $5 the attempts limit */
static int lease_tx(tn_store *s, const lease_op *op) {
    int64_t changed = 0;
    /* (a parameter the statement does not use is still sent: its type is declared) */
    int rc = op->text ? pgq_run(s, op->what, &changed, op->sql, "tiiti", op->text, op->now, op->id, op->owner,
                                (int64_t)TN_EVAL_MAX_ATTEMPTS)
                      : pgq_run(s, op->what, &changed, op->sql, "iiit", op->n, op->now, op->id, op->owner);
    if (rc == 0 && changed == 1 && op->hook) ss_hook(s, op->hook);
    return lease_verdict(s, rc, changed, op->id, op->owner, op->now, op->what);
}

static int lease_run(tn_store *s, const lease_op *op) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc;
    PG_TX(s, rc, lease_tx(s, op));
    return ss_leave(s, rc);
}

int pgs_eval_renew(tn_store *s, int64_t id, const char *owner, int64_t now, int64_t lease_ms) {
    if (ss_check_lease(owner, lease_ms, 1)) return TN_STORE_ERROR;
    lease_op op = {.id = id, .now = now, .n = now + lease_ms, .owner = owner, .what = "renewal",
                   .sql = "UPDATE evaluations SET lease_expires = $1, updated_at = $2 " HELD};
    return lease_run(s, &op);
}

int pgs_eval_complete(tn_store *s, int64_t id, const char *owner, const char *result_json, int64_t now) {
    if (ss_check_lease(owner, 0, 0)) return TN_STORE_ERROR;
    lease_op op = {.id = id, .now = now, .owner = owner, .text = ss_json_or_empty(result_json), .what = "result",
                   .hook = "eval_complete:before_commit",
                   .sql = "UPDATE evaluations SET state = 'done', result_json = $1, "
                          "updated_at = $2 " HELD};
    return lease_run(s, &op);
}

int pgs_eval_fail(tn_store *s, int64_t id, const char *owner, const char *error, int64_t now) {
    if (ss_check_lease(owner, 0, 0)) return TN_STORE_ERROR;
    lease_op op = {.id = id, .now = now, .owner = owner, .text = error ? error : "(no reason given)",
                   .what = "failure report",
                   .sql = "UPDATE evaluations SET state = CASE WHEN attempts >= $5 THEN 'failed' ELSE 'queued' END, "
                          "lease_owner = CASE WHEN attempts >= $5 THEN lease_owner END, "
                          "lease_expires = $2 + " TN_STR(TN_EVAL_RETRY_MS) ", "
                          "error = $1, updated_at = $2 " HELD};
    return lease_run(s, &op);
}

int pgs_eval_get(tn_store *s, int64_t id, tn_eval *out) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    return ss_leave(s, get_eval(s, id, out));
}

int pgs_eval_list(tn_store *s, int64_t task_id, tn_eval **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "listing evaluations",
                           "SELECT " SS_EVAL_COLS " FROM evaluations WHERE ($1 = 0 OR task_id = $1) ORDER BY id", "i",
                           task_id);
    return ss_leave(s, pgq_fetch_all(s, r, sizeof **v, row_eval, ss_clear_eval, (void **)v, n));
}

/* ---- leases of a role (migration 5) ------------------------------------------------ */

static int lease_take_tx(tn_store *s, const char *name, const char *owner, int64_t now, int64_t lease_ms,
                         char **holder_out) {
    int64_t changed = 0;
    /* free, expired, or ours: taken; else the row is left alone (no change) */
    int rc = pgq_run(s, "taking lease", &changed,
                     "INSERT INTO leases (name, owner, expires, since) VALUES ($1, $2, $3, $4) "
                     "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires, "
                     "since = CASE WHEN leases.owner = excluded.owner THEN leases.since ELSE excluded.since END "
                     "WHERE leases.owner = excluded.owner OR leases.expires <= excluded.since",
                     "ttii", name, owner, now + lease_ms, now);
    if (rc != 0 || changed == 1) return rc;
    PGresult *r = pgq_exec(s, "reading lease", "SELECT owner, expires FROM leases WHERE name = $1", "t", name);
    if (!r) return TN_STORE_ERROR;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return ss_fail_code(TN_STORE_ERROR, "store: lease '%s' neither taken nor held", name);
    }
    char *holder = pgq_str(r, 0, 0);
    int64_t expires = pgq_i64(r, 0, 1);
    PQclear(r);
    rc = ss_fail_code(TN_STORE_CONFLICT, "store: lease '%s' is held by '%s' for %lld ms more", name, holder,
                      (long long)(expires - now));
    free(*holder_out); /* (a retried transaction may have read it once) */
    *holder_out = holder;
    return rc;
}

int pgs_lease_take(tn_store *s, const char *name, const char *owner, int64_t now, int64_t lease_ms,
                   char **holder_out) {
    char *holder = NULL;
    if (holder_out) *holder_out = NULL;
    if (ss_nonempty(name, "lease name") || ss_check_lease(owner, lease_ms, 1)) return TN_STORE_ERROR;
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc;
    PG_TX(s, rc, lease_take_tx(s, name, owner, now, lease_ms, &holder));
    if (holder_out && rc == TN_STORE_CONFLICT) *holder_out = holder;
    else free(holder);
    return ss_leave(s, rc);
}

int pgs_lease_release(tn_store *s, const char *name, const char *owner) {
    if (ss_nonempty(name, "lease name") || ss_check_lease(owner, 0, 0)) return TN_STORE_ERROR;
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc;
    PG_TX(s, rc, pgq_run(s, "releasing lease", NULL, "DELETE FROM leases WHERE name = $1 AND owner = $2", "tt",
                         name, owner));
    return ss_leave(s, rc);
}
