/* err.c - thread-local error message buffer (see err.h). */
#include "base/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define TN_ERR_MAX 2048

static _Thread_local char g_err[TN_ERR_MAX];

int tn_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return -1;
}

int tn_fail_errno(const char *fmt, ...) {
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n < sizeof g_err)
        snprintf(g_err + n, sizeof g_err - (size_t)n, ": %s", strerror(saved));
    return -1;
}

int tn_err_prefix(const char *fmt, ...) {
    char prefix[TN_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix - 2, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if ((size_t)n > sizeof prefix - 3) n = (int)sizeof prefix - 3;
    memcpy(prefix + n, ": ", 3);
    size_t plen = (size_t)n + 2;
    size_t olen = strlen(g_err);
    if (plen + olen >= TN_ERR_MAX) olen = TN_ERR_MAX - 1 - plen; /* keep the prefix whole */
    memmove(g_err + plen, g_err, olen);
    memcpy(g_err, prefix, plen);
    g_err[plen + olen] = 0;
    return -1;
}

const char *tn_errmsg(void) { return g_err; }

void tn_err_clear(void) { g_err[0] = 0; }
