/* test_worker.c - `tuna worker` processes against a real validator's blob
 * endpoint and the store (src/worker/, docs/operations.md), on SQLite and on
 * PostgreSQL (store_backend.h).
 *
 *   two_workers_one_killed  three evaluations are queued (two perturbed
 *       fine-tunes of stories260K and the base model itself); the job files
 *       live only in the validator's blob store and reach the workers
 *       through its signed /blobs/ URLs. Worker A, whose evaluations sleep
 *       60 s before writing (TUNA_TEST_EVAL_SLEEP_S, evaljob.h), claims the
 *       first; worker B does the other two meanwhile; A is killed with
 *       SIGKILL mid-evaluation (its evaluator child must die with it); after
 *       A's 3 s lease B takes A's job and finishes it. Every job is done
 *       exactly once (each "done" line once, A's job on its second attempt),
 *       B fetched the shared base model once, and every result equals what
 *       `tuna eval-submission` gives on the same files locally (the
 *       one-machine run), loss for loss. A job whose URL signature is
 *       wrong is given back with the validator's refusal as its error.
 *   partial_download_cleaned  a worker killed mid-download leaves a
 *       partial file in its cache's blob temporaries, named with its pid; the
 *       next worker started on that cache removes it (the blob store's
 *       clean-up of dead writers' temporaries) and leaves a live writer's.
 * Needs ../shared/data (stories260K). */
#include "harness.h"
#include "store_backend.h"

#include "base/clock.h"
#include "base/json.h"
#include "base/rng.h"
#include "base/spawn.h"
#include "model/model.h"
#include "net/keys.h"
#include "store/blobs.h"

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/wait.h>

#define NJOBS 3

static char g_dir[512];
static tn_t_validator g_v;

/* The validator's download-URL signature (docs/protocol.md): HMAC-SHA256
 * of "HASH|EXP" under DATA_DIR/url.secret, written here from the protocol,
 * not from the validator's code. */
static void sign_blob(json_t *sigs, const unsigned char *secret, const char *hash) {
    long long exp = (long long)(tn_wall_ms() / 1000 + 3600);
    char msg[128], hex[65];
    snprintf(msg, sizeof msg, "%s|%lld", hash, exp);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)msg, strlen(msg), secret);
    tn_hex_encode(mac, sizeof mac, hex);
    json_object_set_new(sigs, hash, json_pack("{s:I, s:s}", "exp", (json_int_t)exp, "sig", hex));
}

static void sign_manifest(json_t *sigs, const unsigned char *secret, const json_t *manifest) {
    const char *name;
    json_t *f;
    json_object_foreach(json_object_get(manifest, "files"), name, f)
        sign_blob(sigs, secret, json_string_value(json_object_get(f, "sha256")));
}

/* The one-machine reference: `tuna eval-submission` on local files. */
static json_t *reference(const char *base, const char *sub, const char *test, const char *synth, const json_t *dt,
                         const char *tag) {
    char *jp = tn_sprintf("%s/ref-%s.json", g_dir, tag), *rp = tn_sprintf("%s/ref-%s.out.json", g_dir, tag);
    char *log = tn_sprintf("%s/ref-%s.log", g_dir, tag);
    json_t *job = json_pack("{s:s, s:s?, s:s, s:s, s:O, s:i, s:b}", "base_dir", base, "submission_dir", sub,
                            "test_file", test, "synth_file", synth, "dataset_type", dt, "seq_len", 64, "base_only",
                            sub == NULL);
    json_t *res = NULL;
    char *args[] = {"eval-submission", "--job", jp, "--out", rp, NULL};
    pid_t pid = tn_json_save_file(job, jp) == 0 ? tn_t_spawn_tuna(NULL, args, log, NULL) : -1;
    tn_spawn_end end;
    if (pid > 0 && tn_spawn_wait(pid, &end) == 0 && end.code == 0) res = tn_json_load_file(rp);
    CHECKF(res != NULL, "reference evaluation %s failed (see %s)", tag, log);
    json_decref(job);
    free(jp);
    free(rp);
    free(log);
    return res;
}

/* Jobs of the task in state done, 0..NJOBS (-1: the store failed). */
static int count_done(tn_store *s, int64_t task) {
    tn_eval *v = NULL;
    size_t n = 0;
    if (tn_store_eval_list(s, task, &v, &n)) return -1;
    int k = 0;
    for (size_t i = 0; i < n; i++) k += v[i].state == TN_EVAL_DONE;
    tn_evals_free(v, n);
    return k;
}

static void same_result(const json_t *got, const json_t *want, const char *what) {
    static const char *keys[] = {"verdict", "sha256", "test_loss", "synth_loss", "test_tokens", "synth_tokens"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        json_t *a = json_object_get(got, keys[i]), *b = json_object_get(want, keys[i]);
        CHECKF((!a && !b) || json_equal(a, b), "%s: %s differs from the one-machine run", what, keys[i]);
    }
    CHECKF(json_equal(json_object_get(got, "test_row_loss"), json_object_get(want, "test_row_loss")),
           "%s: per-row losses differ", what);
}

TEST(two_workers_one_killed) {
    const char *data = tn_t_shared_data();
    if (!data) SKIP("../shared/data is missing (stories260K)");
    static int round;
    snprintf(g_dir, sizeof g_dir, "%s/w%d", tn_t_tmpdir(), ++round);
    CHECK(tn_mkdir_p(g_dir) == 0);
    char *vdir = tn_sprintf("%s/validator", g_dir), *vlog = tn_sprintf("%s/validator.log", g_dir);
    char *base = tn_sprintf("%s/base", g_dir), *sub[2] = {tn_sprintf("%s/sub1", g_dir), tn_sprintf("%s/sub2", g_dir)};
    char *test = tn_sprintf("%s/test.jsonl", g_dir), *synth = tn_sprintf("%s/synth.jsonl", g_dir);
    char *src = tn_sprintf("%s/datasets/alpaca_en_demo.json", data);
    char *alog = tn_sprintf("%s/worker-a.log", g_dir), *blog = tn_sprintf("%s/worker-b.log", g_dir);
    char *akey = tn_sprintf("%s/a.key", g_dir), *bkey = tn_sprintf("%s/b.key", g_dir);
    char *acache = tn_sprintf("%s/cache-a", g_dir), *bcache = tn_sprintf("%s/cache-b", g_dir);
    char *store_url = db_path("worker.db");
    json_t *dt = json_pack("{s:s, s:s, s:s, s:s}", "kind", "instruct", "field_instruction", "instruction",
                           "field_input", "input", "field_output", "output");
    json_t *refs[NJOBS] = {0}, *sigs = json_object(), *bman = NULL, *sman[2] = {0};
    tn_store *s = NULL;
    tn_blobs *blobs = NULL;
    pid_t a = -1, b = -1;
    int64_t task = 0, ids[NJOBS] = {0};
    char bhash[65], shash[2][65], thash[65], yhash[65];
    tn_crypto_init();
    tn_keypair admin, ka, kb;
    CHECK(tn_keypair_generate(&admin) == 0 && tn_keypair_generate(&ka) == 0 && tn_keypair_generate(&kb) == 0);
    CHECK(tn_keypair_save(&ka, akey, 1) == 0 && tn_keypair_save(&kb, bkey, 1) == 0);
    CHECK(tn_t_stories260k(base) == 0);
    CHECK(tn_t_perturb(base, sub[0], 11) == 0 && tn_t_perturb(base, sub[1], 22) == 0);
    CHECK(tn_t_write_rows(src, test, 0, 24) == 0 && tn_t_write_rows(src, synth, 24, 48) == 0);
    char *vargs[] = {"--admin-key", admin.id, NULL};
    if (tn_t_validator_start(&g_v, vdir, vlog, vargs, 60) != 0) {
        CHECKF(0, "the validator did not start (see %s)", vlog);
        goto out;
    }
    /* the files exist only in the validator's blob store from here on */
    char *bdir = tn_sprintf("%s/blobs", vdir), *secp = tn_sprintf("%s/url.secret", vdir);
    size_t slen = 0;
    unsigned char *secret = (unsigned char *)tn_read_file(secp, &slen);
    blobs = tn_blobs_open(bdir);
    free(bdir);
    free(secp);
    CHECK(secret && slen == crypto_auth_hmacsha256_KEYBYTES && blobs);
    if (!secret || slen != crypto_auth_hmacsha256_KEYBYTES || !blobs) {
        free(secret);
        goto out;
    }
    CHECK(tn_blobs_put_dir(blobs, base, &bman, bhash) == 0);
    for (int i = 0; i < 2; i++) CHECK(tn_blobs_put_dir(blobs, sub[i], &sman[i], shash[i]) == 0);
    CHECK(tn_blobs_put_file(blobs, test, NULL, thash) == 0 && tn_blobs_put_file(blobs, synth, NULL, yhash) == 0);
    sign_blob(sigs, secret, bhash);
    sign_blob(sigs, secret, thash);
    sign_blob(sigs, secret, yhash);
    sign_manifest(sigs, secret, bman);
    for (int i = 0; i < 2; i++) sign_manifest(sigs, secret, sman[i]);
    free(secret);

    /* the queue: submission 1, submission 2, then the base model */
    s = open_db(store_url);
    if (!s) goto out;
    tn_catalog_model m = {.name = "stories260K", .manifest_hash = bhash, .created_at = 1};
    tn_catalog_dataset d = {.name = "alpaca", .blob_hash = thash, .row_count = 48, .created_at = 1};
    tn_task t = {.model = "stories260K", .dataset = "alpaca", .created_at = 1, .time_limit_ms = 60000};
    CHECKF(tn_store_model_add(s, &m) == 0 && tn_store_dataset_add(s, &d) == 0 && tn_store_task_create(s, &t, &task) == 0,
           "%s", tn_errmsg());
    for (int i = 0; i < NJOBS; i++) {
        json_t *job = json_pack("{s:s, s:s, s:s, s:O, s:O, s:i, s:b}", "base", bhash, "test", thash, "synth", yhash,
                                "signatures", sigs, "dataset_type", dt, "seq_len", 64, "base_only", i == 2);
        if (i < 2) json_object_set(job, "submission", sman[i]);
        char *text = json_dumps(job, JSON_COMPACT);
        CHECKF(tn_store_eval_enqueue(s, task, i < 2 ? i + 1 : 0, text, tn_wall_ms(), &ids[i]) == 0, "%s", tn_errmsg());
        free(text);
        json_decref(job);
    }

    /* A claims the first job and sleeps in its evaluation */
    char *aargs[] = {"worker", "--store", store_url, "--validator", g_v.url, "--key", akey, "--cache-dir", acache,
                     "--lease-s", "3", "--poll-s", "0.2", "-v", NULL};
    char *bargs[] = {"worker", "--store", store_url, "--validator", g_v.url, "--key", bkey, "--cache-dir", bcache,
                     "--lease-s", "3", "--poll-s", "0.2", "-v", NULL};
    a = tn_t_spawn_tuna(NULL, aargs, alog, "60");
    CHECK(a > 0);
    char needle[64];
    snprintf(needle, sizeof needle, "evaluating job %lld ", (long long)ids[0]);
    int started = a > 0 && tn_t_wait_log(a, alog, needle, 120);
    CHECKF(started, "worker A did not start job %lld (see %s)", (long long)ids[0], alog);
    if (!started) goto out;
    /* B does the other two meanwhile */
    b = tn_t_spawn_tuna(NULL, bargs, blog, NULL);
    CHECK(b > 0);
    double t0 = tn_now();
    while (count_done(s, task) < 2 && tn_now() - t0 < 120 && tn_spawn_poll(b, NULL) == 1) usleep(100000);
    CHECKF(count_done(s, task) == 2, "worker B did not finish the other two jobs (see %s)", blog);
    CHECK(tn_t_evaluators_under(acache) == 1); /* A's child is still in its evaluation */
    /* A dies mid-evaluation; its child with it */
    kill(a, SIGKILL);
    tn_spawn_end end;
    CHECK(tn_spawn_wait(a, &end) == 0 && end.signal == SIGKILL);
    a = -1;
    t0 = tn_now();
    while (tn_t_evaluators_under(acache) > 0 && tn_now() - t0 < 5) usleep(50000);
    CHECK(tn_t_evaluators_under(acache) == 0);
    /* B takes A's job once its lease has run out */
    t0 = tn_now();
    while (count_done(s, task) < NJOBS && tn_now() - t0 < 120 && tn_spawn_poll(b, NULL) == 1) usleep(100000);
    CHECKF(count_done(s, task) == NJOBS, "A's job was not finished by B (see %s)", blog);
    kill(b, SIGTERM);
    CHECK(tn_spawn_wait(b, &end) == 0 && end.code == 0);
    b = -1;

    /* each job done once, by B; A's on its second attempt, after A's lease */
    tn_eval *v = NULL;
    size_t n = 0;
    CHECK(tn_store_eval_list(s, task, &v, &n) == 0 && n == NJOBS);
    for (size_t i = 0; i < n && n == NJOBS; i++) {
        CHECKF(v[i].state == TN_EVAL_DONE && v[i].lease_owner && !strncmp(v[i].lease_owner, kb.id, 16) &&
                   v[i].attempts == (i == 0 ? 2 : 1),
               "job %lld: %s by %s, %lld attempts", (long long)v[i].id, tn_eval_state_name(v[i].state),
               v[i].lease_owner ? v[i].lease_owner : "-", (long long)v[i].attempts);
        snprintf(needle, sizeof needle, "job %lld done", (long long)v[i].id);
        CHECKF(tn_t_count_in_file(blog, needle) == 1 && tn_t_count_in_file(alog, needle) == 0, "'%s' not exactly once", needle);
    }
    char apfx[24];
    snprintf(apfx, sizeof apfx, "lease of %.8s", ka.id); /* the job's history names A's lapsed lease */
    if (n == NJOBS)
        CHECKF(v[0].error && strstr(v[0].error, apfx) && strstr(v[0].error, "expired"), "%s",
               v[0].error ? v[0].error : "-");
    /* B fetched the base model's weights once for its three jobs */
    const char *wname;
    json_t *wf;
    json_object_foreach(json_object_get(bman, "files"), wname, wf) {
        snprintf(needle, sizeof needle, "fetched blob %.12s", json_string_value(json_object_get(wf, "sha256")));
        CHECKF(tn_t_count_in_file(blog, needle) == 1, "base file %s fetched %d times", wname, tn_t_count_in_file(blog, needle));
    }
    /* the results are the one-machine run's */
    for (int i = 0; i < NJOBS; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "%d", i);
        refs[i] = reference(base, i < 2 ? sub[i] : NULL, test, synth, dt, tag);
    }
    for (size_t i = 0; i < n && n == NJOBS; i++) {
        json_t *got = json_loads(v[i].result_json, 0, NULL);
        CHECK(got && !json_object_get(got, "error"));
        if (got && refs[i]) same_result(got, refs[i], i == 2 ? "base" : "submission");
        if (i == 0 && got)
            CHECKF(!strcmp(json_string_value(json_object_get(got, "verdict")), "fine-tune"), "verdict %s",
                   json_string_value(json_object_get(got, "verdict")));
        json_decref(got);
    }
    tn_evals_free(v, n);

    /* a job whose URL signature is wrong: given back with the validator's
     * answer, nothing cached, claimable again only after the retry delay */
    json_t *bad = json_deep_copy(sigs);
    json_object_set_new(json_object_get(bad, thash), "sig", json_string(
        "0000000000000000000000000000000000000000000000000000000000000000"));
    char *cache2 = tn_sprintf("%s/cache-c", g_dir), *clog = tn_sprintf("%s/worker-c.log", g_dir);
    json_t *job = json_pack("{s:s, s:s, s:s, s:o, s:O, s:i, s:b}", "base", bhash, "test", thash, "synth", yhash,
                            "signatures", bad, "dataset_type", dt, "seq_len", 64, "base_only", 1);
    char *text = json_dumps(job, JSON_COMPACT);
    int64_t bad_id = 0;
    CHECK(tn_store_eval_enqueue(s, task, 99, text, tn_wall_ms(), &bad_id) == 0);
    char *cargs[] = {"worker", "--store", store_url, "--validator", g_v.url, "--key", bkey, "--cache-dir", cache2,
                     "--lease-s", "3", "--once", NULL};
    pid_t c = tn_t_spawn_tuna(NULL, cargs, clog, NULL);
    CHECK(c > 0 && tn_spawn_wait(c, &end) == 0 && end.code == 0);
    tn_eval e;
    CHECK(tn_store_eval_get(s, bad_id, &e) == 0);
    CHECKF(e.state == TN_EVAL_QUEUED && e.attempts == 1 && e.error && strstr(e.error, "bad URL signature"),
           "%s, %lld attempts: %s", tn_eval_state_name(e.state), (long long)e.attempts, e.error ? e.error : "-");
    tn_eval_clear(&e);
    char *cached = tn_sprintf("%s/blobs/%.2s/%s", cache2, thash, thash + 2);
    CHECK(!tn_file_exists(cached));
    free(cached);
    free(text);
    json_decref(job);
    free(cache2);
    free(clog);
out:
    if (a > 0) kill(a, SIGKILL), waitpid(a, NULL, 0);
    if (b > 0) kill(b, SIGKILL), waitpid(b, NULL, 0);
    if (g_v.pid > 0) CHECK(tn_t_validator_stop(&g_v, SIGTERM) == 0);
    tn_store_close(s);
    tn_blobs_close(blobs);
    for (int i = 0; i < NJOBS; i++) json_decref(refs[i]);
    json_decref(sigs);
    json_decref(bman);
    json_decref(sman[0]);
    json_decref(sman[1]);
    json_decref(dt);
    free(vdir), free(vlog), free(base), free(sub[0]), free(sub[1]), free(test), free(synth), free(src);
    free(alog), free(blog), free(akey), free(bkey), free(acache), free(bcache), free(store_url);
}

TEST(partial_download_cleaned) {
    char *cache = tn_sprintf("%s/cache-partial", tn_t_tmpdir()), *log = tn_sprintf("%s/partial.log", tn_t_tmpdir());
    char *key = tn_sprintf("%s/partial.key", tn_t_tmpdir()), *store_url = db_path("partial.db");
    char *tmp = tn_sprintf("%s/blobs/tmp", cache);
    tn_keypair k;
    CHECK(tn_keypair_generate(&k) == 0 && tn_keypair_save(&k, key, 1) == 0 && tn_mkdir_p(tmp) == 0);
    /* a pid that is gone: a child that exited and was reaped */
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char *gone = tn_sprintf("%s/put-%d-download-%s", tmp, (int)dead, "ab");
    char *live = tn_sprintf("%s/put-%d-download-%s", tmp, (int)getpid(), "cd");
    CHECK(tn_write_file_atomic(gone, "partial", 7) == 0 && tn_write_file_atomic(live, "partial", 7) == 0);
    tn_store *s = open_db(store_url); /* the schema, and an empty queue */
    tn_store_close(s);
    char *args[] = {"worker", "--store", store_url, "--validator", "http://127.0.0.1:9", "--key", key, "--cache-dir",
                    cache, "--once", NULL};
    int pid = tn_t_spawn_tuna(NULL, args, log, NULL);
    tn_spawn_end end;
    CHECKF(pid > 0 && tn_spawn_wait(pid, &end) == 0 && end.code == 0, "the worker failed (see %s)", log);
    CHECKF(!tn_file_exists(gone), "%s is still there", gone);
    CHECK(tn_file_exists(live));
    free(cache), free(log), free(key), free(store_url), free(tmp), free(gone), free(live);
}

static const sb_case backend_cases[] = {SB_CASE(partial_download_cleaned), SB_CASE(two_workers_one_killed)};

int main(void) {
    sb_run_both(backend_cases, 2);
    return tn_test_summary("worker");
}
