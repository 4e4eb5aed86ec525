/* test_store_evals.c - evaluation jobs leased to workers (store.h,
 * docs/store.md "Evaluation jobs"), on both backends (store_backend.h).
 *
 * The lease rules are checked with the caller's clock (the store never reads
 * one): a job whose lease expired is claimed by another owner and the first
 * owner's late result is refused; attempts are counted up to the limit; and
 * processes that claim at the same moment never get the same job. The
 * scheduler's lease (migration 5) is one compare-and-set: held by one owner
 * until it expires (exclusive) or is given back. */
#include "harness.h"
#include "store_backend.h"

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

static const char *H1 = "1111111111111111111111111111111111111111111111111111111111111111";

/* A store with one task (evaluations refer to it). */
static tn_store *store_with_task(const char *name, char **path, int64_t *task) {
    *path = db_path(name);
    tn_store *s = open_db(*path);
    if (!s) return NULL;
    tn_catalog_model m = {.name = "tiny", .manifest_hash = (char *)H1, .created_at = 1};
    tn_catalog_dataset d = {.name = "set", .blob_hash = (char *)H1, .row_count = 10, .created_at = 2};
    tn_task t = {.model = "tiny", .dataset = "set", .created_at = 3, .time_limit_ms = 60000};
    CHECKF(tn_store_model_add(s, &m) == 0 && tn_store_dataset_add(s, &d) == 0 &&
               tn_store_task_create(s, &t, task) == 0,
           "%s", tn_errmsg());
    return s;
}

TEST(evals_enqueue_idempotent) {
    char *p;
    int64_t task = 0, a = 0, b = 0, c = 0;
    tn_store *s = store_with_task("enq.db", &p, &task);
    if (!s) goto out;
    CHECKF(tn_store_eval_enqueue(s, task, 7, "{\"sub\":7}", 100, &a) == 0, "%s", tn_errmsg());
    /* a second enqueue of the same submission (a restarted scheduler) changes nothing */
    CHECK(tn_store_eval_enqueue(s, task, 7, "{\"sub\":\"other\"}", 200, &b) == 0 && b == a);
    CHECK(tn_store_eval_enqueue(s, task, 0, "{\"base\":true}", 300, &c) == 0 && c != a);
    CHECK(tn_store_eval_enqueue(s, 999, 1, "{}", 300, &c) < 0); /* no such task */
    tn_eval e;
    CHECK(tn_store_eval_get(s, a, &e) == 0 && e.state == TN_EVAL_QUEUED && e.attempts == 0 &&
          !strcmp(e.job_json, "{\"sub\":7}") && e.created_at == 100 && e.updated_at == 100 && !e.lease_owner &&
          !e.result_json);
    tn_eval_clear(&e);
    tn_eval *v = NULL;
    size_t n = 0;
    CHECK(tn_store_eval_list(s, task, &v, &n) == 0 && n == 2);
    if (n == 2) CHECK(v[0].id == a && v[1].submission_id == 0);
    tn_evals_free(v, n);
    CHECK(tn_store_eval_get(s, 12345, &e) == TN_STORE_NOT_FOUND);
    tn_store_close(s);
out:
    free(p);
}

TEST(evals_lease_taken_result_refused) {
    char *p;
    int64_t task = 0, a = 0, base = 0;
    tn_store *s = store_with_task("lease.db", &p, &task);
    if (!s) goto out;
    CHECK(tn_store_eval_enqueue(s, task, 5, "{}", 10, &a) == 0);
    CHECK(tn_store_eval_enqueue(s, task, 0, "{}", 11, &base) == 0);
    tn_eval e;
    CHECKF(tn_store_eval_claim(s, "A", 1000, 500, &e) == 0, "%s", tn_errmsg());
    CHECK(e.id == a && e.state == TN_EVAL_RUNNING && e.attempts == 1 && !strcmp(e.lease_owner, "A") &&
          e.lease_expires == 1500);
    tn_eval_clear(&e);
    /* only the owner renews, and only before expiry */
    CHECK(tn_store_eval_renew(s, a, "B", 1100, 500) == TN_STORE_CONFLICT);
    CHECK(tn_store_eval_renew(s, a, "A", 1400, 500) == 0);
    CHECK(tn_store_eval_get(s, a, &e) == 0 && e.lease_expires == 1900);
    tn_eval_clear(&e);
    /* A goes silent: at 1900 its lease has expired (expiry is exclusive) */
    CHECK(tn_store_eval_renew(s, a, "A", 1900, 500) == TN_STORE_CONFLICT);
    CHECK(strstr(tn_errmsg(), "expired") != NULL);
    CHECKF(tn_store_eval_claim(s, "B", 1900, 500, &e) == 0, "%s", tn_errmsg());
    CHECK(e.id == a && e.attempts == 2 && !strcmp(e.lease_owner, "B") && e.error && strstr(e.error, "lease of A"));
    tn_eval_clear(&e);
    /* A's late result is refused and names the new holder; B's is recorded */
    CHECK(tn_store_eval_complete(s, a, "A", "{\"loss\":1}", 1950) == TN_STORE_CONFLICT);
    CHECKF(strstr(tn_errmsg(), "leased to B") != NULL, "%s", tn_errmsg());
    CHECK(tn_store_eval_fail(s, a, "A", "late", 1950) == TN_STORE_CONFLICT);
    CHECK(tn_store_eval_complete(s, a, "B", "{\"loss\": 2.5}", 2000) == 0);
    /* (the error keeps the job's history: why it took two attempts) */
    CHECK(tn_store_eval_get(s, a, &e) == 0 && e.state == TN_EVAL_DONE && !strcmp(e.result_json, "{\"loss\": 2.5}") &&
          e.error && strstr(e.error, "lease of A") && e.updated_at == 2000);
    tn_eval_clear(&e);
    /* a done job is nobody's any more: a second result is refused too */
    CHECK(tn_store_eval_complete(s, a, "B", "{}", 2001) == TN_STORE_CONFLICT);
    CHECK(tn_store_eval_complete(s, 777, "B", "{}", 2001) == TN_STORE_NOT_FOUND);
    CHECK(tn_store_eval_claim(s, "C", 2100, 500, &e) == 0 && e.id == base);
    tn_eval_clear(&e);
    CHECK(tn_store_eval_claim(s, "C", 2100, 500, &e) == TN_STORE_NOT_FOUND && e.id == 0);
    CHECK(tn_store_eval_claim(s, "", 2100, 500, &e) == TN_STORE_ERROR);
    CHECK(tn_store_eval_claim(s, "C", 2100, 0, &e) == TN_STORE_ERROR);
    tn_store_close(s);
out:
    free(p);
}

TEST(evals_attempts_counted) {
    char *p;
    int64_t task = 0, a = 0, b = 0;
    tn_store *s = store_with_task("attempts.db", &p, &task);
    if (!s) goto out;
    CHECK(tn_store_eval_enqueue(s, task, 1, "{}", 0, &a) == 0);
    tn_eval e;
    int64_t t = 100;
    for (int i = 1; i <= TN_EVAL_MAX_ATTEMPTS; i++) {
        CHECK(tn_store_eval_claim(s, "W", t, 50, &e) == 0 && e.id == a && e.attempts == i);
        tn_eval_clear(&e);
        char why[32];
        snprintf(why, sizeof why, "download failed %d", i);
        CHECK(tn_store_eval_fail(s, a, "W", why, t + 1) == 0);
        CHECK(tn_store_eval_get(s, a, &e) == 0 && !strcmp(e.error, why) &&
              e.state == (i < TN_EVAL_MAX_ATTEMPTS ? TN_EVAL_QUEUED : TN_EVAL_FAILED));
        tn_eval_clear(&e);
        /* a job given back waits out the retry delay */
        CHECK(tn_store_eval_claim(s, "W", t + TN_EVAL_RETRY_MS, 50, &e) == TN_STORE_NOT_FOUND);
        t += 1 + TN_EVAL_RETRY_MS;
    }
    CHECK(tn_store_eval_claim(s, "W", t + 100 * TN_EVAL_RETRY_MS, 50, &e) == TN_STORE_NOT_FOUND);
    /* a job whose workers all die: each expiry is an attempt too */
    CHECK(tn_store_eval_enqueue(s, task, 2, "{}", 0, &b) == 0);
    for (int i = 1; i <= TN_EVAL_MAX_ATTEMPTS; i++) {
        CHECK(tn_store_eval_claim(s, "W", t + 100 * i, 50, &e) == 0 && e.id == b && e.attempts == i);
        tn_eval_clear(&e);
    }
    CHECK(tn_store_eval_claim(s, "W", t + 1000, 50, &e) == TN_STORE_NOT_FOUND);
    CHECK(tn_store_eval_get(s, b, &e) == 0 && e.state == TN_EVAL_FAILED && strstr(e.error, "expired on attempt 3"));
    tn_eval_clear(&e);
    tn_store_close(s);
out:
    free(p);
}

/* A claimer killed inside its transaction leaves the job as it was. */
static void die_in_claim(const char *point, void *arg) {
    (void)arg;
    if (!strcmp(point, "eval_claim:before_commit")) _exit(0);
}

TEST(evals_crash_mid_claim) {
    char *p;
    int64_t task = 0, a = 0;
    tn_store *s = store_with_task("crash.db", &p, &task);
    if (!s) goto out;
    CHECK(tn_store_eval_enqueue(s, task, 1, "{}", 0, &a) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        tn_store *c = tn_store_open(p, NULL);
        tn_eval e;
        if (c) tn_store_set_crash_hook(c, die_in_claim, NULL);
        if (c) tn_store_eval_claim(c, "doomed", 10, 1000, &e);
        _exit(1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0); /* died in the hook */
    tn_eval e;
    CHECK(tn_store_eval_get(s, a, &e) == 0 && e.state == TN_EVAL_QUEUED && e.attempts == 0 && !e.lease_owner);
    tn_eval_clear(&e);
    tn_store_close(s);
out:
    free(p);
}

/* NPROC processes, released at once, claim until the queue is empty and
 * complete what they got; each reports its ids through a pipe. Every job
 * must be claimed exactly once, by the process whose owner it records. */
#define NJOBS 40
#define NPROC 4

TEST(evals_claim_across_processes) {
    char *p;
    int64_t task = 0;
    tn_store *s = store_with_task("race.db", &p, &task);
    if (!s) goto out;
    for (int i = 1; i <= NJOBS; i++) CHECK(tn_store_eval_enqueue(s, task, i, "{}", 0, NULL) == 0);
    int go[2], ids[2];
    CHECK(pipe(go) == 0 && pipe(ids) == 0);
    pid_t pids[NPROC];
    for (int k = 0; k < NPROC; k++) {
        pids[k] = fork();
        if (pids[k] == 0) {
            close(go[1]);
            close(ids[0]);
            tn_store *c = tn_store_open(p, NULL);
            char owner[16], b;
            snprintf(owner, sizeof owner, "w%d", k);
            if (!c || read(go[0], &b, 1) != 0) _exit(2); /* EOF = go */
            tn_eval e;
            int rc, bad = 0;
            while ((rc = tn_store_eval_claim(c, owner, 1000, 60000, &e)) == 0) {
                int64_t rec[2] = {k, e.id};
                if (write(ids[1], rec, sizeof rec) != sizeof rec) bad = 1;
                usleep(5000); /* the evaluation: lets the others claim meanwhile */
                if (tn_store_eval_complete(c, e.id, owner, "{}", 1001) != 0) bad = 1;
                tn_eval_clear(&e);
            }
            if (rc != TN_STORE_NOT_FOUND) fprintf(stderr, "  claimer %d: %s\n", k, tn_errmsg());
            tn_store_close(c);
            _exit(rc == TN_STORE_NOT_FOUND && !bad ? 0 : 1);
        }
    }
    close(go[0]);
    close(ids[1]);
    usleep(200 * 1000); /* let them all connect */
    close(go[1]);
    int claimer[NJOBS + 1] = {0}, total = 0, twice = 0, per[NPROC] = {0};
    int64_t rec[2];
    while (read(ids[0], rec, sizeof rec) == sizeof rec) {
        total++;
        if (rec[1] < 1 || rec[1] > NJOBS) continue;
        if (claimer[rec[1]]) twice++;
        claimer[rec[1]] = (int)rec[0] + 1;
        per[rec[0]]++;
    }
    close(ids[0]);
    for (int k = 0; k < NPROC; k++) {
        int st = 0;
        waitpid(pids[k], &st, 0);
        CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "claimer %d status %d", k, st);
    }
    CHECKF(total == NJOBS && twice == 0, "%d claims, %d twice", total, twice);
    int busy = 0;
    for (int k = 0; k < NPROC; k++) busy += per[k] > 0;
    /* (otherwise the claims did not overlap and the case proved nothing) */
    CHECKF(busy >= 2, "claims per process: %d %d %d %d", per[0], per[1], per[2], per[3]);
    tn_eval *v = NULL;
    size_t n = 0;
    CHECK(tn_store_eval_list(s, task, &v, &n) == 0 && n == NJOBS);
    for (size_t i = 0; i < n; i++) {
        char owner[16];
        snprintf(owner, sizeof owner, "w%d", claimer[v[i].id] - 1);
        CHECKF(v[i].state == TN_EVAL_DONE && v[i].attempts == 1 && !strcmp(v[i].lease_owner, owner),
               "job %lld: %s, %lld attempts, owner %s", (long long)v[i].id, tn_eval_state_name(v[i].state),
               (long long)v[i].attempts, v[i].lease_owner ? v[i].lease_owner : "-");
    }
    tn_evals_free(v, n);
    tn_store_close(s);
out:
    free(p);
}

TEST(scheduler_lease) {
    char *p = db_path("lease.db"), *who = NULL;
    tn_store *s = open_db(p);
    if (!s) goto out;
    CHECK(tn_store_lease_take(s, "scheduler", "A", 1000, 3000, &who) == 0 && !who);
    /* B is refused while A's lease runs, and told who holds it */
    CHECK(tn_store_lease_take(s, "scheduler", "B", 3999, 3000, &who) == TN_STORE_CONFLICT && who && !strcmp(who, "A"));
    CHECKF(strstr(tn_errmsg(), "held by 'A'") != NULL, "%s", tn_errmsg());
    free(who);
    who = NULL;
    CHECK(tn_store_lease_take(s, "other", "B", 3999, 3000, NULL) == 0); /* leases are per name */
    CHECK(tn_store_lease_take(s, "scheduler", "A", 2000, 3000, NULL) == 0); /* renewed: now until 5000 */
    CHECK(tn_store_lease_take(s, "scheduler", "B", 4999, 3000, NULL) == TN_STORE_CONFLICT);
    /* at its end (exclusive) it is free: B takes it and A's renewal is refused */
    CHECK(tn_store_lease_take(s, "scheduler", "B", 5000, 3000, NULL) == 0);
    CHECK(tn_store_lease_take(s, "scheduler", "A", 5001, 3000, &who) == TN_STORE_CONFLICT && who && !strcmp(who, "B"));
    free(who);
    /* giving back: only the holder's counts; then A need not wait */
    CHECK(tn_store_lease_release(s, "scheduler", "A") == 0);
    CHECK(tn_store_lease_take(s, "scheduler", "A", 5002, 3000, NULL) == TN_STORE_CONFLICT);
    CHECK(tn_store_lease_release(s, "scheduler", "B") == 0);
    CHECK(tn_store_lease_take(s, "scheduler", "A", 5003, 3000, NULL) == 0);
    CHECK(tn_store_lease_take(s, "scheduler", "", 5003, 3000, NULL) == TN_STORE_ERROR);
    CHECK(tn_store_lease_take(s, "scheduler", "C", 5003, 0, NULL) == TN_STORE_ERROR);
out:
    tn_store_close(s);
    free(p);
}

static const sb_case backend_cases[] = {
    SB_CASE(evals_enqueue_idempotent), SB_CASE(evals_lease_taken_result_refused), SB_CASE(evals_attempts_counted),
    SB_CASE(evals_crash_mid_claim),    SB_CASE(evals_claim_across_processes), SB_CASE(scheduler_lease),
};

int main(void) {
    sb_run_both(backend_cases, sizeof backend_cases / sizeof *backend_cases);
    return tn_test_summary("store_evals");
}
