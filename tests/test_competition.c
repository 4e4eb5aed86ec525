/* test_competition.c - the competition schedule (validator/competition.h):
 * the store's slots on both backends (store_backend.h), the schedule file's
 * errors with file:line, and the limit table. */
#include "store_backend.h"
#include "validator/competition.h"
#include "base/json.h"

#include <math.h>
#include <sys/wait.h>

static const char *H1 = "1111111111111111111111111111111111111111111111111111111111111111";

static tn_store *store_with_catalog(const char *name, char **path) {
    *path = db_path(name);
    tn_store *s = open_db(*path);
    if (!s) return NULL;
    tn_catalog_model m = {.name = "tiny", .manifest_hash = (char *)H1, .created_at = 1};
    tn_catalog_dataset d = {.name = "set", .blob_hash = (char *)H1, .row_count = 10, .created_at = 2};
    CHECKF(tn_store_model_add(s, &m) == 0 && tn_store_dataset_add(s, &d) == 0, "%s", tn_errmsg());
    return s;
}

TEST(slots_once) {
    char *p;
    tn_store *s = store_with_catalog("slots.db", &p);
    if (!s) goto out;
    tn_task t = {.model = "tiny", .dataset = "set", .created_at = 3, .time_limit_ms = 60000};
    int64_t a = 0, b = 0, c = 0, d = 0;
    CHECKF(tn_store_task_create_in_slot(s, &t, 7, 0, &a) == 0, "%s", tn_errmsg());
    CHECK(tn_store_task_create_in_slot(s, &t, 7, 0, &b) == TN_STORE_EXISTS && b == a);
    CHECK(tn_store_task_create_in_slot(s, &t, 7, 1, &c) == 0 && c != a);
    CHECK(tn_store_task_create_in_slot(s, &t, 8, 0, &d) == 0 && d != a && d != c); /* another competition */
    tn_task bad = t;
    bad.model = "nope";
    CHECK(tn_store_task_create_in_slot(s, &bad, 7, 2, &b) == TN_STORE_NOT_FOUND);
    CHECK(tn_store_task_create_in_slot(s, &t, 7, -1, &b) < 0);
    tn_task_slot *v = NULL;
    size_t n = 0;
    CHECK(tn_store_task_slots(s, 7, &v, &n) == 0 && n == 2);
    if (n == 2) CHECK(v[0].slot == 0 && v[0].task_id == a && v[1].slot == 1 && v[1].task_id == c && v[0].created_at == 3);
    free(v);
    tn_task *ts = NULL;
    size_t nt = 0;
    CHECK(tn_store_task_list(s, -1, &ts, &nt) == 0 && nt == 3); /* refused attempts created nothing */
    tn_tasks_free(ts, nt);
    tn_store_close(s);
out:
    free(p);
}

/* Four processes race for the same slot: exactly one task. */
TEST(slots_across_processes) {
    char *p;
    tn_store *s = store_with_catalog("race.db", &p);
    if (!s) goto out;
    tn_store_close(s);
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            tn_store *c = open_db(p);
            tn_task t = {.model = "tiny", .dataset = "set", .created_at = 3, .time_limit_ms = 60000};
            int64_t id;
            int rc = c ? tn_store_task_create_in_slot(c, &t, 1, 5, &id) : -1;
            if (c) tn_store_close(c);
            _exit(rc == 0 ? 0 : rc == TN_STORE_EXISTS ? 1 : 2);
        }
    }
    int created = 0, exists = 0;
    for (int k = 0; k < 4; k++) {
        int st;
        waitpid(kids[k], &st, 0);
        created += WIFEXITED(st) && WEXITSTATUS(st) == 0;
        exists += WIFEXITED(st) && WEXITSTATUS(st) == 1;
    }
    CHECKF(created == 1 && exists == 3, "created %d, exists %d", created, exists);
    s = open_db(p);
    tn_task *ts = NULL;
    size_t nt = 0;
    CHECK(s && tn_store_task_list(s, -1, &ts, &nt) == 0 && nt == 1);
    tn_tasks_free(ts, nt);
    if (s) tn_store_close(s);
out:
    free(p);
}

static const sb_case backend_cases[] = {SB_CASE(slots_once), SB_CASE(slots_across_processes)};

/* ---- the schedule file ---- */

static const char *GOOD = "name: spring\n"
                          "start: 2026-12-07T19:00:00Z\n"
                          "end: 2026-12-10T19:00:00Z\n"
                          "cadence: 30m\n"
                          "models:\n"
                          "  - {name: tiny, weight: 2}\n"
                          "datasets:\n"
                          "  - name: set\n"
                          "pairs:\n"
                          "  - [tiny, set]\n"
                          "phases:\n"
                          "  - until: 2026-12-08T19:00:00Z\n"
                          "    concurrent: 1\n"
                          "    limit_max: 20m\n"
                          "  - concurrent: 4\n";

static void expect_error(const char *scratch, const char *text, const char *want) {
    json_t *j = v_comp_parse("sched.yml", text, scratch);
    CHECKF(!j && strstr(tn_errmsg(), want), "want \"%s\", got \"%s\"", want, j ? "(parsed)" : tn_errmsg());
    json_decref(j);
}

static char *replace(const char *s, const char *from, const char *to) {
    const char *at = strstr(s, from);
    return tn_sprintf("%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
}

static void test_file(void) {
    char *scratch = tn_sprintf("%s/sched-scratch.yml", tn_t_tmpdir());
    json_t *j = v_comp_parse("sched.yml", GOOD, scratch);
    CHECKF(j != NULL, "%s", tn_errmsg());
    CHECK(json_integer_value(json_object_get(j, "start")) == 1796670000000LL);
    CHECK(json_integer_value(json_object_get(j, "cadence")) == 1800000);
    CHECK(json_integer_value(json_object_get(json_array_get(json_object_get(j, "phases"), 0), "limit_max")) == 1200000);
    json_decref(j);
    char *t;
    expect_error(scratch, t = replace(GOOD, "cadence: 30m\n", "cadence: 30m\ncolour: red\n"), "sched.yml:5: unknown key 'colour'");
    free(t);
    expect_error(scratch, t = replace(GOOD, "start: 2026-12-07T19:00:00Z", "start: 2026-12-07 19:00"), "sched.yml:2: start: expected a UTC time");
    free(t);
    expect_error(scratch, t = replace(GOOD, "end: 2026-12-10T19:00:00Z", "end: 2026-12-01T19:00:00Z"), "end must come after the start");
    free(t);
    expect_error(scratch, t = replace(GOOD, "  - [tiny, set]", "  - [huge, set]"), "sched.yml:10: pairs: model 'huge' is not in models");
    free(t);
    expect_error(scratch, t = replace(GOOD, "  - concurrent: 4\n", "  - concurrent: 0\n"), "sched.yml:15: concurrent");
    free(t);
    expect_error(scratch, t = replace(GOOD, "cadence: 30m", "cadence: soon"), "sched.yml:4: cadence");
    free(t);
    expect_error(scratch, "start: [\n", "sched.yml:");
    expect_error(scratch, t = replace(GOOD, "  - concurrent: 4\n", "  - concurrent: 4\n    cadence: now\n"),
                 "sched.yml:16: cadence");
    free(t);
    free(scratch);
}

/* Pairs: `draw: rotate` takes the allowed pairs in turn (models outer, in
 * file order); the weighted draw keeps to the allowed pairs in proportion to
 * model weight x dataset weight (here 2:2:1 over 3000 slots) and draws the
 * same pair for the same (competition, slot). */
static void test_draw(void) {
    char *scratch = tn_sprintf("%s/sched-scratch3.yml", tn_t_tmpdir());
    const char *text = "start: 2026-12-07T19:00:00Z\nend: 2026-12-10T19:00:00Z\ncadence: 30m\n"
                       "models:\n  - {name: tiny, weight: 2}\n  - name: big\n"
                       "datasets:\n  - name: a\n  - name: b\n"
                       "pairs:\n  - [tiny, a]\n  - [big, b]\n  - [tiny, b]\n"
                       "phases:\n  - concurrent: 1\n";
    char *rot = tn_sprintf("draw: rotate\n%s", text);
    json_t *w = v_comp_parse("sched.yml", text, scratch), *r = v_comp_parse("sched.yml", rot, scratch);
    CHECKF(w && r, "%s", tn_errmsg());
    static const char *const turn[][2] = {{"tiny", "a"}, {"tiny", "b"}, {"big", "b"}};
    for (int64_t slot = 0; r && slot < 7; slot++) {
        const char *m = NULL, *d = NULL;
        CHECK(v_comp_draw_pair(r, 5, slot, &m, &d) == 0);
        CHECKF(m && d && !strcmp(m, turn[slot % 3][0]) && !strcmp(d, turn[slot % 3][1]), "slot %lld: %s %s",
               (long long)slot, m, d);
    }
    int n[3] = {0, 0, 0}, other = 0;
    for (int64_t slot = 0; w && slot < 3000; slot++) {
        const char *m = NULL, *d = NULL, *m2 = NULL, *d2 = NULL;
        v_comp_draw_pair(w, 5, slot, &m, &d);
        v_comp_draw_pair(w, 5, slot, &m2, &d2);
        if (m != m2 || d != d2) other++;
        int k = !m || !d ? -1 : !strcmp(m, "tiny") ? (!strcmp(d, "a") ? 0 : 1) : !strcmp(d, "b") ? 2 : -1;
        if (k < 0) other++;
        else n[k]++;
    }
    CHECKF(w && other == 0 && fabs(n[0] / 3000.0 - 0.4) < 0.04 && fabs(n[1] / 3000.0 - 0.4) < 0.04 &&
               fabs(n[2] / 3000.0 - 0.2) < 0.04,
           "weighted: %d %d %d, %d outside the pairs or not repeatable", n[0], n[1], n[2], other);
    char *bad = tn_sprintf("draw: often\n%s", text);
    expect_error(scratch, bad, "sched.yml:1: draw: 'often' is not weighted or rotate");
    free(bad);
    json_decref(w);
    json_decref(r);
    free(rot);
    free(scratch);
}

/* Slots with a cadence per phase: the arena's shape (one slot alone, then
 * slots 5 s apart). Moments by hand: phase 1 (cadence 100 s, until +250 s)
 * has slots 0, 1, 2 at +0, +100, +200; slot 3 comes one phase-1 cadence
 * after slot 2, at +300 (until then slot 2 stands), and phase 2 (cadence 5 s)
 * goes on from there: slot 4 at +305, ... */
static void test_slots_per_phase(void) {
    char *scratch = tn_sprintf("%s/sched-scratch2.yml", tn_t_tmpdir());
    char *text = replace(GOOD, "  - concurrent: 4\n", "  - concurrent: 4\n    cadence: 5s\n");
    char *t2 = replace(text, "cadence: 30m", "cadence: 100s");
    char *t3 = replace(t2, "  - until: 2026-12-08T19:00:00Z", "  - until: 2026-12-07T19:04:10Z");
    json_t *j = v_comp_parse("sched.yml", t3, scratch);
    CHECKF(j != NULL, "%s", tn_errmsg());
    if (j) {
        const int64_t s0 = 1796670000000LL;
        static const struct { int64_t at_s, slot, moment_s; } want[] = {
            {0, 0, 0},     {99, 0, 0},     {100, 1, 100},  {204, 2, 200},      {250, 2, 200},
            {299, 2, 200}, {300, 3, 300},  {304, 3, 300},  {305, 4, 305},      {3600, 663, 3600},
        };
        for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
            int64_t m = -1, sl = v_comp_slot_at(j, s0 + want[i].at_s * 1000, &m);
            CHECKF(sl == want[i].slot && m == s0 + want[i].moment_s * 1000, "at +%llds: slot %lld at +%llds, want %lld at +%llds",
                   (long long)want[i].at_s, (long long)sl, (long long)((m - s0) / 1000), (long long)want[i].slot,
                   (long long)want[i].moment_s);
        }
        /* one cadence throughout: slot i at start + i * cadence, as before phases had their own */
        json_t *g = v_comp_parse("sched.yml", GOOD, scratch);
        for (int64_t at = 0; g && at < 3 * 86400; at += 977) {
            int64_t m, sl = v_comp_slot_at(g, s0 + at * 1000, &m);
            CHECKF(sl == at / 1800 && m == s0 + sl * 1800000, "at +%llds: slot %lld", (long long)at, (long long)sl);
        }
        json_decref(g);
    }
    json_decref(j);
    free(text);
    free(t2);
    free(t3);
    free(scratch);
}

static void test_table(void) {
    CHECK(v_comp_table_limit_s(15e6, 1000) == 3600);
    CHECK(v_comp_table_limit_s(15e6, 10000) == 2 * 3600);
    CHECK(v_comp_table_limit_s(3e9, 300000) == 5 * 3600);
    CHECK(v_comp_table_limit_s(70e9, 2000000) == 6 * 3600); /* capped */
}

int main(void) {
    /* through RUN: a failed check outside a test would not fail the program */
    RUN(file);
    RUN(slots_per_phase);
    RUN(draw);
    RUN(table);
    sb_run_both(backend_cases, sizeof backend_cases / sizeof *backend_cases);
    return tn_test_summary("competition");
}
