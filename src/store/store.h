/* store.h - the validator's persistent state, backend-neutral.
 *
 * The validator runs unattended for days and must survive kill -9 at any
 * moment, so every state transition below is one transaction: a caller never
 * sees half of an operation after a crash. The interface speaks in entities
 * and operations, never SQL; SQLite and PostgreSQL implement the same
 * functions (store.c dispatches; docs/store.md, "PostgreSQL backend").
 *
 * Conventions
 *  - Functions return 0 on success and a negative code on failure, with a
 *    message in tn_errmsg() (base/err.h). -1 is a generic failure; the other
 *    codes below let callers act on the common cases (an HTTP layer maps
 *    CONFLICT to 409, NOT_FOUND to 404, ...). Test `rc < 0`, not `rc == -1`.
 *  - Times are int64 unix milliseconds from the validator's clock, passed in
 *    by the caller (tests control time; the store never reads the clock).
 *  - Input structs are borrowed. Output structs are filled by the store and
 *    own their strings: release one with tn_<entity>_clear(), an array with
 *    tn_<entities>_free(v, n). A cleared struct is all zero.
 *  - JSON columns travel as strings (already serialized) so the store does
 *    not depend on how callers build them; NULL means "{}".
 *  - Thread safety: one tn_store may be shared by the threads of a process
 *    (an internal mutex serializes operations, because a transaction spans
 *    several statements on one connection). Processes (evaluator children)
 *    open their own tn_store; a handle used after fork() refuses to work.
 */
#ifndef TN_STORE_H
#define TN_STORE_H

#include <stddef.h>
#include <stdint.h>

enum {
    TN_STORE_ERROR = -1,     /* I/O, SQL, corrupt database, invalid argument */
    TN_STORE_NOT_FOUND = -2, /* no such miner / task / offer / setting */
    TN_STORE_CONFLICT = -3,  /* compare-and-set lost: the state changed under you */
    TN_STORE_EXISTS = -4,    /* unique name / key / token already taken */
    TN_STORE_LIMIT = -5,     /* miner limits (per owner, total) */
    TN_STORE_REFUSED = -6,   /* upload refused: late, wrong token, task not training */
};

/* Schema version this build writes (and the newest it can open). */
#define TN_STORE_SCHEMA_VERSION 5

typedef struct tn_store tn_store;

typedef struct {
    int max_miners_total;     /* 0 = default 20 */
    int max_miners_per_owner; /* 0 = default 5 */
    int busy_timeout_ms;      /* 0 = default 10000: wait for another process's write lock
                               * (PostgreSQL: lock_timeout, waiting for a row) */
    /* 0 = synchronous=FULL (default: a commit survives power loss, see
     * docs/store.md); 1 = NORMAL (survives kill -9 only; for tests/bulk).
     * PostgreSQL: 1 sets synchronous_commit off for the session. */
    int relaxed_sync;
    /* Testing: stop migrating at this version (0 = latest). Lets a test build
     * an old database and then watch it migrate. */
    int migrate_to;
} tn_store_opts;

/* Opens (creating and migrating when needed) the store named by `url`:
 * "sqlite:PATH" or a plain PATH for SQLite; "postgres://..." or
 * "postgresql://..." (any libpq connection URI) for PostgreSQL, whose
 * database must exist (the tables are created in it). opts may be NULL. */
tn_store *tn_store_open(const char *url, const tn_store_opts *opts);
void tn_store_close(tn_store *s);
int tn_store_schema_version(tn_store *s, int *out);
/* Consistency check (SQLite: integrity_check + foreign_key_check;
 * PostgreSQL: every table present, no constraint left NOT VALID). */
int tn_store_check(tn_store *s);

/* ---- miners ------------------------------------------------------------ */

typedef struct {
    int64_t id;
    char *name;       /* unique */
    char *owner;      /* the participant; at most max_miners_per_owner miners each */
    char *endpoint;   /* base URL of the miner's HTTP server */
    char *pubkey_hex; /* Ed25519 public key, 64 lowercase hex; unique */
    int enabled;
    int64_t created_at;
} tn_miner;

/* Registers a miner (in->id ignored; in->enabled honoured). Limits count every
 * registered miner, enabled or not, so disabling one does not free a slot.
 * Codes: EXISTS (name or key taken), LIMIT. */
int tn_store_miner_add(tn_store *s, const tn_miner *in, int64_t *id_out);
int tn_store_miner_get(tn_store *s, int64_t id, tn_miner *out);
int tn_store_miner_by_name(tn_store *s, const char *name, tn_miner *out);
int tn_store_miner_by_key(tn_store *s, const char *pubkey_hex, tn_miner *out);
/* All miners by id; enabled_only restricts to enabled ones. */
int tn_store_miner_list(tn_store *s, int enabled_only, tn_miner **v, size_t *n);
int tn_store_miner_set_enabled(tn_store *s, const char *name, int enabled);
void tn_miner_clear(tn_miner *m);
void tn_miners_free(tn_miner *v, size_t n);

/* ---- catalog: models and datasets --------------------------------------- */

typedef struct {
    int64_t id;
    char *name;          /* unique, e.g. "tiny-llama-15m" */
    char *manifest_hash; /* blob hash of the directory manifest (store/blobs.h) */
    char *arch_json;     /* architecture summary (layers, dims, params count) */
    int64_t created_at;
} tn_catalog_model;

typedef struct {
    int64_t id;
    char *name;         /* unique; never sent to miners */
    char *blob_hash;    /* the full dataset file */
    char *mapping_json; /* column mapping / dataset_type */
    int64_t row_count;
    int64_t created_at;
} tn_catalog_dataset;

/* Adding the same name again with the same hash is a no-op (idempotent
 * retries); with a different hash it is EXISTS: tasks refer to catalog entries
 * by name, so a name must never silently change content. */
int tn_store_model_add(tn_store *s, const tn_catalog_model *in);
int tn_store_model_get(tn_store *s, const char *name, tn_catalog_model *out);
int tn_store_model_list(tn_store *s, tn_catalog_model **v, size_t *n);
void tn_catalog_model_clear(tn_catalog_model *m);
void tn_catalog_models_free(tn_catalog_model *v, size_t n);

int tn_store_dataset_add(tn_store *s, const tn_catalog_dataset *in);
int tn_store_dataset_get(tn_store *s, const char *name, tn_catalog_dataset *out);
int tn_store_dataset_list(tn_store *s, tn_catalog_dataset **v, size_t *n);
void tn_catalog_dataset_clear(tn_catalog_dataset *d);
void tn_catalog_datasets_free(tn_catalog_dataset *v, size_t n);

/* ---- tasks -------------------------------------------------------------- */

typedef enum {
    TN_TASK_PENDING,
    TN_TASK_PREPARING,  /* splitting the dataset, storing blobs */
    TN_TASK_OFFERING,   /* offers out, waiting for answers */
    TN_TASK_TRAINING,   /* miners training; uploads accepted until the deadline */
    TN_TASK_EVALUATING, /* evaluator workers running (also during a rescore) */
    TN_TASK_SCORED,
    TN_TASK_FAILED,
    TN_TASK_NSTATES
} tn_task_state;

const char *tn_task_state_name(tn_task_state st);
/* Returns 0 and sets *out, or -1 for an unknown name. */
int tn_task_state_parse(const char *name, tn_task_state *out);
/* 1 when the edge from -> to is allowed (docs/store.md has the graph). */
int tn_task_transition_allowed(tn_task_state from, tn_task_state to);

typedef struct {
    int64_t id;
    char *model;   /* catalog names */
    char *dataset;
    tn_task_state state;
    char *failure_reason; /* NULL unless failed */
    int64_t created_at, updated_at;
    int64_t deadline;   /* 0 until training starts */
    /* Training time given to miners, in milliseconds. The column is still
     * named `minutes` (migration 1): renaming it would need a migration, and
     * a database migrated to a newer schema version is refused by older
     * builds, which is too high a price for a name. */
    int64_t time_limit_ms;
    int64_t split_seed; /* secret */
    char *train_hash;   /* NULL until prepared; the only split miners see */
    char *test_hash;    /* never sent to miners */
    char *synth_hash;   /* never sent to miners */
    char *params_json;
} tn_task;

/* Creates a task in state `pending` (in->state, id, updated_at ignored). */
int tn_store_task_create(tn_store *s, const tn_task *in, int64_t *id_out);
int tn_store_task_get(tn_store *s, int64_t id, tn_task *out);
/* Tasks by id; state < 0 lists all states. */
int tn_store_task_list(tn_store *s, int state, tn_task **v, size_t *n);
void tn_task_clear(tn_task *t);
void tn_tasks_free(tn_task *v, size_t n);

/* The time limit in the units the protocols speak: the admin API and the
 * task views in (fractional) minutes, the miner protocol in hours. A limit
 * is at most TN_TASK_MAX_MINUTES (a year): tn_task_ms_from_minutes gives -1
 * for minutes outside (0, TN_TASK_MAX_MINUTES], since converting a larger
 * double to int64 is undefined and start + limit must not overflow. */
#define TN_TASK_MAX_MINUTES (366.0 * 24 * 60)
static inline int64_t tn_task_ms_from_minutes(double minutes) {
    if (!(minutes > 0 && minutes <= TN_TASK_MAX_MINUTES)) return -1;
    return (int64_t)(minutes * 60000.0);
}
static inline double tn_task_minutes(const tn_task *t) { return (double)t->time_limit_ms / 60000.0; }
static inline double tn_task_hours(const tn_task *t) { return (double)t->time_limit_ms / 3600000.0; }

/* Fields a transition may set in the same transaction (0 / NULL = leave). */
typedef struct {
    int64_t deadline;
    const char *train_hash, *test_hash, *synth_hash;
} tn_task_patch;

/* Compare-and-set: moves task `id` from `from` to `to` only if it is in
 * `from` now, records the event (task_events) and, for `failed`, `reason` as
 * the failure reason. Codes: CONFLICT when the task is no longer in `from`
 * (another worker moved it: re-read and decide again), NOT_FOUND, and -1 for
 * an edge the graph does not allow. */
int tn_store_task_transition(tn_store *s, int64_t id, tn_task_state from, tn_task_state to,
                             const char *reason, int64_t now);
int tn_store_task_transition_ex(tn_store *s, int64_t id, tn_task_state from, tn_task_state to,
                                const char *reason, int64_t now, const tn_task_patch *patch);

typedef struct {
    int64_t id, task_id;
    tn_task_state from, to; /* from = -1 for the creation event */
    char *reason;
    int64_t at;
} tn_task_event;
int tn_store_task_events(tn_store *s, int64_t task_id, tn_task_event **v, size_t *n);
void tn_task_events_free(tn_task_event *v, size_t n);

/* Competition slots (validator/competition.c): slot `slot` of competition
 * `competition` is the task the schedule created for that moment. The pair
 * is the table's primary key, so a slot gets at most one task whatever the
 * number of ticks or processes that try. */
typedef struct {
    int64_t competition, slot, task_id, created_at;
} tn_task_slot;
/* Creates `in` as tn_store_task_create does and records it as the slot, in
 * one transaction. EXISTS, with *id_out set to the slot's task, when the
 * slot has one already (nothing is created). */
int tn_store_task_create_in_slot(tn_store *s, const tn_task *in, int64_t competition, int64_t slot,
                                 int64_t *id_out);
/* The slots of a competition, by slot (free() the array). */
int tn_store_task_slots(tn_store *s, int64_t competition, tn_task_slot **v, size_t *n);

/* ---- offers (assignments of a task to a miner) ---------------------------- */

typedef enum {
    TN_OFFER_OFFERED,
    TN_OFFER_ACCEPTED,
    TN_OFFER_REJECTED,
    TN_OFFER_TIMEOUT,
    TN_OFFER_STARTED,
    TN_OFFER_SUBMITTED,
    TN_OFFER_EVALUATED,
    TN_OFFER_NSTATUS
} tn_offer_status;

const char *tn_offer_status_name(tn_offer_status st);
int tn_offer_status_parse(const char *name, tn_offer_status *out);

#define TN_TOKEN_HEX 32 /* submission tokens: 16 random bytes as hex */

typedef struct {
    int64_t task_id, miner_id;
    tn_offer_status status;
    char token[TN_TOKEN_HEX + 1]; /* the submission id the miner uploads under */
    int64_t offered_at;
    int64_t answered_at; /* 0 until the miner answers (or times out) */
    int64_t updated_at;
    char *message;       /* the miner's or the validator's last word */
} tn_offer;

/* Records an offer (status offered) with a fresh random token.
 * Codes: EXISTS when the miner already has an offer for this task. */
int tn_store_offer_create(tn_store *s, int64_t task_id, int64_t miner_id, int64_t now,
                          char token_out[TN_TOKEN_HEX + 1]);
/* Compare-and-set on the status, like task transitions (CONFLICT, NOT_FOUND,
 * -1 for a disallowed edge). answered_at is set on the first move out of
 * `offered`. message may be NULL (keeps the old one). */
int tn_store_offer_update(tn_store *s, int64_t task_id, int64_t miner_id, tn_offer_status from,
                          tn_offer_status to, const char *message, int64_t now);
int tn_store_offer_get(tn_store *s, int64_t task_id, int64_t miner_id, tn_offer *out);
int tn_store_offer_by_token(tn_store *s, const char *token, tn_offer *out);
int tn_store_offers_for_task(tn_store *s, int64_t task_id, tn_offer **v, size_t *n);
int tn_store_offers_for_miner(tn_store *s, int64_t miner_id, tn_offer **v, size_t *n);
void tn_offer_clear(tn_offer *o);
void tn_offers_free(tn_offer *v, size_t n);

/* ---- submissions ---------------------------------------------------------- */

typedef enum { TN_SUB_FULL, TN_SUB_ADAPTER } tn_submission_kind;

typedef struct {
    int64_t id; /* stable across re-uploads */
    int64_t task_id, miner_id;
    char *token;
    int64_t received_at; /* validator clock, of the latest upload */
    tn_submission_kind kind;
    char *manifest_json; /* {"files": {name: {sha256, size}}} */
    char *content_hash;  /* tn_manifest_content_hash() of the manifest */
    char *strategy;      /* the participant's free-text note */
    char *files_dir;     /* where this upload's files are (one dir per upload) */
    int64_t uploads;     /* how many uploads so far (history in `uploads`) */
} tn_submission;

/* Records an upload for the offer named by in->token. The first upload
 * creates the submission; a later one (before the deadline) replaces it in
 * place, keeps its id, appends to the upload history and deletes the rule
 * results of the replaced content. The offer moves to `submitted`.
 * in->task_id and in->miner_id must match the token's offer (a miner cannot
 * upload under another miner's token). Checked in the same transaction, so a
 * task moving to evaluating cannot race an upload: the task must be
 * `training` and received_at <= deadline, the offer accepted, started or
 * submitted. Codes: REFUSED (late, not training, offer not accepted, token of
 * another miner), NOT_FOUND (unknown token). */
int tn_store_submission_put(tn_store *s, const tn_submission *in, int64_t *id_out);
int tn_store_submission_get(tn_store *s, int64_t id, tn_submission *out);
int tn_store_submission_for(tn_store *s, int64_t task_id, int64_t miner_id, tn_submission *out);
int tn_store_submissions_for_task(tn_store *s, int64_t task_id, tn_submission **v, size_t *n);
/* Current submissions (all tasks) with this content hash, earliest first:
 * exact duplicates across tasks and miners. */
int tn_store_submissions_by_hash(tn_store *s, const char *content_hash, tn_submission **v,
                                 size_t *n);
/* The upload history of one submission, oldest first (id = upload id,
 * uploads = its 1-based number). */
int tn_store_upload_history(tn_store *s, int64_t submission_id, tn_submission **v, size_t *n);
void tn_submission_clear(tn_submission *sub);
void tn_submissions_free(tn_submission *v, size_t n);

/* ---- evaluations ---------------------------------------------------------- */

typedef enum { TN_DECISION_PASS, TN_DECISION_FAIL, TN_DECISION_FLAG } tn_decision;
const char *tn_decision_name(tn_decision d);

typedef struct {
    int64_t submission_id;
    char *rule; /* e.g. "provenance", "duplicate", "leak" */
    tn_decision decision;
    char *numbers_json; /* what the rule measured */
    char *reason;
    int64_t evaluated_at;
} tn_rule_result;

/* Upsert keyed by (submission, rule): an evaluation redone after a crash
 * replaces its earlier result instead of adding a second one. */
int tn_store_rule_result_put(tn_store *s, const tn_rule_result *in);
int tn_store_rule_results(tn_store *s, int64_t submission_id, tn_rule_result **v, size_t *n);
/* Deletes the results of one rule (rule != NULL) or all rules of a submission. */
int tn_store_rule_results_delete(tn_store *s, int64_t submission_id, const char *rule);
void tn_rule_results_free(tn_rule_result *v, size_t n);

/* One row per (task, miner that accepted): a miner that accepted and sent
 * nothing still has a score (r = 0, invalid "missing"). Losses are NaN when
 * unknown (stored as NULL). */
typedef struct {
    int64_t task_id, miner_id;
    int64_t submission_id; /* 0 when there is none */
    double test_loss, synth_loss, weighted_loss;
    double quality; /* r */
    double score;   /* s */
    int valid;
    char *invalid_reason; /* NULL when valid */
    int64_t scored_at;
} tn_score;

/* Replaces every score of `task_id` with v[0..n) in one transaction (first
 * scoring and rescoring alike). Every v[i].task_id must equal task_id. */
int tn_store_scores_replace(tn_store *s, int64_t task_id, const tn_score *v, size_t n, int64_t now);
int tn_store_scores_for_task(tn_store *s, int64_t task_id, tn_score **v, size_t *n);
int tn_store_scores_for_miner(tn_store *s, int64_t miner_id, tn_score **v, size_t *n);
/* Every score, ordered by miner then task: one pass builds the leaderboard. */
int tn_store_scores_all(tn_store *s, tn_score **v, size_t *n);
void tn_scores_free(tn_score *v, size_t n);

/* ---- evaluation jobs (leased to workers; docs/store.md, "Evaluation jobs") --- */

typedef enum { TN_EVAL_QUEUED, TN_EVAL_RUNNING, TN_EVAL_DONE, TN_EVAL_FAILED, TN_EVAL_NSTATES } tn_eval_state;
const char *tn_eval_state_name(tn_eval_state st);

/* A job is tried at most this many times (claims, whether the worker then
 * failed it or lost its lease) before it is left `failed`. */
#define TN_EVAL_MAX_ATTEMPTS 3
/* A job given back (tn_store_eval_fail) is claimable again this long after:
 * a validator that is down for a moment must not use up every attempt. */
#define TN_EVAL_RETRY_MS 10000

typedef struct {
    int64_t id, task_id;
    int64_t submission_id; /* 0: the task's base model (the leak check's reference) */
    tn_eval_state state;
    char *job_json;
    char *lease_owner;     /* NULL unless claimed once */
    int64_t lease_expires; /* ms, the caller's clock. Running: the lease's end;
                            * queued: not claimable before (a retry's delay) */
    int64_t attempts;      /* claims so far */
    char *result_json;     /* NULL until done */
    char *error;           /* the last failure, or NULL */
    int64_t created_at, updated_at;
} tn_eval;

/* Queues the evaluation of (task, submission) with its job. Idempotent: when
 * that pair already has a job (in any state), nothing changes and *id_out is
 * the existing job's id. */
int tn_store_eval_enqueue(tn_store *s, int64_t task_id, int64_t submission_id, const char *job_json, int64_t now,
                          int64_t *id_out);
/* Claims the oldest job that is queued (and not waiting out
 * TN_EVAL_RETRY_MS after a failure), or running with a lease expired at
 * `now` (its worker is presumed dead), for `owner` until now + lease_ms:
 * state running, attempts + 1, *out filled. A job whose lease expired on its
 * last allowed attempt is left failed instead. Two claimers never get the
 * same job. NOT_FOUND (no message) when there is nothing to claim. */
int tn_store_eval_claim(tn_store *s, const char *owner, int64_t now, int64_t lease_ms, tn_eval *out);
/* Extends the lease to now + lease_ms. Only the owner, before the lease
 * expired: CONFLICT otherwise (the job may be another worker's now: stop). */
int tn_store_eval_renew(tn_store *s, int64_t id, const char *owner, int64_t now, int64_t lease_ms);
/* Records the result (state done; `error` keeps the last failure, the
 * job's history). Same rule as renew: a result that arrives
 * after its lease expired or was taken is refused with CONFLICT. */
int tn_store_eval_complete(tn_store *s, int64_t id, const char *owner, const char *result_json, int64_t now);
/* Gives the job up for now with `error`: back to queued for another claim
 * from now + TN_EVAL_RETRY_MS, or failed once it has had
 * TN_EVAL_MAX_ATTEMPTS attempts. Same lease rule. */
int tn_store_eval_fail(tn_store *s, int64_t id, const char *owner, const char *error, int64_t now);
int tn_store_eval_get(tn_store *s, int64_t id, tn_eval *out);
/* A task's jobs by id (task_id 0 = every task). */
int tn_store_eval_list(tn_store *s, int64_t task_id, tn_eval **v, size_t *n);
void tn_eval_clear(tn_eval *e);
void tn_evals_free(tn_eval *v, size_t n);

/* ---- leases of a role (migration 5; docs/store.md, "Leases") ------------- */

/* Takes or renews the lease `name` (e.g. "scheduler") for owner until
 * now + lease_ms: 0 when owner holds it now (it was free, expired, or
 * owner's already); TN_STORE_CONFLICT when another owner holds an unexpired
 * lease, whose name *holder_out (heap, may be NULL) gets. One compare-and-
 * set: two takers never both get 0 for overlapping leases. */
int tn_store_lease_take(tn_store *s, const char *name, const char *owner, int64_t now, int64_t lease_ms,
                        char **holder_out);
/* Gives the lease up if owner holds it (a clean stop: the next taker need
 * not wait for the expiry); 0 either way. */
int tn_store_lease_release(tn_store *s, const char *name, const char *owner);

/* ---- flags ------------------------------------------------------------------ */

typedef struct {
    int64_t id, task_id, miner_id;
    char *rule, *reason;
    int64_t created_at;
} tn_flag;

/* One flag per (task, miner, rule): raising it again (a redone evaluation)
 * updates the reason and keeps the first created_at. */
int tn_store_flag_raise(tn_store *s, const tn_flag *in, int64_t *id_out);
/* task_id / miner_id 0 = any. Newest first. */
int tn_store_flag_list(tn_store *s, int64_t task_id, int64_t miner_id, tn_flag **v, size_t *n);
void tn_flags_free(tn_flag *v, size_t n);

/* ---- settings (rules and thresholds, changed at run time) ------------------- */

/* Every change gets the next global version; history is kept, so a rescore
 * can name the settings version it used and reproduce it later. */
typedef struct {
    char *key, *value; /* value NULL: the key was unset */
    int64_t version, updated_at;
} tn_setting;

/* Sets key to value (NULL unsets). expected_version >= 0 makes it a
 * compare-and-set against the key's current version (0 = key never set):
 * CONFLICT if another admin changed it meanwhile; -1 = unconditional. */
int tn_store_setting_set(tn_store *s, const char *key, const char *value, int64_t expected_version,
                         int64_t now, int64_t *version_out);
/* Current value (NOT_FOUND when never set or unset). *value_out is heap. */
int tn_store_setting_get(tn_store *s, const char *key, char **value_out, int64_t *version_out);
/* The value as of global settings version `version` (NOT_FOUND if unset then). */
int tn_store_setting_get_at(tn_store *s, const char *key, int64_t version, char **value_out);
/* The newest global settings version (0 before any setting). */
int tn_store_settings_version(tn_store *s, int64_t *out);
/* Current settings (unset keys omitted), by key. */
int tn_store_setting_list(tn_store *s, tn_setting **v, size_t *n);
void tn_settings_free(tn_setting *v, size_t n);

/* ---- testing ----------------------------------------------------------------- */

/* Called at named points inside transactions (e.g. "task_transition:before_commit",
 * "submission_put:before_commit") so a crash test can _exit() there. */
typedef void (*tn_store_crash_hook)(const char *point, void *arg);
void tn_store_set_crash_hook(tn_store *s, tn_store_crash_hook hook, void *arg);

#endif
