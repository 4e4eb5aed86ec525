/* server.c - the miner's HTTP endpoints (docs/protocol.md, "Miner API").
 *
 * All three routes are signed: the verifier knows only the validator's key,
 * so an unsigned request gets 401 and one signed by any other key 403, from
 * the server layer, before a handler runs. The handlers never wait for a
 * job: /task_offer is a policy decision and one row in SQLite, so it answers
 * in milliseconds however busy the training children keep the machine.
 * Decisions that count slots run under offer_mu, so that two offers racing
 * for the last slot cannot both be accepted.
 */
#include "miner/server.h"
#include "miner/jobs.h"
#include "miner/spec.h"

#include "miner/policy.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

static void h_offer(tn_http_req *r, void *ud) {
    tn_miner *m = ud;
    json_t *body = tn_http_body_json(r);
    if (!body) return;
    tn_offer o;
    if (tn_offer_parse(body, &o)) {
        tn_http_reply_error(r, 400, "%s", tn_errmsg());
        json_decref(body);
        return;
    }
    tn_policy_decision d;
    tn_job_row job;
    int64_t now = tn_wall_ms();
    pthread_mutex_lock(&m->offer_mu);
    int have_job = tn_mdb_job_get(m->db, o.task_id, &job);
    if (have_job == 1) {
        tn_job_row_free(&job);
        memset(&d, 0, sizeof d);
        snprintf(d.message, sizeof d.message, "task %lld was already started (state %s)", (long long)o.task_id,
                 job.state);
    } else {
        /* a repeated offer for a task we hold a slot for keeps that slot */
        int free_slots = tn_jobs_free_slots(m) + tn_mdb_offer_is_held(m->db, o.task_id, now);
        tn_policy_decide(&m->cfg->policy, &o, free_slots, m->cfg->slots, &d);
    }
    char *txt = json_dumps(body, JSON_COMPACT);
    int64_t hold = now + (int64_t)(m->cfg->offer_hold_s * 1000);
    if (have_job != 1 && tn_mdb_offer_put(m->db, o.task_id, txt, d.accept, d.message, now, hold))
        tn_warn("miner: %s", tn_errmsg());
    pthread_mutex_unlock(&m->offer_mu);
    free(txt);
    json_decref(body);
    tn_info("miner: offer for task %lld (%s, %lld params, %.3g h): %s", (long long)o.task_id, o.model,
            (long long)o.params, o.hours, d.message);
    tn_http_reply_json(r, 200, json_pack("{s:b, s:s}", "accepted", d.accept, "message", d.message));
}

static void h_start(tn_http_req *r, void *ud) {
    tn_miner *m = ud;
    json_t *body = tn_http_body_json(r), *offer = NULL;
    if (!body) return;
    if (tn_start_validate(body, tn_wall_ms())) {
        tn_http_reply_error(r, 400, "%s", tn_errmsg());
        json_decref(body);
        return;
    }
    int64_t task = json_integer_value(json_object_get(body, "task_id"));
    tn_job_row job;
    pthread_mutex_lock(&m->offer_mu);
    int have_job = tn_mdb_job_get(m->db, task, &job), taken = 0, rc = -1;
    if (have_job == 1) {
        tn_http_reply_error(r, 409, "task %lld was already started (state %s)", (long long)task, job.state);
        tn_job_row_free(&job);
    } else if ((taken = tn_mdb_offer_take(m->db, task, tn_wall_ms(), &offer)) != 1) {
        tn_http_reply_error(r, 404, "unknown task_id %lld: no accepted offer holds a slot for it (offer it first; "
                                    "an accepted offer holds its slot for %.0f s)",
                            (long long)task, m->cfg->offer_hold_s);
    } else if ((rc = tn_jobs_start(m, body, offer)) != 0) {
        tn_http_reply_error(r, 409, "cannot start task %lld: %s", (long long)task, tn_errmsg());
    } else {
        tn_http_reply_json(r, 202, json_pack("{s:b, s:I}", "accepted", 1, "task_id", (json_int_t)task));
    }
    pthread_mutex_unlock(&m->offer_mu);
    json_decref(body);
}

static void h_status(tn_http_req *r, void *ud) {
    tn_miner *m = ud;
    tn_jobs_reap(m, 0);
    int free_slots = tn_jobs_free_slots(m);
    tn_http_reply_json(r, 200, json_pack("{s:i, s:i, s:o, s:s}", "slots", m->cfg->slots, "free_slots",
                                         free_slots > 0 ? free_slots : 0, "jobs", tn_jobs_status(m), "strategy",
                                         tn_strategy_name(m->cfg->strategy)));
}

int tn_miner_serve(tn_miner *m, const char *bind, int port) {
    tn_http_server_opts o = {.bind = bind, .port = port, .verifier = m->ver};
    m->srv = tn_http_server_new(&o);
    if (!m->srv) return -1;
    const tn_http_route routes[] = {
        {.method = "POST", .path = "/task_offer", .flags = TN_ROUTE_SIGNED, .max_body = 1 << 20, .fn = h_offer, .ud = m},
        {.method = "POST", .path = "/start_training", .flags = TN_ROUTE_SIGNED, .max_body = 4 << 20, .fn = h_start,
         .ud = m},
        {.method = "GET", .path = "/status", .flags = TN_ROUTE_SIGNED, .fn = h_status, .ud = m},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (tn_http_server_route(m->srv, &routes[i])) return -1;
    return tn_http_server_start(m->srv);
}
