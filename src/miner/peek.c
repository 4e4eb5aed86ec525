/* peek.c - the data of the test-hunting red-team strategies (see peek.h). */
#include "miner/peek.h"

#include "base/err.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/mem.h"
#include "data/rows.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* (column, value) as one hash; NUL between them so ("ab","c") != ("a","bc") */
static uint64_t cell_hash(const char *col, const char *val) {
    uint64_t h = tn_fnv1a(TN_FNV_OFFSET, col, strlen(col) + 1);
    return tn_fnv1a(h, val, strlen(val));
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The training split's cells, sorted, so a lookup counts a value's rows. */
typedef struct {
    uint64_t *h;
    size_t n;
} cells;

static void cells_of(const json_t *rows, cells *c) {
    size_t cap = 16, i;
    c->h = tn_malloc(sizeof *c->h * cap);
    c->n = 0;
    const json_t *row;
    json_array_foreach(rows, i, row) {
        const char *col;
        json_t *v;
        json_object_foreach((json_t *)row, col, v) {
            if (!json_is_string(v) || json_string_length(v) == 0) continue;
            if (c->n == cap) c->h = tn_realloc(c->h, sizeof *c->h * (cap *= 2));
            c->h[c->n++] = cell_hash(col, json_string_value(v));
        }
    }
    qsort(c->h, c->n, sizeof *c->h, cmp_u64);
}

/* How many training rows hold this cell. */
static size_t cell_count(const cells *c, uint64_t h) {
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->h[mid] < h) lo = mid + 1;
        else hi = mid;
    }
    size_t k = 0;
    while (lo + k < c->n && c->h[lo + k] == h) k++;
    return k;
}

static int row_seen(const cells *c, const json_t *row) {
    const char *col;
    json_t *v;
    json_object_foreach((json_t *)row, col, v) {
        if (!json_is_string(v) || json_string_length(v) == 0) continue;
        size_t k = cell_count(c, cell_hash(col, json_string_value(v)));
        if (k >= 1 && k <= 2) return 1;
    }
    return 0;
}

static int is_dataset_name(const char *name) {
    tn_rows_fmt f;
    if (name[0] == '.') return 0;
    tn_err_clear();
    int ok = tn_rows_fmt_for_path(name, &f) == 0;
    tn_err_clear();
    return ok;
}

/* Every dataset file of the library, sorted (the choice must not depend on
 * the order readdir happens to give). */
static char **library_files(const char *library, size_t *n) {
    *n = 0;
    if (!tn_dir_exists(library)) {
        char **one = tn_malloc(sizeof *one);
        one[0] = tn_strdup(library);
        *n = 1;
        return one;
    }
    DIR *d = opendir(library);
    if (!d) {
        tn_fail_errno("%s", library);
        return NULL;
    }
    size_t cap = 8;
    char **v = tn_malloc(sizeof *v * cap);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_dataset_name(e->d_name)) continue;
        char *p = tn_path_join(library, e->d_name);
        if (!tn_file_exists(p)) {
            free(p);
            continue;
        }
        if (*n == cap) v = tn_realloc(v, sizeof *v * (cap *= 2));
        v[(*n)++] = p;
    }
    closedir(d);
    for (size_t i = 1; i < *n; i++)
        for (size_t k = i; k > 0 && strcmp(v[k - 1], v[k]) > 0; k--) {
            char *t = v[k];
            v[k] = v[k - 1];
            v[k - 1] = t;
        }
    return v;
}

json_t *tn_public_peek_rows(const json_t *train, const char *library, tn_peek_found *found) {
    memset(found, 0, sizeof *found);
    size_t nf;
    char **files = library_files(library, &nf);
    if (!files) return NULL;
    cells c;
    cells_of(train, &c);
    json_t *best = NULL;
    int rc = 0;
    for (size_t i = 0; i < nf && rc == 0; i++) {
        json_t *rows;
        if (tn_rows_load_all(files[i], TN_ROWS_AUTO, &rows)) {
            rc = tn_err_prefix("public-peek: library %s", library);
            break;
        }
        found->candidates++;
        json_t *unseen = json_array();
        size_t seen = 0, k;
        json_t *row;
        json_array_foreach(rows, k, row) {
            if (json_is_object(row) && row_seen(&c, row)) seen++;
            else json_array_append(unseen, row);
        }
        if (seen > found->seen) {
            json_decref(best);
            best = json_incref(unseen);
            found->seen = seen;
            found->rows = json_array_size(rows);
            snprintf(found->source, sizeof found->source, "%s", files[i]);
        }
        json_decref(unseen);
        json_decref(rows);
    }
    if (rc == 0 && !best)
        rc = tn_fail("public-peek: none of the %zu dataset(s) in %s shares a row with the training data",
                     found->candidates, library);
    if (rc) {
        json_decref(best);
        best = NULL;
    }
    free(c.h);
    for (size_t i = 0; i < nf; i++) free(files[i]);
    free(files);
    return best;
}

int tn_peek_write_rows(const char *path, const json_t *rows) {
    size_t i;
    const json_t *row;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    json_array_foreach(rows, i, row) {
        char *s = json_dumps(row, JSON_COMPACT);
        if (!s) {
            free(buf);
            return tn_fail("%s: row %zu cannot be written", path, i + 1);
        }
        size_t n = strlen(s);
        if (len + n + 2 > cap) buf = tn_realloc(buf, cap = 2 * (len + n + 2));
        memcpy(buf + len, s, n);
        len += n;
        buf[len++] = '\n';
        free(s);
    }
    int rc = tn_write_file_atomic(path, buf ? buf : "", len);
    free(buf);
    return rc;
}
