/* num.c - checked parsing of numbers written as text (see num.h).
 *
 * strtol and friends skip leading space, stop quietly at junk, saturate or
 * wrap on overflow ("-1" is a fine unsigned long long to strtoull) and accept
 * "inf" and "nan": each of those is checked here, once, so that callers only
 * give the range. */
#include "base/num.h"
#include "base/err.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The offending text as shown in a message: at most SHOWN_MAX bytes of it, so
 * that a megabyte of digits cannot push the flag's range out of the message. */
enum { SHOWN_MAX = 48 };
typedef struct {
    char s[SHOWN_MAX + 4];
} shown;

static shown show(const char *s) {
    shown o;
    if (!s) s = "";
    size_t n = strlen(s);
    if (n <= SHOWN_MAX) {
        memcpy(o.s, s, n + 1);
    } else {
        memcpy(o.s, s, SHOWN_MAX);
        memcpy(o.s + SHOWN_MAX, "...", 4);
    }
    return o;
}

/* Where a number may start: not empty, no leading space (strto* would skip
 * it), a sign only where `sign_ok`, then a digit. */
static int starts_number(const char *s, int sign_ok) {
    if (!s) return 0;
    if (sign_ok && (*s == '-' || *s == '+')) s++;
    return isdigit((unsigned char)*s);
}

/* The whole of s as a signed decimal; -1 on junk or overflow. */
static int scan_i64(const char *s, int64_t *out) {
    if (!starts_number(s, 1)) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end) return -1;
    *out = (int64_t)v;
    return 0;
}

/* The whole of s as an unsigned decimal, or hex after 0x when `hex_ok`; no
 * sign at all (strtoull would wrap "-1" to 2^64-1). */
static int scan_u64(const char *s, int hex_ok, uint64_t *out) {
    if (!starts_number(s, 0)) return -1;
    int base = 10;
    if (hex_ok && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        if (!isxdigit((unsigned char)s[2])) return -1;
        s += 2;
        base = 16;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno == ERANGE || *end) return -1;
    *out = (uint64_t)v;
    return 0;
}

/* The whole of s as a finite double; -1 on junk, NaN or infinity (overflow
 * gives HUGE_VAL, so ERANGE upward is caught as infinity; an underflow to a
 * tiny or zero value is left to the range check). */
static int scan_double(const char *s, double *out, const char **rest) {
    if (!s || !*s || isspace((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v)) return -1;
    if (rest) *rest = end;
    else if (*end) return -1;
    *out = v;
    return 0;
}

int tn_parse_i64(const char *what, const char *s, int64_t lo, int64_t hi, int64_t *out) {
    int64_t v;
    if (scan_i64(s, &v) || v < lo || v > hi)
        return tn_fail("%s: \"%s\" is not an integer in [%" PRId64 ", %" PRId64 "]", what, show(s).s, lo, hi);
    *out = v;
    return 0;
}

int tn_parse_int(const char *what, const char *s, int lo, int hi, int *out) {
    int64_t v;
    if (tn_parse_i64(what, s, lo, hi, &v)) return -1;
    *out = (int)v;
    return 0;
}

int tn_parse_u64(const char *what, const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
    uint64_t v;
    if (scan_u64(s, 1, &v) || v < lo || v > hi)
        return tn_fail("%s: \"%s\" is not an integer in [%" PRIu64 ", %" PRIu64 "]", what, show(s).s, lo, hi);
    *out = v;
    return 0;
}

int tn_parse_size(const char *what, const char *s, size_t lo, size_t hi, size_t *out) {
    uint64_t v;
    if (scan_u64(s, 0, &v) || v < lo || v > hi)
        return tn_fail("%s: \"%s\" is not an integer in [%zu, %zu]", what, show(s).s, lo, hi);
    *out = (size_t)v;
    return 0;
}

/* One message for junk and for a value out of range, stating what is wanted;
 * the bounds with `digits` significant digits (a float's 1e-7f is not 1e-7). */
static int fail_number(const char *what, const char *s, double lo, double hi, int digits) {
    shown t = show(s);
    if (isinf(lo) && isinf(hi)) return tn_fail("%s: \"%s\" is not a finite number", what, t.s);
    if (isinf(hi)) return tn_fail("%s: \"%s\" is not a number >= %.*g", what, t.s, digits, lo);
    if (isinf(lo)) return tn_fail("%s: \"%s\" is not a number <= %.*g", what, t.s, digits, hi);
    return tn_fail("%s: \"%s\" is not a number in [%.*g, %.*g]", what, t.s, digits, lo, digits, hi);
}

int tn_parse_double(const char *what, const char *s, double lo, double hi, double *out) {
    double v;
    if (scan_double(s, &v, NULL) || !(v >= lo && v <= hi)) return fail_number(what, s, lo, hi, DBL_DIG);
    *out = v;
    return 0;
}

int tn_parse_float(const char *what, const char *s, float lo, float hi, float *out) {
    double v;
    /* converting a double beyond FLT_MAX to float is undefined behaviour */
    if (scan_double(s, &v, NULL) || fabs(v) > FLT_MAX || !(v >= lo && v <= hi)) return fail_number(what, s, lo, hi, FLT_DIG + 1);
    *out = (float)v;
    return 0;
}

int tn_parse_duration(const char *what, const char *s, double max_s, double *seconds) {
    double v;
    const char *unit;
    if (scan_double(s, &v, &unit)) goto bad;
    if (!strcmp(unit, "m")) v *= 60;
    else if (!strcmp(unit, "h")) v *= 3600;
    else if (*unit && strcmp(unit, "s")) goto bad;
    if (!(v > 0) || !isfinite(v)) goto bad;
    if (v > max_s) return tn_fail("%s: \"%s\" is longer than %.15g seconds", what, show(s).s, max_s);
    *seconds = v;
    return 0;
bad:
    return tn_fail("%s: \"%s\" is not a duration like 90s, 15m or 1.5h", what, show(s).s);
}

int tn_parse_host_port(const char *what, const char *s, char *host, size_t cap, int *port) {
    const char *colon = s ? strrchr(s, ':') : NULL;
    int64_t p;
    if (!colon || colon == s || scan_i64(colon + 1, &p) || p < 0 || p > 65535)
        return tn_fail("%s: \"%s\" is not HOST:PORT with a port in [0, 65535]", what, show(s).s);
    size_t n = (size_t)(colon - s);
    const char *h = s;
    if (h[0] == '[' && n >= 2 && h[n - 1] == ']') h++, n -= 2;
    if (n == 0) return tn_fail("%s: \"%s\" has no host", what, show(s).s);
    if (n >= cap) return tn_fail("%s: \"%s\": the host is longer than %zu bytes", what, show(s).s, cap ? cap - 1 : 0);
    memcpy(host, h, n);
    host[n] = 0;
    *port = (int)p;
    return 0;
}
