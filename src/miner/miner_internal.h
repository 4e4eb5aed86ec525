/* miner_internal.h - the miner's job and miner records, and the helpers
 * that change a job's record (not for code outside src/miner).
 *
 * Files of src/miner and what each does; the includes form a tree, each
 * file below includes only headers above it or beside it in this list:
 *   config.c      settings: defaults, miner.yml, flags           config.h
 *   policy.c      which offers to accept                          policy.h
 *   recipe.c      how a task is fine-tuned                        recipe.h
 *   db.c          the SQLite database (offers, jobs, events)      db.h
 *   ledger.c      `tuna miner ledger`                             miner.h
 *   profile.c     the measured training speed                     profile.h
 *   spec.c        validation of /start_training bodies            spec.h
 *   child.c       spawning and supervising `tuna train`           child.h
 *   job_record.c  a job's state, events and saves                 miner_internal.h
 *   job_fetch.c   downloads (model files, dataset) with hashes    job_steps.h
 *   job_train.c   strategies, the recipe, the training child      job_steps.h
 *   job_upload.c  uploads with retries, complete, confirm, ledger job_steps.h
 *   jobs.c        job threads, slots and the state machine        jobs.h
 *   server.c      HTTP handlers: /task_offer, /start_training,    server.h
 *                 /status
 *   miner.c       tn_miner_run: start, serve, stop                miner.h
 * Calls follow the same order: jobs.c runs the steps (job_*.c), the steps
 * change the job's record through job_record.c, never through jobs.c.
 */
#ifndef TN_MINER_INTERNAL_H
#define TN_MINER_INTERNAL_H

#include "net/http_server.h"
#include "net/keys.h"
#include "miner/config.h"
#include "miner/db.h"
#include "miner/recipe.h"
#include "net/sign.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/types.h>

typedef struct tn_miner tn_miner;
typedef struct tn_job tn_job;

/* Job states (docs/miner.md, "Jobs"): downloading -> training -> uploading
 * -> submitted, or failed from any of them. Strategies that do not train
 * go from downloading to uploading. */
#define JOB_DOWNLOADING "downloading"
#define JOB_TRAINING "training"
#define JOB_UPLOADING "uploading"
#define JOB_SUBMITTED "submitted"
#define JOB_FAILED "failed"

struct tn_job {
    tn_miner *m;
    tn_job_row row;     /* persistent part (mirrors the jobs table) */
    json_t *spec;       /* parsed row.spec */
    json_t *offer;      /* the accepted offer (NULL after a restart without it) */
    char *dir;          /* WORK_DIR/jobs/<task_id> */
    int restarted;      /* loaded from the database at start */
    int finished;       /* the thread has ended (joined by the reaper) */
    int train_runs;     /* training children started by this process */
    int upload_attempts;
    char note[512];     /* strategy remarks for the upload's note and the ledger */
    pthread_t thread;
    tn_job *next;
};

struct tn_miner {
    tn_miner_config *cfg;
    tn_keypair key;
    tn_mdb *db;
    tn_verifier *ver;
    tn_http_server *srv;
    char *tuna_bin;
    pthread_mutex_t mu; /* jobs list, job states */
    pthread_mutex_t offer_mu; /* an offer's decision and its record, a start's claim: one at a time */
    tn_job *jobs;       /* running job threads */
    atomic_int stop;
};

/* job_record.c: a job's record (the jobs and events tables) */
/* Moves the job to `state`, saves it and records the event (fmt: why). */
void tn_job_state(tn_job *j, const char *state, const char *fmt, ...) TN_PRINTF(3, 4);
/* Records an event of the job's current state. */
void tn_job_event(tn_job *j, const char *fmt, ...) TN_PRINTF(2, 3);
/* Saves row (a failure is logged and returned). */
int tn_job_save(tn_job *j);
/* Sleeps up to `s` seconds, waking early on stop; returns 1 when stopping. */
int tn_miner_sleep(tn_miner *m, double s);
double tn_job_left_s(const tn_job *j);         /* seconds to the deadline */

#endif
