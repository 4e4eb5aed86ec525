/* csv.h - RFC 4180 record reader, private to src/data (rows.c wraps it).
 *
 * Reads one record at a time from a FILE: fields separated by ',', records by
 * LF, CRLF or a lone CR; a field that starts with '"' runs to the matching
 * '"' and may contain ',', newlines and "" (one quote). A quote inside an
 * unquoted field is kept as an ordinary character (as Python's csv module
 * does); text between a closing quote and the next separator is an error.
 * A line with nothing on it is skipped, which also makes a trailing newline
 * at the end of the file harmless.
 */
#ifndef TN_DATA_CSV_H
#define TN_DATA_CSV_H

#include "data/sbuf.h"

#include <stdio.h>

typedef struct {
    FILE *f;
    const char *path;  /* for messages */
    size_t line;       /* physical line of the next character (1-based) */
    tn_sbuf *fields;   /* one buffer per field of the current record */
    size_t nfields, capfields;
    size_t rec_line;   /* line the current record started on */
} tn_csv;

void tn_csv_init(tn_csv *c, FILE *f, const char *path);
void tn_csv_free(tn_csv *c);
/* Reads the next record: 1, 0 at end of file, -1 on error. `rowno` and
 * `names`/`ncol` (the header, NULL while reading it) only serve the error
 * message, which then names the row and the column of the bad field. */
int tn_csv_next(tn_csv *c, size_t rowno, char *const *names, size_t ncol);

#endif
