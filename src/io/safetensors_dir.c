/* safetensors_dir.c - a model's weight set: one model.safetensors or HF-style
 * shards + model.safetensors.index.json (see safetensors.h).
 *
 * The index is checked against the shards both ways: every mapped name must be
 * in the shard the index names, and every tensor in a shard must be mapped, so
 * a stale index left over from an earlier save cannot silently hide or
 * duplicate weights.
 */
#include "io/safetensors.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"

static int tensor_ptr_cmp(const void *a, const void *b) {
    const tn_st_tensor *x = *(const tn_st_tensor *const *)a, *y = *(const tn_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

void tn_st_set_close(tn_st_set *s) {
    if (!s) return;
    for (int i = 0; i < s->nfiles && s->files; i++) tn_st_close(&s->files[i]);
    free(s->files);
    free(s->tensors);
    memset(s, 0, sizeof *s);
}

const tn_st_tensor *tn_st_set_find(const tn_st_set *s, const char *name) {
    if (s->n == 0) return NULL;
    tn_st_tensor key = {.name = (char *)name};
    const tn_st_tensor *kp = &key;
    const tn_st_tensor **hit =
        bsearch(&kp, s->tensors, (size_t)s->n, sizeof *s->tensors, tensor_ptr_cmp);
    return hit ? *hit : NULL;
}

/* Gathers every shard's tensors into s->tensors, sorted by name, and refuses a
 * name that appears in two shards (or twice in one set of files). */
static int collect_tensors(tn_st_set *s) {
    int total = 0;
    for (int i = 0; i < s->nfiles; i++) total += s->files[i].n;
    s->tensors = tn_calloc((size_t)total, sizeof *s->tensors);
    for (int i = 0; i < s->nfiles; i++)
        for (int j = 0; j < s->files[i].n; j++) s->tensors[s->n++] = &s->files[i].tensors[j];
    qsort(s->tensors, (size_t)s->n, sizeof *s->tensors, tensor_ptr_cmp);
    for (int i = 1; i < s->n; i++) {
        if (strcmp(s->tensors[i - 1]->name, s->tensors[i]->name) == 0)
            return tn_fail("%s: tensor %s: also in shard %s (a tensor may live in one shard only)",
                           s->tensors[i]->path, s->tensors[i]->name, s->tensors[i - 1]->path);
    }
    return 0;
}

/* A shard name from the index must be a plain file name inside the directory. */
static int check_shard_name(const char *index, const char *tensor, const char *fname) {
    if (!*fname || strchr(fname, '/') || strstr(fname, ".."))
        return tn_fail("%s: field weight_map.%s: shard file name \"%s\" must be a plain file name "
                       "in the model directory (no '/' or '..')", index, tensor, fname);
    return 0;
}

static int open_index(tn_st_set *s, const char *dir, const char *index) {
    json_error_t e;
    json_t *root = json_load_file(index, JSON_REJECT_DUPLICATES, &e);
    if (!root) {
        if (e.line < 0) return tn_fail("%s: %s", index, e.text);
        return tn_fail("%s:%d:%d: invalid JSON: %s", index, e.line, e.column, e.text);
    }
    int rc = -1;
    const char **names = NULL; /* distinct shard names, in first-seen order */
    char *full = NULL;
    json_t *wm = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    if (!json_is_object(root)) {
        tn_fail("%s: expected a JSON object, got %s", index, tn_json_type_name(root));
        goto out;
    }
    if (!wm) {
        tn_fail("%s: missing required field weight_map", index);
        goto out;
    }
    if (!json_is_object(wm)) {
        tn_fail("%s: field weight_map: expected an object, got %s", index, tn_json_type_name(wm));
        goto out;
    }
    if (json_object_size(wm) == 0) {
        tn_fail("%s: field weight_map: empty", index);
        goto out;
    }
    names = tn_calloc(json_object_size(wm), sizeof *names);
    int nn = 0;
    const char *key;
    json_t *v;
    json_object_foreach(wm, key, v) {
        if (!json_is_string(v)) {
            tn_fail("%s: field weight_map.%s: expected a string, got %s", index, key,
                    tn_json_type_name(v));
            goto out;
        }
        const char *fname = json_string_value(v);
        if (check_shard_name(index, key, fname) != 0) goto out;
        int k = 0;
        while (k < nn && strcmp(names[k], fname) != 0) k++;
        if (k == nn) names[nn++] = fname;
    }
    s->files = tn_calloc((size_t)nn, sizeof *s->files);
    for (int k = 0; k < nn; k++) {
        full = tn_path_join(dir, names[k]);
        if (!tn_file_exists(full)) {
            tn_fail("%s: shard %s listed in weight_map does not exist", index, full);
            goto out;
        }
        if (tn_st_open(&s->files[k], full) != 0) goto out;
        s->nfiles++;
        free(full);
        full = NULL;
    }
    if (collect_tensors(s) != 0) goto out;
    /* Every mapped name is in the shard the index names ... */
    json_object_foreach(wm, key, v) {
        const char *fname = json_string_value(v);
        const tn_st_tensor *t = tn_st_set_find(s, key);
        int k = 0;
        while (strcmp(names[k], fname) != 0) k++;
        if (!t) {
            tn_fail("%s: field weight_map.%s: tensor not found in shard %s", index, key,
                    s->files[k].path);
            goto out;
        }
        if (t->path != s->files[k].path) {
            tn_fail("%s: field weight_map.%s: index says shard %s but the tensor is in %s", index,
                    key, s->files[k].path, t->path);
            goto out;
        }
    }
    /* ... and every tensor in a shard is mapped. */
    for (int i = 0; i < s->n; i++) {
        if (!json_object_get(wm, s->tensors[i]->name)) {
            tn_fail("%s: tensor %s: not listed in %s weight_map", s->tensors[i]->path,
                    s->tensors[i]->name, index);
            goto out;
        }
    }
    rc = 0;
out:
    free(full);
    free(names);
    json_decref(root);
    return rc;
}

int tn_st_set_open_dir(tn_st_set *s, const char *dir) {
    memset(s, 0, sizeof *s);
    char *index = tn_path_join(dir, INDEX_NAME);
    char *single = tn_path_join(dir, SINGLE_NAME);
    int rc = -1;
    if (tn_file_exists(index)) {
        rc = open_index(s, dir, index);
    } else if (tn_file_exists(single)) {
        s->files = tn_calloc(1, sizeof *s->files);
        if (tn_st_open(&s->files[0], single) == 0) {
            s->nfiles = 1;
            rc = collect_tensors(s);
        }
    } else if (!tn_dir_exists(dir)) {
        tn_fail("%s: model directory does not exist", dir);
    } else {
        tn_fail("%s: no %s or %s in this directory", dir, SINGLE_NAME, INDEX_NAME);
    }
    if (rc != 0) tn_st_set_close(s);
    free(index);
    free(single);
    return rc;
}

/* Removes path if it exists; a missing file is fine. */
static int remove_stale(const char *path) {
    if (unlink(path) != 0 && errno != ENOENT) return tn_fail_errno("%s: cannot remove", path);
    return 0;
}

static size_t entry_bytes(const tn_st_entry *e) {
    size_t n = tn_dtype_size(e->dtype);
    for (int d = 0; d < e->ndim && d < TN_ST_MAX_DIMS; d++) n *= e->shape[d] > 0 ? (size_t)e->shape[d] : 0;
    return n; /* only for shard planning; tn_st_write validates shapes properly */
}

int tn_st_write_dir(const char *dir, const tn_st_entry *entries, int n, size_t max_shard_bytes) {
    if (n < 0 || (n > 0 && !entries)) return tn_fail("%s: invalid tensor list", dir);
    if (tn_mkdir_p(dir) != 0) return -1;
    char *index = tn_path_join(dir, INDEX_NAME);
    char *single = tn_path_join(dir, SINGLE_NAME);
    char *path = NULL;
    json_t *wm = NULL, *root = NULL;
    int *shard_of = NULL, rc = -1;
    size_t total = 0;
    for (int i = 0; i < n; i++) total += entry_bytes(&entries[i]);

    if (max_shard_bytes == 0 || total <= max_shard_bytes) {
        if (tn_st_write(single, entries, n, NULL) != 0) goto out;
        /* A stale index from an earlier sharded save would take precedence. */
        rc = remove_stale(index);
        goto out;
    }

    /* Greedy fill in order; a tensor larger than the limit gets a shard alone. */
    shard_of = tn_calloc((size_t)n, sizeof *shard_of);
    int nshards = 0;
    size_t cur = 0;
    for (int i = 0; i < n; i++) {
        size_t b = entry_bytes(&entries[i]);
        if (nshards == 0 || (cur > 0 && cur + b > max_shard_bytes)) {
            nshards++;
            cur = 0;
        }
        cur += b;
        shard_of[i] = nshards - 1;
    }
    wm = json_object();
    for (int i = 0; i < n; i++) {
        if (!entries[i].name || json_object_get(wm, entries[i].name)) {
            tn_fail("%s: tensor %s: duplicate tensor name", dir,
                    entries[i].name ? entries[i].name : "(null)");
            goto out;
        }
        char *fname = tn_sprintf("model-%05d-of-%05d.safetensors", shard_of[i] + 1, nshards);
        json_object_set_new(wm, entries[i].name, json_string(fname));
        free(fname);
    }
    for (int k = 0, i = 0; k < nshards; k++) {
        int j = i;
        while (j < n && shard_of[j] == k) j++;
        char *fname = tn_sprintf("model-%05d-of-%05d.safetensors", k + 1, nshards);
        path = tn_path_join(dir, fname);
        free(fname);
        if (tn_st_write(path, entries + i, j - i, NULL) != 0) goto out;
        free(path);
        path = NULL;
        i = j;
    }
    /* The index goes last so that it never names a shard not yet written. */
    root = json_pack("{s:{s:I}, s:O}", "metadata", "total_size", (json_int_t)total, "weight_map", wm);
    if (!root || tn_json_save_file(root, index) != 0) {
        if (!root) tn_fail("%s: cannot build the index", index);
        goto out;
    }
    rc = remove_stale(single);
out:
    json_decref(root);
    json_decref(wm);
    free(shard_of);
    free(path);
    free(index);
    free(single);
    return rc;
}
