/* jobs.h - job threads, slots and the state machine (jobs.c; the miner's
 * internals), for the server (server.c) and the main loop (miner.c).
 */
#ifndef TN_MINER_JOBS_H
#define TN_MINER_JOBS_H

#include "miner/miner_internal.h"

int tn_jobs_busy(tn_miner *m);                 /* running jobs (locks m->mu) */
int tn_jobs_free_slots(tn_miner *m);           /* slots - running - held offers */
int tn_jobs_start(tn_miner *m, const json_t *spec, json_t *offer); /* a new job from /start_training */
int tn_jobs_resume_all(tn_miner *m);           /* unfinished jobs of the database */
void tn_jobs_reap(tn_miner *m, int wait_all);  /* joins finished threads (all: waits for every one) */
json_t *tn_jobs_status(tn_miner *m);           /* the "jobs" array of /status */

#endif
