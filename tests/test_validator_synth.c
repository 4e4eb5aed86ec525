/* test_validator_synth.c - a real validator making its synthetic sets through
 * OpenAI-compatible endpoints (synth.source llm, src/validator/synthset.h).
 *
 * One validator process, one stand-in miner that accepts every task, a
 * 60-row alpaca dataset on stories260K (6 synthetic-source rows), tasks of
 * 3 seconds, one after another with other settings:
 *   1. synth.source llm at an endpoint in this process that writes a new row
 *      (the prompt's first example with new values, same keys) after a
 *      200 ms pause; the validator is killed (SIGKILL) once two requests have
 *      arrived and restarted. The synthetic set then holds 6 rows, each one
 *      the endpoint wrote, with the dataset's columns; no request body was
 *      sent twice (the restart replayed the cached replies: same seed, same
 *      prompts); the bearer key came from synth.key_file.
 *   2. synth.url at `tuna serve` (stories260K): the prompt, three alpaca
 *      rows, is longer than the model's 512 positions, so the server refuses
 *      every try (HTTP 400); with synth.fallback unset the task fails with
 *      that reason in its failure_reason, and nothing is cached. (A reply
 *      without JSON from the same server: tests/test_serve.c.)
 *   3. the endpoint down (serve stopped) with synth.fallback builtin: the
 *      task goes on to evaluating and the log says which generator made the
 *      set and why.
 *   4. synth.source pool with synth.pool.alpaca: 6 of the dataset's rows and
 *      4 others; the synthetic set is the 4 others.
 * Needs ../shared/data (stories260K, alpaca_en_demo.json). */
#include "harness.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/mem.h"
#include "base/spawn.h"
#include "data/rows.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "net/keys.h"
#include "net/sign.h"

#include <dirent.h>
#include <sodium.h>

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_tmp[400], g_vdir[512], g_url[256], g_admin_pub[65], g_log[600];
static tn_keypair g_admin;
static tn_t_validator g_v;
static const char *s0(const char *s) { return s ? s : "-"; }

/* An instruct row's prompt side, instruction and input together (heap
 * string): the task's secret format may swap the two columns. */
static char *prompt_of(const json_t *row) {
    const char *ins = json_string_value(json_object_get(row, "instruction"));
    const char *in = json_string_value(json_object_get(row, "input"));
    return ins && in ? tn_sprintf("%s\n%s", ins, in) : NULL;
}

/* The names in dir (the cache's files: sha256 of a request body + ".txt"). */
static int list_dir(const char *dir, char names[][80], int cap) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < cap)
        if (strstr(e->d_name, ".txt")) snprintf(names[n++], 80, "%.79s", e->d_name);
    if (d) closedir(d);
    return n;
}

static long admin(const char *path, json_t *body) { return tn_t_post_signed(&g_admin, g_url, path, body); }

static int set(const char *key, const char *value) {
    long st = admin("/v1/admin/settings", json_pack("{s:s, s:s}", "key", key, "value", value));
    return st >= 200 && st < 300 ? 0 : -1;
}

static void h_start(tn_http_req *r, void *ud) {
    (void)ud;
    tn_http_reply_json(r, 202, json_pack("{s:b}", "accepted", 1));
}

static int start_validator(void) {
    char *args[] = {"--admin-key", g_admin_pub, "--offer-timeout", "2000", "--seq-len", "64", NULL};
    if (tn_t_validator_start(&g_v, g_vdir, g_log, args, 60) != 0) return -1;
    snprintf(g_url, sizeof g_url, "%s", g_v.url);
    return 0;
}

/* ---- the endpoint that writes rows ------------------------------------ */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_requests, g_repeats, g_bad_key;
static uint64_t g_seen[256];
static char g_cached[16][80]; /* cache files when the validator was killed */
static int g_ncached, g_paid_twice;

static void fake_llm(tn_http_req *r, void *ud) {
    (void)ud;
    const char *auth = tn_http_header(r, "Authorization");
    uint64_t h = tn_fnv1a(TN_FNV_OFFSET, r->body, r->body_len);
    unsigned char sha[TN_SHA256_BYTES];
    char name[80];
    tn_sha256(r->body, r->body_len, sha);
    sodium_bin2hex(name, sizeof name, sha, sizeof sha);
    strcat(name, ".txt");
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < g_ncached; i++) g_paid_twice += !strcmp(g_cached[i], name);
    int k = g_requests++;
    for (int i = 0; i < k && i < 256; i++) g_repeats += g_seen[i] == h;
    if (k < 256) g_seen[k] = h;
    g_bad_key += !auth || strcmp(auth, "Bearer sk-synth-test") != 0;
    pthread_mutex_unlock(&g_mu);
    usleep(200000);
    json_t *req = json_loadb(r->body, r->body_len, 0, NULL);
    const char *prompt = json_string_value(json_object_get(json_array_get(json_object_get(req, "messages"), 1), "content"));
    const char *a = prompt ? strchr(prompt, '{') : NULL, *nl = a ? strchr(a, '\n') : NULL;
    json_t *ex = a && nl ? json_loadb(a, (size_t)(nl - a), 0, NULL) : NULL;
    const char *key;
    json_t *v;
    json_object_foreach(ex, key, v) {
        char *s = tn_sprintf("fresh %llx %s", (unsigned long long)h, key);
        json_object_set_new(ex, key, json_string(s));
        free(s);
    }
    char *row = ex ? json_dumps(ex, JSON_COMPACT) : tn_strdup("no example found");
    tn_http_reply_json(r, 200, json_pack("{s:[{s:{s:s, s:s}}]}", "choices", "message", "role", "assistant", "content",
                                         row));
    free(row);
    json_decref(ex);
    json_decref(req);
}

/* ---- tasks ------------------------------------------------------------- */

static json_t *task_view(int id) {
    char p[64];
    snprintf(p, sizeof p, "/v1/tasks/%d", id);
    return tn_t_get_json(g_url, p);
}

/* Waits until task id's state is one of `states` (comma-separated). */
static json_t *wait_state(int id, const char *states, double limit_s) {
    double t0 = tn_now();
    json_t *t = NULL;
    while (tn_now() - t0 < limit_s) {
        json_decref(t);
        t = task_view(id);
        const char *st = t ? json_string_value(json_object_get(t, "state")) : NULL;
        if (st && strstr(states, st)) return t;
        usleep(100000);
    }
    return t;
}

static int new_task(void) {
    return admin("/v1/admin/tasks", json_pack("{s:s, s:s, s:f}", "model", "stories260K", "dataset", "alpaca", "minutes",
                                              0.05)) == 201
               ? 0
               : -1;
}

static int log_has(const char *needle) {
    char *s = tn_read_file(g_log, NULL);
    int yes = s && strstr(s, needle);
    free(s);
    return yes;
}

static pid_t start_serve(const char *model, char *url, size_t cap) {
    char *ready = tn_sprintf("%s/serve.json", g_tmp), *log = tn_sprintf("%s/serve.log", g_tmp);
    char *argv[] = {(char *)tn_t_tuna(), "serve", "--model", (char *)model, "--chat-template", "chatml",
                    "--listen", "127.0.0.1:0", "--ready-file", ready, "--max-tokens", "24", NULL};
    tn_spawn_opts so = {.out_path = log, .err_path = log};
    pid_t pid = 0;
    json_t *j = NULL;
    if (tn_spawn(argv, &so, &pid) == 0)
        for (int i = 0; i < 600 && !(j = json_load_file(ready, 0, NULL)); i++) usleep(50000);
    if (j) snprintf(url, cap, "%s/v1", json_string_value(json_object_get(j, "url")));
    json_decref(j);
    free(ready);
    free(log);
    return j ? pid : -1;
}

TEST(synthetic_sets_from_endpoints) {
    const char *data = tn_t_shared_data();
    if (!data) SKIP("../shared/data not available");
    snprintf(g_tmp, sizeof g_tmp, "%s/vs", tn_t_tmpdir());
    snprintf(g_vdir, sizeof g_vdir, "%s/validator", g_tmp);
    snprintf(g_log, sizeof g_log, "%s/validator.log", g_tmp);
    CHECK(tn_mkdir_p(g_tmp) == 0);
    tn_crypto_init();
    tn_keypair_generate(&g_admin);
    snprintf(g_admin_pub, sizeof g_admin_pub, "%s", g_admin.id);
    char *base = tn_sprintf("%s/stories260K", g_tmp), *ds = tn_sprintf("%s/alpaca.jsonl", g_tmp);
    char *src = tn_sprintf("%s/datasets/alpaca_en_demo.json", data), *keyf = tn_sprintf("%s/llm.key", g_tmp);
    CHECK(tn_t_stories260k(base) == 0);
    json_t *all = NULL;
    CHECK(tn_rows_load_all(src, TN_ROWS_AUTO, &all) == 0);
    FILE *f = fopen(ds, "w");
    for (size_t i = 0; f && i < 60 && i < json_array_size(all); i++) {
        char *s = json_dumps(json_array_get(all, i), JSON_COMPACT);
        fprintf(f, "%s\n", s);
        free(s);
    }
    if (f) fclose(f);
    json_decref(all);
    CHECK(tn_write_file_atomic(keyf, "sk-synth-test\n", 14) == 0);

    tn_http_server_opts so = {0};
    tn_http_server *llm = tn_http_server_new(&so);
    tn_http_route rt = {"POST", "/v1/chat/completions", TN_ROUTE_EXACT, 0, NULL, fake_llm, NULL};
    CHECK(llm && tn_http_server_route(llm, &rt) == 0 && tn_http_server_start(llm) == 0);
    char llm_url[128];
    snprintf(llm_url, sizeof llm_url, "http://127.0.0.1:%d/v1/", tn_http_server_port(llm));

    tn_http_server *msrv = NULL;
    tn_verifier *mver = NULL;
    tn_keypair mk;
    tn_keypair_generate(&mk);
    if (start_validator()) {
        CHECKF(0, "the validator did not start (see %s)", g_log);
        goto out;
    }
    CHECK(tn_t_stub_miner_start(&msrv, &mver, g_v.public_key, tn_t_accept_offer, h_start, NULL) == 0);
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", tn_http_server_port(msrv));
    CHECK(admin("/v1/admin/miners", json_pack("{s:s, s:s, s:s, s:s}", "name", "m0", "owner", "o0", "endpoint", ep,
                                              "public_key", mk.id)) == 201);
    CHECK(admin("/v1/admin/models", json_pack("{s:s, s:s}", "name", "stories260K", "path", base)) == 201);
    CHECK(admin("/v1/admin/datasets", json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "name", "alpaca", "path", ds,
                                                "dataset_type", "kind", "instruct", "field_instruction", "instruction",
                                                "field_input", "input", "field_output", "output")) == 201);

    /* 1. the row-writing endpoint, with a crash in the middle */
    CHECK(set("synth.source", "llm") == 0 && set("synth.url", llm_url) == 0 && set("synth.model", "writer") == 0 &&
          set("synth.key_file", keyf) == 0);
    CHECK(new_task() == 0);
    char *cache1 = tn_sprintf("%s/tasks/1/synth_cache", g_vdir);
    char names[16][80];
    double t0 = tn_now();
    while (list_dir(cache1, names, 16) < 2 && tn_now() - t0 < 120) usleep(20000);
    tn_t_validator_stop(&g_v, SIGKILL);
    pthread_mutex_lock(&g_mu);
    g_ncached = list_dir(cache1, g_cached, 16);
    int before = g_requests;
    pthread_mutex_unlock(&g_mu);
    free(cache1);
    CHECKF(g_ncached >= 2 && g_ncached < 6, "%d replies cached when the validator was killed (see %s)", g_ncached, g_log);
    CHECK(start_validator() == 0);
    json_t *t = wait_state(1, "evaluating,scored,failed", 120);
    const char *st = json_string_value(json_object_get(t, "state"));
    CHECKF(st && strcmp(st, "failed"), "task 1: %s: %s", st ? st : "-",
           s0(json_string_value(json_object_get(t, "failure_reason"))));
    json_decref(t);
    char *synth = tn_sprintf("%s/tasks/1/synth.jsonl", g_vdir);
    json_t *rows = NULL;
    CHECK(tn_rows_load_all(synth, TN_ROWS_JSONL, &rows) == 0);
    CHECKF(json_array_size(rows) == 6, "%zu synthetic rows", json_array_size(rows));
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        CHECK(json_object_size(row) == 3);
        /* in the task's secret format (judge/transform.h): the prompt
         * wrapped around a marker, perhaps swapped into the input column;
         * the answer as it came */
        char *prompt = prompt_of(row);
        const char *out = json_string_value(json_object_get(row, "output"));
        CHECKF(prompt && strstr(prompt, "fresh ") && out && strstr(out, " output"), "%s", s0(prompt));
        CHECK(json_is_string(json_object_get(row, "input")));
        free(prompt);
    }
    json_decref(rows);
    free(synth);
    /* a cached reply is never paid for again; only the request in flight at
     * the kill (its reply never arrived) may be sent twice */
    CHECKF(g_paid_twice == 0, "%d cached request(s) sent again after the restart", g_paid_twice);
    CHECKF(g_requests - before == 6 - g_ncached, "%d requests after the restart, %d replies were cached",
           g_requests - before, g_ncached);
    CHECK(g_repeats <= 1);
    CHECK(g_bad_key == 0);
    CHECK(log_has("synthetic set: 6 rows from synth.source llm"));

    /* 2. tuna serve on stories260K: no JSON, the task fails with why */
    char serve_url[200];
    pid_t serve = start_serve(base, serve_url, sizeof serve_url);
    CHECK(serve > 0);
    CHECK(set("synth.url", serve_url) == 0 && set("synth.model", "stories260K") == 0 && set("synth.max_tries", "2") == 0);
    CHECK(new_task() == 0);
    t = wait_state(2, "evaluating,scored,failed", 180);
    st = json_string_value(json_object_get(t, "state"));
    const char *why = json_string_value(json_object_get(t, "failure_reason"));
    CHECKF(st && !strcmp(st, "failed") && why && strstr(why, "synth.source llm") && strstr(why, "2 tries failed") &&
               strstr(why, "HTTP 400") && strstr(why, "context is 512"),
           "task 2: %s: %s", st ? st : "-", why ? why : "-");
    json_decref(t);
    char *cache = tn_sprintf("%s/tasks/2/synth_cache", g_vdir);
    CHECK(list_dir(cache, names, 16) == 0); /* refusals are not cached: a restart asks again */
    free(cache);

    /* 3. the endpoint down, fallback builtin */
    if (serve > 0) {
        kill(serve, SIGTERM);
        tn_spawn_end e;
        tn_spawn_wait(serve, &e);
    }
    CHECK(set("synth.fallback", "builtin") == 0);
    CHECK(new_task() == 0);
    t = wait_state(3, "evaluating,scored,failed", 180);
    st = json_string_value(json_object_get(t, "state"));
    CHECKF(st && strcmp(st, "failed"), "task 3: %s: %s", st ? st : "-",
           s0(json_string_value(json_object_get(t, "failure_reason"))));
    json_decref(t);
    CHECKF(log_has("built-in generator (synth.fallback), as synth.source llm failed") && log_has("connection refused"),
           "see %s", g_log);

    /* 4. synth.source pool: a pool of 6 of the dataset's own rows and 4 new
     * ones; the synthetic set is the 4 new ones */
    char *pool = tn_sprintf("%s/pool.jsonl", g_tmp);
    FILE *pf = fopen(pool, "w");
    json_t *dsrows = NULL;
    CHECK(tn_rows_load_all(ds, TN_ROWS_JSONL, &dsrows) == 0);
    for (int k = 0; pf && k < 10; k++) {
        json_t *r = k < 6 ? json_incref(json_array_get(dsrows, (size_t)k * 7))
                          : json_pack("{s:s, s:s, s:s}", "instruction", "Name a pool fruit.", "input", "", "output",
                                      k == 6 ? "apple" : k == 7 ? "pear" : k == 8 ? "plum" : "fig");
        char *line = json_dumps(r, JSON_COMPACT);
        fprintf(pf, "%s\n", line);
        free(line);
        json_decref(r);
    }
    if (pf) fclose(pf);
    json_decref(dsrows);
    CHECK(set("synth.source", "pool") == 0 && set("synth.pool.alpaca", pool) == 0 && set("synth.fallback", "none") == 0);
    CHECK(new_task() == 0);
    t = wait_state(4, "evaluating,scored,failed", 180);
    st = json_string_value(json_object_get(t, "state"));
    CHECKF(st && strcmp(st, "failed"), "task 4: %s: %s", s0(st), s0(json_string_value(json_object_get(t, "failure_reason"))));
    json_decref(t);
    char *synth4 = tn_sprintf("%s/tasks/4/synth.jsonl", g_vdir);
    rows = NULL;
    CHECK(tn_rows_load_all(synth4, TN_ROWS_JSONL, &rows) == 0);
    CHECKF(json_array_size(rows) == 4, "%zu rows from the pool", json_array_size(rows));
    json_array_foreach(rows, i, row) {
        char *prompt = prompt_of(row);
        CHECKF(prompt && strstr(prompt, "Name a pool fruit."), "%s", s0(prompt));
        free(prompt);
    }
    json_decref(rows);
    free(synth4);
    free(pool);
out:
    if (g_v.pid > 0) tn_t_validator_stop(&g_v, SIGTERM);
    tn_http_server_free(llm);
    tn_http_server_free(msrv);
    tn_verifier_free(mver);
    free(base);
    free(ds);
    free(src);
    free(keyf);
}

int main(void) {
    RUN(synthetic_sets_from_endpoints);
    return tn_test_summary("validator_synth");
}
