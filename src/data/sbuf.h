/* sbuf.h - a growable byte buffer, private to src/data.
 *
 * Rows, fields and rendered prompts are built piece by piece; this keeps the
 * realloc arithmetic in one place. The buffer is always NUL-terminated so a
 * finished one can be handed out as a C string.
 */
#ifndef TN_DATA_SBUF_H
#define TN_DATA_SBUF_H

#include "base/mem.h"

#include <stddef.h>
#include <string.h>

typedef struct {
    char *p;
    size_t n, cap;
} tn_sbuf;

static inline void tn_sbuf_reserve(tn_sbuf *b, size_t extra) {
    if (b->n + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1) cap *= 2;
    b->p = tn_realloc(b->p, cap);
    b->cap = cap;
}

static inline void tn_sbuf_put(tn_sbuf *b, const char *s, size_t len) {
    tn_sbuf_reserve(b, len);
    if (len) memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static inline void tn_sbuf_puts(tn_sbuf *b, const char *s) { tn_sbuf_put(b, s, strlen(s)); }

static inline void tn_sbuf_putc(tn_sbuf *b, char c) {
    tn_sbuf_reserve(b, 1);
    b->p[b->n++] = c;
    b->p[b->n] = 0;
}

static inline void tn_sbuf_reset(tn_sbuf *b) {
    b->n = 0;
    if (b->p) b->p[0] = 0;
}

/* Hands the NUL-terminated contents over to the caller ("" when empty). */
static inline char *tn_sbuf_take(tn_sbuf *b) {
    char *s = b->p ? b->p : tn_strdup("");
    b->p = NULL;
    b->n = b->cap = 0;
    return s;
}

#endif
