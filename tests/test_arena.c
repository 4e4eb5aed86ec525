/* test_arena.c - a shortened `tuna arena` run end to end, and the dashboard
 * of a live arena in a real browser.
 *
 * The arena runs on the real stories260K model (converted with tuna convert)
 * and alpaca rows, with the default line-up (three fair miners, copy,
 * swap-base, test-peek, public-peek), a first task alone and one more after
 * it. The synthetic sets come from the next 200 alpaca rows (--synth-pool),
 * outside the task's dataset, which the public-peek miner holds whole. (The
 * built-in WordNet default is what `tuna arena` runs with no --model; a few
 * seconds of pretraining make too weak a base for a stable test.)
 * Asserted from its --json summary:
 *   - every fair miner has a valid score in every task;
 *   - every red-team miner is caught with the right reason in every task;
 *   - each task's scores average 1 over the miners that accepted;
 *   - each miner's product equals the product of its floored task scores.
 * With --keep-running, headless Chromium loads the dashboard and must show
 * the leaderboard rows and each flagged miner's reason; a screenshot is kept
 * in build/artifacts/arena-dashboard.png.
 * Skipped without ../shared/data, and under the sanitizers (minutes of
 * eight instrumented processes; the parts have their own sanitizer runs). */
#include "harness.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_model[512], g_data[512], g_pool[512];

static int skip_reason(char *why, size_t n) {
#if defined(__SANITIZE_ADDRESS__)
    snprintf(why, n, "sanitizer build: the arena runs eight instrumented processes for minutes");
    return 1;
#endif
    const char *data = tn_t_shared_data();
    if (!data) {
        snprintf(why, n, "../shared/data is missing (set TUNA_SHARED_DATA)");
        return 1;
    }
    if (g_model[0]) return 0;
    snprintf(g_model, sizeof g_model, "%s/stories260K", tn_t_tmpdir());
    snprintf(g_data, sizeof g_data, "%s/alpaca200.jsonl", tn_t_tmpdir());
    int rc = tn_t_stories260k(g_model);
    json_t *all = NULL;
    char *src = tn_sprintf("%s/datasets/alpaca_en_demo.json", data);
    /* the synthetic pool: the next 200 alpaca rows, outside the task's dataset */
    snprintf(g_pool, sizeof g_pool, "%s/alpaca-pool.jsonl", tn_t_tmpdir());
    FILE *f = fopen(g_data, "w"), *fp = fopen(g_pool, "w");
    if (rc == 0 && f && fp && json_array_size(all = json_load_file(src, 0, NULL)) >= 400)
        for (size_t i = 0; i < 400; i++) {
            char *s = json_dumps(json_array_get(all, i), JSON_COMPACT);
            fprintf(i < 200 ? f : fp, "%s\n", s);
            free(s);
        }
    if (f) fclose(f);
    if (fp) fclose(fp);
    json_decref(all);
    free(src);
    if (rc != 0) {
        snprintf(why, n, "tuna convert of stories260K failed");
        return 1;
    }
    return 0;
}

#define DATASET_TYPE "'{\"kind\":\"instruct\",\"field_instruction\":\"instruction\",\"field_input\":\"input\",\"field_output\":\"output\"}'"

static const char *EXPECT[][2] = {
    {"fair-a", "valid"}, {"fair-b", "valid"}, {"fair-c", "valid"},
    {"copycat", "duplicate"}, {"swapper", "not-a-fine-tune"}, {"peeker", "leak"}, {"hunter", "leak"},
};

static int has_flag(json_t *s, const char *rule) {
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(s, "flags"), i, f) if (!strcmp(json_string_value(json_object_get(f, "rule")), rule)) return 1;
    return 0;
}

TEST(arena_catches_every_cheat) {
    char why[256];
    if (skip_reason(why, sizeof why)) SKIP("%s", why);
    char *work = tn_sprintf("%s/arena", tn_t_tmpdir()), *out = tn_sprintf("%s/summary.json", tn_t_tmpdir());
    char *cmd = tn_sprintf("%s arena --work %s --model %s --dataset %s --dataset-type " DATASET_TYPE
                           " --synth-pool %s --tasks 2 --minutes 1 --json > %s 2> %s/arena.log",
                           tn_t_tuna(), work, g_model, g_data, g_pool, out, tn_t_tmpdir());
    int rc = system(cmd);
    CHECKF(rc == 0, "%s failed (see %s/arena.log and %s/logs)", cmd, tn_t_tmpdir(), work);
    json_t *sum = tn_json_load_file(out);
    CHECK(sum != NULL);
    if (!sum) return;
    json_t *tasks = json_object_get(sum, "tasks");
    CHECK(json_array_size(tasks) == 2);
    size_t ti;
    json_t *t;
    json_array_foreach(tasks, ti, t) {
        double total = 0;
        int accepted = 0;
        for (size_t e = 0; e < sizeof EXPECT / sizeof *EXPECT; e++) {
            json_t *s = NULL, *x;
            size_t k;
            json_array_foreach(json_object_get(t, "submissions"), k, x) if (!strcmp(json_string_value(json_object_get(x, "miner")), EXPECT[e][0])) s = x;
            CHECKF(s != NULL, "task %zu: no entry for %s", ti, EXPECT[e][0]);
            if (!s) continue;
            const char *st = json_string_value(json_object_get(s, "status"));
            if (!strcmp(EXPECT[e][1], "valid"))
                CHECKF(st && !strcmp(st, "valid"), "task %zu: %s is %s (%s)", ti, EXPECT[e][0], st,
                       json_string_value(json_object_get(s, "reason")));
            else {
                /* the whole entry on failure: losses, flags, the miner's strategy note */
                char *js = json_dumps(s, JSON_COMPACT);
                CHECKF(has_flag(s, EXPECT[e][1]) && st && !strcmp(st, "invalid"), "task %zu: %s not caught as %s: %s",
                       ti, EXPECT[e][0], EXPECT[e][1], js);
                free(js);
            }
            if (json_is_number(json_object_get(s, "score"))) {
                total += json_number_value(json_object_get(s, "score"));
                accepted++;
            }
        }
        CHECKF(accepted > 0 && fabs(total / accepted - 1.0) < 1e-9, "task %zu: scores average %.12f", ti,
               accepted ? total / accepted : NAN);
    }
    /* each miner's product = product of max(score, floor) over its tasks (floor 0.1) */
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(sum, "leaderboard"), i, row) {
        const char *name = json_string_value(json_object_get(row, "id"));
        double p = 1.0;
        json_array_foreach(tasks, ti, t) {
            size_t k;
            json_t *x;
            json_array_foreach(json_object_get(t, "submissions"), k, x)
                if (!strcmp(json_string_value(json_object_get(x, "miner")), name) && json_is_number(json_object_get(x, "score")))
                    p *= fmax(json_number_value(json_object_get(x, "score")), 0.1);
        }
        CHECK_NEAR(json_number_value(json_object_get(row, "product")), p, 1e-9, 1e-12);
    }
    json_decref(sum);
    free(cmd);
    free(work);
    free(out);
}

TEST(dashboard_of_a_live_arena) {
    char why[256];
    if (skip_reason(why, sizeof why)) SKIP("%s", why);
    const char *chromium = getenv("TUNA_CHROMIUM") ? getenv("TUNA_CHROMIUM") : "/usr/bin/chromium";
    if (access(chromium, X_OK) != 0) SKIP("%s is missing (scripts/setup installs chromium)", chromium);
    char *work = tn_sprintf("%s/arena2", tn_t_tmpdir()), *log = tn_sprintf("%s/arena2.log", tn_t_tmpdir());
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(log, "w", stderr) || !freopen("/dev/null", "w", stdout)) _exit(126);
        execl(tn_t_tuna(), tn_t_tuna(), "arena", "--work", work, "--model", g_model, "--dataset", g_data, "--dataset-type",
              "{\"kind\":\"instruct\",\"field_instruction\":\"instruction\",\"field_input\":\"input\","
              "\"field_output\":\"output\"}", "--tasks", "1", "--minutes", "0.75", "--keep-running", (char *)NULL);
        _exit(127);
    }
    /* wait until the arena says the dashboard stays up */
    double t0 = tn_now();
    char *text = NULL;
    while (tn_now() - t0 < 600) {
        free(text);
        text = tn_read_file(log, NULL);
        if (text && strstr(text, "the dashboard stays at")) break;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            pid = 0;
            break;
        }
        usleep(500000);
    }
    CHECKF(text && strstr(text, "the dashboard stays at"), "the arena did not finish: see %s", log);
    char url[200] = "";
    if (text && strstr(text, "the dashboard stays at ")) sscanf(strstr(text, "the dashboard stays at ") + 23, "%199s", url);
    free(text);
    if (url[0]) {
        const char *arts = getenv("TUNA_ARTIFACTS") ? getenv("TUNA_ARTIFACTS") : "build/artifacts";
        tn_mkdir_p(arts);
        char *profile = tn_sprintf("%s/chromium-profile", tn_t_tmpdir());
        char *dom = tn_sprintf("%s/arena-dashboard-dom.html", arts);
        char *cmd = tn_sprintf("%s --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                               "--disable-background-networking --disable-component-update --disable-sync "
                               "--user-data-dir=%s --virtual-time-budget=8000 --window-size=1280,2400 "
                               "--screenshot=%s/arena-dashboard.png --dump-dom '%s' > %s 2>/dev/null",
                               chromium, profile, arts, url, dom);
        CHECK(system(cmd) == 0);
        char *html = tn_read_file(dom, NULL);
        CHECKF(html && strstr(html, "data-miner=\"fair-a\""), "no leaderboard row for fair-a in the rendered page");
        CHECK(html && strstr(html, "flag-reason"));
        /* each flagged miner's reason is on the page */
        CHECK(html && strstr(html, "near-duplicate") != NULL ? 1 : (html && strstr(html, "exact copy") != NULL));
        /* the page shows what the validator decided: a leak flag, when this
         * 45 s task's judge raised one (whether it must is
         * arena_catches_every_cheat's question), with its reason */
        if (html && strstr(html, "data-rule=\"leak\"")) CHECK(strstr(html, "test rows seen in training"));
        CHECK(html && (strstr(html, "cosine") || strstr(html, "architecture")));
        free(html);
        free(cmd);
        free(dom);
        free(profile);
    }
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    free(work);
    free(log);
}

int main(void) {
    RUN(arena_catches_every_cheat);
    RUN(dashboard_of_a_live_arena);
    return tn_test_summary("test_arena");
}
