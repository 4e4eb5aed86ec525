/* prepare.c - dataset preparation for a task (see prepare.h). */
#include "validator/prepare.h"
#include "base/err.h"
#include "base/mem.h"
#include "data/hygiene.h"
#include "data/rows.h"
#include "judge/transform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tn_prepare_opts_default(tn_prepare_opts *o) {
    o->test_fraction = 0.1;
    o->test_cap = 200;
    o->min_rows = 20;
}

static int write_jsonl(const char *path, const json_t *rows, const size_t *idx, size_t n) {
    char *tmp = tn_sprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        tn_fail_errno("%s: cannot create", tmp);
        free(tmp);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *s = json_dumps(json_array_get(rows, idx[i]), JSON_COMPACT | JSON_ENSURE_ASCII);
        if (!s || fprintf(f, "%s\n", s) < 0) rc = tn_fail_errno("%s: write failed", tmp);
        free(s);
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) rc = rc ? rc : tn_fail_errno("%s: write failed", tmp);
    fclose(f);
    if (rc == 0 && rename(tmp, path) != 0) rc = tn_fail_errno("%s: rename", tmp);
    if (rc) remove(tmp);
    free(tmp);
    return rc;
}

int tn_prepare_split(const char *dataset, const tn_data_spec *spec, uint64_t seed, const tn_prepare_opts *o,
                     const char *train_out, const char *test_out, const char *synth_src_out, tn_prepare_stats *st) {
    memset(st, 0, sizeof *st);
    json_t *rows;
    /* the validator keeps every dataset as a JSONL blob (no file extension) */
    if (tn_rows_load_all(dataset, TN_ROWS_JSONL, &rows)) return -1;
    size_t n = json_array_size(rows);
    uint64_t *hash = tn_malloc(sizeof(uint64_t) * (n ? n : 1));
    unsigned char *keep = tn_calloc(n ? n : 1, 1);
    size_t *usable = tn_malloc(sizeof(size_t) * (n ? n : 1)), nu = 0;
    int rc = 0;
    tn_sample s;
    tn_sample_init(&s);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char where[512];
        snprintf(where, sizeof where, "%s: row %zu", dataset, i + 1);
        tn_sample_free(&s);
        tn_sample_init(&s);
        if (tn_format_row(spec, json_array_get(rows, i), where, &s)) {
            rc = -1;
            break;
        }
        keep[i] = tn_sample_has_response(&s);
        if (!keep[i]) st->empty++;
        hash[i] = tn_sample_hash(&s);
    }
    tn_sample_free(&s);
    if (rc == 0) {
        /* dedupe among the rows with a response only */
        uint64_t *h2 = tn_malloc(sizeof(uint64_t) * (n ? n : 1));
        size_t *map = tn_malloc(sizeof(size_t) * (n ? n : 1)), m = 0;
        for (size_t i = 0; i < n; i++)
            if (keep[i]) {
                map[m] = i;
                h2[m++] = hash[i];
            }
        unsigned char *k2 = tn_calloc(m ? m : 1, 1);
        tn_data_dedupe(h2, m, k2);
        for (size_t j = 0; j < m; j++) {
            if (k2[j])
                usable[nu++] = map[j];
            else
                st->duplicates++;
        }
        free(h2);
        free(map);
        free(k2);
    }
    st->rows = n;
    size_t *tr = NULL, *te = NULL, ntr = 0, nte = 0;
    if (rc == 0 && nu < o->min_rows)
        rc = tn_fail("%s: %zu usable rows (%zu read, %zu empty, %zu duplicates); a task needs at least %zu", dataset,
                     nu, n, st->empty, st->duplicates, o->min_rows);
    /* held-out = test + synthetic source (twice the test share), then halved */
    size_t *ho = NULL, *te2 = NULL, *sy = NULL, nho = 0, nsy = 0;
    if (rc == 0) rc = tn_data_split(nu, 2 * o->test_fraction, 2 * o->test_cap, seed, &tr, &ntr, &ho, &nho);
    if (rc == 0 && nho < 2) rc = tn_fail("%s: too few rows to hold out a test and a synthetic split", dataset);
    if (rc == 0) rc = tn_data_split(nho, 0.5, o->test_cap, seed ^ 0x5eedull, &sy, &nsy, &te2, &nte);
    if (rc == 0) {
        /* indices into `usable` (through `ho` for the held-out halves) -> rows */
        te = tn_malloc(sizeof(size_t) * (nte ? nte : 1));
        size_t *sr = tn_malloc(sizeof(size_t) * (nsy ? nsy : 1));
        for (size_t i = 0; i < ntr; i++) tr[i] = usable[tr[i]];
        for (size_t i = 0; i < nte; i++) te[i] = usable[ho[te2[i]]];
        for (size_t i = 0; i < nsy; i++) sr[i] = usable[ho[sy[i]]];
        st->train = ntr;
        st->test = nte;
        st->synth = nsy;
        /* train and test in the task's secret format; the synthetic source
         * stays as given, since the synthetic set is made from it later and
         * then put in the same format (scheduler.c) */
        json_t *secret = tn_transform_task_rows(seed, spec, rows, dataset);
        rc = secret ? write_jsonl(train_out, secret, tr, ntr) : -1;
        if (rc == 0) rc = write_jsonl(test_out, secret, te, nte);
        if (rc == 0) rc = write_jsonl(synth_src_out, rows, sr, nsy);
        json_decref(secret);
        free(sr);
    }
    free(ho);
    free(te2);
    free(sy);
    free(tr);
    free(te);
    free(usable);
    free(keep);
    free(hash);
    json_decref(rows);
    return rc;
}
