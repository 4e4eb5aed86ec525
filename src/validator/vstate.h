/* vstate.h - the validator's shared state (validator.c, common.c, api.c,
 * scheduler.c, scorer.c, views.c). Not a public interface.
 *
 * Locking: one mutex, `db`, around every store call. HTTP handlers run on
 * libmicrohttpd's threads and the scheduler on the main thread (the
 * evaluation pool's threads never touch the store: evalpool.h); SQLite would
 * serialise writers anyway, and holding the lock only for the store calls
 * (never across network I/O or an evaluation) keeps it short. */
#ifndef TN_VSTATE_H
#define TN_VSTATE_H

#include "store/blobs.h"
#include "net/http_server.h"
#include "net/keys.h"
#include "net/sign.h"
#include "store/store.h"
#include "judge/scoring.h"
#include "judge/provenance.h"
#include "validator/evalpool.h"
#include "validator/validator.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

typedef struct {
    tn_validator_opts o;
    tn_store *store;
    tn_blobs *blobs;
    tn_keypair key;
    unsigned char url_secret[32]; /* signs download URLs (HMAC-SHA256) */
    tn_verifier *verifier;
    tn_http_server *http;
    char base_url[128];           /* http://127.0.0.1:PORT */
    pthread_mutex_t db;
    /* up_mu: staging directories (uploads/<token>/staging) change only under
     * it, and `completing` lists the tokens whose completion is under way
     * (uploads.c). Taken before db, never while holding db. */
    pthread_mutex_t up_mu;
    char **completing;
    size_t ncompleting;
    /* the signal that asked to stop (0: none); atomic, as lock-free atomics may
     * be set from a signal handler, so an evaluation can watch it too */
    atomic_int stop;
    /* the evaluator children (scorer.c hands jobs to it; evalpool.h) */
    tn_evalpool *pool;
} vstate;

/* v->db makes a group of store calls one consistent view (read a task, then
 * its submissions; check, then write) between the API threads and the
 * scheduler; the store's own mutex only covers one call at a time. */
#define LOCK(v) pthread_mutex_lock(&(v)->db)
#define UNLOCK(v) pthread_mutex_unlock(&(v)->db)

/* ---- common.c: helpers the validator's files share ---- */

/* data_dir/<a>/<b> etc. (heap) */
char *v_path(const vstate *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A download URL for a blob valid for `ttl_s` seconds (heap). */
char *v_blob_url(const vstate *v, const char *hash, int64_t ttl_s);
/* The signature of a download URL: HMAC-SHA256 of "hash|exp" as hex. */
void v_url_mac(const vstate *v, const char *hash, long long exp, char out[65]);

/* settings with defaults: *out = def when unset or not a number; -1 only
 * when the store fails */
int v_setting_num(vstate *v, const char *key, double def, double *out);
/* scoring.h's defaults unless the score.* settings override them */
int v_score_params(vstate *v, tn_score_params *sp);

/* Text a public view may show (reasons, messages): each path under the data
 * directory becomes its last component, each of `tokens` (submission ids)
 * becomes "[id]". Heap; NULL for NULL. */
char *v_public_text(const vstate *v, const char *text, const char *const *tokens, size_t ntok);

/* api.c */
int v_api_register(vstate *v);

/* ---- uploads.c: names, the completion gate, quotas, stale staging ---- */

/* The upload's file name decoded from the request target as sent (the
 * decoded path would hide a %00): 0, or -1 with why set when it holds a NUL,
 * is not UTF-8 or does not fit in cap. The safe-name rules are the caller's. */
int v_upload_name(const tn_http_req *r, char *out, size_t cap, char *why, size_t whycap);

/* With up_mu held: whether a completion of token is under way; enter marks
 * one (-1 when one is already), so uploads to that token are refused until
 * v_gate_leave (which takes up_mu itself). */
int v_gate_completing(const vstate *v, const char *token);
int v_gate_enter(vstate *v, const char *token);
void v_gate_leave(vstate *v, const char *token);

/* Disk limits, settings `upload.*` over these defaults (docs/validator.md). */
#define V_DEFAULT_MAX_FILES 32
#define V_DEFAULT_MAX_SUBMISSION_BYTES (16ull << 30)
#define V_DEFAULT_MAX_MINER_BYTES (32ull << 30)
#define V_DEFAULT_STAGING_TTL_S (24 * 3600)
#define V_SWEEP_PERIOD_MS 5000 /* how often the validator's loop sweeps */
typedef struct {
    uint64_t max_files;            /* files staged under one submission */
    uint64_t max_submission_bytes; /* bytes staged under one submission */
    uint64_t max_miner_bytes;      /* bytes one miner keeps in tasks still taking uploads */
    uint64_t staging_ttl_s;        /* a staged file older than this is removed */
} v_limits;
int v_upload_limits(vstate *v, v_limits *l);
/* With up_mu held: whether a file of `size` bytes may join `staging` under
 * `name` (replacing a file of that name). 0, or the HTTP status to refuse
 * with (409 too many files, 413 too many bytes, 500) and why. */
int v_upload_quota(vstate *v, const v_limits *l, const tn_offer *of, const char *staging, const char *name,
                   uint64_t size, char *why, size_t whycap);
/* Removes staged files nobody can complete any more (unknown token, task no
 * longer training or past its deadline) or older than the TTL; at start-up
 * also the temporary files of bodies that were streaming. -1 when the store
 * fails (what could be removed is). */
int v_sweep_staging(vstate *v, int startup);

/* scheduler.c: one pass over the tasks; returns -1 only on a store failure */
int v_schedule_tick(vstate *v);

/* evalsubmit.c: the evaluator's job for a task's base model (sub NULL) or a
 * submission (its files' directory; tag "base" or "subK" names the job's
 * files under tasks/N/), run by the pool (evalpool.h) so that the calling
 * thread never waits for it: 1 done (*d filled: d->rc is 0 with d->result,
 * 1 the job's own failure, -1 not run through no fault of the job), 0
 * running or waiting for a free evaluator (ask again on a later tick), -1
 * the pool could not take it or the settings cannot be read. */
int v_eval_job(vstate *v, const tn_check_rules *rules, const tn_task *t, const char *base, int64_t sub_id,
               const char *sub, const char *tag, const char *mapping, tn_evalpool_done *d);
/* evalqueue.c: with setting eval.workers = 1, v_eval_job's work goes to
 * `tuna worker` processes through the store's evaluation jobs: enqueues the
 * job of (task, sub_id; 0 the base model) when it has none (the files of
 * sub_dir put in the blob store, URLs signed), reads it when done or failed
 * for good. `local` is the job evaljob.h would run here (its dataset_type,
 * seq_len and rules are the worker's); a result is also written to
 * result_path, where a child would have left it. Same answers as v_eval_job. */
int v_eval_queued(vstate *v, const tn_task *t, int64_t sub_id, const char *sub_dir, json_t *local,
                  const char *result_path, tn_evalpool_done *d);

/* scorer.c: evaluate a task's submissions, apply the rules, score */
int v_evaluate_task(vstate *v, int64_t task_id);
/* re-applies the current rules to a scored task (results of the evaluator
 * children are reused; only missing ones are computed) */
int v_rescore_task(vstate *v, int64_t task_id);

/* views.c: JSON views used by the API and the dashboard. A task with
 * `detail` lists its offers, scores and flags; NULL when the store fails.
 * Public views (V_PUBLIC*) show no server path and no submission id (a
 * token lets its miner upload; paths name tokens too); V_ADMIN shows the
 * texts as stored plus each submission's token and directory. */
enum { V_PUBLIC_LIST = 0, V_PUBLIC_DETAIL = 1, V_ADMIN_DETAIL = 2 };
json_t *v_task_json(vstate *v, const tn_task *t, int detail);
json_t *v_leaderboard_json(vstate *v);
/* The participants' report: per owner, per miner, every offer of every task
 * (or of task_id > 0 only) with the task, verdict, losses, score, note and
 * upload (docs/validator.md). detail: V_PUBLIC_DETAIL or V_ADMIN_DETAIL. */
json_t *v_report_json(vstate *v, int64_t task_id, int detail);

#endif
