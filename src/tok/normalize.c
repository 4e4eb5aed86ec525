/* normalize.c - normalizers: NFC/NFD/NFKC/NFKD (utf8proc), Prepend, Replace,
 * Lowercase, Strip. A Sequence is flattened at load time into tok->norms.
 *
 * Each step reads one buffer and writes the other of ctx->norm[2] (ping-pong),
 * so a Sequence of any length costs two buffers per encode call.
 */
#include "tok/tok_internal.h"

#include <stdlib.h>
#include <utf8proc.h>

static int all_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

static void unicode_form(int type, const char *in, size_t n, tn_sbuf *out) {
    if (all_ascii(in, n)) { /* every form is the identity on ASCII */
        tn_sbuf_put(out, in, n);
        return;
    }
    int opt = UTF8PROC_STABLE;
    switch (type) {
    case TN_NORM_NFC: opt |= UTF8PROC_COMPOSE; break;
    case TN_NORM_NFD: opt |= UTF8PROC_DECOMPOSE; break;
    case TN_NORM_NFKC: opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    default: opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    }
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)n, &dst,
                                      (utf8proc_option_t)opt);
    if (r < 0) /* cannot happen on valid UTF-8; keep the text rather than lose it */
        tn_sbuf_put(out, in, n);
    else
        tn_sbuf_put(out, dst, (size_t)r);
    free(dst);
}

/* Full lowercase mapping as String.prototype.toLowerCase, except the
 * context-dependent final sigma (documented). */
static void lowercase(const char *in, size_t n, tn_sbuf *out) {
    const unsigned char *u = (const unsigned char *)in;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            char c = (char)u[i++];
            tn_sbuf_putc(out, (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c);
            continue;
        }
        uint32_t cp;
        int l = tn_utf8_decode(u + i, n - i, &cp);
        if (!l) { /* input is valid; be safe anyway */
            tn_sbuf_putc(out, (char)u[i++]);
            continue;
        }
        i += (size_t)l;
        char buf[8];
        if (cp == 0x130) { /* İ -> i + combining dot above */
            tn_sbuf_put(out, "i\xCC\x87", 3);
            continue;
        }
        tn_sbuf_put(out, buf, (size_t)tn_utf8_encode((uint32_t)utf8proc_tolower((utf8proc_int32_t)cp), buf));
    }
}

static void strip(const tn_norm *nm, const char *in, size_t n, tn_sbuf *out) {
    const unsigned char *u = (const unsigned char *)in;
    size_t a = 0, b = n;
    if (nm->left)
        while (a < b) {
            uint32_t cp;
            int l = tn_utf8_decode(u + a, b - a, &cp);
            if (!l || !tn_is_js_space(cp)) break;
            a += (size_t)l;
        }
    if (nm->right)
        while (b > a) {
            size_t k = b - 1;
            while (k > a && (u[k] & 0xC0) == 0x80) k--;
            uint32_t cp;
            int l = tn_utf8_decode(u + k, b - k, &cp);
            if (!l || !tn_is_js_space(cp)) break;
            b = k;
        }
    tn_sbuf_put(out, in + a, b - a);
}

const char *tn_normalize(const tn_tokenizer *tok, tn_enc_ctx *ctx, const char *in, size_t n,
                         size_t *out_n) {
    const char *cur = in;
    size_t cur_n = n;
    int k = 0;
    for (size_t s = 0; s < tok->nnorms; s++) {
        const tn_norm *nm = &tok->norms[s];
        tn_sbuf *out = &ctx->norm[k];
        out->n = 0;
        switch (nm->type) {
        case TN_NORM_NFC:
        case TN_NORM_NFD:
        case TN_NORM_NFKC:
        case TN_NORM_NFKD: unicode_form(nm->type, cur, cur_n, out); break;
        case TN_NORM_PREPEND:
            if (cur_n) tn_sbuf_put(out, nm->s, nm->sn);
            tn_sbuf_put(out, cur, cur_n);
            break;
        case TN_NORM_REPLACE: tn_pattern_replace(&nm->pat, ctx->md, cur, cur_n, nm->s, nm->sn, out); break;
        case TN_NORM_LOWERCASE: lowercase(cur, cur_n, out); break;
        case TN_NORM_STRIP: strip(nm, cur, cur_n, out); break;
        }
        cur = out->p ? out->p : "";
        cur_n = out->n;
        k ^= 1;
    }
    *out_n = cur_n;
    return cur;
}
