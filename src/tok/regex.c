/* regex.c - HF "Regex" patterns, compiled with PCRE2 (UTF, JIT).
 *
 * tokenizer.json patterns are written for Oniguruma (Rust) and run by
 * transformers.js as JavaScript RegExps with the "u" flag. We follow the
 * JavaScript semantics, which is what parity is measured against:
 *   - the same source fix-ups as transformers.js' createPattern (drop "\" before
 *     # & ~, and rewrite the case-insensitive contraction group, which JS cannot
 *     parse, to explicit [sS]-style classes);
 *   - \s / \S mean JavaScript's white-space set (it has U+FEFF but not U+0085,
 *     unlike PCRE2's), spelled out as an explicit class;
 *   - \d \w \b are ASCII (PCRE2 without UCP, as JS without the "i" flag);
 *   - "." excludes \n \r U+2028 U+2029; "$" matches only at the very end;
 *   - \uXXXX and \u{X} escapes become PCRE2's \x{...};
 *   - empty matches are skipped, as transformers.js drops them.
 */
#include "tok/tok_internal.h"
#include "base/err.h"
#include "base/mem.h"

#include <jansson.h>
#include <stdlib.h>

#define JS_WS "\\t\\n\\x0B\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}"

static void put_str(tn_sbuf *b, const char *s) { tn_sbuf_put(b, s, strlen(s)); }

/* Replaces every occurrence of `from` in b by `to` (in place, via a copy). */
static void replace_all(tn_sbuf *b, const char *from, const char *to) {
    size_t fn = strlen(from);
    tn_sbuf o = {0};
    size_t i = 0;
    while (i < b->n) {
        if (i + fn <= b->n && !memcmp(b->p + i, from, fn)) {
            put_str(&o, to);
            i += fn;
        } else
            tn_sbuf_putc(&o, b->p[i++]);
    }
    tn_sbuf_free(b);
    *b = o;
}

static int translate(const char *src, tn_sbuf *out, const char *what) {
    tn_sbuf a = {0};
    /* transformers.js createPattern: drop needless escapes before # & ~ */
    for (size_t i = 0; src[i]; i++) {
        if (src[i] == '\\' && (src[i + 1] == '#' || src[i + 1] == '&' || src[i + 1] == '~')) continue;
        if (src[i] == '\\' && src[i + 1]) {
            tn_sbuf_putc(&a, src[i++]);
        }
        tn_sbuf_putc(&a, src[i]);
    }
    replace_all(&a, "(?i:'s|'t|'re|'ve|'m|'ll|'d)",
                "(?:'([sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))");
    int in_class = 0;
    for (size_t i = 0; i < a.n; i++) {
        char c = a.p[i];
        if (c == '\\' && i + 1 < a.n) {
            char d = a.p[++i];
            if (d == 's') {
                put_str(out, in_class ? JS_WS : "[" JS_WS "]");
            } else if (d == 'S') {
                if (in_class) {
                    tn_sbuf_free(&a);
                    return tn_fail("%s: regex: \\S inside a character class is not supported", what);
                }
                put_str(out, "[^" JS_WS "]");
            } else if (d == 'u') {
                /* \uXXXX or \u{X...} -> \x{...} */
                put_str(out, "\\x{");
                if (i + 1 < a.n && a.p[i + 1] == '{') {
                    i += 2;
                    while (i < a.n && a.p[i] != '}') tn_sbuf_putc(out, a.p[i++]);
                } else {
                    for (int k = 0; k < 4 && i + 1 < a.n; k++) tn_sbuf_putc(out, a.p[++i]);
                }
                tn_sbuf_putc(out, '}');
            } else {
                tn_sbuf_putc(out, '\\');
                tn_sbuf_putc(out, d);
            }
            continue;
        }
        if (!in_class && c == '[') {
            in_class = 1;
            tn_sbuf_putc(out, c);
            if (i + 1 < a.n && a.p[i + 1] == '^') tn_sbuf_putc(out, a.p[++i]);
            continue;
        }
        if (in_class && c == ']') in_class = 0;
        if (!in_class && c == '.') {
            put_str(out, "[^\\n\\r\\x{2028}\\x{2029}]");
            continue;
        }
        tn_sbuf_putc(out, c);
    }
    tn_sbuf_putc(out, 0);
    tn_sbuf_free(&a);
    return 0;
}

tn_regex *tn_regex_new(const char *pattern, const char *what) {
    tn_sbuf t = {0};
    if (translate(pattern, &t, what)) {
        tn_sbuf_free(&t);
        return NULL;
    }
    int err;
    PCRE2_SIZE off;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)t.p, PCRE2_ZERO_TERMINATED,
                                     PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &err, &off, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        tn_fail("%s: regex %s: %s at offset %zu", what, pattern, (char *)msg, (size_t)off);
        tn_sbuf_free(&t);
        return NULL;
    }
    tn_sbuf_free(&t);
    /* JIT is an optimisation only: without it pcre2_match gives the same results. */
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    tn_regex *re = tn_calloc(1, sizeof *re);
    re->code = code;
    return re;
}

void tn_regex_free(tn_regex *re) {
    if (!re) return;
    pcre2_code_free(re->code);
    free(re);
}

int tn_regex_next(const tn_regex *re, pcre2_match_data *md, const char *s, size_t n, size_t start,
                  size_t *ms, size_t *me) {
    while (start <= n) {
        int rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc < 0) return 0; /* PCRE2_ERROR_NOMATCH, or a resource limit: treat as no match */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[1] > ov[0]) {
            *ms = ov[0];
            *me = ov[1];
            return 1;
        }
        /* empty match: step over one character and search again */
        if (ov[0] >= n) return 0;
        start = ov[0] + (size_t)tn_utf8_clen((unsigned char)s[ov[0]]);
    }
    return 0;
}

/* ---- String-or-Regex patterns -------------------------------------------- */

int tn_pattern_parse(const json_t *pat, tn_pattern *out, const char *what) {
    memset(out, 0, sizeof *out);
    if (!json_is_object(pat)) return tn_fail("%s: pattern: expected an object", what);
    json_t *s = json_object_get(pat, "String"), *r = json_object_get(pat, "Regex");
    if (json_is_string(s)) {
        out->litn = json_string_length(s);
        out->lit = tn_strndup(json_string_value(s), out->litn);
        return 0;
    }
    if (json_is_string(r)) {
        out->re = tn_regex_new(json_string_value(r), what);
        return out->re ? 0 : -1;
    }
    return tn_fail("%s: pattern: expected {\"String\": ...} or {\"Regex\": ...}", what);
}

void tn_pattern_free(tn_pattern *p) {
    free(p->lit);
    tn_regex_free(p->re);
    memset(p, 0, sizeof *p);
}

int tn_pattern_next(const tn_pattern *p, pcre2_match_data *md, const char *s, size_t n,
                    size_t start, size_t *ms, size_t *me) {
    if (p->re) return tn_regex_next(p->re, md, s, n, start, ms, me);
    if (!p->litn || start >= n) return 0;
    const char *f = memmem(s + start, n - start, p->lit, p->litn);
    if (!f) return 0;
    *ms = (size_t)(f - s);
    *me = *ms + p->litn;
    return 1;
}

void tn_pattern_replace(const tn_pattern *p, pcre2_match_data *md, const char *s, size_t n,
                        const char *content, size_t content_n, tn_sbuf *out) {
    size_t pos = 0, ms, me;
    while (tn_pattern_next(p, md, s, n, pos, &ms, &me)) {
        tn_sbuf_put(out, s + pos, ms - pos);
        tn_sbuf_put(out, content, content_n);
        pos = me;
    }
    tn_sbuf_put(out, s + pos, n - pos);
}
