/* views.c - JSON views of tasks, rankings and the participants' report (the
 * API, the dashboard, `tuna admin report` and `tuna arena --json` read
 * these). The dataset's name is shown only once a task is scored or failed:
 * miners can read the public API too. */
#include "judge/scoring.h"
#include "validator/vstate.h"
#include "base/clock.h"
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

/* What the miner's upload carried besides its note (`strategy`): the kind,
 * how many uploads, the files' count and bytes; the organiser's view adds
 * the content hash and each file's sha256 and size. */
static json_t *upload_json(const tn_submission *s, int pub) {
    json_t *mf = s->manifest_json ? json_loads(s->manifest_json, 0, NULL) : NULL;
    json_t *files = json_object_get(mf, "files"), *f;
    const char *name;
    json_int_t bytes = 0;
    json_object_foreach(files, name, f) bytes += json_integer_value(json_object_get(f, "size"));
    json_t *u = json_pack("{s:s, s:I, s:I, s:I}", "kind", s->kind == TN_SUB_FULL ? "full" : "adapter", "uploads",
                          (json_int_t)s->uploads, "files", (json_int_t)json_object_size(files), "bytes", bytes);
    if (!pub) {
        json_object_set_new(u, "content_hash", json_string(s->content_hash));
        json_object_set(u, "manifest", files ? files : json_object());
    }
    json_decref(mf);
    return u;
}

/* What the public sees only once the task has ended (scored or failed); the
 * organiser always: the dataset's name (enough to find its public test
 * rows) and the miners' strategy notes (a recipe another miner could copy
 * while the task still trains). */
static int shown_after_end(const tn_task *t, int detail) {
    return t->state == TN_TASK_SCORED || t->state == TN_TASK_FAILED || detail == V_ADMIN_DETAIL;
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
        char *strategy = have && pub && shown_after_end(t, detail) ? v_public_text(v, s.strategy, tokens, nt) : NULL;
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
        if (e && have) json_object_set_new(e, "upload", upload_json(&s, pub));
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

/* Every offer of task t as a row (offer_json) appended to subs; -1 when the
 * store fails. Takes the lock. */
static int task_rows(vstate *v, const tn_task *t, int detail, json_t *subs) {
    tn_offer *os = NULL;
    size_t no = 0;
    tn_score *ss = NULL;
    size_t ns = 0;
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
    return rc < 0 ? -1 : 0;
}

json_t *v_task_json(vstate *v, const tn_task *t, int detail) {
    /* a failure reason can quote a path under the data directory */
    char *failure = detail == V_ADMIN_DETAIL ? dup_or_null(t->failure_reason) : v_public_text(v, t->failure_reason, NULL, 0);
    json_t *j = json_pack("{s:I, s:s, s:s?, s:s, s:s?, s:I, s:I, s:f}", "id", (json_int_t)t->id, "model", t->model,
                          "dataset", shown_after_end(t, detail) ? t->dataset : NULL, "state", tn_task_state_name(t->state),
                          "failure_reason", failure, "created_at", (json_int_t)t->created_at, "deadline",
                          (json_int_t)t->deadline, "minutes", tn_task_minutes(t));
    free(failure);
    if (detail == V_PUBLIC_LIST) return j;
    json_t *subs = json_array();
    int rc = task_rows(v, t, detail, subs);
    json_object_set_new(j, "submissions", subs);
    if (rc < 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* ---- the participants' report ---------------------------------------------------------- */

static int by_key(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* {"a": x, "c": y} -> [x, y] sorted by key (the values are moved) */
static json_t *sorted_values(json_t *obj) {
    size_t n = json_object_size(obj), i = 0;
    const char **keys = tn_calloc(n ? n : 1, sizeof *keys);
    const char *k;
    json_t *x;
    json_object_foreach(obj, k, x) keys[i++] = k;
    qsort(keys, n, sizeof *keys, by_key);
    json_t *a = json_array();
    for (i = 0; i < n; i++) json_array_append(a, json_object_get(obj, keys[i]));
    free(keys);
    return a;
}

json_t *v_report_json(vstate *v, int64_t task_id, int detail) {
    tn_miner *ms = NULL;
    size_t nm = 0;
    tn_task *ts = NULL;
    size_t nt = 0;
    LOCK(v);
    int rc = tn_store_miner_list(v->store, 0, &ms, &nm);
    if (rc >= 0) rc = tn_store_task_list(v->store, -1, &ts, &nt);
    UNLOCK(v);
    /* owner -> {"owner", "miners": {name -> {"miner", "enabled", "submissions"}}} */
    json_t *owners = json_object();
    for (size_t i = 0; rc >= 0 && i < nm; i++) {
        json_t *o = json_object_get(owners, ms[i].owner);
        if (!o) json_object_set_new(owners, ms[i].owner, o = json_pack("{s:s, s:{}}", "owner", ms[i].owner, "miners"));
        json_object_set_new(json_object_get(o, "miners"), ms[i].name,
                            json_pack("{s:s, s:b, s:[]}", "miner", ms[i].name, "enabled", ms[i].enabled,
                                      "submissions"));
    }
    for (size_t i = 0; rc >= 0 && i < nt; i++) {
        const tn_task *t = &ts[i];
        if (task_id > 0 && t->id != task_id) continue;
        json_t *rows = json_array();
        rc = task_rows(v, t, detail, rows);
        size_t k;
        json_t *e;
        json_array_foreach(rows, k, e) {
            json_t *o = json_object_get(owners, json_string_value(json_object_get(e, "owner")));
            json_t *m = json_object_get(json_object_get(o, "miners"), json_string_value(json_object_get(e, "miner")));
            if (!m) continue; /* a miner added after this read */
            json_object_set_new(e, "task_id", json_integer(t->id));
            json_object_set_new(e, "task_state", json_string(tn_task_state_name(t->state)));
            json_object_set_new(e, "model", json_string(t->model));
            json_object_set_new(e, "dataset", shown_after_end(t, detail) ? json_string(t->dataset) : json_null());
            json_object_set_new(e, "minutes", json_real(tn_task_minutes(t)));
            /* "verdict": the scorer's valid/invalid, else where the offer stands */
            json_object_set(e, "verdict", json_object_get(e, "status"));
            json_object_del(e, "status");
            json_object_del(e, "owner");
            json_array_append(json_object_get(m, "submissions"), e);
        }
        json_decref(rows);
    }
    json_t *out = NULL;
    if (rc >= 0) {
        json_t *parts = sorted_values(owners);
        size_t i;
        json_t *o;
        json_array_foreach(parts, i, o) json_object_set_new(o, "miners", sorted_values(json_object_get(o, "miners")));
        out = json_pack("{s:I, s:o}", "generated_at", (json_int_t)tn_wall_ms(), "participants", parts);
        if (task_id > 0) json_object_set_new(out, "task_id", json_integer(task_id));
    }
    json_decref(owners);
    tn_tasks_free(ts, nt);
    tn_miners_free(ms, nm);
    return out;
}

static json_t *rows_json(const tn_rank_row *rows, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:i, s:f, s:f, s:i, s:i, s:i, s:i, s:i}", "id", rows[i].id, "rank",
                                           rows[i].rank, "product", rows[i].product, "work", rows[i].work, "offers",
                                           rows[i].offers, "accepted", rows[i].accepted, "rejected",
                                           rows[i].rejected, "valid", rows[i].valid, "invalid", rows[i].invalid));
    return a;
}

/* The setting score.weighting ("product", the default, or "work"). -1 when
 * the store fails or the stored value is neither (the admin API refuses
 * such a value; this catches one written to the database directly). */
static int score_weighting(vstate *v, tn_score_weighting *w) {
    char *s = NULL;
    int64_t ver;
    LOCK(v);
    int rc = tn_store_setting_get(v->store, "score.weighting", &s, &ver);
    UNLOCK(v);
    *w = TN_WEIGHT_PRODUCT;
    if (rc < 0 && rc != TN_STORE_NOT_FOUND) return -1;
    rc = rc >= 0 && s ? tn_score_weighting_parse(s, w) : 0;
    free(s);
    return rc ? tn_err_prefix("setting score.weighting") : 0;
}

/* A task's work weight: its time limit and its model's parameter count (the
 * catalog's arch_json "params"). Call with the lock held; -1 when the store
 * fails or the model has no count. */
static int task_weight(vstate *v, const tn_task *t, double *w) {
    tn_catalog_model cm;
    memset(&cm, 0, sizeof cm);
    if (tn_store_model_get(v->store, t->model, &cm) < 0) return tn_err_prefix("task %lld", (long long)t->id);
    json_t *a = cm.arch_json ? json_loads(cm.arch_json, 0, NULL) : NULL;
    json_t *pj = json_object_get(a, "params");
    *w = tn_task_work_weight(tn_task_hours(t), json_is_number(pj) ? json_number_value(pj) / 1e9 : NAN);
    json_decref(a);
    tn_catalog_model_clear(&cm);
    if (isnan(*w)) return tn_fail("task %lld: model %s has no parameter count in the catalog", (long long)t->id, t->model);
    return 0;
}

json_t *v_leaderboard_json(vstate *v) {
    tn_score_params sp;
    if (v_score_params(v, &sp) || score_weighting(v, &sp.weighting)) return NULL;
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
            double weight = 1;
            if (scored && sp.weighting == TN_WEIGHT_WORK && task_weight(v, &t, &weight)) rc = -1;
            tn_task_clear(&t);
            if (!scored || rc < 0) continue;
            if (nr == cap) rec = tn_realloc(rec, sizeof *rec * (cap = cap ? cap * 2 : 32));
            tn_score_record *r = &rec[nr];
            memset(r, 0, sizeof *r);
            r->miner = ms[i].name;
            r->owner = ms[i].owner;
            r->weight = weight;
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
        out = json_pack("{s:o, s:o, s:s}", "leaderboard", lm, "owners", rows_json(by_owner, nbo), "weighting",
                        tn_score_weighting_name(sp.weighting));
    }
    free(by_miner);
    free(by_owner);
    free(rec);
    tn_miners_free(ms, nm);
    return out;
}
