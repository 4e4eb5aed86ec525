/* decode.c - ids -> text: token strings through the decoder chain
 * (ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace; a Sequence is
 * flattened at load time), as transformers.js' decode_single without its
 * optional "clean up tokenization spaces" step.
 *
 * The chain works on a list of strings (spans into a buffer plus an "added
 * token" flag, which the ByteLevel decoder needs: added tokens are not
 * byte-mapped). The result is made valid UTF-8 with the usual U+FFFD rule.
 */
#include "tok/tok_internal.h"
#include "base/err.h"
#include "base/mem.h"

#include <stdlib.h>

typedef struct {
    tn_sbuf text;
    tn_spans sp;
    unsigned char *added;
    size_t added_cap;
} tlist;

static void tl_push(tlist *l, const char *s, size_t n, int added) {
    size_t off = l->text.n;
    tn_sbuf_put(&l->text, s, n);
    tn_spans_push(&l->sp, off, n);
    if (l->sp.n > l->added_cap) {
        l->added_cap = l->sp.cap;
        l->added = tn_realloc(l->added, l->added_cap);
    }
    l->added[l->sp.n - 1] = (unsigned char)added;
}

/* Pushes the bytes appended to l->text since `off` as one string. */
static void tl_commit(tlist *l, size_t off, int added) {
    tn_spans_push(&l->sp, off, l->text.n - off);
    if (l->sp.n > l->added_cap) {
        l->added_cap = l->sp.cap;
        l->added = tn_realloc(l->added, l->added_cap);
    }
    l->added[l->sp.n - 1] = (unsigned char)added;
}

/* Piece i. The pieces may all be empty with no buffer behind them yet (a
 * lone special token skipped, then Fuse): they are read from "" then, since
 * NULL + 0 is undefined. */
static const char *tl_str(const tlist *l, size_t i) { return (l->text.p ? l->text.p : "") + l->sp.v[i].off; }

static void tl_reset(tlist *l) {
    l->text.n = 0;
    l->sp.n = 0;
}

static void tl_free(tlist *l) {
    tn_sbuf_free(&l->text);
    free(l->sp.v);
    free(l->added);
}

/* Appends the bytes a byte-level string stands for. */
static void unmap_bytelevel(const char *s, size_t n, tn_sbuf *out) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int l = tn_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (!l) l = 1, cp = 0xFFFD;
        int b = tn_bytelevel_byte(cp);
        if (b >= 0)
            tn_sbuf_putc(out, (char)b);
        else
            tn_sbuf_put(out, s + i, (size_t)l); /* not in the alphabet: keep as is */
        i += (size_t)l;
    }
}

static int byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* One decoder step: src -> dst. */
static void step(const tn_dec *d, pcre2_match_data *md, const tlist *src, tlist *dst, tn_sbuf *tmp) {
    size_t n = src->sp.n;
    switch (d->type) {
    case TN_DEC_BYTELEVEL:
    case TN_DEC_BYTEFALLBACK:
        for (size_t i = 0; i < n;) {
            const char *s = tl_str(src, i);
            size_t l = src->sp.v[i].len;
            int grp = d->type == TN_DEC_BYTELEVEL ? !src->added[i] : byte_token(s, l) >= 0;
            if (!grp) {
                tl_push(dst, s, l, src->added[i]);
                i++;
                continue;
            }
            tmp->n = 0;
            for (; i < n; i++) { /* a run of byte-level / <0xXX> tokens: one string */
                s = tl_str(src, i);
                l = src->sp.v[i].len;
                if (d->type == TN_DEC_BYTELEVEL) {
                    if (src->added[i]) break;
                    unmap_bytelevel(s, l, tmp);
                } else {
                    int b = byte_token(s, l);
                    if (b < 0) break;
                    tn_sbuf_putc(tmp, (char)b);
                }
            }
            size_t off = dst->text.n;
            tn_utf8_lossy(tmp->p, tmp->n, &dst->text);
            tl_commit(dst, off, 0);
        }
        return;
    case TN_DEC_FUSE: {
        size_t off = dst->text.n;
        for (size_t i = 0; i < n; i++) tn_sbuf_put(&dst->text, tl_str(src, i), src->sp.v[i].len);
        tl_commit(dst, off, 0);
        return;
    }
    case TN_DEC_STRIP:
        for (size_t i = 0; i < n; i++) {
            const char *s = tl_str(src, i);
            size_t a = 0, b = src->sp.v[i].len;
            for (int k = 0; k < d->start && b - a >= d->sn && !memcmp(s + a, d->s, d->sn); k++) a += d->sn;
            for (int k = 0; k < d->stop && b - a >= d->sn && !memcmp(s + b - d->sn, d->s, d->sn); k++) b -= d->sn;
            tl_push(dst, s + a, b - a, src->added[i]);
        }
        return;
    case TN_DEC_REPLACE:
    case TN_DEC_METASPACE:
        for (size_t i = 0; i < n; i++) {
            const char *s = tl_str(src, i);
            size_t l = src->sp.v[i].len;
            tmp->n = 0;
            if (d->type == TN_DEC_REPLACE)
                tn_pattern_replace(&d->pat, md, s, l, d->s, d->sn, tmp);
            else {
                tn_pattern p = {.lit = d->s, .litn = d->sn};
                tn_pattern_replace(&p, md, s, l, " ", 1, tmp);
            }
            size_t a = 0;
            if (d->type == TN_DEC_METASPACE && d->strip_prefix && i == 0 && tmp->n && tmp->p[0] == ' ') a = 1;
            tl_push(dst, tmp->p ? tmp->p + a : "", tmp->n - a, src->added[i]);
        }
        return;
    }
}

char *tn_tok_decode(const tn_tokenizer *tok, const int32_t *ids, size_t n, int skip_special, size_t *len) {
    tlist l[2];
    memset(l, 0, sizeof l);
    tn_sbuf tmp = {0};
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t sl;
        const char *s = tn_vocab_str(&tok->vocab, ids[i], &sl);
        if (!s) {
            tl_free(&l[0]);
            tn_fail("%s: decode: token id %d is not in the vocabulary (size %d)", tok->source, (int)ids[i],
                    (int)tok->vocab.nids);
            return NULL;
        }
        if (skip_special && (tok->special[ids[i]] & TN_TOK_SPECIAL)) continue;
        tl_push(&l[0], s, sl, (tok->special[ids[i]] & TN_TOK_ADDED) != 0);
    }
    tn_sbuf out = {0};
    if (!tok->has_decoder) { /* no decoder: tokens joined by spaces, as HF does */
        for (size_t i = 0; i < l[0].sp.n; i++) {
            if (i) tn_sbuf_putc(&tmp, ' ');
            tn_sbuf_put(&tmp, tl_str(&l[0], i), l[0].sp.v[i].len);
        }
    } else {
        pcre2_match_data *md = pcre2_match_data_create(32, NULL);
        for (size_t s = 0; s < tok->ndecs; s++) {
            tl_reset(&l[k ^ 1]);
            step(&tok->decs[s], md, &l[k], &l[k ^ 1], &tmp);
            k ^= 1;
        }
        pcre2_match_data_free(md);
        tmp.n = 0;
        for (size_t i = 0; i < l[k].sp.n; i++) tn_sbuf_put(&tmp, tl_str(&l[k], i), l[k].sp.v[i].len);
    }
    tn_utf8_lossy(tmp.p ? tmp.p : "", tmp.n, &out);
    tn_sbuf_putc(&out, 0);
    if (len) *len = out.n - 1;
    tl_free(&l[0]);
    tl_free(&l[1]);
    tn_sbuf_free(&tmp);
    return out.p;
}
