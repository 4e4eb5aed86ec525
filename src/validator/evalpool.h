/* evalpool.h - evaluator children run off the scheduler's thread.
 *
 * The scheduler hands a job to the pool and goes on; each job runs
 * tn_evaljob_spawn (evaljob.h) on a thread of its own, which waits for the
 * child (so the child's parent-death signal fires only when that thread,
 * or the whole validator, ends). The scheduler asks on a later tick whether
 * the job is done and collects its outcome; it records the result in the
 * store itself, so the pool never touches the store.
 *
 * At most `max_parallel` jobs run at once (the caller passes its current
 * setting each time: a lower value lets running jobs finish). Jobs are
 * known by their result path, which names one task and one submission (or
 * the base model): submitting a job that runs or waits to be collected does
 * nothing, so a tick may submit every job it sees missing.
 *
 * Retries: a child that died for the validator's reasons is run again, up
 * to `retries` more times, on the same thread: a SIGKILL none of its limits
 * sent (evaljob.h's 2: the kernel's out-of-memory killer, an operator) and
 * a child that could not be started (-1: fork failed, the job's lock still
 * held). Each retry is logged. A kill that repeats past the bound becomes
 * the submission's failure (1, saying how many times); a start that keeps
 * failing stays -1 (nothing is recorded; the scheduler submits it again
 * later). The submission's own failures (1: it does not load, a limit) are
 * never retried. Nothing is retried once *stop is set. */
#ifndef TN_EVALPOOL_H
#define TN_EVALPOOL_H

#include "validator/evaljob.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct tn_evalpool tn_evalpool;

typedef struct {
    int rc;                /* tn_evaljob_spawn's 0, 1 or -1 after the retries (never 2) */
    json_t *result;        /* rc 0: the child's result (the caller's) */
    char why[1024];        /* rc != 0: the error */
    int attempts;          /* children started for it (1 + retries used) */
    int64_t started_ms;    /* wall clock: the first attempt began */
    int64_t ended_ms;      /* the last attempt ended */
} tn_evalpool_done;

tn_evalpool *tn_evalpool_new(void);
/* Waits for every job's thread (set the limits' stop flag first to make
 * that quick) and frees what was not collected. NULL is fine. */
void tn_evalpool_free(tn_evalpool *p);

/* Starts the job unless it is known already (running, or done and not
 * collected): 0 started or known, 1 not started because max_parallel jobs
 * run, -1 no thread could be started (error set). The pool copies job,
 * paths and limits (lim->stop and lim->tuna must outlive the pool). */
int tn_evalpool_submit(tn_evalpool *p, const json_t *job, const char *job_path, const char *result_path,
                       const tn_evaljob_limits *lim, int retries, int max_parallel);

/* 0 the pool does not know the job (never submitted, or collected); 1 it
 * runs; 2 it is done: *out is filled and the pool forgets the job. */
int tn_evalpool_collect(tn_evalpool *p, const char *result_path, tn_evalpool_done *out);

/* The default pool size and each child's threads, for this machine: as many
 * children as there are cores and as mem_mb (each child's memory limit; 0
 * none) fits in three quarters of the physical memory, at least one; the
 * cores shared between them (at least one thread each). */
int tn_evalpool_default_size(long mem_mb);
int tn_evalpool_threads_each(int size);

#endif
