/* test_store.c - the validator's persistent state (src/store/).
 *
 * Besides the operations, these tests kill processes in the middle of
 * transactions and check that the reopened database is at the state before
 * the transaction: the validator must survive kill -9 at any moment.
 *
 * Every case runs twice: on SQLite, and on PostgreSQL when TUNA_TEST_PG_URL
 * names a server (tests/run starts a throwaway one with tests/pg_server),
 * each case in a fresh schema of its own; without a server the PostgreSQL
 * half is one skipped case that says so. */
#include "harness.h"
#include "store_backend.h"

#include "store/store.h"
#include "store/migrations.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *H1 = "1111111111111111111111111111111111111111111111111111111111111111";
static const char *H2 = "2222222222222222222222222222222222222222222222222222222222222222";
static const char *H3 = "3333333333333333333333333333333333333333333333333333333333333333";

static char *key_hex(int i) {
    char *k = tn_malloc(65);
    snprintf(k, 65, "%064x", i + 1); /* unique per i */
    return k;
}

static int add_miner(tn_store *s, const char *name, const char *owner, int i, int64_t *id) {
    char *k = key_hex(i);
    tn_miner m = {.name = (char *)name, .owner = (char *)owner, .endpoint = "http://127.0.0.1:9000",
                  .pubkey_hex = k, .enabled = 1, .created_at = 1000 + i};
    int rc = tn_store_miner_add(s, &m, id);
    free(k);
    return rc;
}

static void add_catalog(tn_store *s) {
    tn_catalog_model m = {.name = "tiny", .manifest_hash = (char *)H1, .arch_json = "{\"layers\":2}",
                  .created_at = 5};
    tn_catalog_dataset d = {.name = "alpaca-mini", .blob_hash = (char *)H2, .mapping_json = "{}",
                    .row_count = 100, .created_at = 6};
    CHECKF(tn_store_model_add(s, &m) == 0, "%s", tn_errmsg());
    CHECKF(tn_store_dataset_add(s, &d) == 0, "%s", tn_errmsg());
}

static int64_t new_task(tn_store *s) {
    tn_task t = {.model = "tiny", .dataset = "alpaca-mini", .created_at = 100, .time_limit_ms = 30,
                 .split_seed = -1234567890123LL, .params_json = "{\"a\":0.7}"};
    int64_t id = 0;
    CHECKF(tn_store_task_create(s, &t, &id) == 0, "%s", tn_errmsg());
    return id;
}

/* A task in `training` (deadline 10000) with one miner that accepted. */
static void setup_training(tn_store *s, int64_t *task, int64_t *miner, char token[TN_TOKEN_HEX + 1]) {
    add_catalog(s);
    CHECKF(add_miner(s, "m1", "alice", 1, miner) == 0, "%s", tn_errmsg());
    *task = new_task(s);
    CHECK(tn_store_task_transition(s, *task, TN_TASK_PENDING, TN_TASK_PREPARING, NULL, 200) == 0);
    tn_task_patch p = {.train_hash = H1, .test_hash = H2, .synth_hash = H3};
    CHECK(tn_store_task_transition_ex(s, *task, TN_TASK_PREPARING, TN_TASK_OFFERING, NULL, 300, &p) == 0);
    CHECK(tn_store_offer_create(s, *task, *miner, 400, token) == 0);
    CHECK(tn_store_offer_update(s, *task, *miner, TN_OFFER_OFFERED, TN_OFFER_ACCEPTED, "ok", 450) == 0);
    tn_task_patch d = {.deadline = 10000};
    CHECKF(tn_store_task_transition_ex(s, *task, TN_TASK_OFFERING, TN_TASK_TRAINING, NULL, 500, &d) == 0,
           "%s", tn_errmsg());
}

static tn_submission upload(int64_t task, int64_t miner, const char *token, int64_t at, const char *hash,
                            const char *dir) {
    return (tn_submission){.task_id = task, .miner_id = miner, .token = (char *)token,
                           .received_at = at, .kind = TN_SUB_FULL,
                           .manifest_json = "{\"files\":{}}", .content_hash = (char *)hash,
                           .strategy = "lr 1e-4, 2 epochs", .files_dir = (char *)dir};
}

TEST(migrations_from_empty) {
    char *p = db_path("empty.db");
    tn_store *s = open_db(p);
    if (!s) goto out;
    int v = 0;
    CHECK(tn_store_schema_version(s, &v) == 0 && v == TN_STORE_SCHEMA_VERSION);
    CHECKF(tn_store_check(s) == 0, "%s", tn_errmsg());
    tn_miner *ms = NULL;
    size_t n = 9;
    CHECK(tn_store_miner_list(s, 0, &ms, &n) == 0 && n == 0 && ms == NULL);
    tn_store_close(s);
    /* opening again is a no-op migration */
    s = open_db(p);
    CHECK(s && tn_store_schema_version(s, &v) == 0 && v == TN_STORE_SCHEMA_VERSION);
    tn_store_close(s);
out:
    free(p);
}

TEST(migrations_step_by_step) {
    char *p = db_path("old.db");
    tn_store_opts o = {.migrate_to = 1};
    tn_store *s = tn_store_open(p, &o);
    CHECKF(s != NULL, "%s", tn_errmsg());
    if (!s) goto out;
    int v = 0;
    CHECK(tn_store_schema_version(s, &v) == 0 && v == 1);
    CHECK(add_miner(s, "old", "alice", 1, NULL) == 0);
    /* settings arrive with version 2 */
    CHECK(tn_store_setting_set(s, "k", "v", -1, 1, NULL) == TN_STORE_ERROR);
    tn_store_close(s);

    s = open_db(p);
    if (!s) goto out;
    CHECK(tn_store_schema_version(s, &v) == 0 && v == TN_STORE_SCHEMA_VERSION);
    tn_miner m;
    CHECK(tn_store_miner_by_name(s, "old", &m) == 0 && !strcmp(m.owner, "alice"));
    tn_miner_clear(&m);
    CHECKF(tn_store_setting_set(s, "k", "v", -1, 1, NULL) == 0, "%s", tn_errmsg());
    tn_store_close(s);
out:
    free(p);
}

TEST(newer_schema_refused) {
    char *p = db_path("newer.db");
    tn_store *s = open_db(p);
    if (!s) goto out;
    tn_store_close(s);
    CHECK(raw_exec(p, "INSERT INTO schema_version VALUES (99, 'from the future', 0)") == 0);
    s = tn_store_open(p, NULL);
    CHECK(s == NULL);
    CHECKF(strstr(tn_errmsg(), "schema version 99 is newer") != NULL, "%s", tn_errmsg());
    tn_store_close(s);

    /* someone else's database is not silently adopted */
    char *q = db_path("foreign.db");
    CHECK(raw_exec(q, "CREATE TABLE t (x INTEGER)") == 0);
    CHECK(tn_store_open(q, NULL) == NULL);
    CHECKF(strstr(tn_errmsg(), "not a tuna store") != NULL, "%s", tn_errmsg());
    /* a server that is not there: a clear error, and the password is not echoed */
    CHECK(tn_store_open("postgresql://tuna:s3cret@127.0.0.1:1/tuna?connect_timeout=2", NULL) == NULL);
    CHECKF(strstr(tn_errmsg(), "cannot connect to PostgreSQL") != NULL &&
               strstr(tn_errmsg(), "tuna:***@127.0.0.1:1") != NULL && !strstr(tn_errmsg(), "s3cret"),
           "%s", tn_errmsg());
    free(q);
out:
    free(p);
}

TEST(reopen_keeps_data) {
    char *p = db_path("reopen.db");
    tn_store *s = open_db(p);
    if (!s) goto out;
    add_catalog(s);
    int64_t mid = 0;
    CHECK(add_miner(s, "m1", "alice", 1, &mid) == 0);
    int64_t tid = new_task(s);
    tn_store_close(s);

    s = tn_store_open(p, NULL);
    CHECKF(s != NULL, "%s", tn_errmsg());
    if (!s) goto out;
    tn_miner m;
    CHECK(tn_store_miner_get(s, mid, &m) == 0);
    CHECK(m.enabled == 1 && m.created_at == 1001 && !strcmp(m.name, "m1") &&
          !strcmp(m.endpoint, "http://127.0.0.1:9000"));
    tn_miner_clear(&m);
    tn_task t;
    CHECK(tn_store_task_get(s, tid, &t) == 0);
    CHECK(t.state == TN_TASK_PENDING && t.split_seed == -1234567890123LL && t.time_limit_ms == 30);
    CHECK(!strcmp(t.model, "tiny") && !strcmp(t.params_json, "{\"a\":0.7}") && t.train_hash == NULL);
    tn_task_clear(&t);
    tn_catalog_model mo;
    CHECK(tn_store_model_get(s, "tiny", &mo) == 0 && !strcmp(mo.manifest_hash, H1));
    tn_catalog_model_clear(&mo);
    tn_catalog_dataset d;
    CHECK(tn_store_dataset_get(s, "alpaca-mini", &d) == 0 && d.row_count == 100);
    tn_catalog_dataset_clear(&d);
    /* catalog names never change content; re-adding identical is fine */
    tn_catalog_model same = {.name = "tiny", .manifest_hash = (char *)H1};
    tn_catalog_model other = {.name = "tiny", .manifest_hash = (char *)H2};
    CHECK(tn_store_model_add(s, &same) == 0);
    CHECK(tn_store_model_add(s, &other) == TN_STORE_EXISTS);
    tn_task bad = {.model = "nope", .dataset = "alpaca-mini", .time_limit_ms = 1};
    CHECK(tn_store_task_create(s, &bad, NULL) == TN_STORE_NOT_FOUND);
    CHECK(strstr(tn_errmsg(), "no model named 'nope'") != NULL);
    tn_store_close(s);

    /* the sqlite: prefix names the same database */
    if (use_pg) goto out;
    char *url = tn_sprintf("sqlite:%s", p);
    s = open_db(url);
    CHECK(s && tn_store_task_get(s, tid, &t) == 0);
    tn_task_clear(&t);
    tn_store_close(s);
    free(url);
out:
    free(p);
}

TEST(miner_limits) {
    char *p = db_path("miners.db");
    tn_store_opts o = {.max_miners_total = 7, .relaxed_sync = 1};
    tn_store *s = tn_store_open(p, &o);
    CHECKF(s != NULL, "%s", tn_errmsg());
    if (!s) goto out;
    char name[32];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "alice-%d", i);
        CHECKF(add_miner(s, name, "alice", i, NULL) == 0, "%s", tn_errmsg());
    }
    CHECK(add_miner(s, "alice-5", "alice", 5, NULL) == TN_STORE_LIMIT);
    CHECKF(strstr(tn_errmsg(), "'alice' already has 5 miners") != NULL, "%s", tn_errmsg());
    CHECK(add_miner(s, "alice-0", "bob", 10, NULL) == TN_STORE_EXISTS);
    CHECK(add_miner(s, "bob-0", "bob", 0, NULL) == TN_STORE_EXISTS); /* alice-0's key */
    CHECK(strstr(tn_errmsg(), "public key already registered") != NULL);
    CHECK(add_miner(s, "bob-0", "bob", 10, NULL) == 0);
    CHECK(add_miner(s, "bob-1", "bob", 11, NULL) == 0);
    CHECK(add_miner(s, "bob-2", "bob", 12, NULL) == TN_STORE_LIMIT);
    CHECKF(strstr(tn_errmsg(), "at most 7 in this competition") != NULL, "%s", tn_errmsg());
    tn_miner bad = {.name = "x", .owner = "o", .endpoint = "e", .pubkey_hex = "abc"};
    CHECK(tn_store_miner_add(s, &bad, NULL) == TN_STORE_ERROR);

    /* disabling does not free a slot */
    CHECK(tn_store_miner_set_enabled(s, "alice-1", 0) == 0);
    CHECK(add_miner(s, "alice-6", "alice", 6, NULL) == TN_STORE_LIMIT);
    CHECK(tn_store_miner_set_enabled(s, "nobody", 0) == TN_STORE_NOT_FOUND);
    tn_miner *v = NULL;
    size_t n = 0;
    CHECK(tn_store_miner_list(s, 0, &v, &n) == 0 && n == 7);
    tn_miners_free(v, n);
    CHECK(tn_store_miner_list(s, 1, &v, &n) == 0 && n == 6);
    tn_miners_free(v, n);
    char *k = key_hex(11);
    tn_miner m;
    CHECK(tn_store_miner_by_key(s, k, &m) == 0 && !strcmp(m.name, "bob-1") && !strcmp(m.owner, "bob"));
    tn_miner_clear(&m);
    free(k);
    CHECK(tn_store_miner_by_name(s, "ghost", &m) == TN_STORE_NOT_FOUND);
    CHECK(m.name == NULL);
    tn_store_close(s);
out:
    free(p);
}

TEST(task_transitions_cas) {
    char *p = db_path("tasks.db");
    tn_store *s = open_db(p);
    if (!s) goto out;
    add_catalog(s);
    int64_t id = new_task(s);
    CHECK(tn_store_task_transition(s, id, TN_TASK_PENDING, TN_TASK_PREPARING, NULL, 200) == 0);
    /* a second worker that read `pending` earlier loses */
    CHECK(tn_store_task_transition(s, id, TN_TASK_PENDING, TN_TASK_PREPARING, NULL, 201) ==
          TN_STORE_CONFLICT);
    CHECKF(strstr(tn_errmsg(), "changed under you") != NULL, "%s", tn_errmsg());
    /* an edge the life cycle does not have */
    CHECK(tn_store_task_transition(s, id, TN_TASK_PREPARING, TN_TASK_SCORED, NULL, 202) ==
          TN_STORE_ERROR);
    CHECK(tn_store_task_transition(s, 999, TN_TASK_PENDING, TN_TASK_PREPARING, NULL, 1) ==
          TN_STORE_NOT_FOUND);
    tn_task_patch patch = {.train_hash = H1, .test_hash = H2, .synth_hash = H3};
    CHECK(tn_store_task_transition_ex(s, id, TN_TASK_PREPARING, TN_TASK_OFFERING, "split", 300,
                                      &patch) == 0);
    tn_task_patch dl = {.deadline = 5000};
    CHECK(tn_store_task_transition_ex(s, id, TN_TASK_OFFERING, TN_TASK_TRAINING, NULL, 400, &dl) == 0);
    tn_task t;
    CHECK(tn_store_task_get(s, id, &t) == 0);
    CHECK(t.state == TN_TASK_TRAINING && t.deadline == 5000 && t.updated_at == 400);
    CHECK(t.train_hash && !strcmp(t.train_hash, H1) && t.synth_hash && !strcmp(t.synth_hash, H3));
    tn_task_clear(&t);
    CHECK(tn_store_task_transition(s, id, TN_TASK_TRAINING, TN_TASK_FAILED, "no uploads", 500) == 0);
    CHECK(tn_store_task_get(s, id, &t) == 0 && t.state == TN_TASK_FAILED &&
          !strcmp(t.failure_reason, "no uploads"));
    tn_task_clear(&t);
    CHECK(tn_store_task_transition(s, id, TN_TASK_FAILED, TN_TASK_EVALUATING, NULL, 600) ==
          TN_STORE_ERROR); /* failed is terminal */
    tn_task_event *ev = NULL;
    size_t n = 0;
    CHECK(tn_store_task_events(s, id, &ev, &n) == 0 && n == 5);
    if (n == 5) {
        CHECK((int)ev[0].from == -1 && ev[0].to == TN_TASK_PENDING);
        CHECK(ev[4].from == TN_TASK_TRAINING && ev[4].to == TN_TASK_FAILED && ev[4].at == 500);
    }
    tn_task_events_free(ev, n);
    tn_task *tv = NULL;
    CHECK(tn_store_task_list(s, TN_TASK_FAILED, &tv, &n) == 0 && n == 1);
    tn_tasks_free(tv, n);
    CHECK(tn_store_task_list(s, TN_TASK_PENDING, &tv, &n) == 0 && n == 0);
    tn_tasks_free(tv, n);
    tn_task_state st;
    CHECK(tn_task_state_parse("evaluating", &st) == 0 && st == TN_TASK_EVALUATING);
    CHECK(tn_task_state_parse("done", &st) != 0);
    CHECK(tn_task_transition_allowed(TN_TASK_SCORED, TN_TASK_EVALUATING)); /* rescore */
    tn_store_close(s);
out:
    free(p);
}

/* Several processes race for the same compare-and-set: exactly one wins. */
TEST(cas_across_processes) {
    char *p = db_path("race.db");
    tn_store *s = open_db(p);
    if (!s) goto out;
    add_catalog(s);
    int64_t id = new_task(s);
    tn_store_close(s);
    enum { NPROC = 6 };
    pid_t kids[NPROC];
    for (int i = 0; i < NPROC; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            tn_store *c = tn_store_open(p, NULL);
            if (!c) _exit(3);
            int rc = tn_store_task_transition(c, id, TN_TASK_PENDING, TN_TASK_PREPARING, NULL, 200 + i);
            tn_store_close(c);
            _exit(rc == 0 ? 0 : rc == TN_STORE_CONFLICT ? 1 : 2);
        }
    }
    int wins = 0, conflicts = 0;
    for (int i = 0; i < NPROC; i++) {
        int status = 0;
        waitpid(kids[i], &status, 0);
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 9;
        wins += code == 0;
        conflicts += code == 1;
    }
    CHECKF(wins == 1 && conflicts == NPROC - 1, "wins %d, conflicts %d", wins, conflicts);
    s = open_db(p);
    tn_task_event *ev = NULL;
    size_t n = 0;
    CHECK(s && tn_store_task_events(s, id, &ev, &n) == 0 && n == 2);
    tn_task_events_free(ev, n);
    tn_store_close(s);
out:
    free(p);
}

static void exit_now(const char *point, void *arg) {
    if (!strcmp(point, (const char *)arg)) _exit(42);
}

/* The child dies between the writes and the COMMIT of a transaction. */
TEST(crash_mid_transaction) {
    char *p = db_path("crash.db");
    tn_store *s = open_db(p);
    if (!s) goto out;
    int64_t task, miner;
    char token[TN_TOKEN_HEX + 1];
    setup_training(s, &task, &miner, token);
    tn_submission u = upload(task, miner, token, 6000, H1, "/up/1");
    CHECK(tn_store_submission_put(s, &u, NULL) == 0);
    tn_store_close(s);

    const char *points[] = {"task_transition:before_commit", "submission_put:before_commit",
                            "setting_set:before_commit"};
    for (int k = 0; k < 3; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            tn_store *c = tn_store_open(p, NULL);
            if (!c) _exit(3);
            tn_store_set_crash_hook(c, exit_now, (void *)points[k]);
            if (k == 0) tn_store_task_transition(c, task, TN_TASK_TRAINING, TN_TASK_EVALUATING, NULL, 9000);
            if (k == 1) {
                tn_submission u2 = upload(task, miner, token, 7000, H2, "/up/2");
                tn_store_submission_put(c, &u2, NULL);
            }
            if (k == 2) tn_store_setting_set(c, "alpha", "0.5", -1, 9000, NULL);
            _exit(0); /* the hook did not fire */
        }
        int status = 0;
        waitpid(pid, &status, 0);
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 42, "%s: child status %d", points[k], status);
    }

    s = open_db(p);
    if (!s) goto out;
    CHECKF(tn_store_check(s) == 0, "%s", tn_errmsg());
    tn_task t;
    CHECK(tn_store_task_get(s, task, &t) == 0 && t.state == TN_TASK_TRAINING && t.updated_at == 500);
    tn_task_clear(&t);
    tn_task_event *ev = NULL;
    size_t n = 0;
    CHECK(tn_store_task_events(s, task, &ev, &n) == 0 && n == 4);
    tn_task_events_free(ev, n);
    tn_submission b;
    CHECK(tn_store_submission_for(s, task, miner, &b) == 0);
    CHECK(b.uploads == 1 && !strcmp(b.content_hash, H1) && !strcmp(b.files_dir, "/up/1"));
    tn_submission_clear(&b);
    char *val = NULL;
    int64_t ver = -1;
    CHECK(tn_store_setting_get(s, "alpha", &val, &ver) == TN_STORE_NOT_FOUND && val == NULL);
    CHECK(tn_store_settings_version(s, &ver) == 0 && ver == 0);
    /* and the store still works after the crashes */
    CHECK(tn_store_task_transition(s, task, TN_TASK_TRAINING, TN_TASK_EVALUATING, NULL, 9000) == 0);
    tn_store_close(s);
out:
    free(p);
}

/* kill -9 at an arbitrary moment of a busy writer; the invariants that
 * each transaction keeps must hold after reopening. */
TEST(kill9_busy_writer) {
    char *p = db_path("kill9.db");
    tn_store *s = open_db(p);
    if (!s) goto out;
    int64_t task, miner;
    char token[TN_TOKEN_HEX + 1];
    setup_training(s, &task, &miner, token);
    tn_store_close(s);
    for (int round = 0; round < 3; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            tn_store *c = tn_store_open(p, NULL);
            if (!c) _exit(3);
            for (int i = 0;; i++) {
                tn_submission u = upload(task, miner, token, 1000 + i, (i & 1) ? H1 : H2, "/up/x");
                if (tn_store_submission_put(c, &u, NULL) != 0) _exit(4);
                char v[32];
                snprintf(v, sizeof v, "%d", i);
                if (tn_store_setting_set(c, "counter", v, -1, i, NULL) != 0) _exit(5);
            }
        }
        struct timespec ts = {0, (30 + 40 * round) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "writer ended early: status %d",
               status);
    }
    s = open_db(p);
    if (!s) goto out;
    CHECKF(tn_store_check(s) == 0, "%s", tn_errmsg());
    tn_submission b, *hist = NULL;
    size_t n = 0;
    CHECK(tn_store_submission_for(s, task, miner, &b) == 0);
    CHECK(tn_store_upload_history(s, b.id, &hist, &n) == 0);
    CHECKF((int64_t)n == b.uploads && n > 0, "uploads %lld, history %zu", (long long)b.uploads, n);
    if (n > 0) CHECK(!strcmp(hist[n - 1].content_hash, b.content_hash));
    tn_submissions_free(hist, n);
    tn_submission_clear(&b);
    int64_t ver = 0, sv = 0;
    char *val = NULL;
    CHECK(tn_store_settings_version(s, &ver) == 0 && ver > 0);
    CHECK(tn_store_setting_get(s, "counter", &val, &sv) == 0 && sv == ver);
    free(val);
    tn_store_close(s);
out:
    free(p);
}

TEST(offers) {
    char *p = db_path("offers.db");
    tn_store *s = open_db(p);
    if (!s) goto out;
    add_catalog(s);
    int64_t t = new_task(s), m1, m2;
    CHECK(add_miner(s, "m1", "alice", 1, &m1) == 0 && add_miner(s, "m2", "bob", 2, &m2) == 0);
    char tok1[TN_TOKEN_HEX + 1], tok2[TN_TOKEN_HEX + 1];
    CHECK(tn_store_offer_create(s, t, m1, 10, tok1) == 0);
    CHECK(tn_store_offer_create(s, t, m2, 10, tok2) == 0);
    CHECK(strlen(tok1) == TN_TOKEN_HEX && strcmp(tok1, tok2) != 0);
    CHECK(tn_store_offer_create(s, t, m1, 11, tok2) == TN_STORE_EXISTS);
    CHECK(tn_store_offer_create(s, 77, m1, 11, tok2) == TN_STORE_NOT_FOUND);
    CHECK(tn_store_miner_set_enabled(s, "m2", 0) == 0);
    int64_t t2 = new_task(s);
    CHECK(tn_store_offer_create(s, t2, m2, 11, tok2) == TN_STORE_REFUSED);
    CHECK(tn_store_offer_update(s, t, m1, TN_OFFER_OFFERED, TN_OFFER_ACCEPTED, "gladly", 20) == 0);
    CHECK(tn_store_offer_update(s, t, m1, TN_OFFER_OFFERED, TN_OFFER_REJECTED, NULL, 21) ==
          TN_STORE_CONFLICT);
    CHECK(tn_store_offer_update(s, t, m2, TN_OFFER_OFFERED, TN_OFFER_TIMEOUT, NULL, 25) == 0);
    CHECK(tn_store_offer_update(s, t, m1, TN_OFFER_ACCEPTED, TN_OFFER_OFFERED, NULL, 22) ==
          TN_STORE_ERROR);
    CHECK(tn_store_offer_update(s, t, m1, TN_OFFER_ACCEPTED, TN_OFFER_STARTED, NULL, 30) == 0);
    tn_offer o;
    CHECK(tn_store_offer_by_token(s, tok1, &o) == 0);
    CHECK(o.task_id == t && o.miner_id == m1 && o.status == TN_OFFER_STARTED && o.offered_at == 10 &&
          o.answered_at == 20 && o.updated_at == 30 && !strcmp(o.message, "gladly"));
    tn_offer_clear(&o);
    CHECK(tn_store_offer_by_token(s, "nope", &o) == TN_STORE_NOT_FOUND);
    tn_offer *v = NULL;
    size_t n = 0;
    CHECK(tn_store_offers_for_task(s, t, &v, &n) == 0 && n == 2);
    if (n == 2) CHECK(v[1].status == TN_OFFER_TIMEOUT && v[1].answered_at == 25);
    tn_offers_free(v, n);
    CHECK(tn_store_offers_for_miner(s, m1, &v, &n) == 0 && n == 1);
    tn_offers_free(v, n);
    tn_store_close(s);
out:
    free(p);
}

TEST(submissions_replace) {
    char *p = db_path("subs.db");
    tn_store *s = open_db(p);
    if (!s) goto out;
    int64_t task, miner, id1 = 0, id2 = 0;
    char token[TN_TOKEN_HEX + 1];
    setup_training(s, &task, &miner, token);
    tn_submission u = upload(task, miner, token, 6000, H1, "/up/1");
    CHECKF(tn_store_submission_put(s, &u, &id1) == 0, "%s", tn_errmsg());
    tn_rule_result r = {.submission_id = id1, .rule = "provenance", .decision = TN_DECISION_PASS,
                        .numbers_json = "{\"cos\":0.99}", .evaluated_at = 6500};
    CHECK(tn_store_rule_result_put(s, &r) == 0);
    tn_offer o;
    CHECK(tn_store_offer_get(s, task, miner, &o) == 0 && o.status == TN_OFFER_SUBMITTED);
    tn_offer_clear(&o);

    /* re-upload before the deadline: same submission, new content, stale results gone */
    u = upload(task, miner, token, 9000, H2, "/up/2");
    u.kind = TN_SUB_ADAPTER;
    u.strategy = "second try";
    CHECK(tn_store_submission_put(s, &u, &id2) == 0 && id2 == id1);
    tn_submission b;
    CHECK(tn_store_submission_get(s, id1, &b) == 0);
    CHECK(b.uploads == 2 && b.kind == TN_SUB_ADAPTER && !strcmp(b.content_hash, H2) &&
          b.received_at == 9000 && !strcmp(b.strategy, "second try") && !strcmp(b.token, token));
    tn_submission_clear(&b);
    tn_rule_result *rv = NULL;
    size_t n = 0;
    CHECK(tn_store_rule_results(s, id1, &rv, &n) == 0 && n == 0);
    tn_rule_results_free(rv, n);
    tn_submission *hist = NULL;
    CHECK(tn_store_upload_history(s, id1, &hist, &n) == 0 && n == 2);
    if (n == 2)
        CHECK(!strcmp(hist[0].content_hash, H1) && hist[0].uploads == 1 && hist[1].uploads == 2 &&
              !strcmp(hist[0].files_dir, "/up/1") && hist[0].kind == TN_SUB_FULL);
    tn_submissions_free(hist, n);

    /* refusals */
    u = upload(task, miner, token, 10001, H3, "/up/3");
    CHECK(tn_store_submission_put(s, &u, NULL) == TN_STORE_REFUSED);
    CHECKF(strstr(tn_errmsg(), "after the deadline") != NULL, "%s", tn_errmsg());
    u = upload(task, miner + 1, token, 9500, H3, "/up/3");
    CHECK(tn_store_submission_put(s, &u, NULL) == TN_STORE_REFUSED);
    u = upload(task, miner, "0123", 9500, H3, "/up/3");
    CHECK(tn_store_submission_put(s, &u, NULL) == TN_STORE_NOT_FOUND);
    u = upload(task, miner, token, 10000, H3, "/up/3"); /* exactly at the deadline is in time */
    CHECK(tn_store_submission_put(s, &u, NULL) == 0);
    CHECK(tn_store_task_transition(s, task, TN_TASK_TRAINING, TN_TASK_EVALUATING, NULL, 10001) == 0);
    u = upload(task, miner, token, 9999, H3, "/up/4");
    CHECK(tn_store_submission_put(s, &u, NULL) == TN_STORE_REFUSED);
    CHECK(strstr(tn_errmsg(), "no longer accepts uploads") != NULL);

    tn_submission *v = NULL;
    CHECK(tn_store_submissions_for_task(s, task, &v, &n) == 0 && n == 1);
    tn_submissions_free(v, n);
    CHECK(tn_store_submissions_by_hash(s, H3, &v, &n) == 0 && n == 1);
    tn_submissions_free(v, n);
    CHECK(tn_store_submissions_by_hash(s, H1, &v, &n) == 0 && n == 0);
    tn_submissions_free(v, n);
    tn_store_close(s);
out:
    free(p);
}

TEST(evaluations_idempotent) {
    char *p = db_path("evals.db");
    tn_store *s = open_db(p);
    if (!s) goto out;
    int64_t task, miner, sid = 0, m2 = 0;
    char token[TN_TOKEN_HEX + 1];
    setup_training(s, &task, &miner, token);
    CHECK(add_miner(s, "m2", "bob", 2, &m2) == 0);
    tn_submission u = upload(task, miner, token, 6000, H1, "/up/1");
    CHECK(tn_store_submission_put(s, &u, &sid) == 0);

    /* the same evaluation twice (a redo after a crash): one row, the latest */
    tn_rule_result r = {.submission_id = sid, .rule = "duplicate", .decision = TN_DECISION_FLAG,
                        .reason = "similar to m2", .evaluated_at = 1};
    CHECK(tn_store_rule_result_put(s, &r) == 0);
    r.decision = TN_DECISION_PASS;
    r.reason = NULL;
    r.evaluated_at = 2;
    CHECK(tn_store_rule_result_put(s, &r) == 0);
    r.rule = "provenance";
    CHECK(tn_store_rule_result_put(s, &r) == 0);
    r.submission_id = 4242;
    CHECK(tn_store_rule_result_put(s, &r) == TN_STORE_NOT_FOUND);
    tn_rule_result *rv = NULL;
    size_t n = 0;
    CHECK(tn_store_rule_results(s, sid, &rv, &n) == 0 && n == 2);
    if (n == 2)
        CHECK(!strcmp(rv[0].rule, "duplicate") && rv[0].decision == TN_DECISION_PASS &&
              rv[0].evaluated_at == 2 && !strcmp(rv[0].reason, "") && !strcmp(rv[0].numbers_json, "{}"));
    tn_rule_results_free(rv, n);
    CHECK(tn_store_rule_results_delete(s, sid, "provenance") == 0);
    CHECK(tn_store_rule_results(s, sid, &rv, &n) == 0 && n == 1);
    tn_rule_results_free(rv, n);

    /* scores: a rescore replaces the task's rows as a whole */
    tn_score sc[2] = {
        {.task_id = task, .miner_id = miner, .submission_id = sid, .test_loss = 1.5, .synth_loss = 2.0,
         .weighted_loss = 1.65, .quality = 1.0, .score = 2.0, .valid = 1},
        {.task_id = task, .miner_id = m2, .submission_id = 0, .test_loss = NAN, .synth_loss = NAN,
         .weighted_loss = NAN, .quality = 0.0, .score = 0.0, .valid = 0, .invalid_reason = "missing"},
    };
    CHECKF(tn_store_scores_replace(s, task, sc, 2, 100) == 0, "%s", tn_errmsg());
    CHECK(tn_store_scores_replace(s, task, sc, 2, 101) == 0); /* redo: still two rows */
    tn_score *v = NULL;
    CHECK(tn_store_scores_for_task(s, task, &v, &n) == 0 && n == 2);
    if (n == 2) {
        CHECK(v[0].submission_id == sid && v[0].score == 2.0 && v[0].valid && !v[0].invalid_reason &&
              v[0].scored_at == 101);
        CHECK(v[1].submission_id == 0 && isnan(v[1].test_loss) && !v[1].valid &&
              !strcmp(v[1].invalid_reason, "missing"));
    }
    tn_scores_free(v, n);
    sc[0].score = 1.0;
    CHECK(tn_store_scores_replace(s, task, sc, 1, 200) == 0); /* rescore with one row */
    CHECK(tn_store_scores_for_task(s, task, &v, &n) == 0 && n == 1 && v[0].score == 1.0);
    tn_scores_free(v, n);
    CHECK(tn_store_scores_for_miner(s, miner, &v, &n) == 0 && n == 1);
    tn_scores_free(v, n);
    CHECK(tn_store_scores_all(s, &v, &n) == 0 && n == 1);
    tn_scores_free(v, n);
    sc[1].task_id = task + 1;
    CHECK(tn_store_scores_replace(s, task, sc, 2, 300) == TN_STORE_ERROR);
    CHECK(tn_store_scores_for_task(s, task, &v, &n) == 0 && n == 1); /* untouched */
    tn_scores_free(v, n);

    /* flags: one per (task, miner, rule) */
    tn_flag f = {.task_id = task, .miner_id = miner, .rule = "leak", .reason = "test << synth",
                 .created_at = 50};
    int64_t f1 = 0, f2 = 0;
    CHECK(tn_store_flag_raise(s, &f, &f1) == 0);
    f.reason = "test << synth (redo)";
    f.created_at = 60;
    CHECK(tn_store_flag_raise(s, &f, &f2) == 0 && f1 == f2);
    f.rule = "duplicate";
    CHECK(tn_store_flag_raise(s, &f, &f2) == 0 && f2 != f1);
    tn_flag *fv = NULL;
    CHECK(tn_store_flag_list(s, task, 0, &fv, &n) == 0 && n == 2);
    tn_flags_free(fv, n);
    CHECK(tn_store_flag_list(s, 0, miner, &fv, &n) == 0 && n == 2);
    if (n == 2) CHECK(fv[1].id == f1 && fv[1].created_at == 50 && !strcmp(fv[1].reason, "test << synth (redo)"));
    tn_flags_free(fv, n);
    CHECK(tn_store_flag_list(s, 0, m2, &fv, &n) == 0 && n == 0);
    tn_flags_free(fv, n);
    tn_store_close(s);
out:
    free(p);
}

TEST(settings_versioning) {
    char *p = db_path("settings.db");
    tn_store *s = open_db(p);
    if (!s) goto out;
    int64_t v = 0;
    CHECK(tn_store_setting_set(s, "scoring.a", "0.7", 0, 10, &v) == 0 && v == 1);
    CHECK(tn_store_setting_set(s, "rule.leak", "on", -1, 11, &v) == 0 && v == 2);
    CHECK(tn_store_setting_set(s, "scoring.a", "0.6", 1, 12, &v) == 0 && v == 3);
    /* an admin who read version 1 loses */
    CHECK(tn_store_setting_set(s, "scoring.a", "0.5", 1, 13, &v) == TN_STORE_CONFLICT);
    char *val = NULL;
    CHECK(tn_store_setting_get(s, "scoring.a", &val, &v) == 0 && !strcmp(val, "0.6") && v == 3);
    free(val);
    CHECK(tn_store_setting_get_at(s, "scoring.a", 2, &val) == 0 && !strcmp(val, "0.7"));
    free(val);
    CHECK(tn_store_setting_get_at(s, "rule.leak", 1, &val) == TN_STORE_NOT_FOUND && !val);
    CHECK(tn_store_setting_set(s, "rule.leak", NULL, 2, 14, &v) == 0 && v == 4); /* unset */
    CHECK(tn_store_setting_get(s, "rule.leak", &val, &v) == TN_STORE_NOT_FOUND && v == 4);
    CHECK(tn_store_setting_get_at(s, "rule.leak", 3, &val) == 0 && !strcmp(val, "on"));
    free(val);
    CHECK(tn_store_settings_version(s, &v) == 0 && v == 4);
    tn_setting *sv = NULL;
    size_t n = 0;
    CHECK(tn_store_setting_list(s, &sv, &n) == 0 && n == 1);
    if (n == 1) CHECK(!strcmp(sv[0].key, "scoring.a") && sv[0].version == 3 && sv[0].updated_at == 12);
    tn_settings_free(sv, n);
    tn_store_close(s);
out:
    free(p);
}

typedef struct {
    tn_store *s;
    int base, fails;
} thr_arg;

static void *thr_main(void *p) {
    thr_arg *a = p;
    char key[32];
    for (int i = 0; i < 25; i++) {
        snprintf(key, sizeof key, "k%d", a->base + i);
        if (tn_store_setting_set(a->s, key, "v", -1, i, NULL) != 0) a->fails++;
    }
    return NULL;
}

/* One handle shared by threads: the mutex keeps transactions whole. */
TEST(threads_share_a_handle) {
    char *p = db_path("threads.db");
    tn_store_opts o = {.relaxed_sync = 1};
    tn_store *s = tn_store_open(p, &o);
    CHECKF(s != NULL, "%s", tn_errmsg());
    if (!s) goto out;
    pthread_t th[4];
    thr_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thr_arg){s, i * 100, 0};
        pthread_create(&th[i], NULL, thr_main, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(args[i].fails == 0);
    }
    int64_t v = 0;
    CHECK(tn_store_settings_version(s, &v) == 0 && v == 100);
    /* a forked child may not use the parent's handle */
    pid_t pid = fork();
    if (pid == 0) {
        int rc = tn_store_settings_version(s, &v);
        int ok = rc != 0 && strstr(tn_errmsg(), "forked child") != NULL;
        tn_store_close(s); /* frees memory only */
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(tn_store_settings_version(s, &v) == 0 && v == 100);
    tn_store_close(s);
out:
    free(p);
}

/* fuzz_validator's finding: an admin task body with "minutes": 5.6e44 was
 * converted to int64 milliseconds, which is undefined for a double that
 * large (and start + limit would overflow); the limit is now refused */
TEST(task_minutes_limit) {
    CHECK(tn_task_ms_from_minutes(1e300) == -1);
    /* the fuzzer's input (the admin body) */
    json_t *b = json_loads("{\"minutes\":555555555555555555555555555555555555555555550.8}", 0, NULL);
    CHECK(b && json_is_number(json_object_get(b, "minutes")));
    CHECK(tn_task_ms_from_minutes(json_number_value(json_object_get(b, "minutes"))) == -1);
    json_decref(b);
    CHECK(tn_task_ms_from_minutes(TN_TASK_MAX_MINUTES + 1) == -1);
    CHECK(tn_task_ms_from_minutes(0) == -1 && tn_task_ms_from_minutes(-5) == -1);
    CHECK(tn_task_ms_from_minutes(0.0 / 0.0) == -1);
    CHECK(tn_task_ms_from_minutes(1.5) == 90000);
    CHECK(tn_task_ms_from_minutes(TN_TASK_MAX_MINUTES) == (int64_t)(TN_TASK_MAX_MINUTES * 60000.0));
}

/* Both backends' migration lists name the same versions, ending at the
 * version this build reports. */
TEST(migration_lists_match) {
    CHECK(tn_store_nmigrations == tn_store_pg_nmigrations);
    for (int i = 0; i < tn_store_nmigrations && i < tn_store_pg_nmigrations; i++)
        CHECKF(tn_store_migrations[i].version == i + 1 && tn_store_pg_migrations[i].version == i + 1,
               "entry %d: sqlite %d, postgres %d", i, tn_store_migrations[i].version,
               tn_store_pg_migrations[i].version);
    CHECK(tn_store_migrations[tn_store_nmigrations - 1].version == TN_STORE_SCHEMA_VERSION);
}

/* Connection A is inside a transition's transaction (held open in the crash
 * hook) when connection B tries the same compare-and-set: B must wait for A
 * and then lose with CONFLICT, never both win. On PostgreSQL this is the
 * SERIALIZABLE path: B's UPDATE blocks on A's row, fails with 40001 when A
 * commits, and B's retry reads the new state. */
typedef struct {
    tn_store *s;
    int64_t task;
    int rc;
    volatile int in_tx;
} race_arg;

static void hold_open(const char *point, void *arg) {
    race_arg *a = arg;
    if (strcmp(point, "task_transition:before_commit") != 0) return;
    a->in_tx = 1;
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
}

static void *race_a(void *p) {
    race_arg *a = p;
    a->rc = tn_store_task_transition(a->s, a->task, TN_TASK_PENDING, TN_TASK_PREPARING, "A", 200);
    return NULL;
}

TEST(cas_while_other_tx_open) {
    char *p = db_path("race2.db");
    tn_store *a = open_db(p), *b = open_db(p);
    if (!a || !b) goto out;
    add_catalog(a);
    race_arg ra = {.s = a, .task = new_task(a)};
    tn_store_set_crash_hook(a, hold_open, &ra);
    pthread_t th;
    pthread_create(&th, NULL, race_a, &ra);
    while (!ra.in_tx) {
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    int rb = tn_store_task_transition(b, ra.task, TN_TASK_PENDING, TN_TASK_PREPARING, "B", 201);
    pthread_join(th, NULL);
    CHECKF(ra.rc == 0, "A: %d", ra.rc);
    CHECKF(rb == TN_STORE_CONFLICT, "B: %d (%s)", rb, tn_errmsg());
    tn_task t;
    CHECK(tn_store_task_get(b, ra.task, &t) == 0 && t.state == TN_TASK_PREPARING && t.updated_at == 200);
    tn_task_clear(&t);
    tn_task_event *ev = NULL;
    size_t n = 0;
    CHECK(tn_store_task_events(b, ra.task, &ev, &n) == 0 && n == 2);
    if (n == 2) CHECK(!strcmp(ev[1].reason, "A"));
    tn_task_events_free(ev, n);
out:
    tn_store_close(a);
    tn_store_close(b);
    free(p);
}

/* Four processes change settings at once: each change must take its own
 * global version (on PostgreSQL two writers read the same MAX(version) and
 * one of them has to run again), none may fail. */
TEST(settings_race_across_processes) {
    char *p = db_path("setrace.db");
    tn_store *s = open_db(p);
    if (!s) goto out;
    tn_store_close(s);
    enum { NPROC = 4, EACH = 25 };
    pid_t kids[NPROC];
    for (int i = 0; i < NPROC; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            tn_store_opts o = {.relaxed_sync = 1};
            tn_store *c = tn_store_open(p, &o);
            if (!c) _exit(3);
            char key[32];
            for (int k = 0; k < EACH; k++) {
                snprintf(key, sizeof key, "p%d.k%d", i, k);
                if (tn_store_setting_set(c, key, "v", -1, k, NULL) != 0) {
                    fprintf(stderr, "  child %d: %s\n", i, tn_errmsg());
                    _exit(4);
                }
            }
            tn_store_close(c);
            _exit(0);
        }
    }
    for (int i = 0; i < NPROC; i++) {
        int status = 0;
        waitpid(kids[i], &status, 0);
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %d", i, status);
    }
    s = open_db(p);
    int64_t v = 0;
    tn_setting *sv = NULL;
    size_t n = 0;
    CHECK(s && tn_store_settings_version(s, &v) == 0 && v == NPROC * EACH);
    CHECK(s && tn_store_setting_list(s, &sv, &n) == 0 && n == NPROC * EACH);
    tn_settings_free(sv, n);
    tn_store_close(s);
out:
    free(p);
}

/* The cases that touch a database; run once per backend. */
static const sb_case backend_cases[] = {
    SB_CASE(migrations_from_empty), SB_CASE(migrations_step_by_step), SB_CASE(newer_schema_refused),
    SB_CASE(reopen_keeps_data),     SB_CASE(miner_limits),            SB_CASE(task_transitions_cas),
    SB_CASE(cas_across_processes),  SB_CASE(cas_while_other_tx_open), SB_CASE(crash_mid_transaction),
    SB_CASE(kill9_busy_writer),     SB_CASE(offers),                  SB_CASE(submissions_replace),
    SB_CASE(evaluations_idempotent), SB_CASE(settings_versioning),    SB_CASE(threads_share_a_handle),
    SB_CASE(settings_race_across_processes),
};

int main(void) {
    RUN(migration_lists_match);
    RUN(task_minutes_limit);
    sb_run_both(backend_cases, sizeof backend_cases / sizeof *backend_cases);
    return tn_test_summary("store");
}
