/* csv.c - RFC 4180 record reader (see csv.h). */
#include "data/csv.h"
#include "base/err.h"

#include <stdlib.h>

void tn_csv_init(tn_csv *c, FILE *f, const char *path) {
    memset(c, 0, sizeof *c);
    c->f = f;
    c->path = path;
    c->line = 1;
}

void tn_csv_free(tn_csv *c) {
    for (size_t i = 0; i < c->capfields; i++) free(c->fields[i].p);
    free(c->fields);
    c->fields = NULL;
    c->nfields = c->capfields = 0;
}

static tn_sbuf *new_field(tn_csv *c) {
    if (c->nfields == c->capfields) {
        size_t cap = c->capfields ? c->capfields * 2 : 16;
        c->fields = tn_realloc(c->fields, cap * sizeof *c->fields);
        memset(c->fields + c->capfields, 0, (cap - c->capfields) * sizeof *c->fields);
        c->capfields = cap;
    }
    tn_sbuf *b = &c->fields[c->nfields++];
    /* Reserve before the reset: a fresh buffer's first allocation holds no
     * NUL until the reset writes one, and an empty field must read as "". */
    tn_sbuf_reserve(b, 0);
    tn_sbuf_reset(b);
    return b;
}

/* "row 3 (line 5): field 'output'" -- or "header (line 1): column 2". */
static int fail_at(const tn_csv *c, size_t rowno, char *const *names, size_t ncol,
                   const char *msg) {
    size_t col = c->nfields; /* 1-based index of the field being read */
    if (!names) return tn_fail("%s: header (line %zu): column %zu: %s", c->path, c->rec_line, col, msg);
    if (col >= 1 && col <= ncol)
        return tn_fail("%s: row %zu (line %zu): field '%s': %s", c->path, rowno, c->rec_line,
                       names[col - 1], msg);
    return tn_fail("%s: row %zu (line %zu): field %zu (beyond the header's %zu columns): %s",
                   c->path, rowno, c->rec_line, col, ncol, msg);
}

/* Consumes a record terminator starting with `ch`; returns 1 when `ch` ended
 * the record, 0 when it was a ',' (another field follows). */
static int end_of_field(tn_csv *c, int ch) {
    if (ch == ',') return 0;
    if (ch == '\r') {
        int next = getc_unlocked(c->f);
        if (next != '\n' && next != EOF) ungetc(next, c->f);
    }
    if (ch != EOF) c->line++;
    return 1;
}

int tn_csv_next(tn_csv *c, size_t rowno, char *const *names, size_t ncol) {
    for (;;) {
        c->nfields = 0;
        c->rec_line = c->line;
        int ch = getc_unlocked(c->f);
        if (ch == EOF) {
            if (ferror(c->f)) return tn_fail_errno("%s: read error near line %zu", c->path, c->line);
            return 0;
        }
        int blank = (ch == '\n' || ch == '\r');
        for (;;) {
            tn_sbuf *b = new_field(c);
            if (ch == '"') {
                size_t open_line = c->line;
                for (;;) {
                    ch = getc_unlocked(c->f);
                    if (ch == EOF) {
                        char msg[96];
                        snprintf(msg, sizeof msg, "unterminated quoted field (the quote opened on line %zu)",
                                 open_line);
                        return fail_at(c, rowno, names, ncol, msg);
                    }
                    if (ch == '"') {
                        ch = getc_unlocked(c->f);
                        if (ch != '"') break; /* closing quote; ch is what follows */
                    } else if (ch == '\n') {
                        c->line++;
                    } else if (ch == '\r') {
                        /* Kept as is; counts as a line break unless a LF follows. */
                        int next = getc_unlocked(c->f);
                        if (next != '\n') c->line++;
                        if (next != EOF) ungetc(next, c->f);
                    }
                    tn_sbuf_putc(b, (char)ch);
                }
                if (ch != ',' && ch != '\n' && ch != '\r' && ch != EOF)
                    return fail_at(c, rowno, names, ncol,
                                   "unexpected text after a closing quote (a quote inside a quoted field is written \"\")");
            } else {
                while (ch != ',' && ch != '\n' && ch != '\r' && ch != EOF) {
                    tn_sbuf_putc(b, (char)ch);
                    ch = getc_unlocked(c->f);
                }
            }
            if (end_of_field(c, ch)) break;
            ch = getc_unlocked(c->f);
        }
        if (ferror(c->f)) return tn_fail_errno("%s: read error near line %zu", c->path, c->line);
        if (blank && c->nfields == 1) continue; /* an empty line is not a record */
        return 1;
    }
}
