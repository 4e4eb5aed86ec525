/* store_int.h - what the backends of store.h share (private to src/store).
 *
 * store.c owns the entry points: tn_store_open() picks a backend by URL and
 * every other tn_store_* call goes through the handle's ops table, which the
 * SQLite backend (sqlite_*.c, prefix sqs_) and the PostgreSQL backend (pg_*.c,
 * prefix pgs_) each fill. What does not depend on the database lives here
 * once: names of the enumerations, the life-cycle edges, argument checks,
 * the mutex and fork guard, and the clear/free functions of output structs.
 */
#ifndef TN_STORE_STORE_INT_H
#define TN_STORE_STORE_INT_H

#include "store/store.h"
#include "store/sqlite.h"
#include "base/err.h"

#include <pthread.h>
#include <sys/types.h>

/* Every operation of store.h that a backend implements:
 * X(name, (parameters), (arguments)). tn_store_open/close, the crash hook
 * and tn_store_task_transition (a special case of _ex) are not in it. */
#define TN_STORE_OPS(X)                                                                          \
    X(schema_version, (tn_store * s, int *out), (s, out))                                        \
    X(check, (tn_store * s), (s))                                                                \
    X(miner_add, (tn_store * s, const tn_miner *in, int64_t *id_out), (s, in, id_out))           \
    X(miner_get, (tn_store * s, int64_t id, tn_miner *out), (s, id, out))                        \
    X(miner_by_name, (tn_store * s, const char *name, tn_miner *out), (s, name, out))            \
    X(miner_by_key, (tn_store * s, const char *pubkey_hex, tn_miner *out), (s, pubkey_hex, out)) \
    X(miner_list, (tn_store * s, int enabled_only, tn_miner **v, size_t *n),                     \
      (s, enabled_only, v, n))                                                                   \
    X(miner_set_enabled, (tn_store * s, const char *name, int enabled), (s, name, enabled))      \
    X(model_add, (tn_store * s, const tn_catalog_model *in), (s, in))                            \
    X(model_get, (tn_store * s, const char *name, tn_catalog_model *out), (s, name, out))        \
    X(model_list, (tn_store * s, tn_catalog_model **v, size_t *n), (s, v, n))                    \
    X(dataset_add, (tn_store * s, const tn_catalog_dataset *in), (s, in))                        \
    X(dataset_get, (tn_store * s, const char *name, tn_catalog_dataset *out), (s, name, out))    \
    X(dataset_list, (tn_store * s, tn_catalog_dataset **v, size_t *n), (s, v, n))                \
    X(task_create, (tn_store * s, const tn_task *in, int64_t *id_out), (s, in, id_out))          \
    X(task_get, (tn_store * s, int64_t id, tn_task *out), (s, id, out))                          \
    X(task_list, (tn_store * s, int state, tn_task **v, size_t *n), (s, state, v, n))            \
    X(task_transition_ex,                                                                        \
      (tn_store * s, int64_t id, tn_task_state from, tn_task_state to, const char *reason,      \
       int64_t now, const tn_task_patch *patch),                                                 \
      (s, id, from, to, reason, now, patch))                                                     \
    X(task_events, (tn_store * s, int64_t task_id, tn_task_event **v, size_t *n),                \
      (s, task_id, v, n))                                                                        \
    X(task_create_in_slot,                                                                       \
      (tn_store * s, const tn_task *in, int64_t competition, int64_t slot, int64_t *id_out),     \
      (s, in, competition, slot, id_out))                                                        \
    X(task_slots, (tn_store * s, int64_t competition, tn_task_slot **v, size_t *n),              \
      (s, competition, v, n))                                                                    \
    X(offer_create,                                                                              \
      (tn_store * s, int64_t task_id, int64_t miner_id, int64_t now,                            \
       char token_out[TN_TOKEN_HEX + 1]),                                                        \
      (s, task_id, miner_id, now, token_out))                                                    \
    X(offer_update,                                                                              \
      (tn_store * s, int64_t task_id, int64_t miner_id, tn_offer_status from,                   \
       tn_offer_status to, const char *message, int64_t now),                                    \
      (s, task_id, miner_id, from, to, message, now))                                            \
    X(offer_get, (tn_store * s, int64_t task_id, int64_t miner_id, tn_offer *out),               \
      (s, task_id, miner_id, out))                                                               \
    X(offer_by_token, (tn_store * s, const char *token, tn_offer *out), (s, token, out))         \
    X(offers_for_task, (tn_store * s, int64_t task_id, tn_offer **v, size_t *n),                 \
      (s, task_id, v, n))                                                                        \
    X(offers_for_miner, (tn_store * s, int64_t miner_id, tn_offer **v, size_t *n),               \
      (s, miner_id, v, n))                                                                       \
    X(submission_put, (tn_store * s, const tn_submission *in, int64_t *id_out), (s, in, id_out)) \
    X(submission_get, (tn_store * s, int64_t id, tn_submission *out), (s, id, out))              \
    X(submission_for, (tn_store * s, int64_t task_id, int64_t miner_id, tn_submission *out),     \
      (s, task_id, miner_id, out))                                                               \
    X(submissions_for_task, (tn_store * s, int64_t task_id, tn_submission **v, size_t *n),       \
      (s, task_id, v, n))                                                                        \
    X(submissions_by_hash,                                                                       \
      (tn_store * s, const char *content_hash, tn_submission **v, size_t *n),                    \
      (s, content_hash, v, n))                                                                   \
    X(upload_history, (tn_store * s, int64_t submission_id, tn_submission **v, size_t *n),       \
      (s, submission_id, v, n))                                                                  \
    X(rule_result_put, (tn_store * s, const tn_rule_result *in), (s, in))                        \
    X(rule_results, (tn_store * s, int64_t submission_id, tn_rule_result **v, size_t *n),        \
      (s, submission_id, v, n))                                                                  \
    X(rule_results_delete, (tn_store * s, int64_t submission_id, const char *rule),              \
      (s, submission_id, rule))                                                                  \
    X(scores_replace, (tn_store * s, int64_t task_id, const tn_score *v, size_t n, int64_t now), \
      (s, task_id, v, n, now))                                                                   \
    X(scores_for_task, (tn_store * s, int64_t task_id, tn_score **v, size_t *n),                 \
      (s, task_id, v, n))                                                                        \
    X(scores_for_miner, (tn_store * s, int64_t miner_id, tn_score **v, size_t *n),               \
      (s, miner_id, v, n))                                                                       \
    X(scores_all, (tn_store * s, tn_score **v, size_t *n), (s, v, n))                            \
    X(flag_raise, (tn_store * s, const tn_flag *in, int64_t *id_out), (s, in, id_out))           \
    X(flag_list, (tn_store * s, int64_t task_id, int64_t miner_id, tn_flag **v, size_t *n),      \
      (s, task_id, miner_id, v, n))                                                              \
    X(setting_set,                                                                               \
      (tn_store * s, const char *key, const char *value, int64_t expected_version, int64_t now, \
       int64_t *version_out),                                                                    \
      (s, key, value, expected_version, now, version_out))                                       \
    X(setting_get, (tn_store * s, const char *key, char **value_out, int64_t *version_out),      \
      (s, key, value_out, version_out))                                                          \
    X(setting_get_at, (tn_store * s, const char *key, int64_t version, char **value_out),        \
      (s, key, version, value_out))                                                              \
    X(settings_version, (tn_store * s, int64_t *out), (s, out))                                  \
    X(setting_list, (tn_store * s, tn_setting **v, size_t *n), (s, v, n))                        \
    X(eval_enqueue,                                                                              \
      (tn_store * s, int64_t task_id, int64_t submission_id, const char *job_json, int64_t now,  \
       int64_t *id_out),                                                                         \
      (s, task_id, submission_id, job_json, now, id_out))                                        \
    X(eval_claim, (tn_store * s, const char *owner, int64_t now, int64_t lease_ms, tn_eval *out), \
      (s, owner, now, lease_ms, out))                                                            \
    X(eval_renew, (tn_store * s, int64_t id, const char *owner, int64_t now, int64_t lease_ms),   \
      (s, id, owner, now, lease_ms))                                                             \
    X(eval_complete,                                                                             \
      (tn_store * s, int64_t id, const char *owner, const char *result_json, int64_t now),      \
      (s, id, owner, result_json, now))                                                          \
    X(eval_fail, (tn_store * s, int64_t id, const char *owner, const char *error, int64_t now),  \
      (s, id, owner, error, now))                                                                \
    X(eval_get, (tn_store * s, int64_t id, tn_eval *out), (s, id, out))                          \
    X(eval_list, (tn_store * s, int64_t task_id, tn_eval **v, size_t *n), (s, task_id, v, n))             \
    X(lease_take,                                                                                \
      (tn_store * s, const char *name, const char *owner, int64_t now, int64_t lease_ms, char **holder_out), \
      (s, name, owner, now, lease_ms, holder_out))                                               \
    X(lease_release, (tn_store * s, const char *name, const char *owner), (s, name, owner))

#define TN_STORE_OP_FIELD(name, params, args) int(*name) params;
typedef struct {
    const char *backend; /* "sqlite", "postgres" */
    void (*close)(tn_store *s); /* the connection only; store.c frees the rest */
    TN_STORE_OPS(TN_STORE_OP_FIELD)
} tn_store_ops;

struct pg_conn; /* libpq's PGconn, kept opaque here */

struct tn_store {
    const tn_store_ops *ops;
    char *path; /* what messages name: the SQLite file, or the URL without password */
    pthread_mutex_t mu;
    pid_t pid; /* the process that opened it; a forked child must not use it */
    int max_total, max_per_owner;
    tn_store_crash_hook hook;
    void *hook_arg;
    /* the backend's connection: exactly one of these is in use */
    tn_sqlite h;
    struct pg_conn *pg;
    int pg_retry; /* PostgreSQL: the last failure was a serialization failure (retry) */
};

/* The backends' open functions: fill s (common fields already set) and
 * connect + migrate to `target`; on failure the caller closes s. */
extern const tn_store_ops tn_sqlite_store_ops, tn_pg_store_ops;
int sqs_open(tn_store *s, const char *path, const tn_store_opts *o, int target);
int pgs_open(tn_store *s, const char *url, const tn_store_opts *o, int target);

/* Names of the enumerations as stored (their order is the enums'). */
extern const char *const ss_task_states[TN_TASK_NSTATES];
extern const char *const ss_offer_statuses[TN_OFFER_NSTATUS];
extern const char *const ss_decisions[3];
extern const char *const ss_sub_kinds[2];
extern const char *const ss_eval_states[TN_EVAL_NSTATES];
/* names[0..n) lookup: 0 and *out, or -1 when s is not one of them. */
int ss_parse_name(const char *const *names, int n, const char *s, int *out);
/* The offer life cycle's edges (tn_store_offer_update). */
int ss_offer_edge_allowed(tn_offer_status from, tn_offer_status to);

/* Sets the error message and returns `code` (a TN_STORE_* status). */
int ss_fail_code(int code, const char *fmt, ...) TN_PRINTF(2, 3);
/* Take the handle's mutex (refused in a forked child) / give it back, passing rc through. */
int ss_enter(tn_store *s);
int ss_leave(tn_store *s, int rc);
/* Calls the crash hook (tests) at a named point inside a transaction. */
void ss_hook(tn_store *s, const char *point);

/* Argument checks shared by the backends (0 = fine, else the error is set). */
int ss_nonempty(const char *v, const char *what);
int ss_is_hex64(const char *v);
const char *ss_json_or_empty(const char *j);
int ss_check_miner(const tn_miner *in);
int ss_check_model(const tn_catalog_model *in);
int ss_check_dataset(const tn_catalog_dataset *in);
int ss_check_upload(const tn_submission *in);
int ss_check_scores(int64_t task_id, const tn_score *v, size_t n);
int ss_check_offer_edge(int64_t task_id, int64_t miner_id, tn_offer_status from, tn_offer_status to);
int ss_check_task_edge(int64_t id, tn_task_state from, tn_task_state to);
/* An upload's checks on the token's offer, then on its task (state name,
 * deadline), as read inside the upload's transaction: 0 or TN_STORE_REFUSED. */
int ss_upload_offer_ok(const tn_submission *in, const tn_offer *o);
int ss_upload_task_ok(const tn_submission *in, const char *state, int64_t deadline);
/* A fresh submission token: 16 random bytes as hex. */
void ss_new_token(char token[TN_TOKEN_HEX + 1]);

/* Clear one output struct (for fetch-all callbacks: void *). */
void ss_clear_miner(void *p);
void ss_clear_model(void *p);
void ss_clear_dataset(void *p);
void ss_clear_task(void *p);
void ss_clear_event(void *p);
void ss_clear_offer(void *p);
void ss_clear_submission(void *p);
void ss_clear_rule(void *p);
void ss_clear_score(void *p);
void ss_clear_flag(void *p);
void ss_clear_setting(void *p);
void ss_clear_eval(void *p);

/* Evaluation jobs (sqlite_evals.c, pg_evals.c): the columns every read
 * returns, the check of a lease operation's arguments, and the verdict on a
 * lease operation whose UPDATE matched no row, from the job as it is now
 * (state name, owner, expiry; found = 0 when there is no such job):
 * NOT_FOUND, or CONFLICT naming who holds the job. */
#define SS_EVAL_COLS                                                                             \
    "id, task_id, submission_id, state, job_json, lease_owner, lease_expires, attempts, "        \
    "result_json, error, created_at, updated_at"
int ss_check_lease(const char *owner, int64_t lease_ms, int need_lease);
int ss_lease_lost(int64_t id, const char *owner, int found, const char *state, const char *holder,
                  int64_t expires, int64_t now, const char *what);

#endif
