/* test_dashboard.c - the web dashboard, in a real browser.
 *
 * An in-process tn_http_server serves the dashboard (v_dashboard, the
 * embedded web/ files) and canned JSON for the /v1 routes: a small scored
 * competition (3 tasks: two scored, one training; 5 miners of 4 owners, some
 * flagged, one named <script>alert(1)</script> and one strategy note that is
 * an <img onerror> payload). Headless Chromium (/usr/bin/chromium, or
 * $TUNA_CHROMIUM) loads the page, runs app.js with a virtual-time budget and
 * dumps the DOM; the checks read that DOM: leaderboard rows in rank order,
 * every flag reason shown, the payloads shown as text and never turned into
 * elements. A screenshot is kept as an artifact:
 * $TUNA_ARTIFACTS/dashboard.png (default build/artifacts/), with the DOM
 * next to it (dashboard-dom.html). Without Chromium the browser test SKIPs.
 */
#include "harness.h"

#include "net/http_server.h"
#include "validator/dashboard.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/clock.h"
#include "base/mem.h"
#include "base/spawn.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define XSS_NAME "<script>alert(1)</script>"
#define XSS_NOTE "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\"> 3 epochs, lr 2e-4"
#define XSS_MSG "</td><script>alert(2)</script>busy"

/* ---- canned competition ------------------------------------------------------------------ */

static tn_http_server *g_srv;
static char g_base[64];
static json_t *g_tasks, *g_detail[3], *g_lb, *g_flags, *g_miners, *g_report;
static int64_t g_now;

static json_t *num(double x) { return x < 0 ? json_null() : json_real(x); }

static json_t *flag(const char *rule, const char *reason) { return json_pack("{s:s, s:s}", "rule", rule, "reason", reason); }

/* status: valid | invalid | an offer status; losses/score < 0: null */
static json_t *sub(const char *miner, const char *owner, const char *status, const char *offer, double test,
                   double synth, double score, const char *reason, const char *strategy, const char *message,
                   json_t *flags) {
    json_t *s = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s?, s:o, s:o, s:o, s:o, s:o}", "miner", miner, "owner", owner,
                          "strategy", strategy, "status", status, "offer", offer, "message", message, "test_loss",
                          num(test), "synth_loss", num(synth), "score", num(score), "quality",
                          num(score < 0 ? -1 : score / 2), "flags", flags ? flags : json_array());
    if (reason) json_object_set_new(s, "reason", json_string(reason));
    if (test >= 0) {
        json_object_set_new(s, "received_at", json_integer(g_now - 40 * 60000));
        json_object_set_new(s, "upload", json_pack("{s:s, s:i, s:i, s:i}", "kind", "full", "uploads", 1, "files", 2,
                                                   "bytes", 1572864));
    }
    return s;
}

/* The noise-aware numbers of a valid row (views.c): its weighted loss, its
 * interval (lo < 0: none, as for results scored before per-row losses) and
 * the miner it is tied with (NULL: none). */
static json_t *weighted(json_t *s, double w, double lo, double hi, const char *tied_with) {
    json_object_set_new(s, "weighted_loss", json_real(w));
    if (lo >= 0) {
        json_object_set_new(s, "interval", json_pack("[f, f]", lo, hi));
        json_object_set_new(s, "confidence", json_real(0.95));
        json_object_set_new(s, "effective_loss", json_real(w));
    }
    if (tied_with) json_object_set_new(s, "tied_with", json_string(tied_with));
    return s;
}

static json_t *task(int id, const char *model, const char *dataset, const char *state, int64_t created,
                    int64_t deadline) {
    return json_pack("{s:i, s:s, s:s?, s:s, s:n, s:I, s:I, s:f}", "id", id, "model", model, "dataset", dataset, "state",
                     state, "failure_reason", "created_at", (json_int_t)created, "deadline", (json_int_t)deadline,
                     "minutes", 20.0);
}

/* reasons the checks look for */
static const char *R_DUP = "content hash equals alice-fast's submission for task 1 (uploaded 41 s earlier)";
static const char *R_BASE = "untouched base: cosine similarity 1.000000 and relative distance 0 to the base weights";
static const char *R_LEAK = "test loss 0.4100 vs synthetic 3.0200: ratio 7.4x the task's median (test-set hunting?)";
static const char *R_LATE = "upload attempted 12.5 s after the deadline (refused)";

/* The public report as the validator builds it (views.c): per owner, per
 * miner, each task's row with the task's fields and "verdict" for "status";
 * the dataset of the training task stays null. */
static void build_report(const char *const *names, const char *const *owners, int n) {
    json_t *by_owner = json_object();
    for (int i = 0; i < n; i++) {
        json_t *o = json_object_get(by_owner, owners[i]);
        if (!o) json_object_set_new(by_owner, owners[i], o = json_pack("{s:s, s:[]}", "owner", owners[i], "miners"));
        json_t *subs = json_array();
        for (int t = 0; t < 3; t++) {
            size_t k;
            json_t *x;
            json_array_foreach(json_object_get(g_detail[t], "submissions"), k, x) {
                if (strcmp(json_string_value(json_object_get(x, "miner")), names[i])) continue;
                json_t *row = json_deep_copy(x);
                json_object_set(row, "verdict", json_object_get(x, "status"));
                json_object_del(row, "status");
                json_object_del(row, "owner");
                json_object_set(row, "task_id", json_object_get(g_detail[t], "id"));
                json_object_set(row, "task_state", json_object_get(g_detail[t], "state"));
                json_object_set(row, "model", json_object_get(g_detail[t], "model"));
                json_object_set(row, "dataset", json_object_get(g_detail[t], "dataset"));
                if (!json_object_get(row, "dataset")) json_object_set_new(row, "dataset", json_null());
                json_array_insert_new(subs, 0, row); /* newest task first: the page sorts them */
            }
        }
        json_array_append_new(json_object_get(o, "miners"), json_pack("{s:s, s:b, s:o}", "miner", names[i], "enabled",
                                                                      1, "submissions", subs));
    }
    /* owners by name, as the validator sends them */
    g_report = json_pack("{s:I, s:[O,O,O,O]}", "generated_at", (json_int_t)g_now, "participants",
                         json_object_get(by_owner, "alice"), json_object_get(by_owner, "bob"),
                         json_object_get(by_owner, "eve"), json_object_get(by_owner, "mallory"));
    json_decref(by_owner);
}

static void build_competition(void) {
    g_now = tn_wall_ms();
    int64_t m = 60000;
    json_t *t1 = task(1, "llama-tiny-15M", "alpaca-mini", "scored", g_now - 50 * m, g_now - 30 * m);
    json_t *t2 = task(2, "gpt2-small", "dolly-mini", "scored", g_now - 28 * m, g_now - 8 * m);
    json_t *t3 = task(3, "llama-tiny-15M", NULL, "training", g_now - 3 * m, g_now + 9 * m + 30000);
    /* the list carries copies without submissions, as the API's list does */
    g_tasks = json_pack("{s:[o,o,o]}", "tasks", json_copy(t1), json_copy(t2), json_copy(t3));

    json_object_set_new(t1, "submissions", json_pack("[o,o,o,o,o]",
        weighted(sub("alice-fast", "alice", "valid", "evaluated", 2.1034, 2.2517, 1.6, NULL, "full fine-tune, 2 epochs, cosine lr", NULL, NULL),
                 2.14789, 2.11021, 2.18573, NULL),
        weighted(sub("alice-lora", "alice", "valid", "evaluated", 2.2981, 2.4102, 1.25, NULL, "LoRA r=16 on q,v", NULL, NULL),
                 2.33173, 2.29314, 2.37102, NULL),
        weighted(sub("bob-1", "bob", "valid", "evaluated", 2.4127, 2.5360, 1.25, NULL, "LoRA r=8, 1 epoch", NULL, NULL),
                 2.44969, 2.40903, 2.49012, "alice-lora"),
        weighted(sub(XSS_NAME, "eve", "valid", "evaluated", 2.6545, 2.7012, 0.9, NULL, XSS_NOTE, NULL, NULL),
                 2.66851, 2.62034, 2.71703, NULL),
        sub("mallory-copy", "mallory", "invalid", "evaluated", 2.1034, 2.2517, 0, "duplicate", "resubmitted a friend's model",
            NULL, json_pack("[o]", flag("duplicate", R_DUP)))));
    json_object_set_new(t2, "submissions", json_pack("[o,o,o,o,o]",
        weighted(sub("alice-fast", "alice", "valid", "evaluated", 3.0113, 3.1904, 3.0, NULL, "full fine-tune, 1 epoch", NULL, NULL),
                 3.06503, -1, -1, NULL),
        sub("alice-lora", "alice", "rejected", "rejected", -1, -1, -1, NULL, NULL, "gpt2 is not on my list", NULL),
        sub("bob-1", "bob", "invalid", "evaluated", 3.6020, 3.6650, 0, "not a fine-tune", "submitted the base as is", NULL,
            json_pack("[o]", flag("provenance", R_BASE))),
        sub(XSS_NAME, "eve", "invalid", "evaluated", 0.4100, 3.0200, 0, "leak", XSS_NOTE, NULL,
            json_pack("[o]", flag("leak", R_LEAK))),
        sub("mallory-copy", "mallory", "timeout", "timeout", -1, -1, -1, NULL, NULL, NULL,
            json_pack("[o]", flag("late", R_LATE)))));
    json_object_set_new(t3, "submissions", json_pack("[o,o,o,o,o]",
        sub("alice-fast", "alice", "started", "started", -1, -1, -1, NULL, NULL, "accepted: slot 1 of 2", NULL),
        sub("alice-lora", "alice", "accepted", "accepted", -1, -1, -1, NULL, NULL, "queued", NULL),
        sub("bob-1", "bob", "started", "started", -1, -1, -1, NULL, NULL, NULL, NULL),
        sub(XSS_NAME, "eve", "rejected", "rejected", -1, -1, -1, NULL, NULL, XSS_MSG, NULL),
        sub("mallory-copy", "mallory", "offered", "offered", -1, -1, -1, NULL, NULL, NULL, NULL)));
    g_detail[0] = t1;
    g_detail[1] = t2;
    g_detail[2] = t3;

    /* rows deliberately not in rank order: the page sorts by rank */
#define ROW(id, owner, rank, prod, off, acc, rej, val, inv)                                                          \
    json_pack("{s:s, s:s?, s:i, s:f, s:i, s:i, s:i, s:i, s:i}", "id", id, "owner", owner, "rank", rank, "product", \
              prod, "offers", off, "accepted", acc, "rejected", rej, "valid", val, "invalid", inv)
    g_lb = json_pack("{s:[o,o,o,o,o], s:[o,o,o,o]}", "leaderboard",
                     ROW("bob-1", "bob", 3, 0.12, 2, 2, 0, 1, 1), ROW(XSS_NAME, "eve", 5, 0.09, 2, 2, 0, 1, 1),
                     ROW("alice-fast", "alice", 1, 4.8, 2, 2, 0, 2, 0), ROW("mallory-copy", "mallory", 4, 0.1, 2, 1, 1, 0, 1),
                     ROW("alice-lora", "alice", 2, 1.3, 2, 1, 1, 1, 0), "owners",
                     ROW("eve", NULL, 4, 0.09, 2, 2, 0, 1, 1), ROW("alice", NULL, 1, 6.24, 4, 3, 1, 3, 0),
                     ROW("mallory", NULL, 3, 0.1, 2, 1, 1, 0, 1), ROW("bob", NULL, 2, 0.12, 2, 2, 0, 1, 1));
#undef ROW
    g_flags = json_pack("{s:[{s:i,s:i,s:s,s:s,s:s,s:s,s:I}, {s:i,s:i,s:s,s:s,s:s,s:s,s:I}, "
                        "{s:i,s:i,s:s,s:s,s:s,s:s,s:I}, {s:i,s:i,s:s,s:s,s:s,s:s,s:I}]}",
                        "flags", "id", 1, "task_id", 1, "miner", "mallory-copy", "owner", "mallory", "rule", "duplicate",
                        "reason", R_DUP, "created_at", (json_int_t)(g_now - 29 * 60000), "id", 2, "task_id", 2, "miner",
                        "mallory-copy", "owner", "mallory", "rule", "late", "reason", R_LATE, "created_at",
                        (json_int_t)(g_now - 8 * 60000 + 12500), "id", 3, "task_id", 2, "miner", "bob-1", "owner", "bob",
                        "rule", "provenance", "reason", R_BASE, "created_at", (json_int_t)(g_now - 7 * 60000), "id", 4,
                        "task_id", 2, "miner", XSS_NAME, "owner", "eve", "rule", "leak", "reason", R_LEAK, "created_at",
                        (json_int_t)(g_now - 7 * 60000 + 900));
    const char *names[] = {"alice-fast", "alice-lora", "bob-1", XSS_NAME, "mallory-copy"};
    const char *owners[] = {"alice", "alice", "bob", "eve", "mallory"};
    json_t *ms = json_array();
    for (int i = 0; i < 5; i++)
        json_array_append_new(ms, json_pack("{s:i, s:s, s:s, s:s, s:s, s:b}", "id", i + 1, "name", names[i], "owner",
                                            owners[i], "endpoint", "http://127.0.0.1:9000", "public_key",
                                            "ed25519:5f1d2c3b4a5968778695a4b3c2d1e0f1", "enabled", i != 4));
    g_miners = json_pack("{s:o}", "miners", ms);
    build_report(names, owners, 5);
}

static void h_json(tn_http_req *r, void *ud) { tn_http_reply_json(r, 200, json_incref((json_t *)ud)); }

static void h_health(tn_http_req *r, void *ud) {
    (void)ud;
    tn_http_reply_json(r, 200, json_pack("{s:s, s:s, s:I}", "status", "ok", "public_key", "ed25519:00", "time_ms",
                                         (json_int_t)tn_wall_ms()));
}

static void h_tasks(tn_http_req *r, void *ud) {
    (void)ud;
    const char *rest = r->path + strlen("/v1/tasks");
    if (!*rest) {
        tn_http_reply_json(r, 200, json_incref(g_tasks));
        return;
    }
    int id = rest[0] == '/' ? atoi(rest + 1) : 0;
    if (id < 1 || id > 3)
        tn_http_reply_error(r, 404, "no such task");
    else
        tn_http_reply_json(r, 200, json_incref(g_detail[id - 1]));
}

static int start_server(void) {
    build_competition();
    tn_http_server_opts o = {0};
    o.no_not_before = 1;
    g_srv = tn_http_server_new(&o);
    if (!g_srv) return -1;
    tn_http_route routes[] = {
        {"GET", "/v1/health", TN_ROUTE_EXACT, 0, NULL, h_health, NULL},
        {"GET", "/v1/miners", TN_ROUTE_EXACT, 0, NULL, h_json, g_miners},
        {"GET", "/v1/tasks", TN_ROUTE_PREFIX, 0, NULL, h_tasks, NULL},
        {"GET", "/v1/leaderboard", TN_ROUTE_EXACT, 0, NULL, h_json, g_lb},
        {"GET", "/v1/flags", TN_ROUTE_EXACT, 0, NULL, h_json, g_flags},
        {"GET", "/v1/report", TN_ROUTE_EXACT, 0, NULL, h_json, g_report},
        {"GET", "/", TN_ROUTE_PREFIX, 0, NULL, v_dashboard, NULL},
    };
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        if (tn_http_server_route(g_srv, &routes[i])) return -1;
    if (tn_http_server_start(g_srv)) return -1;
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", tn_http_server_port(g_srv));
    return 0;
}

/* ---- plain HTTP checks ------------------------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t len;
} membuf;

static size_t on_data(char *p, size_t sz, size_t n, void *ud) {
    membuf *m = ud;
    m->buf = tn_realloc(m->buf, m->len + sz * n + 1);
    memcpy(m->buf + m->len, p, sz * n);
    m->len += sz * n;
    m->buf[m->len] = 0;
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) { return on_data(p, sz, n, ud); }

/* GET base+path: status, body and the raw headers (caller frees both) */
static long get(const char *path, membuf *body, membuf *hdrs) {
    memset(body, 0, sizeof *body);
    memset(hdrs, 0, sizeof *hdrs);
    char url[256];
    snprintf(url, sizeof url, "%s%s", g_base, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (!body->buf) body->buf = tn_strdup("");
    if (!hdrs->buf) hdrs->buf = tn_strdup("");
    return status;
}

static int has_header(const membuf *h, const char *line) { return strcasestr(h->buf, line) != NULL; }

/* The embedded copy must equal web/ (run tools/embed_web after editing web/). */
TEST(assets_match_web_dir) {
    if (!tn_file_exists("web/index.html")) SKIP("web/ not found from the working directory (run from the repo root)");
    int n = 0;
    for (const v_web_asset *a = v_web_assets; a->path; a++, n++) {
        size_t len = 0;
        char *disk = tn_read_file(a->file, &len);
        CHECKF(disk != NULL, "%s: %s", a->file, tn_errmsg());
        CHECKF(disk && len == a->len && memcmp(disk, a->data, len) == 0,
               "%s differs from the embedded copy: run tools/embed_web", a->file);
        free(disk);
    }
    CHECK(n == 3);
    CHECK(v_web_asset_find("/") == v_web_asset_find("/index.html"));
    CHECK(v_web_asset_find("/nope.js") == NULL);
    CHECK(v_web_asset_find("/../src/x.c") == NULL);
}

TEST(serves_assets) {
    /* the embedded copy, whatever TUNA_WEB_DIR says (restored at the end) */
    const char *was = getenv("TUNA_WEB_DIR");
    char *old = was ? tn_strdup(was) : NULL;
    unsetenv("TUNA_WEB_DIR");
    membuf b, h;
    CHECK(get("/", &b, &h) == 200);
    CHECK(strstr(b.buf, "<title>tuna") != NULL);
    CHECK(has_header(&h, "content-type: text/html; charset=utf-8"));
    CHECK(has_header(&h, "content-security-policy: default-src 'none'; script-src 'self'"));
    CHECK(has_header(&h, "x-content-type-options: nosniff"));
    CHECK(has_header(&h, "cache-control: no-cache"));
    free(b.buf);
    free(h.buf);
    CHECK(get("/app.js", &b, &h) == 200);
    CHECK(has_header(&h, "content-type: text/javascript"));
    CHECK(b.len == v_web_asset_find("/app.js")->len);
    CHECK(strstr(b.buf, "innerHTML =") == NULL); /* strings go to the DOM as text only */
    free(b.buf);
    free(h.buf);
    CHECK(get("/style.css", &b, &h) == 200);
    CHECK(has_header(&h, "content-type: text/css"));
    free(b.buf);
    free(h.buf);
    CHECK(get("/nope.html", &b, &h) == 404);
    CHECK(strstr(b.buf, "\"error\"") && strstr(b.buf, "no such page"));
    free(b.buf);
    free(h.buf);

    /* TUNA_WEB_DIR: served from disk, read per request */
    char *dir = tn_path_join(tn_t_tmpdir(), "webdir");
    char *idx = tn_path_join(dir, "index.html");
    CHECK(tn_mkdir_p(dir) == 0);
    CHECK(tn_write_file_atomic(idx, "<p>from disk</p>", 16) == 0);
    setenv("TUNA_WEB_DIR", dir, 1);
    CHECK(get("/", &b, &h) == 200);
    CHECK(strcmp(b.buf, "<p>from disk</p>") == 0);
    free(b.buf);
    free(h.buf);
    CHECK(get("/app.js", &b, &h) == 404); /* not in that directory */
    free(b.buf);
    free(h.buf);
    unsetenv("TUNA_WEB_DIR");
    CHECK(get("/", &b, &h) == 200 && strstr(b.buf, "<title>tuna"));
    free(b.buf);
    free(h.buf);
    if (old) setenv("TUNA_WEB_DIR", old, 1); /* the browser test then loads that directory's files */
    free(old);
    free(idx);
    free(dir);
}

/* ---- the browser ---------------------------------------------------------------------------------- */

static const char *chromium_path(void) {
    const char *p = getenv("TUNA_CHROMIUM");
    if (p && *p) return access(p, X_OK) == 0 ? p : NULL;
    return access("/usr/bin/chromium", X_OK) == 0 ? "/usr/bin/chromium" : NULL;
}

/* Runs argv with stdout -> out_path, stderr -> err_path in its own process
 * group; kills the group after timeout_s. Returns the exit status, or -1. */
static int run_with_timeout(char *const argv[], const char *out_path, const char *err_path, int timeout_s) {
    tn_spawn_opts so = {.out_path = out_path, .err_path = err_path, .truncate = 1, .new_pgroup = 1};
    tn_spawn_watch w = {.timeout_s = timeout_s, .sig = SIGKILL};
    tn_spawn_end end = {.code = -1};
    pid_t pid;
    if (tn_spawn(argv, &so, &pid)) return -1;
    int rc = tn_spawn_supervise(pid, &w, &end);
    kill(-pid, SIGKILL); /* leftover helpers of this run only */
    if (end.timed_out) fprintf(stderr, "  chromium ran past %d s: killed\n", timeout_s);
    return rc || end.timed_out ? -1 : end.code;
}

/* text as Chromium serialises a text node / attribute value */
static char *html_escape(const char *s) {
    size_t n = strlen(s);
    char *o = tn_malloc(n * 6 + 1), *p = o;
    for (; *s; s++) {
        switch (*s) {
        case '&': p += sprintf(p, "&amp;"); break;
        case '<': p += sprintf(p, "&lt;"); break;
        case '>': p += sprintf(p, "&gt;"); break;
        default: *p++ = *s;
        }
    }
    *p = 0;
    return o;
}

static char *html_unescape(const char *s, size_t n) {
    char *o = tn_malloc(n + 1), *p = o;
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&#39;", '\''}, {"&apos;", '\''}};
    for (size_t i = 0; i < n;) {
        int done = 0;
        for (size_t k = 0; k < sizeof ents / sizeof *ents && !done; k++) {
            size_t el = strlen(ents[k].ent);
            if (i + el <= n && !strncmp(s + i, ents[k].ent, el)) {
                *p++ = ents[k].c;
                i += el;
                done = 1;
            }
        }
        if (!done) *p++ = s[i++];
    }
    *p = 0;
    return o;
}

/* The values of attribute `attr` ("data-miner") in dom, between the first
 * occurrence of `from` and the following `to`, in document order. */
static int attr_values(const char *dom, const char *from, const char *to, const char *attr, char **out, int cap) {
    const char *a = strstr(dom, from);
    if (!a) return -1;
    const char *b = strstr(a, to);
    if (!b) return -1;
    char pat[64];
    snprintf(pat, sizeof pat, " %s=\"", attr);
    int n = 0;
    for (const char *p = strstr(a, pat); p && p < b && n < cap; p = strstr(p, pat)) {
        p += strlen(pat);
        const char *e = strchr(p, '"');
        if (!e) break;
        out[n++] = html_unescape(p, (size_t)(e - p));
        p = e;
    }
    return n;
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static void check_order(const char *dom, const char *from, const char *attr, const char *const *want, int nwant) {
    char *got[16];
    int n = attr_values(dom, from, "</table>", attr, got, 16);
    CHECKF(n == nwant, "%s: %d rows with %s, expected %d", from, n, attr, nwant);
    for (int i = 0; i < n && i < nwant; i++) CHECKF(!strcmp(got[i], want[i]), "%s row %d: %s, expected %s", from, i + 1, got[i], want[i]);
    for (int i = 0; i < n; i++) free(got[i]);
}

/* The region of dom from `from` to the next `to` (heap copy), or "" */
static char *region(const char *dom, const char *from, const char *to) {
    const char *a = strstr(dom, from);
    const char *b = a ? strstr(a + strlen(from), to) : NULL;
    if (!a || !b) return tn_strdup("");
    return tn_strndup(a, (size_t)(b - a));
}

TEST(browser_renders_competition) {
    const char *chrome = chromium_path();
    if (!chrome)
        SKIP("no Chromium at /usr/bin/chromium (scripts/setup installs the Debian package; or set TUNA_CHROMIUM)");
    const char *art = getenv("TUNA_ARTIFACTS");
    if (!art || !*art) art = "build/artifacts";
    if (tn_mkdir_p(art)) {
        CHECKF(0, "cannot create the artifact directory %s", art);
        return;
    }
    char *png = tn_path_join(art, "dashboard.png");
    char *domfile = tn_path_join(art, "dashboard-dom.html");
    char *errfile = tn_path_join(tn_t_tmpdir(), "chromium.log");
    char *profile = tn_path_join(tn_t_tmpdir(), "chromium-profile");
    tn_mkdir_p(profile);
    unlink(png);
    char *a_profile = tn_sprintf("--user-data-dir=%s", profile);
    char *a_shot = tn_sprintf("--screenshot=%s", png);
    char *url = tn_sprintf("%s/", g_base);
    char *argv[] = {(char *)chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
                    "--enable-logging=stderr", "--v=0", a_profile, "--window-size=1280,3000",
                    "--virtual-time-budget=6000", "--dump-dom", a_shot, url, NULL};
    int64_t t0 = tn_wall_ms();
    int rc = run_with_timeout(argv, domfile, errfile, 45);
    tn_info("chromium: exit %d in %.1f s; DOM %s, screenshot %s", rc, (double)(tn_wall_ms() - t0) / 1000.0, domfile, png);
    size_t len = 0;
    char *dom = tn_read_file(domfile, &len);
    char *errlog = tn_read_file(errfile, NULL);
    CHECKF(rc == 0 && dom && len > 0, "chromium exit %d; its log (%s):\n%s", rc, errfile, errlog ? errlog : "(none)");
    if (!dom) dom = tn_strdup("");

    CHECKF(strstr(dom, "data-ready=\"1\""), "the page never finished a refresh (body data-ready != 1)");
    /* no script errors, no CSP violations */
    CHECKF(!errlog || (!strstr(errlog, "Uncaught") && !strstr(errlog, "Refused to") &&
                       !strstr(errlog, "Content Security Policy")),
           "script errors or CSP refusals on the console; chromium's log (%s):\n%s", errfile, errlog);

    /* leaderboards in rank order, whatever order the API sent */
    const char *miners[] = {"alice-fast", "alice-lora", "bob-1", "mallory-copy", XSS_NAME};
    const char *owners[] = {"alice", "bob", "mallory", "eve"};
    check_order(dom, "id=\"leaderboard-table\"", "data-miner", miners, 5);
    check_order(dom, "id=\"owners-table\"", "data-owner", owners, 4);
    char *lb = region(dom, "id=\"leaderboard-table\"", "</table>");
    CHECK(strstr(lb, "4.800") != NULL); /* alice-fast's product */
    free(lb);

    /* the tasks table: all three, newest first, a live countdown on the training one */
    const char *tasks[] = {"3", "2", "1"};
    check_order(dom, "id=\"tasks-table\"", "data-task", tasks, 3);
    char *tt = region(dom, "id=\"tasks-table\"", "</table>");
    const char *cd = strstr(tt, "class=\"countdown");
    cd = cd ? strchr(cd, '>') : NULL;
    CHECKF(cd && !strncmp(cd, ">9:", 3) && strstr(cd, " left</span>"), "no countdown like 9:2x left: %.40s",
           cd ? cd : "(none)");
    free(tt);

    /* each flagged miner's reason: in its task's table and in the flags list */
    const char *reasons[] = {R_DUP, R_BASE, R_LEAK, R_LATE};
    for (int i = 0; i < 4; i++) {
        char *esc = html_escape(reasons[i]);
        char *needle = tn_sprintf("class=\"flag-reason\">%s</span>", esc);
        CHECKF(count(dom, needle) == 3, "flag reason \"%s\" shown %d times (want 3: task table, flags list, report)",
               reasons[i], count(dom, needle));
        free(needle);
        free(esc);
    }
    char *flags = region(dom, "id=\"flags-table\"", "</table>");
    CHECK(count(flags, "<tr data-flag=") == 4);
    free(flags);

    /* per-task results: rows, losses, a chart per evaluated task, invalid ones marked */
    char *t1 = region(dom, "id=\"task-1\"", "</article>");
    CHECK(count(t1, "<tr data-miner=") == 5);
    CHECK(strstr(t1, ">2.1034<") && strstr(t1, ">2.2517<") && strstr(t1, ">1.600<"));
    CHECK(strstr(t1, "<svg class=\"loss-chart\"") != NULL);
    CHECK(count(t1, "class=\"miner invalid\"") == 1); /* mallory-copy */
    /* weighted losses with their intervals; bob-1 within noise of alice-lora */
    CHECK(strstr(t1, ">2.1479<span class=\"interval\"") != NULL);
    CHECK(strstr(t1, "> [2.1102, 2.1857]</span>") && strstr(t1, "> [2.4090, 2.4901]</span>"));
    CHECK(count(t1, "class=\"interval\"") == 4);
    CHECK(strstr(t1, "95% interval of the weighted loss") != NULL);
    CHECK(count(t1, "class=\"tie\"") == 1);
    const char *bob = strstr(t1, "<tr data-miner=\"bob-1\"");
    const char *tie = strstr(t1, ">= alice-lora</div>");
    CHECKF(bob && tie && tie > bob && !memmem(bob, (size_t)(tie - bob), "</tr>", 5), "the tie is not on bob-1's row");
    CHECK(strstr(t1, ">1.250<") != NULL);
    free(t1);
    char *t2 = region(dom, "id=\"task-2\"", "</article>");
    CHECK(count(t2, "class=\"miner invalid\"") == 2); /* bob-1, eve */
    CHECK(strstr(t2, "gpt2 is not on my list") != NULL);
    /* a result scored before per-row losses: the weighted loss, no interval */
    CHECK(strstr(t2, ">3.0650</td>") != NULL);
    CHECK(strstr(t2, "class=\"interval\"") == NULL);
    free(t2);
    char *t3 = region(dom, "id=\"task-3\"", "</article>");
    CHECK(strstr(t3, "<svg") == NULL); /* nothing evaluated yet */
    CHECK(count(t3, "<tr data-miner=") == 5);
    free(t3);

    /* the participants' report: owners in order, every offer of every miner,
     * the training task's dataset hidden, notes, verdicts, uploads */
    const char *rep_owners[] = {"alice", "bob", "eve", "mallory"};
    char *got_owners[16];
    int nown = attr_values(dom, "id=\"report\"", "</section>", "data-owner", got_owners, 16);
    CHECKF(nown == 4, "report: %d participants", nown);
    for (int i = 0; i < nown; i++) {
        CHECKF(i < 4 && !strcmp(got_owners[i], rep_owners[i]), "report participant %d: %s", i + 1, got_owners[i]);
        free(got_owners[i]);
    }
    char *rep = region(dom, "id=\"report\"", "</section>");
    CHECK(count(rep, "<tr data-miner=") == 15);
    CHECK(count(rep, "data-task=\"3\" data-verdict=") == 5);
    CHECKF(count(rep, ">hidden</span>") == 5, "hidden datasets in the report: %d", count(rep, ">hidden</span>"));
    CHECK(count(rep, ">alpaca-mini</td>") == 5 && count(rep, ">dolly-mini</td>") == 5);
    const char *af = strstr(rep, "<tr data-miner=\"alice-fast\" data-task=\"1\" data-verdict=\"valid\"");
    const char *af_end = af ? strstr(af, "</tr>") : NULL;
    size_t aflen = af && af_end ? (size_t)(af_end - af) : 0;
    const char *want_af[] = {">full fine-tune, 2 epochs, cosine lr</td>", ">2.1034<", ">1.600<", ">full · 2 files · 1.5 MiB</td>",
                             "href=\"#task-1\">#1</a> llama-tiny-15M</td>"};
    int af_ok = aflen > 0;
    for (size_t i = 0; i < sizeof want_af / sizeof *want_af; i++)
        af_ok = af_ok && memmem(af, aflen, want_af[i], strlen(want_af[i])) != NULL;
    CHECKF(af_ok,
           "alice-fast's task-1 row: %.*s", af && af_end ? (int)(af_end - af) : 0, af ? af : "");
    CHECK(strstr(rep, "data-miner=\"mallory-copy\" data-task=\"1\" data-verdict=\"invalid\"") != NULL);
    CHECK(count(rep, "class=\"tie\"") == 1);
    CHECK(strstr(rep, "&lt;img src=x onerror=") != NULL);
    free(rep);

    /* XSS: the payloads are text. The only <script> elements are the page's
     * own; no <img> element was created; the onerror marker never ran. */
    CHECKF(count(dom, "&lt;script&gt;alert(1)&lt;/script&gt;") >= 5, "the XSS miner name is not shown as text");
    CHECK(count(dom, "&lt;img src=x onerror=") >= 2);
    CHECK(strstr(dom, "&lt;/td&gt;&lt;script&gt;alert(2)&lt;/script&gt;busy") != NULL);
    CHECK(strstr(dom, "<script>alert") == NULL);
    CHECK(count(dom, "<script") == 1); /* app.js */
    CHECK(strstr(dom, "<img") == NULL);
    CHECK(strstr(dom, "data-pwned=\"1\"") == NULL);

    /* the screenshot */
    size_t plen = 0;
    char *pbytes = tn_read_file(png, &plen);
    CHECKF(pbytes && plen > 10000 && !memcmp(pbytes, "\x89PNG", 4), "no screenshot at %s", png);
    free(pbytes);

    free(dom);
    free(errlog);
    free(url);
    free(a_shot);
    free(a_profile);
    free(profile);
    free(errfile);
    free(domfile);
    free(png);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (start_server()) {
        fprintf(stderr, "cannot start the test server: %s\n", tn_errmsg());
        return 1;
    }
    RUN(assets_match_web_dir);
    RUN(serves_assets);
    RUN(browser_renders_competition);
    tn_http_server_free(g_srv);
    json_decref(g_tasks);
    for (int i = 0; i < 3; i++) json_decref(g_detail[i]);
    json_decref(g_lb);
    json_decref(g_flags);
    json_decref(g_miners);
    json_decref(g_report);
    curl_global_cleanup();
    return tn_test_summary("dashboard");
}
