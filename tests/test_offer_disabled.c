/* test_offer_disabled.c - a miner disabled between its offer row and the
 * offer's sending is neither asked nor counted (issue 16, offers that find
 * takers).
 *
 * A real `tuna validator` (--pool 2) and two in-process stand-in miners:
 *   refuser  refuses every offer at once;
 *   late     holds its first offer unanswered (the validator waits, its
 *            offer row still `offered`), refuses later ones.
 * While `late` holds the offer the organiser disables it and the validator is
 * killed (SIGKILL), so its row stays `offered`; the validator is started
 * again on the same data directory. Its next tick finds an offer owed to a
 * disabled miner: it must not send it (late is called once in all) and must
 * close it unsent, and the task, refused by the only miner asked and with no
 * enabled miner left, fails saying 1 miner was asked. Before the fix the
 * restarted validator sent the offer again and counted 2. Needs
 * ../shared/data (stories260K). */
#include "harness.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "net/keys.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name;
    int hold_first;     /* late: the first offer waits for `release` */
    atomic_int offers;  /* /task_offer calls */
    tn_keypair key;
    tn_http_server *srv;
    tn_verifier *ver;
} stub;

static atomic_int g_release;

static void h_offer(tn_http_req *r, void *ud) {
    stub *m = ud;
    int k = atomic_fetch_add(&m->offers, 1);
    if (m->hold_first && k == 0)
        for (int i = 0; i < 6000 && !atomic_load(&g_release); i++) usleep(10000);
    tn_http_reply_json(r, 200, json_pack("{s:b, s:s}", "accepted", 0, "message", "no, thanks"));
}

static void h_start(tn_http_req *r, void *ud) {
    (void)ud;
    tn_http_reply_json(r, 202, json_pack("{s:b}", "accepted", 1));
}

/* Task 1's public view, once `field` of the offer of miner `name` is `want`
 * (NULL: once the task's state is `want`), within limit_s; NULL otherwise. */
static json_t *wait_for(const char *url, const char *name, const char *want, double limit_s) {
    double t0 = tn_now();
    while (tn_now() - t0 < limit_s) {
        json_t *t = tn_t_get_json(url, "/v1/tasks/1");
        if (!name) {
            const char *st = json_string_value(json_object_get(t, "state"));
            if (st && !strcmp(st, want)) return t;
        } else {
            size_t i;
            json_t *s;
            json_array_foreach(json_object_get(t, "submissions"), i, s) {
                const char *mn = json_string_value(json_object_get(s, "miner"));
                const char *of = json_string_value(json_object_get(s, "offer"));
                if (mn && of && !strcmp(mn, name) && !strcmp(of, want)) return t;
            }
        }
        json_decref(t);
        usleep(50000);
    }
    return NULL;
}

TEST(disabled_before_sending) {
    const char *data = tn_t_shared_data();
    if (!data) SKIP("../shared/data is missing (set TUNA_SHARED_DATA)");
    const char *tmp = tn_t_tmpdir();
    char *vdir = tn_sprintf("%s/validator", tmp), *log = tn_sprintf("%s/validator.log", tmp);
    char *base = tn_sprintf("%s/base", tmp), *ds = tn_sprintf("%s/alpaca.jsonl", tmp);
    CHECK(tn_t_stories260k(base) == 0);
    CHECK(tn_t_alpaca_jsonl(ds, 60) == 0);
    tn_crypto_init();
    tn_keypair admin;
    tn_keypair_generate(&admin);
    char *args[] = {"--admin-key", admin.id, "--offer-timeout", "60000", "--pool", "2", "--seq-len", "64", NULL};
    tn_t_validator v;
    int up = tn_t_validator_start(&v, vdir, log, args, 60) == 0;
    CHECKF(up, "the validator did not start (see %s)", log);
    stub ms[2] = {{.name = "refuser"}, {.name = "late", .hold_first = 1}};
    char url[256];
    snprintf(url, sizeof url, "%s", up ? v.url : "");
    for (int i = 0; up && i < 2; i++) {
        tn_keypair_generate(&ms[i].key);
        CHECK(tn_t_stub_miner_start(&ms[i].srv, &ms[i].ver, v.public_key, h_offer, h_start, &ms[i]) == 0);
        char ep[64];
        snprintf(ep, sizeof ep, "http://127.0.0.1:%d", tn_http_server_port(ms[i].srv));
        CHECK(tn_t_post_signed(&admin, url, "/v1/admin/miners",
                               json_pack("{s:s, s:s, s:s, s:s}", "name", ms[i].name, "owner", ms[i].name, "endpoint",
                                         ep, "public_key", ms[i].key.id)) == 201);
    }
    if (up) {
        CHECK(tn_t_post_signed(&admin, url, "/v1/admin/models", json_pack("{s:s, s:s}", "name", "stories260K", "path",
                                                                        base)) == 201);
        CHECK(tn_t_post_signed(&admin, url, "/v1/admin/datasets",
                               json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "name", "alpaca", "path", ds,
                                         "dataset_type", "kind", "instruct", "field_instruction", "instruction",
                                         "field_input", "input", "field_output", "output")) == 201);
        CHECK(tn_t_post_signed(&admin, url, "/v1/admin/tasks",
                               json_pack("{s:s, s:s, s:f}", "model", "stories260K", "dataset", "alpaca", "minutes",
                                         1.0)) == 201);
    }
    /* round 1: refuser has answered, late holds its offer */
    json_t *t = up ? wait_for(url, "refuser", "rejected", 120) : NULL;
    CHECKF(t != NULL, "refuser's answer was not recorded (see %s)", log);
    json_decref(t);
    double t0 = tn_now();
    while (up && atomic_load(&ms[1].offers) == 0 && tn_now() - t0 < 30) usleep(10000);
    CHECK(atomic_load(&ms[1].offers) == 1);
    /* the organiser disables late; the validator dies with late's offer owed */
    if (up) {
        CHECK(tn_t_post_signed(&admin, url, "/v1/admin/miners/enable",
                               json_pack("{s:s, s:b}", "name", "late", "enabled", 0)) == 200);
        tn_t_validator_stop(&v, SIGKILL);
    }
    atomic_store(&g_release, 1);
    up = up && tn_t_validator_start(&v, vdir, log, args, 60) == 0;
    CHECKF(up, "the validator did not start again (see %s)", log);
    if (up) snprintf(url, sizeof url, "%s", v.url);
    t = up ? wait_for(url, NULL, "failed", 120) : NULL;
    CHECKF(t != NULL, "task 1 did not fail (see %s)", log);
    const char *why = json_string_value(json_object_get(t, "failure_reason"));
    CHECKF(why && strstr(why, "1 miner(s) asked in 1 round(s)") && strstr(why, "no enabled miner left"),
           "failure reason: %s", why ? why : "(none)");
    CHECKF(atomic_load(&ms[1].offers) == 1, "late (disabled) was offered the task %d times", atomic_load(&ms[1].offers));
    CHECK(atomic_load(&ms[0].offers) == 1);
    size_t i;
    json_t *s;
    int closed = 0;
    json_array_foreach(json_object_get(t, "submissions"), i, s) {
        const char *mn = json_string_value(json_object_get(s, "miner"));
        const char *msg = json_string_value(json_object_get(s, "message"));
        if (mn && !strcmp(mn, "late"))
            closed = msg && strstr(msg, "disabled before the offer went out") &&
                     !strcmp(json_string_value(json_object_get(s, "offer")), "rejected");
    }
    CHECKF(closed, "late's offer was not closed unsent");
    json_decref(t);
    if (up) CHECK(tn_t_validator_stop(&v, SIGTERM) == 0);
    for (int k = 0; k < 2; k++) {
        tn_http_server_free(ms[k].srv);
        tn_verifier_free(ms[k].ver);
    }
    free(vdir);
    free(log);
    free(base);
    free(ds);
}

int main(void) {
    RUN(disabled_before_sending);
    return tn_test_summary("test_offer_disabled");
}
