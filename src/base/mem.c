/* mem.c - allocation helpers (see mem.h). */
#include "base/mem.h"
#include "base/err.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n) {
    fprintf(stderr, "tuna: out of memory allocating %zu bytes\n", n);
    abort();
}

void *tn_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *tn_calloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) oom(count * size);
    return p;
}

void *tn_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *tn_strdup(const char *s) { return tn_strndup(s, strlen(s)); }

char *tn_strndup(const char *s, size_t n) {
    char *d = tn_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *tn_sprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) oom(0);
    char *s = tn_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

float *tn_try_alloc_floats(size_t count, const char *what) {
    if (count > SIZE_MAX / sizeof(float) - 64) {
        tn_fail("%s: %zu floats is too large to allocate", what, count);
        return NULL;
    }
    size_t bytes = (count * sizeof(float) + 63) & ~(size_t)63;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) {
        tn_fail("%s: cannot allocate %.1f MiB", what, (double)bytes / (1 << 20));
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

void tn_free_aligned(void *p) { free(p); }
