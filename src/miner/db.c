/* db.c - the miner's SQLite state (see db.h). */
#include "miner/db.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tn_mdb {
    sqlite3 *db;
    pthread_mutex_t mu;
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

int64_t tn_now_ms(void) { return (int64_t)(tn_wall_now() * 1000.0); }

static int db_fail(tn_mdb *db, const char *what) {
    return tn_fail("miner.sqlite: %s: %s", what, sqlite3_errmsg(db->db));
}

tn_mdb *tn_mdb_open(const char *path, int create) {
    tn_mdb *db = tn_calloc(1, sizeof *db);
    int flags = create ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READWRITE;
    if (sqlite3_open_v2(path, &db->db, flags | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        tn_fail("%s: %s", path, db->db ? sqlite3_errmsg(db->db) : "cannot open");
        sqlite3_close(db->db);
        free(db);
        return NULL;
    }
    pthread_mutex_init(&db->mu, NULL);
    sqlite3_busy_timeout(db->db, 10000);
    char *err = NULL;
    /* WAL: the ledger command reads while the miner writes; NORMAL sync is
     * safe against kill -9 (the test kills the miner), which is what matters */
    if (sqlite3_exec(db->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, &err) != SQLITE_OK ||
        (create && sqlite3_exec(db->db, SCHEMA, NULL, NULL, &err) != SQLITE_OK)) {
        tn_fail("%s: %s", path, err ? err : "schema");
        sqlite3_free(err);
        tn_mdb_close(db);
        return NULL;
    }
    return db;
}

void tn_mdb_close(tn_mdb *db) {
    if (!db) return;
    sqlite3_close(db->db);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

/* ---- tiny statement helpers ------------------------------------------------ */

static sqlite3_stmt *prep(tn_mdb *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_fail(db, sql);
        return NULL;
    }
    return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s) {
    if (s) sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

/* Runs a statement that returns no rows; finalises it. */
static int exec_done(tn_mdb *db, sqlite3_stmt *st, const char *what) {
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, what);
    sqlite3_finalize(st);
    return rc;
}

static char *col_dup(sqlite3_stmt *st, int i) {
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? tn_strdup((const char *)s) : NULL;
}

/* ---- offers ------------------------------------------------------------------ */

int tn_mdb_offer_put(tn_mdb *db, int64_t task_id, const char *body, int accepted, const char *message,
                     int64_t now_ms, int64_t hold_until_ms) {
    pthread_mutex_lock(&db->mu);
    int rc = -1;
    sqlite3_stmt *st = prep(db, "INSERT OR REPLACE INTO offers (task_id, body, accepted, message, received_ms, "
                                "hold_until_ms, started) VALUES (?, ?, ?, ?, ?, ?, 0)");
    if (st) {
        sqlite3_bind_int64(st, 1, task_id);
        bind_text(st, 2, body);
        sqlite3_bind_int(st, 3, accepted);
        bind_text(st, 4, message);
        sqlite3_bind_int64(st, 5, now_ms);
        sqlite3_bind_int64(st, 6, hold_until_ms);
        rc = exec_done(db, st, "insert offer");
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int tn_mdb_offer_take(tn_mdb *db, int64_t task_id, int64_t now_ms, json_t **body) {
    pthread_mutex_lock(&db->mu);
    int rc = -1;
    *body = NULL;
    sqlite3_stmt *st = prep(db, "UPDATE offers SET started = 1 WHERE task_id = ? AND accepted = 1 AND started = 0 "
                                "AND hold_until_ms >= ? RETURNING body");
    if (st) {
        sqlite3_bind_int64(st, 1, task_id);
        sqlite3_bind_int64(st, 2, now_ms);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            const char *txt = (const char *)sqlite3_column_text(st, 0);
            *body = txt ? json_loads(txt, 0, NULL) : NULL;
            rc = 1;
        } else if (s == SQLITE_DONE) {
            rc = 0;
        } else {
            db_fail(db, "take offer");
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int tn_mdb_offer_is_held(tn_mdb *db, int64_t task_id, int64_t now_ms) {
    pthread_mutex_lock(&db->mu);
    int n = 0;
    sqlite3_stmt *st = prep(db, "SELECT COUNT(*) FROM offers WHERE task_id = ? AND accepted = 1 AND started = 0 "
                                "AND hold_until_ms >= ?");
    if (st) {
        sqlite3_bind_int64(st, 1, task_id);
        sqlite3_bind_int64(st, 2, now_ms);
        if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&db->mu);
    return n > 0;
}

int tn_mdb_offers_held(tn_mdb *db, int64_t now_ms) {
    pthread_mutex_lock(&db->mu);
    int n = 0;
    sqlite3_stmt *st = prep(db, "SELECT COUNT(*) FROM offers WHERE accepted = 1 AND started = 0 AND hold_until_ms >= ?");
    if (st) {
        sqlite3_bind_int64(st, 1, now_ms);
        if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&db->mu);
    return n;
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
    int rc = -1;
    int64_t now = tn_now_ms();
    sqlite3_stmt *st = prep(db, "INSERT INTO jobs (task_id, submission_id, state, strategy, deadline_ms, pid, spec, "
                                "recipe, src_dir, error, created_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
    if (st) {
        sqlite3_bind_int64(st, 1, r->task_id);
        bind_text(st, 2, r->submission_id);
        bind_text(st, 3, r->state);
        bind_text(st, 4, r->strategy);
        sqlite3_bind_int64(st, 5, r->deadline_ms);
        sqlite3_bind_int(st, 6, r->pid);
        bind_text(st, 7, r->spec);
        bind_text(st, 8, r->recipe);
        bind_text(st, 9, r->src_dir);
        bind_text(st, 10, r->error);
        sqlite3_bind_int64(st, 11, now);
        sqlite3_bind_int64(st, 12, now);
        rc = exec_done(db, st, "insert job");
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int tn_mdb_job_update(tn_mdb *db, const tn_job_row *r) {
    pthread_mutex_lock(&db->mu);
    int rc = -1;
    sqlite3_stmt *st = prep(db, "UPDATE jobs SET state = ?, pid = ?, recipe = ?, src_dir = ?, error = ?, "
                                "strategy = ?, updated_ms = ? WHERE task_id = ?");
    if (st) {
        bind_text(st, 1, r->state);
        sqlite3_bind_int(st, 2, r->pid);
        bind_text(st, 3, r->recipe);
        bind_text(st, 4, r->src_dir);
        bind_text(st, 5, r->error);
        bind_text(st, 6, r->strategy);
        sqlite3_bind_int64(st, 7, tn_now_ms());
        sqlite3_bind_int64(st, 8, r->task_id);
        rc = exec_done(db, st, "update job");
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

#define JOB_COLS "task_id, submission_id, state, strategy, deadline_ms, pid, spec, recipe, src_dir, error, " \
                 "created_ms, updated_ms"

static void read_job(sqlite3_stmt *st, tn_job_row *r) {
    memset(r, 0, sizeof *r);
    r->task_id = sqlite3_column_int64(st, 0);
    snprintf(r->submission_id, sizeof r->submission_id, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(r->state, sizeof r->state, "%s", (const char *)sqlite3_column_text(st, 2));
    snprintf(r->strategy, sizeof r->strategy, "%s", (const char *)sqlite3_column_text(st, 3));
    r->deadline_ms = sqlite3_column_int64(st, 4);
    r->pid = sqlite3_column_int(st, 5);
    r->spec = col_dup(st, 6);
    r->recipe = col_dup(st, 7);
    r->src_dir = col_dup(st, 8);
    r->error = col_dup(st, 9);
    r->created_ms = sqlite3_column_int64(st, 10);
    r->updated_ms = sqlite3_column_int64(st, 11);
}

int tn_mdb_job_get(tn_mdb *db, int64_t task_id, tn_job_row *out) {
    pthread_mutex_lock(&db->mu);
    int rc = -1;
    sqlite3_stmt *st = prep(db, "SELECT " JOB_COLS " FROM jobs WHERE task_id = ?");
    if (st) {
        sqlite3_bind_int64(st, 1, task_id);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            read_job(st, out);
            rc = 1;
        } else {
            rc = s == SQLITE_DONE ? 0 : db_fail(db, "get job");
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int tn_mdb_jobs_list(tn_mdb *db, int unfinished_only, tn_job_row **rows, int *n) {
    *rows = NULL;
    *n = 0;
    pthread_mutex_lock(&db->mu);
    int rc = -1, cap = 0;
    sqlite3_stmt *st = prep(db, unfinished_only
                                    ? "SELECT " JOB_COLS " FROM jobs WHERE state NOT IN ('submitted', 'failed') "
                                      "ORDER BY task_id"
                                    : "SELECT " JOB_COLS " FROM jobs ORDER BY task_id");
    if (st) {
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 8;
                *rows = tn_realloc(*rows, sizeof **rows * (size_t)cap);
            }
            read_job(st, &(*rows)[(*n)++]);
        }
        rc = s == SQLITE_DONE ? 0 : db_fail(db, "list jobs");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int tn_mdb_event(tn_mdb *db, int64_t task_id, const char *state, const char *message) {
    pthread_mutex_lock(&db->mu);
    int rc = -1;
    sqlite3_stmt *st = prep(db, "INSERT INTO events (task_id, at_ms, state, message) VALUES (?, ?, ?, ?)");
    if (st) {
        sqlite3_bind_int64(st, 1, task_id);
        sqlite3_bind_int64(st, 2, tn_now_ms());
        bind_text(st, 3, state);
        bind_text(st, 4, message ? message : "");
        rc = exec_done(db, st, "insert event");
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

json_t *tn_mdb_events(tn_mdb *db, int64_t task_id) {
    json_t *arr = json_array();
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *st = prep(db, "SELECT at_ms, state, message FROM events WHERE task_id = ? ORDER BY id");
    if (st) {
        sqlite3_bind_int64(st, 1, task_id);
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(arr, json_pack("{s:I, s:s, s:s}", "at_ms", (json_int_t)sqlite3_column_int64(st, 0),
                                                 "state", (const char *)sqlite3_column_text(st, 1), "message",
                                                 (const char *)sqlite3_column_text(st, 2)));
        sqlite3_finalize(st);
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
    int rc = -1;
    sqlite3_stmt *st = prep(db, "INSERT INTO ledger (task_id, strategy, created_ms, entry) VALUES (?, ?, ?, ?)");
    if (st) {
        sqlite3_bind_int64(st, 1, task);
        bind_text(st, 2, strat ? strat : "?");
        sqlite3_bind_int64(st, 3, tn_now_ms());
        bind_text(st, 4, txt);
        rc = exec_done(db, st, "insert ledger entry");
    }
    pthread_mutex_unlock(&db->mu);
    free(txt);
    return rc;
}

json_t *tn_mdb_ledger_list(tn_mdb *db) {
    json_t *arr = json_array();
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *st = prep(db, "SELECT id, entry FROM ledger ORDER BY id");
    if (st) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_t *e = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
            if (!e) continue; /* written by us as JSON: cannot happen short of disk damage */
            json_object_set_new(e, "id", json_integer(sqlite3_column_int64(st, 0)));
            json_array_append_new(arr, e);
        }
        sqlite3_finalize(st);
    } else {
        json_decref(arr);
        arr = NULL;
    }
    pthread_mutex_unlock(&db->mu);
    return arr;
}
