/* miner_internal.h - what the miner's modules share (not for other code).
 *
 *   server.c      HTTP handlers: /task_offer, /start_training, /status
 *   spec.c        validation of /start_training bodies
 *   jobs.c        job threads, slots and the state machine
 *   job_fetch.c   downloads (model files, dataset) with hash checks
 *   job_train.c   strategies, the recipe, the training child, resume
 *   job_upload.c  uploads with retries, complete, confirm, the ledger entry
 *   child.c       spawning and supervising `tuna train`
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

/* server.c */
int tn_miner_serve(tn_miner *m, const char *bind, int port);

/* spec.c */
/* dataset_type keys and the tuna train flags they become */
#define TN_N_DATASET_TYPE_FLAGS 12
extern const char *const tn_dataset_type_flags[TN_N_DATASET_TYPE_FLAGS][2];
int tn_miner_safe_name(const char *name);
int tn_start_validate(const json_t *body, int64_t now_ms);

/* jobs.c */
int tn_jobs_busy(tn_miner *m);                 /* running jobs (locks m->mu) */
int tn_jobs_free_slots(tn_miner *m);           /* slots - running - held offers */
int tn_jobs_start(tn_miner *m, const json_t *spec, json_t *offer); /* a new job from /start_training */
int tn_jobs_resume_all(tn_miner *m);           /* unfinished jobs of the database */
void tn_jobs_reap(tn_miner *m, int wait_all);  /* joins finished threads (all: waits for every one) */
json_t *tn_jobs_status(tn_miner *m);           /* the "jobs" array of /status */
void tn_job_state(tn_job *j, const char *state, const char *fmt, ...) TN_PRINTF(3, 4);
void tn_job_event(tn_job *j, const char *fmt, ...) TN_PRINTF(2, 3);
int tn_job_save(tn_job *j);
/* Sleeps up to `s` seconds, waking early on stop; returns 1 when stopping. */
int tn_miner_sleep(tn_miner *m, double s);
double tn_job_left_s(const tn_job *j);         /* seconds to the deadline */

/* job_fetch.c */
int tn_job_fetch(tn_job *j);

/* job_train.c: decides what to upload (strategy), trains when needed; on
 * success row.src_dir is set and the next state is uploading. Returns 1 when
 * interrupted by a stop (state unchanged), 0 done, -1 failed. */
int tn_job_train(tn_job *j);

/* job_upload.c: returns 1 when interrupted, 0 when the validator answered
 * (accepted or refused: both end the job), -1 failed. */
int tn_job_upload(tn_job *j);
json_t *tn_job_shape(const char *model_dir); /* {"model_type", "hidden_size", ...} or NULL */

/* child.c */
typedef struct {
    pid_t pid;
    int status; /* exit status, or 128 + signal */
} tn_child;
/* fork+exec argv[0] with stdout/stderr appended to log_path and
 * OMP/OPENBLAS threads set. The child gets SIGTERM when the miner dies
 * (PR_SET_PDEATHSIG), so a killed miner leaves a checkpoint, not an orphan. */
int tn_child_spawn(char *const argv[], const char *log_path, int threads, tn_child *c);
/* Waits for the child; SIGTERM at kill_at (wall s; 0 = never) and on stop,
 * SIGKILL 30 s after a SIGTERM. Returns 0 when it exited. */
int tn_child_wait(tn_child *c, atomic_int *stop, double kill_at);
/* A child of an earlier miner process (pid from the database): when alive and
 * running in job_dir, SIGTERM it and wait for it to go. */
void tn_child_end_stale(int pid, const char *job_dir);

#endif
