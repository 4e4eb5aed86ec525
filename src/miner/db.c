/* db.c - the miner's SQLite state (see db.h). */
#include "miner/db.h"

#include "store/sqlite.h"
#include "store/store.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tn_mdb {
    tn_sqlite h;
    pthread_mutex_t mu; /* around every statement: the connection is not SQLite-serialized */
};

static const char *SCHEMA =
    "CREATE TABLE IF NOT EXISTS offers (\n"
    "  task_id INTEGER PRIMARY KEY, body TEXT NOT NULL, accepted INTEGER NOT NULL,\n"
    "  message TEXT NOT NULL, received_ms INTEGER NOT NULL, hold_until_ms INTEGER NOT NULL,\n"
    "  started INTEGER NOT NULL DEFAULT 0);\n"
    "CREATE TABLE IF NOT EXISTS jobs (\n"
    "  task_id INTEGER PRIMARY KEY, submission_id TEXT NOT NULL, state TEXT NOT NULL,\n"
    "  strategy TEXT NOT NULL, deadline_ms INTEGER NOT NULL, pid INTEGER NOT NULL DEFAULT 0,\n"
    "  spec TEXT NOT NULL, recipe TEXT, src_dir TEXT, error TEXT,\n"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);\n"
    "CREATE TABLE IF NOT EXISTS events (\n"
    "  id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL, at_ms INTEGER NOT NULL,\n"
    "  state TEXT NOT NULL, message TEXT NOT NULL);\n"
    "CREATE INDEX IF NOT EXISTS events_task ON events(task_id);\n"
    "CREATE TABLE IF NOT EXISTS ledger (\n"
    "  id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL, strategy TEXT NOT NULL,\n"
    "  created_ms INTEGER NOT NULL, entry TEXT NOT NULL);\n";

tn_mdb *tn_mdb_open(const char *path, int create) {
    tn_mdb *db = tn_calloc(1, sizeof *db);
    /* WAL: the ledger command reads while the miner writes; NORMAL sync is
     * safe against kill -9 (the test kills the miner), which is what matters */
    tn_sqlite_opts o = {.create = create, .busy_ms = 10000};
    if (tn_sqlite_open(&db->h, path, path, &o) != 0 ||
        (create && tn_sqlite_exec(&db->h, SCHEMA, "creating the schema") != 0)) {
        tn_sqlite_close(&db->h);
        free(db);
        return NULL;
    }
    pthread_mutex_init(&db->mu, NULL);
    return db;
}

void tn_mdb_close(tn_mdb *db) {
    if (!db) return;
    tn_sqlite_close(&db->h);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

/* ---- offers ------------------------------------------------------------------ */

int tn_mdb_offer_put(tn_mdb *db, int64_t task_id, const char *body, int accepted, const char *message,
                     int64_t now_ms, int64_t hold_until_ms) {
    pthread_mutex_lock(&db->mu);
    int rc = tn_sqlite_run(&db->h, "insert offer",
                           "INSERT OR REPLACE INTO offers (task_id, body, accepted, message, received_ms, "
                           "hold_until_ms, started) VALUES (?, ?, ?, ?, ?, ?, 0)",
                           "ititii", task_id, body, (int64_t)accepted, message, now_ms, hold_until_ms);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int tn_mdb_offer_take(tn_mdb *db, int64_t task_id, int64_t now_ms, json_t **body) {
    pthread_mutex_lock(&db->mu);
    int rc = -1;
    *body = NULL;
    sqlite3_stmt *st = tn_sqlite_q(&db->h, "UPDATE offers SET started = 1 WHERE task_id = ? AND accepted = 1 AND "
                                           "started = 0 AND hold_until_ms >= ? RETURNING body",
                                   "ii", task_id, now_ms);
    if (st) {
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            const char *txt = (const char *)sqlite3_column_text(st, 0);
            *body = txt ? json_loads(txt, 0, NULL) : NULL;
            rc = 1;
        } else if (s == SQLITE_DONE) {
            rc = 0;
        } else {
            tn_sqlite_fail(&db->h, "take offer");
        }
        tn_sqlite_done(st);
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int tn_mdb_offer_is_held(tn_mdb *db, int64_t task_id, int64_t now_ms) {
    pthread_mutex_lock(&db->mu);
    int64_t n = 0;
    tn_sqlite_scalar(&db->h, &n, "SELECT COUNT(*) FROM offers WHERE task_id = ? AND accepted = 1 AND started = 0 "
                                 "AND hold_until_ms >= ?", "ii", task_id, now_ms);
    pthread_mutex_unlock(&db->mu);
    return n > 0;
}

int tn_mdb_offers_held(tn_mdb *db, int64_t now_ms) {
    pthread_mutex_lock(&db->mu);
    int64_t n = 0;
    tn_sqlite_scalar(&db->h, &n, "SELECT COUNT(*) FROM offers WHERE accepted = 1 AND started = 0 AND hold_until_ms >= ?",
                     "i", now_ms);
    pthread_mutex_unlock(&db->mu);
    return (int)n;
}

/* ---- jobs -------------------------------------------------------------------- */

void tn_job_row_free(tn_job_row *r) {
    free(r->spec);
    free(r->recipe);
    free(r->src_dir);
    free(r->error);
    r->spec = r->recipe = r->src_dir = r->error = NULL;
}

int tn_mdb_job_insert(tn_mdb *db, const tn_job_row *r) {
    pthread_mutex_lock(&db->mu);
    int64_t now = tn_wall_ms();
    int rc = tn_sqlite_run(&db->h, "insert job",
                           "INSERT INTO jobs (task_id, submission_id, state, strategy, deadline_ms, pid, spec, "
                           "recipe, src_dir, error, created_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                           "itttiittttii", r->task_id, r->submission_id, r->state, r->strategy, r->deadline_ms,
                           (int64_t)r->pid, r->spec, r->recipe, r->src_dir, r->error, now, now);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int tn_mdb_job_update(tn_mdb *db, const tn_job_row *r) {
    pthread_mutex_lock(&db->mu);
    int rc = tn_sqlite_run(&db->h, "update job",
                           "UPDATE jobs SET state = ?, pid = ?, recipe = ?, src_dir = ?, error = ?, "
                           "strategy = ?, updated_ms = ? WHERE task_id = ?",
                           "tittttii", r->state, (int64_t)r->pid, r->recipe, r->src_dir, r->error, r->strategy,
                           tn_wall_ms(), r->task_id);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

#define JOB_COLS "task_id, submission_id, state, strategy, deadline_ms, pid, spec, recipe, src_dir, error, " \
                 "created_ms, updated_ms"

static int read_job(sqlite3_stmt *st, void *out) {
    tn_job_row *r = out;
    memset(r, 0, sizeof *r);
    r->task_id = sqlite3_column_int64(st, 0);
    snprintf(r->submission_id, sizeof r->submission_id, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(r->state, sizeof r->state, "%s", (const char *)sqlite3_column_text(st, 2));
    snprintf(r->strategy, sizeof r->strategy, "%s", (const char *)sqlite3_column_text(st, 3));
    r->deadline_ms = sqlite3_column_int64(st, 4);
    r->pid = sqlite3_column_int(st, 5);
    r->spec = tn_sqlite_col_str(st, 6);
    r->recipe = tn_sqlite_col_str(st, 7);
    r->src_dir = tn_sqlite_col_str(st, 8);
    r->error = tn_sqlite_col_str(st, 9);
    r->created_ms = sqlite3_column_int64(st, 10);
    r->updated_ms = sqlite3_column_int64(st, 11);
    return 0;
}

static void clear_job(void *r) { tn_job_row_free(r); }

int tn_mdb_job_get(tn_mdb *db, int64_t task_id, tn_job_row *out) {
    pthread_mutex_lock(&db->mu);
    int rc = tn_sqlite_fetch_one(&db->h, tn_sqlite_q(&db->h, "SELECT " JOB_COLS " FROM jobs WHERE task_id = ?", "i",
                                                     task_id),
                                 sizeof *out, read_job, out);
    pthread_mutex_unlock(&db->mu);
    return rc == 0 ? 1 : rc == TN_STORE_NOT_FOUND ? 0 : -1;
}

int tn_mdb_jobs_list(tn_mdb *db, int unfinished_only, tn_job_row **rows, int *n) {
    pthread_mutex_lock(&db->mu);
    size_t got = 0;
    int rc = tn_sqlite_fetch_all(&db->h,
                                 tn_sqlite_q(&db->h,
                                             unfinished_only ? "SELECT " JOB_COLS " FROM jobs WHERE state NOT IN "
                                                               "('submitted', 'failed') ORDER BY task_id"
                                                             : "SELECT " JOB_COLS " FROM jobs ORDER BY task_id",
                                             NULL),
                                 sizeof **rows, read_job, clear_job, (void **)rows, &got);
    pthread_mutex_unlock(&db->mu);
    *n = (int)got;
    return rc < 0 ? -1 : 0;
}

int tn_mdb_event(tn_mdb *db, int64_t task_id, const char *state, const char *message) {
    pthread_mutex_lock(&db->mu);
    int rc = tn_sqlite_run(&db->h, "insert event", "INSERT INTO events (task_id, at_ms, state, message) VALUES (?, ?, ?, ?)",
                           "iitt", task_id, tn_wall_ms(), state, message ? message : "");
    pthread_mutex_unlock(&db->mu);
    return rc;
}

json_t *tn_mdb_events(tn_mdb *db, int64_t task_id) {
    json_t *arr = json_array();
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *st =
        tn_sqlite_q(&db->h, "SELECT at_ms, state, message FROM events WHERE task_id = ? ORDER BY id", "i", task_id);
    if (st) {
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(arr, json_pack("{s:I, s:s, s:s}", "at_ms", (json_int_t)sqlite3_column_int64(st, 0),
                                                 "state", (const char *)sqlite3_column_text(st, 1), "message",
                                                 (const char *)sqlite3_column_text(st, 2)));
        tn_sqlite_done(st);
    }
    pthread_mutex_unlock(&db->mu);
    return arr;
}

/* ---- ledger -------------------------------------------------------------------- */

int tn_mdb_ledger_add(tn_mdb *db, const json_t *entry) {
    char *txt = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS);
    if (!txt) return tn_fail("ledger: cannot serialise the entry");
    json_int_t task = json_integer_value(json_object_get(entry, "task_id"));
    const char *strat = json_string_value(json_object_get(entry, "strategy"));
    pthread_mutex_lock(&db->mu);
    int rc = tn_sqlite_run(&db->h, "insert ledger entry",
                           "INSERT INTO ledger (task_id, strategy, created_ms, entry) VALUES (?, ?, ?, ?)", "itit",
                           (int64_t)task, strat ? strat : "?", tn_wall_ms(), txt);
    pthread_mutex_unlock(&db->mu);
    free(txt);
    return rc;
}

json_t *tn_mdb_ledger_list(tn_mdb *db) {
    json_t *arr = json_array();
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *st = tn_sqlite_q(&db->h, "SELECT id, entry FROM ledger ORDER BY id", NULL);
    if (st) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_t *e = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
            if (!e) continue; /* written by us as JSON: cannot happen short of disk damage */
            json_object_set_new(e, "id", json_integer(sqlite3_column_int64(st, 0)));
            json_array_append_new(arr, e);
        }
        tn_sqlite_done(st);
    } else {
        json_decref(arr);
        arr = NULL;
    }
    pthread_mutex_unlock(&db->mu);
    return arr;
}
