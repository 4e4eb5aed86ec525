/* scorer.c - a task's evaluation, the rules, the scores (see docs/validator.md).
 *
 * For a task in `evaluating`:
 *   1. the base model is evaluated once on the test and synthetic sets (the
 *      leak check's reference), in a sandboxed child;
 *   2. each submission without a result is evaluated in a sandboxed child
 *      (evaljob.c): provenance verdict, fingerprint, losses. Steps 1 and 2
 *      run side by side in the pool (evalpool.h): each tick hands missing
 *      jobs over and records finished ones, never waiting for a child;
 *   3. then, once all of them are done, in this process, the rules that
 *      compare submissions:
 *      duplicates (judge/duplicates.h: same content hash as any earlier
 *      submission of any task, or a delta sketch too similar to an earlier
 *      one on the same base, not counting work that originates from the
 *      same miner on the same base and dataset: the earliest upload keeps
 *      its score) and the leak check;
 *   4. scores (judge/scoring.c) over the miners that accepted the task, flags for
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
#include "judge/noise.h"
#include "validator/evalpool.h"
#include "validator/vstate.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


/* "score": the noise-aware comparison's numbers (interval, tie), for the views */
static const char *RULES[] = {"provenance", "losses", "duplicate", "leak", "score"};

/* The rules and their thresholds for one evaluation pass, read once so that
 * every decision of the pass uses the same numbers: the anti-cheat library's
 * calibrated defaults (docs/anticheat.md) unless a setting overrides them. */
typedef struct {
    tn_check_rules check; /* the evaluator child's provenance rules; dup_max_* */
    tn_leak_rule leak;
    int leak_invalidates; /* a leak flag also makes the submission invalid */
    tn_score_params score;
    tn_noise_params noise; /* seed: the task's id, set when scoring */
} rule_settings;

static int load_rule_settings(vstate *v, rule_settings *r) {
    tn_check_rules *c = &r->check;
    tn_leak_rule *l = &r->leak;
    tn_check_rules_default(c);
    tn_leak_rule_defaults(l);
    double sketch_k, invalidates, resamples;
    tn_noise_params *np = &r->noise;
    tn_noise_params_default(np);
    if (v_setting_num(v, "rules.min_cosine", c->min_cosine, &c->min_cosine) ||
        v_setting_num(v, "rules.max_rel_distance", c->max_rel_distance, &c->max_rel_distance) ||
        v_setting_num(v, "rules.untouched_rel_eps", c->untouched_rel_eps, &c->untouched_rel_eps) ||
        v_setting_num(v, "rules.sketch_k", c->sketch_k, &sketch_k) ||
        v_setting_num(v, "rules.dup_max_residual", c->dup_max_residual, &c->dup_max_residual) ||
        v_setting_num(v, "rules.dup_max_structure", c->dup_max_structure, &c->dup_max_structure) ||
        v_setting_num(v, "rules.dup_min_significance", c->dup_min_significance, &c->dup_min_significance) ||
        v_setting_num(v, "rules.leak_min_excess", l->min_excess, &l->min_excess) ||
        v_setting_num(v, "rules.leak_k", l->k, &l->k) || v_setting_num(v, "rules.leak_rel", l->rel, &l->rel) ||
        v_setting_num(v, "rules.leak_invalidates", 1, &invalidates) || v_score_params(v, &r->score) ||
        v_setting_num(v, "score.dead_zone", np->dead_zone, &np->dead_zone) ||
        v_setting_num(v, "score.resamples", np->resamples, &resamples) ||
        v_setting_num(v, "score.confidence", np->confidence, &np->confidence))
        return -1;
    np->resamples = resamples >= 0 && resamples <= 1e9 ? (int)resamples : -1; /* checked when scoring */
    c->sketch_k = (int)sketch_k;
    r->leak_invalidates = invalidates != 0;
    return 0;
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

/* Stores one rule's decision; takes over `numbers` (may be NULL). */
static int put_rule(vstate *v, int64_t sub, const char *rule, tn_decision d, json_t *numbers, const char *reason) {
    char *nj = numbers ? json_dumps(numbers, JSON_COMPACT) : NULL;
    json_decref(numbers);
    tn_rule_result rr = {sub, (char *)rule, d, nj, (char *)(reason ? reason : ""), tn_wall_ms()};
    LOCK(v);
    int rc = tn_store_rule_result_put(v->store, &rr);
    UNLOCK(v);
    free(nj);
    return rc < 0 ? -1 : 0;
}

/* A stored rule result of submission `sub`: *numbers (parsed; caller
 * decrefs) is NULL when the rule has no result yet; d and reason (heap) are
 * set only when it has one. Fails only when the store does. */
static int get_rule(vstate *v, int64_t sub, const char *rule, json_t **numbers, tn_decision *d, char **reason) {
    tn_rule_result *rs = NULL;
    size_t n = 0;
    *numbers = NULL;
    LOCK(v);
    int rc = tn_store_rule_results(v->store, sub, &rs, &n);
    UNLOCK(v);
    for (size_t i = 0; rc >= 0 && i < n && !*numbers; i++)
        if (!strcmp(rs[i].rule, rule)) {
            *numbers = json_loads(rs[i].numbers_json ? rs[i].numbers_json : "{}", 0, NULL);
            if (!*numbers) *numbers = json_object();
            if (d) *d = rs[i].decision;
            if (reason) *reason = tn_strdup(rs[i].reason ? rs[i].reason : "");
        }
    tn_rule_results_free(rs, n);
    return rc < 0 ? -1 : 0;
}

/* Records an evaluation of submission s the pool finished (d->rc >= 0;
 * d->result stays the caller's). */
static int record_submission(vstate *v, const tn_task *t, const tn_submission *s, tn_evalpool_done *d) {
    /* when it ran: the proof that evaluations overlap, and what a retry cost */
    json_t *when = json_pack("{s:I, s:I, s:i}", "started_ms", (json_int_t)d->started_ms, "ended_ms",
                             (json_int_t)d->ended_ms, "attempts", d->attempts);
    tn_info("task %lld: submission %lld evaluated in %.1f s (%d attempt%s)", (long long)t->id, (long long)s->id,
            (double)(d->ended_ms - d->started_ms) / 1000.0, d->attempts, d->attempts == 1 ? "" : "s");
    if (d->rc > 0) {
        /* the child crashed or hit a limit on this upload: its problem */
        char why[1100];
        snprintf(why, sizeof why, "could not be evaluated: %s", d->why);
        return put_rule(v, s->id, "provenance", TN_DECISION_FAIL,
                        json_pack("{s:s, s:o}", "verdict", "invalid", "evaluation", when), why);
    }
    json_t *res = d->result;
    const char *verdict = json_string_value(json_object_get(res, "verdict"));
    const char *reason = json_string_value(json_object_get(res, "reason"));
    int ok = verdict && !strcmp(verdict, "fine-tune");
    json_t *prov = json_pack("{s:s, s:s?, s:s?, s:s?, s:O?, s:O?, s:O?, s:O?}", "verdict", verdict ? verdict : "invalid",
                             "sha256", json_string_value(json_object_get(res, "sha256")), "sha256_bf16",
                             json_string_value(json_object_get(res, "sha256_bf16")), "sha256_f16",
                             json_string_value(json_object_get(res, "sha256_f16")), "sketch", json_object_get(res, "sketch"),
                             "sketch_block", json_object_get(res, "sketch_block"),
                             "provenance", json_object_get(res, "provenance"), "is_adapter",
                             json_object_get(res, "is_adapter"));
    json_object_set_new(prov, "evaluation", when);
    int rc = put_rule(v, s->id, "provenance", ok ? TN_DECISION_PASS : TN_DECISION_FAIL, prov, reason ? reason : verdict);
    if (rc == 0 && ok)
        rc = put_rule(v, s->id, "losses", TN_DECISION_PASS,
                      json_pack("{s:O, s:O, s:O, s:O, s:O?, s:O?, s:O?, s:O?}", "test_loss",
                                json_object_get(res, "test_loss"), "synth_loss", json_object_get(res, "synth_loss"),
                                "test_tokens", json_object_get(res, "test_tokens"), "synth_tokens",
                                json_object_get(res, "synth_tokens"), "test_row_loss",
                                json_object_get(res, "test_row_loss"), "test_row_tokens",
                                json_object_get(res, "test_row_tokens"), "synth_row_loss",
                                json_object_get(res, "synth_row_loss"), "synth_row_tokens",
                                json_object_get(res, "synth_row_tokens")),
                      NULL);
    return rc;
}

/* ---- the rules that compare submissions ------------------------------------------- */

typedef struct {
    tn_submission s;
    char model[128], dataset[128]; /* the task's catalog names */
    char sha[65], sha16[65], shaf16[65]; /* "" when unknown (stored before the rounded hashes) */
    float *sketch;
    int k, block;
    int prov_ok;
} fp_entry;

static void free_fps(fp_entry *e, size_t n) {
    for (size_t i = 0; i < n; i++) {
        tn_submission_clear(&e[i].s);
        free(e[i].sketch);
    }
    free(e);
}

/* Takes over submission *s into e with the fingerprint its provenance result p holds. */
static void fill_fp(fp_entry *e, const tn_task *t, tn_submission *s, const json_t *p) {
    memset(e, 0, sizeof *e);
    e->s = *s;
    memset(s, 0, sizeof *s);
    snprintf(e->model, sizeof e->model, "%s", t->model);
    snprintf(e->dataset, sizeof e->dataset, "%s", t->dataset ? t->dataset : "");
    const char *sha = json_string_value(json_object_get(p, "sha256"));
    snprintf(e->sha, sizeof e->sha, "%s", sha ? sha : "");
    const char *sha16 = json_string_value(json_object_get(p, "sha256_bf16"));
    snprintf(e->sha16, sizeof e->sha16, "%s", sha16 ? sha16 : "");
    const char *shaf16 = json_string_value(json_object_get(p, "sha256_f16"));
    snprintf(e->shaf16, sizeof e->shaf16, "%s", shaf16 ? shaf16 : "");
    json_t *sk = json_object_get(p, "sketch");
    json_int_t block = json_integer_value(json_object_get(p, "sketch_block"));
    /* a sketch without its block size is the dense one of before (docs/anticheat.md): not comparable */
    if (json_is_array(sk) && json_array_size(sk) > 0 && block > 0 && json_array_size(sk) % (size_t)block == 0) {
        e->k = (int)json_array_size(sk);
        e->block = (int)block;
        e->sketch = tn_malloc(sizeof(float) * (size_t)e->k);
        for (int j = 0; j < e->k; j++) e->sketch[j] = (float)json_number_value(json_array_get(sk, (size_t)j));
    }
    const char *verdict = json_string_value(json_object_get(p, "verdict"));
    /* an untouched base or another network is caught by provenance;
     * it must not make a fair submission a "duplicate" of it */
    e->prov_ok = verdict && !strcmp(verdict, "fine-tune");
}

/* Every evaluated submission of every task, with its fingerprint. */
static int all_fingerprints(vstate *v, fp_entry **out_v, size_t *n_out) {
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
        rc = tn_store_submissions_for_task(v->store, ts[i].id, &ss, &ns);
        UNLOCK(v);
        for (size_t k = 0; rc >= 0 && k < ns; k++) {
            json_t *p = NULL;
            rc = get_rule(v, ss[k].id, "provenance", &p, NULL, NULL);
            if (!p) continue;
            if (n == cap) out = tn_realloc(out, sizeof *out * (cap = cap ? cap * 2 : 16));
            fill_fp(&out[n++], &ts[i], &ss[k], p);
            json_decref(p);
        }
        tn_submissions_free(ss, ns);
    }
    tn_tasks_free(ts, nt);
    if (rc < 0) {
        free_fps(out, n);
        return -1;
    }
    *out_v = out;
    *n_out = n;
    return 0;
}

/* The duplicate rule (judge/duplicates.c) over every evaluated submission, so
 * that an earlier submission that is itself a copy stands for its original;
 * the decisions of this task's submissions are stored. */
static int duplicates(vstate *v, const rule_settings *rs, const tn_task *t, fp_entry *all, size_t n) {
    const tn_check_rules *c = &rs->check;
    tn_dup_rules dr = {c->dup_max_residual, c->dup_max_structure, c->dup_min_significance};
    tn_dup_item *items = tn_calloc(n + 1, sizeof *items);
    tn_dup_result *res = tn_calloc(n + 1, sizeof *res);
    for (size_t i = 0; i < n; i++)
        items[i] = (tn_dup_item){.id = all[i].s.id, .miner_id = all[i].s.miner_id, .task_id = all[i].s.task_id,
                                 .received_at = all[i].s.received_at, .model = all[i].model,
                                 .dataset = all[i].dataset, .sha256 = all[i].sha, .sha256_bf16 = all[i].sha16, .sha256_f16 = all[i].shaf16,
                                 .sketch = all[i].sketch,
                                 .k = all[i].k, .block = all[i].block, .fine_tune = all[i].prov_ok};
    tn_find_duplicates(items, n, &dr, res);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const fp_entry *e = &all[i];
        if (e->s.task_id != t->id || !e->prov_ok) continue; /* provenance already failed it */
        const fp_entry *dup = res[i].dup_of >= 0 ? &all[res[i].dup_of] : NULL;
        char reason[512] = "";
        if (dup)
            snprintf(reason, sizeof reason, "%s of submission %lld (task %lld, miner %lld, uploaded earlier): %s",
                     res[i].exact ? "exact copy" : "near-duplicate", (long long)dup->s.id, (long long)dup->s.task_id,
                     (long long)dup->s.miner_id, res[i].evidence);
        rc = put_rule(v, e->s.id, "duplicate", dup ? TN_DECISION_FAIL : TN_DECISION_PASS,
                      json_pack("{s:f, s:s, s:I, s:b}", "max_similarity", res[i].max_similarity, "evidence",
                                res[i].evidence, "duplicate_of", (json_int_t)(dup ? dup->s.id : 0), "exact",
                                res[i].exact),
                      dup ? reason : NULL);
    }
    free(items);
    free(res);
    return rc;
}

/* ---- scores ------------------------------------------------------------------------ */

/* One miner that accepted the task: what the rules made of its submission,
 * then its score. */
typedef struct {
    int64_t miner_id, sub_id; /* sub_id 0: nothing uploaded */
    int valid;
    double test, synth;       /* NaN unless the losses count */
    char rule[32];            /* the rule that failed it, "" when none */
    char reason[256];
    double weighted, quality, score;
    json_t *losses; /* a valid one's stored "losses" numbers (the row arrays), else NULL */
    /* the noise-aware comparison (judge/noise.h), when every valid one has rows */
    int has_interval;
    double row_w, lo, hi, effective, diff_lo, diff_hi;
    size_t leader; /* index of its group's leader among the task's participants */
} participant;

static void free_participants(participant *ps, size_t n) {
    for (size_t i = 0; ps && i < n; i++) json_decref(ps[i].losses);
    free(ps);
}

static void set_failed(participant *e, const char *rule, const char *reason) {
    snprintf(e->rule, sizeof e->rule, "%s", rule);
    snprintf(e->reason, sizeof e->reason, "%s", reason);
}

/* Decides e from the stored results of its submission: missing, failed by
 * provenance or as a duplicate, non-finite losses, or valid. */
static int judge_participant(vstate *v, const tn_task *t, participant *e) {
    e->test = e->synth = NAN;
    tn_submission s;
    memset(&s, 0, sizeof s);
    LOCK(v);
    int rc = tn_store_submission_for(v->store, t->id, e->miner_id, &s);
    UNLOCK(v);
    if (rc == TN_STORE_NOT_FOUND) {
        set_failed(e, "missing", "no submission before the deadline");
        return 0;
    }
    if (rc < 0) return -1;
    e->sub_id = s.id;
    tn_submission_clear(&s);
    tn_decision d = TN_DECISION_FAIL, dd = TN_DECISION_PASS;
    char *why = NULL, *dwhy = NULL;
    json_t *p = NULL, *l = NULL, *dup = NULL;
    rc = get_rule(v, e->sub_id, "provenance", &p, &d, &why);
    if (rc == 0) rc = get_rule(v, e->sub_id, "losses", &l, NULL, NULL);
    int prov_ok = p && d == TN_DECISION_PASS;
    if (rc == 0 && prov_ok) rc = get_rule(v, e->sub_id, "duplicate", &dup, &dd, &dwhy);
    if (rc == 0 && !prov_ok) {
        const char *verdict = p ? json_string_value(json_object_get(p, "verdict")) : NULL;
        set_failed(e, verdict ? verdict : "invalid", why ? why : "not evaluated");
    } else if (rc == 0 && dup && dd == TN_DECISION_FAIL) {
        set_failed(e, "duplicate", dwhy ? dwhy : "duplicate");
    } else if (rc == 0 && l) {
        e->test = json_number_value(json_object_get(l, "test_loss"));
        e->synth = json_number_value(json_object_get(l, "synth_loss"));
        e->valid = isfinite(e->test) && isfinite(e->synth);
        if (!e->valid) set_failed(e, "invalid", "non-finite loss");
        if (e->valid) e->losses = json_incref(l);
    }
    json_decref(p);
    json_decref(l);
    json_decref(dup);
    free(why);
    free(dwhy);
    return rc;
}

/* The miners that accepted the task (a rejected or unanswered offer costs
 * nothing), each judged. */
static int participants_of(vstate *v, const tn_task *t, participant **out, size_t *n_out) {
    tn_offer *offers = NULL;
    size_t no = 0;
    LOCK(v);
    int rc = tn_store_offers_for_task(v->store, t->id, &offers, &no);
    UNLOCK(v);
    if (rc < 0) return -1;
    participant *ps = tn_calloc(no + 1, sizeof *ps);
    size_t n = 0;
    for (size_t i = 0; rc == 0 && i < no; i++) {
        tn_offer_status st = offers[i].status;
        if (st != TN_OFFER_ACCEPTED && st != TN_OFFER_STARTED && st != TN_OFFER_SUBMITTED && st != TN_OFFER_EVALUATED)
            continue;
        participant *e = &ps[n++];
        e->miner_id = offers[i].miner_id;
        rc = judge_participant(v, t, e);
    }
    tn_offers_free(offers, no);
    if (rc < 0) {
        free_participants(ps, n);
        return -1;
    }
    *out = ps;
    *n_out = n;
    return 0;
}

/* The leak check among the valid participants, against the base model. Its
 * decision is stored for each of them; a flagged one also fails (and loses
 * its validity when rules.leak_invalidates says so). *nvalid: how many were
 * checked. */
static int leak_rule(vstate *v, const rule_settings *rs, participant *ps, size_t n, const json_t *base_res,
                     size_t *nvalid) {
    /* tn_leak_check takes one column per quantity, over the valid ones only */
    size_t m = n + 1, nv = 0;
    double *col = tn_calloc(4 * m, sizeof *col);
    double *test = col, *synth = col + m, *excess = col + 2 * m, *thr = col + 3 * m;
    int *flagged = tn_calloc(m, sizeof *flagged);
    participant **who = tn_calloc(m, sizeof *who);
    for (size_t i = 0; i < n; i++)
        if (ps[i].valid) {
            who[nv] = &ps[i];
            test[nv] = ps[i].test;
            synth[nv++] = ps[i].synth;
        }
    double bt = json_number_value(json_object_get(base_res, "test_loss"));
    double bs = json_number_value(json_object_get(base_res, "synth_loss"));
    tn_leak_check(test, synth, nv, bt, bs, &rs->leak, flagged, excess, thr);
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < nv; k++) {
        participant *e = who[k];
        char why[256] = "";
        if (flagged[k])
            snprintf(why, sizeof why, "test loss %.4f is %.3f nats lower against its synthetic loss %.4f than the "
                     "base model and the other miners (threshold %.3f): test rows seen in training?",
                     e->test, excess[k], e->synth, thr[k]);
        rc = put_rule(v, e->sub_id, "leak", flagged[k] ? TN_DECISION_FLAG : TN_DECISION_PASS,
                      json_pack("{s:f, s:f, s:f, s:f}", "gap", e->synth - e->test, "excess", excess[k], "threshold",
                                thr[k], "base_gap", bs - bt),
                      flagged[k] ? why : NULL);
        if (flagged[k]) {
            set_failed(e, "leak", why);
            if (rs->leak_invalidates) e->valid = 0;
        }
    }
    free(col);
    free(flagged);
    free(who);
    *nvalid = nv;
    return rc;
}

/* The array `key` of a stored "losses" result as doubles (null: NaN) into
 * out[0..n); 0, or -1 when it is missing, of another length or not numbers. */
static int row_column(const json_t *losses, const char *key, double *out, size_t n) {
    const json_t *a = json_object_get(losses, key);
    if (!json_is_array(a) || json_array_size(a) != n) return -1;
    for (size_t k = 0; k < n; k++) {
        const json_t *x = json_array_get(a, k);
        if (!json_is_number(x) && !json_is_null(x)) return -1;
        out[k] = json_is_null(x) ? NAN : json_number_value(x);
    }
    return 0;
}

/* The noise-aware comparison of the valid participants (judge/noise.h):
 * fills has_interval, row_w, lo, hi, effective, leader. 0 when done; 1 when
 * it cannot be (results stored before per-row losses, rows of different
 * lengths, rows that disagree with the stored losses, bad settings): the
 * caller then scores on w alone, as before per-row losses, and says why. */
static int compare_within_noise(const tn_task *t, const rule_settings *rs, participant *ps, size_t n) {
    size_t nv = 0, nt = 0, ns = 0;
    for (size_t i = 0; i < n; i++)
        if (ps[i].valid) {
            const json_t *l = ps[i].losses;
            size_t a = json_array_size(json_object_get(l, "test_row_loss"));
            size_t b = json_array_size(json_object_get(l, "synth_row_loss"));
            if (!l || !json_is_array(json_object_get(l, "test_row_loss"))) {
                tn_warn("task %lld: submission %lld has no per-row losses (evaluated before they were stored): "
                        "scores without intervals", (long long)t->id, (long long)ps[i].sub_id);
                return 1;
            }
            if (nv > 0 && (a != nt || b != ns)) {
                tn_warn("task %lld: submission %lld has %zu test and %zu synthetic rows, others %zu and %zu: "
                        "scores without intervals", (long long)t->id, (long long)ps[i].sub_id, a, b, nt, ns);
                return 1;
            }
            nt = a;
            ns = b;
            nv++;
        }
    if (nv == 0) return 1;
    size_t per = 2 * (nt + ns);
    double *buf = tn_calloc(nv * per + 1, sizeof *buf);
    tn_noise_rows *rows = tn_calloc(nv, sizeof *rows);
    tn_noise_result *res = tn_calloc(nv, sizeof *res);
    size_t *who = tn_calloc(nv, sizeof *who);
    int rc = 0;
    for (size_t i = 0, k = 0; rc == 0 && i < n; i++) {
        if (!ps[i].valid) continue;
        double *b = buf + k * per;
        rows[k] = (tn_noise_rows){b, b + nt, b + 2 * nt, b + 2 * nt + ns};
        who[k] = i;
        if (row_column(ps[i].losses, "test_row_loss", b, nt) || row_column(ps[i].losses, "test_row_tokens", b + nt, nt) ||
            row_column(ps[i].losses, "synth_row_loss", b + 2 * nt, ns) ||
            row_column(ps[i].losses, "synth_row_tokens", b + 2 * nt + ns, ns)) {
            tn_warn("task %lld: submission %lld: malformed per-row losses: scores without intervals",
                    (long long)t->id, (long long)ps[i].sub_id);
            rc = 1;
        }
        k++;
    }
    tn_noise_params np = rs->noise;
    np.seed = (uint64_t)t->id; /* a rescore draws the same resamples */
    if (rc == 0 && tn_noise_compare(&np, rs->score.alpha, rows, (int)nv, (int)nt, (int)ns, res)) {
        tn_warn("task %lld: %s: scores without intervals", (long long)t->id, tn_errmsg());
        rc = 1;
    }
    for (size_t k = 0; rc == 0 && k < nv; k++) {
        /* the rows must give the loss the evaluator reported (float sums) */
        const participant *e = &ps[who[k]];
        double w = tn_weighted_loss(&rs->score, e->test, e->synth);
        if (fabs(res[k].w - w) > 1e-3 * fmax(1, fabs(w))) {
            tn_warn("task %lld: submission %lld: its rows give loss %.6f, its result %.6f: scores without intervals",
                    (long long)t->id, (long long)e->sub_id, res[k].w, w);
            rc = 1;
        }
    }
    for (size_t k = 0; rc == 0 && k < nv; k++) {
        participant *e = &ps[who[k]];
        e->has_interval = 1;
        e->row_w = res[k].w;
        e->lo = res[k].lo;
        e->hi = res[k].hi;
        e->effective = res[k].effective;
        e->diff_lo = res[k].diff_lo;
        e->diff_hi = res[k].diff_hi;
        e->leader = who[res[k].leader];
    }
    free(buf);
    free(rows);
    free(res);
    free(who);
    return rc;
}

/* Weighted loss, quality and score of every participant (scoring.h): from
 * the effective losses of the noise-aware comparison when it can be made,
 * from the weighted losses otherwise. */
static void score(const tn_task *t, const rule_settings *rs, participant *ps, size_t n) {
    if (n == 0) return;
    const tn_score_params *sp = &rs->score;
    tn_task_entry *te = tn_calloc(n, sizeof *te);
    double *col = tn_calloc(4 * n, sizeof *col); /* w, r, s, effective */
    for (size_t i = 0; i < n; i++) te[i] = (tn_task_entry){ps[i].valid, ps[i].test, ps[i].synth};
    int noisy = compare_within_noise(t, rs, ps, n) == 0;
    for (size_t i = 0; i < n; i++) col[3 * n + i] = ps[i].valid ? ps[i].effective : NAN;
    /* only bad score.* settings make it fail: every score then stays 0 */
    int rc = tn_score_task(sp, te, (int)n, col, col + n, col + 2 * n);
    if (rc == 0 && noisy) rc = tn_score_losses(sp, te, col + 3 * n, (int)n, col + n, col + 2 * n);
    if (rc) tn_warn("task %lld: scoring: %s (every score is 0)", (long long)t->id, tn_errmsg());
    for (size_t i = 0; i < n; i++) {
        ps[i].weighted = ps[i].valid ? col[i] : NAN;
        ps[i].quality = rc ? 0 : col[n + i];
        ps[i].score = rc ? 0 : col[2 * n + i];
    }
    free(te);
    free(col);
}

/* Each compared submission's interval and tie, as its "score" rule result
 * (the views show them; docs/scoring.md). */
static int store_intervals(vstate *v, const rule_settings *rs, const participant *ps, size_t n) {
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const participant *e = &ps[i];
        if (!e->has_interval) continue;
        const participant *lead = &ps[e->leader];
        int tied = lead != e;
        char why[200] = "";
        if (tied)
            snprintf(why, sizeof why, "within noise of submission %lld (difference %.4f nats, interval [%.4f, %.4f])",
                     (long long)lead->sub_id, e->row_w - lead->row_w, e->diff_lo, e->diff_hi);
        rc = put_rule(v, e->sub_id, "score", TN_DECISION_PASS,
                      json_pack("{s:f, s:f, s:f, s:f, s:I, s:I, s:f, s:f, s:f, s:i, s:f}", "weighted_loss", e->row_w,
                                "lo", e->lo, "hi", e->hi, "effective_loss", e->effective, "tied_with_submission",
                                (json_int_t)(tied ? lead->sub_id : 0), "tied_with_miner",
                                (json_int_t)(tied ? lead->miner_id : 0), "diff_lo", e->diff_lo, "diff_hi", e->diff_hi,
                                "dead_zone", rs->noise.dead_zone, "resamples", rs->noise.resamples, "confidence",
                                rs->noise.confidence),
                      tied ? why : NULL);
    }
    return rc;
}

/* A flag for every failed rule, the offers of evaluated submissions marked,
 * the scores, then `scored`. Each is idempotent, so a redo after a failure
 * part way is safe. */
static int store_results(vstate *v, const tn_task *t, const participant *ps, size_t n) {
    tn_score *sc = tn_calloc(n + 1, sizeof *sc);
    int64_t now = tn_wall_ms();
    int rc = 0;
    LOCK(v);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const participant *e = &ps[i];
        sc[i] = (tn_score){.task_id = t->id, .miner_id = e->miner_id, .submission_id = e->sub_id,
                           .test_loss = e->test, .synth_loss = e->synth, .weighted_loss = e->weighted,
                           .quality = e->quality, .score = e->score, .valid = e->valid,
                           .invalid_reason = e->valid ? NULL : (char *)e->reason, .scored_at = now};
        if (e->rule[0]) {
            tn_flag f = {0, t->id, e->miner_id, (char *)e->rule, (char *)e->reason, now};
            int64_t fid;
            rc = tn_store_flag_raise(v->store, &f, &fid);
        }
        /* CONFLICT: the offer is evaluated already (a rescore) */
        if (rc >= 0 && e->sub_id) {
            rc = tn_store_offer_update(v->store, t->id, e->miner_id, TN_OFFER_SUBMITTED, TN_OFFER_EVALUATED,
                                       "evaluated", now);
            if (rc == TN_STORE_CONFLICT) rc = 0;
        }
    }
    if (rc >= 0) rc = tn_store_scores_replace(v->store, t->id, sc, n, now);
    if (rc >= 0) rc = tn_store_task_transition(v->store, t->id, TN_TASK_EVALUATING, TN_TASK_SCORED, NULL, now);
    UNLOCK(v);
    free(sc);
    return rc < 0 ? -1 : 0;
}

static int finalize(vstate *v, const rule_settings *rs, const tn_task *t, const json_t *base_res) {
    participant *ps = NULL;
    size_t n = 0, nvalid = 0;
    if (participants_of(v, t, &ps, &n)) return -1;
    int rc = leak_rule(v, rs, ps, n, base_res, &nvalid);
    if (rc == 0) {
        score(t, rs, ps, n);
        rc = store_intervals(v, rs, ps, n);
        if (rc == 0) rc = store_results(v, t, ps, n);
    }
    if (rc == 0) tn_info("task %lld: scored (%zu participants, %zu valid)", (long long)t->id, n, nvalid);
    free_participants(ps, n);
    return rc;
}

/* evaluating -> failed; the task's own problem, not the store's */
static int fail_evaluation(vstate *v, const tn_task *t, const char *why) {
    LOCK(v);
    int rc = tn_store_task_transition(v->store, t->id, TN_TASK_EVALUATING, TN_TASK_FAILED, why, tn_wall_ms());
    UNLOCK(v);
    return rc < 0 ? -1 : 0;
}

/* Hands every submission without a result to the pool and records the
 * evaluations it finished: *pending counts those still to come. */
static int evaluate_new_submissions(vstate *v, const rule_settings *rs, const tn_task *t,
                                    const char *base, const char *mapping, size_t *pending) {
    tn_submission *ss = NULL;
    size_t ns = 0;
    *pending = 0;
    LOCK(v);
    int rc = tn_store_submissions_for_task(v->store, t->id, &ss, &ns);
    UNLOCK(v);
    for (size_t i = 0; rc >= 0 && i < ns && !v->stop; i++) {
        json_t *have = NULL;
        rc = get_rule(v, ss[i].id, "provenance", &have, NULL, NULL);
        json_decref(have);
        if (rc < 0 || have) continue;
        char tag[64];
        snprintf(tag, sizeof tag, "sub%lld", (long long)ss[i].id);
        tn_evalpool_done d;
        int st = v_eval_job(v, &rs->check, t, base, ss[i].id, ss[i].files_dir, tag, mapping, &d);
        if (st < 0) rc = -1;
        if (st == 1 && d.rc >= 0) {
            rc = record_submission(v, t, &ss[i], &d);
            json_decref(d.result);
        }
        if (st == 1 && d.rc < 0) /* not evaluated (e.g. stopping): nothing recorded, run again later */
            tn_warn("task %lld: submission %lld: %s", (long long)t->id, (long long)ss[i].id, d.why);
        *pending += st == 0 || (st == 1 && d.rc < 0);
    }
    tn_submissions_free(ss, ns);
    return rc < 0 ? -1 : 0;
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
    rule_settings rs;
    if (rc < 0 || t.state != TN_TASK_EVALUATING) goto out;
    if ((rc = load_rule_settings(v, &rs)) < 0) goto out;
    if (!(base = model_dir(v, t.model, cm.manifest_hash))) {
        char why[700];
        snprintf(why, sizeof why, "%s", tn_errmsg());
        rc = fail_evaluation(v, &t, why);
        goto out;
    }
    /* the base model's job and the submissions' run side by side; the rules
     * that compare them wait for all */
    base_path = v_path(v, "tasks/%lld/base.result.json", (long long)t.id);
    tn_evalpool_done bd = {0};
    int from_file = tn_file_exists(base_path);
    int brc = from_file ? 1 : v_eval_job(v, &rs.check, &t, base, 0, NULL, "base", cd.mapping_json, &bd);
    if (brc < 0) {
        rc = -1; /* the pool could not take it: the next tick tries again */
        goto out;
    }
    if (from_file && !(base_res = tn_json_load_file(base_path))) {
        bd.rc = 1;
        snprintf(bd.why, sizeof bd.why, "%s", tn_errmsg());
    }
    if (brc == 1 && bd.rc > 0) {
        char why[1200];
        snprintf(why, sizeof why, "evaluating the base model: %s", bd.why);
        rc = fail_evaluation(v, &t, why);
        goto out;
    }
    if (!from_file && brc == 1 && bd.rc == 0) {
        base_res = bd.result;
        tn_info("task %lld: base model evaluated in %.1f s (%d attempt%s)", (long long)t.id,
                (double)(bd.ended_ms - bd.started_ms) / 1000.0, bd.attempts, bd.attempts == 1 ? "" : "s");
    }
    if (!from_file && brc == 1 && bd.rc < 0) /* not run: again on a later tick */
        tn_warn("task %lld: the base model: %s", (long long)t.id, bd.why);
    size_t pending = 0;
    rc = evaluate_new_submissions(v, &rs, &t, base, cd.mapping_json, &pending);
    if (rc < 0 || v->stop || pending || !base_res) goto out;
    size_t nf = 0;
    fp_entry *fps = NULL;
    rc = all_fingerprints(v, &fps, &nf);
    if (rc == 0) rc = duplicates(v, &rs, &t, fps, nf);
    free_fps(fps, nf);
    if (rc == 0) rc = finalize(v, &rs, &t, base_res);
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
    int rc = tn_store_task_transition(v->store, task_id, TN_TASK_SCORED, TN_TASK_EVALUATING, "rescore", tn_wall_ms());
    if (rc >= 0) rc = tn_store_submissions_for_task(v->store, task_id, &ss, &ns);
    for (size_t i = 0; rc >= 0 && i < ns; i++)
        for (size_t k = 0; rc >= 0 && k < sizeof RULES / sizeof *RULES; k++)
            rc = tn_store_rule_results_delete(v->store, ss[i].id, RULES[k]);
    UNLOCK(v);
    tn_submissions_free(ss, ns);
    if (rc >= 0) tn_info("task %lld: rescoring with the current rules", (long long)task_id);
    return rc < 0 ? -1 : 0;
}
