/* jobs.c - job threads, slots and the state machine (docs/miner.md, "Jobs").
 *
 * One thread per job: the work is mostly waiting (downloads, the training
 * child, uploads), and a thread per job keeps each job's flow a straight
 * line of code. Slots are counted, not pooled: a job holds one from
 * /start_training until its thread ends; an accepted offer holds one until
 * it is started or its hold expires (offer_hold_s), so that the miner never
 * accepts more work than it has slots for.
 *
 * Every state change is written to the jobs table and the events table
 * before the work of the new state begins, so a miner killed at any point
 * restarts each job from the state it was in (tn_jobs_resume_all).
 */
#include "miner/jobs.h"
#include "miner/job_steps.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the thread ------------------------------------------------------------- */

static void *job_main(void *arg) {
    tn_job *j = arg;
    tn_miner *m = j->m;
    while (!atomic_load(&m->stop)) {
        const char *s = j->row.state;
        int rc;
        if (!strcmp(s, JOB_DOWNLOADING)) {
            if (tn_job_left_s(j) <= 0) {
                tn_job_state(j, JOB_FAILED, "the deadline passed before the inputs were downloaded");
                break;
            }
            rc = tn_job_fetch(j);
            if (rc < 0) {
                tn_job_state(j, JOB_FAILED, "download: %s", tn_errmsg());
                break;
            }
            if (rc > 0) break; /* stopping */
            tn_job_state(j, JOB_TRAINING, "inputs downloaded and verified");
        } else if (!strcmp(s, JOB_TRAINING)) {
            rc = tn_job_train(j);
            if (rc > 0) break;
            if (rc < 0) {
                tn_job_state(j, JOB_FAILED, "%s", tn_errmsg());
                break;
            }
            tn_job_state(j, JOB_UPLOADING, "files to upload in %s", j->row.src_dir);
        } else if (!strcmp(s, JOB_UPLOADING)) {
            rc = tn_job_upload(j);
            if (rc > 0) break;
            if (rc < 0) tn_job_state(j, JOB_FAILED, "upload: %s", tn_errmsg());
            /* on 0 tn_job_upload has moved the job to submitted or failed */
            break;
        } else {
            break; /* submitted, failed */
        }
    }
    pthread_mutex_lock(&m->mu);
    j->finished = 1;
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

static void job_free(tn_job *j) {
    tn_job_row_free(&j->row);
    json_decref(j->spec);
    json_decref(j->offer);
    free(j->dir);
    free(j);
}

/* Adds the job to the list and starts its thread (the caller holds m->mu). */
static int launch_locked(tn_miner *m, tn_job *j) {
    char *jobs = tn_path_join(m->cfg->work_dir, "jobs");
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)j->row.task_id);
    j->dir = tn_path_join(jobs, id);
    free(jobs);
    if (tn_mkdir_p(j->dir)) return -1;
    if (pthread_create(&j->thread, NULL, job_main, j) != 0) return tn_fail("cannot start a job thread");
    j->next = m->jobs;
    m->jobs = j;
    return 0;
}

static int running_locked(tn_miner *m) {
    int n = 0;
    for (tn_job *j = m->jobs; j; j = j->next)
        if (!j->finished) n++;
    return n;
}

int tn_jobs_busy(tn_miner *m) {
    pthread_mutex_lock(&m->mu);
    int n = running_locked(m);
    pthread_mutex_unlock(&m->mu);
    return n;
}

int tn_jobs_free_slots(tn_miner *m) {
    int held = tn_mdb_offers_held(m->db, tn_wall_ms());
    return m->cfg->slots - tn_jobs_busy(m) - held;
}

int tn_jobs_start(tn_miner *m, const json_t *spec, json_t *offer) {
    tn_job *j = tn_calloc(1, sizeof *j);
    j->m = m;
    j->spec = json_deep_copy(spec);
    j->offer = offer; /* stolen */
    j->row.task_id = json_integer_value(json_object_get(spec, "task_id"));
    snprintf(j->row.submission_id, sizeof j->row.submission_id, "%s",
             json_string_value(json_object_get(spec, "submission_id")));
    snprintf(j->row.state, sizeof j->row.state, "%s", JOB_DOWNLOADING);
    snprintf(j->row.strategy, sizeof j->row.strategy, "%s", tn_strategy_name(m->cfg->strategy));
    j->row.deadline_ms = json_integer_value(json_object_get(spec, "deadline_ms"));
    /* the offer travels with the job: the ledger needs its parameter
     * count, also after a restart */
    json_t *stored = json_deep_copy(spec);
    if (offer) json_object_set(stored, "_offer", offer);
    j->row.spec = json_dumps(stored, JSON_COMPACT);
    json_decref(stored);
    pthread_mutex_lock(&m->mu);
    int rc = -1;
    if (running_locked(m) >= m->cfg->slots) {
        tn_fail("no free slot (%d of %d busy)", running_locked(m), m->cfg->slots);
    } else if (tn_mdb_job_insert(m->db, &j->row) == 0) {
        tn_mdb_event(m->db, j->row.task_id, JOB_DOWNLOADING, "accepted /start_training");
        rc = launch_locked(m, j);
        if (rc) {
            snprintf(j->row.state, sizeof j->row.state, "%s", JOB_FAILED);
            tn_mdb_job_update(m->db, &j->row);
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (rc) job_free(j);
    return rc;
}

int tn_jobs_resume_all(tn_miner *m) {
    tn_job_row *rows;
    int n;
    if (tn_mdb_jobs_list(m->db, 1, &rows, &n)) return -1;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        tn_job *j = tn_calloc(1, sizeof *j);
        j->m = m;
        j->row = rows[i]; /* takes the strings */
        j->restarted = 1;
        j->spec = json_loads(j->row.spec, 0, NULL);
        if (j->spec) {
            j->offer = json_incref(json_object_get(j->spec, "_offer"));
            json_object_del(j->spec, "_offer");
        }
        tn_info("miner: resuming task %lld (%s, %.0f s to the deadline)", (long long)j->row.task_id, j->row.state,
                tn_job_left_s(j));
        pthread_mutex_lock(&m->mu);
        int r = j->spec ? launch_locked(m, j) : tn_fail("stored job body is not JSON");
        pthread_mutex_unlock(&m->mu);
        if (r == 0) {
            tn_mdb_event(m->db, j->row.task_id, j->row.state, "miner restarted: resuming the job");
        } else {
            tn_warn("miner: task %lld: cannot resume: %s", (long long)j->row.task_id, tn_errmsg());
            snprintf(j->row.state, sizeof j->row.state, "%s", JOB_FAILED);
            tn_mdb_job_update(m->db, &j->row);
            job_free(j);
            rc = -1;
        }
    }
    free(rows);
    return rc;
}

void tn_jobs_reap(tn_miner *m, int wait_all) {
    for (;;) {
        tn_job *done = NULL;
        pthread_mutex_lock(&m->mu);
        for (tn_job **pp = &m->jobs; *pp; pp = &(*pp)->next)
            if ((*pp)->finished || wait_all) {
                done = *pp;
                *pp = done->next;
                break;
            }
        pthread_mutex_unlock(&m->mu);
        if (!done) return;
        pthread_join(done->thread, NULL);
        job_free(done);
    }
}

json_t *tn_jobs_status(tn_miner *m) {
    json_t *arr = json_array();
    pthread_mutex_lock(&m->mu);
    for (tn_job *j = m->jobs; j; j = j->next) {
        if (j->finished) continue;
        json_array_append_new(arr, json_pack("{s:I, s:s, s:I, s:s, s:s}", "task_id", (json_int_t)j->row.task_id,
                                             "state", j->row.state, "deadline_ms", (json_int_t)j->row.deadline_ms,
                                             "submission_id", j->row.submission_id, "strategy", j->row.strategy));
    }
    pthread_mutex_unlock(&m->mu);
    return arr;
}
