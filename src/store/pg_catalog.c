/* pg_catalog.c - miners, models, datasets (the PostgreSQL store: see pg_store_int.h). */
#include "store/pg_store_int.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- miners ------------------------------------------------------------------------- */

#define MINER_COLS "id, name, owner, endpoint, pubkey, enabled, created_at"

static int row_miner(const PGresult *r, int i, void *out) {
    tn_miner *m = out;
    m->id = pgq_i64(r, i, 0);
    m->name = pgq_str(r, i, 1);
    m->owner = pgq_str(r, i, 2);
    m->endpoint = pgq_str(r, i, 3);
    m->pubkey_hex = pgq_str(r, i, 4);
    m->enabled = (int)pgq_i64(r, i, 5);
    m->created_at = pgq_i64(r, i, 6);
    return 0;
}

static int miner_add_tx(tn_store *s, const tn_miner *in, int64_t *id) {
    int64_t v = 0;
    int rc = pgq_scalar(s, &v, "SELECT id FROM miners WHERE name = $1", "t", in->name);
    if (rc == 0)
        return ss_fail_code(TN_STORE_EXISTS, "store: a miner named '%s' is already registered",
                            in->name);
    if (rc != TN_STORE_NOT_FOUND) return rc;
    if ((rc = pgq_scalar(s, &v, "SELECT id FROM miners WHERE pubkey = $1", "t", in->pubkey_hex)) == 0)
        return ss_fail_code(TN_STORE_EXISTS,
                            "store: miner '%s': public key already registered to miner id %lld",
                            in->name, (long long)v);
    if (rc != TN_STORE_NOT_FOUND) return rc;
    /* Counted inside a SERIALIZABLE transaction: two concurrent
     * registrations that both saw room cannot both commit. */
    if ((rc = pgq_scalar(s, &v, "SELECT COUNT(*) FROM miners WHERE owner = $1", "t", in->owner)))
        return rc;
    if (v >= s->max_per_owner)
        return ss_fail_code(TN_STORE_LIMIT,
                            "store: participant '%s' already has %lld miners (at most %d per participant)",
                            in->owner, (long long)v, s->max_per_owner);
    if ((rc = pgq_scalar(s, &v, "SELECT COUNT(*) FROM miners", NULL))) return rc;
    if (v >= s->max_total)
        return ss_fail_code(TN_STORE_LIMIT,
                            "store: %lld miners already registered (at most %d in this competition)",
                            (long long)v, s->max_total);
    return pgq_scalar(s, id,
                      "INSERT INTO miners (name, owner, endpoint, pubkey, enabled, created_at) "
                      "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                      "ttttii", in->name, in->owner, in->endpoint, in->pubkey_hex,
                      (int64_t)(in->enabled ? 1 : 0), in->created_at);
}

int pgs_miner_add(tn_store *s, const tn_miner *in, int64_t *id_out) {
    if (ss_check_miner(in) != 0) return TN_STORE_ERROR;
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc;
    int64_t id = 0;
    PG_TX(s, rc, miner_add_tx(s, in, &id));
    if (rc == 0 && id_out) *id_out = id;
    return ss_leave(s, rc);
}

int pgs_miner_get(tn_store *s, int64_t id, tn_miner *out) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    char what[64];
    snprintf(what, sizeof what, "no miner with id %lld", (long long)id);
    int rc = pgq_fetch_one(s, pgq_exec(s, "reading miner", "SELECT " MINER_COLS " FROM miners WHERE id = $1", "i", id),
                           sizeof *out, row_miner, out, what);
    return ss_leave(s, rc);
}

int pgs_miner_by_name(tn_store *s, const char *name, tn_miner *out) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    char what[256];
    snprintf(what, sizeof what, "no miner named '%s'", name ? name : "");
    int rc = pgq_fetch_one(s, pgq_exec(s, "reading miner", "SELECT " MINER_COLS " FROM miners WHERE name = $1", "t", name),
                           sizeof *out, row_miner, out, what);
    return ss_leave(s, rc);
}

int pgs_miner_by_key(tn_store *s, const char *pubkey_hex, tn_miner *out) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc = pgq_fetch_one(s, pgq_exec(s, "reading miner", "SELECT " MINER_COLS " FROM miners WHERE pubkey = $1", "t", pubkey_hex),
                           sizeof *out, row_miner, out, "no miner with this public key");
    return ss_leave(s, rc);
}

int pgs_miner_list(tn_store *s, int enabled_only, tn_miner **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    PGresult *r = pgq_exec(s, "listing miners", "SELECT " MINER_COLS " FROM miners WHERE enabled >= $1 ORDER BY id",
                           "i", (int64_t)(enabled_only ? 1 : 0));
    int rc = pgq_fetch_all(s, r, sizeof **v, row_miner, ss_clear_miner, (void **)v, n);
    return ss_leave(s, rc);
}

int pgs_miner_set_enabled(tn_store *s, const char *name, int enabled) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int64_t changed = 0;
    int rc = pgq_run(s, "enabling miner", &changed, "UPDATE miners SET enabled = $1 WHERE name = $2", "it",
                     (int64_t)(enabled ? 1 : 0), name);
    if (rc == 0 && changed == 0)
        rc = ss_fail_code(TN_STORE_NOT_FOUND, "store: no miner named '%s'", name ? name : "");
    return ss_leave(s, rc);
}

/* ---- catalog ------------------------------------------------------------------------- */

#define MODEL_COLS "id, name, manifest_hash, arch_json, created_at"
#define DATASET_COLS "id, name, blob_hash, mapping_json, row_count, created_at"

static int row_model(const PGresult *r, int i, void *out) {
    tn_catalog_model *m = out;
    m->id = pgq_i64(r, i, 0);
    m->name = pgq_str(r, i, 1);
    m->manifest_hash = pgq_str(r, i, 2);
    m->arch_json = pgq_str(r, i, 3);
    m->created_at = pgq_i64(r, i, 4);
    return 0;
}

static int row_dataset(const PGresult *r, int i, void *out) {
    tn_catalog_dataset *d = out;
    d->id = pgq_i64(r, i, 0);
    d->name = pgq_str(r, i, 1);
    d->blob_hash = pgq_str(r, i, 2);
    d->mapping_json = pgq_str(r, i, 3);
    d->row_count = pgq_i64(r, i, 4);
    d->created_at = pgq_i64(r, i, 5);
    return 0;
}

/* Shared by models and datasets: same name + same hash is a no-op. */
static int catalog_check(tn_store *s, const char *what, const char *sql, const char *name,
                         const char *hash, int *exists) {
    *exists = 0;
    PGresult *r = pgq_exec(s, what, sql, "t", name);
    if (!r) return TN_STORE_ERROR;
    int ret = 0;
    if (PQntuples(r) > 0) {
        const char *old = PQgetvalue(r, 0, 0);
        if (!strcmp(old, hash))
            *exists = 1;
        else
            ret = ss_fail_code(TN_STORE_EXISTS,
                               "store: %s '%s' already exists with different content (%.12s...); "
                               "catalog names never change content, pick a new name",
                               what, name, old);
    }
    PQclear(r);
    return ret;
}

static int model_add_tx(tn_store *s, const tn_catalog_model *in) {
    int exists = 0;
    int rc = catalog_check(s, "model", "SELECT manifest_hash FROM models WHERE name = $1", in->name,
                           in->manifest_hash, &exists);
    if (rc == 0 && !exists)
        rc = pgq_run(s, "adding model", NULL,
                     "INSERT INTO models (name, manifest_hash, arch_json, created_at) VALUES ($1, $2, $3, $4)",
                     "ttti", in->name, in->manifest_hash, ss_json_or_empty(in->arch_json), in->created_at);
    return rc;
}

int pgs_model_add(tn_store *s, const tn_catalog_model *in) {
    if (ss_check_model(in) != 0) return TN_STORE_ERROR;
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc;
    PG_TX(s, rc, model_add_tx(s, in));
    return ss_leave(s, rc);
}

int pgs_model_get(tn_store *s, const char *name, tn_catalog_model *out) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    char what[256];
    snprintf(what, sizeof what, "no model named '%s'", name ? name : "");
    int rc = pgq_fetch_one(s, pgq_exec(s, "reading model", "SELECT " MODEL_COLS " FROM models WHERE name = $1", "t", name),
                           sizeof *out, row_model, out, what);
    return ss_leave(s, rc);
}

int pgs_model_list(tn_store *s, tn_catalog_model **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc = pgq_fetch_all(s, pgq_exec(s, "listing models", "SELECT " MODEL_COLS " FROM models ORDER BY name", NULL),
                           sizeof **v, row_model, ss_clear_model, (void **)v, n);
    return ss_leave(s, rc);
}

static int dataset_add_tx(tn_store *s, const tn_catalog_dataset *in) {
    int exists = 0;
    int rc = catalog_check(s, "dataset", "SELECT blob_hash FROM datasets WHERE name = $1", in->name,
                           in->blob_hash, &exists);
    if (rc == 0 && !exists)
        rc = pgq_run(s, "adding dataset", NULL,
                     "INSERT INTO datasets (name, blob_hash, mapping_json, row_count, created_at) "
                     "VALUES ($1, $2, $3, $4, $5)",
                     "tttii", in->name, in->blob_hash, ss_json_or_empty(in->mapping_json), in->row_count,
                     in->created_at);
    return rc;
}

int pgs_dataset_add(tn_store *s, const tn_catalog_dataset *in) {
    if (ss_check_dataset(in) != 0) return TN_STORE_ERROR;
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc;
    PG_TX(s, rc, dataset_add_tx(s, in));
    return ss_leave(s, rc);
}

int pgs_dataset_get(tn_store *s, const char *name, tn_catalog_dataset *out) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    char what[256];
    snprintf(what, sizeof what, "no dataset named '%s'", name ? name : "");
    int rc = pgq_fetch_one(s, pgq_exec(s, "reading dataset", "SELECT " DATASET_COLS " FROM datasets WHERE name = $1", "t", name),
                           sizeof *out, row_dataset, out, what);
    return ss_leave(s, rc);
}

int pgs_dataset_list(tn_store *s, tn_catalog_dataset **v, size_t *n) {
    if (pgs_enter(s) != 0) return TN_STORE_ERROR;
    int rc = pgq_fetch_all(s, pgq_exec(s, "listing datasets", "SELECT " DATASET_COLS " FROM datasets ORDER BY name", NULL),
                           sizeof **v, row_dataset, ss_clear_dataset, (void **)v, n);
    return ss_leave(s, rc);
}
