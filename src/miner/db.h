/* db.h - the miner's persistent state: WORK_DIR/miner.sqlite.
 *
 * Tables (docs/miner.md, "State"):
 *   offers  the offers answered (body, accepted, message); an accepted offer
 *           holds a slot until hold_until_ms or until /start_training
 *   jobs    one row per started task: state, deadline, strategy, the
 *           /start_training body, the recipe, where the files to upload are,
 *           the training child's pid
 *   events  every job state transition, with a message
 *   ledger  every submission: what was sent, how it was made, what the
 *           validator answered
 * WAL journal, so that `tuna miner ledger` reads while the miner writes; one
 * connection per process, serialised by a mutex (server and job threads).
 */
#ifndef TN_MINER_DB_H
#define TN_MINER_DB_H

#include <jansson.h>
#include <stdint.h>

typedef struct tn_mdb tn_mdb;

typedef struct {
    int64_t task_id;
    char submission_id[136];
    char state[24];
    char strategy[16];
    int64_t deadline_ms;
    int pid;        /* training child, 0 when none */
    char *spec;     /* /start_training body (JSON text) */
    char *recipe;   /* JSON text or NULL */
    char *src_dir;  /* files to upload, or NULL until known */
    char *error;    /* why it failed, or NULL */
    int64_t created_ms, updated_ms;
} tn_job_row;

void tn_job_row_free(tn_job_row *r);

/* Opens (creating when `create`) the database. */
tn_mdb *tn_mdb_open(const char *path, int create);
void tn_mdb_close(tn_mdb *db);

int tn_mdb_offer_put(tn_mdb *db, int64_t task_id, const char *body, int accepted, const char *message,
                     int64_t now_ms, int64_t hold_until_ms);
/* Claims an accepted, unexpired, unstarted offer for a start: 1 and *body
 * (the offer, new reference) when there was one, 0 when not. */
int tn_mdb_offer_take(tn_mdb *db, int64_t task_id, int64_t now_ms, json_t **body);
/* 1 when the task's offer is accepted, unstarted and still holding a slot. */
int tn_mdb_offer_is_held(tn_mdb *db, int64_t task_id, int64_t now_ms);
/* Accepted offers still holding a slot. */
int tn_mdb_offers_held(tn_mdb *db, int64_t now_ms);

int tn_mdb_job_insert(tn_mdb *db, const tn_job_row *r);
/* Writes state, pid, recipe, src_dir and error of the row. */
int tn_mdb_job_update(tn_mdb *db, const tn_job_row *r);
/* 1 and *out filled when the task has a job, 0 when not. */
int tn_mdb_job_get(tn_mdb *db, int64_t task_id, tn_job_row *out);
/* Jobs (unfinished only: not submitted/failed) ordered by task id. */
int tn_mdb_jobs_list(tn_mdb *db, int unfinished_only, tn_job_row **rows, int *n);
int tn_mdb_event(tn_mdb *db, int64_t task_id, const char *state, const char *message);
/* Events of a task as [{"at_ms", "state", "message"}]. */
json_t *tn_mdb_events(tn_mdb *db, int64_t task_id);

/* Appends a ledger entry (an object with the fields of docs/miner.md). */
int tn_mdb_ledger_add(tn_mdb *db, const json_t *entry);
/* Every ledger entry, oldest first. */
json_t *tn_mdb_ledger_list(tn_mdb *db);


#endif
