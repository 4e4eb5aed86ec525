/* worker.h - `tuna worker`: an evaluator on another host (docs/operations.md).
 *
 * A worker claims evaluation jobs from the store (store.h "evaluation
 * jobs") under a lease, fetches what a job needs through the validator's
 * signed blob URLs into a local content-addressed cache (store/blobs.h: a
 * base model fetched once serves every later job on it), runs the same
 * sandboxed evaluation as the validator's own children (validator/evaljob.h,
 * `tuna eval-submission` under the same limits), renews its lease while the
 * child runs, and records the result with tn_store_eval_complete. A worker
 * that dies stops renewing; once its lease expires another worker claims the
 * job, and a result the dead worker's child might still deliver is refused
 * by the store. A worker that finds its own lease taken kills its child and
 * drops the job.
 *
 * The job a worker understands (written by whoever enqueues it):
 *   {"base": MANIFEST_HASH,            the base model directory's manifest blob
 *    "submission": MANIFEST,           the submission's manifest (absent with base_only)
 *    "test": HASH, "synth": HASH,      the scored sets (JSONL blobs)
 *    "signatures": {HASH: {"exp": UNIX_S, "sig": HEX}, ...}
 *                                      the validator's URL signature of every blob above
 *                                      and of every file the manifests name
 *    "dataset_type": {...}, "seq_len": N, "base_only": BOOL, "rules": {...}}
 * The result stored is evaljob.h's result object, or {"error": WHY} when the
 * evaluation failed through the submission's fault (tn_evaljob_spawn's 1).
 * Failures that are not the submission's (a download, a full disk) give the
 * job back with tn_store_eval_fail, to be tried again (up to
 * TN_EVAL_MAX_ATTEMPTS claims).
 */
#ifndef TN_WORKER_H
#define TN_WORKER_H

#include "net/http_client.h"
#include "store/blobs.h"

#include <jansson.h>
#include <stdatomic.h>

typedef struct {
    const char *store_url;     /* the validator's database (PostgreSQL, or an SQLite file it shares) */
    const char *validator_url; /* where its /blobs/ endpoint answers, e.g. http://10.0.0.1:8800 */
    const char *key_path;      /* this worker's key pair (tuna keygen): names it, signs its requests */
    const char *cache_dir;     /* blob cache and job directories (default ./worker) */
    const char *tuna;          /* the binary for the child (default /proc/self/exe) */
    int once;                  /* exit when nothing is left to claim, instead of polling */
    double lease_s;            /* lease length (default 60); renewed every third of it */
    double poll_s;             /* wait between empty claims (default 2) */
    long mem_mb, cpu_s;        /* the child's limits (evaljob.h); 0 = none; mem_mb may be
                                * TN_EVAL_MEM_AUTO (per job, from the memory model) */
    int threads;               /* > 0: the child's thread count (evaljob.h); 0: inherited */
    double wall_s;
    atomic_int *stop;          /* set by a signal handler: finish nothing, give the job back, exit */
} tn_worker_opts;

/* Runs the claim loop until *stop, or (once) until the queue is empty.
 * 0, or -1 with the error set when the store or the cache cannot be opened. */
int tn_worker_run(const tn_worker_opts *o);

/* The cache's side (fetch.c): makes every blob of `job` present in `blobs`
 * (fetched from validator_url with the job's signatures when missing) and
 * lays the job out in dir (dir/base, dir/submission, hard links into the
 * cache), filling *local with the job evaljob.h runs. Stops early once
 * *stop (may be NULL) is set. 0, or -1 with the error set. */
int tn_worker_prepare(tn_blobs *blobs, const tn_http_opts *http, const char *validator_url, const json_t *job,
                      const char *dir, atomic_int *stop, json_t **local);

#endif
