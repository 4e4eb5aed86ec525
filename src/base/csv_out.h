/* csv_out.h - writing CSV (RFC 4180): a field that holds a comma, a quote,
 * CR or LF, or starts or ends with a space, is quoted and its quotes are
 * doubled; records end in CRLF as the RFC says (Python's csv module and
 * spreadsheets read either ending). Reading CSV is data/csv.h's job. */
#ifndef TN_BASE_CSV_OUT_H
#define TN_BASE_CSV_OUT_H

#include <stddef.h>
#include <stdio.h>

/* One field; NULL is written as an empty field. */
void tn_csv_write_field(FILE *f, const char *s);
/* One record of n fields (NULL entries empty), with its CRLF. */
void tn_csv_write_row(FILE *f, const char *const *fields, size_t n);

#endif
