/* rows.h - read a dataset file as a sequence of JSON objects.
 *
 * Three formats, picked by the file's extension unless given explicitly:
 *   .json         one JSON array of objects (loaded whole: JSON has no
 *                 record boundaries to stream on)
 *   .jsonl/.ndjson one object per line, read line by line so a file of any
 *                 size costs one line of memory; blank lines are skipped
 *   .csv          RFC 4180: a header row naming the columns, quoted fields,
 *                 "" for a quote, newlines inside quotes, CRLF or LF; every
 *                 value becomes a JSON string, a row a {column: value} object
 *
 * Rows are numbered from 1 over data rows (the CSV header and blank JSONL
 * lines are not rows). Errors name the file, the row, the physical line
 * where the format has lines (JSONL, CSV), and the field where one is to
 * blame:  "train.csv: row 7 (line 9): field 'output': unterminated quote".
 * A file with no rows at all is an error: nothing can be trained on it.
 */
#ifndef TN_DATA_ROWS_H
#define TN_DATA_ROWS_H

#include <jansson.h>
#include <stddef.h>

typedef enum {
    TN_ROWS_AUTO = 0, /* by extension */
    TN_ROWS_JSON,
    TN_ROWS_JSONL,
    TN_ROWS_CSV,
} tn_rows_fmt;

typedef struct tn_rows tn_rows;

/* "json", "jsonl", "csv" (also "auto", "ndjson"). */
int tn_rows_fmt_parse(const char *name, tn_rows_fmt *out);
const char *tn_rows_fmt_name(tn_rows_fmt fmt);
/* The format a path's extension implies; -1 with an error when it has none
 * of ours. */
int tn_rows_fmt_for_path(const char *path, tn_rows_fmt *out);

/* Opens a dataset. NULL with the error set when the file cannot be opened,
 * its format cannot be told, or (JSON, CSV header) its start is malformed. */
tn_rows *tn_rows_open(const char *path, tn_rows_fmt fmt);
/* Reads the next row into *row (a new reference, the caller decrefs).
 * Returns 1 for a row, 0 at the end, -1 on error (*row is then NULL). After
 * an error the reader stays failed: further calls return -1. */
int tn_rows_next(tn_rows *r, json_t **row);
/* The row number (1-based) and the physical line it started on (0 for
 * .json, where jansson gives no per-element position) of the row last
 * returned. For messages about the row from code further down. */
size_t tn_rows_index(const tn_rows *r);
size_t tn_rows_line(const tn_rows *r);
const char *tn_rows_path(const tn_rows *r);
tn_rows_fmt tn_rows_format(const tn_rows *r);
void tn_rows_close(tn_rows *r);

/* Reads every row into a new JSON array (*out; the caller decrefs). */
int tn_rows_load_all(const char *path, tn_rows_fmt fmt, json_t **out);

#endif
