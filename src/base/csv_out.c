/* csv_out.c - CSV fields and records (csv_out.h). */
#include "base/csv_out.h"

#include <string.h>

void tn_csv_write_field(FILE *f, const char *s) {
    if (!s) return;
    size_t n = strlen(s);
    /* spaces at either end are quoted so that a reader that trims keeps them */
    int quote = strpbrk(s, ",\"\r\n") != NULL || (n && (s[0] == ' ' || s[n - 1] == ' '));
    if (!quote) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void tn_csv_write_row(FILE *f, const char *const *fields, size_t n) {
    /* a record of one empty field would be an empty line, which readers skip */
    if (n == 1 && (!fields[0] || !*fields[0])) {
        fputs("\"\"\r\n", f);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i) fputc(',', f);
        tn_csv_write_field(f, fields[i]);
    }
    fputs("\r\n", f);
}
