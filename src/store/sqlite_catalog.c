/* sqlite_catalog.c - miners, models, datasets (the SQLite store: see sqlite_store_int.h). */
#include "store/sqlite_store_int.h"
#include "base/mem.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- miners ------------------------------------------------------------------------- */

#define MINER_COLS "id, name, owner, endpoint, pubkey, enabled, created_at"

static int row_miner(sqlite3_stmt *st, void *out) {
    tn_miner *m = out;
    m->id = tn_sqlite_col_i64(st, 0);
    m->name = tn_sqlite_col_str(st, 1);
    m->owner = tn_sqlite_col_str(st, 2);
    m->endpoint = tn_sqlite_col_str(st, 3);
    m->pubkey_hex = tn_sqlite_col_str(st, 4);
    m->enabled = (int)tn_sqlite_col_i64(st, 5);
    m->created_at = tn_sqlite_col_i64(st, 6);
    return 0;
}

int sqs_miner_add(tn_store *s, const tn_miner *in, int64_t *id_out) {
    if (ss_check_miner(in) != 0) return TN_STORE_ERROR;
    int rc = ss_enter_tx(s);
    if (rc != 0) return rc;
    int64_t v = 0;
    if ((rc = tn_sqlite_scalar(&s->h, &v, "SELECT id FROM miners WHERE name = ?", "t", in->name)) == 0) {
        rc = ss_fail_code(TN_STORE_EXISTS, "store: a miner named '%s' is already registered",
                       in->name);
        goto out;
    }
    if (rc != TN_STORE_NOT_FOUND) goto out;
    if ((rc = tn_sqlite_scalar(&s->h, &v, "SELECT id FROM miners WHERE pubkey = ?", "t", in->pubkey_hex)) == 0) {
        rc = ss_fail_code(TN_STORE_EXISTS,
                       "store: miner '%s': public key already registered to miner id %lld",
                       in->name, (long long)v);
        goto out;
    }
    if (rc != TN_STORE_NOT_FOUND) goto out;
    /* Counted inside the write transaction: two concurrent registrations
     * cannot both see room for one more. */
    if ((rc = tn_sqlite_scalar(&s->h, &v, "SELECT COUNT(*) FROM miners WHERE owner = ?", "t", in->owner)) != 0)
        goto out;
    if (v >= s->max_per_owner) {
        rc = ss_fail_code(TN_STORE_LIMIT,
                       "store: participant '%s' already has %lld miners (at most %d per participant)",
                       in->owner, (long long)v, s->max_per_owner);
        goto out;
    }
    if ((rc = tn_sqlite_scalar(&s->h, &v, "SELECT COUNT(*) FROM miners", NULL)) != 0) goto out;
    if (v >= s->max_total) {
        rc = ss_fail_code(TN_STORE_LIMIT,
                       "store: %lld miners already registered (at most %d in this competition)",
                       (long long)v, s->max_total);
        goto out;
    }
    rc = tn_sqlite_run(&s->h, "adding miner",
             "INSERT INTO miners (name, owner, endpoint, pubkey, enabled, created_at) "
             "VALUES (?, ?, ?, ?, ?, ?)",
             "ttttii", in->name, in->owner, in->endpoint, in->pubkey_hex,
             (int64_t)(in->enabled ? 1 : 0), in->created_at);
    if (rc == 0 && id_out) *id_out = sqlite3_last_insert_rowid(s->h.db);
out:
    return ss_leave_tx(s, rc);
}

int sqs_miner_get(tn_store *s, int64_t id, tn_miner *out) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    char what[64];
    snprintf(what, sizeof what, "no miner with id %lld", (long long)id);
    int rc = ss_fetch_one(s, tn_sqlite_q(&s->h, "SELECT " MINER_COLS " FROM miners WHERE id = ?", "i", id),
                       sizeof *out, row_miner, out, what);
    return ss_leave(s, rc);
}

int sqs_miner_by_name(tn_store *s, const char *name, tn_miner *out) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    char what[256];
    snprintf(what, sizeof what, "no miner named '%s'", name ? name : "");
    int rc = ss_fetch_one(s, tn_sqlite_q(&s->h, "SELECT " MINER_COLS " FROM miners WHERE name = ?", "t", name),
                       sizeof *out, row_miner, out, what);
    return ss_leave(s, rc);
}

int sqs_miner_by_key(tn_store *s, const char *pubkey_hex, tn_miner *out) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = ss_fetch_one(s, tn_sqlite_q(&s->h, "SELECT " MINER_COLS " FROM miners WHERE pubkey = ?", "t", pubkey_hex),
                       sizeof *out, row_miner, out, "no miner with this public key");
    return ss_leave(s, rc);
}

int sqs_miner_list(tn_store *s, int enabled_only, tn_miner **v, size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    sqlite3_stmt *st = tn_sqlite_q(&s->h, "SELECT " MINER_COLS " FROM miners WHERE enabled >= ? ORDER BY id", "i",
                         (int64_t)(enabled_only ? 1 : 0));
    int rc = tn_sqlite_fetch_all(&s->h, st, sizeof **v, row_miner, ss_clear_miner, (void **)v, n);
    return ss_leave(s, rc);
}

int sqs_miner_set_enabled(tn_store *s, const char *name, int enabled) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_run(&s->h, "enabling miner", "UPDATE miners SET enabled = ? WHERE name = ?", "it",
                 (int64_t)(enabled ? 1 : 0), name);
    if (rc == 0 && sqlite3_changes(s->h.db) == 0)
        rc = ss_fail_code(TN_STORE_NOT_FOUND, "store: no miner named '%s'", name ? name : "");
    return ss_leave(s, rc);
}

/* ---- catalog ------------------------------------------------------------------------- */

#define MODEL_COLS "id, name, manifest_hash, arch_json, created_at"
#define DATASET_COLS "id, name, blob_hash, mapping_json, row_count, created_at"

static int row_model(sqlite3_stmt *st, void *out) {
    tn_catalog_model *m = out;
    m->id = tn_sqlite_col_i64(st, 0);
    m->name = tn_sqlite_col_str(st, 1);
    m->manifest_hash = tn_sqlite_col_str(st, 2);
    m->arch_json = tn_sqlite_col_str(st, 3);
    m->created_at = tn_sqlite_col_i64(st, 4);
    return 0;
}

static int row_dataset(sqlite3_stmt *st, void *out) {
    tn_catalog_dataset *d = out;
    d->id = tn_sqlite_col_i64(st, 0);
    d->name = tn_sqlite_col_str(st, 1);
    d->blob_hash = tn_sqlite_col_str(st, 2);
    d->mapping_json = tn_sqlite_col_str(st, 3);
    d->row_count = tn_sqlite_col_i64(st, 4);
    d->created_at = tn_sqlite_col_i64(st, 5);
    return 0;
}

/* Shared by models and datasets: same name + same hash is a no-op. */
static int catalog_check(tn_store *s, const char *what, const char *sql, const char *name,
                         const char *hash, int *exists) {
    *exists = 0;
    sqlite3_stmt *st = tn_sqlite_q(&s->h, sql, "t", name);
    if (!st) return TN_STORE_ERROR;
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW) {
        const char *old = (const char *)sqlite3_column_text(st, 0);
        if (old && !strcmp(old, hash))
            *exists = 1;
        else
            ret = ss_fail_code(TN_STORE_EXISTS,
                            "store: %s '%s' already exists with different content (%.12s...); "
                            "catalog names never change content, pick a new name",
                            what, name, old ? old : "");
    } else if (rc != SQLITE_DONE) {
        ret = tn_sqlite_fail(&s->h, what);
    }
    tn_sqlite_done(st);
    return ret;
}

int sqs_model_add(tn_store *s, const tn_catalog_model *in) {
    if (ss_check_model(in) != 0) return TN_STORE_ERROR;
    int rc = ss_enter_tx(s), exists = 0;
    if (rc != 0) return rc;
    rc = catalog_check(s, "model", "SELECT manifest_hash FROM models WHERE name = ?", in->name,
                       in->manifest_hash, &exists);
    if (rc == 0 && !exists)
        rc = tn_sqlite_run(&s->h, "adding model",
                 "INSERT INTO models (name, manifest_hash, arch_json, created_at) VALUES (?, ?, ?, ?)",
                 "ttti", in->name, in->manifest_hash, ss_json_or_empty(in->arch_json), in->created_at);
    return ss_leave_tx(s, rc);
}

int sqs_model_get(tn_store *s, const char *name, tn_catalog_model *out) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    char what[256];
    snprintf(what, sizeof what, "no model named '%s'", name ? name : "");
    int rc = ss_fetch_one(s, tn_sqlite_q(&s->h, "SELECT " MODEL_COLS " FROM models WHERE name = ?", "t", name),
                       sizeof *out, row_model, out, what);
    return ss_leave(s, rc);
}

int sqs_model_list(tn_store *s, tn_catalog_model **v, size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h, tn_sqlite_q(&s->h, "SELECT " MODEL_COLS " FROM models ORDER BY name", NULL),
        sizeof **v, row_model, ss_clear_model, (void **)v, n);
    return ss_leave(s, rc);
}

int sqs_dataset_add(tn_store *s, const tn_catalog_dataset *in) {
    if (ss_check_dataset(in) != 0) return TN_STORE_ERROR;
    int rc = ss_enter_tx(s), exists = 0;
    if (rc != 0) return rc;
    rc = catalog_check(s, "dataset", "SELECT blob_hash FROM datasets WHERE name = ?", in->name,
                       in->blob_hash, &exists);
    if (rc == 0 && !exists)
        rc = tn_sqlite_run(&s->h, "adding dataset",
                 "INSERT INTO datasets (name, blob_hash, mapping_json, row_count, created_at) "
                 "VALUES (?, ?, ?, ?, ?)",
                 "tttii", in->name, in->blob_hash, ss_json_or_empty(in->mapping_json), in->row_count,
                 in->created_at);
    return ss_leave_tx(s, rc);
}

int sqs_dataset_get(tn_store *s, const char *name, tn_catalog_dataset *out) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    char what[256];
    snprintf(what, sizeof what, "no dataset named '%s'", name ? name : "");
    int rc = ss_fetch_one(s, tn_sqlite_q(&s->h, "SELECT " DATASET_COLS " FROM datasets WHERE name = ?", "t", name),
                       sizeof *out, row_dataset, out, what);
    return ss_leave(s, rc);
}

int sqs_dataset_list(tn_store *s, tn_catalog_dataset **v, size_t *n) {
    if (ss_enter(s) != 0) return TN_STORE_ERROR;
    int rc = tn_sqlite_fetch_all(
        &s->h, tn_sqlite_q(&s->h, "SELECT " DATASET_COLS " FROM datasets ORDER BY name", NULL),
        sizeof **v, row_dataset, ss_clear_dataset, (void **)v, n);
    return ss_leave(s, rc);
}
