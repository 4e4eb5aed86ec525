/* synthset.c - the synthetic set's source: builtin, llm or pool (see synthset.h). */
#include "validator/synthset.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "data/hygiene.h"
#include "data/rows.h"
#include "judge/synth.h"
#include "judge/synth_llm.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* A string setting (heap), or NULL when unset. *failed when the store fails. */
static char *setting_str(vstate *v, const char *key, int *failed) {
    char *s = NULL;
    int64_t ver;
    LOCK(v);
    int rc = tn_store_setting_get(v->store, key, &s, &ver);
    UNLOCK(v);
    if (rc < 0 && rc != TN_STORE_NOT_FOUND) *failed = 1;
    if (rc != 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* The task's synthetic seed: drawn once, then read back, so that a restart
 * sends the same prompts (and finds them cached). */
static int task_seed(vstate *v, long long id, uint64_t *seed) {
    char *path = v_path(v, "tasks/%lld/synth_seed", id);
    size_t len;
    char *s = tn_file_exists(path) ? tn_read_file(path, &len) : NULL;
    int rc = 0;
    if (s) {
        char *end;
        *seed = strtoull(s, &end, 16);
        if (end == s) rc = tn_fail("%s: not a hex seed", path);
    } else {
        randombytes_buf(seed, sizeof *seed);
        char hex[32];
        int n = snprintf(hex, sizeof hex, "%016llx\n", (unsigned long long)*seed);
        rc = tn_write_file_atomic(path, hex, (size_t)n);
    }
    free(s);
    free(path);
    return rc;
}

static json_t *from_llm(vstate *v, long long id, const tn_data_spec *spec, const json_t *src, uint64_t seed) {
    int failed = 0;
    char *url = setting_str(v, "synth.url", &failed), *model = setting_str(v, "synth.model", &failed);
    char *key_file = setting_str(v, "synth.key_file", &failed), *key = NULL;
    double examples, tries, temp, timeout_s;
    json_t *out = NULL;
    if (failed || v_setting_num(v, "synth.examples", 3, &examples) || v_setting_num(v, "synth.max_tries", 4, &tries) ||
        v_setting_num(v, "synth.temperature", 1.0, &temp) || v_setting_num(v, "synth.timeout_s", 120, &timeout_s)) {
        tn_fail("reading the synth.* settings from the store");
    } else if (!url || !model) {
        tn_fail("synth.source is llm but synth.%s is not set (tuna admin set synth.%s ...)", url ? "model" : "url",
                url ? "model" : "url");
    } else if (key_file && !(key = tn_read_file(key_file, &(size_t){0}))) {
        tn_err_prefix("synth.key_file");
    } else {
        if (key) key[strcspn(key, "\r\n")] = 0;
        size_t ul = strlen(url);
        while (ul > 0 && url[ul - 1] == '/') url[--ul] = 0; /* ".../v1/" and ".../v1" are one base */
        char *cache = v_path(v, "tasks/%lld/synth_cache", id);
        tn_synth_llm_opts o = {.base_url = url, .model = model, .api_key = key, .cache_dir = cache,
                               .examples = (int)examples, .max_tries = (int)tries, .temperature = temp,
                               .timeout_ms = (long)(timeout_s * 1000), .stop = &v->stop};
        tn_synth_llm_stats st = {0};
        out = tn_synth_llm_rows(src, spec, json_array_size(src), seed, &o, &st);
        tn_info("task %lld: synthetic rows from %s: %zu requests, %zu cached replies, %zu rejected", id, url,
                st.requests, st.cache_hits, st.rejected);
        free(cache);
    }
    if (key) sodium_memzero(key, strlen(key));
    free(key);
    free(key_file);
    free(url);
    free(model);
    return out;
}

/* Hashes of the rows of the task's dataset as the organiser gave it (the
 * catalog's blob): a pool row equal to one of them is not outside the
 * dataset. Not the task's split files: train and test are in the task's
 * secret format (judge/transform.h), which a raw pool row never matches. */
static int task_hashes(vstate *v, const char *dataset, const tn_data_spec *spec, uint64_t **hs, size_t *n) {
    *hs = NULL;
    *n = 0;
    tn_catalog_dataset d;
    memset(&d, 0, sizeof d);
    LOCK(v);
    int rc = tn_store_dataset_get(v->store, dataset, &d);
    UNLOCK(v);
    if (rc < 0) return -1;
    char *path = tn_blobs_path(v->blobs, d.blob_hash);
    json_t *rows = NULL;
    rc = tn_rows_load_all(path, TN_ROWS_JSONL, &rows); /* stored as JSONL, as prepare.c reads it */
    free(path);
    tn_catalog_dataset_clear(&d);
    if (rc) return -1;
    *hs = tn_malloc(sizeof **hs * (json_array_size(rows) + 1));
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        tn_sample s;
        tn_sample_init(&s);
        if (tn_format_row(spec, row, "task row", &s) == 0) (*hs)[(*n)++] = tn_sample_hash(&s);
        tn_sample_free(&s);
    }
    json_decref(rows);
    return 0;
}

static json_t *from_pool(vstate *v, const char *dataset, const tn_data_spec *spec, size_t want,
                         uint64_t seed) {
    int failed = 0;
    char key[300];
    snprintf(key, sizeof key, "synth.pool.%s", dataset);
    char *path = setting_str(v, key, &failed);
    json_t *pool = NULL, *out = NULL;
    uint64_t *hs = NULL;
    size_t nh = 0;
    if (!path) {
        tn_fail("synth.source is pool but %s is not set", key);
    } else if (tn_rows_load_all(path, TN_ROWS_JSONL, &pool) == 0 && task_hashes(v, dataset, spec, &hs, &nh) == 0) {
        size_t np = json_array_size(pool), *idx = tn_malloc(sizeof *idx * (np + 1));
        for (size_t i = 0; i < np; i++) idx[i] = i;
        tn_shuffle(idx, np, seed);
        out = json_array();
        for (size_t k = 0; k < np && json_array_size(out) < want && out; k++) {
            json_t *row = json_array_get(pool, idx[k]);
            char where[64];
            snprintf(where, sizeof where, "row %zu", idx[k] + 1);
            tn_sample s;
            tn_sample_init(&s);
            if (tn_format_row(spec, row, where, &s)) {
                tn_err_prefix("%s (%s)", path, key);
                json_decref(out);
                out = NULL;
            } else if (tn_sample_has_response(&s)) {
                uint64_t h = tn_sample_hash(&s);
                size_t j = 0;
                while (j < nh && hs[j] != h) j++;
                if (j == nh) json_array_append(out, row);
            }
            tn_sample_free(&s);
        }
        if (out && json_array_size(out) == 0) {
            tn_fail("%s (%s): no row outside the task's dataset", path, key);
            json_decref(out);
            out = NULL;
        }
        free(idx);
    }
    free(hs);
    json_decref(pool);
    free(path);
    return out;
}

json_t *v_synth_make(vstate *v, long long task_id, const char *dataset, const tn_data_spec *spec,
                     const json_t *src, char **note) {
    *note = NULL;
    uint64_t seed;
    int failed = 0;
    if (task_seed(v, task_id, &seed)) return NULL;
    char *source = setting_str(v, "synth.source", &failed), *fallback = setting_str(v, "synth.fallback", &failed);
    json_t *out = NULL;
    if (failed) {
        tn_fail("reading synth.source from the store");
    } else if (!source || !strcmp(source, "builtin")) {
        out = tn_synth_rows(src, spec, seed);
    } else if (!strcmp(source, "llm") || !strcmp(source, "pool")) {
        out = !strcmp(source, "llm") ? from_llm(v, task_id, spec, src, seed)
                                     : from_pool(v, dataset, spec, json_array_size(src), seed);
        if (out) {
            *note = tn_sprintf("synthetic set: %zu rows from synth.source %s", json_array_size(out), source);
        } else if (fallback && !strcmp(fallback, "builtin")) {
            *note = tn_sprintf("synthetic set: built-in generator (synth.fallback), as synth.source %s failed: %s",
                               source, tn_errmsg());
            tn_warn("task %lld: %s", task_id, *note);
            out = tn_synth_rows(src, spec, seed);
        } else {
            tn_err_prefix("synthetic set (synth.source %s; synth.fallback none)", source);
        }
    } else {
        tn_fail("synth.source '%s': expected builtin, llm or pool", source);
    }
    free(source);
    free(fallback);
    return out;
}
