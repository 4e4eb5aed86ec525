/* pg_tasks.c - tasks, their events, offers (the PostgreSQL store: see pg_store_int.h). */
#include "store/pg_store_int.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tasks ------------------------------------------------------------------------- */

/* `minutes` holds tn_task.time_limit_ms (store.h says why). */
#define TASK_COLS                                                                              \
    "id, model, dataset, state, failure_reason, created_at, updated_at, deadline, minutes, "   \
    "split_seed, train_hash, test_hash, synth_hash, params_json"

static int row_task(const PGresult *r, int i, void *out) {
    tn_task *t = out;
    int state;
    if (pgq_enum(r, i, 3, ss_task_states, TN_TASK_NSTATES, &state) != 0) return -1;
    t->id = pgq_i64(r, i, 0);
    t->model = pgq_str(r, i, 1);
    t->dataset = pgq_str(r, i, 2);
    t->state = (tn_task_state)state;
    t->failure_reason = pgq_str(r, i, 4);
    t->created_at = pgq_i64(r, i, 5);
    t->updated_at = pgq_i64(r, i, 6);
    t->deadline = pgq_i64(r, i, 7);
    t->time_limit_ms = pgq_i64(r, i, 8);
    t->split_seed = pgq_i64(r, i, 9);
    t->train_hash = pgq_str(r, i, 10);
    t->test_hash = pgq_str(r, i, 11);
    t->synth_hash = pgq_str(r, i, 12);
    t->params_json = pgq_str(r, i, 13);
    return 0;
}

static int add_event(tn_store *s, int64_t task_id, const char *from, const char *to,
                     const char *reason, int64_t now) {
    return pgq_run(s, "recording task event", NULL,
                   "INSERT INTO task_events (task_id, from_state, to_state, reason, at) "
                   "VALUES ($1, $2, $3, $4, $5)",
                   "ittti", task_id, from, to, reason, now);
}

static int task_create_tx(tn_store *s, const tn_task *in, int64_t *id) {
    int64_t v;
    /* Explicit checks give a better message than a foreign key failure. */
    int rc = pgq_scalar(s, &v, "SELECT id FROM models WHERE name = $1", "t", in->model);
    if (rc == TN_STORE_NOT_FOUND)
        return ss_fail_code(TN_STORE_NOT_FOUND, "store: task: no model named '%s' in the catalog",
                            in->model ? in->model : "");
    if (rc != 0) return rc;
    rc = pgq_scalar(s, &v, "SELECT id FROM datasets WHERE name = $1", "t", in->dataset);
    if (rc == TN_STORE_NOT_FOUND)
        return ss_fail_code(TN_STORE_NOT_FOUND, "store: task: no dataset named '%s' in the catalog",
                            in->dataset ? in->dataset : "");
    if (rc != 0) return rc;
    rc = pgq_scalar(s, id,
                    "INSERT INTO tasks (model, dataset, state, created_at, updated_at, deadline, "
                    "minutes, split_seed, train_hash, test_hash, synth_hash, params_json) "
                    "VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                    "ttiiiiitttt", in->model, in->dataset, in->created_at, in->created_at,
                    in->deadline, in->time_limit_ms, in->split_seed, in->train_hash, in->test_hash,
                    in->synth_hash, ss_json_or_empty(in->params_json));
    if (rc == 0) rc = add_event(s, *id, NULL, "pending", "created", in->created_at);
    return rc;
}

int pgs_task_create(tn_store *s, const tn_task *in, int64_t *id_out) {
    if (in->time_limit_ms <= 0) return tn_fail("store: task needs a positive time limit (time_limit_ms)");
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc;
    int64_t id = 0;
    PG_TX(s, rc, task_create_tx(s, in, &id));
    if (rc == 0 && id_out) *id_out = id;
    return ss_leave(s, rc);
}

static int create_in_slot_tx(tn_store *s, const tn_task *in, int64_t competition, int64_t slot, int64_t *id) {
    int64_t held;
    int rc = pgq_scalar(s, &held, "SELECT task_id FROM task_slots WHERE competition = $1 AND slot = $2", "ii",
                        competition, slot);
    if (rc == 0) {
        *id = held;
        return ss_fail_code(TN_STORE_EXISTS, "store: slot %lld of competition %lld has task %lld already",
                            (long long)slot, (long long)competition, (long long)held);
    }
    if (rc != TN_STORE_NOT_FOUND) return rc;
    rc = task_create_tx(s, in, id);
    /* a concurrent transaction took the slot after our snapshot: run again
     * and see its task (pg_store_int.h) */
    if (rc == 0)
        rc = pgs_race_is_retry(s, pgq_run(s, "recording the competition slot", NULL, "INSERT INTO task_slots (competition, slot, task_id, created_at) "
                                             "VALUES ($1, $2, $3, $4)",
                                      "iiii", competition, slot, *id, in->created_at));
    return rc;
}

int pgs_task_create_in_slot(tn_store *s, const tn_task *in, int64_t competition, int64_t slot, int64_t *id_out) {
    if (slot < 0) return tn_fail("store: competition slot %lld is negative", (long long)slot);
    if (in->time_limit_ms <= 0) return tn_fail("store: task needs a positive time limit (time_limit_ms)");
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc;
    int64_t id = 0;
    PG_TX(s, rc, create_in_slot_tx(s, in, competition, slot, &id));
    if ((rc == 0 || rc == TN_STORE_EXISTS) && id_out) *id_out = id;
    return ss_leave(s, rc);
}

static int row_slot(const PGresult *r, int i, void *out) {
    tn_task_slot *t = out;
    t->competition = pgq_i64(r, i, 0);
    t->slot = pgq_i64(r, i, 1);
    t->task_id = pgq_i64(r, i, 2);
    t->created_at = pgq_i64(r, i, 3);
    return 0;
}

static void clear_nothing(void *p) { (void)p; }

int pgs_task_slots(tn_store *s, int64_t competition, tn_task_slot **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "listing competition slots",
                           "SELECT competition, slot, task_id, created_at FROM task_slots WHERE competition = $1 "
                           "ORDER BY slot",
                           "i", competition);
    int rc = pgq_fetch_all(s, r, sizeof **v, row_slot, clear_nothing, (void **)v, n);
    return ss_leave(s, rc);
}

int pgs_task_get(tn_store *s, int64_t id, tn_task *out) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    char what[64];
    snprintf(what, sizeof what, "no task with id %lld", (long long)id);
    int rc = pgq_fetch_one(s, pgq_exec(s, "reading task", "SELECT " TASK_COLS " FROM tasks WHERE id = $1", "i", id),
                           sizeof *out, row_task, out, what);
    return ss_leave(s, rc);
}

int pgs_task_list(tn_store *s, int state, tn_task **v, size_t *n) {
    if (state >= TN_TASK_NSTATES) return tn_fail("store: unknown task state %d", state);
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = state < 0 ? pgq_exec(s, "listing tasks", "SELECT " TASK_COLS " FROM tasks ORDER BY id", NULL)
                            : pgq_exec(s, "listing tasks", "SELECT " TASK_COLS " FROM tasks WHERE state = $1 ORDER BY id",
                                       "t", ss_task_states[state]);
    int rc = pgq_fetch_all(s, r, sizeof **v, row_task, ss_clear_task, (void **)v, n);
    return ss_leave(s, rc);
}

/* One text column of one row into buf ("" for NULL); NOT_FOUND when no row. */
static int read_text(tn_store *s, PGresult *r, char *buf, size_t cap) {
    if (!r) return TN_STORE_ERROR;
    int rc = PQntuples(r) > 0 ? 0 : TN_STORE_NOT_FOUND;
    if (rc == 0) snprintf(buf, cap, "%s", PQgetvalue(r, 0, 0));
    (void)s;
    PQclear(r);
    return rc;
}

static int transition_tx(tn_store *s, int64_t id, tn_task_state from, tn_task_state to,
                         const char *reason, int64_t now, const tn_task_patch *p) {
    char cur[32];
    int rc = read_text(s, pgq_exec(s, "reading task state", "SELECT state FROM tasks WHERE id = $1", "i", id),
                       cur, sizeof cur);
    if (rc == TN_STORE_NOT_FOUND)
        return ss_fail_code(TN_STORE_NOT_FOUND, "store: no task with id %lld", (long long)id);
    if (rc != 0) return rc;
    if (strcmp(cur, ss_task_states[from]) != 0)
        return ss_fail_code(TN_STORE_CONFLICT,
                            "store: task %lld is '%s', not '%s': its state changed under you "
                            "(another worker moved it); re-read it",
                            (long long)id, cur, ss_task_states[from]);
    /* The WHERE on state repeats the compare-and-set in the statement; under
     * SERIALIZABLE a concurrent mover makes one of the two fail with 40001,
     * and its retry finds the new state above. */
    int64_t changed = 0;
    rc = pgq_run(s, "moving task", &changed,
                 "UPDATE tasks SET state = $1, updated_at = $2, "
                 "  failure_reason = CASE WHEN $3 = 'failed' THEN $4 ELSE failure_reason END, "
                 "  deadline = CASE WHEN $5 > 0 THEN $6 ELSE deadline END, "
                 "  train_hash = COALESCE($7, train_hash), test_hash = COALESCE($8, test_hash), "
                 "  synth_hash = COALESCE($9, synth_hash) "
                 "WHERE id = $10 AND state = $11",
                 "tittiitttit", ss_task_states[to], now, ss_task_states[to], reason, p->deadline,
                 p->deadline, p->train_hash, p->test_hash, p->synth_hash, id, ss_task_states[from]);
    if (rc == 0 && changed != 1)
        rc = ss_fail_code(TN_STORE_CONFLICT, "store: task %lld changed under you", (long long)id);
    if (rc == 0) rc = add_event(s, id, ss_task_states[from], ss_task_states[to], reason, now);
    if (rc == 0) ss_hook(s, "task_transition:before_commit");
    return rc;
}

int pgs_task_transition_ex(tn_store *s, int64_t id, tn_task_state from, tn_task_state to,
                           const char *reason, int64_t now, const tn_task_patch *patch) {
    if (ss_check_task_edge(id, from, to) != 0) return TN_STORE_ERROR;
    tn_task_patch p = patch ? *patch : (tn_task_patch){0};
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc;
    PG_TX(s, rc, transition_tx(s, id, from, to, reason, now, &p));
    return ss_leave(s, rc);
}

static int row_event(const PGresult *r, int i, void *out) {
    tn_task_event *e = out;
    int from = -1, to;
    if (!pgq_is_null(r, i, 2) && pgq_enum(r, i, 2, ss_task_states, TN_TASK_NSTATES, &from) != 0)
        return -1;
    if (pgq_enum(r, i, 3, ss_task_states, TN_TASK_NSTATES, &to) != 0) return -1;
    e->id = pgq_i64(r, i, 0);
    e->task_id = pgq_i64(r, i, 1);
    e->from = (tn_task_state)from;
    e->to = (tn_task_state)to;
    e->reason = pgq_str(r, i, 4);
    e->at = pgq_i64(r, i, 5);
    return 0;
}

int pgs_task_events(tn_store *s, int64_t task_id, tn_task_event **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "listing task events",
                           "SELECT id, task_id, from_state, to_state, reason, at FROM task_events "
                           "WHERE task_id = $1 ORDER BY id",
                           "i", task_id);
    int rc = pgq_fetch_all(s, r, sizeof **v, row_event, ss_clear_event, (void **)v, n);
    return ss_leave(s, rc);
}

/* ---- offers ------------------------------------------------------------------------- */

int pgs_row_offer(const PGresult *r, int i, void *out) {
    tn_offer *o = out;
    int status;
    if (pgq_enum(r, i, 2, ss_offer_statuses, TN_OFFER_NSTATUS, &status) != 0) return -1;
    o->task_id = pgq_i64(r, i, 0);
    o->miner_id = pgq_i64(r, i, 1);
    o->status = (tn_offer_status)status;
    snprintf(o->token, sizeof o->token, "%s", PQgetvalue(r, i, 3));
    o->offered_at = pgq_i64(r, i, 4);
    o->answered_at = pgq_i64(r, i, 5);
    o->updated_at = pgq_i64(r, i, 6);
    o->message = pgq_str(r, i, 7);
    return 0;
}

static int offer_create_tx(tn_store *s, int64_t task_id, int64_t miner_id, int64_t now,
                           const char *token) {
    int64_t v;
    int rc = pgq_scalar(s, &v, "SELECT id FROM tasks WHERE id = $1", "i", task_id);
    if (rc == TN_STORE_NOT_FOUND)
        return ss_fail_code(rc, "store: offer: no task with id %lld", (long long)task_id);
    if (rc != 0) return rc;
    rc = pgq_scalar(s, &v, "SELECT enabled FROM miners WHERE id = $1", "i", miner_id);
    if (rc == TN_STORE_NOT_FOUND)
        return ss_fail_code(rc, "store: offer: no miner with id %lld", (long long)miner_id);
    if (rc != 0) return rc;
    if (!v) return ss_fail_code(TN_STORE_REFUSED, "store: offer: miner %lld is disabled", (long long)miner_id);
    rc = pgq_scalar(s, &v, "SELECT 1 FROM offers WHERE task_id = $1 AND miner_id = $2", "ii",
                    task_id, miner_id);
    if (rc == 0)
        return ss_fail_code(TN_STORE_EXISTS, "store: miner %lld already has an offer for task %lld",
                            (long long)miner_id, (long long)task_id);
    if (rc != TN_STORE_NOT_FOUND) return rc;
    return pgq_run(s, "recording offer", NULL,
                   "INSERT INTO offers (task_id, miner_id, status, token, offered_at, updated_at) "
                   "VALUES ($1, $2, 'offered', $3, $4, $5)",
                   "iitii", task_id, miner_id, token, now, now);
}

int pgs_offer_create(tn_store *s, int64_t task_id, int64_t miner_id, int64_t now,
                     char token_out[TN_TOKEN_HEX + 1]) {
    char token[TN_TOKEN_HEX + 1];
    ss_new_token(token);
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc;
    PG_TX(s, rc, offer_create_tx(s, task_id, miner_id, now, token));
    if (rc == 0 && token_out) memcpy(token_out, token, sizeof token);
    return ss_leave(s, rc);
}

static int offer_update_tx(tn_store *s, int64_t task_id, int64_t miner_id, tn_offer_status from,
                           tn_offer_status to, const char *message, int64_t now) {
    char cur[32];
    int rc = read_text(s, pgq_exec(s, "reading offer", "SELECT status FROM offers WHERE task_id = $1 AND miner_id = $2",
                                   "ii", task_id, miner_id),
                       cur, sizeof cur);
    if (rc == TN_STORE_NOT_FOUND)
        return ss_fail_code(TN_STORE_NOT_FOUND, "store: no offer of task %lld to miner %lld",
                            (long long)task_id, (long long)miner_id);
    if (rc != 0) return rc;
    if (strcmp(cur, ss_offer_statuses[from]) != 0)
        return ss_fail_code(TN_STORE_CONFLICT,
                            "store: offer of task %lld to miner %lld is '%s', not '%s': it changed "
                            "under you",
                            (long long)task_id, (long long)miner_id, cur, ss_offer_statuses[from]);
    rc = pgq_run(s, "updating offer", NULL,
                 "UPDATE offers SET status = $1, updated_at = $2, message = COALESCE($3, message), "
                 "  answered_at = CASE WHEN $4 = 'offered' THEN $5 ELSE answered_at END "
                 "WHERE task_id = $6 AND miner_id = $7 AND status = $8",
                 "tittiiit", ss_offer_statuses[to], now, message, ss_offer_statuses[from], now,
                 task_id, miner_id, ss_offer_statuses[from]);
    if (rc == 0) ss_hook(s, "offer_update:before_commit");
    return rc;
}

int pgs_offer_update(tn_store *s, int64_t task_id, int64_t miner_id, tn_offer_status from,
                     tn_offer_status to, const char *message, int64_t now) {
    if (ss_check_offer_edge(task_id, miner_id, from, to) != 0) return TN_STORE_ERROR;
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc;
    PG_TX(s, rc, offer_update_tx(s, task_id, miner_id, from, to, message, now));
    return ss_leave(s, rc);
}

int pgs_offer_get(tn_store *s, int64_t task_id, int64_t miner_id, tn_offer *out) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    char what[96];
    snprintf(what, sizeof what, "no offer of task %lld to miner %lld", (long long)task_id,
             (long long)miner_id);
    PGresult *r = pgq_exec(s, "reading offer",
                           "SELECT " PG_OFFER_COLS " FROM offers WHERE task_id = $1 AND miner_id = $2",
                           "ii", task_id, miner_id);
    int rc = pgq_fetch_one(s, r, sizeof *out, pgs_row_offer, out, what);
    return ss_leave(s, rc);
}

int pgs_offer_by_token(tn_store *s, const char *token, tn_offer *out) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "reading offer", "SELECT " PG_OFFER_COLS " FROM offers WHERE token = $1", "t", token);
    int rc = pgq_fetch_one(s, r, sizeof *out, pgs_row_offer, out, "unknown submission token");
    return ss_leave(s, rc);
}

int pgs_offers_for_task(tn_store *s, int64_t task_id, tn_offer **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "listing offers",
                           "SELECT " PG_OFFER_COLS " FROM offers WHERE task_id = $1 ORDER BY miner_id", "i", task_id);
    int rc = pgq_fetch_all(s, r, sizeof **v, pgs_row_offer, ss_clear_offer, (void **)v, n);
    return ss_leave(s, rc);
}

int pgs_offers_for_miner(tn_store *s, int64_t miner_id, tn_offer **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "listing offers",
                           "SELECT " PG_OFFER_COLS " FROM offers WHERE miner_id = $1 ORDER BY task_id", "i", miner_id);
    int rc = pgq_fetch_all(s, r, sizeof **v, pgs_row_offer, ss_clear_offer, (void **)v, n);
    return ss_leave(s, rc);
}
