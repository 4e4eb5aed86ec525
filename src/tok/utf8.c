/* utf8.c - UTF-8 decoding, repair of invalid input, and small buffers.
 *
 * Invalid UTF-8 policy (docs/tokenizer.md): before anything else, each
 * maximal ill-formed subsequence of the input is replaced by U+FFFD, exactly as
 * Rust's String::from_utf8_lossy and the WHATWG TextDecoder do. The JavaScript
 * reference only ever sees valid strings, so this is the natural definition.
 */
#include "tok/tok_internal.h"
#include "base/mem.h"

void tn_sbuf_grow(tn_sbuf *b, size_t extra) {
    size_t need = b->n + extra;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < need) cap *= 2;
    b->p = tn_realloc(b->p, cap);
    b->cap = cap;
}

void tn_sbuf_free(tn_sbuf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

void tn_spans_push(tn_spans *s, size_t off, size_t len) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = tn_realloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n].off = (uint32_t)off;
    s->v[s->n].len = (uint32_t)len;
    s->n++;
}

void tn_ids_push(tn_tok_ids *b, int32_t id) {
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->ids = tn_realloc(b->ids, b->cap * sizeof *b->ids);
    }
    b->ids[b->n++] = id;
}

void tn_tok_ids_free(tn_tok_ids *b) {
    free(b->ids);
    b->ids = NULL;
    b->n = b->cap = 0;
}

/* Well-formed sequences per Unicode table 3-7. */
int tn_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if ((size_t)len > n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    uint32_t v = c & (0x7F >> len);
    v = (v << 6) | (s[1] & 0x3F);
    for (int i = 2; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

int tn_utf8_encode(uint32_t cp, char *o) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int tn_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int l = tn_utf8_decode(u + i, n - i, &cp);
        if (!l) return 0;
        i += (size_t)l;
    }
    return 1;
}

/* Length of the maximal prefix of s that could start a well-formed sequence
 * (at least 1): that whole prefix becomes one U+FFFD. */
static size_t maximal_subpart(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    int len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 1;
    size_t i = 1;
    if (i < n && s[i] >= lo && s[i] <= hi) {
        i++;
        while (i < n && i < (size_t)len && (s[i] & 0xC0) == 0x80) i++;
    }
    return i;
}

void tn_utf8_lossy(const char *s, size_t n, tn_sbuf *out) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;
    while (i < n) {
        uint32_t cp;
        int l = u[i] < 0x80 ? 1 : tn_utf8_decode(u + i, n - i, &cp);
        if (l) {
            i += (size_t)l;
            continue;
        }
        tn_sbuf_put(out, s + run, i - run);
        tn_sbuf_put(out, "\xEF\xBF\xBD", 3);
        i += maximal_subpart(u + i, n - i);
        run = i;
    }
    tn_sbuf_put(out, s + run, n - run);
}

int tn_is_js_space(uint32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
    return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}
