/* tok_scan.c - model.vocab and model.merges read straight from the text.
 *
 * A 150k-token tokenizer.json is ~300k small strings in those two fields, and
 * building them as jansson values (one allocation and one hash insert each),
 * walking them and freeing them again took ~80% of the load (0.6-0.7 s on a
 * quiet AMD EPYC). Here the two fields are located with a skipping scan,
 * decoded in place into the vocabulary table and the merge list, and cut out
 * of the text; jansson parses the small remainder (added tokens, normalizer,
 * ...), so the rest of the loader and its errors are unchanged.
 *
 * The scan is deliberately narrow: anything it does not expect (a duplicate
 * key, an id that is not a plain non-negative integer, an escape it would
 * have to judge, invalid UTF-8, ...) makes it give up, and the caller loads
 * the file the old way with jansson, which then reports the precise error or
 * accepts the exotic-but-valid input. So this file never decides what is
 * valid JSON; it only recognises the common, plainly valid case.
 */
#include "tok/tok_internal.h"

#include <stdlib.h>

typedef struct {
    const char *p, *end;
} scan;

static void ws(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t')) s->p++;
}

static int hex4(const char *p, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* Decodes the string at s->p (a '"') into out (out->n reset); -1 to give up.
 * Plain runs are copied whole; NUL (\u0000) is refused as jansson does by
 * default. */
static int read_string(scan *s, tn_sbuf *out) {
    out->n = 0;
    if (s->p >= s->end || *s->p != '"') return -1;
    const char *p = s->p + 1;
    for (;;) {
        const char *q = p;
        while (q < s->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20) q++;
        if (q >= s->end || (unsigned char)*q < 0x20) return -1;
        if (!tn_utf8_valid(p, (size_t)(q - p))) return -1;
        tn_sbuf_put(out, p, (size_t)(q - p));
        if (*q == '"') {
            s->p = q + 1;
            return 0;
        }
        if (s->end - q < 2) return -1;
        char e = q[1], c;
        p = q + 2;
        switch (e) {
        case '"': c = '"'; break;
        case '\\': c = '\\'; break;
        case '/': c = '/'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (s->end - p < 4 || hex4(p, &cp)) return -1;
            p += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return -1;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (s->end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return -1;
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0) return -1;
            char u[4];
            tn_sbuf_put(out, u, (size_t)tn_utf8_encode(cp, u));
            continue;
        }
        default: return -1;
        }
        tn_sbuf_putc(out, c);
    }
}

/* Skips the string at s->p without decoding it. */
static int skip_string(scan *s) {
    const char *p = s->p + 1;
    for (;;) {
        while (p < s->end && *p != '"' && *p != '\\') p++;
        if (p >= s->end) return -1;
        if (*p == '"') {
            s->p = p + 1;
            return 0;
        }
        p += 2; /* the escaped character, whatever it is: jansson judges it later */
    }
}

/* Skips one value of any kind (nesting counted outside strings). */
static int skip_value(scan *s) {
    ws(s);
    if (s->p >= s->end) return -1;
    if (*s->p == '"') return skip_string(s);
    if (*s->p == '{' || *s->p == '[') {
        int depth = 0;
        while (s->p < s->end) {
            char c = *s->p;
            if (c == '"') {
                if (skip_string(s)) return -1;
                continue;
            }
            if (c == '{' || c == '[') depth++;
            else if (c == '}' || c == ']') {
                if (--depth == 0) {
                    s->p++;
                    return 0;
                }
            }
            s->p++;
        }
        return -1;
    }
    while (s->p < s->end && !strchr(",}] \t\r\n", *s->p)) s->p++; /* number, true, false, null */
    return 0;
}

/* Walks the object at s->p; for each key equal to one of names[0..nn), stores
 * its value's span (once: a second occurrence gives up). */
static int find_keys(scan *s, const char *const *names, int nn, const char **at, const char **end, tn_sbuf *key) {
    ws(s);
    if (s->p >= s->end || *s->p != '{') return -1;
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == '}') return 0;
    for (;;) {
        ws(s);
        if (read_string(s, key)) return -1;
        ws(s);
        if (s->p >= s->end || *s->p++ != ':') return -1;
        ws(s);
        const char *v = s->p;
        if (skip_value(s)) return -1;
        for (int i = 0; i < nn; i++)
            if (key->n == strlen(names[i]) && !memcmp(key->p, names[i], key->n)) {
                if (at[i]) return -1;
                at[i] = v;
                end[i] = s->p;
            }
        ws(s);
        if (s->p >= s->end) return -1;
        if (*s->p == '}') return 0;
        if (*s->p++ != ',') return -1;
    }
}

int tn_tok_scan_model(const char *buf, size_t n, tn_model_spans *out) {
    memset(out, 0, sizeof *out);
    tn_sbuf key = {0};
    scan s = {buf, buf + n};
    static const char *const top[] = {"model"}, *const model[] = {"vocab", "merges"};
    const char *m = NULL, *me = NULL, *at[2] = {0}, *end[2] = {0};
    int rc = -1;
    if (find_keys(&s, top, 1, &m, &me, &key) || !m) goto out;
    s.p = m;
    s.end = me;
    if (find_keys(&s, model, 2, at, end, &key) || !at[0] || !at[1] || *at[0] != '{' || *at[1] != '[') goto out;
    out->vocab = at[0];
    out->vocab_end = end[0];
    out->merges = at[1];
    out->merges_end = end[1];
    rc = 0;
out:
    tn_sbuf_free(&key);
    return rc;
}

int tn_tok_scan_vocab(const tn_model_spans *sp, tn_vocab *v) {
    scan s = {sp->vocab + 1, sp->vocab_end};
    tn_sbuf key = {0};
    int rc = -1;
    ws(&s);
    if (s.p < s.end && *s.p == '}') {
        rc = 0;
        goto out;
    }
    for (;;) {
        ws(&s);
        if (read_string(&s, &key)) goto out;
        ws(&s);
        if (s.p >= s.end || *s.p++ != ':') goto out;
        ws(&s);
        /* a plain JSON integer 0 or [1-9][0-9]*, below INT32_MAX */
        const char *d = s.p;
        int64_t id = 0;
        while (s.p < s.end && *s.p >= '0' && *s.p <= '9' && id < INT32_MAX) id = id * 10 + (*s.p++ - '0');
        if (s.p == d || (*d == '0' && s.p - d > 1) || id > INT32_MAX - 1) goto out;
        ws(&s);
        if (s.p >= s.end || (*s.p != ',' && *s.p != '}')) goto out;
        if (tn_vocab_set(v, key.p, key.n, (int32_t)id)) goto out; /* duplicate key: jansson keeps the last */
        if (*s.p++ == '}') break;
    }
    ws(&s);
    rc = s.p == s.end ? 0 : -1;
out:
    tn_sbuf_free(&key);
    return rc;
}

int tn_tok_scan_merges(const tn_model_spans *sp, tn_merge_fn fn, void *ctx) {
    scan s = {sp->merges + 1, sp->merges_end};
    tn_sbuf a = {0}, b = {0};
    int rc = -1;
    ws(&s);
    if (s.p < s.end && *s.p == ']') {
        rc = 0;
        goto out;
    }
    for (size_t i = 0;; i++) {
        ws(&s);
        if (s.p >= s.end) goto out;
        const char *x, *y;
        size_t xn, yn;
        if (*s.p == '"') { /* "a b" */
            if (read_string(&s, &a)) goto out;
            const char *sp1 = a.n ? memchr(a.p, ' ', a.n) : NULL;
            if (!sp1 || memchr(sp1 + 1, ' ', a.n - (size_t)(sp1 + 1 - a.p))) goto out;
            x = a.p, xn = (size_t)(sp1 - a.p), y = sp1 + 1, yn = a.n - xn - 1;
        } else if (*s.p == '[') { /* ["a", "b"] */
            s.p++;
            ws(&s);
            if (read_string(&s, &a)) goto out;
            ws(&s);
            if (s.p >= s.end || *s.p++ != ',') goto out;
            ws(&s);
            if (read_string(&s, &b)) goto out;
            ws(&s);
            if (s.p >= s.end || *s.p++ != ']') goto out;
            x = a.p, xn = a.n, y = b.p, yn = b.n;
        } else
            goto out;
        if (fn(ctx, i, x ? x : "", xn, y ? y : "", yn)) goto out;
        ws(&s);
        if (s.p >= s.end) goto out;
        if (*s.p == ']') break;
        if (*s.p++ != ',') goto out;
    }
    s.p++;
    ws(&s);
    rc = s.p == s.end ? 0 : -1;
out:
    tn_sbuf_free(&a);
    tn_sbuf_free(&b);
    return rc;
}
