/* pg_results.c - submissions, rule results, scores, flags, settings (the
 * PostgreSQL store: see pg_store_int.h). */
#include "store/pg_store_int.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- submissions --------------------------------------------------------------------- */

#define SUB_COLS                                                                               \
    "id, task_id, miner_id, token, received_at, kind, manifest_json, content_hash, strategy, " \
    "files_dir, uploads"

static int row_submission(const PGresult *r, int i, void *out) {
    tn_submission *b = out;
    int kind;
    if (pgq_enum(r, i, 5, ss_sub_kinds, 2, &kind) != 0) return -1;
    b->id = pgq_i64(r, i, 0);
    b->task_id = pgq_i64(r, i, 1);
    b->miner_id = pgq_i64(r, i, 2);
    b->token = pgq_str(r, i, 3);
    b->received_at = pgq_i64(r, i, 4);
    b->kind = (tn_submission_kind)kind;
    b->manifest_json = pgq_str(r, i, 6);
    b->content_hash = pgq_str(r, i, 7);
    b->strategy = pgq_str(r, i, 8);
    b->files_dir = pgq_str(r, i, 9);
    b->uploads = pgq_i64(r, i, 10);
    return 0;
}

/* The checks of an upload, made inside its transaction (SERIALIZABLE: a
 * task moved to evaluating by another process meanwhile aborts one of the
 * two, and the retry sees the new state). */
static int upload_allowed(tn_store *s, const tn_submission *in) {
    tn_offer o;
    int rc = pgq_fetch_one(s, pgq_exec(s, "reading offer", "SELECT " PG_OFFER_COLS " FROM offers WHERE token = $1", "t", in->token),
                           sizeof o, pgs_row_offer, &o, "upload: unknown submission token");
    if (rc != 0) return rc;
    rc = ss_upload_offer_ok(in, &o);
    int64_t task_id = o.task_id;
    tn_offer_clear(&o);
    if (rc != 0) return rc;
    PGresult *r = pgq_exec(s, "reading task", "SELECT state, deadline FROM tasks WHERE id = $1", "i", task_id);
    if (!r) return TN_STORE_ERROR;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return ss_fail_code(TN_STORE_NOT_FOUND, "store: upload: task vanished");
    }
    char state[32];
    snprintf(state, sizeof state, "%s", PQgetvalue(r, 0, 0));
    int64_t deadline = pgq_i64(r, 0, 1);
    PQclear(r);
    return ss_upload_task_ok(in, state, deadline);
}

static int submission_put_tx(tn_store *s, const tn_submission *in, int64_t *id_out) {
    const char *kind = ss_sub_kinds[in->kind];
    const char *strategy = in->strategy ? in->strategy : "";
    int rc = upload_allowed(s, in);
    if (rc != 0) return rc;
    int64_t id = 0, n = 0;
    rc = pgq_scalar(s, &id, "SELECT id FROM submissions WHERE task_id = $1 AND miner_id = $2", "ii",
                    in->task_id, in->miner_id);
    if (rc == TN_STORE_NOT_FOUND) {
        rc = pgq_scalar(s, &id,
                        "INSERT INTO submissions (task_id, miner_id, token, received_at, kind, "
                        "manifest_json, content_hash, strategy, files_dir, uploads) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1) RETURNING id",
                        "iitittttt", in->task_id, in->miner_id, in->token, in->received_at, kind,
                        in->manifest_json, in->content_hash, strategy, in->files_dir);
        rc = pgs_race_is_retry(s, rc);
        n = 1;
    } else if (rc == 0) {
        /* A re-upload replaces the content; results computed on the old
         * content are no longer about this submission. */
        rc = pgq_scalar(s, &n,
                        "UPDATE submissions SET received_at = $1, kind = $2, manifest_json = $3, "
                        "content_hash = $4, strategy = $5, files_dir = $6, uploads = uploads + 1 "
                        "WHERE id = $7 RETURNING uploads",
                        "ittttti", in->received_at, kind, in->manifest_json, in->content_hash,
                        strategy, in->files_dir, id);
        if (rc == 0)
            rc = pgq_run(s, "dropping stale results", NULL, "DELETE FROM rule_results WHERE submission_id = $1",
                         "i", id);
    }
    if (rc == 0)
        rc = pgq_run(s, "recording upload", NULL,
                     "INSERT INTO uploads (submission_id, n, received_at, kind, manifest_json, "
                     "content_hash, strategy, files_dir) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                     "iiittttt", id, n, in->received_at, kind, in->manifest_json, in->content_hash,
                     strategy, in->files_dir);
    if (rc == 0)
        rc = pgq_run(s, "marking offer submitted", NULL,
                     "UPDATE offers SET status = 'submitted', updated_at = $1 "
                     "WHERE task_id = $2 AND miner_id = $3",
                     "iii", in->received_at, in->task_id, in->miner_id);
    if (rc == 0) ss_hook(s, "submission_put:before_commit");
    if (rc == 0) *id_out = id;
    return rc;
}

int pgs_submission_put(tn_store *s, const tn_submission *in, int64_t *id_out) {
    if (ss_check_upload(in) != 0) return TN_STORE_ERROR;
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc;
    int64_t id = 0;
    PG_TX(s, rc, submission_put_tx(s, in, &id));
    if (rc == 0 && id_out) *id_out = id;
    return ss_leave(s, rc);
}

int pgs_submission_get(tn_store *s, int64_t id, tn_submission *out) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    char what[64];
    snprintf(what, sizeof what, "no submission with id %lld", (long long)id);
    PGresult *r = pgq_exec(s, "reading submission", "SELECT " SUB_COLS " FROM submissions WHERE id = $1", "i", id);
    int rc = pgq_fetch_one(s, r, sizeof *out, row_submission, out, what);
    return ss_leave(s, rc);
}

int pgs_submission_for(tn_store *s, int64_t task_id, int64_t miner_id, tn_submission *out) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    char what[96];
    snprintf(what, sizeof what, "no submission of miner %lld for task %lld", (long long)miner_id,
             (long long)task_id);
    PGresult *r = pgq_exec(s, "reading submission",
                           "SELECT " SUB_COLS " FROM submissions WHERE task_id = $1 AND miner_id = $2",
                           "ii", task_id, miner_id);
    int rc = pgq_fetch_one(s, r, sizeof *out, row_submission, out, what);
    return ss_leave(s, rc);
}

int pgs_submissions_for_task(tn_store *s, int64_t task_id, tn_submission **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "listing submissions",
                           "SELECT " SUB_COLS " FROM submissions WHERE task_id = $1 ORDER BY received_at, id",
                           "i", task_id);
    int rc = pgq_fetch_all(s, r, sizeof **v, row_submission, ss_clear_submission, (void **)v, n);
    return ss_leave(s, rc);
}

int pgs_submissions_by_hash(tn_store *s, const char *content_hash, tn_submission **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "listing submissions",
                           "SELECT " SUB_COLS " FROM submissions WHERE content_hash = $1 ORDER BY received_at, id",
                           "t", content_hash);
    int rc = pgq_fetch_all(s, r, sizeof **v, row_submission, ss_clear_submission, (void **)v, n);
    return ss_leave(s, rc);
}

int pgs_upload_history(tn_store *s, int64_t submission_id, tn_submission **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(
        s, "listing uploads",
        "SELECT u.id, b.task_id, b.miner_id, b.token, u.received_at, u.kind, u.manifest_json, "
        "u.content_hash, u.strategy, u.files_dir, u.n FROM uploads u "
        "JOIN submissions b ON b.id = u.submission_id WHERE u.submission_id = $1 ORDER BY u.n",
        "i", submission_id);
    int rc = pgq_fetch_all(s, r, sizeof **v, row_submission, ss_clear_submission, (void **)v, n);
    return ss_leave(s, rc);
}

/* ---- evaluations ---------------------------------------------------------------------- */

static int row_rule(const PGresult *r, int i, void *out) {
    tn_rule_result *x = out;
    int d;
    if (pgq_enum(r, i, 2, ss_decisions, 3, &d) != 0) return -1;
    x->submission_id = pgq_i64(r, i, 0);
    x->rule = pgq_str(r, i, 1);
    x->decision = (tn_decision)d;
    x->numbers_json = pgq_str(r, i, 3);
    x->reason = pgq_str(r, i, 4);
    x->evaluated_at = pgq_i64(r, i, 5);
    return 0;
}

static int rule_result_tx(tn_store *s, const tn_rule_result *in) {
    int64_t v;
    int rc = pgq_scalar(s, &v, "SELECT id FROM submissions WHERE id = $1", "i", in->submission_id);
    if (rc == TN_STORE_NOT_FOUND)
        return ss_fail_code(rc, "store: rule result: no submission with id %lld",
                            (long long)in->submission_id);
    if (rc != 0) return rc;
    return pgq_run(s, "recording rule result", NULL,
                   "INSERT INTO rule_results (submission_id, rule, decision, numbers_json, reason, "
                   "evaluated_at) VALUES ($1, $2, $3, $4, $5, $6) "
                   "ON CONFLICT (submission_id, rule) DO UPDATE SET decision = excluded.decision, "
                   "numbers_json = excluded.numbers_json, reason = excluded.reason, "
                   "evaluated_at = excluded.evaluated_at",
                   "itttti", in->submission_id, in->rule, ss_decisions[in->decision],
                   ss_json_or_empty(in->numbers_json), in->reason ? in->reason : "", in->evaluated_at);
}

int pgs_rule_result_put(tn_store *s, const tn_rule_result *in) {
    if (ss_nonempty(in->rule, "rule name")) return TN_STORE_ERROR;
    if ((unsigned)in->decision > TN_DECISION_FLAG) return tn_fail("store: unknown rule decision");
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    /* a transaction here (SQLite needs none): the existence check and the
     * upsert must see the same submission */
    int rc;
    PG_TX(s, rc, rule_result_tx(s, in));
    return ss_leave(s, rc);
}

int pgs_rule_results(tn_store *s, int64_t submission_id, tn_rule_result **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "listing rule results",
                           "SELECT submission_id, rule, decision, numbers_json, reason, evaluated_at "
                           "FROM rule_results WHERE submission_id = $1 ORDER BY rule",
                           "i", submission_id);
    int rc = pgq_fetch_all(s, r, sizeof **v, row_rule, ss_clear_rule, (void **)v, n);
    return ss_leave(s, rc);
}

int pgs_rule_results_delete(tn_store *s, int64_t submission_id, const char *rule) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc = rule ? pgq_run(s, "deleting rule result", NULL,
                            "DELETE FROM rule_results WHERE submission_id = $1 AND rule = $2", "it",
                            submission_id, rule)
                  : pgq_run(s, "deleting rule results", NULL,
                            "DELETE FROM rule_results WHERE submission_id = $1", "i", submission_id);
    return ss_leave(s, rc);
}

#define SCORE_COLS                                                                              \
    "task_id, miner_id, submission_id, test_loss, synth_loss, weighted_loss, quality, score, "  \
    "valid, invalid_reason, scored_at"

static int row_score(const PGresult *r, int i, void *out) {
    tn_score *c = out;
    c->task_id = pgq_i64(r, i, 0);
    c->miner_id = pgq_i64(r, i, 1);
    c->submission_id = pgq_i64(r, i, 2); /* NULL reads as 0 */
    c->test_loss = pgq_dbl(r, i, 3);
    c->synth_loss = pgq_dbl(r, i, 4);
    c->weighted_loss = pgq_dbl(r, i, 5);
    c->quality = pgq_dbl(r, i, 6);
    c->score = pgq_dbl(r, i, 7);
    c->valid = (int)pgq_i64(r, i, 8);
    c->invalid_reason = pgq_str(r, i, 9);
    c->scored_at = pgq_i64(r, i, 10);
    return 0;
}

static int scores_tx(tn_store *s, int64_t task_id, const tn_score *v, size_t n, int64_t now) {
    int rc = pgq_run(s, "clearing scores", NULL, "DELETE FROM scores WHERE task_id = $1", "i", task_id);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const tn_score *c = &v[i];
        /* submission 0 = none: NULL, so the foreign key is not checked */
        rc = pgq_run(s, "recording score", NULL,
                     "INSERT INTO scores (" SCORE_COLS ") VALUES ($1, $2, NULLIF($3, 0), $4, $5, $6, "
                     "$7, $8, $9, $10, $11)",
                     "iiiddddditi", task_id, c->miner_id, c->submission_id, c->test_loss,
                     c->synth_loss, c->weighted_loss, c->quality, c->score,
                     (int64_t)(c->valid ? 1 : 0), c->valid ? NULL : c->invalid_reason, now);
        if (rc != 0) tn_err_prefix("row %zu (miner %lld)", i, (long long)c->miner_id);
    }
    if (rc == 0) ss_hook(s, "scores_replace:before_commit");
    return rc;
}

int pgs_scores_replace(tn_store *s, int64_t task_id, const tn_score *v, size_t n, int64_t now) {
    if (ss_check_scores(task_id, v, n) != 0) return TN_STORE_ERROR;
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc;
    PG_TX(s, rc, scores_tx(s, task_id, v, n, now));
    return ss_leave(s, rc);
}


int pgs_scores_for_task(tn_store *s, int64_t task_id, tn_score **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "listing scores", "SELECT " SCORE_COLS " FROM scores WHERE task_id = $1 ORDER BY miner_id",
                           "i", task_id);
    return ss_leave(s, pgq_fetch_all(s, r, sizeof **v, row_score, ss_clear_score, (void **)v, n));
}

int pgs_scores_for_miner(tn_store *s, int64_t miner_id, tn_score **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "listing scores", "SELECT " SCORE_COLS " FROM scores WHERE miner_id = $1 ORDER BY task_id",
                           "i", miner_id);
    return ss_leave(s, pgq_fetch_all(s, r, sizeof **v, row_score, ss_clear_score, (void **)v, n));
}

int pgs_scores_all(tn_store *s, tn_score **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "listing scores", "SELECT " SCORE_COLS " FROM scores ORDER BY miner_id, task_id", NULL);
    return ss_leave(s, pgq_fetch_all(s, r, sizeof **v, row_score, ss_clear_score, (void **)v, n));
}

/* ---- flags ------------------------------------------------------------------------------ */

static int row_flag(const PGresult *r, int i, void *out) {
    tn_flag *f = out;
    f->id = pgq_i64(r, i, 0);
    f->task_id = pgq_i64(r, i, 1);
    f->miner_id = pgq_i64(r, i, 2);
    f->rule = pgq_str(r, i, 3);
    f->reason = pgq_str(r, i, 4);
    f->created_at = pgq_i64(r, i, 5);
    return 0;
}

static int flag_tx(tn_store *s, const tn_flag *in, int64_t *id) {
    return pgq_scalar(s, id,
                      "INSERT INTO flags (task_id, miner_id, rule, reason, created_at) "
                      "VALUES ($1, $2, $3, $4, $5) "
                      "ON CONFLICT (task_id, miner_id, rule) DO UPDATE SET reason = excluded.reason "
                      "RETURNING id",
                      "iitti", in->task_id, in->miner_id, in->rule, in->reason ? in->reason : "",
                      in->created_at);
}

int pgs_flag_raise(tn_store *s, const tn_flag *in, int64_t *id_out) {
    if (ss_nonempty(in->rule, "flag rule")) return TN_STORE_ERROR;
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc;
    int64_t id = 0;
    PG_TX(s, rc, flag_tx(s, in, &id));
    if (rc == 0 && id_out) *id_out = id;
    return ss_leave(s, rc);
}

int pgs_flag_list(tn_store *s, int64_t task_id, int64_t miner_id, tn_flag **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "listing flags",
                           "SELECT id, task_id, miner_id, rule, reason, created_at FROM flags "
                           "WHERE ($1 = 0 OR task_id = $1) AND ($2 = 0 OR miner_id = $2) "
                           "ORDER BY created_at DESC, id DESC",
                           "ii", task_id, miner_id);
    return ss_leave(s, pgq_fetch_all(s, r, sizeof **v, row_flag, ss_clear_flag, (void **)v, n));
}

/* ---- settings ------------------------------------------------------------------------------ */

static int setting_tx(tn_store *s, const char *key, const char *value, int64_t expected_version,
                      int64_t now, int64_t *next) {
    int64_t cur = 0;
    int rc = pgq_scalar(s, &cur, "SELECT version FROM settings WHERE key = $1", "t", key);
    if (rc == TN_STORE_NOT_FOUND) {
        cur = 0;
        rc = 0;
    }
    if (rc != 0) return rc;
    if (expected_version >= 0 && expected_version != cur)
        return ss_fail_code(TN_STORE_CONFLICT,
                            "store: setting '%s' is at version %lld, not %lld: another admin changed "
                            "it; re-read it",
                            key, (long long)cur, (long long)expected_version);
    /* MAX + 1 under SERIALIZABLE: two setters that read the same maximum
     * cannot both commit (the loser retries and takes the next number). */
    rc = pgq_scalar(s, next, "SELECT COALESCE(MAX(version), 0) + 1 FROM settings_history", NULL);
    if (rc == 0)
        rc = pgq_run(s, "recording setting history", NULL,
                     "INSERT INTO settings_history (version, key, value, updated_at) VALUES ($1, $2, $3, $4)",
                     "itti", *next, key, value, now);
    rc = pgs_race_is_retry(s, rc);
    if (rc == 0)
        rc = pgq_run(s, "setting", NULL,
                     "INSERT INTO settings (key, value, version, updated_at) VALUES ($1, $2, $3, $4) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                     "version = excluded.version, updated_at = excluded.updated_at",
                     "ttii", key, value, *next, now);
    if (rc == 0) ss_hook(s, "setting_set:before_commit");
    return rc;
}

int pgs_setting_set(tn_store *s, const char *key, const char *value, int64_t expected_version,
                    int64_t now, int64_t *version_out) {
    if (ss_nonempty(key, "setting key")) return TN_STORE_ERROR;
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc;
    int64_t next = 0;
    PG_TX(s, rc, setting_tx(s, key, value, expected_version, now, &next));
    if (rc == 0 && version_out) *version_out = next;
    return ss_leave(s, rc);
}

int pgs_setting_get(tn_store *s, const char *key, char **value_out, int64_t *version_out) {
    *value_out = NULL;
    if (version_out) *version_out = 0;
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "reading setting", "SELECT value, version FROM settings WHERE key = $1", "t", key);
    int rc = TN_STORE_ERROR;
    if (r && PQntuples(r) > 0) {
        /* the version is reported even for an unset key, for compare-and-set */
        if (version_out) *version_out = pgq_i64(r, 0, 1);
        *value_out = pgq_str(r, 0, 0);
        rc = *value_out ? 0 : ss_fail_code(TN_STORE_NOT_FOUND, "store: setting '%s' is unset", key);
    } else if (r) {
        rc = ss_fail_code(TN_STORE_NOT_FOUND, "store: setting '%s' was never set", key ? key : "");
    }
    PQclear(r);
    return ss_leave(s, rc);
}

int pgs_setting_get_at(tn_store *s, const char *key, int64_t version, char **value_out) {
    *value_out = NULL;
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "reading setting history",
                           "SELECT value FROM settings_history WHERE key = $1 AND version <= $2 "
                           "ORDER BY version DESC LIMIT 1",
                           "ti", key, version);
    int rc = TN_STORE_ERROR;
    if (r) {
        if (PQntuples(r) > 0) *value_out = pgq_str(r, 0, 0);
        rc = *value_out ? 0
                        : ss_fail_code(TN_STORE_NOT_FOUND, "store: setting '%s' unset at version %lld",
                                       key ? key : "", (long long)version);
    }
    PQclear(r);
    return ss_leave(s, rc);
}

int pgs_settings_version(tn_store *s, int64_t *out) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc = pgq_scalar(s, out, "SELECT COALESCE(MAX(version), 0) FROM settings_history", NULL);
    return ss_leave(s, rc);
}

static int row_setting(const PGresult *r, int i, void *out) {
    tn_setting *x = out;
    x->key = pgq_str(r, i, 0);
    x->value = pgq_str(r, i, 1);
    x->version = pgq_i64(r, i, 2);
    x->updated_at = pgq_i64(r, i, 3);
    return 0;
}

int pgs_setting_list(tn_store *s, tn_setting **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "listing settings",
                           "SELECT key, value, version, updated_at FROM settings "
                           "WHERE value IS NOT NULL ORDER BY key",
                           NULL);
    return ss_leave(s, pgq_fetch_all(s, r, sizeof **v, row_setting, ss_clear_setting, (void **)v, n));
}
