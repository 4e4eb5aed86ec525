/* job_record.c - a job's record: its state, its events, its saves (see
 * miner_internal.h). The job steps (job_*.c) and the state machine
 * (jobs.c) both change a job through these, so they live below both.
 *
 * Every state change is written to the jobs table and the events table
 * before the work of the new state begins (docs/miner.md, "Jobs").
 */
#include "miner/miner_internal.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

double tn_job_left_s(const tn_job *j) { return (double)(j->row.deadline_ms - tn_wall_ms()) / 1000.0; }

int tn_miner_sleep(tn_miner *m, double s) {
    double end = tn_now() + s;
    while (!atomic_load(&m->stop)) {
        double left = end - tn_now();
        if (left <= 0) return 0;
        usleep((useconds_t)(left > 0.1 ? 100000 : left * 1e6));
    }
    return 1;
}

int tn_job_save(tn_job *j) {
    if (tn_mdb_job_update(j->m->db, &j->row) == 0) return 0;
    tn_warn("miner: task %lld: %s", (long long)j->row.task_id, tn_errmsg());
    return -1;
}

void tn_job_event(tn_job *j, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tn_info("miner: task %lld [%s]: %s", (long long)j->row.task_id, j->row.state, msg);
    if (tn_mdb_event(j->m->db, j->row.task_id, j->row.state, msg))
        tn_warn("miner: task %lld: %s", (long long)j->row.task_id, tn_errmsg());
}

void tn_job_state(tn_job *j, const char *state, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tn_info("miner: task %lld: %s -> %s: %s", (long long)j->row.task_id, j->row.state, state, msg);
    pthread_mutex_lock(&j->m->mu); /* /status reads the state */
    snprintf(j->row.state, sizeof j->row.state, "%s", state);
    pthread_mutex_unlock(&j->m->mu);
    if (!strcmp(state, JOB_FAILED)) tn_miner_config_set(&j->row.error, msg);
    tn_job_save(j);
    if (tn_mdb_event(j->m->db, j->row.task_id, state, msg))
        tn_warn("miner: task %lld: %s", (long long)j->row.task_id, tn_errmsg());
}
