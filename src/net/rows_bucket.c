/* rows_bucket.c - dataset size ranges in task offers (see rows_bucket.h). */
#include "net/rows_bucket.h"

#include "base/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void number(int64_t v, char *buf, size_t cap) {
    static const struct {
        int64_t unit;
        char sfx;
    } U[] = {{1000000000LL, 'G'}, {1000000LL, 'M'}, {1000LL, 'k'}};
    for (size_t i = 0; i < sizeof U / sizeof U[0]; i++)
        if (v >= U[i].unit && v % U[i].unit == 0) {
            snprintf(buf, cap, "%lld%c", (long long)(v / U[i].unit), U[i].sfx);
            return;
        }
    snprintf(buf, cap, "%lld", (long long)v);
}

void tn_rows_bucket(int64_t n, char *buf, size_t cap) {
    int64_t lo = 0, hi = 10;
    /* 10, 20, 50, 100, 200, 500, ...: the first bound above n */
    static const int STEP[3] = {2, 5, 10};
    int64_t decade = 10;
    for (int k = 0; n >= hi && decade <= INT64_MAX / 100; k = (k + 1) % 3) {
        lo = hi;
        hi = decade * STEP[k];
        if (k == 2) decade *= 10;
    }
    char a[24], b[24];
    number(lo, a, sizeof a);
    number(hi, b, sizeof b);
    snprintf(buf, cap, "%s-%s", a, b);
}

/* One number of a label; the end of what it read in *end. */
static int read_number(const char *s, const char **end, int64_t *v) {
    if (*s < '0' || *s > '9') return -1;
    char *e;
    errno = 0;
    long long x = strtoll(s, &e, 10);
    if (errno) return -1;
    int64_t mul = 1;
    if (*e == 'k') mul = 1000, e++;
    else if (*e == 'M') mul = 1000000, e++;
    else if (*e == 'G') mul = 1000000000, e++;
    if (x > INT64_MAX / mul) return -1;
    *v = (int64_t)x * mul;
    *end = e;
    return 0;
}

int tn_rows_bucket_parse(const char *label, const char *what, int64_t *lo, int64_t *hi) {
    const char *p = label, *e;
    if (!label || read_number(p, &e, lo) || *e != '-' || read_number(e + 1, &e, hi) || *e || *lo >= *hi)
        return tn_fail("%s: expected a row range LO-HI such as \"1k-2k\" (LO < HI; k, M, G suffixes), got \"%s\"",
                       what, label ? label : "(null)");
    return 0;
}
