/* test_competition_live.c - a competition that runs itself, with real
 * processes (issue 16, the proof of items 1 and 2).
 *
 * A `tuna validator` child (TUNA_BIN) runs a schedule of two phases in a
 * window of 65 s (cadence 5 s; phase 1: one task at a time, 6 s limits;
 * phase 2: up to 2 at once, 11 s limits: tasks outlive the cadence, so both
 * limits bind), offering each task to one miner at
 * a time (--pool 1) among three in-process stand-ins:
 *   taker   accepts (and never uploads: its submissions score as missing),
 *           except task 2, which it refuses: that task must fail with the
 *           pool exhausted
 *   refuser refuses every offer
 *   vanish  a listening socket that never answers (the offer times out)
 * The organiser's calls go through the real CLI (`tuna admin ... competition
 * load|show|pause|resume|end`). While it runs the test polls the public task
 * list (the concurrency limit of the phase holds at every poll), kills the
 * validator with SIGKILL mid-window and starts it again on the same data
 * directory, pauses and resumes, and ends the competition before its window
 * closes. Afterwards it reads the store (events, offers, slots) and checks:
 * each slot's task was created inside its slot, late only when the phase's
 * limit was reached; a slot without a task was full, paused, ended or the
 * validator was down; one task per slot; refused tasks were re-offered
 * (events) and a task failed only when the pool was exhausted. Needs
 * ../shared/data. */
#include "harness.h"
#include "net/http_client.h"
#include "store/store.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "base/spawn.h"
#include "data/rows.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CADENCE_MS 5000
#define UNTIL_S 20  /* phase 1: [start, start + 20 s) */
#define WINDOW_S 65 /* end = start + 65 s */
#define LIMIT1 1
#define LIMIT2 2
#define REFUSED_TASK 2
/* How long after room was made a slot's task may still come: the scheduler's
 * thread creates slots between stepping the tasks (offers that time out after
 * 1 s, evaluations), so a tick can take seconds on a loaded machine. */
#define TICK_SLACK_MS 3000 /* the taker refuses this one: every miner refuses it */

static char g_tmp[400], g_vdir[600], g_keyf[600], g_url[256];
static tn_keypair g_admin;
static tn_t_validator g_v;

/* ---- the miners ---- */

static void h_taker(tn_http_req *r, void *ud) {
    (void)ud;
    json_t *b = tn_http_body_json(r);
    int refuse = b && json_integer_value(json_object_get(b, "task_id")) == REFUSED_TASK;
    json_decref(b);
    tn_http_reply_json(r, 200, json_pack("{s:b, s:s}", "accepted", !refuse, "message", refuse ? "busy" : "ok"));
}

static void h_refuser(tn_http_req *r, void *ud) {
    (void)ud;
    tn_http_reply_json(r, 200, json_pack("{s:b, s:s}", "accepted", 0, "message", "no thanks"));
}

static void h_start(tn_http_req *r, void *ud) {
    (void)ud;
    tn_http_reply_json(r, 202, json_pack("{s:b}", "accepted", 1));
}

/* a socket that listens and never accepts: connections queue, nobody answers */
static int vanish_socket(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 64) ||
        getsockname(fd, (struct sockaddr *)&a, &len)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* ---- the validator and the CLI ---- */

static int start_validator(void) {
    char log[700], pub[65];
    snprintf(log, sizeof log, "%s/validator.log", g_tmp);
    snprintf(pub, sizeof pub, "%s", g_admin.id);
    char *args[] = {"--admin-key", pub, "--offer-timeout", "1000", "--pool", "1", "--seq-len", "256", NULL};
    if (tn_t_validator_start(&g_v, g_vdir, log, args, 30)) return -1;
    snprintf(g_url, sizeof g_url, "%s", g_v.url);
    return 0;
}

/* `tuna admin --url URL --key KEY competition ARGS...`: the exit code, its
 * stdout and stderr (heap) */
static int cli(const char *a1, const char *a2, char **out, char **err) {
    char op[700], ep[700];
    snprintf(op, sizeof op, "%s/cli.out", g_tmp);
    snprintf(ep, sizeof ep, "%s/cli.err", g_tmp);
    char *argv[] = {(char *)tn_t_tuna(), "admin", "--url", g_url, "--key", g_keyf, "competition", (char *)a1,
                    (char *)a2, NULL};
    tn_spawn_opts so = {.out_path = op, .err_path = ep, .truncate = 1};
    tn_spawn_end end = {.code = -1};
    pid_t pid;
    int rc = tn_spawn(argv, &so, &pid) == 0 && tn_spawn_wait(pid, &end) == 0 ? end.code : -1;
    size_t n;
    *out = tn_read_file(op, &n);
    *err = tn_read_file(ep, &n);
    if (!*out) *out = tn_strdup("");
    if (!*err) *err = tn_strdup("");
    return rc;
}

static const char *jstr(json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static long admin(const char *path, json_t *body) { return tn_t_post_signed(&g_admin, g_url, path, body); }

static char *utc(int64_t ms) {
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char b[32];
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return tn_strdup(b);
}

/* ---- what happened, from the test's side ---- */

typedef struct {
    int64_t from, to; /* ms: the scheduler could not create a slot then */
    int forbidden;    /* a task created then is a bug (paused, ended); not: the validator down */
} span;

static span g_off[8]; /* paused, validator down, ended */
static int g_noff;

static int64_t g_start;

static int limit_at(int64_t t) { return t < g_start + UNTIL_S * 1000 ? LIMIT1 : LIMIT2; }

static int in_off(int64_t a, int64_t b) {
    for (int i = 0; i < g_noff; i++)
        if (a < g_off[i].to && g_off[i].from < b) return 1;
    return 0;
}

/* The public task list: how many are not scored or failed. -1 on error. */
static int poll_active(int *total) {
    json_t *j = tn_t_get_json(g_url, "/v1/tasks");
    if (!j) return -1;
    int active = 0;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(j, "tasks"), i, t) {
        const char *s = json_string_value(json_object_get(t, "state"));
        active += strcmp(s, "scored") && strcmp(s, "failed");
    }
    *total = (int)json_array_size(json_object_get(j, "tasks"));
    json_decref(j);
    return active;
}

static int g_max_active[2];
static int g_polls;

/* Polls until the wall clock reaches `until_ms`; checks the limit each time. */
static void watch_until(int64_t until_ms) {
    while (tn_wall_ms() < until_ms) {
        int total = 0, active = poll_active(&total);
        int64_t after = tn_wall_ms();
        if (active >= 0) {
            /* every task counted was created before `after` */
            int lim = limit_at(after);
            CHECKF(active <= lim, "%d tasks active at start+%.1f s, the phase allows %d", active,
                   (double)(after - g_start) / 1000, lim);
            int ph = lim == LIMIT1 ? 0 : 1;
            if (active > g_max_active[ph]) g_max_active[ph] = active;
            g_polls++;
        }
        usleep(300000);
    }
}

/* the slots of the competition as `show` says, into a JSON array (new ref) */
static json_t *show_slots(void) {
    char *out, *err;
    int rc = cli("show", NULL, &out, &err);
    json_t *j = rc == 0 ? json_loads(out, 0, NULL) : NULL;
    CHECKF(j, "competition show: rc %d: %s%s", rc, out, err);
    json_t *s = j ? json_incref(json_object_get(j, "tasks")) : json_array();
    json_decref(j);
    free(out);
    free(err);
    return s;
}

/* ---- afterwards, from the store ---- */

typedef struct {
    int64_t id, slot, created, ended; /* ended: the scored/failed event, 0 if none */
    tn_task_state state;
} task_row;

/* tasks active at time t (created at or before it, not ended by it) */
static int active_at(const task_row *ts, size_t n, int64_t t) {
    int a = 0;
    for (size_t i = 0; i < n; i++) a += ts[i].created <= t && (!ts[i].ended || ts[i].ended > t);
    return a;
}

/* The limit was reached during all of [a, b): checked at a and just after
 * each task ended inside it (a task ending is when room is made). */
static int full_during(const task_row *ts, size_t n, int64_t a, int64_t b) {
    if (active_at(ts, n, a) < limit_at(a)) return 0;
    for (size_t i = 0; i < n; i++)
        if (ts[i].ended > a && ts[i].ended + TICK_SLACK_MS < b && active_at(ts, n, ts[i].ended + 1) < limit_at(ts[i].ended))
            return 0;
    return 1;
}

static void check_store(int64_t comp_id, int nslots) {
    char *db = tn_sprintf("%s/store.sqlite", g_vdir);
    tn_store_opts so = {0};
    tn_store *s = tn_store_open(db, &so);
    free(db);
    CHECKF(s, "store: %s", tn_errmsg());
    if (!s) return;
    tn_task *ts = NULL;
    size_t nt = 0;
    tn_task_slot *sl = NULL;
    size_t ns = 0;
    CHECK(tn_store_task_list(s, -1, &ts, &nt) == 0);
    CHECK(tn_store_task_slots(s, comp_id, &sl, &ns) == 0);
    task_row *rows = tn_calloc(nt + 1, sizeof *rows);
    int *per_slot = tn_calloc((size_t)nslots + 1, sizeof *per_slot);
    int reoffered_tasks = 0, failed = 0;
    for (size_t i = 0; i < nt; i++) {
        tn_task *t = &ts[i];
        json_t *p = json_loads(t->params_json ? t->params_json : "{}", 0, NULL);
        rows[i].id = t->id;
        rows[i].state = t->state;
        rows[i].created = t->created_at;
        rows[i].slot = json_integer_value(json_object_get(p, "slot"));
        CHECKF(json_integer_value(json_object_get(p, "competition")) == comp_id, "task %lld: not the schedule's: %s",
               (long long)t->id, t->params_json);
        json_decref(p);
        if (rows[i].slot >= 0 && rows[i].slot < nslots) per_slot[rows[i].slot]++;
        else CHECKF(0, "task %lld: slot %lld outside the window", (long long)t->id, (long long)rows[i].slot);
        CHECKF(t->state == TN_TASK_SCORED || t->state == TN_TASK_FAILED, "task %lld ended %s", (long long)t->id,
               tn_task_state_name(t->state));
        /* the events: re-offer rounds, the end */
        tn_task_event *ev = NULL;
        size_t ne = 0;
        CHECK(tn_store_task_events(s, t->id, &ev, &ne) == 0);
        size_t rounds = 1;
        for (size_t k = 0; k < ne; k++) {
            if (ev[k].from == TN_TASK_OFFERING && ev[k].to == TN_TASK_OFFERING) {
                rounds++;
                CHECKF(ev[k].reason && strstr(ev[k].reason, "re-offered to 1 more miner(s)"), "task %lld: %s",
                       (long long)t->id, ev[k].reason ? ev[k].reason : "(no reason)");
            }
            if (ev[k].to == TN_TASK_SCORED || ev[k].to == TN_TASK_FAILED) rows[i].ended = ev[k].at;
        }
        tn_task_events_free(ev, ne);
        tn_offer *os = NULL;
        size_t no = 0;
        CHECK(tn_store_offers_for_task(s, t->id, &os, &no) == 0);
        size_t accepted = 0;
        for (size_t k = 0; k < no; k++)
            accepted += os[k].status != TN_OFFER_OFFERED && os[k].status != TN_OFFER_REJECTED &&
                        os[k].status != TN_OFFER_TIMEOUT;
        /* --pool 1: one miner per round; the taker is the only one that accepts */
        CHECKF(no == rounds, "task %lld: %zu offers in %zu rounds", (long long)t->id, no, rounds);
        reoffered_tasks += rounds > 1;
        if (t->id == REFUSED_TASK) {
            CHECKF(t->state == TN_TASK_FAILED && no == 3 && accepted == 0 && t->failure_reason &&
                       strstr(t->failure_reason, "no miner accepted the task: 3 miner(s) asked"),
                   "task %d (refused by all): %s, %zu offers, %zu accepted: %s", REFUSED_TASK,
                   tn_task_state_name(t->state), no, accepted, t->failure_reason ? t->failure_reason : "");
        } else {
            /* a task fails only when the pool is exhausted: the taker was there */
            CHECKF(accepted == 1 && t->state == TN_TASK_SCORED, "task %lld: %s (%s), %zu offers, %zu accepted",
                   (long long)t->id, tn_task_state_name(t->state), t->failure_reason ? t->failure_reason : "", no,
                   accepted);
            /* the taker never uploads: its one score is invalid, as missing */
            tn_score *sc = NULL;
            size_t nsc = 0;
            CHECK(tn_store_scores_for_task(s, t->id, &sc, &nsc) == 0);
            CHECKF(nsc == 1 && !sc[0].valid && sc[0].invalid_reason && strstr(sc[0].invalid_reason, "no submission"),
                   "task %lld: %zu scores, the first %s", (long long)t->id, nsc,
                   nsc && sc[0].invalid_reason ? sc[0].invalid_reason : "valid or none");
            tn_scores_free(sc, nsc);
        }
        failed += t->state == TN_TASK_FAILED;
        tn_offers_free(os, no);
    }
    CHECKF(reoffered_tasks >= 2, "only %d task(s) were re-offered", reoffered_tasks);
    CHECK(failed == 1);
    /* one task per slot, and the slot table agrees with the tasks */
    CHECKF(ns == nt, "%zu slots, %zu tasks", ns, nt);
    for (size_t i = 0; i < ns; i++) {
        int found = 0;
        for (size_t k = 0; k < nt; k++) found += rows[k].id == sl[i].task_id && rows[k].slot == sl[i].slot;
        CHECKF(found == 1, "slot %lld -> task %lld not among the tasks", (long long)sl[i].slot,
               (long long)sl[i].task_id);
    }
    /* on cadence: inside its slot; late only when the limit was reached; a
     * slot without a task was full, paused, ended or the validator down */
    int created = 0;
    for (int k = 0; k < nslots; k++) {
        int64_t a = g_start + (int64_t)k * CADENCE_MS, b = a + CADENCE_MS;
        CHECKF(per_slot[k] <= 1, "slot %d has %d tasks", k, per_slot[k]);
        const task_row *r = NULL;
        for (size_t i = 0; i < nt; i++)
            if (rows[i].slot == k) r = &rows[i];
        if (r) {
            created++;
            CHECKF(r->created >= a && r->created < b, "slot %d: task %lld created at +%.2f s, the slot is [%.0f, %.0f)",
                   k, (long long)r->id, (double)(r->created - g_start) / 1000, (double)(a - g_start) / 1000,
                   (double)(b - g_start) / 1000);
            if (r->created > a + TICK_SLACK_MS && !in_off(a, r->created))
                CHECKF(full_during(rows, nt, a, r->created - TICK_SLACK_MS), "slot %d: task %lld %.2f s late, limit not reached",
                       k, (long long)r->id, (double)(r->created - a) / 1000);
        } else if (!in_off(a, b)) {
            CHECKF(full_during(rows, nt, a, b), "slot %d [%.0f, %.0f) s: no task, but the limit was not reached", k,
                   (double)(a - g_start) / 1000, (double)(b - g_start) / 1000);
        }
    }
    CHECKF(created >= 7, "only %d of %d slots got a task", created, nslots);
    for (size_t i = 0; i < nt; i++)
        for (int o = 0; o < g_noff; o++)
            if (g_off[o].forbidden)
                CHECKF(rows[i].created < g_off[o].from || rows[i].created >= g_off[o].to,
                       "task %lld created at +%.2f s, while paused or ended", (long long)rows[i].id,
                       (double)(rows[i].created - g_start) / 1000);
    free(rows);
    free(per_slot);
    free(sl);
    tn_tasks_free(ts, nt);
    tn_store_close(s);
}

TEST(competition_live) {
    const char *data = tn_t_shared_data();
    if (!data) SKIP("../shared/data is missing (set TUNA_SHARED_DATA)");
    snprintf(g_tmp, sizeof g_tmp, "%s", tn_t_tmpdir());
    snprintf(g_vdir, sizeof g_vdir, "%s/validator", g_tmp);
    snprintf(g_keyf, sizeof g_keyf, "%s/admin.key", g_tmp);
    tn_crypto_init();
    tn_keypair_generate(&g_admin);
    CHECK(tn_keypair_save(&g_admin, g_keyf, 1) == 0);
    char *base = tn_sprintf("%s/base", g_tmp);
    CHECK(tn_t_stories260k(base) == 0);
    json_t *all = NULL;
    char *src = tn_sprintf("%s/datasets/alpaca_en_demo.json", data), *ds = tn_sprintf("%s/alpaca.jsonl", g_tmp);
    CHECK(tn_rows_load_all(src, TN_ROWS_AUTO, &all) == 0);
    FILE *f = fopen(ds, "w");
    for (size_t i = 0; f && i < 200 && i < json_array_size(all); i++) {
        char *s = json_dumps(json_array_get(all, i), JSON_COMPACT);
        fprintf(f, "%s\n", s);
        free(s);
    }
    if (f) fclose(f);
    json_decref(all);
    free(src);
    CHECKF(start_validator() == 0, "the validator did not start (see %s/validator.log)", g_tmp);
    if (!g_url[0]) goto out_files;

    /* the miners */
    tn_http_server *srv[2] = {0};
    tn_verifier *ver[2] = {0};
    tn_http_handler offer[2] = {h_taker, h_refuser};
    static const char *names[3] = {"taker", "refuser", "vanish"};
    int vport = 0, vfd = vanish_socket(&vport);
    CHECK(vfd >= 0);
    for (int i = 0; i < 3; i++) {
        tn_keypair mk;
        tn_keypair_generate(&mk);
        int port = vport;
        if (i < 2) {
            CHECK(tn_t_stub_miner_start(&srv[i], &ver[i], g_v.public_key, offer[i], h_start, NULL) == 0);
            port = tn_http_server_port(srv[i]);
        }
        char ep[64];
        snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
        CHECK(admin("/v1/admin/miners", json_pack("{s:s, s:s, s:s, s:s}", "name", names[i], "owner", names[i],
                                                  "endpoint", ep, "public_key", mk.id)) == 201);
    }
    CHECK(admin("/v1/admin/models", json_pack("{s:s, s:s}", "name", "stories260K", "path", base)) == 201);
    CHECK(admin("/v1/admin/datasets", json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "name", "alpaca", "path", ds,
                                                "dataset_type", "kind", "instruct", "field_instruction", "instruction",
                                                "field_input", "input", "field_output", "output")) == 201);

    /* a bad file through the CLI: file:line, nothing loaded */
    char *out = NULL, *err = NULL;
    char *bad = tn_sprintf("%s/bad.yml", g_tmp);
    const char *bad_text = "name: bad\nstart: 2026-12-07T19:00:00Z\nend: 2026-12-08T19:00:00Z\ncadence: 5m\n"
                           "models:\n  - {name: stories260K}\ndatasets:\n  - {name: alpaca}\n"
                           "phases:\n  - {concurrent: 2, limit_max: soon}\n";
    CHECK(tn_write_file_atomic(bad, bad_text, strlen(bad_text)) == 0);
    int rc = cli("load", bad, &out, &err);
    char *want = tn_sprintf("%s:10:", bad);
    CHECKF(rc != 0 && strstr(err, want) && strstr(err, "limit_max"), "bad file: rc %d, stderr: %s", rc, err);
    free(want);
    free(out);
    free(err);
    rc = cli("show", NULL, &out, &err);
    CHECKF(rc != 0 && strstr(err, "none loaded"), "show with nothing loaded: rc %d: %s", rc, err);
    free(out);
    free(err);

    /* the schedule: starts in 3 s, whole seconds */
    g_start = (tn_wall_ms() / 1000 + 3) * 1000;
    char *t0 = utc(g_start), *t1 = utc(g_start + UNTIL_S * 1000), *t2 = utc(g_start + WINDOW_S * 1000);
    char *good = tn_sprintf("%s/competition.yml", g_tmp);
    char *text = tn_sprintf("name: live\nstart: %s\nend: %s\ncadence: %ds\n"
                            "models:\n  - {name: stories260K}\ndatasets:\n  - {name: alpaca}\n"
                            "phases:\n  - {until: %s, concurrent: %d, limit_scale: 0.001, limit_max: 6s}\n"
                            "  - {concurrent: %d, limit_scale: 0.01, limit_max: 11s}\n",
                            t0, t2, CADENCE_MS / 1000, t1, LIMIT1, LIMIT2);
    CHECK(tn_write_file_atomic(good, text, strlen(text)) == 0);
    rc = cli("load", good, &out, &err);
    json_t *shown = json_loads(out, 0, NULL);
    CHECKF(rc == 0 && shown, "load: rc %d: %s%s", rc, out, err);
    int64_t comp_id = json_integer_value(json_object_get(shown, "id"));
    CHECKF(!strcmp(jstr(shown, "state"), "running") &&
               !strcmp(jstr(shown, "window"), "before the window"),
           "load shows: %s", out);
    json_decref(shown);
    free(out);
    free(err);
    free(t0);
    free(t1);
    free(t2);
    free(text);
    free(bad);
    if (rc) goto out_stop;

    /* the window: kill -9 in phase 2 */
    watch_until(g_start + 27000);
    json_t *before = show_slots();
    int64_t down = tn_wall_ms();
    CHECK(tn_t_validator_stop(&g_v, SIGKILL) == 128 + SIGKILL);
    CHECKF(start_validator() == 0, "the validator did not start again (see %s/validator.log)", g_tmp);
    g_off[g_noff++] = (span){down, tn_wall_ms(), 0};
    if (!g_url[0]) goto out_stop;
    json_t *after = show_slots();
    /* nothing lost: every slot before the kill names the same task after it */
    size_t i;
    json_t *e;
    json_array_foreach(before, i, e) {
        json_t *a = json_array_get(after, i);
        CHECKF(a && json_integer_value(json_object_get(a, "slot")) == json_integer_value(json_object_get(e, "slot")) &&
                   json_integer_value(json_object_get(a, "task_id")) ==
                       json_integer_value(json_object_get(e, "task_id")),
               "slot row %zu changed across the restart", i);
    }
    json_decref(before);
    json_decref(after);

    /* pause, then resume */
    watch_until(g_start + 41000);
    rc = cli("pause", NULL, &out, &err);
    CHECKF(rc == 0 && strstr(out, "\"state\": \"paused\""), "pause: rc %d: %s%s", rc, out, err);
    free(out);
    free(err);
    int64_t paused = tn_wall_ms();
    watch_until(g_start + 52000);
    int64_t resuming = tn_wall_ms();
    rc = cli("resume", NULL, &out, &err);
    CHECKF(rc == 0 && strstr(out, "\"state\": \"running\""), "resume: rc %d: %s%s", rc, out, err);
    free(out);
    free(err);
    g_off[g_noff++] = (span){paused, resuming, 1};

    /* the end before the window closes: nothing after it, not resumed */
    watch_until(g_start + 57000);
    rc = cli("end", NULL, &out, &err);
    CHECKF(rc == 0 && strstr(out, "\"state\": \"ended\""), "end: rc %d: %s%s", rc, out, err);
    free(out);
    free(err);
    g_off[g_noff++] = (span){tn_wall_ms(), INT64_MAX, 1};
    rc = cli("resume", NULL, &out, &err);
    CHECKF(rc != 0 && strstr(err, "has ended"), "resume after the end: rc %d: %s", rc, err);
    free(out);
    free(err);
    watch_until(g_start + WINDOW_S * 1000 + 1000);
    rc = cli("show", NULL, &out, &err);
    CHECKF(rc == 0 && strstr(out, "\"state\": \"ended\"") && strstr(out, "after the window"), "show: rc %d: %s%s", rc,
           out, err);
    free(out);
    free(err);
    /* a schedule loaded after an ended one runs (it does not inherit `ended`) */
    rc = cli("load", good, &out, &err);
    shown = json_loads(out, 0, NULL);
    CHECKF(rc == 0 && json_integer_value(json_object_get(shown, "id")) > comp_id &&
               !strcmp(jstr(shown, "state"), "running") && !strcmp(jstr(shown, "window"), "after the window"),
           "load after the end: rc %d: %s%s", rc, out, err);
    json_decref(shown);
    free(out);
    free(err);
    CHECKF(g_max_active[0] == LIMIT1 && g_max_active[1] == LIMIT2,
           "most tasks active at once: %d in phase 1, %d in phase 2 (%d polls): the limits were not reached",
           g_max_active[0], g_max_active[1], g_polls);

    /* the tasks finish (they hold no upload: scored as missing, or failed) */
    for (double w0 = tn_now(); tn_now() - w0 < 90;) {
        int total = 0;
        if (poll_active(&total) == 0) break;
        usleep(500000);
    }
out_stop:
    free(good);
    CHECK(tn_t_validator_stop(&g_v, SIGTERM) == 0);
    if (comp_id > 0) check_store(comp_id, WINDOW_S * 1000 / CADENCE_MS);
    for (int k = 0; k < 2; k++) {
        if (srv[k]) tn_http_server_free(srv[k]);
        if (ver[k]) tn_verifier_free(ver[k]);
    }
    if (vfd >= 0) close(vfd);
out_files:
    free(base);
    free(ds);
}

int main(void) {
    RUN(competition_live);
    return tn_test_summary("competition_live");
}
