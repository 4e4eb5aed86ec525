/* views.c - JSON views of tasks and rankings (the API, the dashboard, and
 * `tuna arena --json` read these). The dataset's name is shown only once a
 * task is scored or failed: miners can read the public API too. */
#include "judge/scoring.h"
#include "validator/vstate.h"
#include "base/err.h"
#include "base/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


static char *dup_or_null(const char *s) { return s ? tn_strdup(s) : NULL; }

static json_t *num_or_null(double x) { return isfinite(x) ? json_real(x) : json_null(); }

/* "valid", or the rule that made the submission invalid (the flags say why) */
static const char *status_of(const tn_score *sc) {
    if (sc->valid) return "valid";
    return "invalid";
}

/* The noise-aware comparison's numbers of a valid submission (its "score"
 * rule result, scorer.c) into row e: "interval" [lo, hi] of its weighted
 * loss, "effective_loss", and "tied_with", the miner whose submission it
 * shares a quality with. Results scored before per-row losses have none.
 * Call with the lock held; -1 when the store fails. */
static int add_interval(vstate *v, int64_t sub_id, json_t *e) {
    tn_rule_result *rs = NULL;
    size_t n = 0;
    if (tn_store_rule_results(v->store, sub_id, &rs, &n) < 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rs[i].rule, "score") != 0 || !rs[i].numbers_json) continue;
        json_t *j = json_loads(rs[i].numbers_json, 0, NULL);
        double lo = json_number_value(json_object_get(j, "lo")), hi = json_number_value(json_object_get(j, "hi"));
        if (j && isfinite(lo) && isfinite(hi)) {
            json_object_set_new(e, "interval", json_pack("[f, f]", lo, hi));
            json_object_set_new(e, "confidence", num_or_null(json_number_value(json_object_get(j, "confidence"))));
            json_object_set_new(e, "effective_loss",
                                num_or_null(json_number_value(json_object_get(j, "effective_loss"))));
            json_int_t tw = json_integer_value(json_object_get(j, "tied_with_miner"));
            tn_miner m;
            memset(&m, 0, sizeof m);
            if (tw > 0) {
                int mrc = tn_store_miner_get(v->store, tw, &m);
                if (mrc >= 0) json_object_set_new(e, "tied_with", json_string(m.name));
                else if (mrc != TN_STORE_NOT_FOUND) rc = -1;
            }
            tn_miner_clear(&m);
        }
        json_decref(j);
    }
    tn_rule_results_free(rs, n);
    return rc;
}

/* One offer of a task as a row: the miner, its submission, score and flags.
 * Call with the lock held; NULL when the store fails. */
static json_t *offer_json(vstate *v, const tn_task *t, const tn_offer *o, const tn_score *ss, size_t ns, int detail,
                          const char *const *tokens, size_t ntok) {
    tn_miner m;
    memset(&m, 0, sizeof m);
    tn_submission s;
    memset(&s, 0, sizeof s);
    tn_flag *fs = NULL;
    size_t nf = 0;
    int rc = tn_store_miner_get(v->store, o->miner_id, &m);
    int have = 0;
    if (rc >= 0) {
        rc = tn_store_submission_for(v->store, t->id, o->miner_id, &s);
        have = rc >= 0;
        if (rc == TN_STORE_NOT_FOUND) rc = 0;
    }
    if (rc >= 0) rc = tn_store_flag_list(v->store, t->id, o->miner_id, &fs, &nf);
    json_t *e = NULL;
    if (rc >= 0) {
        const tn_score *sc = NULL;
        for (size_t k = 0; k < ns; k++)
            if (ss[k].miner_id == o->miner_id) sc = &ss[k];
        /* texts that may quote a path or a token: public views show them
         * through v_public_text, the admin's as stored */
        size_t nt = detail == V_ADMIN_DETAIL ? 0 : ntok;
        int pub = detail != V_ADMIN_DETAIL;
        json_t *flags = json_array();
        for (size_t k = 0; k < nf; k++) {
            char *why = pub ? v_public_text(v, fs[k].reason, tokens, nt) : dup_or_null(fs[k].reason);
            json_array_append_new(flags, json_pack("{s:s, s:s}", "rule", fs[k].rule, "reason", why));
            free(why);
        }
        char *strategy = have && pub ? v_public_text(v, s.strategy, tokens, nt) : NULL;
        char *message = pub ? v_public_text(v, o->message, tokens, nt) : NULL;
        const char *status = sc ? status_of(sc) : tn_offer_status_name(o->status);
        e = json_pack("{s:s?, s:s?, s:s?, s:s, s:s, s:s?, s:o, s:o, s:o, s:o, s:o}", "miner", m.name, "owner",
                      m.owner, "strategy", have ? (pub ? strategy : s.strategy) : NULL, "status", status, "offer",
                      tn_offer_status_name(o->status), "message", pub ? message : o->message, "test_loss",
                      num_or_null(sc ? sc->test_loss : NAN), "synth_loss", num_or_null(sc ? sc->synth_loss : NAN),
                      "score", sc ? json_real(sc->score) : json_null(), "quality",
                      sc ? json_real(sc->quality) : json_null(), "flags", flags);
        free(strategy);
        free(message);
        if (sc && !sc->valid && sc->invalid_reason) {
            char *why = pub ? v_public_text(v, sc->invalid_reason, tokens, nt) : dup_or_null(sc->invalid_reason);
            json_object_set_new(e, "reason", json_string(why));
            free(why);
        }
        if (have) json_object_set_new(e, "received_at", json_integer(s.received_at));
        if (sc) json_object_set_new(e, "weighted_loss", num_or_null(sc->valid ? sc->weighted_loss : NAN));
        if (have && sc && sc->valid && add_interval(v, s.id, e)) {
            json_decref(e);
            e = NULL;
        }
        if (e && !pub) {
            json_object_set_new(e, "submission_id", json_string(o->token));
            if (have) json_object_set_new(e, "files_dir", json_string(s.files_dir));
        }
    }
    tn_flags_free(fs, nf);
    tn_submission_clear(&s);
    tn_miner_clear(&m);
    return e;
}

json_t *v_task_json(vstate *v, const tn_task *t, int detail) {
    int public_dataset = t->state == TN_TASK_SCORED || t->state == TN_TASK_FAILED || detail == V_ADMIN_DETAIL;
    /* a failure reason can quote a path under the data directory */
    char *failure = detail == V_ADMIN_DETAIL ? dup_or_null(t->failure_reason) : v_public_text(v, t->failure_reason, NULL, 0);
    json_t *j = json_pack("{s:I, s:s, s:s?, s:s, s:s?, s:I, s:I, s:f}", "id", (json_int_t)t->id, "model", t->model,
                          "dataset", public_dataset ? t->dataset : NULL, "state", tn_task_state_name(t->state),
                          "failure_reason", failure, "created_at", (json_int_t)t->created_at, "deadline",
                          (json_int_t)t->deadline, "minutes", tn_task_minutes(t));
    free(failure);
    if (detail == V_PUBLIC_LIST) return j;
    tn_offer *os = NULL;
    size_t no = 0;
    tn_score *ss = NULL;
    size_t ns = 0;
    json_t *subs = json_array();
    LOCK(v);
    int rc = tn_store_offers_for_task(v->store, t->id, &os, &no);
    if (rc >= 0) rc = tn_store_scores_for_task(v->store, t->id, &ss, &ns);
    /* every submission id of the task: one miner's reason may name another's */
    const char **tokens = tn_calloc(no ? no : 1, sizeof *tokens);
    for (size_t i = 0; rc >= 0 && i < no; i++) tokens[i] = os[i].token;
    for (size_t i = 0; rc >= 0 && i < no; i++) {
        json_t *e = offer_json(v, t, &os[i], ss, ns, detail, tokens, no);
        if (e)
            json_array_append_new(subs, e);
        else
            rc = -1;
    }
    UNLOCK(v);
    free(tokens);
    tn_offers_free(os, no);
    tn_scores_free(ss, ns);
    json_object_set_new(j, "submissions", subs);
    if (rc < 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static json_t *rows_json(const tn_rank_row *rows, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:i, s:f, s:i, s:i, s:i, s:i, s:i}", "id", rows[i].id, "rank",
                                           rows[i].rank, "product", rows[i].product, "offers", rows[i].offers,
                                           "accepted", rows[i].accepted, "rejected", rows[i].rejected, "valid",
                                           rows[i].valid, "invalid", rows[i].invalid));
    return a;
}

json_t *v_leaderboard_json(vstate *v) {
    tn_score_params sp;
    if (v_score_params(v, &sp)) return NULL;
    tn_miner *ms = NULL;
    size_t nm = 0;
    LOCK(v);
    int rc = tn_store_miner_list(v->store, 0, &ms, &nm);
    UNLOCK(v);
    if (rc < 0) return NULL;
    /* one record per (miner, scored task offer) */
    tn_score_record *rec = NULL;
    size_t nr = 0, cap = 0;
    for (size_t i = 0; rc >= 0 && i < nm; i++) {
        tn_offer *os = NULL;
        size_t no = 0;
        tn_score *ss = NULL;
        size_t ns = 0;
        LOCK(v);
        rc = tn_store_offers_for_miner(v->store, ms[i].id, &os, &no);
        if (rc >= 0) rc = tn_store_scores_for_miner(v->store, ms[i].id, &ss, &ns);
        for (size_t k = 0; rc >= 0 && k < no; k++) {
            tn_task t;
            memset(&t, 0, sizeof t);
            rc = tn_store_task_get(v->store, os[k].task_id, &t);
            int scored = rc >= 0 && t.state == TN_TASK_SCORED;
            tn_task_clear(&t);
            if (!scored) continue;
            if (nr == cap) rec = tn_realloc(rec, sizeof *rec * (cap = cap ? cap * 2 : 32));
            tn_score_record *r = &rec[nr];
            memset(r, 0, sizeof *r);
            r->miner = ms[i].name;
            r->owner = ms[i].owner;
            const tn_score *sc = NULL;
            for (size_t q = 0; q < ns; q++)
                if (ss[q].task_id == os[k].task_id) sc = &ss[q];
            if (!sc) {
                r->status = TN_SCORE_REJECTED; /* rejected or never answered: neutral */
            } else {
                r->status = TN_SCORE_ACCEPTED;
                r->valid = sc->valid;
                r->score = sc->score;
            }
            nr++;
        }
        UNLOCK(v);
        tn_offers_free(os, no);
        tn_scores_free(ss, ns);
    }
    tn_rank_row *by_miner = NULL, *by_owner = NULL;
    int nbm = 0, nbo = 0;
    json_t *out = NULL;
    if (rc >= 0 && tn_rank(&sp, rec, (int)nr, TN_RANK_MINER, &by_miner, &nbm) == 0 &&
        tn_rank(&sp, rec, (int)nr, TN_RANK_OWNER, &by_owner, &nbo) == 0) {
        json_t *lm = rows_json(by_miner, nbm);
        /* the miner rows also carry their owner */
        for (int i = 0; i < nbm; i++)
            for (size_t k = 0; k < nm; k++)
                if (!strcmp(ms[k].name, by_miner[i].id))
                    json_object_set_new(json_array_get(lm, (size_t)i), "owner", json_string(ms[k].owner));
        out = json_pack("{s:o, s:o}", "leaderboard", lm, "owners", rows_json(by_owner, nbo));
    }
    free(by_miner);
    free(by_owner);
    free(rec);
    tn_miners_free(ms, nm);
    return out;
}
