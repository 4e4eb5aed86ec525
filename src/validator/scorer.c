/* scorer.c - a task's evaluation, the rules, the scores (see docs/validator.md).
 *
 * For a task in `evaluating`:
 *   1. the base model is evaluated once on the test and synthetic sets (the
 *      leak check's reference), in a sandboxed child;
 *   2. each submission without a result is evaluated in a sandboxed child
 *      (evaljob.c): provenance verdict, fingerprint, losses;
 *   3. then, in this process, the rules that compare submissions:
 *      duplicates (arena/dupes.h: same content hash as any earlier
 *      submission of any task, or a delta sketch too similar to an earlier
 *      one on the same base, not counting work that originates from the
 *      same miner on the same base and dataset: the earliest upload keeps
 *      its score) and the leak check;
 *   4. scores (scoring.c) over the miners that accepted the task, flags for
 *      every rule that failed, then `scored`.
 * Every rule's decision is stored with its numbers and reason (upserted, so
 * a redo after a crash overwrites rather than duplicates). A rescore deletes
 * a task's rule results and sends it back to `evaluating`, so the current
 * rules and thresholds are applied from scratch.
 */
#include "judge/provenance.h"
#include "judge/duplicates.h"
#include "judge/leak.h"
#include "judge/scoring.h"
#include "validator/evaljob.h"
#include "validator/vstate.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


static const char *RULES[] = {"provenance", "losses", "duplicate", "leak"};

double v_setting_num(vstate *v, const char *key, double def) {
    char *s = NULL;
    int64_t ver;
    LOCK(v);
    int rc = tn_store_setting_get(v->store, key, &s, &ver);
    UNLOCK(v);
    double d = def;
    if (rc == 0 && s) {
        char *end;
        double x = strtod(s, &end);
        if (end != s) d = x;
    }
    free(s);
    return d;
}

/* The base model's directory, materialised from its manifest once. */
static char *model_dir(vstate *v, const char *name, const char *manifest_hash) {
    char *dir = v_path(v, "models/%s", manifest_hash);
    char *cfg = tn_path_join(dir, "config.json");
    int have = tn_file_exists(cfg);
    free(cfg);
    if (!have) {
        json_t *m = tn_blobs_load_manifest(v->blobs, manifest_hash);
        int rc = m ? tn_blobs_materialize(v->blobs, m, dir, 0) : -1;
        json_decref(m);
        if (rc) {
            tn_err_prefix("model %s", name);
            free(dir);
            return NULL;
        }
    }
    return dir;
}

/* The provenance rules for the evaluator child: the anti-cheat library's
 * calibrated defaults (docs/anticheat.md) unless a setting overrides them. */
static json_t *job_rules(vstate *v) {
    tn_check_rules d;
    tn_check_rules_default(&d);
    return json_pack("{s:f, s:f, s:f, s:i}", "min_cosine", v_setting_num(v, "rules.min_cosine", d.min_cosine),
                     "max_rel_distance", v_setting_num(v, "rules.max_rel_distance", d.max_rel_distance),
                     "untouched_rel_eps", v_setting_num(v, "rules.untouched_rel_eps", d.untouched_rel_eps), "sketch_k",
                     (int)v_setting_num(v, "rules.sketch_k", d.sketch_k));
}

static json_t *run_job(vstate *v, const tn_task *t, const char *base, const char *sub, const char *tag,
                       const char *mapping) {
    char *test = tn_blobs_path(v->blobs, t->test_hash), *synth = tn_blobs_path(v->blobs, t->synth_hash);
    json_t *dt = json_loads(mapping, 0, NULL);
    json_t *params = json_loads(t->params_json ? t->params_json : "{}", 0, NULL);
    json_int_t seq = json_integer_value(json_object_get(params, "seq_len"));
    json_t *job = json_pack("{s:s, s:s?, s:s, s:s, s:o, s:I, s:b, s:o}", "base_dir", base, "submission_dir", sub,
                            "test_file", test, "synth_file", synth, "dataset_type", dt ? dt : json_object(), "seq_len",
                            (json_int_t)(seq > 0 ? seq : v->o.seq_len), "base_only", sub == NULL, "rules", job_rules(v));
    char *jp = v_path(v, "tasks/%lld/%s.job.json", (long long)t->id, tag);
    char *rp = v_path(v, "tasks/%lld/%s.result.json", (long long)t->id, tag);
    tn_evaljob_limits lim = {v->o.eval_mem_mb, v->o.eval_cpu_s, v->o.eval_wall_s, v->o.tuna_bin};
    json_t *res = tn_evaljob_spawn(job, jp, rp, &lim);
    json_decref(job);
    json_decref(params);
    free(jp);
    free(rp);
    free(test);
    free(synth);
    return res;
}

static void put_rule(vstate *v, int64_t sub, const char *rule, tn_decision d, json_t *numbers, const char *reason) {
    char *nj = numbers ? json_dumps(numbers, JSON_COMPACT) : NULL;
    tn_rule_result rr = {sub, (char *)rule, d, nj, (char *)(reason ? reason : ""), v_now_ms()};
    LOCK(v);
    tn_store_rule_result_put(v->store, &rr);
    UNLOCK(v);
    free(nj);
}

/* Finds a stored rule result's numbers (parsed; caller decrefs) and decision. */
static json_t *get_rule(vstate *v, int64_t sub, const char *rule, tn_decision *d, char **reason) {
    tn_rule_result *rs = NULL;
    size_t n = 0;
    json_t *out = NULL;
    LOCK(v);
    int rc = tn_store_rule_results(v->store, sub, &rs, &n);
    UNLOCK(v);
    for (size_t i = 0; rc >= 0 && i < n; i++)
        if (!strcmp(rs[i].rule, rule)) {
            out = json_loads(rs[i].numbers_json ? rs[i].numbers_json : "{}", 0, NULL);
            if (!out) out = json_object();
            if (d) *d = rs[i].decision;
            if (reason) *reason = tn_strdup(rs[i].reason ? rs[i].reason : "");
        }
    tn_rule_results_free(rs, n);
    return out;
}

static void evaluate_submission(vstate *v, const tn_task *t, const char *base, const tn_submission *s,
                                const char *mapping) {
    char tag[64];
    snprintf(tag, sizeof tag, "sub%lld", (long long)s->id);
    json_t *res = run_job(v, t, base, s->files_dir, tag, mapping);
    if (!res) {
        /* the child crashed or hit a limit on this upload: its problem */
        char why[700];
        snprintf(why, sizeof why, "could not be evaluated: %s", tn_errmsg());
        put_rule(v, s->id, "provenance", TN_DECISION_FAIL, json_pack("{s:s}", "verdict", "invalid"), why);
        return;
    }
    const char *verdict = json_string_value(json_object_get(res, "verdict"));
    const char *reason = json_string_value(json_object_get(res, "reason"));
    int ok = verdict && !strcmp(verdict, "fine-tune");
    json_t *prov = json_pack("{s:s, s:s?, s:O?, s:O?, s:O?}", "verdict", verdict ? verdict : "invalid", "sha256",
                             json_string_value(json_object_get(res, "sha256")), "sketch", json_object_get(res, "sketch"),
                             "provenance", json_object_get(res, "provenance"), "is_adapter",
                             json_object_get(res, "is_adapter"));
    put_rule(v, s->id, "provenance", ok ? TN_DECISION_PASS : TN_DECISION_FAIL, prov, reason ? reason : verdict);
    json_decref(prov);
    if (ok)
        put_rule(v, s->id, "losses", TN_DECISION_PASS,
                 json_pack("{s:O, s:O, s:O, s:O}", "test_loss", json_object_get(res, "test_loss"), "synth_loss",
                           json_object_get(res, "synth_loss"), "test_tokens", json_object_get(res, "test_tokens"),
                           "synth_tokens", json_object_get(res, "synth_tokens")),
                 NULL);
    json_decref(res);
}

/* ---- the rules that compare submissions ------------------------------------------- */

typedef struct {
    tn_submission s;
    char model[128], dataset[128]; /* the task's catalog names */
    char sha[65];
    float *sketch;
    int k;
    int prov_ok;
} fp_entry;

/* Every evaluated submission of every task, with its fingerprint. */
static fp_entry *all_fingerprints(vstate *v, size_t *n_out) {
    tn_task *ts = NULL;
    size_t nt = 0, n = 0, cap = 0;
    fp_entry *out = NULL;
    LOCK(v);
    int rc = tn_store_task_list(v->store, -1, &ts, &nt);
    UNLOCK(v);
    for (size_t i = 0; rc >= 0 && i < nt; i++) {
        tn_submission *ss = NULL;
        size_t ns = 0;
        LOCK(v);
        int r2 = tn_store_submissions_for_task(v->store, ts[i].id, &ss, &ns);
        UNLOCK(v);
        for (size_t k = 0; r2 >= 0 && k < ns; k++) {
            tn_decision d = TN_DECISION_FAIL;
            json_t *p = get_rule(v, ss[k].id, "provenance", &d, NULL);
            if (!p) {
                tn_submission_clear(&ss[k]);
                continue;
            }
            if (n == cap) out = tn_realloc(out, sizeof *out * (cap = cap ? cap * 2 : 16));
            fp_entry *e = &out[n++];
            memset(e, 0, sizeof *e);
            e->s = ss[k];
            memset(&ss[k], 0, sizeof ss[k]);
            snprintf(e->model, sizeof e->model, "%s", ts[i].model);
            snprintf(e->dataset, sizeof e->dataset, "%s", ts[i].dataset ? ts[i].dataset : "");
            const char *sha = json_string_value(json_object_get(p, "sha256"));
            snprintf(e->sha, sizeof e->sha, "%s", sha ? sha : "");
            json_t *sk = json_object_get(p, "sketch");
            if (json_is_array(sk) && json_array_size(sk) > 0) {
                e->k = (int)json_array_size(sk);
                e->sketch = tn_malloc(sizeof(float) * (size_t)e->k);
                for (int j = 0; j < e->k; j++) e->sketch[j] = (float)json_number_value(json_array_get(sk, (size_t)j));
            }
            const char *verdict = json_string_value(json_object_get(p, "verdict"));
            /* an untouched base or another network is caught by provenance;
             * it must not make a fair submission a "duplicate" of it */
            e->prov_ok = verdict && !strcmp(verdict, "fine-tune");
            json_decref(p);
        }
        tn_submissions_free(ss, ns);
    }
    tn_tasks_free(ts, nt);
    *n_out = n;
    return out;
}

static void free_fps(fp_entry *e, size_t n) {
    for (size_t i = 0; i < n; i++) {
        tn_submission_clear(&e[i].s);
        free(e[i].sketch);
    }
    free(e);
}

/* The duplicate rule (arena/dupes.c) over every evaluated submission, so
 * that an earlier submission that is itself a copy stands for its original;
 * the decisions of this task's submissions are stored. */
static void duplicates(vstate *v, const tn_task *t, fp_entry *all, size_t n) {
    tn_check_rules d;
    tn_check_rules_default(&d);
    double thr = v_setting_num(v, "rules.dup_similarity", d.dup_similarity);
    tn_dup_item *items = tn_calloc(n + 1, sizeof *items);
    tn_dup_result *res = tn_calloc(n + 1, sizeof *res);
    for (size_t i = 0; i < n; i++)
        items[i] = (tn_dup_item){.id = all[i].s.id, .miner_id = all[i].s.miner_id, .task_id = all[i].s.task_id,
                                 .received_at = all[i].s.received_at, .model = all[i].model,
                                 .dataset = all[i].dataset, .sha256 = all[i].sha, .sketch = all[i].sketch,
                                 .k = all[i].k, .fine_tune = all[i].prov_ok};
    tn_find_duplicates(items, n, thr, res);
    for (size_t i = 0; i < n; i++) {
        const fp_entry *e = &all[i];
        if (e->s.task_id != t->id || !e->prov_ok) continue; /* provenance already failed it */
        const fp_entry *dup = res[i].dup_of >= 0 ? &all[res[i].dup_of] : NULL;
        char reason[256] = "";
        if (dup)
            snprintf(reason, sizeof reason, "%s of submission %lld (task %lld, miner %lld, uploaded earlier)%s",
                     res[i].exact ? "exact copy" : "near-duplicate", (long long)dup->s.id, (long long)dup->s.task_id,
                     (long long)dup->s.miner_id, res[i].exact ? "" : " by delta sketch");
        put_rule(v, e->s.id, "duplicate", dup ? TN_DECISION_FAIL : TN_DECISION_PASS,
                 json_pack("{s:f, s:f, s:I, s:b}", "max_similarity", res[i].max_similarity, "threshold", thr,
                           "duplicate_of", (json_int_t)(dup ? dup->s.id : 0), "exact", res[i].exact),
                 dup ? reason : NULL);
    }
    free(items);
    free(res);
}

/* ---- scores ------------------------------------------------------------------------ */

typedef struct {
    int64_t miner_id, sub_id;
    int accepted, valid;
    double test, synth;
    char reason[256], rule[32];
} entry;

static void finalize(vstate *v, const tn_task *t, const json_t *base_res) {
    tn_offer *offers = NULL;
    size_t no = 0;
    LOCK(v);
    int rc = tn_store_offers_for_task(v->store, t->id, &offers, &no);
    UNLOCK(v);
    if (rc < 0) return;
    entry *es = tn_calloc(no + 1, sizeof *es);
    size_t ne = 0;
    for (size_t i = 0; i < no; i++) {
        tn_offer_status st = offers[i].status;
        if (st != TN_OFFER_ACCEPTED && st != TN_OFFER_STARTED && st != TN_OFFER_SUBMITTED && st != TN_OFFER_EVALUATED)
            continue; /* rejected or never answered: costs nothing */
        entry *e = &es[ne++];
        e->miner_id = offers[i].miner_id;
        e->accepted = 1;
        e->test = e->synth = NAN;
        tn_submission s;
        memset(&s, 0, sizeof s);
        LOCK(v);
        int have = tn_store_submission_for(v->store, t->id, e->miner_id, &s) >= 0;
        UNLOCK(v);
        if (!have) {
            snprintf(e->rule, sizeof e->rule, "missing");
            snprintf(e->reason, sizeof e->reason, "no submission before the deadline");
            continue;
        }
        e->sub_id = s.id;
        tn_submission_clear(&s);
        tn_decision d;
        char *why = NULL;
        json_t *p = get_rule(v, e->sub_id, "provenance", &d, &why);
        json_t *l = get_rule(v, e->sub_id, "losses", NULL, NULL);
        json_t *dup = NULL;
        char *dwhy = NULL;
        tn_decision dd = TN_DECISION_PASS;
        if (p && d == TN_DECISION_PASS) dup = get_rule(v, e->sub_id, "duplicate", &dd, &dwhy);
        if (!p || d != TN_DECISION_PASS) {
            const char *verdict = p ? json_string_value(json_object_get(p, "verdict")) : NULL;
            snprintf(e->rule, sizeof e->rule, "%s", verdict ? verdict : "invalid");
            snprintf(e->reason, sizeof e->reason, "%s", why ? why : "not evaluated");
        } else if (dup && dd == TN_DECISION_FAIL) {
            snprintf(e->rule, sizeof e->rule, "duplicate");
            snprintf(e->reason, sizeof e->reason, "%s", dwhy ? dwhy : "duplicate");
        } else if (l) {
            e->test = json_number_value(json_object_get(l, "test_loss"));
            e->synth = json_number_value(json_object_get(l, "synth_loss"));
            e->valid = isfinite(e->test) && isfinite(e->synth);
            if (!e->valid) {
                snprintf(e->rule, sizeof e->rule, "invalid");
                snprintf(e->reason, sizeof e->reason, "non-finite loss");
            }
        }
        json_decref(p);
        json_decref(l);
        json_decref(dup);
        free(why);
        free(dwhy);
    }
    /* the leak check among the valid ones, against the base model */
    tn_leak_rule lr;
    tn_leak_rule_defaults(&lr);
    lr.min_excess = v_setting_num(v, "rules.leak_min_excess", lr.min_excess);
    lr.k = v_setting_num(v, "rules.leak_k", lr.k);
    lr.rel = v_setting_num(v, "rules.leak_rel", lr.rel);
    int leak_invalidates = v_setting_num(v, "rules.leak_invalidates", 1) != 0;
    double *tl = tn_calloc(ne + 1, sizeof(double)), *sl = tn_calloc(ne + 1, sizeof(double));
    double *ex = tn_calloc(ne + 1, sizeof(double)), *th = tn_calloc(ne + 1, sizeof(double));
    int *fl = tn_calloc(ne + 1, sizeof(int));
    size_t *map = tn_calloc(ne + 1, sizeof(size_t)), nv = 0;
    for (size_t i = 0; i < ne; i++)
        if (es[i].valid) {
            map[nv] = i;
            tl[nv] = es[i].test;
            sl[nv++] = es[i].synth;
        }
    double bt = json_number_value(json_object_get(base_res, "test_loss"));
    double bs = json_number_value(json_object_get(base_res, "synth_loss"));
    tn_leak_check(tl, sl, nv, bt, bs, &lr, fl, ex, th);
    for (size_t k = 0; k < nv; k++) {
        entry *e = &es[map[k]];
        char why[256] = "";
        if (fl[k])
            snprintf(why, sizeof why, "test loss %.4f is %.3f nats lower against its synthetic loss %.4f than the "
                     "base model and the other miners (threshold %.3f): test rows seen in training?",
                     e->test, ex[k], e->synth, th[k]);
        put_rule(v, e->sub_id, "leak", fl[k] ? TN_DECISION_FLAG : TN_DECISION_PASS,
                 json_pack("{s:f, s:f, s:f, s:f}", "gap", e->synth - e->test, "excess", ex[k], "threshold", th[k],
                           "base_gap", bs - bt),
                 fl[k] ? why : NULL);
        if (fl[k]) {
            snprintf(e->rule, sizeof e->rule, "leak");
            snprintf(e->reason, sizeof e->reason, "%s", why);
            if (leak_invalidates) e->valid = 0;
        }
    }
    /* scores */
    tn_score_params sp;
    tn_score_params_default(&sp);
    sp.alpha = v_setting_num(v, "score.alpha", sp.alpha);
    sp.R = v_setting_num(v, "score.R", sp.R);
    sp.floor = v_setting_num(v, "score.floor", sp.floor);
    tn_task_entry *te = tn_calloc(ne + 1, sizeof *te);
    double *w = tn_calloc(ne + 1, sizeof(double)), *r = tn_calloc(ne + 1, sizeof(double)),
           *s = tn_calloc(ne + 1, sizeof(double));
    for (size_t i = 0; i < ne; i++) {
        te[i].valid = es[i].valid;
        te[i].test_loss = es[i].test;
        te[i].synth_loss = es[i].synth;
    }
    if (ne > 0) tn_score_task(&sp, te, (int)ne, w, r, s);
    tn_score *sc = tn_calloc(ne + 1, sizeof *sc);
    int64_t now = v_now_ms();
    LOCK(v);
    for (size_t i = 0; i < ne; i++) {
        sc[i].task_id = t->id;
        sc[i].miner_id = es[i].miner_id;
        sc[i].submission_id = es[i].sub_id;
        sc[i].test_loss = es[i].test;
        sc[i].synth_loss = es[i].synth;
        sc[i].weighted_loss = es[i].valid ? w[i] : NAN;
        sc[i].quality = r[i];
        sc[i].score = s[i];
        sc[i].valid = es[i].valid;
        sc[i].invalid_reason = es[i].valid ? NULL : es[i].reason;
        sc[i].scored_at = now;
        if (es[i].rule[0]) {
            tn_flag f = {0, t->id, es[i].miner_id, es[i].rule, es[i].reason, now};
            int64_t fid;
            tn_store_flag_raise(v->store, &f, &fid);
        }
        if (es[i].sub_id)
            tn_store_offer_update(v->store, t->id, es[i].miner_id, TN_OFFER_SUBMITTED, TN_OFFER_EVALUATED, "evaluated",
                                  now);
    }
    rc = tn_store_scores_replace(v->store, t->id, sc, ne, now);
    UNLOCK(v);
    if (rc >= 0) {
        LOCK(v);
        rc = tn_store_task_transition(v->store, t->id, TN_TASK_EVALUATING, TN_TASK_SCORED, NULL, now);
        UNLOCK(v);
        if (rc >= 0) tn_info("task %lld: scored (%zu participants, %zu valid)", (long long)t->id, ne, nv);
    }
    free(sc);
    free(te);
    free(w);
    free(r);
    free(s);
    free(tl);
    free(sl);
    free(ex);
    free(th);
    free(fl);
    free(map);
    free(es);
    tn_offers_free(offers, no);
}

int v_evaluate_task(vstate *v, int64_t task_id) {
    tn_task t;
    memset(&t, 0, sizeof t);
    tn_catalog_model cm;
    tn_catalog_dataset cd;
    memset(&cm, 0, sizeof cm);
    memset(&cd, 0, sizeof cd);
    LOCK(v);
    int rc = tn_store_task_get(v->store, task_id, &t);
    if (rc >= 0) rc = tn_store_model_get(v->store, t.model, &cm);
    if (rc >= 0) rc = tn_store_dataset_get(v->store, t.dataset, &cd);
    UNLOCK(v);
    char *base = NULL;
    json_t *base_res = NULL;
    char *base_path = NULL;
    if (rc < 0 || t.state != TN_TASK_EVALUATING) goto out;
    if (!(base = model_dir(v, t.model, cm.manifest_hash))) {
        LOCK(v);
        tn_store_task_transition(v->store, t.id, TN_TASK_EVALUATING, TN_TASK_FAILED, tn_errmsg(), v_now_ms());
        UNLOCK(v);
        goto out;
    }
    base_path = v_path(v, "tasks/%lld/base.result.json", (long long)t.id);
    base_res = tn_file_exists(base_path) ? tn_json_load_file(base_path) : run_job(v, &t, base, NULL, "base", cd.mapping_json);
    if (!base_res) {
        char why[700];
        snprintf(why, sizeof why, "evaluating the base model: %s", tn_errmsg());
        LOCK(v);
        tn_store_task_transition(v->store, t.id, TN_TASK_EVALUATING, TN_TASK_FAILED, why, v_now_ms());
        UNLOCK(v);
        goto out;
    }
    tn_submission *ss = NULL;
    size_t ns = 0;
    LOCK(v);
    rc = tn_store_submissions_for_task(v->store, t.id, &ss, &ns);
    UNLOCK(v);
    for (size_t i = 0; rc >= 0 && i < ns && !v->stop; i++) {
        json_t *have = get_rule(v, ss[i].id, "provenance", NULL, NULL);
        if (!have) {
            tn_info("task %lld: evaluating submission %lld", (long long)t.id, (long long)ss[i].id);
            evaluate_submission(v, &t, base, &ss[i], cd.mapping_json);
        }
        json_decref(have);
    }
    tn_submissions_free(ss, ns);
    if (rc < 0 || v->stop) goto out;
    size_t nf = 0;
    fp_entry *fps = all_fingerprints(v, &nf);
    duplicates(v, &t, fps, nf);
    free_fps(fps, nf);
    finalize(v, &t, base_res);
out:
    json_decref(base_res);
    free(base_path);
    free(base);
    tn_task_clear(&t);
    tn_catalog_model_clear(&cm);
    tn_catalog_dataset_clear(&cd);
    return rc < 0 ? -1 : 0;
}

int v_rescore_task(vstate *v, int64_t task_id) {
    tn_submission *ss = NULL;
    size_t ns = 0;
    LOCK(v);
    int rc = tn_store_task_transition(v->store, task_id, TN_TASK_SCORED, TN_TASK_EVALUATING, "rescore", v_now_ms());
    if (rc >= 0) rc = tn_store_submissions_for_task(v->store, task_id, &ss, &ns);
    for (size_t i = 0; rc >= 0 && i < ns; i++)
        for (size_t k = 0; k < sizeof RULES / sizeof *RULES; k++) tn_store_rule_results_delete(v->store, ss[i].id, RULES[k]);
    UNLOCK(v);
    tn_submissions_free(ss, ns);
    if (rc >= 0) tn_info("task %lld: rescoring with the current rules", (long long)task_id);
    return rc < 0 ? -1 : 0;
}
