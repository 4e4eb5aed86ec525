/* sqlite_results.c - submissions, rule results, scores, flags, settings (the SQLite store: see sqlite_store_int.h). */
#include "store/sqlite_store_int.h"
#include "base/mem.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- submissions --------------------------------------------------------------------- */

#define SUB_COLS                                                                               \
    "id, task_id, miner_id, token, received_at, kind, manifest_json, content_hash, strategy, " \
    "files_dir, uploads"

static int row_submission(sqlite3_stmt *st, void *out) {
    tn_submission *b = out;
    int kind;
    if (ss_col_enum(st, 5, ss_sub_kinds, 2, &kind) != 0) return -1;
    b->id = tn_sqlite_col_i64(st, 0);
    b->task_id = tn_sqlite_col_i64(st, 1);
    b->miner_id = tn_sqlite_col_i64(st, 2);
    b->token = tn_sqlite_col_str(st, 3);
    b->received_at = tn_sqlite_col_i64(st, 4);
    b->kind = (tn_submission_kind)kind;
    b->manifest_json = tn_sqlite_col_str(st, 6);
    b->content_hash = tn_sqlite_col_str(st, 7);
    b->strategy = tn_sqlite_col_str(st, 8);
    b->files_dir = tn_sqlite_col_str(st, 9);
    b->uploads = tn_sqlite_col_i64(st, 10);
    return 0;
}

/* The checks of an upload, made inside its transaction. */
static int upload_allowed(tn_store *s, const tn_submission *in) {
    tn_offer o;
    int rc = ss_fetch_one(s, tn_sqlite_q(&s->h, "SELECT " OFFER_COLS " FROM offers WHERE token = ?", "t", in->token),
                       sizeof o, ss_row_offer, &o, "upload: unknown submission token");
    if (rc != 0) return rc;
    rc = ss_upload_offer_ok(in, &o);
    int64_t task_id = o.task_id;
    tn_offer_clear(&o);
    if (rc != 0) return rc;
    char state[32];
    if ((rc = ss_read_text(s, "SELECT state FROM tasks WHERE id = ?", task_id, state, sizeof state)))
        return rc == TN_STORE_NOT_FOUND ? ss_fail_code(rc, "store: upload: task vanished") : rc;
    int64_t deadline = 0;
    if ((rc = tn_sqlite_scalar(&s->h, &deadline, "SELECT deadline FROM tasks WHERE id = ?", "i", task_id)))
        return rc;
    return ss_upload_task_ok(in, state, deadline);
}

int sqs_submission_put(tn_store *s, const tn_submission *in, int64_t *id_out) {
    if (ss_check_upload(in) != 0) return TN_STORE_ERROR;
    const char *kind = ss_sub_kinds[in->kind];
    const char *strategy = in->strategy ? in->strategy : "";
    int rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    if ((rc = upload_allowed(s, in)) != 0) goto out;
    int64_t id = 0, n = 0;
    rc = tn_sqlite_scalar(&s->h, &id, "SELECT id FROM submissions WHERE task_id = ? AND miner_id = ?", "ii",
                in->task_id, in->miner_id);
    if (rc == TN_STORE_NOT_FOUND) {
        rc = tn_sqlite_run(&s->h, "recording submission",
                 "INSERT INTO submissions (task_id, miner_id, token, received_at, kind, "
                 "manifest_json, content_hash, strategy, files_dir, uploads) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                 "iitittttt", in->task_id, in->miner_id, in->token, in->received_at, kind,
                 in->manifest_json, in->content_hash, strategy, in->files_dir);
        id = sqlite3_last_insert_rowid(s->h.db);
        n = 1;
    } else if (rc == 0) {
        /* A re-upload replaces the content; results computed on the old
         * content are no longer about this submission. */
        rc = tn_sqlite_run(&s->h, "replacing submission",
                 "UPDATE submissions SET received_at = ?, kind = ?, manifest_json = ?, "
                 "content_hash = ?, strategy = ?, files_dir = ?, uploads = uploads + 1 WHERE id = ?",
                 "ittttti", in->received_at, kind, in->manifest_json, in->content_hash, strategy,
                 in->files_dir, id);
        if (rc == 0)
            rc = tn_sqlite_run(&s->h, "dropping stale results", "DELETE FROM rule_results WHERE submission_id = ?",
                     "i", id);
        if (rc == 0) rc = tn_sqlite_scalar(&s->h, &n, "SELECT uploads FROM submissions WHERE id = ?", "i", id);
    }
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "recording upload",
                 "INSERT INTO uploads (submission_id, n, received_at, kind, manifest_json, "
                 "content_hash, strategy, files_dir) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 "iiittttt", id, n, in->received_at, kind, in->manifest_json, in->content_hash,
                 strategy, in->files_dir);
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "marking offer submitted",
                 "UPDATE offers SET status = 'submitted', updated_at = ? "
                 "WHERE task_id = ? AND miner_id = ?",
                 "iii", in->received_at, in->task_id, in->miner_id);
    if (rc == 0) ss_hook(s, "submission_put:before_commit");
    if (rc == 0 && id_out) *id_out = id;
out:
    return ss_leave_tx(s, rc);
}

int sqs_submission_get(tn_store *s, int64_t id, tn_submission *out) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    char what[64];
    snprintf(what, sizeof what, "no submission with id %lld", (long long)id);
    int rc = ss_fetch_one(s, tn_sqlite_q(&s->h, "SELECT " SUB_COLS " FROM submissions WHERE id = ?", "i", id),
                       sizeof *out, row_submission, out, what);
    return ss_leave(s, rc);
}

int sqs_submission_for(tn_store *s, int64_t task_id, int64_t miner_id, tn_submission *out) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    char what[96];
    snprintf(what, sizeof what, "no submission of miner %lld for task %lld", (long long)miner_id,
             (long long)task_id);
    int rc = ss_fetch_one(s,
                       tn_sqlite_q(&s->h, "SELECT " SUB_COLS " FROM submissions WHERE task_id = ? AND miner_id = ?",
                         "ii", task_id, miner_id),
                       sizeof *out, row_submission, out, what);
    return ss_leave(s, rc);
}

int sqs_submissions_for_task(tn_store *s, int64_t task_id, tn_submission **v, size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h,
                    "SELECT " SUB_COLS
                    " FROM submissions WHERE task_id = ? ORDER BY received_at, id",
                    "i", task_id),
        sizeof **v, row_submission, ss_clear_submission, (void **)v, n);
    return ss_leave(s, rc);
}

int sqs_submissions_by_hash(tn_store *s, const char *content_hash, tn_submission **v,
                                 size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h,
                    "SELECT " SUB_COLS
                    " FROM submissions WHERE content_hash = ? ORDER BY received_at, id",
                    "t", content_hash),
        sizeof **v, row_submission, ss_clear_submission, (void **)v, n);
    return ss_leave(s, rc);
}

int sqs_upload_history(tn_store *s, int64_t submission_id, tn_submission **v, size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(
            &s->h,
            "SELECT u.id, b.task_id, b.miner_id, b.token, u.received_at, u.kind, u.manifest_json, "
            "u.content_hash, u.strategy, u.files_dir, u.n FROM uploads u "
            "JOIN submissions b ON b.id = u.submission_id WHERE u.submission_id = ? ORDER BY u.n",
            "i", submission_id),
        sizeof **v, row_submission, ss_clear_submission, (void **)v, n);
    return ss_leave(s, rc);
}

/* ---- evaluations ---------------------------------------------------------------------- */

static int row_rule(sqlite3_stmt *st, void *out) {
    tn_rule_result *r = out;
    int d;
    if (ss_col_enum(st, 2, ss_decisions, 3, &d) != 0) return -1;
    r->submission_id = tn_sqlite_col_i64(st, 0);
    r->rule = tn_sqlite_col_str(st, 1);
    r->decision = (tn_decision)d;
    r->numbers_json = tn_sqlite_col_str(st, 3);
    r->reason = tn_sqlite_col_str(st, 4);
    r->evaluated_at = tn_sqlite_col_i64(st, 5);
    return 0;
}

int sqs_rule_result_put(tn_store *s, const tn_rule_result *in) {
    if (ss_nonempty(in->rule, "rule name")) return TN_STORE_ERROR;
    if ((unsigned)in->decision > TN_DECISION_FLAG) return tn_fail("store: unknown rule decision");
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int64_t v;
    int rc = tn_sqlite_scalar(&s->h, &v, "SELECT id FROM submissions WHERE id = ?", "i", in->submission_id);
    if (rc == TN_STORE_NOT_FOUND)
        rc = ss_fail_code(rc, "store: rule result: no submission with id %lld",
                       (long long)in->submission_id);
    /* One statement, so it is atomic on its own. */
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "recording rule result",
                 "INSERT INTO rule_results (submission_id, rule, decision, numbers_json, reason, "
                 "evaluated_at) VALUES (?, ?, ?, ?, ?, ?) "
                 "ON CONFLICT (submission_id, rule) DO UPDATE SET decision = excluded.decision, "
                 "numbers_json = excluded.numbers_json, reason = excluded.reason, "
                 "evaluated_at = excluded.evaluated_at",
                 "itttti", in->submission_id, in->rule, ss_decisions[in->decision],
                 ss_json_or_empty(in->numbers_json), in->reason ? in->reason : "", in->evaluated_at);
    return ss_leave(s, rc);
}

int sqs_rule_results(tn_store *s, int64_t submission_id, tn_rule_result **v, size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h,
                    "SELECT submission_id, rule, decision, numbers_json, reason, evaluated_at "
                    "FROM rule_results WHERE submission_id = ? ORDER BY rule",
                    "i", submission_id),
        sizeof **v, row_rule, ss_clear_rule, (void **)v, n);
    return ss_leave(s, rc);
}

int sqs_rule_results_delete(tn_store *s, int64_t submission_id, const char *rule) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = rule ? tn_sqlite_run(&s->h, "deleting rule result",
                        "DELETE FROM rule_results WHERE submission_id = ? AND rule = ?", "it",
                        submission_id, rule)
                  : tn_sqlite_run(&s->h, "deleting rule results", "DELETE FROM rule_results WHERE submission_id = ?",
                        "i", submission_id);
    return ss_leave(s, rc);
}

#define SCORE_COLS                                                                              \
    "task_id, miner_id, submission_id, test_loss, synth_loss, weighted_loss, quality, score, "  \
    "valid, invalid_reason, scored_at"

static int row_score(sqlite3_stmt *st, void *out) {
    tn_score *c = out;
    c->task_id = tn_sqlite_col_i64(st, 0);
    c->miner_id = tn_sqlite_col_i64(st, 1);
    c->submission_id = tn_sqlite_col_i64(st, 2); /* NULL reads as 0 */
    c->test_loss = tn_sqlite_col_dbl(st, 3);
    c->synth_loss = tn_sqlite_col_dbl(st, 4);
    c->weighted_loss = tn_sqlite_col_dbl(st, 5);
    c->quality = tn_sqlite_col_dbl(st, 6);
    c->score = tn_sqlite_col_dbl(st, 7);
    c->valid = (int)tn_sqlite_col_i64(st, 8);
    c->invalid_reason = tn_sqlite_col_str(st, 9);
    c->scored_at = tn_sqlite_col_i64(st, 10);
    return 0;
}

int sqs_scores_replace(tn_store *s, int64_t task_id, const tn_score *v, size_t n, int64_t now) {
    if (ss_check_scores(task_id, v, n) != 0) return TN_STORE_ERROR;
    int rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    rc = tn_sqlite_run(&s->h, "clearing scores", "DELETE FROM scores WHERE task_id = ?", "i", task_id);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const tn_score *c = &v[i];
        /* submission 0 = none: bind NULL so the foreign key is not checked */
        rc = c->submission_id > 0
                 ? tn_sqlite_run(&s->h, "recording score",
                       "INSERT INTO scores (" SCORE_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       "iiiddddditi", task_id, c->miner_id, c->submission_id, c->test_loss,
                       c->synth_loss, c->weighted_loss, c->quality, c->score,
                       (int64_t)(c->valid ? 1 : 0), c->valid ? NULL : c->invalid_reason, now)
                 : tn_sqlite_run(&s->h, "recording score",
                       "INSERT INTO scores (" SCORE_COLS ") VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
                       "iiddddditi", task_id, c->miner_id, c->test_loss, c->synth_loss,
                       c->weighted_loss, c->quality, c->score, (int64_t)(c->valid ? 1 : 0),
                       c->valid ? NULL : c->invalid_reason, now);
        if (rc != 0) tn_err_prefix("row %zu (miner %lld)", i, (long long)c->miner_id);
    }
    if (rc == 0) ss_hook(s, "scores_replace:before_commit");
    return ss_leave_tx(s, rc);
}

int sqs_scores_for_task(tn_store *s, int64_t task_id, tn_score **v, size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h, "SELECT " SCORE_COLS " FROM scores WHERE task_id = ? ORDER BY miner_id",
                    "i", task_id),
        sizeof **v, row_score, ss_clear_score, (void **)v, n);
    return ss_leave(s, rc);
}

int sqs_scores_for_miner(tn_store *s, int64_t miner_id, tn_score **v, size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h, "SELECT " SCORE_COLS " FROM scores WHERE miner_id = ? ORDER BY task_id",
                    "i", miner_id),
        sizeof **v, row_score, ss_clear_score, (void **)v, n);
    return ss_leave(s, rc);
}

int sqs_scores_all(tn_store *s, tn_score **v, size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h, "SELECT " SCORE_COLS " FROM scores ORDER BY miner_id, task_id", NULL),
        sizeof **v, row_score, ss_clear_score, (void **)v, n);
    return ss_leave(s, rc);
}

/* ---- flags ------------------------------------------------------------------------------ */

static int row_flag(sqlite3_stmt *st, void *out) {
    tn_flag *f = out;
    f->id = tn_sqlite_col_i64(st, 0);
    f->task_id = tn_sqlite_col_i64(st, 1);
    f->miner_id = tn_sqlite_col_i64(st, 2);
    f->rule = tn_sqlite_col_str(st, 3);
    f->reason = tn_sqlite_col_str(st, 4);
    f->created_at = tn_sqlite_col_i64(st, 5);
    return 0;
}

int sqs_flag_raise(tn_store *s, const tn_flag *in, int64_t *id_out) {
    if (ss_nonempty(in->rule, "flag rule")) return TN_STORE_ERROR;
    int rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    rc = tn_sqlite_run(&s->h, "raising flag",
             "INSERT INTO flags (task_id, miner_id, rule, reason, created_at) VALUES (?, ?, ?, ?, ?) "
             "ON CONFLICT (task_id, miner_id, rule) DO UPDATE SET reason = excluded.reason",
             "iitti", in->task_id, in->miner_id, in->rule, in->reason ? in->reason : "",
             in->created_at);
    int64_t id = 0;
    if (rc == 0)
        rc = tn_sqlite_scalar(&s->h, &id, "SELECT id FROM flags WHERE task_id = ? AND miner_id = ? AND rule = ?",
                    "iit", in->task_id, in->miner_id, in->rule);
    if (rc == 0 && id_out) *id_out = id;
    return ss_leave_tx(s, rc);
}

int sqs_flag_list(tn_store *s, int64_t task_id, int64_t miner_id, tn_flag **v, size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h,
        tn_sqlite_q(&s->h,
                    "SELECT id, task_id, miner_id, rule, reason, created_at FROM flags "
                    "WHERE (? = 0 OR task_id = ?) AND (? = 0 OR miner_id = ?) "
                    "ORDER BY created_at DESC, id DESC",
                    "iiii", task_id, task_id, miner_id, miner_id),
        sizeof **v, row_flag, ss_clear_flag, (void **)v, n);
    return ss_leave(s, rc);
}

/* ---- settings ------------------------------------------------------------------------------ */

int sqs_setting_set(tn_store *s, const char *key, const char *value, int64_t expected_version,
                         int64_t now, int64_t *version_out) {
    if (ss_nonempty(key, "setting key")) return TN_STORE_ERROR;
    int rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    int64_t cur = 0, next = 0;
    rc = tn_sqlite_scalar(&s->h, &cur, "SELECT version FROM settings WHERE key = ?", "t", key);
    if (rc == TN_STORE_NOT_FOUND) {
        cur = 0;
        rc = 0;
    }
    if (rc == 0 && expected_version >= 0 && expected_version != cur)
        rc = ss_fail_code(TN_STORE_CONFLICT,
                       "store: setting '%s' is at version %lld, not %lld: another admin changed "
                       "it; re-read it",
                       key, (long long)cur, (long long)expected_version);
    if (rc == 0)
        rc = tn_sqlite_scalar(&s->h, &next, "SELECT COALESCE(MAX(version), 0) + 1 FROM settings_history", NULL);
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "recording setting history",
                 "INSERT INTO settings_history (version, key, value, updated_at) VALUES (?, ?, ?, ?)",
                 "itti", next, key, value, now);
    if (rc == 0)
        rc = tn_sqlite_run(&s->h, "setting",
                 "INSERT INTO settings (key, value, version, updated_at) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                 "version = excluded.version, updated_at = excluded.updated_at",
                 "ttii", key, value, next, now);
    if (rc == 0) ss_hook(s, "setting_set:before_commit");
    if (rc == 0 && version_out) *version_out = next;
    return ss_leave_tx(s, rc);
}

int sqs_setting_get(tn_store *s, const char *key, char **value_out, int64_t *version_out) {
    *value_out = NULL;
    if (version_out) *version_out = 0;
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    sqlite3_stmt *st = tn_sqlite_q(&s->h, "SELECT value, version FROM settings WHERE key = ?", "t", key);
    int rc = TN_STORE_ERROR;
    if (st) {
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            /* the version is reported even for an unset key, for compare-and-set */
            if (version_out) *version_out = tn_sqlite_col_i64(st, 1);
            *value_out = tn_sqlite_col_str(st, 0);
            rc = *value_out ? 0 : ss_fail_code(TN_STORE_NOT_FOUND, "store: setting '%s' is unset", key);
        } else if (step == SQLITE_DONE) {
            rc = ss_fail_code(TN_STORE_NOT_FOUND, "store: setting '%s' was never set", key ? key : "");
        } else {
            rc = tn_sqlite_fail(&s->h, "reading setting");
        }
        tn_sqlite_done(st);
    }
    return ss_leave(s, rc);
}

int sqs_setting_get_at(tn_store *s, const char *key, int64_t version, char **value_out) {
    *value_out = NULL;
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    sqlite3_stmt *st = tn_sqlite_q(&s->h,
                         "SELECT value FROM settings_history WHERE key = ? AND version <= ? "
                         "ORDER BY version DESC LIMIT 1",
                         "ti", key, version);
    int rc = TN_STORE_ERROR;
    if (st) {
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) *value_out = tn_sqlite_col_str(st, 0);
        if (step == SQLITE_ROW || step == SQLITE_DONE)
            rc = *value_out ? 0
                            : ss_fail_code(TN_STORE_NOT_FOUND, "store: setting '%s' unset at version %lld",
                                        key ? key : "", (long long)version);
        else
            rc = tn_sqlite_fail(&s->h, "reading setting history");
        tn_sqlite_done(st);
    }
    return ss_leave(s, rc);
}

int sqs_settings_version(tn_store *s, int64_t *out) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_scalar(&s->h, out, "SELECT COALESCE(MAX(version), 0) FROM settings_history", NULL);
    return ss_leave(s, rc);
}

static int row_setting(sqlite3_stmt *st, void *out) {
    tn_setting *x = out;
    x->key = tn_sqlite_col_str(st, 0);
    x->value = tn_sqlite_col_str(st, 1);
    x->version = tn_sqlite_col_i64(st, 2);
    x->updated_at = tn_sqlite_col_i64(st, 3);
    return 0;
}

int sqs_setting_list(tn_store *s, tn_setting **v, size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(&s->h,
                                 tn_sqlite_q(&s->h,
                                             "SELECT key, value, version, updated_at FROM settings "
                                             "WHERE value IS NOT NULL ORDER BY key",
                                             NULL),
                                 sizeof **v, row_setting, ss_clear_setting, (void **)v, n);
    return ss_leave(s, rc);
}
