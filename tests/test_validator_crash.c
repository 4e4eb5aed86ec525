/* test_validator_crash.c - evaluator children against a validator that is
 * killed (issue 18, finding 8) and submissions that go over the evaluator's
 * memory limit, with real processes (the tuna binary, TUNA_BIN: the ASan
 * build's when tests/run runs with BUILD=build-asan).
 *
 *   kill_during_evaluations  three stand-in miners upload small fine-tunes;
 *       every evaluation sleeps 5 s before writing its result (the test hook
 *       TUNA_TEST_EVAL_SLEEP_S, src/validator/evaljob.h), and the validator
 *       is killed with SIGKILL three times while one runs (the base model's,
 *       the first and the second submission's). After each kill no
 *       evaluator of it is left running; at no time do two evaluators run
 *       one job (several jobs may run at once: the pool, evalpool.h); the
 *       restarted validator finishes the task with one score per miner.
 *   parallel_and_retry  eval.parallel 3, every evaluation sleeps 4 s: the
 *       evaluations' recorded start and end times overlap; the test kills
 *       (SIGKILL) the second submission's evaluator mid-run, which is run
 *       again once and then succeeds (2 attempts recorded); the task is
 *       scored with one score per miner. The miners' strategy notes are in
 *       the organiser's report from the upload on, in the public task view
 *       and public report only once the task is scored.
 *   memory_limit  a submission's evaluation allocates 4 GiB (the test hook
 *       TUNA_TEST_EVAL_ALLOC_MB) under --eval-mem 1024: it is killed (the
 *       address-space limit in a normal build, the parent's resident-memory
 *       watch in a sanitizer build), recorded as the submission's fault and
 *       not retried; the base model's evaluation is not affected.
 * Needs ../shared/data (stories260K). */
#include "harness.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "net/keys.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"
#include "data/rows.h"
#include "model/model.h"
#include "store/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NM 3

typedef struct {
    tn_keypair key;
    tn_http_server *srv;
    tn_verifier *ver;
    tn_t_started st; /* its upload URL once started (tn_t_record_start) */
} miner;

static miner M[NM];
static char g_tmp[400], g_vdir[512], g_url[256], g_admin_pub[65], g_log[600];
static tn_keypair g_admin;
static char *g_validator_pub;
static tn_t_validator g_v;

static int start_validator(char *const extra[]) {
    char *args[16] = {"--admin-key", g_admin_pub, "--offer-timeout", "2000", "--seq-len", "64"};
    int n = 6;
    for (int i = 0; extra && extra[i] && n < 15; i++) args[n++] = extra[i];
    args[n] = NULL;
    g_url[0] = 0;
    if (tn_t_validator_start(&g_v, g_vdir, g_log, args, 60) != 0) return -1;
    snprintf(g_url, sizeof g_url, "%s", g_v.url);
    free(g_validator_pub);
    g_validator_pub = tn_strdup(g_v.public_key);
    return 0;
}

static json_t *get(const char *path) { return tn_t_get_json(g_url, path); }

static long admin(const char *path, json_t *body) { return tn_t_post_signed(&g_admin, g_url, path, body); }

/* The base model with small noise: a fine-tune for the rules' purposes */
static int perturbed(const char *base, const char *dst, uint64_t seed) {
    tn_model mdl;
    if (tn_model_load(&mdl, base, 0)) return -1;
    uint64_t s = seed;
    for (size_t i = 0; i < mdl.numel; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        mdl.w[i] += 2e-3f * (((float)(s >> 40) / (float)(1 << 24)) - 0.5f);
    }
    int rc = tn_mkdir_p(dst) || tn_model_save(&mdl, dst, base);
    tn_model_free(&mdl);
    return rc ? -1 : 0;
}

/* The running (not zombie) `eval-submission` processes whose command line
 * names this test's data directory (and `job`, when not NULL: only those are
 * counted); *parent_ok: one of them is a child of
 * `parent` and has `job` (when not NULL) in its job file's name. A zombie's
 * cmdline reads empty, so it does not count; nor does a process whose parent
 * is one of them (LeakSanitizer's tracer shares its evaluator's memory, and
 * so its command line, while it checks for leaks at exit). */
static int evaluators(pid_t parent, int *parent_ok, const char *job) {
    DIR *d = opendir("/proc");
    int n = 0, pids[64], ppids[64];
    if (parent_ok) *parent_ok = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 64) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char p[300], cmd[4096];
        snprintf(p, sizeof p, "/proc/%s/cmdline", e->d_name);
        int fd = open(p, O_RDONLY);
        ssize_t k = fd >= 0 ? read(fd, cmd, sizeof cmd - 1) : -1;
        if (fd >= 0) close(fd);
        if (k <= 0) continue;
        cmd[k] = 0;
        int eval = 0, ours = 0, that_job = !job;
        for (ssize_t i = 0; i < k; i += (ssize_t)strlen(cmd + i) + 1) {
            eval |= !strcmp(cmd + i, "eval-submission");
            ours |= strstr(cmd + i, g_vdir) != NULL;
            that_job |= job && strstr(cmd + i, job) != NULL;
        }
        if (!eval || !ours || !that_job) continue;
        snprintf(p, sizeof p, "/proc/%s/stat", e->d_name);
        fd = open(p, O_RDONLY);
        k = fd >= 0 ? read(fd, cmd, sizeof cmd - 1) : -1;
        if (fd >= 0) close(fd);
        if (k <= 0) continue;
        cmd[k] = 0;
        const char *rp = strrchr(cmd, ')'); /* "pid (comm) state ppid ..." */
        char state = 0;
        int ppid = 0;
        if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2) continue;
        pids[n] = atoi(e->d_name);
        ppids[n++] = ppid;
        if (ppid == (int)parent && that_job && parent_ok) *parent_ok = 1;
    }
    if (d) closedir(d);
    int count = 0;
    for (int i = 0; i < n; i++) {
        int inner = 0;
        for (int k = 0; k < n; k++) inner |= ppids[i] == pids[k];
        count += !inner;
    }
    return count;
}

/* Samples the evaluators every 10 ms until told to stop: the most at once,
 * and the most at once of any one job. */
typedef struct {
    volatile int stop;
    int most, most_one_job;
} watcher;

static void *watch(void *arg) {
    static const char *jobs[] = {"base.job", "sub1.job", "sub2.job", "sub3.job"};
    watcher *w = arg;
    while (!w->stop) {
        int n = evaluators(0, NULL, NULL);
        if (n > w->most) w->most = n;
        for (int k = 0; k < 4; k++) {
            int one = evaluators(0, NULL, jobs[k]);
            if (one > w->most_one_job) w->most_one_job = one;
        }
        usleep(10000);
    }
    return NULL;
}

/* Settings the next setup() applies before it creates the task */
static const char *g_parallel = "1";

/* The validator, a base model, a 60-row dataset, NM miners that accept and
 * upload perturbed copies of the base, a task of `minutes`. 0 once every
 * miner uploaded, -1 otherwise (checks failed already). */
static int setup(const char *name, double minutes, char *const extra[]) {
    const char *data = tn_t_shared_data();
    snprintf(g_tmp, sizeof g_tmp, "%s/%s", tn_t_tmpdir(), name);
    snprintf(g_vdir, sizeof g_vdir, "%s/validator", g_tmp);
    snprintf(g_log, sizeof g_log, "%s/validator.log", g_tmp);
    CHECK(tn_mkdir_p(g_tmp) == 0);
    tn_crypto_init();
    tn_keypair_generate(&g_admin);
    snprintf(g_admin_pub, sizeof g_admin_pub, "%s", g_admin.id);
    char *base_dir = tn_sprintf("%s/base", g_tmp);
    CHECK(tn_t_stories260k(base_dir) == 0);
    free(base_dir);
    json_t *all;
    char *src = tn_sprintf("%s/datasets/alpaca_en_demo.json", data), *ds = tn_sprintf("%s/alpaca.jsonl", g_tmp);
    char *base = tn_sprintf("%s/base", g_tmp);
    CHECK(tn_rows_load_all(src, TN_ROWS_AUTO, &all) == 0);
    FILE *f = fopen(ds, "w");
    for (size_t i = 0; f && i < 60 && i < json_array_size(all); i++) {
        char *s = json_dumps(json_array_get(all, i), JSON_COMPACT);
        fprintf(f, "%s\n", s);
        free(s);
    }
    if (f) fclose(f);
    json_decref(all);
    int rc = -1;
    if (start_validator(extra)) {
        CHECKF(0, "the validator did not start (see %s)", g_log);
        goto out;
    }
    for (int i = 0; i < NM; i++) {
        memset(&M[i], 0, sizeof M[i]);
        tn_keypair_generate(&M[i].key);
        CHECK(tn_t_stub_miner_start(&M[i].srv, &M[i].ver, g_validator_pub, tn_t_accept_offer, tn_t_record_start, &M[i].st) == 0);
        char ep[64], nm[16];
        snprintf(ep, sizeof ep, "http://127.0.0.1:%d", tn_http_server_port(M[i].srv));
        snprintf(nm, sizeof nm, "m%d", i);
        CHECK(admin("/v1/admin/miners", json_pack("{s:s, s:s, s:s, s:s}", "name", nm, "owner", nm, "endpoint", ep,
                                                  "public_key", M[i].key.id)) == 201);
    }
    CHECK(admin("/v1/admin/models", json_pack("{s:s, s:s}", "name", "stories260K", "path", base)) == 201);
    CHECK(admin("/v1/admin/datasets", json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "name", "alpaca", "path", ds,
                                                "dataset_type", "kind", "instruct", "field_instruction", "instruction",
                                                "field_input", "input", "field_output", "output")) == 201);
    CHECK(admin("/v1/admin/settings", json_pack("{s:s, s:s}", "key", "eval.parallel", "value", g_parallel)) == 200);
    CHECK(admin("/v1/admin/tasks", json_pack("{s:s, s:s, s:f}", "model", "stories260K", "dataset", "alpaca", "minutes",
                                             minutes)) == 201);
    double t0 = tn_now();
    int all_started = 0;
    while (!all_started && tn_now() - t0 < 120) {
        all_started = 1;
        for (int i = 0; i < NM; i++) all_started &= M[i].st.started;
        if (!all_started) usleep(50000);
    }
    CHECKF(all_started, "the miners were not started (see %s)", g_log);
    if (!all_started) goto out;
    rc = 0;
    for (int i = 0; i < NM; i++) {
        char *dir = tn_sprintf("%s/sub%d", g_tmp, i);
        int ok = perturbed(base, dir, 1000 + (uint64_t)i) == 0 && tn_t_upload_model(&M[i].key, M[i].st.upload_url, dir) == 0;
        CHECKF(ok, "miner m%d could not upload: %s", i, tn_errmsg());
        if (!ok) rc = -1;
        free(dir);
    }
out:
    free(src);
    free(ds);
    free(base);
    return rc;
}

/* Waits for task 1 to end; its public view (NULL: no answer). */
static json_t *wait_task(double limit_s) {
    double t0 = tn_now();
    json_t *t = NULL;
    while (tn_now() - t0 < limit_s) {
        json_decref(t);
        t = get("/v1/tasks/1");
        const char *st = t ? json_string_value(json_object_get(t, "state")) : NULL;
        if (st && (!strcmp(st, "scored") || !strcmp(st, "failed"))) break;
        usleep(250000);
    }
    return t;
}

static void teardown(void) {
    if (g_v.pid > 0) {
        int rc = tn_t_validator_stop(&g_v, SIGTERM);
        CHECKF(rc == 0, "the validator exited with %d (see %s)", rc, g_log);
    }
    for (int k = 0; k < NM; k++) {
        tn_http_server_free(M[k].srv);
        tn_verifier_free(M[k].ver);
    }
    free(g_validator_pub);
    g_validator_pub = NULL;
}

/* How many lines of the validator's log contain `needle`. */
static int log_count(const char *needle) {
    char *s = tn_read_file(g_log, NULL);
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, needle)); p++) n++;
    free(s);
    return n;
}

TEST(kill_during_evaluations) {
    if (!tn_t_shared_data()) SKIP("../shared/data is missing (set TUNA_SHARED_DATA)");
    /* every validator started below inherits it, and its evaluators */
    setenv("TUNA_TEST_EVAL_SLEEP_S", "5", 1);
    g_parallel = "2";
    if (setup("crash", 0.25, NULL) != 0) {
        unsetenv("TUNA_TEST_EVAL_SLEEP_S");
        teardown();
        return;
    }
    watcher w = {0, 0, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, watch, &w) == 0);
    /* during the base model's evaluation, then the first and second
     * submission's (the earlier ones are recorded by then) */
    static const char *jobs[] = {"base.job", "sub1.job", "sub2.job"};
    for (int kill_no = 0; kill_no < 3; kill_no++) {
        /* that evaluation of this validator under way */
        double t0 = tn_now();
        int mine = 0;
        while (tn_now() - t0 < 180) {
            evaluators((pid_t)g_v.pid, &mine, jobs[kill_no]);
            if (mine) break;
            usleep(20000);
        }
        CHECKF(mine, "kill %d: no evaluation of %s within 180 s (see %s)", kill_no, jobs[kill_no], g_log);
        if (!mine) break;
        usleep((useconds_t)(300000 + 600000 * kill_no)); /* at another point of it each time */
        tn_t_validator_stop(&g_v, SIGKILL);
        /* the evaluator dies with it (its parent-death signal), well before
         * it would have ended by itself: it has more than 3 s to sleep */
        t0 = tn_now();
        int left = 1;
        while ((left = evaluators(0, NULL, NULL)) > 0 && tn_now() - t0 < 1.5) usleep(10000);
        CHECKF(left == 0, "kill %d: %d evaluator(s) still running 1.5 s after the validator was killed", kill_no,
               left);
        int up = start_validator(NULL) == 0;
        CHECKF(up, "restart %d failed (see %s)", kill_no, g_log);
        if (!up) break;
    }
    json_t *t = wait_task(300);
    unsetenv("TUNA_TEST_EVAL_SLEEP_S");
    w.stop = 1;
    pthread_join(th, NULL);
    const char *st = t ? json_string_value(json_object_get(t, "state")) : NULL;
    CHECKF(st && !strcmp(st, "scored"), "task 1 is %s after the kills (see %s)", st ? st : "(no answer)", g_log);
    CHECKF(w.most_one_job <= 1, "%d evaluators ran one job at once", w.most_one_job);
    CHECKF(w.most <= 2, "%d evaluators ran at once (eval.parallel 2)", w.most);
    /* each miner's submission scored once */
    size_t i;
    json_t *s;
    int scored = 0;
    json_array_foreach(json_object_get(t, "submissions"), i, s) scored += json_is_number(json_object_get(s, "score"));
    CHECKF(scored == NM, "%d of %d submissions have a score", scored, NM);
    CHECKF(log_count("task 1: scored") == 1, "the task was scored %d times", log_count("task 1: scored"));
    json_decref(t);
    teardown();
    char *db = tn_path_join(g_vdir, "store.sqlite");
    tn_store *store = tn_store_open(db, NULL);
    CHECK(store != NULL);
    tn_score *sc = NULL;
    size_t ns = 0;
    CHECK(store && tn_store_scores_for_task(store, 1, &sc, &ns) >= 0);
    CHECKF(ns == NM, "%zu score rows, want %d", ns, NM);
    for (size_t a = 0; a < ns; a++)
        for (size_t b = a + 1; b < ns; b++)
            CHECK(sc[a].miner_id != sc[b].miner_id && sc[a].submission_id != sc[b].submission_id);
    tn_scores_free(sc, ns);
    if (store) tn_store_close(store);
    free(db);
}

TEST(memory_limit) {
    if (!tn_t_shared_data()) SKIP("../shared/data is missing (set TUNA_SHARED_DATA)");
    setenv("TUNA_TEST_EVAL_ALLOC_MB", "4096", 1);
    char *extra[] = {"--eval-mem", "1024", NULL};
    int ok = setup("memory", 0.15, extra) == 0;
    unsetenv("TUNA_TEST_EVAL_ALLOC_MB");
    json_t *t = ok ? wait_task(300) : NULL;
    const char *st = t ? json_string_value(json_object_get(t, "state")) : NULL;
    CHECKF(!ok || (st && !strcmp(st, "scored")), "task 1 is %s (see %s)", st ? st : "(no answer)", g_log);
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(t, "submissions"), i, s) {
        const char *why = json_string_value(json_object_get(s, "reason"));
        const char *status = json_string_value(json_object_get(s, "status"));
        CHECKF(status && !strcmp(status, "invalid") && why && strstr(why, "could not be evaluated") &&
                   strstr(why, "memory"),
               "%s: %s: %s", json_string_value(json_object_get(s, "miner")), status, why ? why : "(no reason)");
    }
    /* the submission's fault: recorded at once, not tried again */
    for (int k = 0; ok && k < NM; k++) {
        char needle[64];
        snprintf(needle, sizeof needle, "evaluating submission %d\n", k + 1);
        CHECKF(log_count(needle) == 1, "submission %d was evaluated %d times", k + 1, log_count(needle));
    }
    json_decref(t);
    teardown();
}

/* The "evaluation" numbers the provenance result of submission `sub` holds:
 * started_ms, ended_ms, attempts (0 each when missing). */
static void evaluation_of(tn_store *store, int64_t sub, int64_t *t0, int64_t *t1, int *attempts) {
    tn_rule_result *rr = NULL;
    size_t n = 0;
    *t0 = *t1 = *attempts = 0;
    if (tn_store_rule_results(store, sub, &rr, &n) < 0) return;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rr[i].rule, "provenance")) continue;
        json_t *j = json_loads(rr[i].numbers_json ? rr[i].numbers_json : "{}", 0, NULL);
        json_t *e = json_object_get(j, "evaluation");
        *t0 = json_integer_value(json_object_get(e, "started_ms"));
        *t1 = json_integer_value(json_object_get(e, "ended_ms"));
        *attempts = (int)json_integer_value(json_object_get(e, "attempts"));
        json_decref(j);
    }
    tn_rule_results_free(rr, n);
}

/* How many rows of task 1 show the miners' strategy note ("test", as
 * upload_model sends it) in the public task view, the public report and the
 * organiser's report; *state is the task's state in the public view. */
static void notes_shown(int *pub_task, int *pub_report, int *admin_report, char *state, size_t cap) {
    *pub_task = *pub_report = *admin_report = 0;
    json_t *t = get("/v1/tasks/1"), *s, *reports[2] = {get("/v1/report"), NULL};
    snprintf(state, cap, "%s", t ? json_string_value(json_object_get(t, "state")) : "(no answer)");
    size_t i;
    json_array_foreach(json_object_get(t, "submissions"), i, s) {
        const char *note = json_string_value(json_object_get(s, "strategy"));
        *pub_task += note && !strcmp(note, "test");
    }
    char url[400];
    snprintf(url, sizeof url, "%s/v1/admin/report", g_url);
    tn_http_opts o = {0};
    o.key = &g_admin;
    o.timeout_ms = 30000;
    tn_http_resp r;
    memset(&r, 0, sizeof r);
    json_t *body = json_pack("{s:i}", "task_id", 1);
    if (tn_http_json(&o, "POST", url, body, &r) == 0 && r.status == 200) reports[1] = json_incref(r.json);
    json_decref(body);
    tn_http_resp_free(&r);
    for (int k = 0; k < 2; k++) {
        size_t a, b, c;
        json_t *p, *m, *row;
        json_array_foreach(json_object_get(reports[k], "participants"), a, p)
            json_array_foreach(json_object_get(p, "miners"), b, m)
                json_array_foreach(json_object_get(m, "submissions"), c, row) {
            const char *note = json_string_value(json_object_get(row, "strategy"));
            if (note && !strcmp(note, "test")) (*(k ? admin_report : pub_report))++;
        }
        json_decref(reports[k]);
    }
    json_decref(t);
}

TEST(parallel_and_retry) {
    if (!tn_t_shared_data()) SKIP("../shared/data is missing (set TUNA_SHARED_DATA)");
    setenv("TUNA_TEST_EVAL_SLEEP_S", "4", 1);
    g_parallel = "3";
    int ok = setup("parallel", 0.25, NULL) == 0;
    /* the notes, while the task still runs (its evaluations sleep 4 s
     * each): the organiser's only */
    int pt, pr, ar;
    char state[32];
    if (ok) {
        notes_shown(&pt, &pr, &ar, state, sizeof state);
        CHECKF(strcmp(state, "scored") && strcmp(state, "failed"), "task 1 already %s", state);
        CHECKF(pt == 0 && pr == 0 && ar == NM, "task 1 %s: notes in the public task view %d, public report %d, "
               "organiser's report %d (want 0, 0, %d)", state, pt, pr, ar, NM);
    }
    watcher w = {0, 0, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, watch, &w) == 0);
    /* the second submission's evaluator, mid-run: killed as the kernel's
     * out-of-memory killer would */
    double t0 = tn_now();
    int mine = 0;
    while (ok && !mine && tn_now() - t0 < 180) {
        evaluators((pid_t)g_v.pid, &mine, "sub2.job");
        if (!mine) usleep(20000);
    }
    CHECKF(!ok || mine, "no evaluation of submission 2 within 180 s (see %s)", g_log);
    if (mine) {
        usleep(1000000);
        char *lock = tn_sprintf("%s/tasks/1/sub2.result.json.lock", g_vdir);
        char *pid = tn_read_file(lock, NULL);
        long p = pid ? strtol(pid, NULL, 10) : 0;
        CHECKF(p > 1 && kill((pid_t)p, SIGKILL) == 0, "cannot kill the evaluator named by %s", lock);
        free(pid);
        free(lock);
    }
    json_t *t = ok ? wait_task(300) : NULL;
    unsetenv("TUNA_TEST_EVAL_SLEEP_S");
    w.stop = 1;
    pthread_join(th, NULL);
    const char *st = t ? json_string_value(json_object_get(t, "state")) : NULL;
    CHECKF(!ok || (st && !strcmp(st, "scored")), "task 1 is %s (see %s)", st ? st : "(no answer)", g_log);
    size_t i;
    json_t *s;
    int scored = 0;
    json_array_foreach(json_object_get(t, "submissions"), i, s) scored += json_is_number(json_object_get(s, "score"));
    CHECKF(!ok || scored == NM, "%d of %d submissions have a score (see %s)", scored, NM, g_log);
    /* ended: the notes are public */
    if (ok) {
        notes_shown(&pt, &pr, &ar, state, sizeof state);
        CHECKF(pt == NM && pr == NM && ar == NM, "task 1 %s: notes in the public task view %d, public report %d, "
               "organiser's report %d (want %d each)", state, pt, pr, ar, NM);
    }
    CHECKF(w.most_one_job <= 1, "%d evaluators ran one job at once", w.most_one_job);
    CHECKF(w.most <= 3, "%d evaluators ran at once (eval.parallel 3)", w.most);
    CHECKF(!ok || log_count("retrying (attempt 2 of 3)") == 1, "%d retries logged (see %s)",
           log_count("retrying (attempt 2 of 3)"), g_log);
    json_decref(t);
    teardown();
    char *db = tn_path_join(g_vdir, "store.sqlite");
    tn_store *store = ok ? tn_store_open(db, NULL) : NULL;
    int64_t a[NM], b[NM];
    int att[NM], overlaps = 0;
    for (int k = 0; store && k < NM; k++) {
        evaluation_of(store, k + 1, &a[k], &b[k], &att[k]);
        printf("  submission %d: evaluated from %lld to %lld ms (%d attempts)\n", k + 1, (long long)(a[k] - a[0]),
               (long long)(b[k] - a[0]), att[k]);
        CHECKF(a[k] > 0 && b[k] >= a[k], "submission %d: no evaluation times recorded", k + 1);
        CHECKF(att[k] == (k == 1 ? 2 : 1), "submission %d: %d attempts", k + 1, att[k]);
    }
    for (int x = 0; store && x < NM; x++)
        for (int y = x + 1; y < NM; y++) overlaps += a[x] < b[y] && a[y] < b[x];
    CHECKF(!store || overlaps > 0, "no two evaluations overlapped in time");
    if (store) tn_store_close(store);
    free(db);
}

int main(void) {
    RUN(parallel_and_retry);
    RUN(kill_during_evaluations);
    RUN(memory_limit);
    return tn_test_summary("test_validator_crash");
}
