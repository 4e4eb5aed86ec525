/* worker.c - the claim loop of `tuna worker` (worker.h).
 *
 * The main thread owns the lease: it claims a job, hands it to a job thread
 * (fetch, lay out, run the sandboxed evaluator: evaljob.h) and renews the
 * lease every third of its length until the thread is done, then records
 * the outcome. The evaluator child dies with the job thread
 * (PR_SET_PDEATHSIG in tn_evaljob_spawn), so a worker killed with SIGKILL
 * leaves no evaluation running: its lease simply runs out. */
#include "worker/worker.h"
#include "validator/evaljob.h"
#include "store/store.h"
#include "net/keys.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const tn_worker_opts *o;
    tn_blobs *blobs;
    const tn_http_opts *http;
    tn_eval ev;
    atomic_int stop; /* the lease is lost or the worker is stopping: kill the child, drop the job */
    atomic_int done;
    int rc;          /* tn_evaljob_spawn's: 0 result, 1 the submission's fault, -1 or 2 not its fault */
    json_t *result;
    char err[512];   /* the job thread's message (messages are per thread) */
} job;

static void *job_main(void *arg) {
    job *j = arg;
    char *dir = tn_sprintf("%s/jobs/%lld", j->o->cache_dir, (long long)j->ev.id);
    json_t *spec = json_loads(j->ev.job_json, 0, NULL), *local = NULL;
    j->rc = -1;
    tn_rm_rf(dir); /* what an earlier attempt on this host left */
    if (!spec) {
        /* a job nobody can read is not the submission's fault: tried again, then failed */
        tn_fail("job %lld: its JSON does not parse", (long long)j->ev.id);
    } else if (tn_mkdir_p(dir) == 0 &&
               tn_worker_prepare(j->blobs, j->http, j->o->validator_url, spec, dir, &j->stop, &local) == 0) {
        char *jp = tn_path_join(dir, "job.json"), *rp = tn_path_join(dir, "result.json");
        tn_evaljob_limits lim = {.mem_mb = j->o->mem_mb, .cpu_s = j->o->cpu_s, .wall_s = j->o->wall_s,
                                 .tuna = j->o->tuna, .threads = j->o->threads, .stop = &j->stop};
        tn_log(TN_LOG_INFO, "worker: evaluating job %lld (task %lld, submission %lld)", (long long)j->ev.id,
               (long long)j->ev.task_id, (long long)j->ev.submission_id);
        j->rc = tn_evaljob_spawn(local, jp, rp, &lim, &j->result);
        free(jp);
        free(rp);
    }
    snprintf(j->err, sizeof j->err, "%s", tn_errmsg());
    json_decref(spec);
    json_decref(local);
    tn_rm_rf(dir);
    free(dir);
    atomic_store(&j->done, 1);
    return NULL;
}

/* Sleeps up to s seconds, waking early when *flag or *stop is set. */
static void nap(double s, atomic_int *flag, atomic_int *stop) {
    double t0 = tn_now();
    while (tn_now() - t0 < s && !(flag && atomic_load(flag)) && !(stop && atomic_load(stop))) usleep(20000);
}

/* Runs one claimed job to its end and records the outcome (or drops it
 * when the lease was lost). */
static void run_claimed(const tn_worker_opts *o, tn_store *st, const char *owner, tn_blobs *blobs,
                        const tn_http_opts *http, tn_eval *ev) {
    int64_t lease_ms = (int64_t)(o->lease_s * 1000);
    job j = {.o = o, .blobs = blobs, .http = http, .ev = *ev};
    pthread_t th;
    if (pthread_create(&th, NULL, job_main, &j) != 0) {
        tn_store_eval_fail(st, ev->id, owner, "worker: cannot start a thread", tn_wall_ms());
        return;
    }
    int64_t expires = ev->lease_expires;
    int lost = 0, stopping = 0;
    while (!atomic_load(&j.done)) {
        nap(o->lease_s / 3, &j.done, o->stop);
        if (atomic_load(&j.done)) break;
        if (o->stop && atomic_load(o->stop) && !stopping) {
            stopping = 1;
            atomic_store(&j.stop, 1);
        }
        int64_t now = tn_wall_ms();
        int rc = tn_store_eval_renew(st, ev->id, owner, now, lease_ms);
        if (rc == 0) {
            expires = now + lease_ms;
        } else if (rc == TN_STORE_CONFLICT || now >= expires) {
            /* taken, or ours no longer: whatever the child finds is refused anyway */
            if (!lost) tn_warn("worker: job %lld: lease lost (%s); dropping it", (long long)ev->id, tn_errmsg());
            lost = 1;
            atomic_store(&j.stop, 1);
        } else {
            tn_warn("worker: job %lld: cannot renew the lease yet (%s)", (long long)ev->id, tn_errmsg());
        }
    }
    pthread_join(th, NULL);
    int64_t now = tn_wall_ms();
    int rc = 0;
    if (lost) {
        /* nothing to record */
    } else if (j.rc == 0 || j.rc == 1) {
        json_t *res = j.rc == 0 ? json_incref(j.result) : json_pack("{s:s}", "error", j.err);
        char *text = json_dumps(res, JSON_COMPACT);
        rc = tn_store_eval_complete(st, ev->id, owner, text, now);
        if (rc == 0)
            tn_log(TN_LOG_INFO, "worker: job %lld done%s%s", (long long)ev->id, j.rc ? ": " : "", j.rc ? j.err : "");
        free(text);
        json_decref(res);
    } else {
        tn_warn("worker: job %lld given back: %s", (long long)ev->id, j.err);
        rc = tn_store_eval_fail(st, ev->id, owner, stopping ? "worker stopping" : j.err, now);
    }
    if (rc != 0) tn_warn("worker: job %lld: the outcome was not recorded: %s", (long long)ev->id, tn_errmsg());
    json_decref(j.result);
}

int tn_worker_run(const tn_worker_opts *o) {
    if (!o->store_url || !o->validator_url || !o->key_path)
        return tn_fail("worker: --store, --validator and --key are required");
    if (!(o->lease_s >= 3)) return tn_fail("worker: a lease of %g s is too short (3 s at least)", o->lease_s);
    tn_keypair key;
    if (tn_keypair_load(&key, o->key_path)) return -1;
    char host[64] = "?", owner[160];
    gethostname(host, sizeof host - 1);
    snprintf(owner, sizeof owner, "%.16s@%s/%d", key.id, host, (int)getpid());
    char *blobdir = tn_path_join(o->cache_dir, "blobs");
    tn_blobs *blobs = tn_mkdir_p(o->cache_dir) == 0 ? tn_blobs_open(blobdir) : NULL;
    free(blobdir);
    tn_store *st = blobs ? tn_store_open(o->store_url, NULL) : NULL;
    if (!st) {
        tn_blobs_close(blobs);
        tn_keypair_wipe(&key);
        return -1;
    }
    tn_http_opts http = {.key = &key, .timeout_ms = -1};
    tn_log(TN_LOG_INFO, "worker %s: claiming from %s, blobs from %s", owner, o->store_url, o->validator_url);
    int rc = 0;
    while (!(o->stop && atomic_load(o->stop))) {
        tn_eval ev;
        int c = tn_store_eval_claim(st, owner, tn_wall_ms(), (int64_t)(o->lease_s * 1000), &ev);
        if (c == 0) {
            run_claimed(o, st, owner, blobs, &http, &ev);
            tn_eval_clear(&ev);
            continue;
        }
        if (c != TN_STORE_NOT_FOUND) tn_warn("worker: claim failed: %s", tn_errmsg());
        if (c == TN_STORE_NOT_FOUND && o->once) break;
        nap(o->poll_s, NULL, o->stop);
    }
    tn_store_close(st);
    tn_blobs_close(blobs);
    tn_keypair_wipe(&key);
    return rc;
}
