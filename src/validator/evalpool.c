/* evalpool.c - evaluator children on threads of their own (see evalpool.h). */
#include "validator/evalpool.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct job {
    struct job *next;
    char *result_path, *job_path, *tuna;
    json_t *job;
    tn_evaljob_limits lim;
    int retries;
    pthread_t th;
    int done;              /* under the pool's mutex */
    tn_evalpool_done out;
    struct tn_evalpool *pool;
} job;

struct tn_evalpool {
    pthread_mutex_t mu;
    job *jobs;   /* running, or done and not collected */
    int running;
};

static void job_free(job *j) {
    json_decref(j->job);
    json_decref(j->out.result);
    free(j->result_path);
    free(j->job_path);
    free(j->tuna);
    free(j);
}

static int stopping(const job *j) { return j->lim.stop && atomic_load(j->lim.stop); }

static void *job_main(void *arg) {
    job *j = arg;
    tn_evalpool_done *d = &j->out;
    d->started_ms = tn_wall_ms();
    int rc;
    for (;;) {
        json_t *res = NULL;
        d->attempts++;
        rc = tn_evaljob_spawn(j->job, j->job_path, j->result_path, &j->lim, &res);
        d->result = res;
        if (rc == 0 || rc == 1 || stopping(j)) break;
        if (d->attempts > j->retries) {
            if (rc == 2) /* killed again and again: the bound says whose fault */
                tn_err_prefix("killed on each of %d attempts", d->attempts);
            break;
        }
        tn_warn("%s: %s; retrying (attempt %d of %d)", j->result_path, tn_errmsg(), d->attempts + 1,
                j->retries + 1);
        if (rc < 0) sleep(1); /* a fork that failed, a lock still held: give it a moment */
    }
    if (rc != 0 && stopping(j)) rc = tn_fail("evaluation: the validator is stopping");
    d->rc = rc == 2 ? 1 : rc;
    if (d->rc) snprintf(d->why, sizeof d->why, "%s", tn_errmsg());
    d->ended_ms = tn_wall_ms();
    pthread_mutex_lock(&j->pool->mu);
    j->done = 1;
    j->pool->running--;
    pthread_mutex_unlock(&j->pool->mu);
    return NULL;
}

tn_evalpool *tn_evalpool_new(void) {
    tn_evalpool *p = tn_calloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

void tn_evalpool_free(tn_evalpool *p) {
    if (!p) return;
    /* no lock: the caller's thread is the only one that adds or removes jobs */
    for (job *j = p->jobs, *next; j; j = next) {
        next = j->next;
        pthread_join(j->th, NULL);
        job_free(j);
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static job *find(tn_evalpool *p, const char *result_path, job ***link) {
    job **l = &p->jobs;
    for (; *l; l = &(*l)->next)
        if (!strcmp((*l)->result_path, result_path)) break;
    if (link) *link = l;
    return *l;
}

int tn_evalpool_submit(tn_evalpool *p, const json_t *jb, const char *job_path, const char *result_path,
                       const tn_evaljob_limits *lim, int retries, int max_parallel) {
    pthread_mutex_lock(&p->mu);
    int known = find(p, result_path, NULL) != NULL, full = p->running >= (max_parallel > 0 ? max_parallel : 1);
    if (!known && !full) p->running++;
    pthread_mutex_unlock(&p->mu);
    if (known) return 0;
    if (full) return 1;
    job *j = tn_calloc(1, sizeof *j);
    j->job = json_deep_copy(jb);
    j->job_path = tn_strdup(job_path);
    j->result_path = tn_strdup(result_path);
    j->lim = *lim;
    if (lim->tuna) j->lim.tuna = j->tuna = tn_strdup(lim->tuna);
    j->retries = retries > 0 ? retries : 0;
    j->pool = p;
    if (pthread_create(&j->th, NULL, job_main, j) != 0) {
        pthread_mutex_lock(&p->mu);
        p->running--;
        pthread_mutex_unlock(&p->mu);
        job_free(j);
        return tn_fail("evaluation: cannot start a thread for %s", result_path);
    }
    pthread_mutex_lock(&p->mu);
    j->next = p->jobs;
    p->jobs = j;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int tn_evalpool_collect(tn_evalpool *p, const char *result_path, tn_evalpool_done *out) {
    job **link;
    pthread_mutex_lock(&p->mu);
    job *j = find(p, result_path, &link);
    int state = !j ? 0 : j->done ? 2 : 1;
    if (state == 2) *link = j->next;
    pthread_mutex_unlock(&p->mu);
    if (state != 2) return state;
    pthread_join(j->th, NULL);
    *out = j->out;
    j->out.result = NULL; /* the caller's now */
    job_free(j);
    return 2;
}

static long cores(void) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? c : 1;
}

int tn_evalpool_default_size(long mem_mb) {
    long n = cores();
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (mem_mb > 0 && pages > 0 && page > 0) {
        long fit = (long)((double)pages * (double)page / 1048576.0 * 0.75 / (double)mem_mb);
        if (fit < n) n = fit;
    }
    return n > 0 ? (int)n : 1;
}

int tn_evalpool_threads_each(int size) {
    long t = cores() / (size > 0 ? size : 1);
    return t > 0 ? (int)t : 1;
}
