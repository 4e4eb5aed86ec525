/* test_validator_workers.c - a real validator with eval.workers = 1 and two
 * `tuna worker` processes (docs/operations.md, "Running workers"), on SQLite
 * and on PostgreSQL (store_backend.h; the validator takes the store's URL
 * with --store).
 *
 *   workers_score_like_one_machine  three stand-in miners upload perturbed
 *       copies of stories260K to one task. When it reaches `evaluating`, the
 *       validator queues four jobs (the base model's and one per
 *       submission). Worker A, run as root in a network namespace of its own
 *       (a veth pair to the validator's; on loopback otherwise, said on
 *       stdout), sleeps in its evaluations (TUNA_TEST_EVAL_SLEEP_S) and
 *       claims one job; worker B, in another namespace, does the other three
 *       meanwhile; A is killed with SIGKILL mid-evaluation (its evaluator
 *       dies with it) and B finishes A's job after A's 8 s lease (8 s, not 3:
 *       under `make asan` beside other tests a 3 s lease renewed every second
 *       can lapse while B works, and the job then fails). The task is
 *       scored; every job is done once (A's on its second attempt, its error
 *       naming A's lapsed lease), each "job N done" is logged once, by B, and
 *       the validator records each submission's evaluation once. Then the
 *       same task is rescored with eval.workers = 0 (every evaluation again,
 *       in the validator's own children: the one-machine run) and every score
 *       equals the workers' value for value.
 *   two_schedulers  three validators on one store: S1 and S2 with --role all
 *       (3 s scheduler lease), R with --role api. S1 takes the lease; S2
 *       stands by and never takes it while S1 lives (4 s, more than a
 *       lease); R never asks for it. S1 is paused (SIGSTOP): S2 takes the
 *       lease once S1's has run out (not before a third of a lease, within a
 *       lease and a margin); S1 resumed finds its lease lost and stands by,
 *       S2 keeps it. S2 is killed (SIGKILL): S1 takes its lease at once (a
 *       holder on this host whose process is gone). A clean stop gives the
 *       lease back (free at once), and R serves the API throughout.
 * workers_score_like_one_machine needs ../shared/data (stories260K). */
#include "harness.h"
#include "store_backend.h"

#include "base/clock.h"
#include "base/json.h"
#include "base/spawn.h"

#include <math.h>
#include <signal.h>
#include <sys/wait.h>

#define NM 3
#define NJOBS (NM + 1)

typedef struct {
    tn_keypair key;
    tn_http_server *srv;
    tn_verifier *ver;
    tn_t_started st;
} miner;

static miner M[NM];
static char g_dir[400], g_vdir[512], g_vlog[600];
static tn_t_validator g_v;
static tn_keypair g_admin;

/* ---- network namespaces -------------------------------------------------- */

static int g_netns; /* the workers run in namespaces */

/* Namespace k (0, 1): tnw<pid>_k, joined to this one by the veth pair
 * tvh<k>_<pid> (here, 10.213.<k>.1) / tvw<k>_<pid> (there, 10.213.<k>.2). */
static void netns_names(int k, char ns[40], char host[24], char peer[24]) {
    int id = (int)getpid() % 100000;
    snprintf(ns, 40, "tnw%d_%d", id, k);
    snprintf(host, 24, "tvh%d_%d", k, id);
    snprintf(peer, 24, "tvw%d_%d", k, id);
}

static int netns_up(int k) {
    char ns[40], h[24], w[24], cmd[1000];
    netns_names(k, ns, h, w);
    snprintf(cmd, sizeof cmd,
             "ip netns add %s && ip link add %s type veth peer name %s && ip link set %s netns %s && "
             "ip addr add 10.213.%d.1/30 dev %s && ip link set %s up && "
             "ip netns exec %s ip addr add 10.213.%d.2/30 dev %s && ip netns exec %s ip link set %s up && "
             "ip netns exec %s ip link set lo up",
             ns, h, w, w, ns, k, h, h, ns, k, w, ns, w, ns);
    return system(cmd) == 0 ? 0 : -1;
}

static void netns_down(int k) {
    char ns[40], h[24], w[24], cmd[300];
    netns_names(k, ns, h, w);
    /* deleting the namespace deletes its end of the pair, and so the pair */
    snprintf(cmd, sizeof cmd, "ip netns del %s 2>/dev/null; ip link del %s 2>/dev/null; true", ns, h);
    if (system(cmd) != 0) fprintf(stderr, "  cannot remove namespace %s\n", ns);
}

/* ---- the run -------------------------------------------------------------- */

static long admin(const char *path, json_t *body) { return tn_t_post_signed(&g_admin, g_v.url, path, body); }

/* The task's state once it is `want` (NULL: no answer within limit_s). */
static int wait_state(const char *want, double limit_s) {
    double t0 = tn_now();
    while (tn_now() - t0 < limit_s) {
        json_t *t = tn_t_get_json(g_v.url, "/v1/tasks/1");
        const char *st = t ? json_string_value(json_object_get(t, "state")) : NULL;
        int ok = st && !strcmp(st, want), failed = st && !strcmp(st, "failed");
        json_decref(t);
        if (ok) return 1;
        if (failed) return 0;
        usleep(200000);
    }
    return 0;
}

/* Evaluation jobs of task 1 in state done (-1: the store failed). */
static int count_done(tn_store *s) {
    tn_eval *v = NULL;
    size_t n = 0;
    if (tn_store_eval_list(s, 1, &v, &n)) return -1;
    int k = 0;
    for (size_t i = 0; i < n; i++) k += v[i].state == TN_EVAL_DONE;
    tn_evals_free(v, n);
    return k;
}

static int same(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

/* A base model, a 60-row dataset, NM miners registered; the validator with
 * its store at store_url and eval.workers = 1; a task every miner uploads
 * to. 0, or -1 (checks failed already). */
static int setup(const char *store_url, const char *listen) {
    const char *data = tn_t_shared_data();
    char *base = tn_sprintf("%s/base", g_dir), *ds = tn_sprintf("%s/alpaca.jsonl", g_dir);
    char *src = tn_sprintf("%s/datasets/alpaca_en_demo.json", data);
    int rc = -1;
    CHECK(tn_t_stories260k(base) == 0);
    CHECK(tn_t_write_rows(src, ds, 0, 60) == 0);
    char *vargs[] = {"--store", (char *)store_url, "--admin-key", g_admin.id, "--offer-timeout", "2000", "--seq-len",
                     "64", "--listen", (char *)listen, NULL};
    if (tn_t_validator_start(&g_v, g_vdir, g_vlog, vargs, 60) != 0) {
        CHECKF(0, "the validator did not start (see %s)", g_vlog);
        goto out;
    }
    for (int i = 0; i < NM; i++) {
        memset(&M[i], 0, sizeof M[i]);
        tn_keypair_generate(&M[i].key);
        CHECK(tn_t_stub_miner_start(&M[i].srv, &M[i].ver, g_v.public_key, tn_t_accept_offer, tn_t_record_start,
                                    &M[i].st) == 0);
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
    CHECK(admin("/v1/admin/settings", json_pack("{s:s, s:s}", "key", "eval.workers", "value", "1")) == 200);
    /* one thread in every evaluator, the validator's children (cores / eval.parallel each) as
     * the workers' (--threads 1): a loss is a sum whose order depends on
     * the thread count, and the comparison with the one-machine run is bit for bit */
    char cores[32];
    snprintf(cores, sizeof cores, "%ld", sysconf(_SC_NPROCESSORS_ONLN));
    CHECK(admin("/v1/admin/settings", json_pack("{s:s, s:s}", "key", "eval.parallel", "value", cores)) == 200);
    CHECK(admin("/v1/admin/tasks", json_pack("{s:s, s:s, s:f}", "model", "stories260K", "dataset", "alpaca",
                                             "minutes", 0.25)) == 201);
    double t0 = tn_now();
    int started = 0;
    while (!started && tn_now() - t0 < 120) {
        started = 1;
        for (int i = 0; i < NM; i++) started &= M[i].st.started;
        if (!started) usleep(50000);
    }
    CHECKF(started, "the miners were not started (see %s)", g_vlog);
    if (!started) goto out;
    rc = 0;
    for (int i = 0; i < NM; i++) {
        char *dir = tn_sprintf("%s/sub%d", g_dir, i);
        int ok = tn_t_perturb(base, dir, 101 + (uint64_t)i) == 0 && tn_t_upload_model(&M[i].key, M[i].st.upload_url,
                                                                                       dir) == 0;
        CHECKF(ok, "miner m%d could not upload: %s", i, tn_errmsg());
        if (!ok) rc = -1;
        free(dir);
    }
out:
    free(base);
    free(ds);
    free(src);
    return rc;
}

TEST(workers_score_like_one_machine) {
    if (!tn_t_shared_data()) SKIP("../shared/data is missing (stories260K)");
    static int round;
    snprintf(g_dir, sizeof g_dir, "%s/vw%d", tn_t_tmpdir(), ++round);
    snprintf(g_vdir, sizeof g_vdir, "%s/validator", g_dir);
    snprintf(g_vlog, sizeof g_vlog, "%s/validator.log", g_dir);
    CHECK(tn_mkdir_p(g_dir) == 0);
    tn_crypto_init();
    tn_keypair_generate(&g_admin);
    char *store_url = db_path("validator.db");
    char *alog = tn_sprintf("%s/worker-a.log", g_dir), *blog = tn_sprintf("%s/worker-b.log", g_dir);
    char *akey = tn_sprintf("%s/a.key", g_dir), *bkey = tn_sprintf("%s/b.key", g_dir);
    char *acache = tn_sprintf("%s/cache-a", g_dir), *bcache = tn_sprintf("%s/cache-b", g_dir);
    char ns[2][40], wurl[2][128], needle[128];
    tn_keypair ka, kb;
    tn_store *s = NULL;
    tn_score *sw = NULL, *sl = NULL;
    size_t nw = 0, nl = 0;
    int a = -1, b = -1;
    CHECK(tn_keypair_generate(&ka) == 0 && tn_keypair_generate(&kb) == 0);
    CHECK(tn_keypair_save(&ka, akey, 1) == 0 && tn_keypair_save(&kb, bkey, 1) == 0);

    /* the workers' hosts: a namespace each where this process may make them */
    g_netns = geteuid() == 0 && netns_up(0) == 0;
    if (g_netns && netns_up(1) != 0) {
        netns_down(0);
        g_netns = 0;
    }
    if (!g_netns)
        printf("  # workers on loopback: %s\n", geteuid() ? "not root, no network namespaces"
                                                         : "`ip netns add` or the veth pair failed");
    if (setup(store_url, g_netns ? "0.0.0.0:0" : "127.0.0.1:0") != 0) goto out;
    const char *port = strrchr(g_v.url, ':') + 1;
    for (int k = 0; k < 2; k++) {
        char h[24], w[24];
        netns_names(k, ns[k], h, w);
        if (g_netns) /* the validator as seen from worker k's namespace */
            snprintf(wurl[k], sizeof wurl[k], "http://10.213.%d.1:%s", k, port);
        else
            snprintf(wurl[k], sizeof wurl[k], "http://127.0.0.1:%s", port);
    }
    /* tn_spawn does not search PATH */
    char *ip = access("/usr/sbin/ip", X_OK) == 0 ? "/usr/sbin/ip" : access("/sbin/ip", X_OK) == 0 ? "/sbin/ip" : "/usr/bin/ip";
    char *apfx[] = {ip, "netns", "exec", ns[0], NULL}, *bpfx[] = {ip, "netns", "exec", ns[1], NULL};
    char *aargs[] = {"worker", "--store", store_url, "--validator", wurl[0], "--key", akey, "--cache-dir", acache,
                     "--threads", "1", "--lease-s", "8", "--poll-s", "0.2", "-v", NULL};
    char *bargs[] = {"worker", "--store", store_url, "--validator", wurl[1], "--key", bkey, "--cache-dir", bcache,
                     "--threads", "1", "--lease-s", "8", "--poll-s", "0.2", "-v", NULL};
    /* A claims the first job and sleeps in its evaluation */
    a = tn_t_spawn_tuna(g_netns ? apfx : NULL, aargs, alog, "60");
    CHECK(a > 0);
    int started = a > 0 && tn_t_wait_log(a, alog, "worker: evaluating job ", 180);
    CHECKF(started, "worker A started no evaluation (see %s, %s)", alog, g_vlog);
    if (!started) goto out;
    b = tn_t_spawn_tuna(g_netns ? bpfx : NULL, bargs, blog, NULL);
    CHECK(b > 0);
    s = open_db(store_url);
    if (!s) goto out;
    double t0 = tn_now();
    while (count_done(s) < NJOBS - 1 && tn_now() - t0 < 180 && tn_spawn_poll(b, NULL) == 1) usleep(100000);
    CHECKF(count_done(s) == NJOBS - 1, "worker B did not finish the other jobs (see %s)", blog);
    CHECK(tn_t_evaluators_under(acache) == 1); /* A's evaluation still runs */
    kill(a, SIGKILL);
    tn_spawn_end end;
    CHECK(tn_spawn_wait(a, &end) == 0 && end.signal == SIGKILL);
    a = -1;
    t0 = tn_now();
    while (tn_t_evaluators_under(acache) > 0 && tn_now() - t0 < 5) usleep(50000);
    CHECK(tn_t_evaluators_under(acache) == 0);
    int scored = wait_state("scored", 180);
    CHECKF(scored, "task 1 was not scored with the workers (see %s, %s)", g_vlog, blog);
    kill(b, SIGTERM);
    CHECK(tn_spawn_wait(b, &end) == 0 && end.code == 0);
    b = -1;
    if (!scored) goto out;

    /* every job done once, B's; A's on its second attempt */
    tn_eval *ev = NULL;
    size_t n = 0;
    int a_jobs = 0;
    CHECK(tn_store_eval_list(s, 1, &ev, &n) == 0 && n == NJOBS);
    char apre[24];
    snprintf(apre, sizeof apre, "lease of %.8s", ka.id);
    for (size_t i = 0; i < n; i++) {
        int was_a = ev[i].error && strstr(ev[i].error, apre) != NULL;
        a_jobs += was_a;
        CHECKF(ev[i].state == TN_EVAL_DONE && ev[i].lease_owner && !strncmp(ev[i].lease_owner, kb.id, 16) &&
                   ev[i].attempts == (was_a ? 2 : 1),
               "job %lld: %s by %s, %lld attempts", (long long)ev[i].id, tn_eval_state_name(ev[i].state),
               ev[i].lease_owner ? ev[i].lease_owner : "-", (long long)ev[i].attempts);
        snprintf(needle, sizeof needle, "job %lld done", (long long)ev[i].id);
        CHECKF(tn_t_count_in_file(blog, needle) == 1 && tn_t_count_in_file(alog, needle) == 0,
               "'%s' not exactly once, by B", needle);
        if (ev[i].submission_id > 0) {
            snprintf(needle, sizeof needle, "submission %lld evaluated in", (long long)ev[i].submission_id);
            CHECKF(tn_t_count_in_file(g_vlog, needle) == 1, "'%s' %d times", needle,
                   tn_t_count_in_file(g_vlog, needle));
        }
    }
    CHECKF(a_jobs == 1, "%d jobs name worker A's lapsed lease", a_jobs);
    tn_evals_free(ev, n);
    CHECK(tn_store_scores_for_task(s, 1, &sw, &nw) == 0 && nw == NM);

    /* the one-machine run: the same task rescored in the validator's own
     * children, the base model's result too */
    CHECK(admin("/v1/admin/settings", json_pack("{s:s, s:s}", "key", "eval.workers", "value", "0")) == 200);
    char *bres = tn_sprintf("%s/tasks/1/base.result.json", g_vdir);
    CHECK(unlink(bres) == 0);
    free(bres);
    int children_before = tn_t_count_in_file(g_vlog, "evaluating submission");
    CHECK(admin("/v1/admin/rescore", json_pack("{s:i}", "task_id", 1)) == 200);
    CHECKF(wait_state("scored", 180), "the rescore did not end (see %s)", g_vlog);
    CHECKF(tn_t_count_in_file(g_vlog, "evaluating submission") - children_before == NM,
           "the rescore did not evaluate every submission in a child (see %s)", g_vlog);
    CHECK(count_done(s) == NJOBS); /* no job was added */
    CHECK(tn_store_scores_for_task(s, 1, &sl, &nl) == 0 && nl == NM);
    for (size_t i = 0; i < nw && nl == nw; i++) {
        const tn_score *x = &sw[i], *y = NULL;
        for (size_t k = 0; k < nl; k++)
            if (sl[k].miner_id == x->miner_id) y = &sl[k];
        CHECKF(y && same(x->test_loss, y->test_loss) && same(x->synth_loss, y->synth_loss) &&
                   same(x->weighted_loss, y->weighted_loss) && same(x->quality, y->quality) &&
                   same(x->score, y->score) && x->valid == y->valid,
               "miner %lld: workers test %.9g synth %.9g w %.9g score %.9g valid %d; one machine test %.9g "
               "synth %.9g w %.9g score %.9g valid %d",
               (long long)x->miner_id, x->test_loss, x->synth_loss, x->weighted_loss, x->score, x->valid,
               y ? y->test_loss : NAN, y ? y->synth_loss : NAN, y ? y->weighted_loss : NAN, y ? y->score : NAN,
               y ? y->valid : -1);
        printf("  miner %lld: weighted loss %.9g, score %.9g, valid %d (workers and one machine)\n",
               (long long)x->miner_id, x->weighted_loss, x->score, x->valid);
    }
    int valid = 0;
    for (size_t i = 0; i < nw; i++) valid += sw[i].valid;
    CHECKF(valid == NM, "%d of %d submissions valid", valid, NM);
out:
    if (a > 0) kill(a, SIGKILL), waitpid(a, NULL, 0);
    if (b > 0) kill(b, SIGKILL), waitpid(b, NULL, 0);
    if (g_v.pid > 0) CHECKF(tn_t_validator_stop(&g_v, SIGTERM) == 0, "the validator did not stop cleanly");
    for (int k = 0; k < NM; k++) {
        tn_http_server_free(M[k].srv);
        tn_verifier_free(M[k].ver);
        M[k].srv = NULL;
        M[k].ver = NULL;
    }
    if (g_netns) netns_down(0), netns_down(1);
    tn_scores_free(sw, nw);
    tn_scores_free(sl, nl);
    tn_store_close(s);
    free(store_url), free(alog), free(blog), free(akey), free(bkey), free(acache), free(bcache);
}

/* The first time (seconds since t0) `needle` shows in log, polling; -1 if not within limit_s. */
static double when_logged(const char *log, const char *needle, double t0, double limit_s) {
    while (tn_now() - t0 < limit_s) {
        if (tn_t_count_in_file(log, needle) > 0) return tn_now() - t0;
        usleep(20000);
    }
    return -1;
}

TEST(two_schedulers) {
    static int round;
    snprintf(g_dir, sizeof g_dir, "%s/sched%d", tn_t_tmpdir(), ++round);
    CHECK(tn_mkdir_p(g_dir) == 0);
    tn_crypto_init();
    tn_keypair_generate(&g_admin);
    char *store_url = db_path("sched.db");
    char *dir[3], *log[3];
    static const char *roles[3] = {"all", "all", "api"};
    tn_t_validator v[3];
    memset(v, 0, sizeof v);
    for (int k = 0; k < 3; k++) {
        dir[k] = tn_sprintf("%s/v%d", g_dir, k);
        log[k] = tn_sprintf("%s/v%d.log", g_dir, k);
        char *args[] = {"--store", store_url, "--admin-key", g_admin.id, "--role", (char *)roles[k], "--lease-s", "3",
                        NULL};
        CHECKF(tn_t_validator_start(&v[k], dir[k], log[k], args, 60) == 0, "validator %d did not start (see %s)", k,
               log[k]);
        if (k == 0) CHECKF(when_logged(log[0], "lease taken by", tn_now(), 30) >= 0, "S1 took no lease (%s)", log[0]);
    }
    if (v[0].pid <= 0 || v[1].pid <= 0 || v[2].pid <= 0) goto out;
    CHECKF(when_logged(log[1], "standing by", tn_now(), 30) >= 0, "S2 is not standing by (%s)", log[1]);
    usleep(4000000); /* longer than a lease: S1 renews, S2 never gets it */
    CHECK(tn_t_count_in_file(log[1], "lease taken") == 0 && tn_t_count_in_file(log[0], "standing by") == 0);
    CHECK(tn_t_count_in_file(log[0], "lease lost") == 0);
    CHECK(tn_t_count_in_file(log[2], "lease") == 0 && tn_t_count_in_file(log[2], "standing by") == 0);
    /* S1 paused (alive, as a scheduler on another host that stopped
     * answering would be): S2 waits for S1's lease to run out */
    double t0 = tn_now();
    CHECK(kill(v[0].pid, SIGSTOP) == 0);
    double took = when_logged(log[1], "lease taken by", t0, 15);
    printf("  S2 took the lease %.2f s after S1 was paused (lease 3 s)\n", took);
    CHECKF(took >= 1.0 && took <= 3.0 + 2.0, "S2 took the lease %.2f s after S1's pause", took);
    /* S1 resumed finds its lease lost and stands by; S2 keeps it */
    CHECK(kill(v[0].pid, SIGCONT) == 0);
    CHECKF(when_logged(log[0], "lease lost", tn_now(), 5) >= 0, "S1 did not see its lease lost (%s)", log[0]);
    CHECKF(when_logged(log[0], "standing by", tn_now(), 5) >= 0, "S1 is not standing by (%s)", log[0]);
    usleep(1500000);
    CHECK(tn_t_count_in_file(log[1], "lease lost") == 0 && tn_t_count_in_file(log[0], "lease taken by") == 1);
    /* S2 killed: a holder on this host that is gone is replaced at once */
    t0 = tn_now();
    CHECK(tn_t_validator_stop(&v[1], SIGKILL) == 128 + SIGKILL);
    took = when_logged(log[0], "is gone; taking its lease", t0, 15);
    printf("  S1 took the lease %.2f s after S2 was killed\n", took);
    CHECKF(took >= 0 && took < 1.5, "S1 took the dead S2's lease after %.2f s", took);
    /* a clean stop gives the lease back */
    CHECK(tn_t_validator_stop(&v[0], SIGTERM) == 0);
    CHECK(tn_t_count_in_file(log[0], "lease given back") == 1);
    tn_store *st = open_db(store_url);
    CHECKF(st && tn_store_lease_take(st, "scheduler", "probe", tn_wall_ms(), 1000, NULL) == 0,
           "the lease was not given back: %s", tn_errmsg());
    if (st) CHECK(tn_store_lease_release(st, "scheduler", "probe") == 0);
    tn_store_close(st);
    json_t *h = tn_t_get_json(v[2].url, "/v1/health"), *m = tn_t_get_json(v[2].url, "/v1/miners");
    CHECK(h && m); /* R serves the API */
    json_decref(h);
    json_decref(m);
out:
    for (int k = 0; k < 3; k++) {
        if (v[k].pid > 0) CHECKF(tn_t_validator_stop(&v[k], SIGTERM) == 0, "validator %d did not stop cleanly", k);
        free(dir[k]);
        free(log[k]);
    }
    free(store_url);
}

static const sb_case backend_cases[] = {SB_CASE(two_schedulers), SB_CASE(workers_score_like_one_machine)};

int main(void) {
    sb_run_both(backend_cases, 2);
    return tn_test_summary("validator_workers");
}
