/* rows.c - dataset readers: JSON array, JSONL, CSV (see rows.h). */
#include "data/rows.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"
#include "data/csv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct tn_rows {
    char *path;
    tn_rows_fmt fmt;
    FILE *f;
    int failed, done;
    size_t row;       /* rows returned so far == number of the last one */
    size_t row_line;  /* line the last row started on */
    /* JSON */
    json_t *arr;
    /* JSONL */
    char *line;
    size_t line_cap;
    size_t lineno;
    /* CSV */
    tn_csv csv;
    char **names;
    size_t ncol;
};

static const struct {
    const char *name;
    tn_rows_fmt fmt;
} g_fmts[] = {
    {"auto", TN_ROWS_AUTO}, {"json", TN_ROWS_JSON}, {"jsonl", TN_ROWS_JSONL},
    {"ndjson", TN_ROWS_JSONL}, {"csv", TN_ROWS_CSV},
};

int tn_rows_fmt_parse(const char *name, tn_rows_fmt *out) {
    for (size_t i = 0; i < sizeof g_fmts / sizeof g_fmts[0]; i++)
        if (name && strcasecmp(name, g_fmts[i].name) == 0) {
            *out = g_fmts[i].fmt;
            return 0;
        }
    return tn_fail("unknown dataset format '%s' (expected json, jsonl or csv)", name ? name : "(null)");
}

const char *tn_rows_fmt_name(tn_rows_fmt fmt) {
    switch (fmt) {
    case TN_ROWS_AUTO: return "auto";
    case TN_ROWS_JSON: return "json";
    case TN_ROWS_JSONL: return "jsonl";
    case TN_ROWS_CSV: return "csv";
    }
    return "?";
}

int tn_rows_fmt_for_path(const char *path, tn_rows_fmt *out) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot && dot[1]) {
        tn_rows_fmt f;
        if (tn_rows_fmt_parse(dot + 1, &f) == 0 && f != TN_ROWS_AUTO) {
            *out = f;
            return 0;
        }
    }
    return tn_fail("%s: cannot tell the dataset format from the file name "
                   "(expected .json, .jsonl or .csv; or give the format explicitly)", path);
}

/* A UTF-8 byte order mark is not part of the data (Excel writes one). */
static void skip_bom(FILE *f) {
    int a = getc(f);
    if (a == 0xEF) {
        int b = getc(f), c = getc(f);
        if (b == 0xBB && c == 0xBF) return;
        rewind(f);
        return;
    }
    if (a != EOF) ungetc(a, f);
}

static int open_json(tn_rows *r) {
    /* Load whole: a JSON array has no record boundaries to stream on, and
     * jansson cannot parse incrementally. Datasets big enough to matter are
     * JSONL, which streams. */
    FILE *f = fopen(r->path, "rb");
    if (!f) return tn_fail_errno("%s: cannot open", r->path);
    int c = getc(f);
    while (c == ' ' || c == '\t' || c == '\n' || c == '\r') c = getc(f);
    fclose(f);
    if (c == EOF) return tn_fail("%s: empty file (expected a JSON array of row objects)", r->path);
    json_error_t e;
    r->arr = json_load_file(r->path, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    if (!r->arr) return tn_fail("%s:%d:%d: invalid JSON: %s", r->path, e.line, e.column, e.text);
    if (!json_is_array(r->arr))
        return tn_fail("%s: expected a JSON array of row objects, got %s%s", r->path,
                       tn_json_type_name(r->arr),
                       json_is_object(r->arr) ? " (a file with one object per line should be named .jsonl)" : "");
    return 0;
}

static int open_csv(tn_rows *r) {
    r->f = fopen(r->path, "rb");
    if (!r->f) return tn_fail_errno("%s: cannot open", r->path);
    skip_bom(r->f);
    tn_csv_init(&r->csv, r->f, r->path);
    int rc = tn_csv_next(&r->csv, 0, NULL, 0);
    if (rc < 0) return -1;
    if (rc == 0) return tn_fail("%s: empty file (expected a header row naming the columns)", r->path);
    r->ncol = r->csv.nfields;
    r->names = tn_calloc(r->ncol, sizeof *r->names);
    for (size_t i = 0; i < r->ncol; i++) {
        r->names[i] = tn_strdup(r->csv.fields[i].p);
        if (!r->names[i][0])
            return tn_fail("%s: header (line %zu): column %zu has an empty name", r->path, r->csv.rec_line, i + 1);
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->names[i], r->names[j]) == 0)
                return tn_fail("%s: header (line %zu): column %zu repeats the name '%s' of column %zu",
                               r->path, r->csv.rec_line, i + 1, r->names[i], j + 1);
    }
    return 0;
}

tn_rows *tn_rows_open(const char *path, tn_rows_fmt fmt) {
    if (fmt == TN_ROWS_AUTO && tn_rows_fmt_for_path(path, &fmt) != 0) return NULL;
    tn_rows *r = tn_calloc(1, sizeof *r);
    r->path = tn_strdup(path);
    r->fmt = fmt;
    int rc = 0;
    if (fmt == TN_ROWS_JSON) {
        rc = open_json(r);
    } else if (fmt == TN_ROWS_CSV) {
        rc = open_csv(r);
    } else {
        r->f = fopen(path, "rb");
        if (!r->f) rc = tn_fail_errno("%s: cannot open", path);
        else skip_bom(r->f);
    }
    if (rc != 0) {
        tn_rows_close(r);
        return NULL;
    }
    return r;
}

static int next_json(tn_rows *r, json_t **row) {
    if (r->row >= json_array_size(r->arr)) return 0;
    json_t *v = json_array_get(r->arr, r->row);
    r->row++;
    if (!json_is_object(v))
        return tn_fail("%s: row %zu: expected a JSON object, got %s", r->path, r->row, tn_json_type_name(v));
    *row = json_incref(v);
    return 1;
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

static int next_jsonl(tn_rows *r, json_t **row) {
    for (;;) {
        errno = 0;
        ssize_t n = getline(&r->line, &r->line_cap, r->f);
        if (n < 0) {
            if (ferror(r->f)) return tn_fail_errno("%s: read error after line %zu", r->path, r->lineno);
            return 0;
        }
        r->lineno++;
        if (is_blank(r->line, (size_t)n)) continue;
        r->row++;
        r->row_line = r->lineno;
        json_error_t e;
        json_t *v = json_loadb(r->line, (size_t)n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
        if (!v)
            return tn_fail("%s: row %zu (line %zu): invalid JSON at column %d: %s", r->path, r->row,
                           r->lineno, e.column, e.text);
        if (!json_is_object(v)) {
            tn_fail("%s: row %zu (line %zu): expected a JSON object, got %s", r->path, r->row, r->lineno,
                    tn_json_type_name(v));
            json_decref(v);
            return -1;
        }
        *row = v;
        return 1;
    }
}

static int next_csv(tn_rows *r, json_t **row) {
    int rc = tn_csv_next(&r->csv, r->row + 1, r->names, r->ncol);
    if (rc <= 0) return rc;
    r->row++;
    r->row_line = r->csv.rec_line;
    if (r->csv.nfields != r->ncol) {
        if (r->csv.nfields < r->ncol)
            return tn_fail("%s: row %zu (line %zu): %zu fields but the header has %zu: field '%s' is missing",
                           r->path, r->row, r->row_line, r->csv.nfields, r->ncol, r->names[r->csv.nfields]);
        return tn_fail("%s: row %zu (line %zu): %zu fields but the header has %zu: field %zu has no column name",
                       r->path, r->row, r->row_line, r->csv.nfields, r->ncol, r->ncol + 1);
    }
    json_t *obj = json_object();
    for (size_t i = 0; i < r->ncol; i++) {
        const tn_sbuf *b = &r->csv.fields[i];
        json_t *s = json_stringn(b->p, b->n);
        if (!s) {
            json_decref(obj);
            return tn_fail("%s: row %zu (line %zu): field '%s': not valid UTF-8", r->path, r->row,
                           r->row_line, r->names[i]);
        }
        json_object_set_new(obj, r->names[i], s);
    }
    *row = obj;
    return 1;
}

int tn_rows_next(tn_rows *r, json_t **row) {
    *row = NULL;
    if (r->failed) return tn_fail("%s: reading after an earlier error", r->path);
    if (r->done) return 0;
    int rc;
    switch (r->fmt) {
    case TN_ROWS_JSON: rc = next_json(r, row); break;
    case TN_ROWS_JSONL: rc = next_jsonl(r, row); break;
    case TN_ROWS_CSV: rc = next_csv(r, row); break;
    default: rc = tn_fail("%s: no format", r->path);
    }
    if (rc == 0) {
        r->done = 1;
        if (r->row == 0) {
            r->failed = 1;
            return tn_fail("%s: %s", r->path,
                           r->fmt == TN_ROWS_CSV ? "no data rows after the header" : "empty file: no rows");
        }
    }
    if (rc < 0) r->failed = 1;
    return rc;
}

size_t tn_rows_index(const tn_rows *r) { return r->row; }
size_t tn_rows_line(const tn_rows *r) { return r->fmt == TN_ROWS_JSON ? 0 : r->row_line; }
const char *tn_rows_path(const tn_rows *r) { return r->path; }
tn_rows_fmt tn_rows_format(const tn_rows *r) { return r->fmt; }

void tn_rows_close(tn_rows *r) {
    if (!r) return;
    if (r->f) fclose(r->f);
    json_decref(r->arr);
    free(r->line);
    tn_csv_free(&r->csv);
    for (size_t i = 0; i < r->ncol; i++) free(r->names[i]);
    free(r->names);
    free(r->path);
    free(r);
}

int tn_rows_load_all(const char *path, tn_rows_fmt fmt, json_t **out) {
    *out = NULL;
    tn_rows *r = tn_rows_open(path, fmt);
    if (!r) return -1;
    json_t *all = json_array();
    json_t *row;
    int rc;
    while ((rc = tn_rows_next(r, &row)) == 1) json_array_append_new(all, row);
    tn_rows_close(r);
    if (rc < 0) {
        json_decref(all);
        return -1;
    }
    *out = all;
    return 0;
}
