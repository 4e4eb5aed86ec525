/* validator.h - the organiser's server (tuna validator).
 *
 * One process: an HTTP API (libmicrohttpd threads) in front of a SQLite
 * store and a content-addressed blob store, and a scheduler loop that moves
 * tasks through pending -> preparing -> offering -> training -> evaluating
 * -> scored (or failed). Everything it must not lose is in data_dir; after a
 * crash or kill -9 it starts again from there: deadlines hold (they are
 * stored times), uploads are not lost (stored before they are acknowledged),
 * evaluations are redone idempotently (results are upserted per rule).
 * See docs/validator.md.
 */
#ifndef TN_VALIDATOR_H
#define TN_VALIDATOR_H

#include <stdint.h>

typedef struct {
    const char *data_dir;        /* store.sqlite, blobs/, tasks/, uploads/ */
    const char *store_url;       /* the store (store.h: postgres://..., sqlite:PATH or a path);
                                  * NULL: data_dir/store.sqlite */
    const char *bind;            /* default 127.0.0.1 */
    int port;                    /* 0 = any free port (written to data_dir/validator.json) */
    const char *key_path;        /* the validator's key; created when missing (default data_dir/validator.key) */
    const char *admin_key;       /* organiser's public key hex: signs admin calls (required) */
    int offer_timeout_ms;        /* default 3000 */
    uint64_t max_upload_bytes;   /* per file, default 4 GiB */
    int pool_size;               /* miners offered each task; 0 = every eligible miner */
    int seq_len;                 /* evaluation sequence length, default 512 */
    long eval_mem_mb;            /* evaluator child's memory limit (evaljob.h), default TN_EVAL_MEM_AUTO */
    long eval_cpu_s;             /* evaluator child's CPU limit, default 3600 */
    double eval_wall_s;          /* evaluator child's wall-clock limit, default 1800 */
    const char *tuna_bin;        /* binary for child processes (default /proc/self/exe) */
    double tick_s;               /* scheduler period, default 0.25 */
    int max_miners;              /* total miners allowed, default 20 */
    int role;                    /* TN_VALIDATOR_ALL (default), _API, _SCHEDULER: see below */
    double lease_s;              /* the scheduler's lease, default 30 s */
} tn_validator_opts;

/* Roles (docs/operations.md, "Several validator processes"): several
 * processes may share one PostgreSQL store and one data directory. `api`
 * serves the HTTP API (uploads, reads, admin) and never schedules; `all`
 * serves it and schedules while it holds the store's "scheduler" lease;
 * `scheduler` schedules under that lease and serves only /v1/health and the
 * signed /blobs/ downloads (its offers and jobs carry URLs of its own
 * address). The lease (tn_store_lease_take) is renewed while held; the
 * scheduler acts in a tick only while a third of the lease is left, so two
 * schedulers never act at once as long as a tick is shorter than that. A
 * holder on this host whose process is gone (a crash, kill -9) is replaced
 * at once, without waiting for its lease to expire. */
enum { TN_VALIDATOR_ALL = 0, TN_VALIDATOR_API = 1, TN_VALIDATOR_SCHEDULER = 2 };

void tn_validator_opts_default(tn_validator_opts *o);
/* Runs until SIGINT/SIGTERM; returns 0 after a clean stop. */
int tn_validator_main(const tn_validator_opts *o);

#endif
