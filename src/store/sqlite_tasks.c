/* sqlite_tasks.c - tasks, their events, offers (the SQLite store: see sqlite_store_int.h). */
#include "store/sqlite_store_int.h"
#include "base/mem.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tasks ------------------------------------------------------------------------- */

/* `minutes` holds tn_task.time_limit_ms (milliseconds; store.h says why the
 * column keeps its first name). */
#define TASK_COLS                                                                              \
    "id, model, dataset, state, failure_reason, created_at, updated_at, deadline, minutes, "   \
    "split_seed, train_hash, test_hash, synth_hash, params_json"

static int row_task(sqlite3_stmt *st, void *out) {
    tn_task *t = out;
    int state;
    if (ss_col_enum(st, 3, ss_task_states, TN_TASK_NSTATES, &state) != 0) return -1;
    t->id = tn_sqlite_col_i64(st, 0);
    t->model = tn_sqlite_col_str(st, 1);
    t->dataset = tn_sqlite_col_str(st, 2);
    t->state = (tn_task_state)state;
    t->failure_reason = tn_sqlite_col_str(st, 4);
    t->created_at = tn_sqlite_col_i64(st, 5);
    t->updated_at = tn_sqlite_col_i64(st, 6);
    t->deadline = tn_sqlite_col_i64(st, 7);
    t->time_limit_ms = tn_sqlite_col_i64(st, 8);
    t->split_seed = tn_sqlite_col_i64(st, 9);
    t->train_hash = tn_sqlite_col_str(st, 10);
    t->test_hash = tn_sqlite_col_str(st, 11);
    t->synth_hash = tn_sqlite_col_str(st, 12);
    t->params_json = tn_sqlite_col_str(st, 13);
    return 0;
}

static int add_event(tn_store *s, int64_t task_id, const char *from, const char *to,
                     const char *reason, int64_t now) {
    return tn_sqlite_run(&s->h, "recording task event",
               "INSERT INTO task_events (task_id, from_state, to_state, reason, at) "
               "VALUES (?, ?, ?, ?, ?)",
               "ittti", task_id, from, to, reason, now);
}

/* The task's row and its `created` event, inside the caller's transaction
 * (task_create and task_create_in_slot); the catalog names are checked first:
 * a clearer message than a foreign key failure. */
static int task_insert(tn_store *s, const tn_task *in, int64_t *id) {
    int64_t v;
    int rc = tn_sqlite_scalar(&s->h, &v, "SELECT id FROM models WHERE name = ?", "t", in->model);
    if (rc == TN_STORE_NOT_FOUND)
        rc = ss_fail_code(TN_STORE_NOT_FOUND, "store: task: no model named '%s' in the catalog", in->model ? in->model : "");
    if (rc == 0) {
        rc = tn_sqlite_scalar(&s->h, &v, "SELECT id FROM datasets WHERE name = ?", "t", in->dataset);
        if (rc == TN_STORE_NOT_FOUND)
            rc = ss_fail_code(TN_STORE_NOT_FOUND, "store: task: no dataset named '%s' in the catalog",
                              in->dataset ? in->dataset : "");
    }
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "creating task",
                           "INSERT INTO tasks (model, dataset, state, created_at, updated_at, deadline, "
                           "minutes, split_seed, train_hash, test_hash, synth_hash, params_json) "
                           "VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           "ttiiiiitttt", in->model, in->dataset, in->created_at, in->created_at, in->deadline,
                           in->time_limit_ms, in->split_seed, in->train_hash, in->test_hash, in->synth_hash,
                           ss_json_or_empty(in->params_json));
    if (rc == 0) *id = sqlite3_last_insert_rowid(s->h.db);
    if (rc == 0) rc = add_event(s, *id, NULL, "pending", "created", in->created_at);
    return rc;
}

int sqs_task_create(tn_store *s, const tn_task *in, int64_t *id_out) {
    if (in->time_limit_ms <= 0) return tn_fail("store: task needs a positive time limit (time_limit_ms)");
    int rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    int64_t id = 0;
    rc = task_insert(s, in, &id);
    if (rc == 0 && id_out) *id_out = id;
    return ss_leave_tx(s, rc);
}

/* The slot's row is checked before the task is written (a clear EXISTS with
 * the slot's task) and then inserted under its primary key, which refuses a
 * second task for the slot even from another process. */
int sqs_task_create_in_slot(tn_store *s, const tn_task *in, int64_t competition, int64_t slot, int64_t *id_out) {
    if (slot < 0) return tn_fail("store: competition slot %lld is negative", (long long)slot);
    int64_t held = 0;
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_scalar(&s->h, &held, "SELECT task_id FROM task_slots WHERE competition = ? AND slot = ?", "ii",
                              competition, slot);
    ss_leave(s, 0);
    if (rc == 0) {
        if (id_out) *id_out = held;
        return ss_fail_code(TN_STORE_EXISTS, "store: slot %lld of competition %lld has task %lld already",
                            (long long)slot, (long long)competition, (long long)held);
    }
    if (rc != TN_STORE_NOT_FOUND) return rc;
    if (in->time_limit_ms <= 0) return tn_fail("store: task needs a positive time limit (time_limit_ms)");
    /* the task and its slot in one transaction: a crash between two would
     * leave a task without a slot */
    rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    int64_t id = 0;
    rc = task_insert(s, in, &id);
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "recording the competition slot",
                           "INSERT INTO task_slots (competition, slot, task_id, created_at) VALUES (?, ?, ?, ?)",
                           "iiii", competition, slot, id, in->created_at);
    if (rc == 0 && id_out) *id_out = id;
    return ss_leave_tx(s, rc);
}

static int row_slot(sqlite3_stmt *st, void *out) {
    tn_task_slot *t = out;
    t->competition = tn_sqlite_col_i64(st, 0);
    t->slot = tn_sqlite_col_i64(st, 1);
    t->task_id = tn_sqlite_col_i64(st, 2);
    t->created_at = tn_sqlite_col_i64(st, 3);
    return 0;
}

static void clear_nothing(void *p) { (void)p; }

int sqs_task_slots(tn_store *s, int64_t competition, tn_task_slot **v, size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(&s->h,
                                 tn_sqlite_q(&s->h,
                                             "SELECT competition, slot, task_id, created_at FROM task_slots "
                                             "WHERE competition = ? ORDER BY slot",
                                             "i", competition),
                                 sizeof **v, row_slot, clear_nothing, (void **)v, n);
    return ss_leave(s, rc);
}

int sqs_task_get(tn_store *s, int64_t id, tn_task *out) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    char what[64];
    snprintf(what, sizeof what, "no task with id %lld", (long long)id);
    int rc = ss_fetch_one(s, tn_sqlite_q(&s->h, "SELECT " TASK_COLS " FROM tasks WHERE id = ?", "i", id), sizeof *out,
                       row_task, out, what);
    return ss_leave(s, rc);
}

int sqs_task_list(tn_store *s, int state, tn_task **v, size_t *n) {
    if (state >= TN_TASK_NSTATES) return tn_fail("store: unknown task state %d", state);
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    sqlite3_stmt *st =
        state < 0 ? tn_sqlite_q(&s->h, "SELECT " TASK_COLS " FROM tasks ORDER BY id", NULL)
                  : tn_sqlite_q(&s->h, "SELECT " TASK_COLS " FROM tasks WHERE state = ? ORDER BY id", "t",
                      ss_task_states[state]);
    int rc = tn_sqlite_fetch_all(&s->h, st, sizeof **v, row_task, ss_clear_task, (void **)v, n);
    return ss_leave(s, rc);
}

/* Reads a text column of one row by id into buf ("" for NULL). */
int ss_read_text(tn_store *s, const char *sql, int64_t id, char *buf, size_t cap) {
    sqlite3_stmt *st = tn_sqlite_q(&s->h, sql, "i", id);
    if (!st) return TN_STORE_ERROR;
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        snprintf(buf, cap, "%s", v ? (const char *)v : "");
    } else {
        ret = rc == SQLITE_DONE ? TN_STORE_NOT_FOUND : tn_sqlite_fail(&s->h, "query");
    }
    tn_sqlite_done(st);
    return ret;
}

int sqs_task_transition_ex(tn_store *s, int64_t id, tn_task_state from, tn_task_state to,
                                const char *reason, int64_t now, const tn_task_patch *patch) {
    if (ss_check_task_edge(id, from, to) != 0) return TN_STORE_ERROR;
    tn_task_patch p = patch ? *patch : (tn_task_patch){0};
    int rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    char cur[32];
    rc = ss_read_text(s, "SELECT state FROM tasks WHERE id = ?", id, cur, sizeof cur);
    if (rc == TN_STORE_NOT_FOUND) {
        rc = ss_fail_code(TN_STORE_NOT_FOUND, "store: no task with id %lld", (long long)id);
        goto out;
    }
    if (rc != 0) goto out;
    if (strcmp(cur, ss_task_states[from]) != 0) {
        rc = ss_fail_code(TN_STORE_CONFLICT,
                       "store: task %lld is '%s', not '%s': its state changed under you "
                       "(another worker moved it); re-read it",
                       (long long)id, cur, ss_task_states[from]);
        goto out;
    }
    /* The WHERE on state repeats the compare-and-set in the statement itself,
     * which is what a backend without IMMEDIATE transactions relies on. */
    rc = tn_sqlite_run(&s->h, "moving task",
             "UPDATE tasks SET state = ?, updated_at = ?, "
             "  failure_reason = CASE WHEN ? = 'failed' THEN ? ELSE failure_reason END, "
             "  deadline = CASE WHEN ? > 0 THEN ? ELSE deadline END, "
             "  train_hash = COALESCE(?, train_hash), test_hash = COALESCE(?, test_hash), "
             "  synth_hash = COALESCE(?, synth_hash) "
             "WHERE id = ? AND state = ?",
             "tittiitttit", ss_task_states[to], now, ss_task_states[to], reason, p.deadline, p.deadline,
             p.train_hash, p.test_hash, p.synth_hash, id, ss_task_states[from]);
    if (rc == 0 && sqlite3_changes(s->h.db) != 1)
        rc = ss_fail_code(TN_STORE_CONFLICT, "store: task %lld changed under you", (long long)id);
    if (rc == 0) rc = add_event(s, id, ss_task_states[from], ss_task_states[to], reason, now);
    if (rc == 0) ss_hook(s, "task_transition:before_commit");
out:
    return ss_leave_tx(s, rc);
}

static int row_event(sqlite3_stmt *st, void *out) {
    tn_task_event *e = out;
    int from = -1, to;
    if (sqlite3_column_type(st, 2) != SQLITE_NULL &&
        ss_col_enum(st, 2, ss_task_states, TN_TASK_NSTATES, &from) != 0)
        return -1;
    if (ss_col_enum(st, 3, ss_task_states, TN_TASK_NSTATES, &to) != 0) return -1;
    e->id = tn_sqlite_col_i64(st, 0);
    e->task_id = tn_sqlite_col_i64(st, 1);
    e->from = (tn_task_state)from;
    e->to = (tn_task_state)to;
    e->reason = tn_sqlite_col_str(st, 4);
    e->at = tn_sqlite_col_i64(st, 5);
    return 0;
}

int sqs_task_events(tn_store *s, int64_t task_id, tn_task_event **v, size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h,
                    "SELECT id, task_id, from_state, to_state, reason, at FROM task_events "
                    "WHERE task_id = ? ORDER BY id",
                    "i", task_id),
        sizeof **v, row_event, ss_clear_event, (void **)v, n);
    return ss_leave(s, rc);
}

/* ---- offers ------------------------------------------------------------------------- */


int ss_row_offer(sqlite3_stmt *st, void *out) {
    tn_offer *o = out;
    int status;
    if (ss_col_enum(st, 2, ss_offer_statuses, TN_OFFER_NSTATUS, &status) != 0) return -1;
    o->task_id = tn_sqlite_col_i64(st, 0);
    o->miner_id = tn_sqlite_col_i64(st, 1);
    o->status = (tn_offer_status)status;
    const unsigned char *tok = sqlite3_column_text(st, 3);
    snprintf(o->token, sizeof o->token, "%s", tok ? (const char *)tok : "");
    o->offered_at = tn_sqlite_col_i64(st, 4);
    o->answered_at = tn_sqlite_col_i64(st, 5);
    o->updated_at = tn_sqlite_col_i64(st, 6);
    o->message = tn_sqlite_col_str(st, 7);
    return 0;
}

int sqs_offer_create(tn_store *s, int64_t task_id, int64_t miner_id, int64_t now,
                          char token_out[TN_TOKEN_HEX + 1]) {
    char token[TN_TOKEN_HEX + 1];
    ss_new_token(token);
    int rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    int64_t v;
    rc = tn_sqlite_scalar(&s->h, &v, "SELECT id FROM tasks WHERE id = ?", "i", task_id);
    if (rc == TN_STORE_NOT_FOUND)
        rc = ss_fail_code(rc, "store: offer: no task with id %lld", (long long)task_id);
    if (rc == 0) {
        rc = tn_sqlite_scalar(&s->h, &v, "SELECT enabled FROM miners WHERE id = ?", "i", miner_id);
        if (rc == TN_STORE_NOT_FOUND)
            rc = ss_fail_code(rc, "store: offer: no miner with id %lld", (long long)miner_id);
        else if (rc == 0 && !v)
            rc = ss_fail_code(TN_STORE_REFUSED, "store: offer: miner %lld is disabled",
                           (long long)miner_id);
    }
    if (rc == 0 && tn_sqlite_scalar(&s->h, &v, "SELECT 1 FROM offers WHERE task_id = ? AND miner_id = ?", "ii",
                          task_id, miner_id) == 0)
        rc = ss_fail_code(TN_STORE_EXISTS, "store: miner %lld already has an offer for task %lld",
                       (long long)miner_id, (long long)task_id);
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "recording offer",
                 "INSERT INTO offers (task_id, miner_id, status, token, offered_at, updated_at) "
                 "VALUES (?, ?, 'offered', ?, ?, ?)",
                 "iitii", task_id, miner_id, token, now, now);
    if (rc == 0 && token_out) memcpy(token_out, token, sizeof token);
    return ss_leave_tx(s, rc);
}

int sqs_offer_update(tn_store *s, int64_t task_id, int64_t miner_id, tn_offer_status from,
                          tn_offer_status to, const char *message, int64_t now) {
    if (ss_check_offer_edge(task_id, miner_id, from, to) != 0) return TN_STORE_ERROR;
    int rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    sqlite3_stmt *st = tn_sqlite_q(&s->h, "SELECT status FROM offers WHERE task_id = ? AND miner_id = ?", "ii",
                         task_id, miner_id);
    char cur[32] = "";
    if (!st) {
        rc = TN_STORE_ERROR;
        goto out;
    }
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        snprintf(cur, sizeof cur, "%s", (const char *)sqlite3_column_text(st, 0));
    else if (step == SQLITE_DONE)
        rc = ss_fail_code(TN_STORE_NOT_FOUND, "store: no offer of task %lld to miner %lld",
                       (long long)task_id, (long long)miner_id);
    else
        rc = tn_sqlite_fail(&s->h, "reading offer");
    tn_sqlite_done(st);
    if (rc == 0 && strcmp(cur, ss_offer_statuses[from]) != 0)
        rc = ss_fail_code(TN_STORE_CONFLICT,
                       "store: offer of task %lld to miner %lld is '%s', not '%s': it changed "
                       "under you",
                       (long long)task_id, (long long)miner_id, cur, ss_offer_statuses[from]);
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "updating offer",
                 "UPDATE offers SET status = ?, updated_at = ?, message = COALESCE(?, message), "
                 "  answered_at = CASE WHEN ? = 'offered' THEN ? ELSE answered_at END "
                 "WHERE task_id = ? AND miner_id = ? AND status = ?",
                 "tittiiit", ss_offer_statuses[to], now, message,
                 ss_offer_statuses[from], now, task_id, miner_id, ss_offer_statuses[from]);
    if (rc == 0) ss_hook(s, "offer_update:before_commit");
out:
    return ss_leave_tx(s, rc);
}

int sqs_offer_get(tn_store *s, int64_t task_id, int64_t miner_id, tn_offer *out) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    char what[96];
    snprintf(what, sizeof what, "no offer of task %lld to miner %lld", (long long)task_id,
             (long long)miner_id);
    int rc = ss_fetch_one(
        s, tn_sqlite_q(&s->h, "SELECT " OFFER_COLS " FROM offers WHERE task_id = ? AND miner_id = ?", "ii", task_id,
             miner_id),
        sizeof *out, ss_row_offer, out, what);
    return ss_leave(s, rc);
}

int sqs_offer_by_token(tn_store *s, const char *token, tn_offer *out) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = ss_fetch_one(s, tn_sqlite_q(&s->h, "SELECT " OFFER_COLS " FROM offers WHERE token = ?", "t", token),
                       sizeof *out, ss_row_offer, out, "unknown submission token");
    return ss_leave(s, rc);
}

int sqs_offers_for_task(tn_store *s, int64_t task_id, tn_offer **v, size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h, "SELECT " OFFER_COLS " FROM offers WHERE task_id = ? ORDER BY miner_id",
                    "i", task_id),
        sizeof **v, ss_row_offer, ss_clear_offer, (void **)v, n);
    return ss_leave(s, rc);
}

int sqs_offers_for_miner(tn_store *s, int64_t miner_id, tn_offer **v, size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h, "SELECT " OFFER_COLS " FROM offers WHERE miner_id = ? ORDER BY task_id",
                    "i", miner_id),
        sizeof **v, ss_row_offer, ss_clear_offer, (void **)v, n);
    return ss_leave(s, rc);
}
